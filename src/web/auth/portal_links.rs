//! `/clients/{id}/portal-links`: staff make and revoke the read-only
//! portal links they share with a client. A link's secret is shown once,
//! on the page that made it; the store keeps its hash.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

use crate::domain::access::{Action, Visibility};
use crate::inventory::web_users::{hash_secret, new_secret};
use crate::store::read_models::ClientView;
use crate::store::StoreError;
use crate::web::session::{CsrfForm, Staff, Viewer, Who};
use crate::web::{WebError, WebState};

const PAGE: &str = "auth/portal_links.html";

async fn client(state: &WebState, id: i64) -> Result<ClientView, WebError> {
    match state.api.store.visible_client(Visibility::All, id).await {
        Ok(client) => Ok(client),
        Err(StoreError::NotFound(_)) => Err(WebError::NotFound),
        Err(other) => Err(other.into()),
    }
}

async fn render(
    state: &WebState,
    viewer: &Viewer,
    client: &ClientView,
    new_link: Option<String>,
) -> Result<Response, WebError> {
    let links = state.api.store.portal_links(client.id).await?;
    let ctx = context! { client => client, links => links, new_link => new_link };
    Ok(state.page(Some(viewer), PAGE, ctx)?.into_response())
}

pub(super) async fn page(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    Staff(viewer): Staff,
) -> Result<Response, WebError> {
    let client = client(&state, id).await?;
    render(&state, &viewer, &client, None).await
}

#[derive(serde::Deserialize)]
pub(super) struct NewLinkForm {
    #[serde(default)]
    label: String,
}

pub(super) async fn create(
    State(state): State<WebState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<NewLinkForm>,
) -> Result<Response, WebError> {
    let Who::Staff { email, .. } = &viewer.who else {
        return Err(WebError::NotFound);
    };
    viewer.require(Action::Write)?;
    let client = client(&state, id).await?;
    let secret = new_secret();
    let created = state
        .api
        .store
        .create_portal_link(
            client.id,
            &form.label,
            &hash_secret(&secret),
            email,
            state.api.now(),
        )
        .await;
    match created {
        Ok(_) => {}
        Err(StoreError::Invalid(message)) => return Err(WebError::BadRequest(message)),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(client.id = client.id, web.account = %email, "portal link made");
    let url = format!("{}/portal/link/{secret}", state.auth.public_url);
    render(&state, &viewer, &client, Some(url)).await
}

pub(super) async fn revoke(
    State(state): State<WebState>,
    Path((id, link_id)): Path<(i64, i64)>,
    CsrfForm { viewer, .. }: CsrfForm<super::staff::NoFields>,
) -> Result<Response, WebError> {
    if !viewer.is_staff() {
        return Err(WebError::NotFound);
    }
    viewer.require(Action::Write)?;
    let client = client(&state, id).await?;
    match state
        .api
        .store
        .revoke_portal_link(client.id, link_id, state.api.now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(WebError::NotFound),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(
        client.id = client.id,
        portal_link.id = link_id,
        "portal link revoked"
    );
    Ok(Redirect::to(&format!("/clients/{}/portal-links", client.id)).into_response())
}
