//! The check pipeline: due work -> probe -> assess -> record -> alert once.
//! Shared by the scheduler, `lapse scan`, `lapse whois` and the API. The only
//! module that composes adapters (`probe`, `store`, `notify`).
//!
//! - `monitor/engine.rs`: the scan engine (due work, bounded concurrency,
//!   per-address cap, batched recording, resumable, graceful stop) and `Clock`
//! - `monitor/registration.rs`: registration lookups with the cached RDAP
//!   bootstrap, assessment and recording
//! - `monitor/schedule.rs`: cron in a time zone with jitter, the due-work poll
//! - `monitor/alerts.rs`: after results are recorded, decide alerts once and
//!   queue their messages (`alerts/subjects.rs`: what the stored facts mean;
//!   `alerts/messages.rs`: transitions into writes and messages;
//!   `alerts/quiet.rs`: the batch pre-filter); `monitor/digest.rs`: the
//!   staff digest
//! - `monitor/health.rs`: lapse's own health for the outage rule (canaries,
//!   checks that failed on lapse's side)

pub mod alerts;
pub mod digest;
pub mod engine;
pub mod health;
pub mod registration;
pub mod schedule;
