//! When an alert opens, notifies, and resolves: the pure rules.
//!
//! Nothing here reads the store or the clock: the caller gathers the facts
//! (current expiry, what the ledger already holds, the failure streak) and
//! `now`, and gets back a list of [`Transition`]s to write in one
//! transaction.
//!
//! - Expiry ([`expiry_step`]): a crossing is "the lowest threshold at or above
//!   days-left that has not been notified for this subject" (a subject is a
//!   certificate fingerprint or a registration expiry date), so a missed run
//!   never skips a reminder, three missed thresholds send one message, and a
//!   new subject (renewal) resets everything. Certificates are only late when
//!   less than a third of their lifetime is left. Unknown data never fires.
//! - Check failures ([`failure_step`]): fire after N consecutive failed checks
//!   ([`next_streak`] counts each check once), resolve on the first good one.
//! - Stale registration data ([`stale_step`]) and the operator's outage alert
//!   ([`outage_step`]) have their own rules.
//! - A registration that needs a date entered by hand ([`needs_date_step`]):
//!   staff are asked once; the alert ends quietly once a date is known.
//!
//! Types: [`Thresholds`], [`AlertKind`], [`Event`], [`ExpirySubject`],
//! [`Firing`], [`Transition`], [`CheckState`], [`Notice`] (what a message
//! says, rendered by `notify::templates`).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::certificate::Finding;

/// Thresholds in days, largest first, no duplicates, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thresholds(Vec<u32>);

impl Thresholds {
    /// Sorts and de-duplicates; `None` for an empty list.
    pub fn new(mut days: Vec<u32>) -> Option<Self> {
        if days.is_empty() {
            return None;
        }
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        Some(Self(days))
    }

    pub fn days(&self) -> &[u32] {
        &self.0
    }

    fn largest(&self) -> u32 {
        self.0.first().copied().unwrap_or(0)
    }

    /// The lowest threshold at or above `days_left`.
    fn crossed(&self, days_left: i64) -> Option<u32> {
        self.0
            .iter()
            .rev()
            .copied()
            .find(|t| i64::from(*t) >= days_left)
    }

    /// The override that applies: the domain's, else the client's, else the
    /// configured default.
    pub fn effective<'a>(
        default: &'a Thresholds,
        client: Option<&'a Thresholds>,
        domain: Option<&'a Thresholds>,
    ) -> &'a Thresholds {
        domain.or(client).unwrap_or(default)
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<String> = self.0.iter().map(u32::to_string).collect();
        write!(f, "{}", days.join(", "))
    }
}

/// What an alert is about. One firing alert per (subject, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An endpoint's certificate expires (or has expired).
    CertExpiry,
    /// An endpoint cannot be checked or serves a broken certificate.
    CertCheckFailure,
    /// A domain registration expires.
    RegistrationExpiry,
    /// A registration is not found, or on hold / being deleted.
    RegistrationProblem,
    /// No fresh registration data for a while.
    RegistrationStale,
    /// The registry publishes no expiry and nobody entered one: staff are
    /// asked to enter the date by hand. Staff only.
    RegistrationNeedsDate,
    /// Most checks of a scan failed at once: lapse's own network, most likely.
    ScanOutage,
}

impl AlertKind {
    pub const ALL: [Self; 7] = [
        Self::CertExpiry,
        Self::CertCheckFailure,
        Self::RegistrationExpiry,
        Self::RegistrationProblem,
        Self::RegistrationStale,
        Self::RegistrationNeedsDate,
        Self::ScanOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertExpiry => "cert_expiry",
            Self::CertCheckFailure => "cert_check_failure",
            Self::RegistrationExpiry => "registration_expiry",
            Self::RegistrationProblem => "registration_problem",
            Self::RegistrationStale => "registration_stale",
            Self::RegistrationNeedsDate => "registration_needs_date",
            Self::ScanOutage => "scan_outage",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// What a ledger row records: the reason a message was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// An expiry threshold (days) was crossed.
    Threshold(u32),
    /// The subject is past its expiry.
    Expired,
    /// Failed N consecutive checks / not found / on hold.
    Failing,
    /// No fresh data for the configured number of days.
    Stale,
    /// Most checks of a scan failed.
    Outage,
    /// A registration's expiry must be entered by hand.
    NeedsDate,
    /// Fixed, renewed, or back.
    Resolved,
    /// Repeat until renewed: the day's reminder (the recipient's date).
    Reminder(chrono::NaiveDate),
    /// Expired while muted or snoozed: the staff-only reminder.
    ExpiredHeld,
}

impl Event {
    /// The ledger's `event` column.
    pub fn key(self) -> String {
        match self {
            Self::Threshold(days) => format!("threshold:{days}"),
            Self::Expired => "expired".into(),
            Self::Failing => "failing".into(),
            Self::Stale => "stale".into(),
            Self::Outage => "outage".into(),
            Self::NeedsDate => "needs_date".into(),
            Self::Resolved => "resolved".into(),
            Self::Reminder(day) => format!("reminder:{day}"),
            Self::ExpiredHeld => "expired_held".into(),
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "expired" => Self::Expired,
            "failing" => Self::Failing,
            "stale" => Self::Stale,
            "outage" => Self::Outage,
            "needs_date" => Self::NeedsDate,
            "resolved" => Self::Resolved,
            "expired_held" => Self::ExpiredHeld,
            other if other.starts_with("reminder:") => {
                Self::Reminder(other.strip_prefix("reminder:")?.parse().ok()?)
            }
            other => Self::Threshold(other.strip_prefix("threshold:")?.parse().ok()?),
        })
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

/// Something that expires: a certificate (key = leaf fingerprint) or a
/// registration (key = the expiry instant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpirySubject {
    pub key: String,
    pub expires_at: DateTime<Utc>,
    /// For certificates: `not_before`, so that the lifetime rule applies.
    pub valid_from: Option<DateTime<Utc>>,
}

/// The alert currently firing for a (subject, kind), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub alert_id: i64,
    pub subject_key: String,
}

