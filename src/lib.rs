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

/// The allocator of every program built on lapse (the binary, the tests, the
/// benchmarks): mimalloc instead of glibc's malloc. Measured with the scan
/// benchmark (issue 19): glibc's malloc was about a tenth of a scan's CPU and
/// kept one arena per thread, so peak RSS grew with the threads (SQLite's
/// connection threads among them) unless `MALLOC_ARENA_MAX` was set.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
