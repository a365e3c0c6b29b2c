//! The staff digest (`alerts.staff_delivery = "digest"`): alert events
//! collect as lines (written with their ledger row); at each `digest_cron`
//! time one email to the staff lists them, grouped by client.
//!
//! A digest is keyed by its cron time (`digests.due_at` is unique), so a
//! restart, a second instance or a catch-up after downtime never sends the
//! same digest twice. A fire time missed while lapse was down is caught up
//! once, at start.

use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::alerts::AlertSettings;
use crate::notify::templates::{self, DigestGroup, TemplateError};
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

/// Builds and queues the digest due at `due_at` from the lines waiting.
/// Returns the queued message ids; `None` when that digest was already
/// written. With no lines waiting the digest is recorded but sends nothing.
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
    let mut messages = Vec::new();
    if !entries.is_empty() && !settings.staff.is_empty() {
        let rendered = templates::render_digest(&groups)?;
        messages.push(NewMessage {
            channel: Channel::Email,
            recipient: settings.staff.join(", "),
            cc: None,
            subject: rendered.subject,
            body_text: rendered.text,
            body_html: Some(rendered.html),
        });
    }
    let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    Ok(store
        .write_digest(due_at, &ids, &messages, &settings.message_id_domain, now)
        .await?)
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
