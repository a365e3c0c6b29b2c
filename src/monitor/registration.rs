//! Registration checks: RDAP first, WHOIS as the fallback, assessed with
//! provenance and recorded. Keeps the IANA bootstrap cached in the store and
//! refreshes it when stale; a failed refresh keeps the cached copy. The
//! bootstrap is loaded on first use (`bootstrap.rs`), never when the checker
//! is built.

mod bootstrap;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use self::bootstrap::LazyBootstrap;
use crate::config::Config;
use crate::domain::alert_policy::AlertKind;
use crate::domain::registration::{
    assess, is_alarming_status, next_registration_check, Assessment, RecheckPolicy, SourcedFacts,
};
use crate::probe::rdap::{BootstrapError, RdapClient, RdapClientError, RdapSettings};
use crate::probe::registration::{lookup_with, LookupReport};
use crate::probe::whois::{WhoisClient, WhoisSettings, WhoisSetupError};
use crate::ratelimit::{RateLimitSettings, RateLimiters, ServerLimit};
use crate::store::{AlertScope, RegistrationRecord, Store, StoreError};

/// lapse could not set up registration lookups (bad settings): its own failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationSetupError {
    #[error("RDAP client: {0}")]
    Rdap(#[source] RdapClientError),
    /// An `rdap.overrides` entry the bootstrap cannot take.
    #[error("RDAP client: {0}")]
    Bootstrap(#[source] BootstrapError),
    #[error("WHOIS client: {0}")]
    Whois(#[source] WhoisSetupError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// One lookup with what it means.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegistrationCheck {
    pub report: LookupReport,
    pub assessment: Assessment,
}

/// Registry pacing shared by the instances on one database: each request's
/// slot is reserved in the store (`Store::reserve_pacing_slot`) on the
/// system clock's milliseconds. A failed reservation is logged and the
/// in-process quota alone paces that request.
#[derive(Debug, Clone)]
pub struct StorePacing(pub Store);

impl crate::ratelimit::SharedPacing for StorePacing {
    fn reserve<'a>(
        &'a self,
        server: &'a str,
        limit: ServerLimit,
    ) -> crate::ratelimit::PacingFuture<'a> {
        Box::pin(async move {
            match self
                .0
                .reserve_pacing_slot(server, limit.interval_ms(), limit.burst, || {
                    Utc::now().timestamp_millis()
                })
                .await
            {
                Ok(wait_ms) => {
                    std::time::Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
                }
                Err(error) => {
                    tracing::warn!(server.name = %server, %error, "cannot reserve a shared pacing slot; pacing in this process only");
                    std::time::Duration::ZERO
                }
            }
        })
    }
}

/// Built once per process (or scan); `check` may run concurrently.
pub struct RegistrationChecker {
    rdap: RdapClient,
    whois: WhoisClient,
    /// Loaded on first use.
    bootstrap: LazyBootstrap,
    limits: Arc<RateLimiters>,
    policy: RecheckPolicy,
    confirm: StatusConfirm,
}

/// How a first worrying status is confirmed: looked up again `interval`
/// later, until `observations` in a row have been counted (the failure
/// rule's `alerts.failures_before_alert`) or its alert fires.
#[derive(Debug, Clone, Copy)]
pub struct StatusConfirm {
    pub interval: TimeDelta,
    pub observations: u32,
}

impl StatusConfirm {
    pub fn from_config(config: &Config) -> Self {
        Self {
            interval: TimeDelta::minutes(config.schedule.status_confirm_minutes),
            observations: config.alerts.failures_before_alert,
        }
    }
}

impl Default for StatusConfirm {
    fn default() -> Self {
        Self {
            interval: TimeDelta::minutes(5),
            observations: 2,
        }
    }
}

/// A registration status that alerts: not found, redemption, pending
/// delete, a hold (from a lookup that answered).
fn worrying(assessment: &Assessment) -> bool {
    !assessment.stale
        && (assessment.not_found || assessment.status.iter().any(|s| is_alarming_status(s)))
}

impl std::fmt::Debug for RegistrationChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationChecker")
            .finish_non_exhaustive()
    }
}

pub fn rdap_settings(config: &Config) -> RdapSettings {
    RdapSettings {
        bootstrap_url: config.rdap.bootstrap_url.clone(),
        overrides: config.rdap.overrides.clone(),
        timeout: config.rdap.timeout,
        connect_timeout: config.rdap.connect_timeout,
        max_bytes: config.rdap.max_bytes,
        max_redirects: config.rdap.max_redirects,
        allow_ranges: config.targets.allow_ranges.clone(),
        nameservers: config.dns.nameservers.clone(),
        extra_ca_pem: config.tls.extra_ca_pem.clone(),
    }
}

