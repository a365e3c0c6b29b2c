//! Channel routing, the pure rule: how severe a notice is, which group of
//! events it belongs to, and whether a route attached to staff or to a
//! client wants it. `monitor::alerts::recipients` applies it; the routes
//! themselves are stored (`store::channels`).
//!
//! | event | severity |
//! |---|---|
//! | expired (also held by a snooze or mute), registration problem, outage, 3 days or fewer left (threshold or daily reminder) | critical |
//! | other thresholds and reminders, check failures, stale data, date needed | warning |
//! | resolved | info |
//!
//! A resolution reaches every route that wants its group, whatever the
//! route's minimum severity: a channel that heard of the alert hears that it
//! ended (PagerDuty resolves the incident it opened).

use serde::{Deserialize, Serialize};

use super::alert_policy::{AlertKind, Event};

/// How much a notice matters, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Self; 3] = [Self::Info, Self::Warning, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Of one notice: see the module table.
    pub fn of(kind: AlertKind, event: Event, days_left: Option<i64>) -> Self {
        match event {
            Event::Resolved => Self::Info,
            Event::Expired | Event::ExpiredHeld | Event::Outage => Self::Critical,
            Event::Failing if kind == AlertKind::RegistrationProblem => Self::Critical,
            Event::Threshold(_) | Event::Reminder(_) if days_left.is_some_and(|d| d <= 3) => {
                Self::Critical
            }
            Event::Threshold(_)
            | Event::Reminder(_)
            | Event::Failing
            | Event::Stale
            | Event::NeedsDate => Self::Warning,
        }
    }
}

/// The kinds of events a route can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventGroup {
    /// Certificate and registration expiries.
    Expiry,
    /// Registration status: not found, on hold, redemption, pending delete.
    Status,
    /// Checks that fail: certificate checks, stale registration data, a
    /// date to enter by hand.
    Failures,
    /// lapse's own trouble: most checks of a scan failing at once.
    Lapse,
}

impl EventGroup {
    pub const ALL: [Self; 4] = [Self::Expiry, Self::Status, Self::Failures, Self::Lapse];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expiry => "expiry",
            Self::Status => "status",
            Self::Failures => "failures",
            Self::Lapse => "lapse",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }

    pub fn of(kind: AlertKind) -> Self {
        match kind {
            AlertKind::CertExpiry | AlertKind::RegistrationExpiry => Self::Expiry,
            AlertKind::RegistrationProblem => Self::Status,
            AlertKind::CertCheckFailure
            | AlertKind::RegistrationStale
            | AlertKind::RegistrationNeedsDate => Self::Failures,
            AlertKind::ScanOutage => Self::Lapse,
        }
    }

    /// `expiry,status` -> the groups; `None` on an unknown name.
    pub fn parse_list(text: &str) -> Option<Vec<Self>> {
        let mut groups = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            groups.push(Self::parse(part)?);
        }
        groups.sort_unstable();
        groups.dedup();
        (!groups.is_empty()).then_some(groups)
    }

    pub fn list(groups: &[Self]) -> String {
        groups
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Who a route serves: staff (every subject) or one client (its subjects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "to", content = "client_id")]
pub enum RouteTarget {
    Staff,
    Client(i64),
}

/// A channel attached to staff or to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub channel: String,
    pub target: RouteTarget,
    pub min_severity: Severity,
    pub groups: Vec<EventGroup>,
}

impl Route {
    /// Whether this route posts a notice about a subject of `client_id`
    /// (`None`: nobody's, or a notice kept from the client).
    pub fn wants(
        &self,
        client_id: Option<i64>,
        kind: AlertKind,
        event: Event,
        severity: Severity,
    ) -> bool {
        let whose = match self.target {
            RouteTarget::Staff => true,
            RouteTarget::Client(id) => client_id == Some(id),
        };
        let severe = event == Event::Resolved || severity >= self.min_severity;
        whose && severe && self.groups.contains(&EventGroup::of(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(target: RouteTarget, min: Severity, groups: &[EventGroup]) -> Route {
        Route {
            channel: "ops".into(),
            target,
            min_severity: min,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn a_client_route_wants_only_its_own_clients_notices() {
        let acme = route(RouteTarget::Client(1), Severity::Info, &EventGroup::ALL);
        let event = Event::Threshold(7);
        let warning = Severity::Warning;
        assert!(acme.wants(Some(1), AlertKind::CertExpiry, event, warning));
        assert!(!acme.wants(Some(2), AlertKind::CertExpiry, event, warning));
        assert!(!acme.wants(
            None,
            AlertKind::ScanOutage,
            Event::Outage,
            Severity::Critical
        ));
        let staff = route(RouteTarget::Staff, Severity::Info, &EventGroup::ALL);
        assert!(staff.wants(Some(2), AlertKind::CertExpiry, event, warning));
        assert!(staff.wants(
            None,
            AlertKind::ScanOutage,
            Event::Outage,
            Severity::Critical
        ));
    }

    #[test]
    fn severity_and_groups_filter_but_a_resolution_follows_its_alert() {
        let pager = route(
            RouteTarget::Staff,
            Severity::Critical,
            &[EventGroup::Expiry],
        );
        let cases = [
            (AlertKind::CertExpiry, Event::Threshold(14), Some(14), false),
            (AlertKind::CertExpiry, Event::Threshold(3), Some(3), true),
            (AlertKind::CertExpiry, Event::Expired, None, true),
            (AlertKind::CertExpiry, Event::Resolved, None, true),
            (AlertKind::RegistrationExpiry, Event::Expired, None, true),
            (AlertKind::CertCheckFailure, Event::Failing, None, false),
            (AlertKind::RegistrationProblem, Event::Failing, None, false),
            (AlertKind::ScanOutage, Event::Outage, None, false),
        ];
        for (kind, event, days, expected) in cases {
            let severity = Severity::of(kind, event, days);
            assert_eq!(
                pager.wants(None, kind, event, severity),
                expected,
                "{kind:?} {event:?}"
            );
        }
    }

    #[test]
    fn event_lists_parse_sorted_and_refuse_unknown_names() {
        assert_eq!(
            EventGroup::parse_list("status, expiry,expiry"),
            Some(vec![EventGroup::Expiry, EventGroup::Status])
        );
        assert_eq!(EventGroup::parse_list("expiry,weather"), None);
        assert_eq!(EventGroup::parse_list(""), None);
    }
}
