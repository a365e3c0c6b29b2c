//! Registration provenance and assessment: what the answers of registries, registrars and staff
//! mean together. Pure: no I/O, never reads the clock (`now` is a parameter).
//!
//! Types:
//! - [`Source`]: who said it (registry RDAP, registrar RDAP, a WHOIS server, staff by hand);
//! - [`SourcedFacts`]: one source's parsed answer, with the server and the fetch time;
//! - [`ManualExpiry`]: a date entered by staff (`lapse domains set-expiry`);
//! - [`Assessment`]: the outcome of [`assess`]: the assessed expiry and where it came from, every
//!   published expiry, disagreement, staleness, "not found", the TLD's [`Capability`].
//!
//! The rules, each a promise to the user:
//! - **Earliest credible date.** The assessed expiry is the earliest credible published expiry. A
//!   date is credible when its source's answer is [`ParseOutcome::Found`] and it is not before the
//!   creation date that same answer printed. Dates are compared as instants; a bare calendar date
//!   (no time printed) counts as the start of that day in UTC, so on the same day it is the earlier
//!   one. Taking the earliest errs on the side of warning early: a registrar that shows the date
//!   after an auto-renew it has not paid for yet must not hide the registry's date.
//! - **Disagreement is visible.** When two credible expiries differ by more than a day (more than
//!   24 hours between two instants; more than one calendar day when either is a bare date), the
//!   assessment names the earliest and the latest with their sources.
//! - **A failed lookup never produces an expiry.** When no source answered this time (every
//!   lookup failed, was rate limited, or could not be parsed), the previous assessment's facts are
//!   kept, marked stale, with the time they were last confirmed. Without a previous assessment the
//!   expiry is unknown (`None`), never a guess.
//! - **Published beats manual.** A manual date is used only while no source publishes an expiry.
//!   When a source publishes one that differs from the manual date by more than a day, the
//!   assessment says so ([`Assessment::manual_conflict`]) and uses the published date.
//! - **Not found** is reported when some source says the domain does not exist and no source
//!   describes it.
//!
//! `RegistrationFacts` and `DateValue` come from the WHOIS parser (`probe::whois_parse`), which
//! is itself pure; they are the vocabulary both parsers return.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

// The facts one reply gave (WHOIS or RDAP), as the parsers in `probe` read them.

/// What a reply told us. A failed/unknown lookup never produces an expiry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseOutcome {
    /// The domain is registered and the reply printed its expiry.
    Found,
    /// The domain is registered (the reply describes it) but the registry publishes no expiry
    /// (.de, .nl, .eu, .at, JPRS attribute domains, ...).
    NotPublished,
    /// The registry says there is no such domain.
    NotFound,
    /// The server refused to answer because we asked too often.
    RateLimited,
    /// Empty, garbage, or a dialect we do not understand.
    #[default]
    Unparseable,
}

/// A date as printed: an instant when the reply gave a time (converted to UTC; a reply with a time but
/// no zone is taken as UTC unless the registry's zone is known), or a bare calendar date when it gave none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum DateValue {
    Instant(DateTime<Utc>),
    Date(NaiveDate),
}

impl DateValue {
    /// The calendar day: the UTC day of an instant, or the printed day of a bare date.
    pub fn day(&self) -> NaiveDate {
        match self {
            DateValue::Instant(t) => t.date_naive(),
            DateValue::Date(d) => *d,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistrationFacts {
    pub outcome: ParseOutcome,
    pub expires: Option<DateValue>,
    pub created: Option<DateValue>,
    pub updated: Option<DateValue>,
    pub registrar: Option<String>,
    pub registrar_iana_id: Option<u32>,
    /// EPP codes as printed (e.g. "clientTransferProhibited"), de-duplicated, no URLs.
    pub status: Vec<String>,
    /// Lower case, no trailing dot, no glue IPs, de-duplicated.
    pub nameservers: Vec<String>,
    /// The WHOIS host the reply points to ("Registrar WHOIS Server:", "refer:", "whois:"), if any.
    pub referral: Option<String>,
    /// The reply was longer than the client reads (`whois.max_bytes`): it was cut at this many
    /// bytes and these facts are read from its whole lines before the cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_at_bytes: Option<usize>,
}

/// Who said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    RegistryRdap,
    RegistrarRdap,
    Whois,
    Manual,
}

impl Source {
    /// How the CLI and emails name the source.
    pub fn label(self) -> &'static str {
        match self {
            Source::RegistryRdap => "registry RDAP",
            Source::RegistrarRdap => "registrar RDAP",
            Source::Whois => "WHOIS",
            Source::Manual => "manual",
        }
    }

    /// Which source's registrar, status and name servers are preferred: the registry's.
    fn priority(self) -> u8 {
        match self {
            Source::RegistryRdap => 0,
            Source::RegistrarRdap => 1,
            Source::Whois => 2,
            Source::Manual => 3,
        }
    }
}

/// One source's parsed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcedFacts {
    pub source: Source,
    /// The server that answered: an RDAP URL, or a WHOIS `host[:port]`.
    pub server: String,
    pub fetched_at: DateTime<Utc>,
    pub facts: RegistrationFacts,
}

