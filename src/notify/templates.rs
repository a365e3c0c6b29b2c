//! Message text from templates (minijinja), compiled into the binary from
//! `src/notify/templates/`: `subject.txt` for one alert event's subject,
//! then two variants of its body: `client_alert.txt` / `.html` for the
//! client (plain words, from the agency: what expires, when, what happens
//! if nothing is done, whom to contact; no addresses, certificate names or
//! commands, and never the client's own name) and `staff_alert.txt` /
//! `.html` for staff (the technical details and the command that helps);
//! `digest.txt` and `digest.html` for the staff digest.
//! HTML templates are auto-escaped. The text is rendered once, when the
//! message is queued, so every retry sends the same bytes.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use minijinja::{context, Environment};
use serde::Serialize;

use crate::config::AgencyConfig;
use crate::domain::alert_policy::{Event, Notice};

/// A rendered email (and the headline that chat channels use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The template set could not render: a bug in a template, never the data.
#[derive(Debug, thiserror::Error)]
#[error("template `{name}` failed: {source}")]
pub struct TemplateError {
    name: &'static str,
    source: minijinja::Error,
}

const TEMPLATES: [(&str, &str); 9] = [
    ("subject.txt", include_str!("templates/subject.txt")),
    ("staff_alert.txt", include_str!("templates/staff_alert.txt")),
    (
        "staff_alert.html",
        include_str!("templates/staff_alert.html"),
    ),
    (
        "client_alert.txt",
        include_str!("templates/client_alert.txt"),
    ),
    (
        "client_alert.html",
        include_str!("templates/client_alert.html"),
    ),
    (
        "client_digest.txt",
        include_str!("templates/client_digest.txt"),
    ),
    (
        "client_digest.html",
        include_str!("templates/client_digest.html"),
    ),
    ("digest.txt", include_str!("templates/digest.txt")),
    ("digest.html", include_str!("templates/digest.html")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and covered by tests.
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(template = name, %error, "built-in template does not parse");
            }
        }
        env
    })
}

fn render(name: &'static str, ctx: &minijinja::Value) -> Result<String, TemplateError> {
    environment()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|source| TemplateError { name, source })
}

/// "in 7 days", "in 1 day", "today", "3 days ago".
pub fn when(days_left: i64) -> String {
    match days_left {
        0 => "today".to_owned(),
        1 => "in 1 day".to_owned(),
        -1 => "1 day ago".to_owned(),
        n if n > 1 => format!("in {n} days"),
        n => format!("{} days ago", -n),
    }
}

/// The calendar date in `zone` (UTC when none), as the day count reads it.
fn date(t: Option<DateTime<Utc>>, zone: Option<chrono_tz::Tz>) -> Option<String> {
    let zone = zone.unwrap_or(chrono_tz::UTC);
    t.map(|t| t.with_timezone(&zone).format("%Y-%m-%d").to_string())
}

fn datetime(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// What staff mail adds to a notice: the technical details of the subject
/// (addresses, certificate names, registry data) and what the commands it
/// names act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffNotes {
    /// One line each, e.g. `127.0.0.1: subject CN=shop.example.com, issuer ...`.
    pub details: Vec<String>,
    /// `host:port` for `lapse check` (certificate notices).
    pub check_target: Option<String>,
    /// The ASCII domain for `lapse whois` and `lapse domains set-expiry`
    /// (registration notices).
    pub domain: Option<String>,
    /// Who renews and how (`lapse domains runbook`): staff mail only.
    pub runbook: crate::domain::alert_handling::Runbook,
}

impl StaffNotes {
    /// The commands that help with a notice of `kind`, in the order to run them.
    fn commands(&self, notice: &Notice) -> Vec<String> {
        use crate::domain::alert_policy::AlertKind as K;
        let mut commands = Vec::new();
        match (notice.kind, &self.check_target, &self.domain) {
            (K::CertExpiry | K::CertCheckFailure, Some(target), _) => {
                commands.push(format!("lapse check {target}"));
            }
            (K::RegistrationExpiry | K::RegistrationProblem, _, Some(domain)) => {
                commands.push(format!("lapse whois {domain}"));
            }
            (K::RegistrationStale, _, Some(domain)) => {
                commands.push(format!("lapse whois {domain}"));
                commands.push(format!("lapse domains set-expiry {domain} YYYY-MM-DD"));
            }
            _ => {}
        }
        if notice.event == Event::Resolved {
            commands.clear();
        }
        commands
    }
}

