//! The alert hook: after a check's results are recorded, decide what the
//! subject's alerts do and write it, messages included, in one transaction.
//!
//! Entry points, all taking `now` (the caller's clock) and reading the
//! current state from the store:
//!
//! - [`evaluate_endpoint`]: certificate expiry (thresholds, lifetime rule,
//!   renewal) and certificate check failures (after N consecutive failed
//!   checks) of one endpoint.
//! - [`evaluate_domain`]: registration expiry, registration problems (not
//!   found, hold, redemption, pending delete) and stale registration data.
//! - [`evaluate_scan`]: at the end of a scan, "most checks failed at once"
//!   raises one operator alert and holds per-subject failure alerts; a normal
//!   scan resolves it and fires the failure alerts that were held.
//! - [`evaluate_all`]: every endpoint and domain (CLI, tests).
//!
//! The rules are in `domain::alert_policy`; the words in
//! `notify::templates`; this module only gathers facts, asks, renders and
//! hands the result to `Store::apply_alert_changes`. Evaluating twice is
//! harmless: the ledger's UNIQUE key and the streak's "counted check" make
//! the second pass a no-op.

use chrono::{DateTime, Duration, Utc};

use crate::config::{Config, StaffDelivery};
use crate::domain::alert_policy::{
    expiry_step, failure_step, is_check_failure, next_streak, outage_step, problem_statuses,
    registration_check_state, stale_step, AlertKind, CheckState, Event, ExpirySubject, Firing,
    Notice, Thresholds, Transition,
};
use crate::domain::certificate::{days_until, Finding};
use crate::domain::names::to_unicode;
use crate::notify::templates::{self, TemplateError};
use crate::store::{
    AlertChanges, AlertScope, AlertWrite, AppliedChanges, Audience, Channel, CurrentCert, Delivery,
    DigestLine, DomainAlertFacts, EndpointAlertFacts, NewMessage, Store, StoreError, Streak,
};

/// What evaluation needs from the configuration.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub certificate_days: Thresholds,
    pub registration_days: Thresholds,
    pub failures_before_alert: u32,
    pub registration_stale_after: Duration,
    pub staff: Vec<String>,
    pub staff_delivery: StaffDelivery,
    /// Who gets operator alerts (falls back to `staff`).
    pub operator: Vec<String>,
    pub outage_min_checks: u32,
    pub outage_fraction: f64,
    /// Webhook channels every event is also posted to.
    pub webhook_channels: Vec<Channel>,
    /// The domain part of message ids: `smtp.from`'s domain.
    pub message_id_domain: String,
}

impl AlertSettings {
    pub fn from_config(config: &Config) -> Self {
        let alerts = &config.alerts;
        let thresholds = |days: &[u32]| {
            Thresholds::new(days.to_vec()).unwrap_or_else(|| {
                Thresholds::new(vec![0]).unwrap_or_else(|| unreachable!("one threshold"))
            })
        };
        let mut webhook_channels = Vec::new();
        if config.webhooks.slack_url.is_some() {
            webhook_channels.push(Channel::Slack);
        }
        if config.webhooks.discord_url.is_some() {
            webhook_channels.push(Channel::Discord);
        }
        if config.webhooks.url.is_some() {
            webhook_channels.push(Channel::Webhook);
        }
        Self {
            certificate_days: thresholds(&alerts.certificate_days),
            registration_days: thresholds(&alerts.registration_days),
            failures_before_alert: alerts.failures_before_alert,
            registration_stale_after: Duration::days(i64::from(alerts.registration_stale_days)),
            staff: alerts.staff.clone(),
            staff_delivery: alerts.staff_delivery,
            operator: alerts.operator.clone(),
            outage_min_checks: alerts.outage_min_checks,
            outage_fraction: alerts.outage_fraction,
            webhook_channels,
            message_id_domain: mailbox_domain(&config.smtp.from),
        }
    }

    fn operator_addresses(&self) -> &[String] {
        if self.operator.is_empty() {
            &self.staff
        } else {
            &self.operator
        }
    }
}

