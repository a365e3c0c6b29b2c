//! The web pages: a dashboard for agency staff and a read-only portal for
//! clients, served by `lapse serve` at `/` next to the JSON API (which stays
//! under `/api/v1`). Server-rendered HTML from templates compiled into the
//! binary (`web/templates/`), with small hand-written CSS and JavaScript
//! (`web/assets/`); every core flow works with JavaScript off.
//!
//! Pages read the same store read models as the API, through the viewer's
//! [`Visibility`](crate::domain::access::Visibility): a page never shows a
//! row its viewer could not read through the API.
//!
//! - `web/page.rs`: the template set (autoescaped), [`page::Page`], [`WebError`]
//! - `web/security.rs`: the response headers (CSP without inline script, frame denial)
//! - `web/session.rs`: [`session::Viewer`] (who is signed in), the session cookie, CSRF
//! - `web/auth.rs`: sign-in, sign-out, users, one-time links, portal links, sessions
//! - `web/staff.rs` (+ `staff/`): the staff pages
//! - `web/portal.rs`: the client portal

pub mod auth;
pub mod page;
mod portal;
mod security;
pub mod session;
mod staff;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub use page::WebError;

use crate::api::ApiState;
use crate::config::Config;

/// Shared state of every page handler.
#[derive(Clone)]
pub struct WebState {
    /// The API's state: the store, the settings, the clock, the summaries.
    pub api: ApiState,
    /// The agency's name, shown on every page.
    pub agency: Arc<str>,
    /// The effective configuration, secrets redacted, for its page.
    pub redacted_config: Arc<str>,
    pub pages: Arc<page::Pages>,
    /// Sign-in: the public URL, session length, attempt limits (`[web]`).
    pub auth: auth::AuthState,
}

impl WebState {
    pub fn new(api: ApiState, config: &Config) -> Self {
        let agency = if config.agency.name.is_empty() {
            "lapse".to_owned()
        } else {
            config.agency.name.clone()
        };
        Self {
            api,
            agency: agency.into(),
            redacted_config: config.to_redacted_toml().into(),
            pages: Arc::new(page::Pages::new()),
            auth: auth::AuthState::new(config),
        }
    }
}

/// Every page route with its layers; merged beside the API's router.
pub fn router(state: WebState) -> Router {
    let router = Router::new()
        .merge(auth::routes())
        .merge(staff::routes())
        .merge(portal::routes())
        .route("/assets/lapse.css", get(css))
        .route("/assets/lapse.js", get(js))
        .with_state(state);
    security::layer(router)
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("web/assets/lapse.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("web/assets/lapse.js"),
    )
}
