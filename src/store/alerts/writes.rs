//! Writing alerts: [`Store::apply_alert_changes`] writes subjects' streaks,
//! alert transitions, ledger rows, outbox messages and digest lines in ONE
//! transaction, checking first that the state they were decided on is still
//! the stored state; [`end_unwatched_alerts_in`] ends, without a message,
//! what a domain's watch mode leaves out.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{
    firing, AlertChanges, AlertScope, AlertWrite, AppliedChanges, Delivery, NewMessage, Streak,
};
use crate::domain::alert_policy::{AlertKind, Event};
use crate::domain::fleet::Watch;
use crate::store::{format_time, Store, StoreError};

impl Store {
    /// Writes subjects' changes in ONE transaction. `StoreError::Stale`
    /// (nothing written) when a firing alert or a streak changed since it
    /// was read: read again and decide again.
    pub async fn apply_alert_changes(
        &self,
        all_changes: &[AlertChanges],
        now: DateTime<Utc>,
    ) -> Result<AppliedChanges, StoreError> {
        let now_text = format_time(now);
        let mut applied = AppliedChanges::default();
        // IMMEDIATE: take the write lock first, so the checks below see the
        // state this transaction writes over.
        let mut tx = self.write_tx().await?;
        for changes in all_changes {
            apply_one(&mut tx, changes, &now_text, &mut applied).await?;
        }
        tx.commit().await?;
        Ok(applied)
    }
}

/// Ends, without a message, the firing alerts of what `watch` leaves out of
/// domain `domain_id` (its endpoints' certificate alerts when only the
/// registration is watched, its registration alerts when only the endpoints
/// are) and restarts those failure streaks: a change in what the agency
/// watches is no news for the client. Runs in the caller's transaction, the
/// one that changes the watch. Returns the alerts resolved.
pub(crate) async fn end_unwatched_alerts_in(
    tx: &mut sqlx::AnyConnection,
    domain_id: i64,
    watch: Watch,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let now = format_time(now);
    let mut resolved = Vec::new();
    if !watch.tls() {
        resolved.extend(
            sqlx::query_scalar::<_, i64>(
                "UPDATE alerts SET state = 'resolved', resolved_at = $1
                 WHERE domain_id = $2 AND endpoint_id IS NOT NULL AND state = 'firing'
                   AND kind IN ('cert_expiry', 'cert_check_failure')
                 RETURNING id",
            )
            .bind(&now)
            .bind(domain_id)
            .fetch_all(&mut *tx)
            .await?,
        );
        sqlx::query(
            "UPDATE endpoints SET cert_failures = 0 WHERE domain_id = $1 AND cert_failures <> 0",
        )
        .bind(domain_id)
        .execute(&mut *tx)
        .await?;
    }
    if !watch.registration() {
        resolved.extend(
            sqlx::query_scalar::<_, i64>(
                "UPDATE alerts SET state = 'resolved', resolved_at = $1
                 WHERE domain_id = $2 AND endpoint_id IS NULL AND state = 'firing'
                   AND kind IN ('registration_expiry', 'registration_problem',
                                'registration_stale', 'registration_needs_date')
                 RETURNING id",
            )
            .bind(&now)
            .bind(domain_id)
            .fetch_all(&mut *tx)
            .await?,
        );
        sqlx::query("UPDATE domains SET registration_failures = 0 WHERE id = $1")
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
    }
    resolved.sort_unstable();
    Ok(resolved)
}