/// One change to write. In order: a resolution, then an opening, then a
/// notification on the alert just opened (or on the one already firing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Resolve the firing alert; `notify` queues a "renewed / fixed" notice.
    Resolve { notify: bool },
    /// Open a firing alert about `subject_key`.
    Open { subject_key: String },
    /// Record the event in the ledger and queue its messages.
    Notify { event: Event, subject_key: String },
}

/// Whether the lifetime rule may adapt the thresholds that apply: only when
/// they are the built-in defaults. Thresholds staff set (per domain, per
/// client, or `[alerts] certificate_days` in the config file: `configured`)
/// fire exactly as set.
pub fn adapts_to_lifetime(
    configured: bool,
    client: Option<&Thresholds>,
    domain: Option<&Thresholds>,
) -> bool {
    !configured && client.is_none() && domain.is_none()
}

/// Days left until `expires_at`, counted in calendar days in `tz` (the
/// recipient's time zone): the number of midnights between `now` and the
/// expiry there, so that "expires in N days (DATE)" agrees with the date
/// read in that zone. Negative once past (days since, in the same count).
pub fn calendar_days_left(expires_at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> i64 {
    let day = |at: DateTime<Utc>| at.with_timezone(&tz).date_naive();
    (day(expires_at) - day(now)).num_days()
}

/// The event due now for an expiring subject, if any: `Expired` once past
/// expiry, else the lowest threshold at or above days-left, provided the
/// subject is inside its warning window. With `adapt_to_lifetime` (the
/// built-in default thresholds, see [`adapts_to_lifetime`]) the window of a
/// certificate is also no longer than a third of its lifetime (strictly
/// less than a third left), so short-lived certificates are judged by their
/// own lifetime; explicit thresholds fire exactly as set. Days left are
/// calendar days in `tz` ([`calendar_days_left`]).
pub fn due_expiry_event(
    thresholds: &Thresholds,
    adapt_to_lifetime: bool,
    subject: &ExpirySubject,
    (now, tz): (DateTime<Utc>, Tz),
) -> Option<Event> {
    let left = subject.expires_at - now;
    if left <= Duration::zero() {
        return Some(Event::Expired);
    }
    if let Some(from) = subject.valid_from.filter(|_| adapt_to_lifetime) {
        let third = (subject.expires_at - from) / 3;
        if left >= third {
            return None;
        }
    }
    let days_left = calendar_days_left(subject.expires_at, now, tz);
    if days_left > i64::from(thresholds.largest()) {
        return None;
    }
    thresholds.crossed(days_left).map(Event::Threshold)
}

/// One certificate seen on one address, for the renewal rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedCert {
    pub address: String,
    /// The leaf fingerprint.
    pub key: String,
    pub expires_at: DateTime<Utc>,
}

/// Whether the certificate the firing alert speaks of was renewed: on an
/// address that served it (`old`: its observations), another certificate
/// that expires later is served now (`served`). A certificate merely no
/// longer observed (the set of addresses changed, an address was pinned)
/// was not renewed.
pub fn certificate_renewed(old: &[ServedCert], served: &[ServedCert]) -> bool {
    served.iter().any(|new| {
        old.iter().any(|old| {
            old.address == new.address && old.key != new.key && new.expires_at > old.expires_at
        })
    })
}

/// The expiry rule. `subject` is `None` when nothing is known (no
/// certificate read, registration lookup failed or stale): nothing opens and
/// nothing resolves. `notified` holds the ledger events already recorded for
/// this subject's key (under any alert of this kind and subject). `renewed`
/// says whether the firing alert's subject was replaced by this one, later
/// ([`certificate_renewed`]; a later registration date): only then does its
/// end send a "renewed" notice.
pub fn expiry_step(
    thresholds: &Thresholds,
    adapt_to_lifetime: bool,
    subject: Option<&ExpirySubject>,
    (firing, renewed): (Option<&Firing>, bool),
    notified: &[Event],
    now: (DateTime<Utc>, Tz),
) -> Vec<Transition> {
    let Some(subject) = subject else {
        return Vec::new();
    };
    let due = due_expiry_event(thresholds, adapt_to_lifetime, subject, now);
    let notify = |event: Event| Transition::Notify {
        event,
        subject_key: subject.key.clone(),
    };
    let open = || Transition::Open {
        subject_key: subject.key.clone(),
    };
    match (firing, due) {
        (Some(f), Some(event)) if f.subject_key == subject.key => {
            if notified.contains(&event) {
                Vec::new()
            } else {
                vec![notify(event)]
            }
        }
        // Same subject, no longer due: only a threshold change does this.
        (Some(f), None) if f.subject_key == subject.key => {
            vec![Transition::Resolve { notify: false }]
        }
        // A new certificate or a later date: renewed, and said so only when
        // it replaced the old one (not when the old one is merely out of view).
        (Some(_), None) => vec![Transition::Resolve { notify: renewed }],
        // A different subject that is itself due: not a renewal worth a
        // notice; the new subject's own crossing says what matters.
        (Some(_), Some(event)) => {
            let mut steps = vec![Transition::Resolve { notify: false }, open()];
            if !notified.contains(&event) {
                steps.push(notify(event));
            }
            steps
        }
        (None, Some(event)) => {
            let mut steps = vec![open()];
            if !notified.contains(&event) {
                steps.push(notify(event));
            }
            steps
        }
        (None, None) => Vec::new(),
    }
}

