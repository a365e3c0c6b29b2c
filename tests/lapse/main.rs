//! lapse's integration tests, one binary organised by feature. Everything
//! runs against real parts on loopback: the built `lapse` binary, a real
//! SQLite file in a temporary directory, a real HTTP server on port 0.

mod alert_support;
mod smtp_sink;
mod support;
mod test_app;

mod alerts;
mod alerts_cli;
mod api;
mod cli_config;
mod cli_domains;
mod cli_import;
mod delivery;
mod observations;
mod registration;
mod registration_cli;
mod registration_pacing;
mod registration_ssrf;
mod registration_support;
mod scan;
mod scan_scope;
mod serve;
mod serve_cron;
mod tls_probe;
mod tls_support;
