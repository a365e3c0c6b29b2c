//! A domain's status, as dashboards filter and count it.
//!
//! Computed from stored facts, the alert thresholds and `now`, in this order
//! (the first that holds wins):
//!
//! | status | when |
//! |---|---|
//! | `expired` | the registration or a current certificate expired before `now` |
//! | `not_found` | the registration is watched and the registry says the domain does not exist |
//! | `failing` | a current certificate check is critical (invalid chain, name mismatch, ...) or could not be made (unreachable) |
//! | `expiring` | the registration expires within the largest registration threshold, or a certificate within the largest certificate threshold |
//! | `needs_date` | the registration is watched, no expiry is known, the lookup found nothing published and nobody entered a date by hand (`lapse domains set-expiry`) |
//! | `unknown` | nothing is known yet: no registration expiry and no certificate observation |
//! | `ok` | anything else |
//!
//! The facts are the domain's cached columns, which follow its watch mode
//! (no certificate facts for a domain watched for its registration alone,
//! no registration expiry for one watched for its endpoints alone); the
//! registration's outcome and capability stay stored whatever the mode, so
//! the two registration statuses ask for the registration to be watched.
//!
//! The store evaluates the same rules in SQL (so lists can filter and
//! count); [`DomainStatus::of`] is the reference the tests compare it with.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    Ok,
    Expiring,
    Expired,
    Failing,
    Unknown,
    /// Nothing published and no date entered: a person must enter one.
    NeedsDate,
    /// The registry says the domain does not exist.
    NotFound,
}

