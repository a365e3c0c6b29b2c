//! What people did with a subject's alerts, applied to what the rules
//! decided: a maintenance window or a snooze holds notices (an expiry
//! passing meanwhile is told to staff alone), an acknowledgement stops the
//! daily reminders until the next threshold, repeat-until-renewed adds one
//! reminder a day. The rules are `domain::alert_handling`'s; this module
//! reads the facts (`Store::handling_facts`, the firing alert's state and
//! ledger) and renders the messages.

use crate::domain::alert_handling::{
    acknowledgement_holds, hold_expiry, hold_plain, holds, is_reminder, reminder_due, Hold,
};
use crate::domain::alert_policy::{
    calendar_days_left, AlertKind, Event, ExpirySubject, Firing, Transition,
};
use crate::store::{AlertWrite, HandlingFacts};

use super::messages::{expiry_writes, Context};
use super::{staff_only, AlertError, Evaluation};

/// An expiry rule's transitions after handling, and what its messages say
/// of it.
pub(super) struct Handled {
    pub(super) steps: Vec<Transition>,
    hold: Option<Hold>,
    /// Reminders (thresholds, expiry, daily ones) sent before.
    reminders_before: u32,
}

/// The maintenance window holding the subject now, as a hold.
pub(super) fn mute_hold(facts: &HandlingFacts) -> Option<Hold> {
    let mute = facts.mute.as_ref()?;
    Some(Hold::Muted {
        until: mute.until()?,
        reason: mute.reason.clone(),
        by: mute.created_by.clone(),
    })
}

impl Evaluation<'_> {
    /// Applies the mute, the snooze, the acknowledgement and repeat until
    /// renewed to an expiry rule's `steps` about `subject`.
    pub(super) async fn handle_expiry(
        &self,
        steps: Vec<Transition>,
        firing: Option<&Firing>,
        subject: Option<&ExpirySubject>,
    ) -> Result<Handled, AlertError> {
        let resolving = steps
            .iter()
            .any(|s| matches!(s, Transition::Resolve { .. }));
        // The firing alert goes on about the same subject: its snooze, its
        // acknowledgement and its ledger apply.
        let continuing =
            firing.filter(|f| !resolving && subject.is_some_and(|s| s.key == f.subject_key));
        let (state, notices) = match continuing {
            Some(f) => (
                self.store.alert_handling(f.alert_id).await?,
                self.store.alert_notices(f.alert_id).await?,
            ),
            None => Default::default(),
        };
        let snooze = state
            .snoozed_until
            .filter(|until| holds(Some(*until), self.now))
            .map(|until| Hold::Snoozed {
                until,
                by: state.snoozed_by.clone().unwrap_or_default(),
            });
        let hold = mute_hold(&self.handling).or(snooze);
        let mut steps = hold_expiry(steps, hold.as_ref());
        let reminders = || notices.iter().filter(|(event, _)| is_reminder(*event));
        let reminders_before = u32::try_from(reminders().count()).unwrap_or(u32::MAX);
        let notifies = steps.iter().any(|s| matches!(s, Transition::Notify { .. }));
        if let (None, Some(_), Some(subject), false) = (&hold, continuing, subject, notifies) {
            let zone = self.context.zone();
            let day = |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&zone).date_naive();
            let last_day = reminders().map(|(_, at)| day(*at)).max();
            let acknowledged = acknowledgement_holds(state.acknowledged_at, &notices);
            if let Some(event) = reminder_due(
                self.handling.repeat_days,
                calendar_days_left(subject.expires_at, self.now, zone),
                (day(self.now), last_day),
                acknowledged,
            ) {
                steps.push(Transition::Notify {
                    event,
                    subject_key: subject.key.clone(),
                });
            }
        }
        Ok(Handled {
            steps,
            hold,
            reminders_before,
        })
    }

    /// The writes of a handled expiry rule: the staff-only reminder of an
    /// expiry under a hold goes to staff alone, saying what holds it; a
    /// daily reminder says how many came before.
    pub(super) fn handled_writes(
        &self,
        kind: AlertKind,
        handled: &Handled,
        subject: Option<&ExpirySubject>,
    ) -> Result<Vec<AlertWrite>, AlertError> {
        let staff = staff_only(self.context.audience);
        let staff_context = Context {
            audience: &staff,
            ..self.context
        };
        let held = handled.hold.as_ref().map(Hold::describe);
        let mut writes = Vec::new();
        for step in &handled.steps {
            let staff_alone = matches!(
                step,
                Transition::Notify {
                    event: Event::ExpiredHeld,
                    ..
                }
            );
            let context = if staff_alone {
                &staff_context
            } else {
                &self.context
            };
            writes.extend(expiry_writes(
                context,
                kind,
                std::slice::from_ref(step),
                subject,
                self.now,
                |notice| match notice.event {
                    Event::ExpiredHeld => notice.held = held.clone(),
                    Event::Reminder(_) => notice.reminders_before = Some(handled.reminders_before),
                    _ => {}
                },
            )?);
        }
        Ok(writes)
    }

    /// Any other rule's transitions under a maintenance window: held.
    pub(super) fn handle_plain(&self, steps: Vec<Transition>) -> Vec<Transition> {
        hold_plain(steps, mute_hold(&self.handling).is_some())
    }
}
