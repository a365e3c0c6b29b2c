//! One registration lookup: RDAP first (registry, then the registrar it links to), WHOIS when the
//! TLD has no RDAP server or RDAP gave no expiry. Returns every request as data ([`Exchange`]):
//! the facts a server gave, or why it gave none ([`LookupFailure`]), with the raw reply for
//! `--raw` and for logging unparseable replies. What the answers mean together is decided by
//! `domain::registration::assess`, not here.
//!
//! When WHOIS is asked:
//! - the bootstrap (and the overrides) name no RDAP server for the TLD;
//! - RDAP failed (timeout, 5xx, rate limited, oversize, unparseable) or answered without an
//!   expiry (the registry publishes none there, e.g. `.no`).
//!
//! It is not asked when RDAP published an expiry, or when the registry's RDAP said the domain
//! does not exist (404 is an answer, and the registry is the authority on it).
//!
//! Servers named in configuration (`rdap.bootstrap_url`, `rdap.overrides`, `whois.servers`,
//! `whois.iana_server`) are contacted as configured. Every server lapse finds on its own (a
//! bootstrap entry, an HTTP redirect, the registrar's RDAP link, a WHOIS referral, IANA's answer)
//! is resolved first and contacted only at an address `targets.allow_ranges` permits; otherwise
//! the exchange fails with [`LookupFailure::Refused`], which says which server, how it was found,
//! what it resolved to and which setting would allow it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rdap::{BootstrapRegistry, RdapClient};
use super::target_policy::RefusedServer;
use super::whois::WhoisClient;
use super::whois_parse::{ParseOutcome, RegistrationFacts};
use crate::domain::registration::{Source, SourcedFacts};
use crate::ratelimit::{PacingError, RateLimiters};

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
            | LookupFailure::BackingOff { .. } => true,
            LookupFailure::HttpStatus { status } => *status >= 500 || *status == 408,
            LookupFailure::TooLarge { .. }
            | LookupFailure::TooManyRedirects { .. }
            | LookupFailure::Protocol { .. }
            | LookupFailure::Refused(_) => false,
        }
    }

    /// The wait the server asked for, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LookupFailure::RateLimited { retry_after_secs } => {
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

    fn has_expiry(&self) -> bool {
        self.facts()
            .is_some_and(|f| f.outcome == ParseOutcome::Found && f.expires.is_some())
    }
}

/// The network clients of registration lookups, built once from config.
#[derive(Debug)]
pub struct RegistrationClients {
    pub rdap: RdapClient,
    /// The bootstrap currently in use (refreshed by the caller when stale).
    pub bootstrap: BootstrapRegistry,
    pub whois: WhoisClient,
}

/// Everything one lookup did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookupReport {
    pub domain: String,
    pub looked_up_at: DateTime<Utc>,
    /// The RDAP base URL used, if the TLD has one.
    pub rdap_base: Option<String>,
    /// Every request, in order: registry RDAP, registrar RDAP, WHOIS hops.
    pub exchanges: Vec<Exchange>,
    /// Why a step was skipped (no RDAP server for the TLD, no WHOIS server, ...).
    pub notes: Vec<String>,
}

impl LookupReport {
    /// The answers, for `assess` and for the store (failures are left out: they carry no facts).
    pub fn sourced_facts(&self) -> Vec<SourcedFacts> {
        self.exchanges
            .iter()
            .filter_map(|e| {
                e.facts().map(|facts| SourcedFacts {
                    source: e.source,
                    server: e.server.clone(),
                    fetched_at: e.fetched_at,
                    facts: facts.clone(),
                })
            })
            .collect()
    }

    pub fn failures(&self) -> impl Iterator<Item = (&Exchange, &LookupFailure)> {
        self.exchanges
            .iter()
            .filter_map(|e| e.failure().map(|f| (e, f)))
    }
}

/// Looks `domain` (lower case, ASCII/Punycode) up: RDAP first, WHOIS as fallback.
pub async fn lookup(
    domain: &str,
    clients: &RegistrationClients,
    limits: &RateLimiters,
    now: DateTime<Utc>,
) -> LookupReport {
    let mut report = LookupReport {
        domain: domain.to_owned(),
        looked_up_at: now,
        rdap_base: None,
        exchanges: Vec::new(),
        notes: Vec::new(),
    };

    match clients.bootstrap.base_url_for(domain) {
        Some(base) => {
            report.rdap_base = Some(base.to_string());
            report
                .exchanges
                .extend(clients.rdap.lookup(domain, base, limits, now).await);
        }
        None => report
            .notes
            .push(if clients.bootstrap.fetched_at().is_none() {
                "no RDAP bootstrap loaded and no RDAP override for this TLD".to_owned()
            } else {
                "the TLD has no RDAP server in the bootstrap registry or the overrides".to_owned()
            }),
    }

    let rdap_has_expiry = report.exchanges.iter().any(Exchange::has_expiry);
    let registry_says_not_found = report.exchanges.iter().any(|e| {
        e.source == Source::RegistryRdap
            && e.facts()
                .is_some_and(|f| f.outcome == ParseOutcome::NotFound)
    });
    if rdap_has_expiry || registry_says_not_found {
        return report;
    }

    let whois = clients.whois.lookup(domain, limits, now).await;
    if whois.no_server {
        report
            .notes
            .push("no WHOIS server is known for this TLD".to_owned());
    }
    report.exchanges.extend(whois.exchanges);
    report
}
