//! Who hears of what. Clients hear of their own expiries (certificate and
//! registration) and registration problems (not found, hold, redemption,
//! pending delete), in plain words from the agency (`agency.reply_to` as
//! Reply-To). lapse's own trouble and everything technical is staff's
//! alone: failing certificate checks, endpoints never reached, stale
//! registration data, dates to enter by hand, and (to the operator)
//! outages. Staff hear of everything, in their own mail with the technical
//! details and the commands (or on the digest), never as a copy of the
//! client's mail. A client on a daily or weekly digest gets its events
//! there, except the urgent ones ([`urgent`]), which go at once.
//!
//! Channels: a configured channel posts a notice when one of the routes in
//! the audience (staff's, or the subject's client's own) wants it
//! (`domain::routing`), once per channel however many routes want it; the
//! `[webhooks]` channels post every notice, as staff's. A client's route
//! never sees another client's subject: the store loads only the subject's
//! client's routes, and the rule checks the client again. A route attached
//! to a client gets the client's wording for what the client hears of.

use super::{AlertError, AlertSettings};
use crate::config::StaffDelivery;
use crate::config::{ChannelConfig, ChannelTarget};
use crate::domain::alert_policy::{AlertKind, Event, Notice};
use crate::domain::routing::{RouteTarget, Severity};
use crate::notify::channels::ChannelPayload;
use crate::notify::templates::{self, Rendered, StaffNotes};
use crate::store::{
    Audience, Channel, ChannelPost, ClientDigestEntry, Delivery, DeliveryMode, DigestLine,
    NewMessage,
};

/// Who may hear of one subject's notices, and what staff mail adds.
pub(super) struct Who<'a> {
    pub(super) settings: &'a AlertSettings,
    pub(super) audience: &'a Audience,
    pub(super) subject: &'a str,
    pub(super) notes: &'a StaffNotes,
}

/// Whether the client (the subject's owner) hears of this notice at all.
pub(super) fn client_hears(notice: &Notice) -> bool {
    let client_kind = matches!(
        notice.kind,
        AlertKind::CertExpiry | AlertKind::RegistrationExpiry | AlertKind::RegistrationProblem
    );
    client_kind && notice.never_reachable.is_none()
}

/// Sent at once whatever the client chose: an expiry passed, a registration
/// problem (not found, hold, redemption, pending delete), or one day or
/// less left.
pub(super) fn urgent(notice: &Notice) -> bool {
    notice.event == Event::Expired
        || (notice.kind == AlertKind::RegistrationProblem && notice.event != Event::Resolved)
        || notice.days_left.is_some_and(|days| days <= 1) && notice.event != Event::Resolved
}

/// A channel as routing sees it: its name and kind, and whether
/// `[webhooks]` set it (then it posts every notice, as staff's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredChannel {
    pub name: String,
    pub kind: Channel,
    pub every_notice: bool,
}

impl ConfiguredChannel {
    pub fn from_config(config: &ChannelConfig) -> Self {
        let kind = match config.target {
            ChannelTarget::Teams { .. } => Channel::Teams,
            ChannelTarget::Telegram { .. } => Channel::Telegram,
            ChannelTarget::Ntfy { .. } => Channel::Ntfy,
            ChannelTarget::PagerDuty { .. } => Channel::PagerDuty,
            ChannelTarget::Slack { .. } => Channel::Slack,
            ChannelTarget::Discord { .. } => Channel::Discord,
            ChannelTarget::Webhook { .. } => Channel::Webhook,
        };
        Self {
            name: config.name.clone(),
            kind,
            every_notice: config.from_webhooks,
        }
    }
}

fn email(to: &[String], reply_to: Option<String>, rendered: &Rendered) -> NewMessage {
    NewMessage {
        channel: Channel::Email,
        recipient: to.join(", "),
        cc: None,
        reply_to,
        subject: rendered.subject.clone(),
        body_text: rendered.text.clone(),
        body_html: Some(rendered.html.clone()),
    }
}

