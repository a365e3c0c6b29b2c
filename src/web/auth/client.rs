//! Clients signing in: a contact asks for a link by address and gets it by
//! mail (a row in the outbox, delivered by the `notify::Sender`); whoever
//! opens a portal link staff shared gets a read-only session.
//!
//! The answer to a link request is the same page whether or not the
//! address is a contact (and the same limits apply), so the form tells no
//! one which addresses are contacts. An address that is a contact of
//! several clients gets one mail with a link per client.

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use minijinja::context;

use super::{continue_to, form_page, link_dead, start_session, too_many, PreSessionForm};
use crate::domain::names::parse_email;
use crate::inventory::web_users::{hash_secret, new_secret};
use crate::store::read_models::ClientRef;
use crate::store::{Channel, NewLink, NewMessage, SessionOf, SIGN_IN_MESSAGE_PREFIX};
use crate::web::{WebError, WebState};

/// How long an emailed sign-in link works.
pub const CLIENT_LINK_MINUTES: i64 = 30;

const PAGE: &str = "auth/client_sign_in.html";

pub(super) async fn link_request_page(
    State(state): State<WebState>,
    parts: Parts,
) -> Result<Response, WebError> {
    form_page(&state, &parts, StatusCode::OK, PAGE, context! {})
}

#[derive(serde::Deserialize)]
pub(super) struct LinkRequest {
    #[serde(default)]
    email: String,
}

pub(super) async fn request_link(
    State(state): State<WebState>,
    post: PreSessionForm<LinkRequest>,
) -> Result<Response, WebError> {
    let typed = post.form.email.trim().to_lowercase();
    let account = format!("contact:{typed}");
    if let Err(wait) = state.auth.limits.attempt(&post.address, &account) {
        tracing::warn!(web.address = %post.address, "client link requests limited");
        let error = format!("Too many requests. Try again in {wait} seconds.");
        let ctx = context! { email => &typed, error => error };
        let page = form_page(&state, &post.parts, StatusCode::OK, PAGE, ctx)?;
        return Ok(too_many(page, wait));
    }
    if let Ok(email) = parse_email(&typed) {
        let clients = state.api.store.clients_of_contact(&email).await?;
        if !clients.is_empty() {
            queue_links(&state, &email, &clients).await?;
        }
    }
    let ctx = context! { email => &typed, sent => true, minutes => CLIENT_LINK_MINUTES };
    form_page(&state, &post.parts, StatusCode::OK, PAGE, ctx)
}

/// Stores a link per client and queues the mail that carries them.
async fn queue_links(state: &WebState, email: &str, clients: &[ClientRef]) -> Result<(), WebError> {
    let now = state.api.now();
    let expires_at = now + Duration::minutes(CLIENT_LINK_MINUTES);
    let mut links = Vec::new();
    let mut lines = Vec::new();
    for client in clients {
        let secret = new_secret();
        lines.push(format!(
            "{}: {}/sign-in/link/{secret}",
            client.name, state.auth.public_url
        ));
        let link = NewLink {
            token_hash: hash_secret(&secret),
            expires_at,
        };
        links.push((client.id, link));
    }
    let agency = &*state.agency;
    let body_text = format!(
        "Someone, hopefully you, asked to sign in to {agency}'s domain portal with this address.\n\n\
         {}\n\n\
         The link works once, within {CLIENT_LINK_MINUTES} minutes. If you did not ask for it, \
         ignore this mail: nothing happens without the link.\n\n\
         {agency}\n",
        lines.join("\n")
    );
    let message = NewMessage {
        channel: Channel::Email,
        recipient: email.to_owned(),
        cc: None,
        reply_to: state.auth.reply_to.clone(),
        subject: format!("Your sign-in link for {agency}"),
        body_text,
        body_html: None,
    };
    let message_id = format!(
        "{SIGN_IN_MESSAGE_PREFIX}{}@{}",
        hex::encode(rand::random::<[u8; 12]>()),
        state.auth.message_id_domain
    );
    state
        .api
        .store
        .queue_client_sign_in(email, &links, &message, &message_id, now)
        .await?;
    tracing::info!(web.contact = %email, clients = clients.len(), "client sign-in link queued");
    Ok(())
}

/// `/sign-in/link/{token}`: the emailed link, used once.
pub(super) async fn use_link(
    State(state): State<WebState>,
    Path(token): Path<String>,
    parts: Parts,
) -> Result<Response, WebError> {
    let now = state.api.now();
    let used = state
        .api
        .store
        .use_client_sign_in_link(&hash_secret(&token), now)
        .await?;
    let Some((client_id, contact)) = used else {
        return link_dead(&state, "sign-in");
    };
    tracing::info!(web.contact = %contact, client.id = client_id, "client signed in by link");
    let of = SessionOf::Contact { client_id, contact };
    let secure = crate::web::session::came_over_tls(&parts, &state);
    start_session(&state, &of, secure, continue_to(&state, "/portal")?).await
}

/// `/portal/link/{token}`: a portal link staff shared; works until revoked.
pub(super) async fn use_portal_link(
    State(state): State<WebState>,
    Path(token): Path<String>,
    parts: Parts,
) -> Result<Response, WebError> {
    let found = state
        .api
        .store
        .portal_link_by_hash(&hash_secret(&token))
        .await?;
    let Some((portal_link_id, client_id)) = found else {
        return link_dead(&state, "portal");
    };
    let of = SessionOf::PortalLink {
        client_id,
        portal_link_id,
    };
    let secure = crate::web::session::came_over_tls(&parts, &state);
    start_session(&state, &of, secure, continue_to(&state, "/portal")?).await
}
