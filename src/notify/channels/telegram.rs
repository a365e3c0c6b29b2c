//! Telegram: Bot API `sendMessage` (`POST <api>/bot<token>/sendMessage`)
//! to one chat, `parse_mode` MarkdownV2: the title in bold, the client in
//! italics, one bullet per detail line. Every text is escaped
//! ([`escape_markdown_v2`]); link previews are off. Telegram answers 429
//! with `parameters.retry_after` (seconds) in its JSON body.

use std::time::Duration;

use serde_json::json;

use super::{ChannelPayload, ChannelRequest};

/// Telegram refuses longer messages (4096 characters after parsing).
const MAX_CHARS: usize = 4000;

pub(super) fn request(
    api_url: &str,
    bot_token: &str,
    chat_id: &str,
    payload: &ChannelPayload,
) -> ChannelRequest {
    // A numeric id is sent as a number, `@channelname` as text.
    let chat = chat_id
        .parse::<i64>()
        .map_or_else(|_| json!(chat_id), |id| json!(id));
    ChannelRequest::json(
        format!("{api_url}/bot{bot_token}/sendMessage"),
        &json!({
            "chat_id": chat,
            "text": text(payload),
            "parse_mode": "MarkdownV2",
            "link_preview_options": { "is_disabled": true }
        }),
    )
}

/// The message in MarkdownV2.
pub(super) fn text(payload: &ChannelPayload) -> String {
    let mark = if payload.resolved {
        "resolved"
    } else {
        payload.severity.as_str()
    };
    let mut text = format!(
        "*{}*\n{}",
        escape_markdown_v2(&payload.title),
        escape_markdown_v2(&format!("[{mark}]"))
    );
    if let Some(client) = &payload.client {
        text.push_str(&format!(" _{}_", escape_markdown_v2(client)));
    }
    for line in &payload.details {
        let next = format!("\n• {}", escape_markdown_v2(line));
        if text.chars().count() + next.chars().count() > MAX_CHARS {
            text.push_str("\n…");
            break;
        }
        text.push_str(&next);
    }
    text
}

/// MarkdownV2 outside entities: each of `_*[]()~`>#+-=|{}.!` and the
/// backslash itself is preceded by a backslash.
pub fn escape_markdown_v2(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '_' | '*'
                | '['
                | ']'
                | '('
                | ')'
                | '~'
                | '`'
                | '>'
                | '#'
                | '+'
                | '-'
                | '='
                | '|'
                | '{'
                | '}'
                | '.'
                | '!'
                | '\\'
        ) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `{"ok":false,"error_code":429,"parameters":{"retry_after":30}}`.
pub(super) fn retry_after(body: &str) -> Option<Duration> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    json["parameters"]["retry_after"]
        .as_u64()
        .map(Duration::from_secs)
}