/// The event as the templates branch on it: a daily reminder reads as its
/// threshold did (or as the expiry, once past); the staff-only reminder of
/// a held expiry as the expiry.
fn shown_event(notice: &Notice) -> String {
    match notice.event {
        Event::Reminder(_) if notice.days_left.is_some_and(|d| d < 0) => "expired".into(),
        Event::ExpiredHeld => "expired".into(),
        other => other.key(),
    }
}

/// The subject line, marked when the notice is a daily reminder or the
/// staff-only one of a held alert.
fn headline(notice: &Notice, subject: &str) -> String {
    let subject = subject.trim();
    match notice.event {
        Event::Reminder(_) => format!("Reminder: {subject}"),
        Event::ExpiredHeld => format!("[staff only, held] {subject}"),
        _ => subject.to_owned(),
    }
}

fn notice_context(notice: &Notice) -> minijinja::Value {
    context! {
        kind => notice.kind,
        event => shown_event(notice),
        reminders_before => notice.reminders_before,
        held => notice.held,
        subject => notice.subject,
        client => notice.client,
        when => notice.days_left.map(when),
        date => date(notice.expires_at, notice.zone),
        datetime => datetime(notice.expires_at),
        renewed_date => date(notice.renewed_until, notice.zone),
        problems => if notice.problems.is_empty() { vec!["check failed".to_owned()] } else { notice.problems.clone() },
        days_without_data => notice.days_without_data,
        checks_total => notice.checks_total,
        checks_failed => notice.checks_failed,
        never_reachable => notice.never_reachable,
        needs_date => notice.needs_date,
    }
}

/// Renders one alert event for staff, without technical notes.
pub fn render_notice(notice: &Notice) -> Result<Rendered, TemplateError> {
    render_staff_notice(notice, &StaffNotes::default())
}

/// Renders one alert event for staff: the client named, the technical
/// details and the commands kept.
pub fn render_staff_notice(notice: &Notice, notes: &StaffNotes) -> Result<Rendered, TemplateError> {
    let base = notice_context(notice);
    let subject = headline(notice, &render("subject.txt", &base)?);
    let ctx = context! {
        headline => subject,
        runbook => (!notes.runbook.is_empty()).then_some(&notes.runbook),
        details => notes.details,
        commands => notes.commands(notice),
        ..base
    };
    Ok(Rendered {
        text: render("staff_alert.txt", &ctx)?,
        html: render("staff_alert.html", &ctx)?,
        subject,
    })
}

/// Renders one alert event for the client: from the agency, in plain
/// words. The client is not named to itself, and nothing technical that
/// the notice carries (problems of a certificate check, commands) is shown
/// beyond the registry's problem lines.
pub fn render_client_notice(
    notice: &Notice,
    agency: &AgencyConfig,
) -> Result<Rendered, TemplateError> {
    let mut notice = notice.clone();
    notice.client = None;
    let base = notice_context(&notice);
    let subject = headline(&notice, &render("subject.txt", &base)?);
    let name = if agency.name.is_empty() {
        "your agency"
    } else {
        agency.name.as_str()
    };
    let footer: Vec<&str> = agency.footer.lines().collect();
    let ctx = context! {
        headline => subject,
        agency => name,
        reply_to => agency.reply_to,
        footer => footer,
        logo_url => agency.logo_url,
        ..base
    };
    Ok(Rendered {
        text: render("client_alert.txt", &ctx)?,
        html: render("client_alert.html", &ctx)?,
        subject,
    })
}

/// Renders a client's digest: one line per event (its subject), from the
/// agency, worded like the client's own mail.
pub fn render_client_digest(
    subjects: &[String],
    agency: &AgencyConfig,
) -> Result<Rendered, TemplateError> {
    let name = if agency.name.is_empty() {
        "your agency"
    } else {
        agency.name.as_str()
    };
    let footer: Vec<&str> = agency.footer.lines().collect();
    let ctx = context! {
        agency => name,
        reply_to => agency.reply_to,
        footer => footer,
        logo_url => agency.logo_url,
        lines => subjects,
    };
    let count = subjects.len();
    let subject = format!(
        "{name}: {count} reminder{} about your websites and domains",
        if count == 1 { "" } else { "s" }
    );
    Ok(Rendered {
        text: render("client_digest.txt", &ctx)?,
        html: render("client_digest.html", &ctx)?,
        subject,
    })
}

