//! Signing in and out: staff accounts (Argon2id passwords, set through a
//! one-time link that `lapse users add` prints), client contacts (a
//! one-time link sent by email), portal links staff share; sessions in the
//! database; sign-in attempts limited per account and per address.
//!
//! Forms shown before there is a session (sign-in, set-password, a
//! client's link request) carry a pre-session CSRF token: the same random
//! value in a `lapse_form` cookie (`HttpOnly`, `SameSite=Strict`) and in
//! the form's `_csrf` field ([`PreSessionForm`], double submit). A session's
//! own forms go through [`super::session::CsrfForm`].
//!
//! - `auth/staff.rs`: `/sign-in`, `/sign-out`, `/set-password/{token}`
//! - `auth/client.rs`: `/sign-in/client`, `/sign-in/link/{token}`, `/portal/link/{token}`
//! - `auth/portal_links.rs`: `/clients/{id}/portal-links` (staff make and revoke them)
//! - `auth/limits.rs`: [`SignInLimits`], the governor buckets per account and per address

mod client;
mod limits;
mod portal_links;
mod staff;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

pub use limits::SignInLimits;

use super::session::{came_over_tls, cookie, same_secret, set_cookie, COOKIE, FORM_LIMIT};
use super::{WebError, WebState};
use crate::config::Config;
use crate::inventory::web_users::{hash_secret, new_secret};
use crate::store::SessionOf;

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "auth/sign_in.html",
        include_str!("templates/auth/sign_in.html"),
    ),
    (
        "auth/set_password.html",
        include_str!("templates/auth/set_password.html"),
    ),
    (
        "auth/link_dead.html",
        include_str!("templates/auth/link_dead.html"),
    ),
    (
        "auth/client_sign_in.html",
        include_str!("templates/auth/client_sign_in.html"),
    ),
    (
        "auth/continue.html",
        include_str!("templates/auth/continue.html"),
    ),
    (
        "auth/portal_links.html",
        include_str!("templates/auth/portal_links.html"),
    ),
];

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/sign-in", get(staff::sign_in_page).post(staff::sign_in))
        .route("/sign-out", post(staff::sign_out))
        .route(
            "/set-password/{token}",
            get(staff::set_password_page).post(staff::set_password),
        )
        .route(
            "/sign-in/client",
            get(client::link_request_page).post(client::request_link),
        )
        .route("/sign-in/link/{token}", get(client::use_link))
        .route("/portal/link/{token}", get(client::use_portal_link))
        .route(
            "/clients/{id}/portal-links",
            get(portal_links::page).post(portal_links::create),
        )
        .route(
            "/clients/{id}/portal-links/{link_id}/revoke",
            post(portal_links::revoke),
        )
}

/// What sign-in needs from `[web]` and `[agency]`.
#[derive(Clone)]
pub struct AuthState {
    /// The base of mailed and printed links, without a trailing slash.
    pub public_url: Arc<str>,
    /// Cookies are always `Secure` when the public URL is https.
    pub public_url_is_https: bool,
    /// How long a session lasts.
    pub session: chrono::Duration,
    pub limits: SignInLimits,
    /// The domain of message ids (`smtp.from`'s).
    message_id_domain: Arc<str>,
    /// Client mail's `Reply-To` (`agency.reply_to`).
    reply_to: Option<String>,
}

impl AuthState {
    pub fn new(config: &Config) -> Self {
        let from = config.smtp.from.trim().trim_end_matches('>');
        let domain = from
            .rsplit_once('@')
            .map_or("lapse.invalid", |(_, d)| d.trim());
        Self {
            public_url: config.web.public_url.as_str().into(),
            public_url_is_https: config.web.public_url_is_https,
            session: chrono::Duration::from_std(config.web.session)
                .unwrap_or(chrono::Duration::hours(12)),
            limits: SignInLimits::new(&config.web),
            message_id_domain: domain.into(),
            reply_to: config.agency.reply_to.clone(),
        }
    }
}

/// The pre-session CSRF cookie's name.
const FORM_COOKIE: &str = "lapse_form";
/// How long a pre-session form token lasts, in seconds.
const FORM_COOKIE_SECS: u64 = 2 * 3600;

