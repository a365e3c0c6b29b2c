//! Microsoft Teams through a Workflows webhook ("When a Teams webhook
//! request is received"): a `message` whose one attachment is an Adaptive
//! Card (`application/vnd.microsoft.card.adaptive`). Workflows accept
//! Adaptive Cards only, not the older connector MessageCard. The card: the
//! title in bold (coloured by severity), facts (severity, client, expiry),
//! then one text block per detail line.

use serde_json::{json, Value};

use super::{ChannelPayload, ChannelRequest};
use crate::domain::routing::Severity;

pub(super) fn request(url: &str, payload: &ChannelPayload) -> ChannelRequest {
    ChannelRequest::json(url, &message(payload))
}

pub(super) fn message(payload: &ChannelPayload) -> Value {
    let color = match (payload.resolved, payload.severity) {
        (true, _) => "Good",
        (false, Severity::Critical) => "Attention",
        (false, Severity::Warning) => "Warning",
        (false, Severity::Info) => "Default",
    };
    let mut facts = vec![json!({ "title": "Severity", "value": severity_word(payload) })];
    if let Some(client) = &payload.client {
        facts.push(json!({ "title": "Client", "value": client }));
    }
    if let Some(expires) = payload.expires_at {
        facts.push(json!({ "title": "Expires", "value": expires.format("%Y-%m-%d %H:%M UTC").to_string() }));
    }
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": payload.title,
            "weight": "Bolder",
            "size": "Medium",
            "color": color,
            "wrap": true
        }),
        json!({ "type": "FactSet", "facts": facts }),
    ];
    for line in &payload.details {
        body.push(json!({ "type": "TextBlock", "text": line, "wrap": true, "spacing": "Small" }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

fn severity_word(payload: &ChannelPayload) -> &'static str {
    if payload.resolved {
        "resolved"
    } else {
        payload.severity.as_str()
    }
}
