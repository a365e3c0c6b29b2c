//! Named channels (`[channels.NAME]`): where alert events are posted
//! besides email. Each has a kind and the keys that kind needs; every URL,
//! token and key is a [`Secret`] (from the file, `KEY_file`, or
//! `LAPSE_CHANNELS__NAME__KEY`), never printed and never stored in the
//! database. The outbox names a channel; the request is built from this
//! configuration when the message is delivered.
//!
//! The older `[webhooks]` keys still work: each URL set there is a channel
//! named `slack`, `discord` or `webhook`, attached to staff for every event
//! ([`ChannelConfig::from_webhooks`]).

use serde::Serialize;

use super::{Secret, WebhooksConfig};

/// The keys of a channel table that hold secrets (`KEY_file` accepted).
pub const CHANNEL_SECRET_KEYS: &[&str] = &["url", "bot_token", "token", "routing_key", "secret"];

/// The Telegram Bot API's address, unless `api_url` says otherwise.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// PagerDuty's Events API v2 endpoint, unless `events_url` says otherwise.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// One configured channel.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelConfig {
    #[serde(skip)]
    pub name: String,
    #[serde(flatten)]
    pub target: ChannelTarget,
    /// Set by `[webhooks]`: attached to staff for every event, whatever
    /// the routes say.
    #[serde(skip)]
    pub from_webhooks: bool,
}

/// What each kind needs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelTarget {
    /// A Microsoft Teams Workflows webhook ("Post to a channel when a
    /// webhook request is received"): an Adaptive Card.
    Teams { url: Secret },
    /// Telegram Bot API `sendMessage` to one chat, MarkdownV2.
    Telegram {
        api_url: String,
        bot_token: Secret,
        chat_id: String,
    },
    /// An ntfy topic URL; `token` is sent as `Authorization: Bearer`.
    Ntfy { url: Secret, token: Option<Secret> },
    /// PagerDuty Events API v2: trigger, then resolve with the same key.
    #[serde(rename = "pagerduty")]
    PagerDuty {
        events_url: String,
        routing_key: Secret,
    },
    /// A Slack incoming webhook.
    Slack { url: Secret },
    /// A Discord webhook.
    Discord { url: Secret },
    /// A generic JSON POST signed with HMAC-SHA256.
    Webhook { url: Secret, secret: Secret },
}

/// The kinds by name, as `kind = "..."` spells them.
pub const CHANNEL_KINDS: [&str; 7] = [
    "teams",
    "telegram",
    "ntfy",
    "pagerduty",
    "slack",
    "discord",
    "webhook",
];

impl ChannelTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Teams { .. } => "teams",
            Self::Telegram { .. } => "telegram",
            Self::Ntfy { .. } => "ntfy",
            Self::PagerDuty { .. } => "pagerduty",
            Self::Slack { .. } => "slack",
            Self::Discord { .. } => "discord",
            Self::Webhook { .. } => "webhook",
        }
    }
}

impl ChannelConfig {
    /// The channels `[webhooks]` sets, named after their kind.
    pub fn from_webhooks(webhooks: &WebhooksConfig) -> Vec<Self> {
        let legacy = |name: &str, target| Self {
            name: name.to_owned(),
            target,
            from_webhooks: true,
        };
        let mut channels = Vec::new();
        if let Some(url) = &webhooks.slack_url {
            channels.push(legacy("slack", ChannelTarget::Slack { url: url.clone() }));
        }
        if let Some(url) = &webhooks.discord_url {
            channels.push(legacy(
                "discord",
                ChannelTarget::Discord { url: url.clone() },
            ));
        }
        if let (Some(url), Some(secret)) = (&webhooks.url, &webhooks.secret) {
            channels.push(legacy(
                "webhook",
                ChannelTarget::Webhook {
                    url: Secret::new(url.clone()),
                    secret: secret.clone(),
                },
            ));
        }
        channels
    }
}