impl DomainStatus {
    pub const ALL: [DomainStatus; 7] = [
        Self::Ok,
        Self::Expiring,
        Self::Expired,
        Self::Failing,
        Self::Unknown,
        Self::NeedsDate,
        Self::NotFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::Failing => "failing",
            Self::Unknown => "unknown",
            Self::NeedsDate => "needs_date",
            Self::NotFound => "not_found",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The reference rule (see the module docs).
    pub fn of(facts: &StatusFacts, windows: &StatusWindows) -> Self {
        let next = match (facts.registration_expires_at, facts.certificate_not_after) {
            (Some(r), Some(c)) => Some(r.min(c)),
            (r, c) => r.or(c),
        };
        if next.is_some_and(|t| t < windows.now) {
            return Self::Expired;
        }
        if facts.registration_watched && facts.registration_outcome.as_deref() == Some("not_found")
        {
            return Self::NotFound;
        }
        if matches!(
            facts.certificate_outcome.as_deref(),
            Some("critical" | "unknown")
        ) {
            return Self::Failing;
        }
        if facts
            .registration_expires_at
            .is_some_and(|t| t < windows.registration_until)
            || facts
                .certificate_not_after
                .is_some_and(|t| t < windows.certificate_until)
        {
            return Self::Expiring;
        }
        if facts.needs_date() {
            return Self::NeedsDate;
        }
        if next.is_none() && facts.certificate_outcome.is_none() {
            return Self::Unknown;
        }
        Self::Ok
    }
}

/// The stored facts the status depends on.
#[derive(Debug, Clone)]
pub struct StatusFacts {
    /// The domain's watch mode includes the registration.
    pub registration_watched: bool,
    pub registration_expires_at: Option<DateTime<Utc>>,
    /// The last lookup's outcome (`found`, `not_published`, `not_found`, ...).
    pub registration_outcome: Option<String>,
    /// What the registry publishes (`rdap_with_expiry`, `whois_only`,
    /// `nothing_published`, `unknown`).
    pub registration_capability: Option<String>,
    /// A date entered by hand.
    pub manual_expires_at: Option<DateTime<Utc>>,
    pub certificate_not_after: Option<DateTime<Utc>>,
    pub certificate_outcome: Option<String>,
}

impl Default for StatusFacts {
    /// Nothing known about a domain watched for both (today's default).
    fn default() -> Self {
        Self {
            registration_watched: true,
            registration_expires_at: None,
            registration_outcome: None,
            registration_capability: None,
            manual_expires_at: None,
            certificate_not_after: None,
            certificate_outcome: None,
        }
    }
}

impl StatusFacts {
    /// The registration is watched, no expiry is known, the lookup found
    /// nothing published, and no date was entered by hand.
    fn needs_date(&self) -> bool {
        self.registration_watched
            && self.registration_expires_at.is_none()
            && self.manual_expires_at.is_none()
            && (self.registration_outcome.as_deref() == Some("not_published")
                || self.registration_capability.as_deref() == Some("nothing_published"))
    }
}

/// `now` and where "expiring" starts for each kind.
#[derive(Debug, Clone, Copy)]
pub struct StatusWindows {
    pub now: DateTime<Utc>,
    pub registration_until: DateTime<Utc>,
    pub certificate_until: DateTime<Utc>,
}

impl StatusWindows {
    /// Windows from the largest threshold of each kind.
    pub fn new(now: DateTime<Utc>, registration_days: u32, certificate_days: u32) -> Self {
        Self {
            now,
            registration_until: now + Duration::days(i64::from(registration_days)),
            certificate_until: now + Duration::days(i64::from(certificate_days)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> Option<DateTime<Utc>> {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok()?;
        Some(now + Duration::days(days))
    }

    #[test]
    fn status_rules_in_order() {
        let windows = StatusWindows::new(at(0).unwrap(), 60, 30);
        let facts = |reg: Option<i64>, cert: Option<i64>, outcome: Option<&str>| StatusFacts {
            registration_expires_at: reg.and_then(at),
            certificate_not_after: cert.and_then(at),
            certificate_outcome: outcome.map(str::to_owned),
            ..StatusFacts::default()
        };
        let cases = [
            (facts(None, None, None), DomainStatus::Unknown),
            (facts(Some(400), None, None), DomainStatus::Ok),
            (facts(Some(59), None, None), DomainStatus::Expiring),
            (
                facts(Some(400), Some(29), Some("warning")),
                DomainStatus::Expiring,
            ),
            (facts(Some(400), Some(31), Some("ok")), DomainStatus::Ok),
            (
                facts(Some(-1), Some(200), Some("ok")),
                DomainStatus::Expired,
            ),
            (
                facts(Some(400), Some(-2), Some("critical")),
                DomainStatus::Expired,
            ),
            (
                facts(Some(400), Some(200), Some("critical")),
                DomainStatus::Failing,
            ),
            (
                facts(Some(10), None, Some("unknown")),
                DomainStatus::Failing,
            ),
            (facts(None, None, Some("unknown")), DomainStatus::Failing),
        ];
        for (facts, expected) in cases {
            assert_eq!(DomainStatus::of(&facts, &windows), expected, "{facts:?}");
        }
        let registration = |outcome: &str, capability: Option<&str>| StatusFacts {
            registration_outcome: Some(outcome.into()),
            registration_capability: capability.map(str::to_owned),
            ..StatusFacts::default()
        };
        let not_found = registration("not_found", None);
        assert_eq!(
            DomainStatus::of(&not_found, &windows),
            DomainStatus::NotFound
        );
        // Not found outranks a failing certificate, an expired one does not.
        let failing = StatusFacts {
            certificate_outcome: Some("critical".into()),
            certificate_not_after: at(200),
            ..not_found.clone()
        };
        assert_eq!(DomainStatus::of(&failing, &windows), DomainStatus::NotFound);
        let expired = StatusFacts {
            certificate_not_after: at(-1),
            ..failing.clone()
        };
        assert_eq!(DomainStatus::of(&expired, &windows), DomainStatus::Expired);
        // A registration nobody watches is no one's problem.
        let unwatched = StatusFacts {
            registration_watched: false,
            ..not_found.clone()
        };
        assert_eq!(
            DomainStatus::of(&unwatched, &windows),
            DomainStatus::Unknown
        );
    }

    #[test]
    fn a_registration_with_nothing_published_needs_a_date_until_one_is_entered() {
        let windows = StatusWindows::new(at(0).unwrap(), 60, 30);
        let published_nothing = StatusFacts {
            registration_outcome: Some("not_published".into()),
            registration_capability: Some("nothing_published".into()),
            ..StatusFacts::default()
        };
        assert_eq!(
            DomainStatus::of(&published_nothing, &windows),
            DomainStatus::NeedsDate
        );
        // The capability alone says it too (the last lookup failed).
        let capability_only = StatusFacts {
            registration_outcome: Some("failed".into()),
            ..published_nothing.clone()
        };
        assert_eq!(
            DomainStatus::of(&capability_only, &windows),
            DomainStatus::NeedsDate
        );
        // A WHOIS-only registry that said nothing this time is not asked for a date.
        let whois_only = StatusFacts {
            registration_outcome: Some("unparseable".into()),
            registration_capability: Some("whois_only".into()),
            ..StatusFacts::default()
        };
        assert_eq!(
            DomainStatus::of(&whois_only, &windows),
            DomainStatus::Unknown
        );
        // A manual date (and the expiry it sets) clears it.
        let dated = StatusFacts {
            manual_expires_at: at(300),
            registration_expires_at: at(300),
            ..published_nothing.clone()
        };
        assert_eq!(DomainStatus::of(&dated, &windows), DomainStatus::Ok);
        let manual_only = StatusFacts {
            manual_expires_at: at(300),
            ..published_nothing.clone()
        };
        assert_eq!(
            DomainStatus::of(&manual_only, &windows),
            DomainStatus::Unknown
        );
        // Expiring certificates outrank it; a good one does not hide it.
        let expiring = StatusFacts {
            certificate_not_after: at(10),
            certificate_outcome: Some("warning".into()),
            ..published_nothing.clone()
        };
        assert_eq!(
            DomainStatus::of(&expiring, &windows),
            DomainStatus::Expiring
        );
        let good = StatusFacts {
            certificate_not_after: at(200),
            certificate_outcome: Some("ok".into()),
            ..published_nothing.clone()
        };
        assert_eq!(DomainStatus::of(&good, &windows), DomainStatus::NeedsDate);
        // Watched for its endpoints alone: nobody needs the date.
        let tls_only = StatusFacts {
            registration_watched: false,
            ..good
        };
        assert_eq!(DomainStatus::of(&tls_only, &windows), DomainStatus::Ok);
    }

    #[test]
    fn status_names_round_trip() {
        for status in DomainStatus::ALL {
            assert_eq!(DomainStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
    }
}
