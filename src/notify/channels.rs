//! Channels: the posts beside email. Each outbox row of a channel names
//! the channel (`recipient`) and carries a [`ChannelPayload`]; the request
//! is built when the row is delivered, from the channel's configuration
//! (URLs and tokens live only there) and that payload, by the channel's
//! own format:
//!
//! - `teams.rs`: a Teams Workflows webhook, an Adaptive Card in a message;
//! - `telegram.rs`: Bot API `sendMessage`, MarkdownV2 escaped;
//! - `ntfy.rs`: a topic URL, `Title`, `Priority` and `Tags` headers, an
//!   optional bearer token;
//! - `pagerduty.rs`: Events API v2, `trigger` then `resolve` with the same
//!   `dedup_key` (the alert);
//! - `chat.rs`: Slack, Discord, the signed generic webhook.
//!
//! Each answer is judged the same way ([`judge`]): 2xx delivered; 408, 429
//! and 5xx transient, retried after `Retry-After` when the server gives
//! one; any other 4xx permanent, with the status and what the server said
//! kept as the reason (`lapse outbox list`).

mod chat;
mod ntfy;
mod pagerduty;
mod teams;
mod telegram;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::webhook::{http_client, WebhookSetupError, MESSAGE_ID_HEADER};
use super::DeliveryError;
use crate::config::{ChannelConfig, ChannelTarget, Config};
use crate::domain::alert_policy::{Event, Notice};
use crate::domain::routing::Severity;
use crate::notify::templates::{self, Rendered};
use crate::store::OutboxMessage;

pub use telegram::escape_markdown_v2;

/// What a channel post says, stored with the outbox row (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelPayload {
    /// The alert kind (`cert_expiry` ...), `test` for `lapse channels test`.
    pub alert_kind: String,
    /// The ledger's event key (`threshold:7`, `expired`, `resolved` ...).
    pub event: String,
    pub resolved: bool,
    pub severity: Severity,
    /// What it is about: `shop.example.com`, `example.com`, `lapse`.
    pub subject: String,
    pub client: Option<String>,
    /// One line: the message's subject.
    pub title: String,
    /// The whole chat text (Slack, Discord; the outbox shows it).
    pub text: String,
    /// The lines under the title: problems, the command to run.
    pub details: Vec<String>,
    pub days_left: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The generic webhook's body.
    pub generic: serde_json::Value,
}

impl ChannelPayload {
    /// The payload of one notice in `rendered`'s wording (staff's, or the
    /// client's on a client's route).
    pub fn new(notice: &Notice, severity: Severity, rendered: &Rendered, for_staff: bool) -> Self {
        let text = templates::chat_text(notice, rendered);
        let details = text
            .lines()
            .skip(1)
            .map(|l| l.trim_start_matches("- ").to_owned())
            .collect();
        let mut generic = templates::webhook_payload(notice, rendered);
        if !for_staff {
            generic["text"] = serde_json::Value::Null;
        }
        Self {
            alert_kind: notice.kind.as_str().to_owned(),
            event: notice.event.key(),
            resolved: notice.event == Event::Resolved,
            severity,
            subject: notice.subject.clone(),
            client: notice.client.clone(),
            title: rendered.subject.clone(),
            text,
            details,
            days_left: notice.days_left,
            expires_at: notice.expires_at,
            generic,
        }
    }

