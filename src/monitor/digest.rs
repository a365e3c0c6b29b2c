//! The staff digest (`alerts.staff_delivery = "digest"`): alert events
//! collect as lines (written with their ledger row); at each `digest_cron`
//! time one email to the staff lists them, grouped by client.
//!
//! The same email ends with the registrations that need a date entered by
//! hand (the registry publishes none, nobody entered one: the status
//! `needs_date`), each with the command that enters it. They are read
//! afresh for every digest, so each digest repeats them until the date is
//! set; a digest with no alert events but dates to enter is still sent.
//! A registration whose "needs a date" alert opened since the last digest
//! is already among the alert events (its line carries the command): this
//! section leaves it out, so the digest names it once; the next digests
//! list it here again until the date is set.
//!
//! A digest is keyed by its cron time (`digests.due_at` is unique), so a
//! restart, a second instance or a catch-up after downtime never sends the
//! same digest twice. A fire time missed while lapse was down is caught up
//! once, at start.

mod clients;

pub use clients::{period_start, run_client_digests, send_client_digests};

use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::alerts::AlertSettings;
use crate::notify::templates::{self, DigestGroup, Rendered, TemplateError};
use crate::store::read_models::DateNeeded;
use crate::store::{parse_time, Channel, NewMessage, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("alerts.digest_cron: {0}")]
    Cron(#[source] cron::error::Error),
}

/// The schedule from `alerts.digest_cron` (validated at start-up).
pub fn schedule(expression: &str) -> Result<cron::Schedule, DigestError> {
    cron::Schedule::from_str(expression).map_err(DigestError::Cron)
}

/// The latest fire time at or before `now` (within the last 400 days).
pub fn previous_fire(schedule: &cron::Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .after(&(now - chrono::Duration::days(400)))
        .take_while(|t| *t <= now)
        .last()
}

