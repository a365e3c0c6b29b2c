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
//! A bootstrap entry may list several base URLs (https first): when one gives no answer (dead,
//! timed out, refused, 5xx), the next is asked; one that says "slow down" is not left for another.
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

use chrono::{DateTime, Utc};
use serde::Serialize;

// The request vocabulary is part of this module's API (`LookupReport` holds exchanges); it lives
// in `lookup` so that `rdap` and `whois` need not import the orchestrator that calls them.
pub use super::lookup::{Exchange, ExchangeOutcome, LookupFailure};
use super::rdap::{BootstrapRegistry, RdapClient};
use super::whois::WhoisClient;
use crate::domain::registration::{ParseOutcome, Source, SourcedFacts};
use crate::ratelimit::RateLimiters;

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
    let RegistrationClients {
        rdap,
        bootstrap,
        whois,
    } = clients;
    lookup_with(domain, rdap, bootstrap, whois, limits, now).await
}

/// [`lookup`] with the clients apart, for a caller that loads the bootstrap on its own terms
/// (`monitor::registration`: on first use).
pub async fn lookup_with(
    domain: &str,
    rdap: &RdapClient,
    bootstrap: &BootstrapRegistry,
    whois: &WhoisClient,
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

    let bases = bootstrap.base_urls_for(domain);
    if bases.is_empty() {
        report.notes.push(if bootstrap.fetched_at().is_none() {
            "no RDAP bootstrap loaded and no RDAP override for this TLD".to_owned()
        } else {
            "the TLD has no RDAP server in the bootstrap registry or the overrides".to_owned()
        });
    }
    // The entry's base URLs in turn, until one gives an answer (or asks us to slow down).
    for base in bases {
        report.rdap_base = Some(base.to_string());
        let exchanges = rdap.lookup(domain, base, limits, now).await;
        let try_next = exchanges
            .first()
            .and_then(Exchange::failure)
            .is_some_and(|failure| !failure.is_slow_down());
        report.exchanges.extend(exchanges);
        if !try_next {
            break;
        }
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

    let whois = whois.lookup(domain, limits, now).await;
    if whois.no_server {
        report
            .notes
            .push("no WHOIS server is known for this TLD".to_owned());
    }
    report.exchanges.extend(whois.exchanges);
    report
}
