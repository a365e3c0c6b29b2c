//! The delivery queue and the staff digest.
//!
//! A message moves `pending -> sending -> sent`, or back to `pending` with a
//! later `next_attempt_at` after a transient failure, or to `failed` after a
//! permanent one or too many attempts. With no SMTP configured, email ends
//! in `logged` (written to the log, kept here; `lapse outbox retry --logged`
//! queues it again once SMTP is set up).
//!
//! Claiming is one conditional update (`WHERE state = 'pending'`; on
//! PostgreSQL `FOR UPDATE SKIP LOCKED` in its inner SELECT), so two senders,
//! in one process or in several instances, never take the same row; the
//! row names its sender (`leased_by`, the store's instance). A claimed row
//! carries a lease; a row
//! still `sending` after its lease belongs to a sender that died, and goes
//! back to `pending` ([`Store::reclaim_expired_leases`]). That is
//! at-least-once: a sender killed after the server accepted a message but
//! before `sent` was written sends it again, with the same Message-ID.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::alerts::{Channel, NewMessage};
use super::read_models::{Cursor, Page, ALERT_CLIENT};
use super::{format_time, Dialect, Store, StoreError};
use crate::domain::access::Visibility;

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Sending,
    Sent,
    Failed,
    /// No transport configured: written to the log, kept in the outbox.
    Logged,
}

impl OutboxState {
    pub const ALL: [OutboxState; 5] = [
        Self::Pending,
        Self::Sending,
        Self::Sent,
        Self::Failed,
        Self::Logged,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Logged => "logged",
        }
    }
}

/// A claimed message, ready to deliver.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: i64,
    pub message_id: String,
    pub channel: Option<Channel>,
    pub channel_name: String,
    pub recipient: String,
    pub cc: Option<String>,
    /// Email: the `Reply-To` (client mail: `agency.reply_to`).
    pub reply_to: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    /// Channels: the structured payload (JSON); `None` on email and on
    /// channel messages queued before it existed (their body is exact).
    pub payload: Option<String>,
    /// The alert the message is about (none for digests and tests).
    pub alert_id: Option<i64>,
    /// Including this one.
    pub attempts: u32,
}

/// A message as listed (CLI and API): by id, with what it is about.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxItem {
    pub id: i64,
    /// The id every attempt sends (the email's `Message-ID`).
    pub message_id: String,
    /// `email`, or a channel's kind (`slack`, `discord`, `webhook`, `teams`,
    /// `telegram`, `ntfy`, `pagerduty`; `recipient` names the channel).
    pub channel: String,
    pub recipient: String,
    /// Staff copied on an email, comma-separated.
    pub cc: Option<String>,
    pub subject: String,
    /// `pending`, `sending`, `sent`, `failed` or `logged`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    /// The alert the message is about (none for digests).
    pub alert_id: Option<i64>,
}