/// `lapse <lapse@mail.example.com>` -> `mail.example.com`.
fn mailbox_domain(from: &str) -> String {
    from.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "lapse.invalid".to_owned())
}

/// When check-failure alerts may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Now (an ad-hoc check, a recheck). Still held while an outage alert fires.
    Immediate,
    /// Part of a scan: count the failure, let [`evaluate_scan`] decide at the
    /// end whether it is the target's failure or lapse's own outage.
    DeferToScan,
}

/// A finished scan's counts, as the engine hands them over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSummary {
    pub scan_id: i64,
    /// Checks made (certificate and registration).
    pub checks_total: u32,
    /// Checks that could not be made: DNS, connect, timeout, handshake
    /// failures, failed lookups. A certificate found bad is not one.
    pub checks_failed: u32,
}

/// Evaluation failed: lapse's own problem.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Attempts when the state changes under an evaluation (another instance).
const ATTEMPTS: usize = 3;

async fn with_retry<F, Fut>(mut run: F) -> Result<AppliedChanges, AlertError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<AppliedChanges, AlertError>>,
{
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match run().await {
            Err(AlertError::Store(StoreError::Stale(why))) => {
                tracing::debug!(%why, "alert state changed during evaluation; evaluating again");
                last = Some(StoreError::Stale(why));
            }
            other => return other,
        }
    }
    Err(AlertError::Store(last.unwrap_or_else(|| {
        StoreError::Stale("alert state kept changing".into())
    })))
}

/// Evaluates an endpoint's certificate alerts from its current observations.
/// An endpoint never checked (or removed meanwhile) changes nothing.
pub async fn evaluate_endpoint(
    store: &Store,
    settings: &AlertSettings,
    endpoint_id: i64,
    mode: FailureMode,
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    with_retry(|| evaluate_endpoint_once(store, settings, endpoint_id, mode, now)).await
}

async fn evaluate_endpoint_once(
    store: &Store,
    settings: &AlertSettings,
    endpoint_id: i64,
    mode: FailureMode,
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    let facts = match store.endpoint_alert_facts(endpoint_id).await {
        Ok(facts) => facts,
        Err(StoreError::NotFound(_)) => return Ok(AppliedChanges::default()),
        Err(e) => return Err(e.into()),
    };
    let Some(check) = facts.current.iter().map(|c| c.last_seen_at.clone()).max() else {
        return Ok(AppliedChanges::default());
    };
    let scope = AlertScope::endpoint(facts.domain_id, endpoint_id);
    let name = if facts.port == 443 {
        to_unicode(&facts.host)
    } else {
        format!("{}:{}", to_unicode(&facts.host), facts.port)
    };
    let thresholds = Thresholds::effective(
        &settings.certificate_days,
        facts.client_certificate_days.as_ref(),
        facts.domain_certificate_days.as_ref(),
    );
    let context = Context {
        settings,
        audience: &facts.audience,
        subject: &name,
    };
    let mut all = Vec::new();

    // Expiry.
    let subject = expiring_certificate(&facts.current);
    let firing = store.firing_alert(scope, AlertKind::CertExpiry).await?;
    let notified = match &subject {
        Some(s) => {
            store
                .notified_events(scope, AlertKind::CertExpiry, &s.key)
                .await?
        }
        None => Vec::new(),
    };
    let steps = expiry_step(
        thresholds,
        subject.as_ref(),
        firing.as_ref(),
        &notified,
        now,
    );
    if !steps.is_empty() {
        let writes = expiry_writes(
            &context,
            AlertKind::CertExpiry,
            &steps,
            subject.as_ref(),
            now,
        )?;
        all.push(changes(
            settings,
            scope,
            AlertKind::CertExpiry,
            &firing,
            None,
            writes,
        ));
    }

    // Check failures.
    let problems = failure_lines(&facts.current);
    let state = if problems.is_empty() {
        CheckState::Passing
    } else {
        CheckState::Failing
    };
    let (failures, counted) = next_streak(
        facts.streak.failures,
        facts.streak.counted_at.as_deref(),
        &check,
        state,
    );
    let streak = streak_changes(counted, failures != facts.streak.failures, state).then(|| {
        (
            Streak {
                failures,
                counted_at: Some(check.clone()),
            },
            facts.streak.clone(),
        )
    });
    let firing = store
        .firing_alert(scope, AlertKind::CertCheckFailure)
        .await?;
    let suppressed = mode == FailureMode::DeferToScan || outage_firing(store).await?;
    let steps = failure_step(
        state,
        failures,
        settings.failures_before_alert,
        firing.as_ref(),
        suppressed,
        "endpoint",
    );
    if streak.is_some() || !steps.is_empty() {
        let writes = plain_writes(&context, AlertKind::CertCheckFailure, &steps, |event| {
            let mut notice = Notice::new(AlertKind::CertCheckFailure, event, name.clone());
            if event != Event::Resolved {
                notice.problems = problems.clone();
            }
            notice
        })?;
        all.push(changes(
            settings,
            scope,
            AlertKind::CertCheckFailure,
            &firing,
            streak,
            writes,
        ));
    }
    apply(store, &all, now).await
}

