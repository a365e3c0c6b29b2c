//! How each client hears of its alerts (`clients.delivery`, migration
//! 0303), and the client events waiting for a client's digest.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, Store, StoreError};

/// At once, or one digest a day or a week.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    Immediate,
    Daily,
    Weekly,
}

impl DeliveryMode {
    pub const NAMES: [&'static str; 3] = ["immediate", "daily", "weekly"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "immediate" => Some(Self::Immediate),
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            _ => None,
        }
    }
}

/// The weekday names `digest_weekday` holds, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A client's delivery settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientDelivery {
    /// IANA time zone; `None`: `schedule.timezone`.
    pub timezone: Option<String>,
    pub delivery: DeliveryMode,
    /// The hour (0-23, the client's time) digests go out.
    pub digest_hour: u8,
    /// `mon` .. `sun`: the day weekly digests go out.
    pub digest_weekday: String,
}

impl Default for ClientDelivery {
    fn default() -> Self {
        Self {
            timezone: None,
            delivery: DeliveryMode::Immediate,
            digest_hour: 8,
            digest_weekday: "mon".to_owned(),
        }
    }
}

/// A change to a client's delivery settings; `None` keeps the value.
/// `timezone: Some(None)` goes back to `schedule.timezone`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryChange {
    pub timezone: Option<Option<String>>,
    pub delivery: Option<DeliveryMode>,
    pub digest_hour: Option<u8>,
    pub digest_weekday: Option<String>,
}

/// A client on a digest, with what its digest needs.
#[derive(Debug, Clone)]
pub struct DigestClient {
    pub client_id: i64,
    pub contacts: Vec<String>,
    pub delivery: ClientDelivery,
}

/// A client event waiting for its digest.
#[derive(Debug, Clone)]
pub struct WaitingEntry {
    pub id: i64,
    pub subject: String,
    pub body_text: String,
}

pub(super) fn delivery_from_row(row: &sqlx::any::AnyRow) -> ClientDelivery {
    ClientDelivery {
        timezone: row.get("timezone"),
        delivery: DeliveryMode::parse(row.get::<&str, _>("delivery"))
            .unwrap_or(DeliveryMode::Immediate),
        digest_hour: u8::try_from(row.get::<i64, _>("digest_hour")).unwrap_or(8),
        digest_weekday: row.get("digest_weekday"),
    }
}

impl ClientDelivery {
    /// The zone this client's days are counted in: its own, else `default`
    /// (`schedule.timezone`). A stored name that no longer parses falls back
    /// too (names are validated when set).
    pub fn zone(&self, default: chrono_tz::Tz) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(default)
    }
}

/// The client `c`'s contacts, comma-separated, in the order they were added.
const CONTACT_LIST: super::Dialect = super::Dialect {
    sqlite: "(SELECT group_concat(email, ',') FROM
                 (SELECT email FROM contacts WHERE client_id = c.id ORDER BY id))",
    postgres: "(SELECT string_agg(email, ',' ORDER BY id) FROM contacts WHERE client_id = c.id)",
};

impl Store {
    /// Every zone clients count their days in, besides the default: what a
    /// filter that must not miss any client's due day checks.
    pub async fn client_zones(&self) -> Result<Vec<chrono_tz::Tz>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT timezone FROM clients WHERE timezone IS NOT NULL")
                .fetch_all(self.pool())
                .await?;
        Ok(names.iter().filter_map(|z| z.parse().ok()).collect())
    }

    /// A client's delivery settings, by name.
    pub async fn client_delivery(&self, name: &str) -> Result<ClientDelivery, StoreError> {
        let row = sqlx::query(
            "SELECT timezone, delivery, digest_hour, digest_weekday FROM clients WHERE name = $1",
        )
        .bind(name.trim())
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NoSuchClient(name.trim().to_owned()))?;
        Ok(delivery_from_row(&row))
    }

    /// Changes a client's delivery settings (validated by the caller: an
    /// IANA zone, an hour 0-23, a weekday of [`WEEKDAYS`]) and returns them.
    pub async fn set_client_delivery(
        &self,
        name: &str,
        change: &DeliveryChange,
    ) -> Result<ClientDelivery, StoreError> {
        if change.digest_hour.is_some_and(|h| h > 23) {
            return Err(StoreError::Invalid("digest hour: 0 to 23".into()));
        }
        if let Some(day) = &change.digest_weekday {
            if !WEEKDAYS.contains(&day.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "digest weekday `{day}`: one of {}",
                    WEEKDAYS.join(", ")
                )));
            }
        }
        let mut tx = self.write_tx().await?;
        let id = self.client_id(&mut tx, name).await?;
        sqlx::query(
            "UPDATE clients SET
                timezone = CASE WHEN $1 THEN $2 ELSE timezone END,
                delivery = COALESCE($3, delivery),
                digest_hour = COALESCE($4, digest_hour),
                digest_weekday = COALESCE($5, digest_weekday)
             WHERE id = $6",
        )
        .bind(change.timezone.is_some())
        .bind(change.timezone.clone().flatten())
        .bind(change.delivery.map(DeliveryMode::as_str))
        .bind(change.digest_hour.map(i64::from))
        .bind(&change.digest_weekday)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.client_delivery(name).await
    }

    /// Clients on a daily or weekly digest with events waiting.
    pub async fn clients_with_waiting_digest(&self) -> Result<Vec<DigestClient>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT c.id, c.timezone, c.delivery, c.digest_hour, c.digest_weekday,
                    {} AS contacts
             FROM clients c
             WHERE EXISTS (SELECT 1 FROM client_digest_entries e
                           WHERE e.client_id = c.id AND e.message_id IS NULL)
             ORDER BY c.id",
            CONTACT_LIST.of(self.engine())
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| DigestClient {
                client_id: r.get("id"),
                contacts: r
                    .get::<Option<String>, _>("contacts")
                    .map(|c| c.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
                delivery: delivery_from_row(r),
            })
            .collect())
    }

    /// A client's events written before `before` and not yet in a digest.
    pub async fn waiting_digest_entries(
        &self,
        client_id: i64,
        before: DateTime<Utc>,
    ) -> Result<Vec<WaitingEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, subject, body_text FROM client_digest_entries
             WHERE client_id = $1 AND message_id IS NULL AND created_at < $2 ORDER BY id",
        )
        .bind(client_id)
        .bind(format_time(before))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| WaitingEntry {
                id: r.get("id"),
                subject: r.get("subject"),
                body_text: r.get("body_text"),
            })
            .collect())
    }

    /// Queues a client's digest under its stable `message_id` and marks the
    /// entries it carries, in one transaction. A digest already queued under
    /// that id queues nothing again: `false`.
    pub async fn queue_client_digest(
        &self,
        message: &super::NewMessage,
        message_id: &str,
        entries: &[i64],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = format_time(now);
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO outbox (message_id, channel, recipient, cc, reply_to, subject, body_text,
                                 body_html, state, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $10)
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(message_id)
        .bind(message.channel.as_str())
        .bind(&message.recipient)
        .bind(&message.cc)
        .bind(&message.reply_to)
        .bind(&message.subject)
        .bind(&message.body_text)
        .bind(&message.body_html)
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        for id in entries {
            sqlx::query(
                "UPDATE client_digest_entries SET message_id = $1 WHERE id = $2 AND message_id IS NULL",
            )
            .bind(message_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }
}
