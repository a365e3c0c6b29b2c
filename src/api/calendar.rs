//! `/api/v1/calendar.ics`: upcoming expiries as an iCalendar feed
//! (RFC 5545) that calendar apps subscribe to. Calendar apps cannot send
//! headers, so the token may be given as `?token=`. Registration events
//! follow the registration's owner and certificate events the endpoint's
//! client: a client token's feed holds the registrations it owns and the
//! certificates of its own endpoints. What is not watched has no event (no
//! certificate of a registration-only domain, no registration of a
//! TLS-only one).
//!
//! Each expiry is an all-day event on its UTC date with a stable UID, so a
//! refreshed feed updates events instead of duplicating them. Text is
//! escaped (`\\`, `;`, `,`, newlines) and lines are folded at 75 octets
//! without splitting a UTF-8 character, with CRLF line ends.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::auth::authenticate;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Params;
use super::ApiState;
use crate::domain::access::Action;
use crate::domain::names::to_unicode;
use crate::store::parse_time;
use crate::store::read_models::CalendarEntry;

/// Upcoming registration and certificate expiries as iCalendar.
#[utoipa::path(get, path = "/api/v1/calendar.ics", tag = "calendar",
    params(("token" = Option<String>, Query, description = "API token, for calendar apps that cannot send an Authorization header")),
    responses((status = 200, content_type = "text/calendar", body = String,
               description = "An RFC 5545 calendar: one all-day event per expiry within `api.calendar_horizon_days`"),
              (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("token_query" = [])))]
pub async fn calendar(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    params.only(&[])?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer
        .or(params.text("token"))
        .ok_or_else(|| ApiError::unauthorized("add your token to the URL as `?token=<token>`"))?;
    let caller = authenticate(&state, token).await?;
    caller.require(Action::Read)?;
    let now = state.now();
    let until = now + Duration::days(i64::from(state.settings.api.calendar_horizon_days));
    // Expiries of the last week stay on the calendar, as reminders of what lapsed.
    let entries = state
        .store
        .calendar_entries(caller.visibility(), now - Duration::days(7), until)
        .await?;
    let body = render(&entries, now);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    Ok(response)
}

/// The whole calendar.
pub fn render(entries: &[CalendarEntry], now: DateTime<Utc>) -> String {
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//lapse//expiry calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:lapse expiries",
    ] {
        push_line(&mut out, line);
    }
    for entry in entries {
        let Some(at) = parse_time(&entry.expires_at) else {
            continue;
        };
        let date: NaiveDate = at.date_naive();
        let next = date.succ_opt().unwrap_or(date);
        let subject = display_subject(&entry.subject);
        let what = if entry.kind == "registration" {
            format!("Registration of {subject} expires")
        } else {
            format!("Certificate of {subject} expires")
        };
        let mut description = format!("{what} at {}.", entry.expires_at);
        if let Some(source) = &entry.source {
            description.push_str(&format!("\nSource: {source}."));
        }
        if let Some(client) = &entry.client {
            description.push_str(&format!("\nClient: {client}."));
        }
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(
            &mut out,
            &format!("UID:{}-{}@lapse", entry.key, date.format("%Y%m%d")),
        );
        push_line(&mut out, &format!("DTSTAMP:{stamp}"));
        push_line(
            &mut out,
            &format!("DTSTART;VALUE=DATE:{}", date.format("%Y%m%d")),
        );
        push_line(
            &mut out,
            &format!("DTEND;VALUE=DATE:{}", next.format("%Y%m%d")),
        );
        push_line(&mut out, &format!("SUMMARY:{}", escape_text(&what)));
        push_line(
            &mut out,
            &format!("DESCRIPTION:{}", escape_text(&description)),
        );
        push_line(&mut out, &format!("CATEGORIES:{}", escape_text(entry.kind)));
        push_line(&mut out, "TRANSP:TRANSPARENT");
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

fn display_subject(subject: &str) -> String {
    match subject.rsplit_once(':') {
        Some((host, port)) => format!("{}:{port}", to_unicode(host)),
        None => to_unicode(subject),
    }
}

/// Escapes a TEXT value (RFC 5545 3.3.11).
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line folded at 75 octets (RFC 5545 3.1): continuation
/// lines start with one space, and a UTF-8 character is never split.
pub fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        // The first line holds 75 octets; continuations 74 after their space.
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        let long = format!("DESCRIPTION:{}", "ü".repeat(60));
        push_line(&mut out, &long);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{long}\r\n"));
    }

    #[test]
    fn events_are_all_day_with_stable_uids() {
        let now = parse_time("2026-03-01T10:00:00Z").unwrap();
        let entries = vec![CalendarEntry {
            key: "registration-7".into(),
            kind: "registration",
            subject: "xn--bcher-kva.de".into(),
            client: Some("Acme, Ltd".into()),
            expires_at: "2026-04-02T23:30:00Z".into(),
            source: Some("registry_rdap".into()),
        }];
        let ics = render(&entries, now);
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{ics}"
        );
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(ics.contains("UID:registration-7-20260402@lapse\r\n"));
        assert!(ics.contains("DTSTART;VALUE=DATE:20260402\r\nDTEND;VALUE=DATE:20260403\r\n"));
        assert!(ics.contains("SUMMARY:Registration of bücher.de expires\r\n"));
        assert!(ics.replace("\r\n ", "").contains("Client: Acme\\, Ltd."));
        assert!(
            !ics.replace("\r\n", "").contains('\n'),
            "bare LF in {ics:?}"
        );
    }
}