/// Evaluates a domain's registration alerts from its assessed state.
pub async fn evaluate_domain(
    store: &Store,
    settings: &AlertSettings,
    domain_id: i64,
    mode: FailureMode,
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    with_retry(|| evaluate_domain_once(store, settings, domain_id, mode, now)).await
}

async fn evaluate_domain_once(
    store: &Store,
    settings: &AlertSettings,
    domain_id: i64,
    mode: FailureMode,
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    let facts = match store.domain_alert_facts(domain_id).await {
        Ok(facts) => facts,
        Err(StoreError::NotFound(_)) => return Ok(AppliedChanges::default()),
        Err(e) => return Err(e.into()),
    };
    let scope = AlertScope::domain(domain_id);
    let name = to_unicode(&facts.name);
    let context = Context {
        settings,
        audience: &facts.audience,
        subject: &name,
    };
    let thresholds = Thresholds::effective(
        &settings.registration_days,
        facts.client_registration_days.as_ref(),
        facts.domain_registration_days.as_ref(),
    );
    let mut all = Vec::new();

    // Expiry: only from data that is known and fresh. A failed or stale
    // lookup is never "expires in -1 days".
    let subject = registration_subject(&facts);
    let firing = store
        .firing_alert(scope, AlertKind::RegistrationExpiry)
        .await?;
    let notified = match &subject {
        Some(s) => {
            store
                .notified_events(scope, AlertKind::RegistrationExpiry, &s.key)
                .await?
        }
        None => Vec::new(),
    };
    let steps = expiry_step(
        thresholds,
        subject.as_ref(),
        firing.as_ref(),
        &notified,
        now,
    );
    if !steps.is_empty() {
        let writes = expiry_writes(
            &context,
            AlertKind::RegistrationExpiry,
            &steps,
            subject.as_ref(),
            now,
        )?;
        all.push(changes(
            settings,
            scope,
            AlertKind::RegistrationExpiry,
            &firing,
            None,
            writes,
        ));
    }

    // Problems: not found, hold, redemption, pending delete.
    let state = registration_check_state(facts.outcome.as_deref(), &facts.statuses);
    if let Some(check) = &facts.checked_at {
        let (failures, counted) = next_streak(
            facts.streak.failures,
            facts.streak.counted_at.as_deref(),
            check,
            state,
        );
        let streak = streak_changes(counted, failures != facts.streak.failures, state).then(|| {
            (
                Streak {
                    failures,
                    counted_at: Some(check.clone()),
                },
                facts.streak.clone(),
            )
        });
        let firing = store
            .firing_alert(scope, AlertKind::RegistrationProblem)
            .await?;
        let suppressed = mode == FailureMode::DeferToScan || outage_firing(store).await?;
        let steps = failure_step(
            state,
            failures,
            settings.failures_before_alert,
            firing.as_ref(),
            suppressed,
            "registration",
        );
        if streak.is_some() || !steps.is_empty() {
            let problems = registration_problems(facts.outcome.as_deref(), &facts.statuses);
            let writes = plain_writes(&context, AlertKind::RegistrationProblem, &steps, |event| {
                let mut notice = Notice::new(AlertKind::RegistrationProblem, event, name.clone());
                if event != Event::Resolved {
                    notice.problems = problems.clone();
                }
                notice
            })?;
            all.push(changes(
                settings,
                scope,
                AlertKind::RegistrationProblem,
                &firing,
                streak,
                writes,
            ));
        }
    }

    // Stale: lookups failing for too long.
    let lookup = lookup_state(&facts);
    if facts.checked_at.is_some() || facts.stale {
        let last_fresh = facts.confirmed_at.unwrap_or(facts.created_at);
        let firing = store
            .firing_alert(scope, AlertKind::RegistrationStale)
            .await?;
        let steps = stale_step(
            lookup,
            last_fresh,
            settings.registration_stale_after,
            firing.as_ref(),
            now,
        );
        if !steps.is_empty() {
            let writes = plain_writes(&context, AlertKind::RegistrationStale, &steps, |event| {
                let mut notice = Notice::new(AlertKind::RegistrationStale, event, name.clone());
                notice.days_without_data = Some(days_until(last_fresh, now));
                notice.expires_at = facts.expires_at;
                notice
            })?;
            all.push(changes(
                settings,
                scope,
                AlertKind::RegistrationStale,
                &firing,
                None,
                writes,
            ));
        }
    }
    apply(store, &all, now).await
}