/// What one check said, for failure counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Failing,
    Passing,
    /// Nothing learned (a registration lookup failed): the streak stays.
    Inconclusive,
}

/// The failure streak after a check, and whether the check counted.
/// `check` is the check's number (the store numbers each recorded check of
/// a subject: `endpoints.cert_checks`, `domains.registration_checks`),
/// `counted` the number of the check the streak counted last. A check
/// already counted changes nothing, so evaluating it twice is harmless;
/// any other check counts, however close in time (two checks within one
/// second are two checks: their times, in whole seconds, cannot tell them
/// apart, their numbers can).
pub fn next_streak(
    streak: u32,
    counted: Option<i64>,
    check: i64,
    state: CheckState,
) -> (u32, bool) {
    if counted == Some(check) {
        return (streak, false);
    }
    match state {
        CheckState::Failing => (streak.saturating_add(1), true),
        CheckState::Passing => (0, true),
        CheckState::Inconclusive => (streak, true),
    }
}

/// The failure rule: open (and notify) once `streak` reaches `needed` while
/// failing, unless `suppressed` (an outage alert is firing: one operator
/// alert instead of one per subject); resolve with a notice on the first
/// passing check.
pub fn failure_step(
    state: CheckState,
    streak: u32,
    needed: u32,
    firing: Option<&Firing>,
    suppressed: bool,
    subject_key: &str,
) -> Vec<Transition> {
    match (state, firing) {
        (CheckState::Failing, None) if streak >= needed.max(1) && !suppressed => vec![
            Transition::Open {
                subject_key: subject_key.to_owned(),
            },
            Transition::Notify {
                event: Event::Failing,
                subject_key: subject_key.to_owned(),
            },
        ],
        (CheckState::Passing, Some(_)) => vec![Transition::Resolve { notify: true }],
        _ => Vec::new(),
    }
}

/// The stale-data rule: lookups failing and the last good data older than
/// `stale_after` -> one alert; good data again -> resolved with a notice.
pub fn stale_step(
    state: CheckState,
    last_fresh: DateTime<Utc>,
    stale_after: Duration,
    firing: Option<&Firing>,
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let key = "stale".to_owned();
    match (state, firing) {
        (CheckState::Inconclusive, None) if now - last_fresh >= stale_after => vec![
            Transition::Open {
                subject_key: key.clone(),
            },
            Transition::Notify {
                event: Event::Stale,
                subject_key: key,
            },
        ],
        (CheckState::Passing | CheckState::Failing, Some(_)) => {
            vec![Transition::Resolve { notify: true }]
        }
        _ => Vec::new(),
    }
}

/// The subject key of a registration's "needs a date" alert.
pub const NEEDS_DATE_KEY: &str = "needs_date";

/// The rule of a registration that needs a date entered by hand (watched,
/// the registry publishes no expiry, nobody entered one): one alert, told
/// once; it ends without a message once a date is known, entered by hand or
/// published at last (whoever entered it knows; nothing is left to do).
pub fn needs_date_step(needs_date: bool, firing: Option<&Firing>) -> Vec<Transition> {
    match (needs_date, firing) {
        (true, None) => vec![
            Transition::Open {
                subject_key: NEEDS_DATE_KEY.to_owned(),
            },
            Transition::Notify {
                event: Event::NeedsDate,
                subject_key: NEEDS_DATE_KEY.to_owned(),
            },
        ],
        (false, Some(_)) => vec![Transition::Resolve { notify: false }],
        _ => Vec::new(),
    }
}

/// The outage rule: `outage` (lapse's own health is gone: [`is_outage`])
/// -> one operator alert, once per outage; health back resolves it.
pub fn outage_step(outage: bool, firing: Option<&Firing>, scan_key: &str) -> Vec<Transition> {
    match (outage, firing) {
        (true, None) => vec![
            Transition::Open {
                subject_key: scan_key.to_owned(),
            },
            Transition::Notify {
                event: Event::Outage,
                subject_key: scan_key.to_owned(),
            },
        ],
        (false, Some(_)) => vec![Transition::Resolve { notify: true }],
        _ => Vec::new(),
    }
}

/// What a scan tells of lapse's own health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEvidence {
    /// Canaries (endpoints that must always answer) were checked: `answered`
    /// of `total` answered.
    Canaries { total: u32, answered: u32 },
    /// No canaries: of `total` certificate checks, `own_failures` failed in
    /// a way that says lapse's own path is broken ([`says_own_path_broken`]).
    Checks { total: u32, own_failures: u32 },
}

/// Whether the evidence says lapse's own path is broken: no canary
/// answered; or, without canaries, at least `min_checks` checks and more
/// than `fraction` of them failing on lapse's side.
pub fn is_outage(evidence: HealthEvidence, min_checks: u32, fraction: f64) -> bool {
    match evidence {
        HealthEvidence::Canaries { total, answered } => total > 0 && answered == 0,
        HealthEvidence::Checks {
            total,
            own_failures,
        } => total >= min_checks.max(1) && f64::from(own_failures) > fraction * f64::from(total),
    }
}

