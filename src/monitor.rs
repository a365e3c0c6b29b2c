//! The check pipeline's alerting end: after results are recorded, decide
//! alerts once and queue their messages (`alerts.rs`), and the staff digest
//! (`digest.rs`). The scan engine and scheduler join this module.

pub mod alerts;
pub mod digest;