/// A streak is written when the check counts and changes something: a
/// failure always (its `counted_at` keeps a repeat from counting twice), a
/// pass or an inconclusive check only when the count moves.
fn streak_changes(counted: bool, moved: bool, state: CheckState) -> bool {
    counted && (moved || state == CheckState::Failing)
}

/// The registration expiry alerts may speak of: only from data that is
/// known and fresh. A failed or stale lookup is never "expires in -1 days".
fn registration_subject(facts: &DomainAlertFacts) -> Option<ExpirySubject> {
    let known = !facts.stale
        && (facts.outcome.as_deref() == Some("found")
            || facts.expires_source.as_deref() == Some("manual"));
    facts.expires_at.filter(|_| known).map(|at| ExpirySubject {
        key: crate::store::format_time(at),
        expires_at: at,
        valid_from: None,
    })
}

/// Whether the last lookup learned anything, for the stale rule.
fn lookup_state(facts: &DomainAlertFacts) -> CheckState {
    match facts.outcome.as_deref() {
        _ if facts.stale => CheckState::Inconclusive,
        Some("found" | "not_found" | "not_published") => CheckState::Passing,
        Some(_) | None => CheckState::Inconclusive,
    }
}

/// Of `ids`, the endpoints whose evaluation might change something. The
/// rest are quiet: no alert firing, no failure streak, every address
/// passing and no expiry step due even if nothing had been notified yet;
/// evaluating them would write nothing. Two queries for the whole batch,
/// and the same rules as [`evaluate_endpoint`], so this only saves work.
pub async fn endpoints_to_evaluate(
    store: &Store,
    settings: &AlertSettings,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let facts = store.endpoint_quiet_facts(ids).await?;
    Ok(facts
        .iter()
        .filter(|(facts, firing)| !endpoint_is_quiet(settings, facts, *firing, now))
        .map(|(facts, _)| facts.endpoint_id)
        .collect())
}

fn endpoint_is_quiet(
    settings: &AlertSettings,
    facts: &EndpointAlertFacts,
    firing: bool,
    now: DateTime<Utc>,
) -> bool {
    if firing || facts.streak.failures != 0 {
        return false;
    }
    if !failure_lines(&facts.current).is_empty() {
        return false;
    }
    let thresholds = Thresholds::effective(
        &settings.certificate_days,
        facts.client_certificate_days.as_ref(),
        facts.domain_certificate_days.as_ref(),
    );
    let subject = expiring_certificate(&facts.current);
    expiry_step(thresholds, subject.as_ref(), None, &[], now).is_empty()
}