/// Whether a failure alert is held at `now` by an outage alert that opened
/// at `outage_since`: only while it is younger than `max_hold`.
pub fn outage_holds(
    outage_since: Option<DateTime<Utc>>,
    max_hold: Duration,
    now: DateTime<Utc>,
) -> bool {
    outage_since.is_some_and(|since| now < since + max_hold)
}

/// Whether a finding says lapse's own path is broken (its resolver failed
/// or timed out, a connection timed out, the network is unreachable),
/// rather than being the target's answer (NXDOMAIN, no addresses, refused,
/// reset, not TLS, a failed handshake, a bad certificate).
pub fn is_own_path_failure(finding: &Finding) -> bool {
    use crate::domain::certificate::{DnsFailureKind, Stage};
    match finding {
        Finding::Dns { failure } => !matches!(
            failure,
            DnsFailureKind::NxDomain | DnsFailureKind::NoAddresses
        ),
        Finding::Timeout { stage, .. } => matches!(stage, Stage::Dns | Stage::Connect),
        Finding::ConnectFailed { reason } => {
            let reason = reason.to_ascii_lowercase();
            !reason.contains("reset") && !reason.contains("refused")
        }
        _ => false,
    }
}

/// Whether a check that could not be made failed on lapse's side: it has
/// findings, and every one of them is [`is_own_path_failure`].
pub fn says_own_path_broken<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> bool {
    let mut any = false;
    for finding in findings {
        if !is_own_path_failure(finding) {
            return false;
        }
        any = true;
    }
    any
}

/// Whether a canary answered at one address: it connected (whatever TLS
/// or certificate followed), i.e. none of its findings is a failure to
/// resolve or connect.
pub fn canary_answered<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> bool {
    !findings.into_iter().any(|f| {
        is_own_path_failure(f)
            || matches!(
                f,
                Finding::Dns { .. }
                    | Finding::ConnectRefused
                    | Finding::TargetRefused { .. }
                    | Finding::Timeout { .. }
            )
    })
}

/// Whether a certificate finding is a check failure (alerted after N
/// consecutive checks). Expiry has its own alert; an intermediate expiring
/// before the leaf is an expiry matter too (the chain's date is used).
pub fn is_check_failure(finding: &Finding) -> bool {
    !matches!(
        finding,
        Finding::Expiring { .. }
            | Finding::Expired { .. }
            | Finding::IntermediateExpiresBeforeLeaf { .. }
    )
}

/// EPP statuses that mean the domain is going away or is switched off.
pub const PROBLEM_STATUSES: [&str; 4] = [
    "redemptionPeriod",
    "pendingDelete",
    "clientHold",
    "serverHold",
];

/// What a registration lookup said, for the problem alert: not found or a
/// problem status is failing; found (or nothing published) is passing; a
/// failed, rate-limited or unparseable lookup tells nothing.
pub fn registration_check_state(outcome: Option<&str>, statuses: &[String]) -> CheckState {
    match outcome {
        Some("not_found") => CheckState::Failing,
        Some("found") if problem_statuses(statuses).next().is_some() => CheckState::Failing,
        Some("found" | "not_published") => CheckState::Passing,
        _ => CheckState::Inconclusive,
    }
}

/// The problem statuses among `statuses` (`clientHold`, `client hold`,
/// `CLIENT_HOLD` all count), as EPP spells them.
pub fn problem_statuses(statuses: &[String]) -> impl Iterator<Item = &'static str> + '_ {
    let normal = |s: &str| {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    PROBLEM_STATUSES
        .into_iter()
        .filter(move |p| statuses.iter().any(|s| normal(s) == normal(p)))
}

/// What a message says: the facts a template renders. Built by `monitor`
/// from a transition and the subject's current state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub kind: AlertKind,
    pub event: Event,
    /// What it is about, as people read it: `shop.example.com`,
    /// `mail.example.com:587`, `example.com`, or `lapse` for the operator.
    pub subject: String,
    pub client: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    /// On a resolved expiry: the new date.
    pub renewed_until: Option<DateTime<Utc>>,
    /// Check failures, registration problems: one line each.
    pub problems: Vec<String>,
    /// Stale data: days since the last good lookup.
    pub days_without_data: Option<i64>,
    /// Outage: the scan's counts.
    pub checks_total: Option<u32>,
    pub checks_failed: Option<u32>,
    /// A check failure of an endpoint never reached (no handshake ever, the
    /// target itself answering NXDOMAIN, refused, not TLS): the registrable
    /// domain, for the command that watches its registration alone. Staff
    /// only; the client is not told.
    pub never_reachable: Option<String>,
    /// A registration that needs a date entered by hand: the domain's ASCII
    /// name, for the command that enters it. Staff only.
    pub needs_date: Option<String>,
    /// The zone the recipient reads dates in (the one `days_left` was
    /// counted in); `None`: UTC.
    #[serde(skip)]
    pub zone: Option<chrono_tz::Tz>,
    /// A daily reminder (`domain::alert_handling`): how many came before.
    pub reminders_before: Option<u32>,
    /// The staff-only reminder of an expiry under a hold: what holds it.
    pub held: Option<String>,
}

