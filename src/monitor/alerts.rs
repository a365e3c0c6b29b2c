//! The alert hook: after a check's results are recorded, decide what the
//! subject's alerts do and write it, messages included, in one transaction.
//!
//! Entry points, all taking `now` (the caller's clock) and reading the
//! current state from the store:
//!
//! - [`evaluate_endpoint`]: certificate expiry (thresholds, lifetime rule,
//!   renewal) and certificate check failures (after N consecutive failed
//!   checks) of one endpoint, told to the endpoint's client. An endpoint
//!   never reached whose checks get target-side answers (NXDOMAIN, refused,
//!   not TLS) is told to staff alone: "never reachable: is there a TLS
//!   service here?".
//! - [`evaluate_domain`]: registration expiry, registration problems (not
//!   found, hold, redemption, pending delete) and stale registration data,
//!   told to the registration's owner; a registration whose registry
//!   publishes no expiry and whose date nobody entered is told to staff
//!   alone: "enter the date by hand", with the command.
//! - [`evaluate_scan`]: at the end of a scan, lapse's own health gone (no
//!   canary answered; without canaries, most checks failed on lapse's side:
//!   `monitor::health`) raises one operator alert and holds per-subject
//!   failure alerts, at most `alerts.outage_max_hold_hours`; health back
//!   resolves it and fires the failure alerts that were held. Expiry alerts
//!   are never held.
//! - [`evaluate_all`]: every endpoint and domain (CLI, tests).
//!
//! What a domain's watch mode leaves out (its endpoints for `registration`,
//! its registration for `tls`) alerts nothing: its firing alerts end
//! without a message, and its failure streak starts again.
//!
//! The rules are in `domain::alert_policy`; the words in
//! `notify::templates`; this module only gathers facts, asks, renders and
//! hands the result to `Store::apply_alert_changes`. Evaluating twice is
//! harmless: the ledger's UNIQUE key and the streak's "counted check" make
//! the second pass a no-op.
//!
//! Each subject is evaluated in the same steps: read its facts
//! (`subjects`: what they mean in the policy's terms), run each rule
//! (expiry, check failures, stale data) against its firing alert, turn the
//! transitions into writes with rendered messages (`messages`), and apply
//! them all in one transaction. `quiet` spares the engine the subjects for
//! which those steps would write nothing.

use chrono::{DateTime, Duration, Utc};

use crate::config::{AgencyConfig, Config, StaffDelivery};
use crate::domain::alert_policy::{
    certificate_renewed, expiry_step, failure_step, is_outage, needs_date_step, next_streak,
    outage_holds, outage_step, registration_check_state, stale_step, AlertKind, CheckState, Event,
    ExpirySubject, Firing, HealthEvidence, Notice, Thresholds, Transition,
};
use crate::domain::certificate::days_until;
use crate::domain::names::to_unicode;
use crate::notify::templates::{StaffNotes, TemplateError};
use crate::store::{
    AlertChanges, AlertScope, AlertWrite, AppliedChanges, Audience, DomainAlertFacts,
    EndpointAlertFacts, HandlingFacts, Store, StoreError, Streak,
};

mod handling;
mod messages;
mod quiet;
mod recipients;
mod subjects;

pub use quiet::{domains_to_evaluate, endpoints_to_evaluate};
pub use recipients::ConfiguredChannel;

use messages::{plain_writes, Context};
use subjects::{
    certificate_thresholds, domain_notes, endpoint_name, endpoint_notes, expiring_certificate,
    failure_key, failure_lines, last_fresh, lookup_state, registration_problems,
    registration_subject, registration_thresholds, served_certificates, stale_rule_applies,
    NEVER_REACHABLE_KEY,
};