/// The messages of one notice: the client's mail to its contacts (when the
/// client hears of it), staff's own mail (or a digest line), operator
/// alerts to the operator, and a post to each webhook (staff's wording).
pub(super) fn delivery(
    context: &Who<'_>,
    kind: AlertKind,
    notice: &Notice,
) -> Result<Delivery, AlertError> {
    let settings = context.settings;
    let mut notice = notice.clone();
    notice.client = context.audience.client.clone();
    let staff = templates::render_staff_notice(&notice, context.notes)?;
    let operator = kind == AlertKind::ScanOutage;
    let mut messages = Vec::new();
    let mut client_digest = None;
    let audience = context.audience;
    if !operator && client_hears(&notice) && !audience.contacts.is_empty() {
        let client = templates::render_client_notice(&notice, &settings.agency)?;
        match (audience.client_id, audience.delivery.delivery) {
            (Some(client_id), DeliveryMode::Daily | DeliveryMode::Weekly) if !urgent(&notice) => {
                client_digest = Some(ClientDigestEntry {
                    client_id,
                    subject: client.subject,
                    body_text: client.text,
                });
            }
            _ => messages.push(email(
                &audience.contacts,
                settings.agency.reply_to.clone(),
                &client,
            )),
        }
    }
    let staff_to: &[String] = match (operator, settings.staff_delivery) {
        (true, _) => settings.operator_addresses(),
        (false, StaffDelivery::Copy) => &settings.staff,
        (false, StaffDelivery::Digest) => &[],
    };
    if !staff_to.is_empty() {
        messages.push(email(staff_to, None, &staff));
    }
    let posts = channel_posts(context, &notice, &staff)?;
    let digest =
        (settings.staff_delivery == StaffDelivery::Digest && !operator).then(|| DigestLine {
            client: notice.client.clone(),
            line: templates::digest_line(&notice, &staff),
        });
    if messages.is_empty() && posts.is_empty() && digest.is_none() && client_digest.is_none() {
        tracing::warn!(
            alert.kind = kind.as_str(),
            alert.subject = context.subject,
            "nobody to tell: add contacts to the client or set alerts.staff"
        );
    }
    Ok(Delivery {
        messages,
        posts,
        digest,
        client_digest,
    })
}

/// One post per channel that a route (or `[webhooks]`) wants the notice
/// on: the structured payload the channel's request is built from when it
/// is delivered.
fn channel_posts(
    context: &Who<'_>,
    notice: &Notice,
    staff: &Rendered,
) -> Result<Vec<ChannelPost>, AlertError> {
    let audience = context.audience;
    let severity = Severity::of(notice.kind, notice.event, notice.days_left);
    let mut posts = Vec::new();
    for channel in &context.settings.channels {
        let wanting: Vec<&RouteTarget> = audience
            .routes
            .iter()
            .filter(|r| r.channel == channel.name)
            .filter(|r| r.wants(audience.client_id, notice.kind, notice.event, severity))
            .map(|r| &r.target)
            .collect();
        if wanting.is_empty() && !channel.every_notice {
            continue;
        }
        let for_staff = channel.every_notice || wanting.contains(&&RouteTarget::Staff);
        let rendered = if !for_staff && client_hears(notice) {
            templates::render_client_notice(notice, &context.settings.agency)?
        } else {
            staff.clone()
        };
        let payload = ChannelPayload::new(notice, severity, &rendered, for_staff);
        posts.push(ChannelPost {
            message: NewMessage {
                channel: channel.kind,
                recipient: channel.name.clone(),
                cc: None,
                reply_to: None,
                subject: rendered.subject.clone(),
                body_text: payload.text.clone(),
                body_html: None,
            },
            payload: payload.to_json(),
        });
    }
    Ok(posts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert_policy::Event;

    #[test]
    fn clients_hear_of_expiries_and_registration_problems_only() {
        for kind in AlertKind::ALL {
            let notice = Notice::new(kind, Event::Threshold(7), "example.com");
            let expected = matches!(
                kind,
                AlertKind::CertExpiry
                    | AlertKind::RegistrationExpiry
                    | AlertKind::RegistrationProblem
            );
            assert_eq!(client_hears(&notice), expected, "{kind:?}");
        }
        let mut never = Notice::new(
            AlertKind::CertCheckFailure,
            Event::Failing,
            "www.example.com",
        );
        never.never_reachable = Some("example.com".into());
        assert!(!client_hears(&never));
    }
}
