//! lapse: a domain-registration and TLS-certificate expiry monitor.
//!
//! One binary with an embedded SQLite database, a scheduler, a JSON API and
//! an email sender. See `ARCHITECTURE.md` for the map of modules and the
//! rules between them; `main.rs` is a thin shell around [`cli`].

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod inventory;
pub mod logging;
pub mod monitor;
pub mod notify;
pub mod probe;
pub mod ratelimit;
pub mod store;
pub mod web;
