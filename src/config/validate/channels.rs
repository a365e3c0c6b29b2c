//! `[channels.NAME]`: names, kinds and the keys each kind needs. A secret
//! is never echoed in an error.

use std::collections::BTreeMap;

use super::BadValue;
use crate::config::channels::{PAGERDUTY_EVENTS_URL, TELEGRAM_API_URL};
use crate::config::raw::RawChannel;
use crate::config::{ChannelConfig, ChannelTarget, ConfigError, Secret, CHANNEL_KINDS};

/// Names the legacy `[webhooks]` keys use for their channels.
const WEBHOOK_NAMES: [&str; 3] = ["slack", "discord", "webhook"];

pub(super) fn channels(
    raw: BTreeMap<String, RawChannel>,
    legacy: &[ChannelConfig],
    bad: BadValue<'_>,
) -> Result<BTreeMap<String, ChannelConfig>, ConfigError> {
    let mut channels = BTreeMap::new();
    for (name, raw) in raw {
        let key = |k: &str| format!("channels.{name}.{k}");
        let name_ok = !name.is_empty()
            && name.len() <= 40
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !name_ok {
            return Err(bad(
                &format!("channels.{name}"),
                &name,
                "a channel name of lowercase letters, digits, `_` or `-` (at most 40)",
            ));
        }
        if WEBHOOK_NAMES.contains(&name.as_str()) && legacy.iter().any(|c| c.name == name) {
            return Err(bad(
                &format!("channels.{name}"),
                &name,
                "another name: `[webhooks]` already defines this channel",
            ));
        }
        let target = target(&raw, &name, &key, bad)?;
        channels.insert(
            name.clone(),
            ChannelConfig {
                name,
                target,
                from_webhooks: false,
            },
        );
    }
    Ok(channels)
}

fn target(
    raw: &RawChannel,
    name: &str,
    key: &dyn Fn(&str) -> String,
    bad: BadValue<'_>,
) -> Result<ChannelTarget, ConfigError> {
    let env_name = name.to_ascii_uppercase().replace('-', "_");
    let required = |value: &Option<Secret>, name: &str| -> Result<Secret, ConfigError> {
        match value.as_ref().filter(|s| !s.expose().trim().is_empty()) {
            Some(s) => Ok(Secret::new(s.expose().trim())),
            None => Err(ConfigError::Missing {
                key: key(name),
                why: format!(
                    "a `{}` channel needs it: `{name}`, `{name}_file` or LAPSE_CHANNELS__{env_name}__{}",
                    raw.kind,
                    name.to_ascii_uppercase()
                ),
            }),
        }
    };
    let url = |value: &Option<Secret>, name: &str| -> Result<Secret, ConfigError> {
        let url = required(value, name)?;
        if !is_http(url.expose()) {
            return Err(bad(&key(name), &"[redacted]", "an http:// or https:// URL"));
        }
        Ok(url)
    };
    let plain_url = |value: &Option<String>, name: &str, default: &str| {
        let url = value.as_deref().map(str::trim).unwrap_or(default);
        if is_http(url) {
            Ok(url.trim_end_matches('/').to_owned())
        } else {
            Err(bad(&key(name), &url, "an http:// or https:// URL"))
        }
    };
    let target = match raw.kind.as_str() {
        "teams" => ChannelTarget::Teams {
            url: url(&raw.url, "url")?,
        },
        "telegram" => ChannelTarget::Telegram {
            api_url: plain_url(&raw.api_url, "api_url", TELEGRAM_API_URL)?,
            bot_token: required(&raw.bot_token, "bot_token")?,
            chat_id: chat_id(raw.chat_id.as_ref(), key, bad)?,
        },
        "ntfy" => ChannelTarget::Ntfy {
            url: url(&raw.url, "url")?,
            token: raw.token.clone().filter(|t| !t.expose().trim().is_empty()),
        },
        "pagerduty" => ChannelTarget::PagerDuty {
            events_url: plain_url(&raw.events_url, "events_url", PAGERDUTY_EVENTS_URL)?,
            routing_key: required(&raw.routing_key, "routing_key")?,
        },
        "slack" => ChannelTarget::Slack {
            url: url(&raw.url, "url")?,
        },
        "discord" => ChannelTarget::Discord {
            url: url(&raw.url, "url")?,
        },
        "webhook" => ChannelTarget::Webhook {
            url: url(&raw.url, "url")?,
            secret: required(&raw.secret, "secret")?,
        },
        other => {
            return Err(bad(
                &key("kind"),
                &other,
                &format!("one of {}", CHANNEL_KINDS.join(", ")),
            ))
        }
    };
    Ok(target)
}

fn chat_id(
    value: Option<&toml::Value>,
    key: &dyn Fn(&str) -> String,
    bad: BadValue<'_>,
) -> Result<String, ConfigError> {
    let text = match value {
        Some(toml::Value::Integer(id)) => id.to_string(),
        Some(toml::Value::String(id)) => id.trim().to_owned(),
        Some(other) => return Err(bad(&key("chat_id"), other, "a chat id or @channelname")),
        None => String::new(),
    };
    let numeric = text
        .strip_prefix('-')
        .unwrap_or(&text)
        .chars()
        .all(|c| c.is_ascii_digit());
    let username = text
        .strip_prefix('@')
        .is_some_and(|u| !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if text.is_empty() || !(numeric || username) {
        return Err(bad(
            &key("chat_id"),
            &text,
            "a chat id (-1001234567890) or @channelname",
        ));
    }
    Ok(text)
}

fn is_http(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}