/// Filters and paging of the API's outbox list.
#[derive(Debug, Clone, Default)]
pub struct OutboxQuery {
    pub state: Option<OutboxState>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

const OUTBOX_ITEM_COLUMNS: &str = "id, message_id, channel, recipient, cc, subject, state, \
     attempts, next_attempt_at, last_error, created_at, sent_at, alert_id";

fn outbox_item(r: &sqlx::any::AnyRow) -> OutboxItem {
    OutboxItem {
        id: r.get("id"),
        message_id: r.get("message_id"),
        channel: r.get("channel"),
        recipient: r.get("recipient"),
        cc: r.get("cc"),
        subject: r.get("subject"),
        state: r.get("state"),
        attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
        next_attempt_at: r.get("next_attempt_at"),
        last_error: r.get("last_error"),
        created_at: r.get("created_at"),
        sent_at: r.get("sent_at"),
        alert_id: r.get("alert_id"),
    }
}

/// A line waiting for the next staff digest.
#[derive(Debug, Clone)]
pub struct DigestEntry {
    pub id: i64,
    pub client: Option<String>,
    pub line: String,
    pub created_at: String,
}

/// Which messages `retry_messages` requeues.
#[derive(Debug, Clone)]
pub enum RetrySelection {
    /// Every failed message (and logged ones when asked).
    Failed { include_logged: bool },
    /// These message ids, whatever their state except `sent`/`sending`.
    Ids(Vec<String>),
}

impl Store {
    /// The newest `limit` messages queued about the alerts of a domain and
    /// its endpoints (a client: about its own alerts), newest first.
    pub async fn messages_of_domain(
        &self,
        visibility: Visibility,
        domain_id: i64,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let columns = OUTBOX_ITEM_COLUMNS
            .split(", ")
            .map(|c| format!("m.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM alerts a JOIN outbox m ON m.alert_id = a.id
                 LEFT JOIN endpoints e ON e.id = a.endpoint_id
                 LEFT JOIN domains d ON d.id = $1
                 WHERE (a.domain_id = $1
                        OR a.endpoint_id IN (SELECT x.id FROM endpoints x WHERE x.domain_id = $1))
                   AND ($2 IS NULL OR {ALERT_CLIENT} = $2)
                 ORDER BY m.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(domain_id)
            .bind(visibility.client_id())
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(outbox_item).collect())
    }

    /// Puts `sending` rows whose lease ran out back to `pending`: their sender
    /// died. Returns how many.
    pub async fn reclaim_expired_leases(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_until = NULL, leased_by = NULL,
                 last_error = 'sender stopped during delivery; retried'
             WHERE state = 'sending' AND lease_until < $1",
        )
        .bind(format_time(now))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }

