//! What people do with alerts, and what it changes: acknowledge, snooze,
//! mute, repeat until renewed, runbooks. Pure rules over the transitions
//! `alert_policy` decided; the caller gathers the facts and `now`.
//!
//! - [`Hold`]: a maintenance window (mute, of a domain or one endpoint) or
//!   a snooze (of one firing alert) holds notices until it ends. The alert
//!   still opens and resolves; what was held is told after the hold ends,
//!   because the rules notify what the ledger does not hold yet
//!   ([`hold_expiry`], [`hold_plain`]). An expiry passing during a hold is
//!   never silent: staff alone hear of it ([`Event::ExpiredHeld`]).
//! - Acknowledged ([`acknowledgement_holds`]): no daily reminders until the
//!   next threshold (a notice recorded after the acknowledgement) or a
//!   change of subject (a new alert).
//! - Repeat until renewed ([`reminder_due`]): in the last N days, one
//!   reminder a day, counted in the recipient's calendar, until the alert
//!   resolves.
//! - [`Runbook`]: who renews and how, per domain, each field defaulting to
//!   the client's.
//!
//! Types: [`Hold`], [`Runbook`]. A notice says what its handling adds in
//! `Notice::reminders_before` and `Notice::held`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::alert_policy::{Event, Transition};

/// Why notices are held now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// A maintenance window of the domain or the endpoint.
    Muted {
        until: DateTime<Utc>,
        reason: String,
        by: String,
    },
    /// The firing alert was snoozed.
    Snoozed { until: DateTime<Utc>, by: String },
}

impl Hold {
    /// One line for staff: what holds the alert, until when, by whom.
    pub fn describe(&self) -> String {
        let day = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        match self {
            Self::Muted { until, reason, by } => {
                format!("muted by {by} until {} ({reason})", day(until))
            }
            Self::Snoozed { until, by } => format!("snoozed by {by} until {}", day(until)),
        }
    }
}

/// Whether a hold ending at `until` holds at `now`.
pub fn holds(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    until.is_some_and(|until| now < until)
}

/// An expiry rule's transitions under `hold`: the alert still opens and
/// resolves, but says nothing (a renewal is told to nobody; the next
/// threshold after the hold is told as usual), except an expiry: staff
/// alone hear of it, once per subject ([`Event::ExpiredHeld`]); everyone
/// hears [`Event::Expired`] once the hold ends.
pub fn hold_expiry(steps: Vec<Transition>, hold: Option<&Hold>) -> Vec<Transition> {
    if hold.is_none() {
        return steps;
    }
    steps
        .into_iter()
        .filter_map(|step| match step {
            Transition::Notify {
                event: Event::Expired,
                subject_key,
            } => Some(Transition::Notify {
                event: Event::ExpiredHeld,
                subject_key,
            }),
            Transition::Notify { .. } => None,
            Transition::Resolve { .. } => Some(Transition::Resolve { notify: false }),
            open @ Transition::Open { .. } => Some(open),
        })
        .collect()
}

/// Any other rule's transitions (check failures, registration problems,
/// stale data, a date to enter) under a mute: nothing opens while muted, so
/// the rule opens and tells after the window as if it had just failed; a
/// resolution is quiet.
pub fn hold_plain(steps: Vec<Transition>, muted: bool) -> Vec<Transition> {
    if !muted {
        return steps;
    }
    steps
        .into_iter()
        .filter_map(|step| match step {
            Transition::Resolve { .. } => Some(Transition::Resolve { notify: false }),
            Transition::Open { .. } | Transition::Notify { .. } => None,
        })
        .collect()
}

/// Whether the notice is a reminder to someone: a threshold, the expiry,
/// a daily reminder (not a resolution, not the staff-only held one).
pub fn is_reminder(event: Event) -> bool {
    matches!(
        event,
        Event::Threshold(_) | Event::Expired | Event::Reminder(_)
    )
}

/// Whether an acknowledgement at `acknowledged_at` still holds: no
/// threshold or expiry was recorded after it (`notices`: the alert's
/// ledger events and when they were written).
pub fn acknowledgement_holds(
    acknowledged_at: Option<DateTime<Utc>>,
    notices: &[(Event, DateTime<Utc>)],
) -> bool {
    let Some(at) = acknowledged_at else {
        return false;
    };
    notices
        .iter()
        .filter(|(event, _)| matches!(event, Event::Threshold(_) | Event::Expired))
        .all(|(_, written)| *written <= at)
}