impl SourcedFacts {
    /// The source told us something about the domain (it exists, or it does not).
    fn answered(&self) -> bool {
        matches!(
            self.facts.outcome,
            ParseOutcome::Found | ParseOutcome::NotPublished | ParseOutcome::NotFound
        )
    }

    fn describes_domain(&self) -> bool {
        matches!(
            self.facts.outcome,
            ParseOutcome::Found | ParseOutcome::NotPublished
        )
    }

    /// The expiry, when it is credible (see the module docs).
    fn credible_expiry(&self) -> Option<SourcedDate> {
        if self.facts.outcome != ParseOutcome::Found {
            return None;
        }
        let expires = self.facts.expires?;
        if let Some(created) = self.facts.created {
            if instant_key(&expires) < instant_key(&created) {
                return None;
            }
        }
        Some(SourcedDate {
            source: self.source,
            server: self.server.clone(),
            fetched_at: self.fetched_at,
            date: expires,
        })
    }
}

/// An expiry date entered by staff for a TLD that publishes none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualExpiry {
    pub date: NaiveDate,
    pub note: Option<String>,
    pub set_at: DateTime<Utc>,
}

impl ManualExpiry {
    /// The manual date as a source's date, for when no source publishes one.
    fn as_sourced_date(&self) -> SourcedDate {
        SourcedDate {
            source: Source::Manual,
            server: self
                .note
                .clone()
                .unwrap_or_else(|| "entered by hand".to_owned()),
            fetched_at: self.set_at,
            date: DateValue::Date(self.date),
        }
    }
}

/// What lapse can know about a domain of this TLD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// An RDAP server published the expiry.
    RdapWithExpiry,
    /// Only WHOIS published the expiry.
    WhoisOnly,
    /// The domain exists but no source publishes its expiry (a manual date is needed).
    NothingPublished,
    /// No source has described the domain yet (all lookups failed, or it does not exist).
    Unknown,
}

impl Capability {
    pub fn label(self) -> &'static str {
        match self {
            Capability::RdapWithExpiry => "RDAP with expiry",
            Capability::WhoisOnly => "WHOIS only",
            Capability::NothingPublished => "nothing published",
            Capability::Unknown => "unknown",
        }
    }
}

/// A date and who said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcedDate {
    pub source: Source,
    pub server: String,
    pub fetched_at: DateTime<Utc>,
    pub date: DateValue,
}

/// Two credible expiries more than a day apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    pub earliest: SourcedDate,
    pub latest: SourcedDate,
}

/// A manual date that a source now contradicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualConflict {
    pub manual: NaiveDate,
    pub published: SourcedDate,
}

/// What the registration facts mean, with their provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// The assessed expiry (earliest credible published date, else the manual date), or unknown.
    pub expires: Option<SourcedDate>,
    /// Every credible published expiry, registry and registrar both, earliest first.
    pub expiry_dates: Vec<SourcedDate>,
    pub disagreement: Option<Disagreement>,
    pub manual_conflict: Option<ManualConflict>,
    /// No source answered this time; the facts are the last known ones.
    pub stale: bool,
    /// When a source last answered (`None`: never).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// A source says the domain does not exist and none describes it.
    pub not_found: bool,
    pub capability: Capability,
    pub registrar: Option<String>,
    pub registrar_iana_id: Option<u32>,
    pub created: Option<DateValue>,
    pub updated: Option<DateValue>,
    pub status: Vec<String>,
    pub nameservers: Vec<String>,
    /// The answers this assessment rests on (carried over from the previous one when stale).
    pub facts: Vec<SourcedFacts>,
}