/// [`endpoints_to_evaluate`] for domains' registrations.
pub async fn domains_to_evaluate(
    store: &Store,
    settings: &AlertSettings,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let facts = store.domain_quiet_facts(ids).await?;
    Ok(facts
        .iter()
        .filter(|(facts, firing)| !domain_is_quiet(settings, facts, *firing, now))
        .map(|(facts, _)| facts.domain_id)
        .collect())
}

fn domain_is_quiet(
    settings: &AlertSettings,
    facts: &DomainAlertFacts,
    firing: bool,
    now: DateTime<Utc>,
) -> bool {
    if firing || facts.streak.failures != 0 {
        return false;
    }
    let thresholds = Thresholds::effective(
        &settings.registration_days,
        facts.client_registration_days.as_ref(),
        facts.domain_registration_days.as_ref(),
    );
    let subject = registration_subject(facts);
    if !expiry_step(thresholds, subject.as_ref(), None, &[], now).is_empty() {
        return false;
    }
    if facts.checked_at.is_some() {
        let state = registration_check_state(facts.outcome.as_deref(), &facts.statuses);
        let steps = failure_step(state, 0, settings.failures_before_alert, None, false, "");
        if state == CheckState::Failing || !steps.is_empty() {
            return false;
        }
    }
    if facts.checked_at.is_some() || facts.stale {
        let last_fresh = facts.confirmed_at.unwrap_or(facts.created_at);
        let steps = stale_step(
            lookup_state(facts),
            last_fresh,
            settings.registration_stale_after,
            None,
            now,
        );
        if !steps.is_empty() {
            return false;
        }
    }
    true
}

/// The end of a scan: one operator alert when most checks failed at once;
/// otherwise resolves it and opens the failure alerts the scan held back.
pub async fn evaluate_scan(
    store: &Store,
    settings: &AlertSettings,
    scan: &ScanSummary,
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    let mut applied = with_retry(|| async move {
        let scope = AlertScope::operator();
        let firing = store.firing_alert(scope, AlertKind::ScanOutage).await?;
        let steps = outage_step(
            scan.checks_total,
            scan.checks_failed,
            settings.outage_min_checks,
            settings.outage_fraction,
            firing.as_ref(),
            &format!("scan:{}", scan.scan_id),
        );
        if steps.is_empty() {
            return Ok(AppliedChanges::default());
        }
        let audience = Audience::default();
        let context = Context {
            settings,
            audience: &audience,
            subject: "lapse",
        };
        let writes = plain_writes(&context, AlertKind::ScanOutage, &steps, |event| {
            let mut notice = Notice::new(AlertKind::ScanOutage, event, "lapse");
            notice.checks_total = Some(scan.checks_total);
            notice.checks_failed = Some(scan.checks_failed);
            notice
        })?;
        let all = [changes(
            settings,
            scope,
            AlertKind::ScanOutage,
            &firing,
            None,
            writes,
        )];
        apply(store, &all, now).await
    })
    .await?;
    if outage_firing(store).await? {
        tracing::warn!(
            scan.id = scan.scan_id,
            checks.total = scan.checks_total,
            checks.failed = scan.checks_failed,
            "most checks failed at once: one operator alert, per-domain failure alerts held"
        );
        return Ok(applied);
    }
    let (endpoints, domains) = store
        .failure_alert_candidates(settings.failures_before_alert)
        .await?;
    for id in endpoints {
        applied.absorb(evaluate_endpoint(store, settings, id, FailureMode::Immediate, now).await?);
    }
    for id in domains {
        applied.absorb(evaluate_domain(store, settings, id, FailureMode::Immediate, now).await?);
    }
    Ok(applied)
}

/// Every endpoint and domain, failures alerting immediately.
pub async fn evaluate_all(
    store: &Store,
    settings: &AlertSettings,
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    let (endpoints, domains) = store.alert_subject_ids().await?;
    let mut applied = AppliedChanges::default();
    for id in endpoints {
        applied.absorb(evaluate_endpoint(store, settings, id, FailureMode::Immediate, now).await?);
    }
    for id in domains {
        applied.absorb(evaluate_domain(store, settings, id, FailureMode::Immediate, now).await?);
    }
    Ok(applied)
}

