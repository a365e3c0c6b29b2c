//! `/alerts`, `/outbox` (retry a message), `/scans` (start one as the API
//! does; a queued or running scan's page reloads itself every two seconds
//! through `data-refresh`, and a person without JavaScript reloads it) and
//! `/settings` (the effective configuration, secrets redacted).

use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::super::session::{CsrfForm, Staff};
use super::super::{WebError, WebState};
use super::domains::NoFields;
use super::{back_to, client_filter, client_id, given, OrPage};
use crate::domain::access::Action;
use crate::domain::names::parse_target;
use crate::store::read_models::{AlertQuery, Cursor};
use crate::store::{OutboxQuery, OutboxState, ScanScope, StoreError};

/// Rows per page of the alert, outbox and scan lists.
const PER_PAGE: u32 = 50;

/// A list's query as typed; `page` is the keyset cursor of the page.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done: Option<String>,
}

impl ListParams {
    fn cursor(&self) -> Result<Option<Cursor>, WebError> {
        given(self.page.as_deref())
            .map(|text| {
                Cursor::decode(text).ok_or_else(|| {
                    WebError::BadRequest(
                        "that page is not one this list gave; start again from the first"
                            .to_owned(),
                    )
                })
            })
            .transpose()
    }

    /// The URL of the next page: these filters and `cursor`.
    fn next_url(&self, path: &str, cursor: Option<&String>) -> Option<String> {
        let next = Self {
            state: given(self.state.as_deref()).map(str::to_owned),
            client: given(self.client.as_deref()).map(str::to_owned),
            domain: given(self.domain.as_deref()).map(str::to_owned),
            page: Some(cursor?.clone()),
            done: None,
        };
        Some(format!(
            "{path}?{}",
            serde_urlencoded::to_string(&next).unwrap_or_default()
        ))
    }
}

pub async fn alerts(
    State(state): State<WebState>,
    Staff(viewer): Staff,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let api = &state.api;
    let alert_state = match given(params.state.as_deref()) {
        None => None,
        Some(s @ ("firing" | "resolved")) => Some(s.to_owned()),
        Some(other) => {
            return Err(WebError::BadRequest(format!(
                "`{other}` is not an alert state; use firing or resolved"
            )))
        }
    };
    let client_id = client_filter(api, viewer.visibility(), params.client.as_deref()).await?;
    let domain = match given(params.domain.as_deref()) {
        None => None,
        Some(raw) => Some(
            parse_target(raw, &api.settings.names)
                .map_err(|e| WebError::BadRequest(format!("`{raw}`: {e}")))?
                .registrable
                .as_str()
                .to_owned(),
        ),
    };
    let query = AlertQuery {
        state: alert_state,
        client_id,
        domain,
        limit: PER_PAGE,
        cursor: params.cursor()?,
    };
    let page = api
        .store
        .alert_page(viewer.visibility(), &query)
        .await
        .or_page()?;
    let next_url = params.next_url("/alerts", page.next_cursor.as_ref());
    state.page(
        Some(&viewer),
        "staff/alerts.html",
        context! { page => page, filters => &params, next_url => next_url },
    )
}

pub async fn outbox(
    State(state): State<WebState>,
    Staff(viewer): Staff,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    // The queue holds every client's messages: roles that read everything.
    viewer.require(Action::ReadAll)?;
    let outbox_state = match given(params.state.as_deref()) {
        None => None,
        Some(text) => Some(OutboxState::parse(text).ok_or_else(|| {
            WebError::BadRequest(format!(
                "`{text}` is not a delivery state; use pending, sending, sent, failed or logged"
            ))
        })?),
    };
    let page = state
        .api
        .store
        .outbox_page(&OutboxQuery {
            state: outbox_state,
            limit: PER_PAGE,
            cursor: params.cursor()?,
        })
        .await
        .or_page()?;
    let next_url = params.next_url("/outbox", page.next_cursor.as_ref());
    let states: Vec<&str> = OutboxState::ALL.iter().map(|s| s.as_str()).collect();
    let done = match params.done.as_deref() {
        Some("retried") => Some("The message is queued again; the sender delivers it next."),
        _ => None,
    };
    state.page(
        Some(&viewer),
        "staff/outbox.html",
        context! {
            page => page,
            filters => &params,
            states => states,
            next_url => next_url,
            done => done,
        },
    )
}

