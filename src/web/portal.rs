//! The client portal: a client's own domains, certificates, next expiries
//! and what was sent to them; read-only.
//!
//! Every read goes through the viewer's [`Visibility`] (always a client's
//! here), the same read models as the JSON API's client tokens: a domain of
//! another client answers 404 exactly like a domain lapse does not know.
//! Staff who open `/portal` are sent to their own overview.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::context;

use super::session::{Viewer, Who};
use super::{WebError, WebState};
use crate::domain::access::{Action, Visibility};
use crate::domain::names::parse_target;
use crate::store::read_models::{Cursor, DomainQuery, DomainSort};
use crate::store::StoreError;

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "portal/home.html",
        include_str!("templates/portal/home.html"),
    ),
    (
        "portal/domain.html",
        include_str!("templates/portal/domain.html"),
    ),
];

/// Domains per portal page (a client's fleet is small; more pages follow).
const PAGE_SIZE: u32 = 200;
/// How many of the soonest expiries the portal lists on top.
const NEXT_EXPIRIES: usize = 5;
/// How many messages the portal lists.
const MESSAGES_SHOWN: u32 = 50;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/domains/{name}", get(domain))
}

/// The client of a portal viewer; staff are `None`.
fn client_of(viewer: &Viewer) -> Option<(i64, &str)> {
    match &viewer.who {
        Who::Client {
            client_id,
            client_name,
            ..
        } => Some((*client_id, client_name.as_str())),
        Who::Staff { .. } => None,
    }
}

#[derive(serde::Deserialize)]
struct PageQuery {
    cursor: Option<String>,
}

async fn home(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Result<Response, WebError> {
    let Some((client_id, client_name)) = client_of(&viewer) else {
        return Ok(Redirect::to("/").into_response());
    };
    viewer.require(Action::Read)?;
    let visibility = viewer.visibility();
    debug_assert_eq!(visibility, Visibility::Client(client_id));
    let now = state.api.now();
    let cursor = match query.cursor.as_deref() {
        Some(text) => Some(
            Cursor::decode(text)
                .ok_or_else(|| WebError::BadRequest("this page link is broken".to_owned()))?,
        ),
        None => None,
    };
    let first_page = cursor.is_none();
    let page = state
        .api
        .store
        .domain_page(
            visibility,
            &state.api.windows(now),
            &DomainQuery {
                sort: DomainSort::Expiry,
                limit: PAGE_SIZE,
                cursor,
                ..DomainQuery::default()
            },
        )
        .await?;
    let next_expiries: Vec<_> = if first_page {
        page.items
            .iter()
            .filter(|d| d.next_expiry_at.is_some())
            .take(NEXT_EXPIRIES)
            .collect()
    } else {
        Vec::new()
    };
    let messages = state
        .api
        .store
        .messages_sent_to_client(client_id, MESSAGES_SHOWN)
        .await?;
    let ctx = context! {
        client_name => client_name,
        domains => &page.items,
        total => page.total,
        next_cursor => &page.next_cursor,
        next_expiries => next_expiries,
        messages => messages,
    };
    Ok(state
        .page(Some(&viewer), "portal/home.html", ctx)?
        .into_response())
}

async fn domain(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    let Some((_, client_name)) = client_of(&viewer) else {
        return Err(WebError::NotFound);
    };
    viewer.require(Action::Read)?;
    let target = parse_target(&name, &state.api.settings.names).map_err(|_| WebError::NotFound)?;
    if !target.is_bare_domain() {
        return Err(WebError::NotFound);
    }
    let now = state.api.now();
    let detail = match state
        .api
        .store
        .domain_detail(
            viewer.visibility(),
            &state.api.windows(now),
            &target.registrable,
        )
        .await
    {
        Ok(detail) => detail,
        Err(StoreError::NotFound(_)) => return Err(WebError::NotFound),
        Err(other) => return Err(other.into()),
    };
    let ctx = context! { client_name => client_name, d => detail };
    Ok(state
        .page(Some(&viewer), "portal/domain.html", ctx)?
        .into_response())
}