/// What evaluation needs from the configuration.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub certificate_days: Thresholds,
    /// `certificate_days` was set by the user: it fires exactly as set (the
    /// lifetime rule adapts only the built-in default).
    pub certificate_days_set: bool,
    pub registration_days: Thresholds,
    pub failures_before_alert: u32,
    pub registration_stale_after: Duration,
    pub staff: Vec<String>,
    pub staff_delivery: StaffDelivery,
    /// Who gets operator alerts (falls back to `staff`).
    pub operator: Vec<String>,
    pub outage_min_checks: u32,
    pub outage_fraction: f64,
    /// Endpoints that must always answer (`alerts.canaries`), as (host, port).
    pub canaries: Vec<(String, u16)>,
    /// Failure alerts are held at most this long after an outage began.
    pub outage_max_hold: Duration,
    /// The zone days left are counted in (calendar days): `schedule.timezone`
    /// until each client's own zone is wired in.
    pub timezone: chrono_tz::Tz,
    /// The configured channels (`[channels.NAME]` and `[webhooks]`); the
    /// routes say which post what.
    pub channels: Vec<ConfiguredChannel>,
    /// The domain part of message ids: `smtp.from`'s domain.
    pub message_id_domain: String,
    /// Who client mail comes from (`[agency]`).
    pub agency: AgencyConfig,
}

impl AlertSettings {
    pub fn from_config(config: &Config) -> Self {
        let alerts = &config.alerts;
        let thresholds = |days: &[u32]| {
            Thresholds::new(days.to_vec()).unwrap_or_else(|| {
                Thresholds::new(vec![0]).unwrap_or_else(|| unreachable!("one threshold"))
            })
        };
        Self {
            certificate_days: thresholds(&alerts.certificate_days),
            certificate_days_set: alerts.certificate_days_set,
            registration_days: thresholds(&alerts.registration_days),
            failures_before_alert: alerts.failures_before_alert,
            registration_stale_after: Duration::days(i64::from(alerts.registration_stale_days)),
            staff: alerts.staff.clone(),
            staff_delivery: alerts.staff_delivery,
            operator: alerts.operator.clone(),
            outage_min_checks: alerts.outage_min_checks,
            outage_fraction: alerts.outage_fraction,
            canaries: alerts
                .canaries
                .iter()
                .filter_map(|c| crate::config::parse_canary(c))
                .collect(),
            outage_max_hold: Duration::hours(i64::from(alerts.outage_max_hold_hours)),
            timezone: config.schedule.timezone,
            channels: config
                .all_channels()
                .iter()
                .map(ConfiguredChannel::from_config)
                .collect(),
            message_id_domain: mailbox_domain(&config.smtp.from),
            agency: config.agency.clone(),
        }
    }

    pub(super) fn operator_addresses(&self) -> &[String] {
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
    /// Now (an ad-hoc check, a recheck). Still held while an outage holds
    /// (at most `alerts.outage_max_hold_hours`).
    Immediate,
    /// Part of a scan: count the failure, let [`evaluate_scan`] decide at the
    /// end whether it is the target's failure or lapse's own outage.
    DeferToScan,
}

/// A finished scan's evidence of lapse's own health, as the engine hands
/// it over (`monitor::health`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSummary {
    pub scan_id: i64,
    /// The canaries' answers, or without canaries the certificate checks
    /// that failed on lapse's side (never a target's own answer).
    pub evidence: HealthEvidence,
}