pub fn whois_settings(config: &Config) -> WhoisSettings {
    WhoisSettings {
        servers: config.whois.servers.clone().into_iter().collect(),
        iana_server: config.whois.iana_server.clone(),
        timeout: config.whois.timeout,
        deadline: config.whois.deadline,
        max_bytes: config.whois.max_bytes,
        max_referrals: config.whois.max_referrals,
        rate_limit_backoff: config.whois.rate_limit_backoff,
        allow_ranges: config.targets.allow_ranges.clone(),
        nameservers: config.dns.nameservers.clone(),
        ..WhoisSettings::default()
    }
}

pub fn rate_limit_settings(config: &Config) -> RateLimitSettings {
    let pace = |p: &crate::config::ServerPace| ServerLimit {
        per_second: p.per_second,
        burst: p.burst,
        max_concurrent: p.max_concurrent,
    };
    RateLimitSettings {
        default: pace(&config.ratelimit.default),
        overrides: config
            .ratelimit
            .servers
            .iter()
            .map(|(k, v)| (k.clone(), pace(v)))
            .collect(),
        max_wait: config.ratelimit.max_wait,
        max_backoff: config.ratelimit.max_backoff,
    }
}

impl RegistrationChecker {
    /// Builds the clients (a bad setting fails here) and takes the cached
    /// bootstrap when it is fresh at `now`. Nothing is fetched: the bootstrap
    /// is fetched on first use (`bootstrap.rs`).
    pub async fn build(
        config: &Config,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<Self, RegistrationSetupError> {
        let rdap = RdapClient::new(rdap_settings(config)).map_err(RegistrationSetupError::Rdap)?;
        let whois =
            WhoisClient::new(whois_settings(config)).map_err(RegistrationSetupError::Whois)?;
        let refresh_after = TimeDelta::days(i64::from(config.rdap.bootstrap_refresh_days));
        let bootstrap = LazyBootstrap::new(store, &rdap, refresh_after, now).await?;
        Ok(Self {
            rdap,
            whois,
            bootstrap,
            limits: Arc::new(
                RateLimiters::new(rate_limit_settings(config))
                    .with_shared(Arc::new(StorePacing(store.clone()))),
            ),
            policy: RecheckPolicy::default(),
            confirm: StatusConfirm::from_config(config),
        })
    }

    pub fn with_policy(mut self, policy: RecheckPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// When a worrying status (this lookup's) still waits for its
    /// confirmation: its failure streak, this lookup included, is short of
    /// `observations` and its alert does not fire. Then the domain is due
    /// again `confirm.interval` from `now`, not at the next daily lookup.
    async fn confirm_at(
        &self,
        store: &Store,
        domain_id: i64,
        assessment: &Assessment,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if !worrying(assessment) {
            return Ok(None);
        }
        let scope = AlertScope::domain(domain_id);
        if store
            .firing_alert(scope, AlertKind::RegistrationProblem)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let counted = store.domain_alert_facts(domain_id).await?.streak.failures;
        let with_this = counted.saturating_add(1);
        Ok((with_this < self.confirm.observations).then(|| now + self.confirm.interval))
    }

    /// The queue a domain's lookup waits in, and how many lookups of that
    /// queue may run at once. Lookups to one registry server are paced
    /// together, so running more of them than the server's `max_concurrent`
    /// would only park registration slots in its pacer: the engine runs at
    /// most that many, and a slow registry never holds every slot. The queue
    /// is the RDAP server the bootstrap names, else the TLD's WHOIS (whose
    /// server, and so its pace, is only known once the lookup runs: the
    /// default pace's concurrency applies).
    /// The first call loads the bootstrap (`now`: when it is judged fresh).
    pub async fn queue_for(&self, domain: &str, now: DateTime<Utc>) -> (String, usize) {
        let bootstrap = self.bootstrap.get(&self.rdap, now).await;
        match bootstrap.registry.base_url_for(domain) {
            Some(base) => {
                let server = crate::ratelimit::server_key_for_url(base);
                let limit = self.limits.limit_for(&server).max_concurrent;
                (format!("rdap {server}"), limit.max(1))
            }
            None => {
                let tld = domain
                    .trim_end_matches('.')
                    .rsplit('.')
                    .next()
                    .unwrap_or("");
                let limit = self.limits.settings().default.max_concurrent;
                (format!("whois .{tld}"), limit.max(1))
            }
        }
    }

    /// A lookup with no store involved beyond what the caller passes.
    pub async fn look_up(
        &self,
        domain: &str,
        previous: Option<&Assessment>,
        manual: Option<&crate::domain::registration::ManualExpiry>,
        now: DateTime<Utc>,
    ) -> RegistrationCheck {
        let bootstrap = self.bootstrap.get(&self.rdap, now).await;
        let mut report = lookup_with(
            domain,
            &self.rdap,
            &bootstrap.registry,
            &self.whois,
            &self.limits,
            now,
        )
        .await;
        if let Some(note) = &bootstrap.note {
            report.notes.insert(0, note.clone());
        }
        for exchange in &report.exchanges {
            let unparseable = exchange.facts().is_some_and(|f| {
                f.outcome == crate::domain::registration::ParseOutcome::Unparseable
            });
            if let (true, Some(raw)) = (unparseable, &exchange.raw) {
                let shown = String::from_utf8_lossy(&raw[..raw.len().min(2048)]).into_owned();
                tracing::warn!(domain.name = domain, server = %exchange.server, raw.bytes = raw.len(), raw.reply = %shown, "unparseable registration reply; expiry unknown (never treated as expired)");
            }
        }
        let answers: Vec<SourcedFacts> = report.sourced_facts();
        let assessment = assess(&answers, manual, previous, now);
        RegistrationCheck { report, assessment }
    }

    /// The longest wait a server asked for in this lookup (a 429's `Retry-After`, a WHOIS "try
    /// again in 30 minutes", a pause still running), bounded by `ratelimit.max_backoff`: the
    /// domain is not looked up again sooner. Zero when none asked.
    fn asked_to_wait(&self, report: &LookupReport) -> TimeDelta {
        let longest = report
            .failures()
            .filter_map(|(_, failure)| failure.retry_after())
            .max()
            .unwrap_or_default()
            .min(self.limits.settings().max_backoff);
        TimeDelta::from_std(longest).unwrap_or_default()
    }

    /// Looks a tracked domain up and records the result.
    pub async fn check_and_record(
        &self,
        store: &Store,
        domain_id: i64,
        now: DateTime<Utc>,
    ) -> Result<RegistrationCheck, StoreError> {
        let (check, record) = self.check(store, domain_id, now).await?;
        store.record_lookup(&record).await?;
        Ok(check)
    }

    /// Looks a tracked domain up; returns the check and what to record of
    /// it (a scan records it in its writer's batch).
    pub async fn check(
        &self,
        store: &Store,
        domain_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(RegistrationCheck, RegistrationRecord), StoreError> {
        let context = store.registration_context(domain_id).await?;
        let check = self
            .look_up(
                &context.name,
                context.previous.as_ref(),
                context.manual.as_ref(),
                now,
            )
            .await;
        let failures = if check.assessment.stale {
            context.failures + 1
        } else {
            0
        };
        let mut reasons = Vec::new();
        for (exchange, failure) in check.report.failures() {
            tracing::info!(domain.name = %context.name, server = %exchange.server, source = exchange.source.label(), %failure, "registration lookup failed at one source");
            reasons.push(format!(
                "{} {}: {failure}",
                exchange.source.label(),
                exchange.server
            ));
        }
        // A reply cut at `whois.max_bytes` before it printed an expiry taught nothing either.
        for exchange in &check.report.exchanges {
            if let Some(cut) = exchange
                .facts()
                .filter(|f| f.expires.is_none())
                .and_then(|f| f.cut_at_bytes)
            {
                reasons.push(format!(
                    "{} {}: reply cut at {cut} bytes (whois.max_bytes) before any expiry",
                    exchange.source.label(),
                    exchange.server
                ));
            }
        }
        // Why nothing was learned, when nothing was: shown by `domains list`.
        let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
        let mut next = next_registration_check(&check.assessment, failures, &self.policy, now);
        if let Some(soon) = self
            .confirm_at(store, domain_id, &check.assessment, now)
            .await?
        {
            next = next.min(soon);
        }
        // Paced like any lookup: a server's request to wait is kept.
        let next = next.max(now + self.asked_to_wait(&check.report));
        let record = RegistrationRecord {
            domain_id,
            answers: check.report.sourced_facts(),
            assessment: check.assessment.clone(),
            failure: reason,
            next_check_at: next,
            checked_at: now,
        };
        Ok((check, record))
    }
}
