//! The check pipeline: due work -> probe -> assess -> record (-> alert).
//! Shared by the scheduler, `lapse scan`, `lapse whois` and the API. The only
//! module that composes adapters (`probe`, `store`).
//!
//! - `monitor/registration.rs`: registration lookups with the cached RDAP
//!   bootstrap, assessment and recording

pub mod registration;
