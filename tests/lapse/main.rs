//! lapse's integration tests, one binary organised by feature. Everything
//! runs against real parts on loopback: a real SQLite file in a temporary
//! directory, the real scan engine and sender under a test clock, a real
//! HTTP server on port 0, and the built `lapse` binary where the command
//! line is the subject. `harness` is the one test harness.

mod harness;

mod alert_handling;
mod alerts;
mod alerts_cli;
mod api;
mod api_fleet;
mod api_fuzz;
mod channels;
mod cli_config;
mod cli_domains;
mod cli_import;
mod client_digest;
mod client_mail;
mod day_counts;
mod db_copy;
mod delivery;
mod failure_streaks;
mod fleet_alerts;
mod fleet_cli;
mod fleet_needs_date;
mod fleet_read;
mod honest_reasons;
mod ids_never_reused;
mod instances;
mod kill9;
mod look_alikes;
mod migration;
mod observations;
mod outage;
mod pg_outage;
mod pinned_address;
mod readme_examples;
mod registration;
mod registration_cli;
mod registration_pacing;
mod registration_ssrf;
mod registry_hardening;
mod renewal;
mod repeat;
mod runbooks;
mod scan;
mod scan_progress;
mod scan_scope;
mod schema_parity;
mod serve;
mod serve_cron;
mod status_recheck;
mod thresholds;
mod tidy;
mod tls_probe;
mod web_auth;
mod web_browser;
mod web_portal;
mod web_staff;