impl ScanSummary {
    /// (checks, failed) as the operator's message counts them.
    fn counts(&self) -> (u32, u32) {
        match self.evidence {
            HealthEvidence::Canaries { total, answered } => (total, total.saturating_sub(answered)),
            HealthEvidence::Checks {
                total,
                own_failures,
            } => (total, own_failures),
        }
    }
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
    let Some(facts) = found(store.endpoint_alert_facts(endpoint_id).await)? else {
        return Ok(AppliedChanges::default());
    };
    let name = endpoint_name(&facts);
    let scope = AlertScope::endpoint(facts.domain_id, endpoint_id);
    let handling = store.handling_facts(scope, now).await?;
    let mut notes = endpoint_notes(&facts);
    notes.runbook = handling.runbook.clone();
    let evaluation = Evaluation {
        store,
        scope,
        handling,
        context: Context {
            settings,
            audience: &facts.audience,
            subject: &name,
            notes: &notes,
        },
        now,
    };
    if !facts.watch.tls() {
        let kinds = [AlertKind::CertExpiry, AlertKind::CertCheckFailure];
        let all = evaluation
            .unwatched(&kinds, (AlertKind::CertCheckFailure, &facts.streak))
            .await?;
        return apply(store, &all, now).await;
    }
    // The check these observations come from: the last time an address was
    // seen (its number is `facts.checks`).
    let Some(checked_at) = facts.current.iter().map(|c| c.last_seen_at.clone()).max() else {
        return Ok(AppliedChanges::default());
    };
    let mut all = Vec::new();
    let thresholds = certificate_thresholds(settings, &facts);
    let subject = expiring_certificate(&facts.current);
    all.extend(
        evaluation
            .expiry_rule(
                AlertKind::CertExpiry,
                thresholds,
                subject,
                Renewal::Certificate(&facts),
            )
            .await?,
    );
    let problems = failure_lines(&facts.current);
    let check = CheckResult {
        state: if problems.is_empty() {
            CheckState::Passing
        } else {
            CheckState::Failing
        },
        check: facts.checks,
        checked_at: &checked_at,
        streak: &facts.streak,
        problems,
        subject: FailureSubject::Endpoint(&facts),
    };
    all.extend(
        evaluation
            .failure_rule(AlertKind::CertCheckFailure, check, mode)
            .await?,
    );
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
    let Some(facts) = found(store.domain_alert_facts(domain_id).await)? else {
        return Ok(AppliedChanges::default());
    };
    let name = to_unicode(&facts.name);
    let scope = AlertScope::domain(domain_id);
    let handling = store.handling_facts(scope, now).await?;
    let mut notes = domain_notes(&facts);
    notes.runbook = handling.runbook.clone();
    let evaluation = Evaluation {
        store,
        scope,
        handling,
        context: Context {
            settings,
            audience: &facts.audience,
            subject: &name,
            notes: &notes,
        },
        now,
    };
    if !facts.watch.registration() {
        let kinds = [
            AlertKind::RegistrationExpiry,
            AlertKind::RegistrationProblem,
            AlertKind::RegistrationStale,
            AlertKind::RegistrationNeedsDate,
        ];
        let all = evaluation
            .unwatched(&kinds, (AlertKind::RegistrationProblem, &facts.streak))
            .await?;
        return apply(store, &all, now).await;
    }
    let mut all = Vec::new();
    // Expiry: only from data that is known and fresh. A failed or stale
    // lookup is never "expires in -1 days".
    let thresholds = registration_thresholds(settings, &facts);
    all.extend(
        evaluation
            .expiry_rule(
                AlertKind::RegistrationExpiry,
                thresholds,
                registration_subject(&facts),
                Renewal::Registration,
            )
            .await?,
    );
    // Problems: not found, hold, redemption, pending delete.
    if let Some(checked_at) = &facts.checked_at {
        let check = CheckResult {
            state: registration_check_state(facts.outcome.as_deref(), &facts.statuses),
            check: facts.checks,
            checked_at,
            streak: &facts.streak,
            problems: registration_problems(facts.outcome.as_deref(), &facts.statuses),
            subject: FailureSubject::Registration,
        };
        all.extend(
            evaluation
                .failure_rule(AlertKind::RegistrationProblem, check, mode)
                .await?,
        );
    }
    // Stale: lookups failing for too long.
    if stale_rule_applies(&facts) {
        all.extend(evaluation.stale_rule(&facts).await?);
    }
    // No date at all: a person must enter it.
    all.extend(evaluation.needs_date_rule(&facts).await?);
    apply(store, &all, now).await
}