/// Queues a failed (or logged) message again, as `lapse outbox retry`; a
/// message already sent or being sent is refused with the store's words.
pub async fn retry(
    State(state): State<WebState>,
    Path(id): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    state
        .api
        .store
        .retry_message(id, state.api.now())
        .await
        .or_page()?;
    Ok(back_to("/outbox", "retried"))
}

pub async fn scans(
    State(state): State<WebState>,
    Staff(viewer): Staff,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let page = state
        .api
        .store
        .scan_page(viewer.visibility(), PER_PAGE, params.cursor()?.as_ref())
        .await
        .or_page()?;
    let next_url = params.next_url("/scans", page.next_cursor.as_ref());
    let refresh = page
        .items
        .iter()
        .any(|s| s.state == "queued" || s.state == "running");
    state.page(
        Some(&viewer),
        "staff/scans.html",
        context! {
            page => page,
            next_url => next_url,
            may_scan => viewer.role().allows(Action::Scan),
            refresh => refresh,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ScanForm {
    /// `all`, `client` or `domain`.
    #[serde(default)]
    scope: String,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    domain: Option<String>,
}

/// Queues a scan as `POST /api/v1/scans` does (a scan of the same scope
/// still queued is reused) and shows its page.
pub async fn start_scan(
    State(state): State<WebState>,
    CsrfForm { viewer, form }: CsrfForm<ScanForm>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Scan)?;
    let api = &state.api;
    let now = api.now();
    let scope = match form.scope.as_str() {
        "" | "all" => ScanScope::All,
        "client" => {
            let reference = given(form.client.as_deref())
                .ok_or_else(|| WebError::BadRequest("a client scan needs a client".to_owned()))?;
            ScanScope::Client {
                client_id: client_id(api, viewer.visibility(), reference).await?,
            }
        }
        "domain" => {
            let raw = given(form.domain.as_deref())
                .ok_or_else(|| WebError::BadRequest("a domain scan needs a domain".to_owned()))?;
            let target = parse_target(raw, &api.settings.names)
                .map_err(|e| WebError::BadRequest(format!("`{raw}`: {e}")))?;
            let domain = api
                .store
                .visible_domain(viewer.visibility(), &api.windows(now), &target.registrable)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(message) => WebError::BadRequest(message),
                    other => WebError::Store(other),
                })?;
            ScanScope::Domain {
                domain_id: domain.id,
            }
        }
        other => {
            return Err(WebError::BadRequest(format!(
                "`{other}` is not a scan scope; use all, client or domain"
            )))
        }
    };
    let (scan, _created) = api.store.request_scan(&scope, now).await.or_page()?;
    Ok(Redirect::to(&format!("/scans/{}", scan.id)))
}

pub async fn scan(
    State(state): State<WebState>,
    Staff(viewer): Staff,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let scan = state
        .api
        .store
        .visible_scan(viewer.visibility(), id)
        .await
        .or_page()?;
    let refresh = scan.state == "queued" || scan.state == "running";
    state.page(
        Some(&viewer),
        "staff/scan.html",
        context! { scan => scan, refresh => refresh },
    )
}

pub async fn settings(
    State(state): State<WebState>,
    Staff(viewer): Staff,
) -> Result<Html<String>, WebError> {
    // The configuration is the whole fleet's, not any one client's.
    viewer.require(Action::ReadAll)?;
    state.page(
        Some(&viewer),
        "staff/settings.html",
        context! { config => &*state.redacted_config },
    )
}
