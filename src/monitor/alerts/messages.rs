//! The messages of an alert change: each transition the policy decided
//! becomes a write for `Store::apply_alert_changes`, with its notice
//! rendered (`notify::templates`) into messages (`recipients` decides who
//! hears of what). Decides nothing about when.

use chrono::{DateTime, Utc};

use super::{recipients, AlertError, AlertSettings};
use crate::domain::alert_policy::{
    calendar_days_left as days_left, AlertKind, Event, ExpirySubject, Notice, Transition,
};
use crate::notify::templates::StaffNotes;
use crate::store::{AlertWrite, Audience};

/// Who and what: the shared inputs of every message of one subject.
pub(super) struct Context<'a> {
    pub(super) settings: &'a AlertSettings,
    pub(super) audience: &'a Audience,
    pub(super) subject: &'a str,
    /// What staff mail adds: the subject's technical details.
    pub(super) notes: &'a StaffNotes,
}

impl Context<'_> {
    /// The zone the recipient counts days in: the client's own, else
    /// `schedule.timezone`.
    pub(super) fn zone(&self) -> chrono_tz::Tz {
        self.audience.delivery.zone(self.settings.timezone)
    }
}

/// [`plain_writes`] for an expiry rule: the notice gives the date and the
/// days left (or since), or the new date after a renewal; `decorate` adds
/// what its handling says (`handling`).
pub(super) fn expiry_writes(
    context: &Context<'_>,
    kind: AlertKind,
    steps: &[Transition],
    subject: Option<&ExpirySubject>,
    now: DateTime<Utc>,
    decorate: impl Fn(&mut Notice),
) -> Result<Vec<AlertWrite>, AlertError> {
    let tz = context.zone();
    plain_writes(context, kind, steps, |event| {
        let mut notice = Notice::new(kind, event, context.subject);
        notice.zone = Some(tz);
        match event {
            Event::Resolved => notice.renewed_until = subject.map(|s| s.expires_at),
            // Calendar days in the recipient's zone, as the date reads there.
            _ => {
                notice.expires_at = subject.map(|s| s.expires_at);
                notice.days_left = subject.map(|s| days_left(s.expires_at, now, tz));
            }
        }
        decorate(&mut notice);
        notice
    })
}

/// Turns transitions into writes, rendering each notice into its messages.
pub(super) fn plain_writes(
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

/// The messages of one notice, to whom `recipients` says.
fn delivery(
    context: &Context<'_>,
    kind: AlertKind,
    notice: &Notice,
) -> Result<crate::store::Delivery, AlertError> {
    let who = recipients::Who {
        settings: context.settings,
        audience: context.audience,
        subject: context.subject,
        notes: context.notes,
    };
    recipients::delivery(&who, kind, notice)
}
