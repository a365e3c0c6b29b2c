//! Certificate observations: compact history per endpoint and address.
//!
//! Recording compares each new result's `result_hash` with the current row
//! for that (endpoint, address): equal -> `last_seen_at` refreshed; different
//! -> the old row stops being current and a new row is added. Addresses no
//! longer served stop being current. "Current state" is the rows with
//! `current = 1`; it never needs a scan of history.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, Store, StoreError};
use crate::domain::names::HostName;
use crate::domain::observation::CertObservation;

/// What one recording did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordSummary {
    pub inserted: u32,
    pub refreshed: u32,
    pub retired: u32,
}

/// A stored observation row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredCertObservation {
    pub address: String,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub current: bool,
    pub outcome: String,
    pub leaf_fingerprint: Option<String>,
    pub leaf_not_after: Option<String>,
    pub chain_not_after: Option<String>,
    pub details: serde_json::Value,
}

impl Store {
    /// The id of a tracked endpoint.
    pub async fn endpoint_id(&self, host: &HostName, port: u16) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT id FROM endpoints WHERE host = ? AND port = ?")
            .bind(host.as_str())
            .bind(i64::from(port))
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("`{}:{port}` is not tracked", host.to_unicode()))
            })
    }

    /// Records one check of an endpoint: every address's result, in one
    /// transaction.
    pub async fn record_cert_observations(
        &self,
        endpoint_id: i64,
        observations: &[CertObservation],
        now: DateTime<Utc>,
    ) -> Result<RecordSummary, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let summary = record_in(&mut tx, endpoint_id, observations, now).await?;
        tx.commit().await?;
        Ok(summary)
    }
}

/// Records one endpoint's observations inside the caller's transaction.
pub(super) async fn record_in(
    tx: &mut sqlx::SqliteConnection,
    endpoint_id: i64,
    observations: &[CertObservation],
    now: DateTime<Utc>,
) -> Result<RecordSummary, StoreError> {
    let now = format_time(now);
    let mut summary = RecordSummary::default();
    {
        for obs in observations {
            let current = sqlx::query(
                "SELECT id, result_hash FROM cert_observations
                 WHERE endpoint_id = ? AND address = ? AND current = 1",
            )
            .bind(endpoint_id)
            .bind(&obs.address)
            .fetch_optional(&mut *tx)
            .await?;
            let details = obs.details.to_string();
            match current {
                Some(row) if row.get::<String, _>("result_hash") == obs.result_hash => {
                    sqlx::query(
                        "UPDATE cert_observations SET last_seen_at = ?, details = ? WHERE id = ?",
                    )
                    .bind(&now)
                    .bind(&details)
                    .bind(row.get::<i64, _>("id"))
                    .execute(&mut *tx)
                    .await?;
                    summary.refreshed += 1;
                }
                previous => {
                    if let Some(row) = previous {
                        sqlx::query("UPDATE cert_observations SET current = 0 WHERE id = ?")
                            .bind(row.get::<i64, _>("id"))
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query(
                        "INSERT INTO cert_observations
                           (endpoint_id, address, first_seen_at, last_seen_at, current, result_hash,
                            outcome, leaf_fingerprint, leaf_not_after, chain_not_after, details)
                         VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(endpoint_id)
                    .bind(&obs.address)
                    .bind(&now)
                    .bind(&now)
                    .bind(&obs.result_hash)
                    .bind(obs.outcome.label().to_ascii_lowercase())
                    .bind(&obs.leaf_fingerprint)
                    .bind(obs.leaf_not_after.map(format_time))
                    .bind(obs.chain_not_after.map(format_time))
                    .bind(&details)
                    .execute(&mut *tx)
                    .await?;
                    summary.inserted += 1;
                }
            }
        }
        // Addresses not in this result are no longer served.
        let current_rows = sqlx::query(
            "SELECT id, address FROM cert_observations WHERE endpoint_id = ? AND current = 1",
        )
        .bind(endpoint_id)
        .fetch_all(&mut *tx)
        .await?;
        for row in current_rows {
            let address: String = row.get("address");
            if !observations.iter().any(|o| o.address == address) {
                sqlx::query("UPDATE cert_observations SET current = 0 WHERE id = ?")
                    .bind(row.get::<i64, _>("id"))
                    .execute(&mut *tx)
                    .await?;
                summary.retired += 1;
            }
        }
    }
    Ok(summary)
}

impl Store {
    /// Observations of an endpoint: only the current ones, or the whole
    /// history (newest first).
    pub async fn cert_observations(
        &self,
        endpoint_id: i64,
        current_only: bool,
    ) -> Result<Vec<StoredCertObservation>, StoreError> {
        let rows = sqlx::query(
            "SELECT address, first_seen_at, last_seen_at, current, outcome, leaf_fingerprint,
                    leaf_not_after, chain_not_after, details
             FROM cert_observations
             WHERE endpoint_id = ? AND (current = 1 OR ? = 0)
             ORDER BY first_seen_at DESC, id DESC",
        )
        .bind(endpoint_id)
        .bind(current_only)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| StoredCertObservation {
                address: r.get("address"),
                first_seen_at: r.get("first_seen_at"),
                last_seen_at: r.get("last_seen_at"),
                current: r.get::<i64, _>("current") == 1,
                outcome: r.get("outcome"),
                leaf_fingerprint: r.get("leaf_fingerprint"),
                leaf_not_after: r.get("leaf_not_after"),
                chain_not_after: r.get("chain_not_after"),
                details: serde_json::from_str(&r.get::<String, _>("details")).unwrap_or_default(),
            })
            .collect())
    }
}