/// The subject's facts, or `None` when it was removed meanwhile (nothing to evaluate).
fn found<T>(facts: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match facts {
        Ok(facts) => Ok(Some(facts)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One subject under evaluation: where its alerts live, who hears of them,
/// and the time the rules are asked at. Each rule reads the alert it may
/// change and returns the changes to apply, if any.
struct Evaluation<'a> {
    store: &'a Store,
    scope: AlertScope,
    /// Repeat days, runbook, maintenance window (`handling`).
    handling: HandlingFacts,
    context: Context<'a>,
    now: DateTime<Utc>,
}

/// What tells a renewal for an expiry rule: see [`Evaluation::renewed`].
#[derive(Clone, Copy)]
enum Renewal<'a> {
    Registration,
    Certificate(&'a EndpointAlertFacts),
}

/// One check's result, as the failure rule counts it.
struct CheckResult<'a> {
    state: CheckState,
    /// Which check this is (its number), so that each check counts once:
    /// the same check evaluated again is not counted twice, and two checks
    /// made within one second are two checks.
    check: i64,
    /// When it was made.
    checked_at: &'a str,
    streak: &'a Streak,
    /// What is wrong, in words, for the message.
    problems: Vec<String>,
    subject: FailureSubject<'a>,
}

/// Whose check it is, which names the failure alert's subject key.
enum FailureSubject<'a> {
    Registration,
    /// An endpoint's: the client's alert, or staff's while it was never
    /// reached (`subjects::failure_key`).
    Endpoint(&'a EndpointAlertFacts),
}

impl FailureSubject<'_> {
    fn key(&self, firing: Option<&Firing>) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Endpoint(facts) => failure_key(facts, firing),
        }
    }

    /// The domain a never-reachable notice names, for its command.
    fn domain(&self) -> Option<String> {
        match self {
            Self::Registration => None,
            Self::Endpoint(facts) => Some(to_unicode(&facts.domain)),
        }
    }
}

