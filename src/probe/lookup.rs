//! The vocabulary of one registration request, shared by the RDAP and WHOIS clients and the
//! orchestrator (`registration`): an [`Exchange`] with one server, what it produced
//! ([`ExchangeOutcome`]), and why a server gave no answer ([`LookupFailure`]). It lives apart from
//! the orchestrator so that the clients it calls do not import it back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::target_policy::RefusedServer;
use crate::domain::registration::{ParseOutcome, RegistrationFacts, Source};
use crate::ratelimit::PacingError;

/// Why one request gave no answer. A finding about the server, not an error of lapse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LookupFailure {
    #[error("no complete reply within {after_ms} ms")]
    Timeout { after_ms: u64 },
    #[error("could not connect: {reason}")]
    Connect { reason: String },
    #[error("connection reset: {reason}")]
    Reset { reason: String },
    #[error("reply larger than {limit_bytes} bytes; cut there and dropped")]
    TooLarge { limit_bytes: usize },
    #[error("HTTP status {status}")]
    HttpStatus { status: u16 },
    #[error("more than {max} redirects")]
    TooManyRedirects { max: usize },
    #[error("rate limited by the server{}", retry_after_secs.map(|s| format!("; retry after {s} s")).unwrap_or_default())]
    RateLimited { retry_after_secs: Option<u64> },
    /// The server refuses more lookups of this one domain for now (it named the domain); other
    /// domains are asked as usual.
    #[error("the server refuses more lookups of this domain for now{}", retry_after_secs.map(|s| format!("; retry after {s} s")).unwrap_or_default())]
    DomainRateLimited { retry_after_secs: Option<u64> },
    #[error("not asked: the server asked us to pause ({retry_in_secs} s left)")]
    BackingOff { retry_in_secs: u64 },
    #[error("{reason}")]
    Protocol { reason: String },
    /// A server lapse found (bootstrap entry, redirect, registrar link, WHOIS referral, IANA
    /// answer) is in a reserved range `targets.allow_ranges` does not list: not contacted.
    #[error("{0}")]
    Refused(RefusedServer),
}

impl LookupFailure {
    /// Worth asking again sooner than the next scan: the server may answer next time.
    pub fn is_retryable(&self) -> bool {
        match self {
            LookupFailure::Timeout { .. }
            | LookupFailure::Connect { .. }
            | LookupFailure::Reset { .. }
            | LookupFailure::RateLimited { .. }
            | LookupFailure::DomainRateLimited { .. }
            | LookupFailure::BackingOff { .. } => true,
            LookupFailure::HttpStatus { status } => *status >= 500 || *status == 408,
            LookupFailure::TooLarge { .. }
            | LookupFailure::TooManyRedirects { .. }
            | LookupFailure::Protocol { .. }
            | LookupFailure::Refused(_) => false,
        }
    }

    /// The server asked us to slow down (rate limited, or a pause it asked for still runs).
    pub fn is_slow_down(&self) -> bool {
        matches!(
            self,
            LookupFailure::RateLimited { .. }
                | LookupFailure::DomainRateLimited { .. }
                | LookupFailure::BackingOff { .. }
        )
    }

    /// The wait the server asked for, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LookupFailure::RateLimited { retry_after_secs }
            | LookupFailure::DomainRateLimited { retry_after_secs } => {
                retry_after_secs.map(Duration::from_secs)
            }
            LookupFailure::BackingOff { retry_in_secs } => {
                Some(Duration::from_secs(*retry_in_secs))
            }
            _ => None,
        }
    }
}

impl From<PacingError> for LookupFailure {
    fn from(error: PacingError) -> Self {
        match error {
            PacingError::BackingOff { retry_in, .. } => LookupFailure::BackingOff {
                retry_in_secs: retry_in.as_secs().max(1),
            },
        }
    }
}

/// What a request produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeOutcome {
    /// The server replied and the parser read it (found, not published, not found, unparseable).
    Answered(RegistrationFacts),
    Failed(LookupFailure),
}

/// One request to one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    pub source: Source,
    /// The URL asked (RDAP) or the `host[:port]` (WHOIS).
    pub server: String,
    /// The rate-limiter key the request was paced under.
    pub pacing_key: String,
    pub fetched_at: DateTime<Utc>,
    pub elapsed_ms: u64,
    pub outcome: ExchangeOutcome,
    /// The reply as received (within the size cap), when there was one.
    #[serde(skip)]
    pub raw: Option<Vec<u8>>,
}

impl Exchange {
    pub(crate) fn failed(
        source: Source,
        server: &str,
        pacing_key: String,
        now: DateTime<Utc>,
        failure: LookupFailure,
    ) -> Self {
        Exchange {
            source,
            server: server.to_owned(),
            pacing_key,
            fetched_at: now,
            elapsed_ms: 0,
            outcome: ExchangeOutcome::Failed(failure),
            raw: None,
        }
    }

    pub fn facts(&self) -> Option<&RegistrationFacts> {
        match &self.outcome {
            ExchangeOutcome::Answered(facts) => Some(facts),
            ExchangeOutcome::Failed(_) => None,
        }
    }

    pub fn failure(&self) -> Option<&LookupFailure> {
        match &self.outcome {
            ExchangeOutcome::Answered(_) => None,
            ExchangeOutcome::Failed(failure) => Some(failure),
        }
    }

    /// Whether this exchange published an expiry (and so WHOIS need not be asked).
    pub(crate) fn has_expiry(&self) -> bool {
        self.facts()
            .is_some_and(|f| f.outcome == ParseOutcome::Found && f.expires.is_some())
    }
}