/// One client's lines in a digest.
#[derive(Debug, Clone, Serialize)]
pub struct DigestGroup {
    pub client: String,
    pub lines: Vec<String>,
}

/// Renders the staff digest.
pub fn render_digest(groups: &[DigestGroup]) -> Result<Rendered, TemplateError> {
    let total: usize = groups.iter().map(|g| g.lines.len()).sum();
    let ctx = context! { groups => groups, total => total };
    let subject = format!(
        "lapse digest: {total} alert event{}",
        if total == 1 { "" } else { "s" }
    );
    Ok(Rendered {
        text: render("digest.txt", &ctx)?,
        html: render("digest.html", &ctx)?,
        subject,
    })
}

/// The JSON document a generic webhook receives for one event.
pub fn webhook_payload(notice: &Notice, rendered: &Rendered) -> serde_json::Value {
    serde_json::json!({
        "kind": notice.kind,
        "event": notice.event,
        "subject": notice.subject,
        "client": notice.client,
        "expires_at": notice.expires_at,
        "days_left": notice.days_left,
        "renewed_until": notice.renewed_until,
        "problems": notice.problems,
        "never_reachable": notice.never_reachable.is_some(),
        "summary": rendered.subject,
        "text": rendered.text,
    })
}

/// A short chat line for Slack and Discord: the subject, and the problems.
pub fn chat_text(notice: &Notice, rendered: &Rendered) -> String {
    let mark = match notice.event {
        Event::Resolved => "resolved",
        Event::Expired | Event::ExpiredHeld | Event::Failing | Event::Outage => "alert",
        Event::Threshold(_) | Event::Reminder(_) | Event::Stale | Event::NeedsDate => "warning",
    };
    let mut text = format!("[lapse {mark}] {}", rendered.subject);
    if let Some(client) = &notice.client {
        text.push_str(&format!(" (client: {client})"));
    }
    for problem in notice.problems.iter().take(5) {
        text.push_str(&format!("\n- {problem}"));
    }
    if let Some(command) = set_expiry_command(notice) {
        text.push_str(&format!("\n- enter it with `{command}`"));
    }
    text
}

/// A notice's line in the staff digest: the subject, and for a date to
/// enter by hand the command that enters it (the digest has no body to
/// carry it).
pub fn digest_line(notice: &Notice, rendered: &Rendered) -> String {
    match set_expiry_command(notice) {
        Some(command) => format!("{}; enter it with `{command}`", rendered.subject),
        None => rendered.subject.clone(),
    }
}