impl Evaluation<'_> {
    /// Expiry thresholds, the lifetime rule and renewal for `subject` (the
    /// date the alert speaks of; `None` when nothing credible is known).
    async fn expiry_rule(
        &self,
        kind: AlertKind,
        (thresholds, adapt_to_lifetime): (&Thresholds, bool),
        subject: Option<ExpirySubject>,
        renewal: Renewal<'_>,
    ) -> Result<Option<AlertChanges>, AlertError> {
        let firing = self.store.firing_alert(self.scope, kind).await?;
        let notified = match &subject {
            Some(s) => self.store.notified_events(self.scope, kind, &s.key).await?,
            None => Vec::new(),
        };
        let renewed = match (&firing, &subject) {
            (Some(f), Some(s)) if f.subject_key != s.key => {
                self.renewed(renewal, &f.subject_key, s).await?
            }
            _ => false,
        };
        let steps = expiry_step(
            thresholds,
            adapt_to_lifetime,
            subject.as_ref(),
            (firing.as_ref(), renewed),
            &notified,
            (self.now, self.context.zone()),
        );
        let handled = self
            .handle_expiry(steps, firing.as_ref(), subject.as_ref())
            .await?;
        if handled.steps.is_empty() {
            return Ok(None);
        }
        let writes = self.handled_writes(kind, &handled, subject.as_ref())?;
        Ok(Some(self.changes(kind, &firing, None, writes)))
    }

    /// Whether `subject` renewed the one the firing alert speaks of
    /// (`old_key`): a registration date moved later; a certificate replaced,
    /// on an address that served it, by one that expires later (a
    /// certificate merely out of view, an address pinned, is not renewed).
    async fn renewed(
        &self,
        renewal: Renewal<'_>,
        old_key: &str,
        subject: &ExpirySubject,
    ) -> Result<bool, AlertError> {
        Ok(match renewal {
            Renewal::Registration => {
                crate::store::parse_time(old_key).is_some_and(|old| subject.expires_at > old)
            }
            Renewal::Certificate(facts) => {
                let old = self
                    .store
                    .observations_of_certificate(facts.endpoint_id, old_key)
                    .await?;
                certificate_renewed(
                    &served_certificates(&old),
                    &served_certificates(&facts.current),
                )
            }
        })
    }

    /// Counts the check into the failure streak, and opens the failure alert
    /// after enough failed checks (unless held back for the scan's outage
    /// rule) or resolves it once a check passes.
    async fn failure_rule(
        &self,
        kind: AlertKind,
        check: CheckResult<'_>,
        mode: FailureMode,
    ) -> Result<Option<AlertChanges>, AlertError> {
        let before = check.streak;
        let (failures, counted) =
            next_streak(before.failures, before.counted, check.check, check.state);
        let streak = streak_changes(counted, failures != before.failures, check.state).then(|| {
            let after = Streak {
                failures,
                counted: Some(check.check),
                counted_at: Some(check.checked_at.to_owned()),
            };
            (after, before.clone())
        });
        let firing = self.store.firing_alert(self.scope, kind).await?;
        let suppressed = mode == FailureMode::DeferToScan
            || outage_holding(self.store, self.context.settings, self.now).await?;
        let key = check.subject.key(firing.as_ref());
        let mut steps = Vec::new();
        let mut current = firing.as_ref();
        if check.state == CheckState::Failing && current.is_some_and(|f| f.subject_key != key) {
            // The firing alert says something else (never reachable, or
            // reached since): it ends quietly and this check's alert takes over.
            steps.push(Transition::Resolve { notify: false });
            current = None;
        }
        steps.extend(failure_step(
            check.state,
            failures,
            self.context.settings.failures_before_alert,
            current,
            suppressed,
            key,
        ));
        let steps = self.handle_plain(steps);
        if streak.is_none() && steps.is_empty() {
            return Ok(None);
        }
        // Messages are about a notified resolution's alert, else this check's.
        let about = match (&firing, steps.first()) {
            (Some(f), Some(Transition::Resolve { notify: true })) => f.subject_key.as_str(),
            _ => key,
        };
        let never_reachable = (about == NEVER_REACHABLE_KEY)
            .then(|| check.subject.domain())
            .flatten();
        // Never reachable: staff alone, the client's name still shown.
        let staff_only = staff_only(self.context.audience);
        let context = Context {
            audience: if never_reachable.is_some() {
                &staff_only
            } else {
                self.context.audience
            },
            ..self.context
        };
        let writes = plain_writes(&context, kind, &steps, |event| {
            let mut notice = Notice::new(kind, event, self.context.subject);
            if event != Event::Resolved {
                notice.problems = check.problems.clone();
            }
            notice.never_reachable = never_reachable.clone();
            notice
        })?;
        Ok(Some(self.changes(kind, &firing, streak, writes)))
    }

    /// What the domain's watch mode leaves out alerts nothing: each firing
    /// alert of `kinds` ends without a message (the client is not told of a
    /// change in what the agency watches), and the failure streak of
    /// `streak.0` starts again from zero.
    async fn unwatched(
        &self,
        kinds: &[AlertKind],
        streak: (AlertKind, &Streak),
    ) -> Result<Vec<AlertChanges>, AlertError> {
        let mut all = Vec::new();
        for &kind in kinds {
            let firing = self.store.firing_alert(self.scope, kind).await?;
            let (streak_kind, before) = streak;
            let reset = (kind == streak_kind && before.failures != 0).then(|| {
                let after = Streak {
                    failures: 0,
                    ..before.clone()
                };
                (after, before.clone())
            });
            if firing.is_none() && reset.is_none() {
                continue;
            }
            let writes = if firing.is_some() {
                vec![AlertWrite::Resolve { delivery: None }]
            } else {
                Vec::new()
            };
            all.push(self.changes(kind, &firing, reset, writes));
        }
        Ok(all)
    }

    /// Registration lookups that learned nothing for too long.
    async fn stale_rule(
        &self,
        facts: &DomainAlertFacts,
    ) -> Result<Option<AlertChanges>, AlertError> {
        let kind = AlertKind::RegistrationStale;
        let last_fresh = last_fresh(facts);
        let firing = self.store.firing_alert(self.scope, kind).await?;
        let steps = stale_step(
            lookup_state(facts),
            last_fresh,
            self.context.settings.registration_stale_after,
            firing.as_ref(),
            self.now,
        );
        let steps = self.handle_plain(steps);
        if steps.is_empty() {
            return Ok(None);
        }
        let writes = plain_writes(&self.context, kind, &steps, |event| {
            let mut notice = Notice::new(kind, event, self.context.subject);
            notice.days_without_data = Some(days_until(last_fresh, self.now));
            notice.expires_at = facts.expires_at;
            notice
        })?;
        Ok(Some(self.changes(kind, &firing, None, writes)))
    }

    /// A registration nobody can know the expiry of unless a person enters
    /// it: staff alone are asked, once, with the command; the client's name
    /// is still shown. Ends without a message once a date is known.
    async fn needs_date_rule(
        &self,
        facts: &DomainAlertFacts,
    ) -> Result<Option<AlertChanges>, AlertError> {
        let kind = AlertKind::RegistrationNeedsDate;
        let firing = self.store.firing_alert(self.scope, kind).await?;
        let steps = self.handle_plain(needs_date_step(facts.needs_date, firing.as_ref()));
        if steps.is_empty() {
            return Ok(None);
        }
        let staff = staff_only(self.context.audience);
        let context = Context {
            audience: &staff,
            ..self.context
        };
        let writes = plain_writes(&context, kind, &steps, |event| {
            let mut notice = Notice::new(kind, event, self.context.subject);
            notice.needs_date = Some(facts.name.clone());
            notice
        })?;
        Ok(Some(self.changes(kind, &firing, None, writes)))
    }

    fn changes(
        &self,
        kind: AlertKind,
        firing: &Option<Firing>,
        streak: Option<(Streak, Streak)>,
        writes: Vec<AlertWrite>,
    ) -> AlertChanges {
        changes(
            self.context.settings,
            self.scope,
            kind,
            firing,
            streak,
            writes,
        )
    }
}

