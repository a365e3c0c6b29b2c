//! A domain's status, as dashboards filter and count it.
//!
//! Computed from stored facts, the alert thresholds and `now`, in this order
//! (the first that holds wins):
//!
//! | status | when |
//! |---|---|
//! | `expired` | the registration or a current certificate expired before `now` |
//! | `failing` | a current certificate check is critical (invalid chain, name mismatch, ...) or could not be made (unreachable), or the registry says the domain does not exist |
//! | `expiring` | the registration expires within the largest registration threshold, or a certificate within the largest certificate threshold |
//! | `unknown` | nothing is known yet: no registration expiry and no certificate observation |
//! | `ok` | anything else |
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
}

impl DomainStatus {
    pub const ALL: [DomainStatus; 5] = [
        Self::Ok,
        Self::Expiring,
        Self::Expired,
        Self::Failing,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::Failing => "failing",
            Self::Unknown => "unknown",
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
        if matches!(
            facts.certificate_outcome.as_deref(),
            Some("critical" | "unknown")
        ) || facts.registration_outcome.as_deref() == Some("not_found")
        {
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
        if next.is_none() && facts.certificate_outcome.is_none() {
            return Self::Unknown;
        }
        Self::Ok
    }
}

/// The stored facts the status depends on.
#[derive(Debug, Clone, Default)]
pub struct StatusFacts {
    pub registration_expires_at: Option<DateTime<Utc>>,
    pub registration_outcome: Option<String>,
    pub certificate_not_after: Option<DateTime<Utc>>,
    pub certificate_outcome: Option<String>,
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
            registration_outcome: None,
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
        let not_found = StatusFacts {
            registration_outcome: Some("not_found".into()),
            ..StatusFacts::default()
        };
        assert_eq!(
            DomainStatus::of(&not_found, &windows),
            DomainStatus::Failing
        );
    }
}
