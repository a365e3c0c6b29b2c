//! The messages of an alert change: each transition the policy decided
//! becomes a write for `Store::apply_alert_changes`, with its notice
//! rendered (`notify::templates`) into an email to the subject's audience,
//! a post to each webhook, and a digest line when staff read a digest.
//! Decides who hears of what; decides nothing about when.

use chrono::{DateTime, Utc};

use super::{AlertError, AlertSettings};
use crate::config::StaffDelivery;
use crate::domain::alert_policy::{
    calendar_days_left as days_left, AlertKind, Event, ExpirySubject, Notice, Transition,
};
use crate::notify::templates;
use crate::store::{AlertWrite, Audience, Channel, Delivery, DigestLine, NewMessage};

/// Who and what: the shared inputs of every message of one subject.
pub(super) struct Context<'a> {
    pub(super) settings: &'a AlertSettings,
    pub(super) audience: &'a Audience,
    pub(super) subject: &'a str,
}

/// [`plain_writes`] for an expiry rule: the notice gives the date and the
/// days left (or since), or the new date after a renewal.
pub(super) fn expiry_writes(
    context: &Context<'_>,
    kind: AlertKind,
    steps: &[Transition],
    subject: Option<&ExpirySubject>,
    now: DateTime<Utc>,
) -> Result<Vec<AlertWrite>, AlertError> {
    let tz = context.settings.timezone;
    plain_writes(context, kind, steps, |event| {
        let mut notice = Notice::new(kind, event, context.subject);
        match event {
            Event::Resolved => notice.renewed_until = subject.map(|s| s.expires_at),
            // Calendar days in the recipient's zone, as the date reads there.
            _ => {
                notice.expires_at = subject.map(|s| s.expires_at);
                notice.days_left = subject.map(|s| days_left(s.expires_at, now, tz));
            }
        }
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
            line: templates::digest_line(&notice, &rendered),
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
