//! PagerDuty Events API v2 (`POST /v2/enqueue`, answered 202): a `trigger`
//! carrying the summary, source, severity and details, with `dedup_key` =
//! the alert; its resolution is a `resolve` with the same key, which
//! closes the incident the trigger opened. A notice that is neither (a
//! test) is a trigger keyed by its message.

use serde_json::json;

use super::{ChannelPayload, ChannelRequest};

/// PagerDuty cuts summaries at 1024 characters.
const MAX_SUMMARY: usize = 1024;

pub(super) fn request(
    events_url: &str,
    routing_key: &str,
    dedup_key: &str,
    payload: &ChannelPayload,
) -> ChannelRequest {
    let body = if payload.resolved {
        json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key
        })
    } else {
        json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "client": "lapse",
            "payload": {
                "summary": payload.title.chars().take(MAX_SUMMARY).collect::<String>(),
                "source": payload.subject,
                "severity": payload.severity.as_str(),
                "class": payload.alert_kind,
                "group": payload.client,
                "custom_details": {
                    "event": payload.event,
                    "client": payload.client,
                    "days_left": payload.days_left,
                    "expires_at": payload.expires_at,
                    "details": payload.details
                }
            }
        })
    };
    ChannelRequest::json(events_url, &body)
}