impl Assessment {
    /// Whole days since a source last answered, for "no fresh data for N days" alerts.
    pub fn days_without_fresh_data(&self, now: DateTime<Utc>) -> Option<i64> {
        self.confirmed_at.map(|at| (now - at).num_days())
    }
}

/// Assesses the answers of one lookup. `facts` holds the answers of this lookup (failed lookups
/// contribute nothing), `previous` the last assessment of the domain. See the module docs for
/// the rules.
pub fn assess(
    facts: &[SourcedFacts],
    manual: Option<&ManualExpiry>,
    previous: Option<&Assessment>,
    now: DateTime<Utc>,
) -> Assessment {
    let (in_use, stale, confirmed_at) = answers_in_use(facts, previous, now);
    let expiry_dates = credible_expiries(&in_use);
    let disagreement = match (expiry_dates.first(), expiry_dates.last()) {
        (Some(earliest), Some(latest)) if more_than_a_day_apart(&earliest.date, &latest.date) => {
            Some(Disagreement {
                earliest: earliest.clone(),
                latest: latest.clone(),
            })
        }
        _ => None,
    };
    let published = expiry_dates.first().cloned();
    let manual_conflict = manual_conflict(published.as_ref(), manual);
    let expires = published.or_else(|| manual.map(ManualExpiry::as_sourced_date));

    let mut describing: Vec<&SourcedFacts> =
        in_use.iter().filter(|f| f.describes_domain()).collect();
    describing.sort_by_key(|f| f.source.priority());
    let not_found = describing.is_empty()
        && in_use
            .iter()
            .any(|f| f.facts.outcome == ParseOutcome::NotFound);
    let capability = capability(&expiry_dates, &describing);

    Assessment {
        expires,
        disagreement,
        manual_conflict,
        stale,
        confirmed_at,
        not_found,
        capability,
        registrar: describing.iter().find_map(|f| f.facts.registrar.clone()),
        registrar_iana_id: describing.iter().find_map(|f| f.facts.registrar_iana_id),
        created: describing.iter().find_map(|f| f.facts.created),
        updated: describing.iter().find_map(|f| f.facts.updated),
        status: describing
            .iter()
            .find(|f| !f.facts.status.is_empty())
            .map(|f| f.facts.status.clone())
            .unwrap_or_default(),
        nameservers: describing
            .iter()
            .find(|f| !f.facts.nameservers.is_empty())
            .map(|f| f.facts.nameservers.clone())
            .unwrap_or_default(),
        expiry_dates,
        facts: in_use,
    }
}

/// The answers the assessment rests on, whether they are stale, and when a
/// source last answered: this lookup's answers, or, when no source answered,
/// the previous assessment's, kept with their confirmation time.
fn answers_in_use(
    facts: &[SourcedFacts],
    previous: Option<&Assessment>,
    now: DateTime<Utc>,
) -> (Vec<SourcedFacts>, bool, Option<DateTime<Utc>>) {
    let fresh: Vec<SourcedFacts> = facts.iter().filter(|f| f.answered()).cloned().collect();
    if fresh.is_empty() {
        (
            previous.map(|p| p.facts.clone()).unwrap_or_default(),
            true,
            previous.and_then(|p| p.confirmed_at),
        )
    } else {
        let latest = fresh.iter().map(|f| f.fetched_at).max().unwrap_or(now);
        (fresh, false, Some(latest))
    }
}

/// Every credible published expiry, earliest first; on a tie the registry's date leads.
fn credible_expiries(in_use: &[SourcedFacts]) -> Vec<SourcedDate> {
    let mut dates: Vec<SourcedDate> = in_use
        .iter()
        .filter_map(SourcedFacts::credible_expiry)
        .collect();
    dates.sort_by(|a, b| {
        instant_key(&a.date)
            .cmp(&instant_key(&b.date))
            .then(a.source.priority().cmp(&b.source.priority()))
    });
    dates
}

/// A manual date that the earliest published expiry contradicts by more than a day.
fn manual_conflict(
    published: Option<&SourcedDate>,
    manual: Option<&ManualExpiry>,
) -> Option<ManualConflict> {
    match (published, manual) {
        (Some(published), Some(m))
            if more_than_a_day_apart(&published.date, &DateValue::Date(m.date)) =>
        {
            Some(ManualConflict {
                manual: m.date,
                published: published.clone(),
            })
        }
        _ => None,
    }
}