async fn outage_firing(store: &Store) -> Result<bool, StoreError> {
    Ok(store
        .firing_alert(AlertScope::operator(), AlertKind::ScanOutage)
        .await?
        .is_some())
}

async fn apply(
    store: &Store,
    all: &[AlertChanges],
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    if all.is_empty() {
        return Ok(AppliedChanges::default());
    }
    let applied = store.apply_alert_changes(all, now).await?;
    for id in &applied.queued {
        tracing::info!(message.id = %id, "message queued");
    }
    Ok(applied)
}

fn changes(
    settings: &AlertSettings,
    scope: AlertScope,
    kind: AlertKind,
    firing: &Option<Firing>,
    streak: Option<(Streak, Streak)>,
    writes: Vec<AlertWrite>,
) -> AlertChanges {
    AlertChanges {
        scope,
        kind,
        expected_firing: firing.as_ref().map(|f| f.alert_id),
        streak,
        writes,
        message_id_domain: settings.message_id_domain.clone(),
    }
}

/// The certificate that expires first among the addresses' current leaves
/// (the chain's date when an intermediate expires before the leaf).
fn expiring_certificate(current: &[CurrentCert]) -> Option<ExpirySubject> {
    current
        .iter()
        .filter_map(|c| {
            let fingerprint = c.leaf_fingerprint.clone()?;
            let leaf = c.leaf_not_after?;
            let expires_at = c.chain_not_after.map_or(leaf, |chain| chain.min(leaf));
            let valid_from = c.details["chain"][0]["not_before"]
                .as_str()
                .and_then(crate::store::parse_time);
            Some(ExpirySubject {
                key: fingerprint,
                expires_at,
                valid_from,
            })
        })
        .min_by(|a, b| (a.expires_at, &a.key).cmp(&(b.expires_at, &b.key)))
}