/// The pre-session token of a request: the one its cookie holds, or a new
/// one with the `Set-Cookie` that stores it.
fn form_token(parts: &Parts, state: &WebState) -> (String, Option<String>) {
    match cookie(parts, FORM_COOKIE).filter(|t| t.len() == 43) {
        Some(token) => (token, None),
        None => {
            let token = new_secret();
            let set = set_cookie(
                FORM_COOKIE,
                &token,
                FORM_COOKIE_SECS,
                came_over_tls(parts, state),
            );
            (token, Some(set))
        }
    }
}

/// A page shown before there is a session, carrying a pre-session form
/// token (`form_csrf` in the template).
fn form_page(
    state: &WebState,
    parts: &Parts,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Result<Response, WebError> {
    let (token, set) = form_token(parts, state);
    let ctx = minijinja::context! { form_csrf => token, ..ctx };
    let mut response = (status, state.page(None, name, ctx)?).into_response();
    if let Some(set) = set {
        append_cookie(&mut response, &set);
    }
    Ok(response)
}

/// A form posted before there is a session: refused with 403 unless its
/// `_csrf` field is the request's `lapse_form` cookie. Carries the
/// client's address (for the sign-in limits) and whether the request came
/// over TLS (for the cookies it answers with).
pub struct PreSessionForm<T> {
    pub form: T,
    pub address: String,
    pub secure: bool,
    pub parts: Parts,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<WebState> for PreSessionForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, WebError> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| WebError::BadRequest(format!("the form is over {FORM_LIMIT} bytes")))?;
        let field: CsrfField =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::CsrfRefused)?;
        let expected = cookie(&parts, FORM_COOKIE).unwrap_or_default();
        if expected.is_empty() || !same_secret(&field.csrf, &expected) {
            return Err(WebError::CsrfRefused);
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::BadRequest(format!("the form could not be read: {e}")))?;
        Ok(Self {
            form,
            address: client_address(&parts),
            secure: came_over_tls(&parts, state),
            parts,
        })
    }
}

/// The peer's IP address (the server is served with connect info); behind
/// a proxy that is the proxy's.
fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// Starts a session for `of`: stores the hash of a new secret and answers
/// `response` with the session cookie.
async fn start_session(
    state: &WebState,
    of: &SessionOf,
    secure: bool,
    mut response: Response,
) -> Result<Response, WebError> {
    let secret = new_secret();
    let now = state.api.now();
    state
        .api
        .store
        .create_web_session(&hash_secret(&secret), of, now + state.auth.session, now)
        .await?;
    let max_age = u64::try_from(state.auth.session.num_seconds()).unwrap_or(0);
    append_cookie(&mut response, &set_cookie(COOKIE, &secret, max_age, secure));
    Ok(response)
}

/// A page that sends the browser on to `to` (a refresh from lapse's own
/// page, so the `SameSite=Strict` session cookie set here goes with it even
/// when the link was opened from a mail), with a link for the rest.
fn continue_to(state: &WebState, to: &str) -> Result<Response, WebError> {
    Ok(state
        .page(None, "auth/continue.html", minijinja::context! { to => to })?
        .into_response())
}

fn append_cookie(response: &mut Response, set: &str) {
    if let Ok(value) = HeaderValue::from_str(set) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The answer to a one-time or portal link that does not work (unknown,
/// used, expired, revoked): the same 404 for each, so a link's state is
/// not told apart.
fn link_dead(state: &WebState, what: &str) -> Result<Response, WebError> {
    let page = state.page(
        None,
        "auth/link_dead.html",
        minijinja::context! { what => what },
    )?;
    Ok((StatusCode::NOT_FOUND, page).into_response())
}

/// `response` as a 429 with `Retry-After`.
fn too_many(mut response: Response, retry_after_secs: u64) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `next` when it is a path on this site (not `//host` or a URL).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/domains?client=1")), "/domains?client=1");
        for bad in ["//evil.example", "https://evil.example/", "/\\evil", "x"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