/// The daily reminder due `today` (the recipient's date), if any: repeat
/// is on (`repeat_days`), at most that many days are left (or the expiry
/// has passed), the alert is not acknowledged, and no reminder was recorded
/// on `today` or later (`last_day`: the day of the latest one, threshold
/// notices included).
pub fn reminder_due(
    repeat_days: Option<u32>,
    days_left: i64,
    (today, last_day): (NaiveDate, Option<NaiveDate>),
    acknowledged: bool,
) -> Option<Event> {
    let window = repeat_days?;
    if acknowledged || days_left > i64::from(window) || last_day.is_some_and(|d| d >= today) {
        return None;
    }
    Some(Event::Reminder(today))
}

/// Who renews and how: staff mail carries it. Each field: the domain's,
/// else its client's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Runbook {
    /// The registrar or DNS account (`Gandi, account acme-web`).
    pub account: Option<String>,
    /// Who renews (`the client's IT`, `agency ops`).
    pub renewer: Option<String>,
    /// How, in free text.
    pub howto: Option<String>,
}

impl Runbook {
    pub fn is_empty(&self) -> bool {
        self.account.is_none() && self.renewer.is_none() && self.howto.is_none()
    }

    /// The domain's fields, each falling back to the client's.
    pub fn or(self, client: Runbook) -> Runbook {
        Runbook {
            account: self.account.or(client.account),
            renewer: self.renewer.or(client.renewer),
            howto: self.howto.or(client.howto),
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

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn notify(event: Event) -> Transition {
        Transition::Notify {
            event,
            subject_key: "k".into(),
        }
    }

    #[test]
    fn a_hold_keeps_the_alert_but_tells_staff_alone_of_an_expiry() {
        let hold = Hold::Snoozed {
            until: at("2026-12-20T00:00:00Z"),
            by: "ann".into(),
        };
        let open = Transition::Open {
            subject_key: "k".into(),
        };
        let steps = vec![open.clone(), notify(Event::Threshold(7))];
        assert_eq!(hold_expiry(steps.clone(), Some(&hold)), vec![open.clone()]);
        assert_eq!(hold_expiry(steps.clone(), None), steps);
        assert_eq!(
            hold_expiry(vec![notify(Event::Expired)], Some(&hold)),
            vec![notify(Event::ExpiredHeld)]
        );
        assert_eq!(
            hold_expiry(vec![Transition::Resolve { notify: true }], Some(&hold)),
            vec![Transition::Resolve { notify: false }]
        );
        assert_eq!(
            hold_plain(vec![open, notify(Event::Failing)], true),
            Vec::new()
        );
    }

    #[test]
    fn an_acknowledgement_ends_at_the_next_threshold() {
        let notices = [(Event::Threshold(14), at("2026-12-01T02:00:00Z"))];
        let ack = Some(at("2026-12-01T09:00:00Z"));
        assert!(acknowledgement_holds(ack, &notices));
        let mut later = notices.to_vec();
        later.push((
            Event::Reminder(day("2026-12-02")),
            at("2026-12-02T02:00:00Z"),
        ));
        assert!(
            acknowledgement_holds(ack, &later),
            "a reminder is no change"
        );
        later.push((Event::Threshold(7), at("2026-12-08T02:00:00Z")));
        assert!(!acknowledgement_holds(ack, &later));
        assert!(!acknowledgement_holds(None, &notices));
    }

    #[test]
    fn one_reminder_a_day_inside_the_window() {
        let today = day("2026-12-05");
        // (repeat days, days left, last reminder day, acknowledged) -> due
        type Case = (Option<u32>, i64, Option<&'static str>, bool, bool);
        let cases: [Case; 7] = [
            (Some(7), 5, Some("2026-12-04"), false, true),
            (Some(7), 5, Some("2026-12-05"), false, false),
            (Some(7), 8, Some("2026-12-04"), false, false),
            (Some(7), -3, Some("2026-12-04"), false, true),
            (Some(7), 5, None, false, true),
            (Some(7), 5, Some("2026-12-04"), true, false),
            (None, 1, Some("2026-12-01"), false, false),
        ];
        for (repeat, left, last, acked, due) in cases {
            let got = reminder_due(repeat, left, (today, last.map(day)), acked);
            assert_eq!(
                got.is_some(),
                due,
                "{repeat:?} {left} {last:?} {acked}: {got:?}"
            );
        }
    }

    #[test]
    fn a_domains_runbook_falls_back_field_by_field_to_its_clients() {
        let domain = Runbook {
            howto: Some("renew at Gandi".into()),
            ..Runbook::default()
        };
        let client = Runbook {
            account: Some("Gandi acme".into()),
            howto: Some("ask Acme".into()),
            ..Runbook::default()
        };
        let merged = domain.or(client);
        assert_eq!(merged.account.as_deref(), Some("Gandi acme"));
        assert_eq!(merged.howto.as_deref(), Some("renew at Gandi"));
        assert!(merged.renewer.is_none());
    }
}