async fn apply_one(
    tx: &mut sqlx::AnyConnection,
    changes: &AlertChanges,
    now_text: &str,
    applied: &mut AppliedChanges,
) -> Result<(), StoreError> {
    let current = firing(&mut *tx, changes.scope, changes.kind).await?;
    if current.as_ref().map(|f| f.alert_id) != changes.expected_firing {
        return Err(StoreError::Stale(format!(
            "the {} alert changed while it was evaluated",
            changes.kind.as_str()
        )));
    }
    if let Some((new, old)) = &changes.streak {
        write_streak(&mut *tx, changes.scope, changes.kind, new, old).await?;
    }
    let mut alert_id = changes.expected_firing;
    for write in &changes.writes {
        match write {
            AlertWrite::Resolve { delivery } => {
                let Some(id) = alert_id.take() else {
                    continue;
                };
                sqlx::query("UPDATE alerts SET state = 'resolved', resolved_at = $1 WHERE id = $2")
                    .bind(now_text)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                applied.resolved.push(id);
                if let Some(delivery) = delivery {
                    let subject_key: String =
                        sqlx::query_scalar("SELECT subject_key FROM alerts WHERE id = $1")
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                    record(
                        &mut *tx,
                        id,
                        Event::Resolved,
                        &subject_key,
                        delivery,
                        &changes.message_id_domain,
                        now_text,
                        applied,
                    )
                    .await?;
                }
            }
            AlertWrite::Open {
                subject_key,
                details,
            } => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO alerts (domain_id, endpoint_id, kind, subject_key, state, opened_at, details)
                     VALUES ($1, $2, $3, $4, 'firing', $5, $6) RETURNING id",
                )
                .bind(changes.scope.domain_id)
                .bind(changes.scope.endpoint_id)
                .bind(changes.kind.as_str())
                .bind(subject_key)
                .bind(now_text)
                .bind(details.to_string())
                .fetch_one(&mut *tx)
                .await?;
                applied.opened.push(id);
                alert_id = Some(id);
            }
            AlertWrite::Notify {
                event,
                subject_key,
                delivery,
            } => {
                let Some(id) = alert_id else {
                    continue;
                };
                record(
                    &mut *tx,
                    id,
                    *event,
                    subject_key,
                    delivery,
                    &changes.message_id_domain,
                    now_text,
                    applied,
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn write_streak(
    conn: &mut sqlx::AnyConnection,
    scope: AlertScope,
    kind: AlertKind,
    new: &Streak,
    old: &Streak,
) -> Result<(), StoreError> {
    let (sql, id) = match (kind, scope.endpoint_id, scope.domain_id) {
        (AlertKind::CertCheckFailure, Some(endpoint), _) => (
            "UPDATE endpoints SET cert_failures = $1, cert_failures_counted_check = $2,
                    cert_failures_counted_at = $3
             WHERE id = $4 AND cert_failures = $5 AND cert_failures_counted_check IS NOT DISTINCT FROM $6",
            endpoint,
        ),
        (AlertKind::RegistrationProblem, None, Some(domain)) => (
            "UPDATE domains SET registration_failures = $1, registration_failures_counted_check = $2,
                    registration_failures_counted_at = $3
             WHERE id = $4 AND registration_failures = $5
               AND registration_failures_counted_check IS NOT DISTINCT FROM $6",
            domain,
        ),
        _ => return Err(StoreError::NoStreak(kind.as_str())),
    };
    let done = sqlx::query(sql)
        .bind(i64::from(new.failures))
        .bind(new.counted)
        .bind(&new.counted_at)
        .bind(id)
        .bind(i64::from(old.failures))
        .bind(old.counted)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Stale(
            "the failure streak changed while it was evaluated".into(),
        ));
    }
    Ok(())
}

/// Inserts the ledger row; when it is new, queues its messages and digest
/// line. An existing row means this event was already queued: nothing more.
#[expect(clippy::too_many_arguments, reason = "one transaction's context")]
async fn record(
    conn: &mut sqlx::AnyConnection,
    alert_id: i64,
    event: Event,
    subject_key: &str,
    delivery: &Delivery,
    id_domain: &str,
    now: &str,
    applied: &mut AppliedChanges,
) -> Result<(), StoreError> {
    let event_key = event.key();
    let ledger_id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO alert_ledger (alert_id, event, subject_key, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (alert_id, event, subject_key) DO NOTHING RETURNING id",
    )
    .bind(alert_id)
    .bind(&event_key)
    .bind(subject_key)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(ledger_id) = ledger_id else {
        return Ok(());
    };
    applied.events.push(format!("{alert_id}:{event_key}"));
    let posts = delivery
        .posts
        .iter()
        .map(|p| (&p.message, Some(p.payload.as_str())));
    for (message, payload) in delivery.messages.iter().map(|m| (m, None)).chain(posts) {
        let message_id = message_id(ledger_id, &event_key, subject_key, message, now, id_domain);
        sqlx::query(
            "INSERT INTO outbox (message_id, ledger_id, alert_id, channel, recipient, cc, reply_to,
                                 subject, body_text, body_html, payload, state, attempts,
                                 next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', 0, $12, $13)",
        )
        .bind(&message_id)
        .bind(ledger_id)
        .bind(alert_id)
        .bind(message.channel.as_str())
        .bind(&message.recipient)
        .bind(&message.cc)
        .bind(&message.reply_to)
        .bind(&message.subject)
        .bind(&message.body_text)
        .bind(&message.body_html)
        .bind(payload)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        applied.queued.push(message_id);
    }
    if let Some(entry) = &delivery.client_digest {
        sqlx::query(
            "INSERT INTO client_digest_entries (client_id, ledger_id, subject, body_text, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(entry.client_id)
        .bind(ledger_id)
        .bind(&entry.subject)
        .bind(&entry.body_text)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(digest) = &delivery.digest {
        sqlx::query(
            "INSERT INTO digest_entries (ledger_id, client, line, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(ledger_id)
        .bind(&digest.client)
        .bind(&digest.line)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// `<ledger>.<event>.<channel>.<hash>@<domain>`: stable for the message's
/// whole life (it is stored once), unique across installations (the hash
/// covers the subject and the time the ledger row was written).
fn message_id(
    ledger_id: i64,
    event_key: &str,
    subject_key: &str,
    message: &NewMessage,
    now: &str,
    id_domain: &str,
) -> String {
    let hash = Sha256::digest(
        format!(
            "{ledger_id}|{event_key}|{subject_key}|{}|{}|{now}",
            message.channel.as_str(),
            message.recipient
        )
        .as_bytes(),
    );
    format!(
        "{ledger_id}.{}.{}.{}@{id_domain}",
        event_key.replace(':', "-"),
        message.channel.as_str(),
        &hex::encode(hash)[..12]
    )
}