impl Notice {
    pub fn new(kind: AlertKind, event: Event, subject: impl Into<String>) -> Self {
        Self {
            kind,
            event,
            subject: subject.into(),
            client: None,
            expires_at: None,
            days_left: None,
            renewed_until: None,
            problems: Vec::new(),
            days_without_data: None,
            checks_total: None,
            checks_failed: None,
            never_reachable: None,
            needs_date: None,
            zone: None,
            reminders_before: None,
            held: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn cert_defaults() -> Thresholds {
        Thresholds::new(vec![30, 14, 7, 3, 1, 0]).expect("thresholds")
    }

    const NOW: &str = "2026-11-01T12:00:00Z";

    /// A one-year certificate (the lifetime rule does not bite) with
    /// `days` and a few hours left.
    fn year_cert(key: &str, days: i64) -> ExpirySubject {
        let expires_at = at(NOW) + Duration::days(days) + Duration::hours(6);
        ExpirySubject {
            key: key.into(),
            expires_at,
            valid_from: Some(expires_at - Duration::days(365)),
        }
    }

    fn firing(key: &str) -> Firing {
        Firing {
            alert_id: 1,
            subject_key: key.into(),
        }
    }

    fn notify(event: Event, key: &str) -> Transition {
        Transition::Notify {
            event,
            subject_key: key.into(),
        }
    }

    fn open(key: &str) -> Transition {
        Transition::Open {
            subject_key: key.into(),
        }
    }

    #[test]
    fn each_threshold_is_crossed_once_on_a_nightly_schedule() {
        // days left each night -> the event that night (None: nothing sent).
        let nights: [(i64, Option<Event>); 12] = [
            (45, None),
            (31, None),
            (30, Some(Event::Threshold(30))),
            (29, None),
            (15, None),
            (14, Some(Event::Threshold(14))),
            (8, None),
            (7, Some(Event::Threshold(7))),
            (3, Some(Event::Threshold(3))),
            (1, Some(Event::Threshold(1))),
            (0, Some(Event::Threshold(0))),
            (-1, Some(Event::Expired)),
        ];
        let thresholds = cert_defaults();
        let expires_at = at(NOW) + Duration::days(60);
        let subject = ExpirySubject {
            key: "aa".into(),
            expires_at,
            valid_from: Some(expires_at - Duration::days(365)),
        };
        let mut state: Option<Firing> = None;
        let mut notified: Vec<Event> = Vec::new();
        for (days_left, expected) in nights {
            // The night when `days_left` whole days (and 6 hours) are left.
            let now = expires_at - Duration::days(days_left) - Duration::hours(6);
            let steps = expiry_step(
                &thresholds,
                true,
                Some(&subject),
                (state.as_ref(), false),
                &notified,
                (now, Tz::UTC),
            );
            let sent: Vec<Event> = steps
                .iter()
                .filter_map(|s| match s {
                    Transition::Notify { event, .. } => Some(*event),
                    _ => None,
                })
                .collect();
            assert_eq!(
                sent,
                expected.into_iter().collect::<Vec<_>>(),
                "{days_left} days left"
            );
            if steps.iter().any(|s| matches!(s, Transition::Open { .. })) {
                state = Some(firing("aa"));
            }
            notified.extend(sent);
            // Evaluating the same night again sends nothing more.
            assert!(
                expiry_step(
                    &thresholds,
                    true,
                    Some(&subject),
                    (state.as_ref(), false),
                    &notified,
                    (now, Tz::UTC)
                )
                .iter()
                .all(|s| !matches!(s, Transition::Notify { .. })),
                "second evaluation at {days_left} days left"
            );
        }
    }

    #[test]
    fn a_skipped_run_still_sends_the_reminder_it_missed() {
        let thresholds = cert_defaults();
        // 14 was sent; the runs at 7..6 days failed; tonight 5 days are left.
        let steps = expiry_step(
            &thresholds,
            true,
            Some(&year_cert("aa", 5)),
            (Some(&firing("aa")), false),
            &[Event::Threshold(30), Event::Threshold(14)],
            (at(NOW), Tz::UTC),
        );
        assert_eq!(steps, vec![notify(Event::Threshold(7), "aa")]);
    }

    #[test]
    fn first_sight_inside_several_thresholds_sends_one_message_for_the_lowest() {
        let steps = expiry_step(
            &cert_defaults(),
            true,
            Some(&year_cert("aa", 10)),
            (None, false),
            &[],
            (at(NOW), Tz::UTC),
        );
        assert_eq!(steps, vec![open("aa"), notify(Event::Threshold(14), "aa")]);
        let expired = ExpirySubject {
            expires_at: at(NOW) - Duration::days(5),
            ..year_cert("bb", 0)
        };
        let steps = expiry_step(
            &cert_defaults(),
            true,
            Some(&expired),
            (None, false),
            &[],
            (at(NOW), Tz::UTC),
        );
        assert_eq!(steps, vec![open("bb"), notify(Event::Expired, "bb")]);
    }

    #[test]
    fn renewal_resolves_with_a_notice_and_re_arms_the_thresholds() {
        let thresholds = cert_defaults();
        let renewed = year_cert("new", 89);
        let steps = expiry_step(
            &thresholds,
            true,
            Some(&renewed),
            (Some(&firing("old")), true),
            &[],
            (at(NOW), Tz::UTC),
        );
        assert_eq!(steps, vec![Transition::Resolve { notify: true }]);
        // The new certificate starts from scratch: its 30-day crossing fires.
        let later = at(NOW) + Duration::days(60);
        let steps = expiry_step(
            &thresholds,
            true,
            Some(&renewed),
            (None, false),
            &[],
            (later, Tz::UTC),
        );
        assert_eq!(
            steps,
            vec![open("new"), notify(Event::Threshold(30), "new")]
        );
    }

    #[test]
    fn a_certificate_out_of_view_is_not_renewed() {
        let served = |address: &str, key: &str, days: i64| ServedCert {
            address: address.into(),
            key: key.into(),
            expires_at: at(NOW) + Duration::days(days),
        };
        // "old" was served on .1; .2 served "other" all along.
        let old = [served("127.0.0.1", "old", 10)];
        // Pinned to .2: "old" is out of view, nothing replaced it.
        assert!(!certificate_renewed(
            &old,
            &[served("127.0.0.2", "other", 80)]
        ));
        // .1 now serves a later certificate: renewed.
        assert!(certificate_renewed(&old, &[served("127.0.0.1", "new", 89)]));
        // .1 serves an earlier one: not a renewal.
        assert!(!certificate_renewed(&old, &[served("127.0.0.1", "new", 5)]));
        // Not renewed: the alert ends without a notice.
        let steps = expiry_step(
            &cert_defaults(),
            true,
            Some(&year_cert("other", 80)),
            (Some(&firing("old")), false),
            &[],
            (at(NOW), Tz::UTC),
        );
        assert_eq!(steps, vec![Transition::Resolve { notify: false }]);
    }

    #[test]
    fn a_later_registration_date_is_a_renewal_too() {
        let thresholds = Thresholds::new(vec![60, 30, 14, 7, 1, 0]).expect("t");
        let renewed = ExpirySubject {
            key: "2027-12-01T00:00:00Z".into(),
            expires_at: at("2027-12-01T00:00:00Z"),
            valid_from: None,
        };
        let steps = expiry_step(
            &thresholds,
            true,
            Some(&renewed),
            (Some(&firing("2026-12-01T00:00:00Z")), true),
            &[],
            (at(NOW), Tz::UTC),
        );
        assert_eq!(steps, vec![Transition::Resolve { notify: true }]);
    }

    #[test]
    fn a_6_day_certificate_alerts_by_its_lifetime_not_at_7_days() {
        let thresholds = cert_defaults();
        let issued = at(NOW);
        let subject = ExpirySubject {
            key: "short".into(),
            expires_at: issued + Duration::days(6),
            valid_from: Some(issued),
        };
        // Freshly issued (6 days left) and at half its life (3 days left): quiet.
        for elapsed_hours in [0, 24, 72, 95] {
            let now = issued + Duration::hours(elapsed_hours);
            assert_eq!(
                expiry_step(
                    &thresholds,
                    true,
                    Some(&subject),
                    (None, false),
                    &[],
                    (now, Tz::UTC)
                ),
                vec![],
                "{elapsed_hours} h after issuance"
            );
        }
        // Less than a third (2 days) left: late, not renewed. 44 hours
        // before noon is the day before yesterday's 16:00: 2 calendar days.
        let now = issued + Duration::hours(100);
        assert_eq!(
            expiry_step(
                &thresholds,
                true,
                Some(&subject),
                (None, false),
                &[],
                (now, Tz::UTC)
            ),
            vec![open("short"), notify(Event::Threshold(3), "short")]
        );
    }

    #[test]
    fn a_90_day_certificate_is_not_alarming_at_exactly_30_days() {
        let thresholds = cert_defaults();
        let issued = at(NOW);
        let subject = ExpirySubject {
            key: "acme".into(),
            expires_at: issued + Duration::days(90),
            valid_from: Some(issued),
        };
        let at_30 = issued + Duration::days(60);
        assert_eq!(
            due_expiry_event(&thresholds, true, &subject, (at_30, Tz::UTC)),
            None
        );
        let past_a_third = at_30 + Duration::hours(12);
        assert_eq!(
            due_expiry_event(&thresholds, true, &subject, (past_a_third, Tz::UTC)),
            Some(Event::Threshold(30))
        );
    }

    #[test]
    fn explicit_thresholds_fire_as_set_whatever_the_lifetime() {
        let issued = at(NOW);
        let subject = ExpirySubject {
            key: "acme".into(),
            expires_at: issued + Duration::days(90),
            valid_from: Some(issued),
        };
        let forty_left = issued + Duration::days(50) - Duration::hours(6);
        let set = Thresholds::new(vec![45, 21, 7, 1, 0]).expect("t");
        assert_eq!(
            due_expiry_event(&set, false, &subject, (forty_left, Tz::UTC)),
            Some(Event::Threshold(45))
        );
        // The same list as a built-in default would wait for the last third.
        assert_eq!(
            due_expiry_event(&set, true, &subject, (forty_left, Tz::UTC)),
            None
        );
        assert!(adapts_to_lifetime(false, None, None));
        assert!(!adapts_to_lifetime(true, None, None));
        assert!(!adapts_to_lifetime(false, Some(&set), None));
        assert!(!adapts_to_lifetime(false, None, Some(&set)));
    }

    #[test]
    fn days_left_are_calendar_days_in_the_recipients_zone() {
        // Mailed on 2026-12-04 (UTC) about 2026-12-14: 10 days, not 9.
        let now = at("2026-12-04T23:30:00Z");
        let expiry = at("2026-12-14T01:00:00Z");
        assert_eq!(calendar_days_left(expiry, now, Tz::UTC), 10);
        // Across a zone boundary: the same instants read elsewhere.
        let now = at("2026-12-04T20:00:00Z");
        let expiry = at("2026-12-14T03:00:00Z");
        assert_eq!(calendar_days_left(expiry, now, Tz::UTC), 10);
        // Berlin: 12-04 21:00 -> 12-14 04:00.
        assert_eq!(calendar_days_left(expiry, now, Tz::Europe__Berlin), 10);
        // New York: 12-04 15:00 -> 12-13 22:00.
        assert_eq!(calendar_days_left(expiry, now, Tz::America__New_York), 9);
        let now = at("2026-12-04T23:30:00Z");
        // Berlin: already 12-05 00:30 -> 12-14 02:00; New York: 12-04 18:30 -> 12-13 20:00.
        assert_eq!(
            calendar_days_left(at("2026-12-14T01:00:00Z"), now, Tz::Europe__Berlin),
            9
        );
        assert_eq!(
            calendar_days_left(at("2026-12-14T06:00:00Z"), now, Tz::America__New_York),
            10
        );
        // Past: negative, in the same count.
        assert_eq!(
            calendar_days_left(at("2026-12-02T23:00:00Z"), now, Tz::UTC),
            -2
        );
        // The threshold compared is the same count: 7 calendar days in
        // Berlin (12-05 00:30 -> 12-12 21:00), 8 in UTC.
        let subject = ExpirySubject {
            expires_at: at("2026-12-12T20:00:00Z"),
            ..year_cert("aa", 0)
        };
        let thresholds = cert_defaults();
        let berlin = (now, Tz::Europe__Berlin);
        assert_eq!(
            due_expiry_event(&thresholds, true, &subject, berlin),
            Some(Event::Threshold(7))
        );
        assert_eq!(
            due_expiry_event(&thresholds, true, &subject, (now, Tz::UTC)),
            Some(Event::Threshold(14))
        );
    }

    #[test]
    fn unknown_data_never_fires_and_never_resolves() {
        assert_eq!(
            expiry_step(
                &cert_defaults(),
                true,
                None,
                (None, false),
                &[],
                (at(NOW), Tz::UTC)
            ),
            vec![]
        );
        assert_eq!(
            expiry_step(
                &cert_defaults(),
                true,
                None,
                (Some(&firing("aa")), true),
                &[],
                (at(NOW), Tz::UTC)
            ),
            vec![]
        );
        assert_eq!(
            registration_check_state(Some("failed"), &[]),
            CheckState::Inconclusive
        );
        assert_eq!(
            registration_check_state(Some("rate_limited"), &[]),
            CheckState::Inconclusive
        );
        assert_eq!(
            registration_check_state(None, &[]),
            CheckState::Inconclusive
        );
    }

    #[test]
    fn failures_fire_after_n_consecutive_checks_and_resolve_on_the_first_good_one() {
        // (check number, state) -> expected transitions, with N = 2.
        let checks = [
            (1, CheckState::Failing, vec![]),
            (1, CheckState::Failing, vec![]), // the same check again: not counted twice
            (2, CheckState::Passing, vec![]),
            (3, CheckState::Failing, vec![]),
            (
                4,
                CheckState::Failing,
                vec![open("endpoint"), notify(Event::Failing, "endpoint")],
            ),
            (5, CheckState::Failing, vec![]),
            (
                6,
                CheckState::Passing,
                vec![Transition::Resolve { notify: true }],
            ),
        ];
        let mut streak = 0;
        let mut counted: Option<i64> = None;
        let mut state: Option<Firing> = None;
        for (check, result, expected) in checks {
            let (next, changed) = next_streak(streak, counted, check, result);
            streak = next;
            if changed {
                counted = Some(check);
            }
            let steps = failure_step(result, streak, 2, state.as_ref(), false, "endpoint");
            assert_eq!(
                steps, expected,
                "check {check} ({result:?}), streak {streak}"
            );
            for step in &steps {
                match step {
                    Transition::Open { subject_key } => state = Some(firing(subject_key)),
                    Transition::Resolve { .. } => state = None,
                    Transition::Notify { .. } => {}
                }
            }
        }
    }

    #[test]
    fn an_outage_suppresses_failure_alerts() {
        assert_eq!(
            failure_step(CheckState::Failing, 5, 2, None, true, "endpoint"),
            vec![]
        );
    }

    #[test]
    fn inconclusive_lookups_neither_count_nor_reset() {
        assert_eq!(
            next_streak(1, Some(1), 2, CheckState::Inconclusive),
            (1, true)
        );
    }

    #[test]
    fn each_check_counts_once_however_close_in_time() {
        // Checks 7 and 8 made within the same second, each evaluated twice.
        let mut streak = (0, None);
        for check in [7, 7, 8, 8] {
            let (failures, counted) = next_streak(streak.0, streak.1, check, CheckState::Failing);
            streak = (failures, if counted { Some(check) } else { streak.1 });
        }
        assert_eq!(streak, (2, Some(8)));
        // A pass within that second resets; its repeat changes nothing.
        assert_eq!(next_streak(2, Some(8), 9, CheckState::Passing), (0, true));
        assert_eq!(next_streak(0, Some(9), 9, CheckState::Failing), (0, false));
    }

    #[test]
    fn registration_problems_are_not_found_and_hold_or_delete_statuses() {
        let statuses = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let table: [(Option<&str>, Vec<String>, CheckState); 6] = [
            (Some("not_found"), vec![], CheckState::Failing),
            (
                Some("found"),
                statuses(&["client hold"]),
                CheckState::Failing,
            ),
            (
                Some("found"),
                statuses(&["pendingDelete", "ok"]),
                CheckState::Failing,
            ),
            (
                Some("found"),
                statuses(&["SERVER_HOLD"]),
                CheckState::Failing,
            ),
            (
                Some("found"),
                statuses(&["clientTransferProhibited"]),
                CheckState::Passing,
            ),
            (Some("not_published"), vec![], CheckState::Passing),
        ];
        for (outcome, statuses, expected) in table {
            assert_eq!(
                registration_check_state(outcome, &statuses),
                expected,
                "{outcome:?} {statuses:?}"
            );
        }
    }

    #[test]
    fn stale_data_fires_its_own_alert_after_n_days() {
        let last = at(NOW) - Duration::days(3);
        let week = Duration::days(7);
        assert_eq!(
            stale_step(CheckState::Inconclusive, last, week, None, at(NOW)),
            vec![]
        );
        let last = at(NOW) - Duration::days(8);
        assert_eq!(
            stale_step(CheckState::Inconclusive, last, week, None, at(NOW)),
            vec![open("stale"), notify(Event::Stale, "stale")]
        );
        assert_eq!(
            stale_step(
                CheckState::Passing,
                at(NOW),
                week,
                Some(&firing("stale")),
                at(NOW)
            ),
            vec![Transition::Resolve { notify: true }]
        );
    }

    #[test]
    fn a_registration_needing_a_date_is_told_once_and_ends_quietly() {
        let opened = vec![open("needs_date"), notify(Event::NeedsDate, "needs_date")];
        assert_eq!(needs_date_step(true, None), opened);
        let firing = firing(NEEDS_DATE_KEY);
        assert_eq!(needs_date_step(true, Some(&firing)), vec![], "told once");
        assert_eq!(
            needs_date_step(false, Some(&firing)),
            vec![Transition::Resolve { notify: false }]
        );
        assert_eq!(needs_date_step(false, None), vec![]);
    }

    #[test]
    fn lapses_own_failures_are_one_operator_alert() {
        let checks = |total, own_failures| HealthEvidence::Checks {
            total,
            own_failures,
        };
        assert!(is_outage(checks(10, 6), 5, 0.5));
        assert!(!is_outage(checks(10, 5), 5, 0.5), "half is not most");
        assert!(!is_outage(checks(3, 3), 5, 0.5), "too few checks to tell");
        let canaries = |total, answered| HealthEvidence::Canaries { total, answered };
        assert!(is_outage(canaries(2, 0), 5, 0.5));
        assert!(!is_outage(canaries(2, 1), 5, 0.5), "one canary is health");
        assert_eq!(
            outage_step(true, None, "scan:7"),
            vec![open("scan:7"), notify(Event::Outage, "scan:7")]
        );
        assert_eq!(outage_step(true, Some(&firing("scan:6")), "scan:7"), vec![]);
        assert_eq!(
            outage_step(false, Some(&firing("scan:6")), "scan:8"),
            vec![Transition::Resolve { notify: true }]
        );
    }

    #[test]
    fn only_lapses_own_path_counts_as_an_outage() {
        use crate::domain::certificate::{DnsFailureKind, Stage};
        let dns = |failure| Finding::Dns { failure };
        let timeout = |stage| Finding::Timeout {
            stage,
            limit_ms: 1000,
        };
        for own in [
            dns(DnsFailureKind::ServFail),
            dns(DnsFailureKind::Timeout),
            timeout(Stage::Connect),
            Finding::ConnectFailed {
                reason: "network is unreachable".into(),
            },
        ] {
            assert!(says_own_path_broken([&own]), "{own:?}");
        }
        for target in [
            dns(DnsFailureKind::NxDomain),
            dns(DnsFailureKind::NoAddresses),
            Finding::ConnectRefused,
            Finding::ConnectFailed {
                reason: "connection reset by peer".into(),
            },
            timeout(Stage::Handshake),
            Finding::SelfSigned {
                subject: "CN=x".into(),
            },
        ] {
            assert!(!says_own_path_broken([&target]), "{target:?}");
        }
        assert!(!says_own_path_broken([]), "no finding, no failure");
        assert!(
            !says_own_path_broken([&timeout(Stage::Connect), &Finding::ConnectRefused]),
            "one address answered for itself"
        );
        let now = Utc::now();
        assert!(outage_holds(
            Some(now),
            Duration::hours(24),
            now + Duration::hours(23)
        ));
        assert!(!outage_holds(
            Some(now),
            Duration::hours(24),
            now + Duration::hours(24)
        ));
        assert!(!outage_holds(None, Duration::hours(24), now));
    }

    #[test]
    fn overrides_apply_domain_first_then_client_then_default() {
        let default = cert_defaults();
        let client = Thresholds::new(vec![45, 10]).expect("t");
        let domain = Thresholds::new(vec![60]).expect("t");
        assert_eq!(Thresholds::effective(&default, None, None), &default);
        assert_eq!(
            Thresholds::effective(&default, Some(&client), None),
            &client
        );
        assert_eq!(
            Thresholds::effective(&default, Some(&client), Some(&domain)),
            &domain
        );
    }

    #[test]
    fn event_keys_round_trip() {
        for event in [
            Event::Threshold(7),
            Event::Expired,
            Event::Failing,
            Event::Stale,
            Event::Outage,
            Event::NeedsDate,
            Event::Resolved,
        ] {
            assert_eq!(Event::parse(&event.key()), Some(event));
        }
    }
}
