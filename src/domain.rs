//! The vocabulary of lapse: names, endpoints, observations, assessments,
//! and the alert policy (`alert_policy.rs`: when alerts open, notify, resolve).
//!
//! Pure: no I/O, no async, never reads the clock (`now` is a parameter).
//! Everything else may use `domain`; `domain` uses nothing of lapse.

pub mod access;
pub mod alert_policy;
pub mod certificate;
pub mod names;
pub mod observation;
pub mod registration;
pub mod status;
