//! Signing in and out: staff accounts (Argon2 passwords, set through a
//! one-time link that `lapse users add` prints), client contacts (a
//! one-time link sent by email), portal links staff share; sessions in the
//! database; login attempts limited per account and per address.
//!
//! OWNED BY the web-auth helper (issue 16): this file is a placeholder
//! until that branch lands.

use axum::Router;

use super::WebState;

pub const TEMPLATES: &[(&str, &str)] = &[];

pub fn routes() -> Router<WebState> {
    Router::new()
}
