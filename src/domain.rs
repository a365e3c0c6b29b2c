//! The vocabulary of lapse: names, endpoints, observations, assessments,
//! and the alert policy (`alert_policy.rs`: when alerts open, notify, resolve).
//!
//! Pure: no I/O, no async, never reads the clock (`now` is a parameter).
//! Everything else may use `domain`; `domain` uses nothing of lapse.

pub mod access;
pub mod address;
pub mod alert_handling;
pub mod alert_policy;
pub mod certificate;
pub mod fleet;
pub mod names;
pub mod observation;
pub mod registration;
pub mod routing;
pub mod status;
pub mod text;

/// Exponential backoff after `failures` consecutive failures (at least 1):
/// `base * 2^(failures - 1)`, never more than `cap`. Used for retrying
/// failed certificate checks and registration lookups.
pub fn backoff(
    base: chrono::TimeDelta,
    cap: chrono::TimeDelta,
    failures: u32,
) -> chrono::TimeDelta {
    let exponent = failures.saturating_sub(1).min(16);
    base.checked_mul(1_i32 << exponent).unwrap_or(cap).min(cap)
}