    /// Claims up to `limit` due messages for this sender (this store's
    /// instance) until `lease_until`, oldest due first. One statement; on
    /// PostgreSQL its pick skips rows another instance is claiming
    /// (`FOR UPDATE SKIP LOCKED`), so no message goes to two senders.
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        // The pick is a CTE, run once: as an `IN (SELECT .. LIMIT ..)`
        // PostgreSQL may rescan it per row and claim more than the limit.
        const CLAIM: Dialect = Dialect {
            sqlite: "WITH picked AS (
                     SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $3
                     ORDER BY next_attempt_at, id LIMIT $4)
                 UPDATE outbox SET state = 'sending', attempts = attempts + 1,
                     lease_until = $1, leased_by = $2
                 WHERE state = 'pending' AND id IN (SELECT id FROM picked)
                 RETURNING id, message_id, channel, recipient, cc, reply_to, subject, body_text,
                           body_html, payload, alert_id, attempts, next_attempt_at",
            postgres: "WITH picked AS MATERIALIZED (
                     SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $3
                     ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
                 UPDATE outbox SET state = 'sending', attempts = attempts + 1,
                     lease_until = $1, leased_by = $2
                 WHERE state = 'pending' AND id IN (SELECT id FROM picked)
                 RETURNING id, message_id, channel, recipient, cc, reply_to, subject, body_text,
                           body_html, payload, alert_id, attempts, next_attempt_at",
        };
        let mut rows = sqlx::query(CLAIM.of(self.engine()))
            .bind(format_time(lease_until))
            .bind(self.instance())
            .bind(format_time(now))
            .bind(i64::from(limit))
            .fetch_all(self.writer())
            .await?;
        rows.sort_by_key(|r| (r.get::<String, _>("next_attempt_at"), r.get::<i64, _>("id")));
        Ok(rows
            .iter()
            .map(|r| {
                let channel_name: String = r.get("channel");
                OutboxMessage {
                    id: r.get("id"),
                    message_id: r.get("message_id"),
                    channel: Channel::parse(&channel_name),
                    channel_name,
                    recipient: r.get("recipient"),
                    cc: r.get("cc"),
                    reply_to: r.get("reply_to"),
                    subject: r.get("subject"),
                    body_text: r.get("body_text"),
                    body_html: r.get("body_html"),
                    payload: r.get("payload"),
                    alert_id: r.get("alert_id"),
                    attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
                }
            })
            .collect())
    }

    /// Delivered. False when the row was no longer this sender's.
    pub async fn mark_message_sent(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.finish(id, "sent", None, Some(now), None).await
    }

    /// No transport: written to the log.
    pub async fn mark_message_logged(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.finish(id, "logged", None, Some(now), None).await
    }

    /// A transient failure: try again at `next_attempt_at`.
    pub async fn mark_message_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.finish(id, "pending", Some(error), None, Some(next_attempt_at))
            .await
    }

    /// Given up: a permanent failure, or too many attempts.
    pub async fn mark_message_failed(&self, id: i64, error: &str) -> Result<bool, StoreError> {
        self.finish(id, "failed", Some(error), None, None).await
    }

    async fn finish(
        &self,
        id: i64,
        state: &str,
        error: Option<&str>,
        sent_at: Option<DateTime<Utc>>,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = $1, lease_until = NULL, leased_by = NULL,
                 last_error = COALESCE($2, CASE WHEN $3 = 'pending' THEN last_error ELSE NULL END),
                 sent_at = COALESCE($4, sent_at),
                 next_attempt_at = COALESCE($5, next_attempt_at)
             WHERE id = $6 AND state = 'sending' AND (leased_by IS NULL OR leased_by = $7)",
        )
        .bind(state)
        .bind(error)
        .bind(state)
        .bind(sent_at.map(format_time))
        .bind(next_attempt_at.map(format_time))
        .bind(id)
        .bind(self.instance())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When the next pending message is due, if any.
    pub async fn next_message_due(&self) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Messages, newest first, optionally of one state.
    pub async fn list_outbox(
        &self,
        state: Option<OutboxState>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_ITEM_COLUMNS}
             FROM outbox WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
        ))
        .bind(state.map(OutboxState::as_str))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(outbox_item).collect())
    }

    /// Requeues messages for delivery now, attempts reset. Returns the ids
    /// requeued; named ids that cannot be requeued are `NotFound`/`Conflict`.
    pub async fn retry_messages(
        &self,
        selection: &RetrySelection,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let now = format_time(now);
        let mut tx = self.write_tx().await?;
        let requeued = match selection {
            RetrySelection::Failed { include_logged } => {
                sqlx::query_scalar(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1
                     WHERE state = 'failed' OR ($2 AND state = 'logged') RETURNING message_id",
                )
                .bind(&now)
                .bind(include_logged)
                .fetch_all(&mut *tx)
                .await?
            }
            RetrySelection::Ids(ids) => {
                let mut requeued = Vec::new();
                for id in ids {
                    let state: Option<String> =
                        sqlx::query_scalar("SELECT state FROM outbox WHERE message_id = $1")
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match state.as_deref() {
                        None => {
                            return Err(StoreError::NotFound(format!(
                                "no message `{id}` in the outbox (see `lapse outbox list`)"
                            )))
                        }
                        Some("sent" | "sending") => {
                            return Err(StoreError::Conflict(format!(
                                "message `{id}` is {}; only pending, failed or logged messages can be retried",
                                state.unwrap_or_default()
                            )))
                        }
                        Some(_) => {}
                    }
                    sqlx::query(
                        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1
                         WHERE message_id = $2",
                    )
                    .bind(&now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    requeued.push(id.clone());
                }
                requeued
            }
        };
        tx.commit().await?;
        Ok(requeued)
    }

    /// A page of messages, newest first (keyset on the id), optionally of
    /// one state.
    pub async fn outbox_page(&self, query: &OutboxQuery) -> Result<Page<OutboxItem>, StoreError> {
        let state = query.state.map(OutboxState::as_str);
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE ($1 IS NULL OR state = $1)")
                .bind(state)
                .fetch_one(self.pool())
                .await?;
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_ITEM_COLUMNS} FROM outbox
             WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(state)
        .bind(query.cursor.as_ref().map(|c| c.id))
        .bind(i64::from(query.limit) + 1)
        .fetch_all(self.pool())
        .await?;
        let limit = query.limit as usize;
        let next_cursor = (rows.len() > limit)
            .then(|| rows.get(limit.saturating_sub(1)))
            .flatten()
            .map(|last| {
                Cursor {
                    key: String::new(),
                    id: last.get("id"),
                }
                .encode()
            });
        Ok(Page {
            items: rows.iter().take(limit).map(outbox_item).collect(),
            total,
            next_cursor,
        })
    }

    /// Requeues one message by id for delivery now, attempts reset, as
    /// `lapse outbox retry` does. `NotFound` for an unknown id, `Conflict`
    /// for a message that is `sent` or being sent.
    pub async fn retry_message(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<OutboxItem, StoreError> {
        let mut tx = self.write_tx().await?;
        let found: Option<(String, String)> =
            sqlx::query_as("SELECT message_id, state FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((message_id, state)) = found else {
            return Err(StoreError::NotFound(format!(
                "no message #{id} in the outbox"
            )));
        };
        if matches!(state.as_str(), "sent" | "sending") {
            return Err(StoreError::Conflict(format!(
                "message `{message_id}` is {state}; only pending, failed or logged messages can be retried"
            )));
        }
        let row = sqlx::query(&format!(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1
             WHERE id = $2 RETURNING {OUTBOX_ITEM_COLUMNS}"
        ))
        .bind(format_time(now))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(outbox_item(&row))
    }

    /// Counts of messages by state.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(self.pool())
                .await?;
        Ok(rows.iter().map(|r| (r.get("state"), r.get("n"))).collect())
    }

    /// Lines not yet sent in a digest, oldest first.
    pub async fn open_digest_entries(&self) -> Result<Vec<DigestEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, client, line, created_at FROM digest_entries
             WHERE digest_id IS NULL ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| DigestEntry {
                id: r.get("id"),
                client: r.get("client"),
                line: r.get("line"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// The latest digest's due time.
    pub async fn last_digest_due(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MAX(due_at) FROM digests")
            .fetch_one(self.pool())
            .await?)
    }

    /// Records the digest due at `due_at` with its entries and queues its
    /// messages, in one transaction. `None` when that digest already exists
    /// (another instance or an earlier run sent it).
    pub async fn write_digest(
        &self,
        due_at: DateTime<Utc>,
        entry_ids: &[i64],
        messages: &[NewMessage],
        id_domain: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let due = format_time(due_at);
        let now = format_time(now);
        let mut tx = self.write_tx().await?;
        let digest_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO digests (due_at, created_at, entries) VALUES ($1, $2, $3)
             ON CONFLICT (due_at) DO NOTHING RETURNING id",
        )
        .bind(&due)
        .bind(&now)
        .bind(i64::try_from(entry_ids.len()).unwrap_or(i64::MAX))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(digest_id) = digest_id else {
            return Ok(None);
        };
        for id in entry_ids {
            sqlx::query(
                "UPDATE digest_entries SET digest_id = $1 WHERE id = $2 AND digest_id IS NULL",
            )
            .bind(digest_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let mut queued = Vec::new();
        for message in messages {
            let hash = Sha256::digest(format!("{due}|{}", message.recipient).as_bytes());
            let message_id = format!(
                "digest.{}.{}@{id_domain}",
                due.replace([':', '-'], ""),
                &hex::encode(hash)[..12]
            );
            sqlx::query(
                "INSERT INTO outbox (message_id, channel, recipient, cc, subject, body_text,
                                     body_html, state, attempts, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $9)",
            )
            .bind(&message_id)
            .bind(message.channel.as_str())
            .bind(&message.recipient)
            .bind(&message.cc)
            .bind(&message.subject)
            .bind(&message.body_text)
            .bind(&message.body_html)
            .bind(&now)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            queued.push(message_id);
        }
        tx.commit().await?;
        Ok(Some(queued))
    }
}
