//! The staff dashboard's pages.
//!
//! OWNED BY the web-staff helper (issue 16).

use axum::Router;

use super::WebState;

pub const TEMPLATES: &[(&str, &str)] = &[];

pub fn routes() -> Router<WebState> {
    Router::new()
}