/// `lapse domains set-expiry DOMAIN YYYY-MM-DD`, while a date is asked for.
fn set_expiry_command(notice: &Notice) -> Option<String> {
    match (&notice.needs_date, notice.event) {
        (Some(domain), Event::NeedsDate) => {
            Some(format!("lapse domains set-expiry {domain} YYYY-MM-DD"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert_policy::AlertKind;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn subject_says_what_and_when() {
        let mut notice = Notice::new(
            AlertKind::CertExpiry,
            Event::Threshold(7),
            "shop.example.com",
        );
        notice.expires_at = Some(at("2026-12-01T10:00:00Z"));
        notice.days_left = Some(7);
        notice.client = Some("Acme <Ltd>".into());
        let rendered = render_notice(&notice).expect("renders");
        assert_eq!(
            rendered.subject,
            "Certificate for shop.example.com expires in 7 days (2026-12-01)"
        );
        assert!(rendered.text.contains("What to do"), "{}", rendered.text);
        assert!(
            rendered.text.contains("Client: Acme <Ltd>"),
            "{}",
            rendered.text
        );
        assert!(
            rendered.html.contains("Acme &lt;Ltd&gt;"),
            "HTML is escaped: {}",
            rendered.html
        );
    }

    #[test]
    fn every_kind_and_event_renders_a_one_line_subject() {
        for kind in AlertKind::ALL {
            for event in [
                Event::Threshold(30),
                Event::Expired,
                Event::Failing,
                Event::Stale,
                Event::Outage,
                Event::NeedsDate,
                Event::Resolved,
            ] {
                let mut notice = Notice::new(kind, event, "example.com");
                notice.expires_at = Some(at("2026-12-01T10:00:00Z"));
                notice.renewed_until = Some(at("2027-12-01T10:00:00Z"));
                notice.days_left = Some(3);
                notice.problems = vec!["connection refused".into()];
                notice.days_without_data = Some(9);
                notice.checks_total = Some(10);
                notice.checks_failed = Some(9);
                let rendered = render_notice(&notice).expect("renders");
                assert!(
                    !rendered.subject.is_empty() && !rendered.subject.contains('\n'),
                    "{kind:?} {event:?}: {:?}",
                    rendered.subject
                );
                assert!(rendered.html.contains("</html>"));
            }
        }
    }

    #[test]
    fn never_reachable_notice_asks_staff_and_names_the_command() {
        let mut notice = Notice::new(
            AlertKind::CertCheckFailure,
            Event::Failing,
            "www.parked.example",
        );
        notice.problems = vec!["DNS: name does not exist (NXDOMAIN)".into()];
        notice.never_reachable = Some("parked.example".into());
        let rendered = render_notice(&notice).expect("renders");
        assert_eq!(
            rendered.subject,
            "www.parked.example never reachable: is there a TLS service here?"
        );
        for body in [&rendered.text, &rendered.html] {
            assert!(
                body.contains("lapse domains watch parked.example registration"),
                "{body}"
            );
            assert!(body.contains("staff only"), "{body}");
        }
        notice.event = Event::Resolved;
        assert_eq!(
            render_notice(&notice).expect("renders").subject,
            "www.parked.example is reachable now: its certificate check passes"
        );
        // Without the mark, the same failure reads as the client's alert.
        notice.never_reachable = None;
        notice.event = Event::Failing;
        assert!(render_notice(&notice)
            .expect("renders")
            .subject
            .starts_with("Certificate check failing for www.parked.example"));
    }

    #[test]
    fn a_registration_needing_a_date_asks_staff_for_it_with_the_command() {
        let mut notice = Notice::new(
            AlertKind::RegistrationNeedsDate,
            Event::NeedsDate,
            "bücher.example",
        );
        notice.needs_date = Some("xn--bcher-kva.example".into());
        notice.client = Some("Acme".into());
        let rendered = render_notice(&notice).expect("renders");
        assert_eq!(
            rendered.subject,
            "Domain bücher.example needs its registration expiry entered by hand"
        );
        let command = "lapse domains set-expiry xn--bcher-kva.example YYYY-MM-DD";
        for body in [&rendered.text, &rendered.html] {
            assert!(body.contains(command), "{body}");
            assert!(body.contains("publishes no expiry"), "{body}");
            assert!(body.contains("staff only"), "{body}");
        }
        assert!(rendered.text.contains("Client: Acme"), "{}", rendered.text);
        assert_eq!(
            digest_line(&notice, &rendered),
            format!("{}; enter it with `{command}`", rendered.subject)
        );
        assert!(
            chat_text(&notice, &rendered).ends_with(&format!("\n- enter it with `{command}`")),
            "{}",
            chat_text(&notice, &rendered)
        );
        // Any other notice's digest line is its subject.
        notice.needs_date = None;
        let rendered = render_notice(&notice).expect("renders");
        assert_eq!(digest_line(&notice, &rendered), rendered.subject);
    }

    #[test]
    fn renewal_notice_gives_the_new_date() {
        let mut notice = Notice::new(AlertKind::CertExpiry, Event::Resolved, "shop.example.com");
        notice.renewed_until = Some(at("2027-03-01T00:00:00Z"));
        let rendered = render_notice(&notice).expect("renders");
        assert_eq!(
            rendered.subject,
            "Certificate for shop.example.com renewed: valid until 2027-03-01"
        );
    }

    #[test]
    fn expired_reads_in_the_past() {
        let mut notice = Notice::new(AlertKind::CertExpiry, Event::Expired, "a.example.com");
        notice.expires_at = Some(at("2026-11-01T00:00:00Z"));
        notice.days_left = Some(-5);
        assert_eq!(
            render_notice(&notice).expect("renders").subject,
            "Certificate for a.example.com expired 5 days ago (2026-11-01)"
        );
    }

    #[test]
    fn digest_groups_lines_by_client() {
        let rendered = render_digest(&[
            DigestGroup {
                client: "Acme".into(),
                lines: vec!["one".into(), "two".into()],
            },
            DigestGroup {
                client: "(no client)".into(),
                lines: vec!["three".into()],
            },
        ])
        .expect("renders");
        assert_eq!(rendered.subject, "lapse digest: 3 alert events");
        assert!(
            rendered.text.contains("Acme\n- one\n- two"),
            "{}",
            rendered.text
        );
    }
}
