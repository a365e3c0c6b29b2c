//! The channels lapse had first: Slack (`{"text"}`), Discord
//! (`{"content"}`, at most 2000 characters) and the generic JSON POST
//! signed with HMAC-SHA256 (`webhook.rs` has the signature).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{ChannelPayload, ChannelRequest};
use crate::config::ChannelTarget;
use crate::notify::webhook::{signature_header, SIGNATURE_HEADER};

/// Discord refuses longer content.
const DISCORD_MAX_CHARS: usize = 2000;

pub(super) fn request(
    target: &ChannelTarget,
    payload: &ChannelPayload,
    now: DateTime<Utc>,
) -> ChannelRequest {
    let body = match target {
        ChannelTarget::Discord { .. } => {
            json!({ "content": payload.text.chars().take(DISCORD_MAX_CHARS).collect::<String>() })
        }
        ChannelTarget::Webhook { .. } => payload.generic.clone(),
        _ => json!({ "text": payload.text }),
    };
    exact(target, &body.to_string(), now)
}

/// `body` as it is, to the channel's URL (signed for the generic webhook).
pub(super) fn exact(target: &ChannelTarget, body: &str, now: DateTime<Utc>) -> ChannelRequest {
    let url = match target {
        ChannelTarget::Slack { url }
        | ChannelTarget::Discord { url }
        | ChannelTarget::Teams { url }
        | ChannelTarget::Ntfy { url, .. }
        | ChannelTarget::Webhook { url, .. } => url.expose().to_owned(),
        ChannelTarget::Telegram { api_url, .. } => api_url.clone(),
        ChannelTarget::PagerDuty { events_url, .. } => events_url.clone(),
    };
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let ChannelTarget::Webhook { secret, .. } = target {
        headers.push((
            SIGNATURE_HEADER.to_owned(),
            signature_header(secret.expose().as_bytes(), now.timestamp(), body.as_bytes()),
        ));
    }
    ChannelRequest {
        url,
        headers,
        body: body.as_bytes().to_vec(),
    }
}