    /// What `lapse channels test NAME` posts.
    pub fn test(channel: &str) -> Self {
        let title = format!("lapse test message for channel `{channel}`");
        Self {
            alert_kind: "test".into(),
            event: "test".into(),
            resolved: false,
            severity: Severity::Info,
            subject: "lapse".into(),
            client: None,
            text: format!("[lapse test] {title}\n- nothing is wrong; this checks the channel"),
            details: vec!["nothing is wrong; this checks the channel".into()],
            title,
            days_left: None,
            expires_at: None,
            generic: serde_json::json!({ "kind": "test", "event": "test", "subject": "lapse" }),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One HTTP request, built and not yet sent (what the format files return).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ChannelRequest {
    fn json(url: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            url: url.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// What the server answered (`lapse channels test` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelAnswer {
    pub channel: String,
    pub kind: &'static str,
    pub status: u16,
    /// The start of the body, one line.
    pub body: String,
}

/// Why `lapse channels test` could not post.
#[derive(Debug, thiserror::Error)]
pub enum ChannelTestError {
    #[error("no channel named `{0}` (see `lapse channels list`)")]
    Unknown(String),
    #[error("channels: {0}")]
    Setup(#[from] WebhookSetupError),
    #[error("{0}")]
    Delivery(#[from] DeliveryError),
}

/// The HTTP client and the configured channels.
#[derive(Clone)]
pub struct ChannelClient {
    client: reqwest::Client,
    channels: BTreeMap<String, ChannelConfig>,
}

impl std::fmt::Debug for ChannelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelClient")
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ChannelClient {
    /// `None` when no channel is configured. Every channel shares
    /// `webhooks.timeout_secs`.
    pub fn new(config: &Config) -> Result<Option<Self>, WebhookSetupError> {
        let channels: BTreeMap<String, ChannelConfig> = config
            .all_channels()
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        if channels.is_empty() {
            return Ok(None);
        }
        let client = http_client(config.webhooks.timeout, config.tls.extra_ca_pem.as_deref())?;
        Ok(Some(Self { client, channels }))
    }

    /// Delivers one outbox row to the channel it names.
    pub async fn deliver(
        &self,
        message: &OutboxMessage,
        now: DateTime<Utc>,
    ) -> Result<ChannelAnswer, DeliveryError> {
        let Some(channel) = self.channels.get(&message.recipient) else {
            return Err(DeliveryError::permanent(format!(
                "channel `{}` is no longer configured",
                message.recipient
            )));
        };
        let request = match &message.payload {
            Some(json) => {
                let payload: ChannelPayload = serde_json::from_str(json).map_err(|e| {
                    DeliveryError::permanent(format!("unreadable channel payload: {e}"))
                })?;
                let dedup_key = dedup_key(message);
                build(&channel.target, &payload, &dedup_key, now)
            }
            // Queued before payloads: the body is the exact request body.
            None => chat::exact(&channel.target, &message.body_text, now),
        };
        self.send(channel, request, &message.message_id).await
    }

    /// Posts the test payload to `name` at once (no outbox) and returns the
    /// answer, refused or not.
    pub async fn test(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<ChannelAnswer, ChannelTestError> {
        let channel = self
            .channels
            .get(name)
            .ok_or_else(|| ChannelTestError::Unknown(name.to_owned()))?;
        let payload = ChannelPayload::test(name);
        let id = format!("test.{}.{}", name, now.timestamp());
        let request = build(&channel.target, &payload, &id, now);
        match self.send(channel, request, &id).await {
            Ok(answer) => Ok(answer),
            Err(error) => match error.answer.clone() {
                Some(answer) => Ok(answer),
                None => Err(error.into()),
            },
        }
    }

    async fn send(
        &self,
        channel: &ChannelConfig,
        request: ChannelRequest,
        message_id: &str,
    ) -> Result<ChannelAnswer, DeliveryError> {
        let label = label(channel);
        let mut builder = self
            .client
            .post(&request.url)
            .header(MESSAGE_ID_HEADER, message_id)
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        // Never print the URL: channel URLs hold their token.
        let response = builder
            .send()
            .await
            .map_err(|e| DeliveryError::transient(format!("{label}: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        let answer = ChannelAnswer {
            channel: channel.name.clone(),
            kind: channel.target.kind(),
            status,
            body: one_line(&body, 300),
        };
        judge(&label, answer, retry_after.as_deref(), &body)
    }
}

/// The request for one payload, by the channel's format.
pub fn build(
    target: &ChannelTarget,
    payload: &ChannelPayload,
    dedup_key: &str,
    now: DateTime<Utc>,
) -> ChannelRequest {
    match target {
        ChannelTarget::Teams { url } => teams::request(url.expose(), payload),
        ChannelTarget::Telegram {
            api_url,
            bot_token,
            chat_id,
        } => telegram::request(api_url, bot_token.expose(), chat_id, payload),
        ChannelTarget::Ntfy { url, token } => {
            ntfy::request(url.expose(), token.as_ref().map(|t| t.expose()), payload)
        }
        ChannelTarget::PagerDuty {
            events_url,
            routing_key,
        } => pagerduty::request(events_url, routing_key.expose(), dedup_key, payload),
        ChannelTarget::Slack { .. }
        | ChannelTarget::Discord { .. }
        | ChannelTarget::Webhook { .. } => chat::request(target, payload, now),
    }
}

/// PagerDuty's `dedup_key`: the alert, so that its resolution closes the
/// incident its trigger opened (`alert-<id>@<message id domain>`); a
/// message about no alert is its own key.
fn dedup_key(message: &OutboxMessage) -> String {
    match (message.alert_id, message.message_id.rsplit_once('@')) {
        (Some(id), Some((_, domain))) => format!("alert-{id}@{domain}"),
        (Some(id), None) => format!("alert-{id}"),
        (None, _) => message.message_id.clone(),
    }
}

/// How a channel is named in delivery errors: `Slack webhook` for the
/// `[webhooks]` ones (as before), `Teams workflow \`ops\`` for named ones.
fn label(channel: &ChannelConfig) -> String {
    let kind = match channel.target {
        ChannelTarget::Teams { .. } => "Teams workflow",
        ChannelTarget::Telegram { .. } => "Telegram",
        ChannelTarget::Ntfy { .. } => "ntfy",
        ChannelTarget::PagerDuty { .. } => "PagerDuty",
        ChannelTarget::Slack { .. } => "Slack webhook",
        ChannelTarget::Discord { .. } => "Discord webhook",
        ChannelTarget::Webhook { .. } => "webhook",
    };
    if channel.from_webhooks {
        kind.to_owned()
    } else {
        format!("{kind} `{}`", channel.name)
    }
}

/// 2xx: delivered. 408, 429, 5xx: transient, after `Retry-After` (seconds
/// or an HTTP date; Telegram also says `parameters.retry_after` in its
/// body). Any other answer: permanent, with what the server said.
pub fn judge(
    label: &str,
    answer: ChannelAnswer,
    retry_after: Option<&str>,
    body: &str,
) -> Result<ChannelAnswer, DeliveryError> {
    let status = answer.status;
    if (200..300).contains(&status) {
        return Ok(answer);
    }
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let said = server_said(body);
    let mut message = format!("{label} answered HTTP {status} {reason}");
    if !said.is_empty() {
        message.push_str(&format!(": {said}"));
    }
    let mut error = if status == 408 || status == 429 || status >= 500 {
        let wait = retry_after
            .and_then(parse_retry_after)
            .or_else(|| telegram::retry_after(body));
        DeliveryError::transient(message).with_retry_after(wait)
    } else {
        DeliveryError::permanent(message)
    };
    error.answer = Some(answer);
    Err(error)
}

/// `Retry-After: 120` or `Retry-After: <HTTP date>` (then relative to now,
/// the one clock read here: the server's date is absolute).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

/// The error text of a JSON answer (`description`, `message`, `error`,
/// `errors`), else the body's start; one line, no more than 200 characters.
fn server_said(body: &str) -> String {
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            let mut parts = Vec::new();
            for key in ["description", "message", "error"] {
                if let Some(text) = json[key].as_str() {
                    parts.push(text.to_owned());
                }
            }
            if let Some(errors) = json["errors"].as_array() {
                parts.extend(errors.iter().filter_map(|e| e.as_str()).map(str::to_owned));
            }
            (!parts.is_empty()).then(|| parts.join("; "))
        })
        .unwrap_or_else(|| body.to_owned());
    one_line(&said, 200)
}

fn one_line(text: &str, max_chars: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > max_chars {
        let mut cut: String = line.chars().take(max_chars).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

#[cfg(test)]
mod tests;
