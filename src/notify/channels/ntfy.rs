//! ntfy: a plain-text `POST` to the topic URL, with `Title`, `Priority`
//! (5 urgent for critical, 4 high for warning, 3 default otherwise) and
//! `Tags` (shown as emoji) headers, and `Authorization: Bearer <token>`
//! for a protected topic. Header values are ASCII; a title with other
//! characters (an internationalised domain) goes RFC 2047-encoded, which
//! ntfy decodes.

use base64::Engine as _;

use super::{ChannelPayload, ChannelRequest};
use crate::domain::routing::Severity;

pub(super) fn request(url: &str, token: Option<&str>, payload: &ChannelPayload) -> ChannelRequest {
    let (priority, tag) = match (payload.resolved, payload.severity) {
        (true, _) => ("3", "white_check_mark"),
        (false, Severity::Critical) => ("5", "rotating_light"),
        (false, Severity::Warning) => ("4", "warning"),
        (false, Severity::Info) => ("3", "information_source"),
    };
    let mut headers = vec![
        (
            "Content-Type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        ),
        ("Title".to_owned(), header_text(&payload.title)),
        ("Priority".to_owned(), priority.to_owned()),
        ("Tags".to_owned(), format!("{tag},lapse")),
    ];
    if let Some(token) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    let mut body = payload.details.join("\n");
    if let Some(client) = &payload.client {
        body = format!("Client: {client}\n{body}");
    }
    if body.trim().is_empty() {
        body.clone_from(&payload.title);
    }
    ChannelRequest {
        url: url.to_owned(),
        headers,
        body: body.into_bytes(),
    }
}

/// Printable ASCII as is; anything else as `=?UTF-8?B?...?=`.
pub(super) fn header_text(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        text.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
        )
    }
}