/// Builds and queues the digest due at `due_at` from the lines waiting and
/// the registrations that need a date. Returns the queued message ids;
/// `None` when that digest was already written. With nothing to tell the
/// digest is recorded but sends nothing.
pub async fn send_digest(
    store: &Store,
    settings: &AlertSettings,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, DigestError> {
    let entries = store.open_digest_entries().await?;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in &entries {
        groups
            .entry(
                entry
                    .client
                    .clone()
                    .unwrap_or_else(|| "(no client)".to_owned()),
            )
            .or_default()
            .push(entry.line.clone());
    }
    let groups: Vec<DigestGroup> = groups
        .into_iter()
        .map(|(client, lines)| DigestGroup { client, lines })
        .collect();
    let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    let asked = store.domains_asked_for_a_date(&ids).await?;
    let dates: Vec<DateNeeded> = store
        .registrations_needing_date()
        .await?
        .into_iter()
        .filter(|date| !asked.contains(&date.domain))
        .collect();
    let mut messages = Vec::new();
    if (!entries.is_empty() || !dates.is_empty()) && !settings.staff.is_empty() {
        let mut rendered = templates::render_digest(&groups)?;
        add_dates_needed(&mut rendered, &dates);
        messages.push(NewMessage {
            reply_to: None,
            channel: Channel::Email,
            recipient: settings.staff.join(", "),
            cc: None,
            subject: rendered.subject,
            body_text: rendered.text,
            body_html: Some(rendered.html),
        });
    }
    Ok(store
        .write_digest(due_at, &ids, &messages, &settings.message_id_domain, now)
        .await?)
}

/// The line of a registration that needs a date, with the command.
fn date_line(date: &DateNeeded) -> String {
    let client = date
        .client
        .as_deref()
        .map_or(String::new(), |c| format!(" (client {c})"));
    format!(
        "{}{client}: the registry publishes no expiry date; enter it with \
         `lapse domains set-expiry {} YYYY-MM-DD`",
        crate::domain::names::to_unicode(&date.domain),
        date.domain
    )
}

/// Appends the section of registrations that need a date to a rendered
/// digest (before the signature), and says so in the subject.
fn add_dates_needed(rendered: &mut Rendered, dates: &[DateNeeded]) {
    if dates.is_empty() {
        return;
    }
    let heading = format!(
        "Registration dates to enter by hand: {} domain{}",
        dates.len(),
        if dates.len() == 1 { "" } else { "s" }
    );
    let lines: Vec<String> = dates.iter().map(date_line).collect();
    let mut text = format!("{heading}\n");
    for line in &lines {
        text.push_str(&format!("- {line}\n"));
    }
    text.push('\n');
    insert_before(&mut rendered.text, "\n--\n", &format!("\n{text}"));
    let mut html = format!("<h3>{}</h3>\n<ul>", escape_html(&heading));
    for line in &lines {
        html.push_str(&format!("<li>{}</li>", escape_html(line)));
    }
    html.push_str("</ul>\n");
    insert_before(&mut rendered.html, "<hr>", &html);
    rendered.subject.push_str(&format!(
        ", {} registration date{} to enter",
        dates.len(),
        if dates.len() == 1 { "" } else { "s" }
    ));
}

/// Inserts `insert` before the last `marker` in `into` (at the end when
/// the marker is missing).
fn insert_before(into: &mut String, marker: &str, insert: &str) {
    let at = into.rfind(marker).unwrap_or(into.len());
    into.insert_str(at, insert);
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sends digests at the cron times until `shutdown`, catching up a missed
/// one first.
pub async fn run<F>(store: Store, settings: AlertSettings, cron_expression: String, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    tokio::pin!(shutdown);
    let schedule = match schedule(&cron_expression) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "staff digest disabled");
            return;
        }
    };
    loop {
        let now = Utc::now();
        let last = store
            .last_digest_due()
            .await
            .ok()
            .flatten()
            .and_then(|t| parse_time(&t));
        if let Some(due) = previous_fire(&schedule, now) {
            if last.is_none_or(|last| last < due) {
                match send_digest(&store, &settings, due, now).await {
                    Ok(Some(ids)) => {
                        tracing::info!(digest.due_at = %due, messages = ids.len(), "staff digest queued")
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(%error, "staff digest failed; trying at the next time")
                    }
                }
            }
        }
        let Some(next) = schedule.after(&now).next() else {
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_to_enter_go_before_the_signature_with_the_command() {
        let mut rendered = templates::render_digest(&[DigestGroup {
            client: "Acme".into(),
            lines: vec!["Certificate for www.acme.test expires in 7 days".into()],
        }])
        .expect("render");
        add_dates_needed(
            &mut rendered,
            &[DateNeeded {
                domain: "xn--bcher-kva.example".into(),
                client: Some("A<B".into()),
                outcome: Some("not_published".into()),
            }],
        );
        assert_eq!(
            rendered.subject,
            "lapse digest: 1 alert event, 1 registration date to enter"
        );
        let dates = rendered
            .text
            .find("Registration dates to enter by hand: 1 domain\n- bücher.example (client A<B): the registry publishes no expiry date; enter it with `lapse domains set-expiry xn--bcher-kva.example YYYY-MM-DD`\n")
            .expect(&rendered.text);
        assert!(dates > rendered.text.find("Acme").expect("alerts"));
        assert!(dates < rendered.text.rfind("\n--\n").expect("signature"));
        assert!(
            rendered.html.contains("(client A&lt;B)"),
            "{}",
            rendered.html
        );
        assert!(rendered.html.find("Registration dates") < rendered.html.find("<hr>"));
        let mut nothing = rendered.clone();
        add_dates_needed(&mut nothing, &[]);
        assert_eq!(nothing.text, rendered.text);
    }

    #[test]
    fn the_previous_fire_time_is_the_last_one_not_after_now() {
        let schedule = schedule("0 0 7 * * *").expect("cron");
        let now = parse_time("2026-11-22T16:19:00Z").expect("time");
        assert_eq!(
            previous_fire(&schedule, now),
            parse_time("2026-11-22T07:00:00Z")
        );
        let early = parse_time("2026-11-22T06:59:59Z").expect("time");
        assert_eq!(
            previous_fire(&schedule, early),
            parse_time("2026-11-21T07:00:00Z")
        );
    }
}
