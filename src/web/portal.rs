//! The client portal: a client's own domains, certificates, next expiries
//! and what was sent to them; read-only.
//!
//! OWNED BY the web-auth helper (issue 16).

use axum::Router;

use super::WebState;

pub const TEMPLATES: &[(&str, &str)] = &[];

pub fn routes() -> Router<WebState> {
    Router::new()
}