/// One line per failure finding, `address: finding`, without repeats.
fn failure_lines(current: &[CurrentCert]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for cert in current {
        let findings = cert.details["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for value in findings {
            let text = match serde_json::from_value::<Finding>(value.clone()) {
                Ok(finding) if !is_check_failure(&finding) => continue,
                Ok(finding) => finding.to_string(),
                // A finding this version cannot read: count it, show its kind.
                Err(_) => value["kind"]
                    .as_str()
                    .unwrap_or("unknown finding")
                    .to_owned(),
            };
            let line = if cert.address.is_empty() {
                text
            } else {
                format!("{}: {text}", cert.address)
            };
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    lines
}

fn registration_problems(outcome: Option<&str>, statuses: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    if outcome == Some("not_found") {
        lines.push(
            "not found in the registry: the registration may have lapsed or been deleted"
                .to_owned(),
        );
    }
    for status in problem_statuses(statuses) {
        lines.push(match status {
            "redemptionPeriod" => "status redemptionPeriod: the registration lapsed; it can still be restored, at a fee".to_owned(),
            "pendingDelete" => "status pendingDelete: the domain is about to be deleted and released".to_owned(),
            "clientHold" => "status clientHold: the registrar has suspended the domain; it does not resolve".to_owned(),
            "serverHold" => "status serverHold: the registry has suspended the domain; it does not resolve".to_owned(),
            other => format!("status {other}"),
        });
    }
    lines
}

/// Who and what: the shared inputs of every message of one subject.
struct Context<'a> {
    settings: &'a AlertSettings,
    audience: &'a Audience,
    subject: &'a str,
}

fn expiry_writes(
    context: &Context<'_>,
    kind: AlertKind,
    steps: &[Transition],
    subject: Option<&ExpirySubject>,
    now: DateTime<Utc>,
) -> Result<Vec<AlertWrite>, AlertError> {
    plain_writes(context, kind, steps, |event| {
        let mut notice = Notice::new(kind, event, context.subject);
        match event {
            Event::Resolved => notice.renewed_until = subject.map(|s| s.expires_at),
            Event::Expired => {
                notice.expires_at = subject.map(|s| s.expires_at);
                notice.days_left = subject.map(|s| -days_until(s.expires_at, now));
            }
            _ => {
                notice.expires_at = subject.map(|s| s.expires_at);
                notice.days_left = subject.map(|s| days_until(now, s.expires_at));
            }
        }
        notice
    })
}

/// Turns transitions into writes, rendering each notice into its messages.
fn plain_writes(
    context: &Context<'_>,
    kind: AlertKind,
    steps: &[Transition],
    notice_for: impl Fn(Event) -> Notice,
) -> Result<Vec<AlertWrite>, AlertError> {
    let mut writes = Vec::new();
    for step in steps {
        writes.push(match step {
            Transition::Resolve { notify } => AlertWrite::Resolve {
                delivery: if *notify {
                    Some(delivery(context, kind, &notice_for(Event::Resolved))?)
                } else {
                    None
                },
            },
            Transition::Open { subject_key } => AlertWrite::Open {
                subject_key: subject_key.clone(),
                details: serde_json::json!({ "subject": context.subject }),
            },
            Transition::Notify { event, subject_key } => AlertWrite::Notify {
                event: *event,
                subject_key: subject_key.clone(),
                delivery: delivery(context, kind, &notice_for(*event))?,
            },
        });
    }
    Ok(writes)
}

/// The messages of one notice: an email to the client's contacts with staff
/// in copy (or staff on the digest), operator alerts to the operator, and a
/// post to each webhook.
fn delivery(
    context: &Context<'_>,
    kind: AlertKind,
    notice: &Notice,
) -> Result<Delivery, AlertError> {
    let settings = context.settings;
    let mut notice = notice.clone();
    notice.client = context.audience.client.clone();
    let rendered = templates::render_notice(&notice)?;
    let operator = kind == AlertKind::ScanOutage;
    let (to, cc): (Vec<String>, Vec<String>) = if operator {
        (settings.operator_addresses().to_vec(), Vec::new())
    } else {
        let contacts = context.audience.contacts.clone();
        let staff = match settings.staff_delivery {
            StaffDelivery::Copy => settings.staff.clone(),
            StaffDelivery::Digest => Vec::new(),
        };
        if contacts.is_empty() {
            (staff, Vec::new())
        } else {
            let cc = staff
                .into_iter()
                .filter(|s| !contacts.iter().any(|c| c.eq_ignore_ascii_case(s)))
                .collect();
            (contacts, cc)
        }
    };
    let mut messages = Vec::new();
    if !to.is_empty() {
        messages.push(NewMessage {
            channel: Channel::Email,
            recipient: to.join(", "),
            cc: (!cc.is_empty()).then(|| cc.join(", ")),
            subject: rendered.subject.clone(),
            body_text: rendered.text.clone(),
            body_html: Some(rendered.html.clone()),
        });
    }
    let chat = templates::chat_text(&notice, &rendered);
    for channel in &settings.webhook_channels {
        let body = match channel {
            Channel::Slack => serde_json::json!({ "text": chat }),
            Channel::Discord => {
                serde_json::json!({ "content": chat.chars().take(2000).collect::<String>() })
            }
            Channel::Webhook => templates::webhook_payload(&notice, &rendered),
            Channel::Email => continue,
        };
        messages.push(NewMessage {
            channel: *channel,
            recipient: channel.as_str().to_owned(),
            cc: None,
            subject: rendered.subject.clone(),
            body_text: body.to_string(),
            body_html: None,
        });
    }
    let digest =
        (settings.staff_delivery == StaffDelivery::Digest && !operator).then(|| DigestLine {
            client: notice.client.clone(),
            line: rendered.subject.clone(),
        });
    if messages.is_empty() && digest.is_none() {
        tracing::warn!(
            alert.kind = kind.as_str(),
            alert.subject = context.subject,
            "nobody to tell: add contacts to the client or set alerts.staff"
        );
    }
    Ok(Delivery { messages, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_use_the_sender_domain() {
        assert_eq!(
            mailbox_domain("lapse <lapse@Mail.Agency.example>"),
            "mail.agency.example"
        );
        assert_eq!(mailbox_domain("lapse@localhost"), "localhost");
    }
}