/// What the TLD publishes, judged from the credible expiries and the sources
/// that describe the domain.
fn capability(expiry_dates: &[SourcedDate], describing: &[&SourcedFacts]) -> Capability {
    if expiry_dates
        .iter()
        .any(|d| matches!(d.source, Source::RegistryRdap | Source::RegistrarRdap))
    {
        Capability::RdapWithExpiry
    } else if !expiry_dates.is_empty() {
        Capability::WhoisOnly
    } else if !describing.is_empty() {
        Capability::NothingPublished
    } else {
        Capability::Unknown
    }
}

/// The instant a date stands for: itself, or the start of a bare date's day in UTC.
fn instant_key(date: &DateValue) -> DateTime<Utc> {
    match date {
        DateValue::Instant(t) => *t,
        DateValue::Date(d) => d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
    }
}

/// Two instants more than 24 hours apart; with a bare date on either side, calendar days more
/// than one apart (a date says nothing about the hour).
fn more_than_a_day_apart(a: &DateValue, b: &DateValue) -> bool {
    match (a, b) {
        (DateValue::Instant(x), DateValue::Instant(y)) => (*x - *y).abs() > TimeDelta::days(1),
        _ => (a.day() - b.day()).num_days().abs() > 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(s: &str) -> DateValue {
        DateValue::Instant(
            DateTime::parse_from_rfc3339(s)
                .expect("test instant")
                .with_timezone(&Utc),
        )
    }

    fn day(s: &str) -> DateValue {
        DateValue::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date"))
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .expect("now")
            .with_timezone(&Utc)
    }

    fn found(source: Source, expires: DateValue) -> SourcedFacts {
        SourcedFacts {
            source,
            server: format!("{}.example", source.label().replace(' ', "-")),
            fetched_at: now(),
            facts: RegistrationFacts {
                outcome: ParseOutcome::Found,
                expires: Some(expires),
                registrar: Some(format!("{} registrar", source.label())),
                ..RegistrationFacts::default()
            },
        }
    }

    fn outcome(source: Source, outcome: ParseOutcome) -> SourcedFacts {
        SourcedFacts {
            source,
            server: "server.example".to_owned(),
            fetched_at: now(),
            facts: RegistrationFacts {
                outcome,
                ..RegistrationFacts::default()
            },
        }
    }

    fn with_created(mut f: SourcedFacts, created: DateValue) -> SourcedFacts {
        f.facts.created = Some(created);
        f
    }

    fn manual(date: &str) -> ManualExpiry {
        ManualExpiry {
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("manual date"),
            note: Some("invoice 2024-117".to_owned()),
            set_at: now() - TimeDelta::days(30),
        }
    }

    /// What a case expects; `expires` is (source, date) of the assessed expiry.
    struct Expect {
        expires: Option<(Source, DateValue)>,
        disagreement: bool,
        stale: bool,
        not_found: bool,
        capability: Capability,
        manual_conflict: bool,
    }

    const FRESH: Expect = Expect {
        expires: None,
        disagreement: false,
        stale: false,
        not_found: false,
        capability: Capability::Unknown,
        manual_conflict: false,
    };

    struct Case {
        rule: &'static str,
        facts: Vec<SourcedFacts>,
        manual: Option<ManualExpiry>,
        expect: Expect,
    }

    fn cases() -> Vec<Case> {
        use Source::*;
        vec![
            Case {
                rule: "a registry RDAP expiry is the assessed expiry",
                facts: vec![found(RegistryRdap, inst("2026-09-14T04:00:00Z"))],
                manual: None,
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2026-09-14T04:00:00Z"))),
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "the same instant printed in two zones is no disagreement",
                facts: vec![
                    found(RegistryRdap, inst("2026-09-14T04:00:00Z")),
                    found(RegistrarRdap, inst("2026-09-13T21:00:00-07:00")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2026-09-14T04:00:00Z"))),
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "registrar a year later than registry: registry wins, disagreement shown",
                facts: vec![
                    found(RegistryRdap, inst("2026-09-14T04:00:00Z")),
                    found(RegistrarRdap, inst("2027-09-14T04:00:00Z")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2026-09-14T04:00:00Z"))),
                    disagreement: true,
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "registrar earlier than registry: the earliest (registrar) wins",
                facts: vec![
                    found(RegistryRdap, inst("2027-09-14T04:00:00Z")),
                    found(RegistrarRdap, inst("2026-09-14T04:00:00Z")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((RegistrarRdap, inst("2026-09-14T04:00:00Z"))),
                    disagreement: true,
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule:
                    "a bare date counts as the start of its day, so it is the earlier on that day",
                facts: vec![
                    found(RegistryRdap, inst("2026-09-14T12:00:00Z")),
                    found(Whois, day("2026-09-14")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((Whois, day("2026-09-14"))),
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "a bare date one calendar day from an instant is no disagreement",
                facts: vec![
                    found(RegistryRdap, inst("2026-09-14T23:00:00Z")),
                    found(Whois, day("2026-09-13")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((Whois, day("2026-09-13"))),
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "a bare date two calendar days from an instant is a disagreement",
                facts: vec![
                    found(RegistryRdap, inst("2026-09-14T00:30:00Z")),
                    found(Whois, day("2026-09-12")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((Whois, day("2026-09-12"))),
                    disagreement: true,
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "instants 25 hours apart disagree",
                facts: vec![
                    found(RegistryRdap, inst("2026-09-14T00:00:00Z")),
                    found(RegistrarRdap, inst("2026-09-15T01:00:00Z")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2026-09-14T00:00:00Z"))),
                    disagreement: true,
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "an expiry only WHOIS publishes makes the TLD WHOIS-only",
                facts: vec![
                    outcome(RegistryRdap, ParseOutcome::NotPublished),
                    found(Whois, day("2026-03-01")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((Whois, day("2026-03-01"))),
                    capability: Capability::WhoisOnly,
                    ..FRESH
                },
            },
            Case {
                rule: "a registered domain without a published expiry has no expiry",
                facts: vec![outcome(Whois, ParseOutcome::NotPublished)],
                manual: None,
                expect: Expect {
                    capability: Capability::NothingPublished,
                    ..FRESH
                },
            },
            Case {
                rule: "the manual date is used while nothing is published",
                facts: vec![outcome(Whois, ParseOutcome::NotPublished)],
                manual: Some(manual("2026-05-01")),
                expect: Expect {
                    expires: Some((Manual, day("2026-05-01"))),
                    capability: Capability::NothingPublished,
                    ..FRESH
                },
            },
            Case {
                rule: "a published date that differs from the manual one wins and is flagged",
                facts: vec![found(RegistryRdap, inst("2027-01-01T00:00:00Z"))],
                manual: Some(manual("2026-05-01")),
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2027-01-01T00:00:00Z"))),
                    capability: Capability::RdapWithExpiry,
                    manual_conflict: true,
                    ..FRESH
                },
            },
            Case {
                rule: "a published date equal to the manual one is no conflict",
                facts: vec![found(RegistryRdap, inst("2026-05-01T10:00:00Z"))],
                manual: Some(manual("2026-05-01")),
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2026-05-01T10:00:00Z"))),
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "every lookup failing without history gives an unknown, stale expiry",
                facts: vec![],
                manual: None,
                expect: Expect {
                    stale: true,
                    ..FRESH
                },
            },
            Case {
                rule: "unparseable and rate-limited replies are failures, not answers",
                facts: vec![
                    outcome(Whois, ParseOutcome::Unparseable),
                    outcome(RegistryRdap, ParseOutcome::RateLimited),
                ],
                manual: None,
                expect: Expect {
                    stale: true,
                    ..FRESH
                },
            },
            Case {
                rule: "a registry that says not found makes the domain not found",
                facts: vec![outcome(RegistryRdap, ParseOutcome::NotFound)],
                manual: None,
                expect: Expect {
                    not_found: true,
                    ..FRESH
                },
            },
            Case {
                rule: "a registrar 404 does not contradict a registry that describes the domain",
                facts: vec![
                    found(RegistryRdap, inst("2026-09-14T04:00:00Z")),
                    outcome(RegistrarRdap, ParseOutcome::NotFound),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2026-09-14T04:00:00Z"))),
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
            Case {
                rule: "an expiry before the creation date is not credible",
                facts: vec![
                    with_created(found(Whois, day("1999-01-01")), day("2005-06-01")),
                    found(RegistryRdap, inst("2026-09-14T04:00:00Z")),
                ],
                manual: None,
                expect: Expect {
                    expires: Some((RegistryRdap, inst("2026-09-14T04:00:00Z"))),
                    capability: Capability::RdapWithExpiry,
                    ..FRESH
                },
            },
        ]
    }

    #[test]
    fn assessment_rules() {
        for case in cases() {
            let got = assess(&case.facts, case.manual.as_ref(), None, now());
            let expires = got.expires.as_ref().map(|d| (d.source, d.date));
            assert_eq!(expires, case.expect.expires, "{}: expires", case.rule);
            assert_eq!(
                got.disagreement.is_some(),
                case.expect.disagreement,
                "{}: disagreement",
                case.rule
            );
            assert_eq!(got.stale, case.expect.stale, "{}: stale", case.rule);
            assert_eq!(
                got.not_found, case.expect.not_found,
                "{}: not_found",
                case.rule
            );
            assert_eq!(
                got.capability, case.expect.capability,
                "{}: capability",
                case.rule
            );
            assert_eq!(
                got.manual_conflict.is_some(),
                case.expect.manual_conflict,
                "{}: manual_conflict",
                case.rule
            );
        }
    }

    #[test]
    fn disagreement_names_earliest_and_latest_with_sources() {
        let got = assess(
            &[
                found(Source::RegistryRdap, inst("2026-09-14T04:00:00Z")),
                found(Source::RegistrarRdap, inst("2027-09-14T04:00:00Z")),
            ],
            None,
            None,
            now(),
        );
        let d = got.disagreement.expect("disagreement");
        assert_eq!(d.earliest.source, Source::RegistryRdap);
        assert_eq!(d.latest.source, Source::RegistrarRdap);
        assert_eq!(
            got.expiry_dates.len(),
            2,
            "registry and registrar dates are both kept"
        );
    }

    #[test]
    fn a_failed_lookup_keeps_the_last_known_facts_marked_stale() {
        let first = assess(
            &[found(Source::RegistryRdap, inst("2026-09-14T04:00:00Z"))],
            None,
            None,
            now(),
        );
        let later = now() + TimeDelta::days(3);
        let failed = assess(
            &[outcome(Source::Whois, ParseOutcome::Unparseable)],
            None,
            Some(&first),
            later,
        );
        assert!(failed.stale);
        assert_eq!(
            failed.expires, first.expires,
            "the last known expiry is kept, not invented"
        );
        assert_eq!(
            failed.confirmed_at,
            Some(now()),
            "confirmed when the source last answered"
        );
        assert_eq!(failed.days_without_fresh_data(later), Some(3));
        assert_eq!(failed.capability, Capability::RdapWithExpiry);
        assert_eq!(failed.facts, first.facts);
    }

    #[test]
    fn a_fresh_answer_replaces_stale_facts() {
        let first = assess(
            &[found(Source::RegistryRdap, inst("2026-09-14T04:00:00Z"))],
            None,
            None,
            now(),
        );
        let renewed = assess(
            &[found(Source::RegistryRdap, inst("2027-09-14T04:00:00Z"))],
            None,
            Some(&first),
            now(),
        );
        assert!(!renewed.stale);
        assert_eq!(
            renewed.expires.map(|d| d.date),
            Some(inst("2027-09-14T04:00:00Z"))
        );
    }

    #[test]
    fn registrar_status_and_nameservers_prefer_the_registry() {
        let mut registry = found(Source::RegistryRdap, inst("2026-09-14T04:00:00Z"));
        registry.facts.status = vec!["clientHold".to_owned()];
        let mut registrar = found(Source::RegistrarRdap, inst("2026-09-14T04:00:00Z"));
        registrar.facts.status = vec!["ok".to_owned()];
        registrar.facts.nameservers = vec!["ns1.example.net".to_owned()];
        let got = assess(&[registrar, registry], None, None, now());
        assert_eq!(got.registrar.as_deref(), Some("registry RDAP registrar"));
        assert_eq!(got.status, vec!["clientHold".to_owned()]);
        assert_eq!(
            got.nameservers,
            vec!["ns1.example.net".to_owned()],
            "gaps are filled from the next source"
        );
    }
}

/// When registration facts are looked up again (issue: "re-fetched by need").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecheckPolicy {
    /// An expiry closer than this (or a worrying status) is re-checked at `near_interval`.
    pub near_days: i64,
    pub near_interval: TimeDelta,
    pub far_interval: TimeDelta,
    /// After a lookup where no source answered: `retry_base * 2^(failures-1)`, at most `retry_cap`.
    pub retry_base: TimeDelta,
    pub retry_cap: TimeDelta,
}

impl Default for RecheckPolicy {
    fn default() -> Self {
        RecheckPolicy {
            near_days: 60,
            near_interval: TimeDelta::days(1),
            far_interval: TimeDelta::days(7),
            retry_base: TimeDelta::minutes(15),
            retry_cap: TimeDelta::days(1),
        }
    }
}

/// EPP statuses that mean the domain is on its way out (an alert of its own).
pub const ALARMING_STATUSES: &[&str] = &[
    "redemptionperiod",
    "pendingdelete",
    "clienthold",
    "serverhold",
];

/// True when a status value (EPP camelCase or RDAP words) is alarming.
pub fn is_alarming_status(status: &str) -> bool {
    let folded: String = status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    ALARMING_STATUSES.contains(&folded.as_str())
}

/// When to look this domain up next. `failures` counts consecutive lookups
/// (this one included) where no source answered.
pub fn next_registration_check(
    assessment: &Assessment,
    failures: u32,
    policy: &RecheckPolicy,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    if assessment.stale {
        let wait = crate::domain::backoff(policy.retry_base, policy.retry_cap, failures);
        return now + wait;
    }
    let near_expiry = assessment.expires.as_ref().is_some_and(|d| {
        let day = d.date.day();
        (day - now.date_naive()).num_days() <= policy.near_days
    });
    let worrying = assessment.not_found || assessment.status.iter().any(|s| is_alarming_status(s));
    if near_expiry || worrying {
        now + policy.near_interval
    } else {
        now + policy.far_interval
    }
}

#[cfg(test)]
mod recheck_tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn assessment(expires: Option<&str>, status: &[&str], stale: bool) -> Assessment {
        let date = expires.map(|e| SourcedDate {
            source: Source::RegistryRdap,
            server: "rdap.test".into(),
            fetched_at: at("2026-11-22T00:00:00Z"),
            date: DateValue::Instant(at(e)),
        });
        Assessment {
            expires: date.clone(),
            expiry_dates: date.into_iter().collect(),
            disagreement: None,
            manual_conflict: None,
            stale,
            confirmed_at: None,
            not_found: false,
            capability: Capability::RdapWithExpiry,
            registrar: None,
            registrar_iana_id: None,
            created: None,
            updated: None,
            status: status.iter().map(|s| (*s).to_owned()).collect(),
            nameservers: vec![],
            facts: vec![],
        }
    }

    #[test]
    fn recheck_interval_follows_expiry_status_and_failures() {
        let now = at("2026-11-22T12:00:00Z");
        let policy = RecheckPolicy::default();
        let cases: &[(&str, Assessment, u32, TimeDelta)] = &[
            (
                "far expiry: weekly",
                assessment(Some("2027-11-22T00:00:00Z"), &[], false),
                0,
                TimeDelta::days(7),
            ),
            (
                "expiry in 30 days: daily",
                assessment(Some("2026-12-22T00:00:00Z"), &[], false),
                0,
                TimeDelta::days(1),
            ),
            (
                "already expired: daily",
                assessment(Some("2026-11-01T00:00:00Z"), &[], false),
                0,
                TimeDelta::days(1),
            ),
            (
                "redemptionPeriod: daily",
                assessment(Some("2027-11-22T00:00:00Z"), &["redemptionPeriod"], false),
                0,
                TimeDelta::days(1),
            ),
            (
                "RDAP words: daily",
                assessment(Some("2027-11-22T00:00:00Z"), &["client hold"], false),
                0,
                TimeDelta::days(1),
            ),
            (
                "first failure: 15 min",
                assessment(None, &[], true),
                1,
                TimeDelta::minutes(15),
            ),
            (
                "third failure: 1 h",
                assessment(None, &[], true),
                3,
                TimeDelta::hours(1),
            ),
            (
                "many failures: capped at a day",
                assessment(None, &[], true),
                30,
                TimeDelta::days(1),
            ),
        ];
        for (name, a, failures, wait) in cases {
            assert_eq!(
                next_registration_check(a, *failures, &policy, now),
                now + *wait,
                "{name}"
            );
        }
    }
}