/// Who hears of a staff-only notice: staff alone (no contacts), the
/// client's name still shown in it.
fn staff_only(audience: &Audience) -> Audience {
    audience.staff_only()
}

/// A streak is written when the check counts and changes something: a
/// failure always (its `counted_at` keeps a repeat from counting twice), a
/// pass or an inconclusive check only when the count moves.
fn streak_changes(counted: bool, moved: bool, state: CheckState) -> bool {
    counted && (moved || state == CheckState::Failing)
}

/// The end of a scan: one operator alert when lapse's own health is gone
/// (once per outage); otherwise resolves it. Unless an outage holds them (at
/// most `outage_max_hold` after it began), opens the failure alerts the scan
/// held back.
pub async fn evaluate_scan(
    store: &Store,
    settings: &AlertSettings,
    scan: &ScanSummary,
    now: DateTime<Utc>,
) -> Result<AppliedChanges, AlertError> {
    let mut applied = with_retry(|| async move {
        let scope = AlertScope::operator();
        let firing = store.firing_alert(scope, AlertKind::ScanOutage).await?;
        let outage = is_outage(
            scan.evidence,
            settings.outage_min_checks,
            settings.outage_fraction,
        );
        let steps = outage_step(outage, firing.as_ref(), &format!("scan:{}", scan.scan_id));
        if steps.is_empty() {
            return Ok(AppliedChanges::default());
        }
        let audience = store.staff_audience().await?;
        let context = Context {
            settings,
            audience: &audience,
            subject: "lapse",
            notes: &StaffNotes::default(),
        };
        let writes = plain_writes(&context, AlertKind::ScanOutage, &steps, |event| {
            let mut notice = Notice::new(AlertKind::ScanOutage, event, "lapse");
            let (total, failed) = scan.counts();
            notice.checks_total = Some(total);
            notice.checks_failed = Some(failed);
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
    if outage_holding(store, settings, now).await? {
        tracing::warn!(
            scan.id = scan.scan_id,
            evidence = ?scan.evidence,
            "lapse's own checks are failing: one operator alert, per-domain failure alerts held"
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

/// Whether an outage alert fires and still holds failure alerts at `now`.
async fn outage_holding(
    store: &Store,
    settings: &AlertSettings,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let since = store
        .firing_alert_opened_at(AlertScope::operator(), AlertKind::ScanOutage)
        .await?;
    Ok(outage_holds(since, settings.outage_max_hold, now))
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
