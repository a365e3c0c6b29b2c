//! Certificate observations: compact history per endpoint and address.
//!
//! Recording compares each new result's `result_hash` with the current row
//! for that (endpoint, address): equal -> `last_seen_at` refreshed; different
//! -> the old row stops being current and a new row is added. Addresses no
//! longer served stop being current. "Current state" is the rows with
//! `current = 1`; it never needs a scan of history. The first result with a
//! leaf certificate (a completed handshake) stamps the endpoint's
//! `first_handshake_at`, once: an endpoint never reached is told to staff
//! as such, not mailed to its client.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, Dialect, Engine, Store, StoreError};
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
        sqlx::query_scalar("SELECT id FROM endpoints WHERE host = $1 AND port = $2")
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
        let mut tx = self.write_tx().await?;
        let summary = record_in(&mut tx, endpoint_id, observations, now).await?;
        tx.commit().await?;
        Ok(summary)
    }
}

/// Observations sent to SQLite per statement when recording a batch.
const OBSERVATIONS_PER_STATEMENT: usize = 50;

/// Records one endpoint's observations inside the caller's transaction.
pub(super) async fn record_in(
    tx: &mut sqlx::AnyConnection,
    endpoint_id: i64,
    observations: &[CertObservation],
    now: DateTime<Utc>,
) -> Result<RecordSummary, StoreError> {
    record_batch_in(tx, &[(endpoint_id, observations)], now, Numbering::Here).await
}

/// Who adds one to `endpoints.cert_checks` for the checks recorded: the
/// recording itself, or its caller, in the statement that writes the rest
/// of the endpoint's state (one new row version per endpoint, not two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Numbering {
    Here,
    ByCaller,
}

/// Records the observations of many endpoints inside the caller's
/// transaction, set-based: the batch goes to SQLite as JSON parameters
/// into a temporary table, and a handful of statements compare, refresh,
/// retire and insert for the whole batch. Endpoints removed meanwhile are
/// skipped. Only inside a transaction: on PostgreSQL the batch's table
/// empties at each commit, so in autocommit it would be empty again before
/// the statements that read it.
pub(super) async fn record_batch_in(
    tx: &mut sqlx::AnyConnection,
    batch: &[(i64, &[CertObservation])],
    now: DateTime<Utc>,
    numbering: Numbering,
) -> Result<RecordSummary, StoreError> {
    if batch.is_empty() {
        return Ok(RecordSummary::default());
    }
    let now = format_time(now);
    let ids =
        serde_json::Value::from(batch.iter().map(|(id, _)| *id).collect::<Vec<_>>()).to_string();
    load_observation_batch(&mut *tx, batch).await?;
    let planner = IndexSeeksOnly::set(&mut *tx).await?;
    // Each statement walks the batch's endpoints through the
    // (endpoint_id, address, current) index and looks rows up in the batch
    // by its primary key. Their `+current` keeps SQLite's planner off the
    // (current, leaf_not_after) index, which it prefers without statistics
    // and which reads every current row of the fleet: at 100,000 endpoints
    // 110 ms per statement and batch, the rescan's cost growing with N.
    let refreshed = refresh_unchanged(&mut *tx, &now).await?;
    let retired = retire_unserved(&mut *tx, &ids).await?;
    let inserted = replace_changed(&mut *tx, &now).await?;
    stamp_first_handshakes(&mut *tx, &now).await?;
    if numbering == Numbering::Here {
        number_checks(&mut *tx, &ids).await?;
    }
    refresh_domain_certificates(&mut *tx, &ids).await?;
    sqlx::query("DELETE FROM observation_batch")
        .execute(&mut *tx)
        .await?;
    planner.restore(&mut *tx).await?;
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(RecordSummary {
        inserted: count(inserted),
        refreshed: count(refreshed),
        retired: count(retired),
    })
}

/// PostgreSQL's plans while a batch is recorded: index seeks and nested
/// loops only.
///
/// Every statement of a batch takes the batch's few hundred rows and seeks
/// each one through an index, whatever the size of the fleet. PostgreSQL's
/// planner chooses that plan only while its statistics are current, and
/// they are not while the first scan fills `cert_observations` from empty
/// (an empty table has no column statistics, autovacuum analyses it a
/// minute later at best) or stamps `endpoints`: guessing from defaults, it
/// hashed every current observation or all of `endpoints`, merged along
/// the whole primary key, or looped over a scan of the table, each batch
/// (40 to 880 ms per statement at 100,000 endpoints, growing with the
/// fleet). Sequential scans, hash joins and merge joins are switched off
/// for these statements alone (`SET LOCAL`, the previous values put back
/// afterwards; an error rolls them back with the transaction), which
/// leaves the plan this design intends. SQLite has nothing to set.
pub(super) struct IndexSeeksOnly {
    /// The three settings' values before (PostgreSQL only).
    previous: Option<[String; 3]>,
}

/// Reads `enable_seqscan`, `enable_hashjoin` and `enable_mergejoin`, then
/// switches them off for the transaction (a select list is evaluated left
/// to right, so the values read are the ones before).
const SEEKS_ONLY: &str = "SELECT current_setting('enable_seqscan'),
       current_setting('enable_hashjoin'), current_setting('enable_mergejoin'),
       set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
       set_config('enable_mergejoin', 'off', true)";

/// Puts the values [`SEEKS_ONLY`] read back.
const PUT_BACK: &str = "SELECT set_config('enable_seqscan', $1, true),
       set_config('enable_hashjoin', $2, true), set_config('enable_mergejoin', $3, true)";

impl IndexSeeksOnly {
    pub(super) async fn set(tx: &mut sqlx::AnyConnection) -> Result<Self, StoreError> {
        if super::engine_of(tx) != Engine::Postgres {
            return Ok(Self { previous: None });
        }
        let row = sqlx::query(SEEKS_ONLY).fetch_one(&mut *tx).await?;
        Ok(Self {
            previous: Some([row.try_get(0)?, row.try_get(1)?, row.try_get(2)?]),
        })
    }

    pub(super) async fn restore(self, tx: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
        if let Some([seqscan, hashjoin, mergejoin]) = self.previous {
            sqlx::query(PUT_BACK)
                .bind(seqscan)
                .bind(hashjoin)
                .bind(mergejoin)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

/// The batch's table: temporary, one per connection, created on first use.
/// On PostgreSQL its rows go at commit (`ON COMMIT DELETE ROWS` truncates
/// the file): a temporary table is never vacuumed, so emptying it with
/// DELETE alone left every batch's dead rows behind, and each statement's
/// scan of the batch grew with the batches the connection had recorded.
const BATCH_TABLE: Dialect = Dialect {
    sqlite: "CREATE TEMP TABLE IF NOT EXISTS observation_batch (
                 endpoint_id INTEGER NOT NULL, address TEXT NOT NULL, result_hash TEXT NOT NULL,
                 outcome TEXT NOT NULL, leaf_fingerprint TEXT, leaf_not_after TEXT,
                 chain_not_after TEXT, details TEXT NOT NULL,
                 PRIMARY KEY (endpoint_id, address)) WITHOUT ROWID",
    postgres: "CREATE TEMP TABLE IF NOT EXISTS observation_batch (
                 endpoint_id BIGINT NOT NULL, address TEXT NOT NULL, result_hash TEXT NOT NULL,
                 outcome TEXT NOT NULL, leaf_fingerprint TEXT, leaf_not_after TEXT,
                 chain_not_after TEXT, details TEXT NOT NULL,
                 PRIMARY KEY (endpoint_id, address)) ON COMMIT DELETE ROWS",
};

/// One chunk of the batch (a JSON array of arrays) into the batch's table;
/// a repeated (endpoint, address) keeps its last result. `details` keeps
/// its JSON text as sent (PostgreSQL: `json`, not `jsonb`, so nothing is
/// reformatted).
const LOAD_BATCH: Dialect = Dialect {
    sqlite: "INSERT OR REPLACE INTO observation_batch
             SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5,
                    j.value->>6, j.value->7
             FROM json_each($1) j
             WHERE EXISTS (SELECT 1 FROM endpoints e WHERE e.id = j.value->>0)",
    postgres: "INSERT INTO observation_batch
             SELECT DISTINCT ON (1, 2) CAST(j.value->>0 AS BIGINT), j.value->>1, j.value->>2,
                    j.value->>3, j.value->>4, j.value->>5, j.value->>6, CAST(j.value->7 AS TEXT)
             FROM json_array_elements(CAST($1 AS json)) WITH ORDINALITY AS j(value, n)
             WHERE EXISTS (SELECT 1 FROM endpoints e WHERE e.id = CAST(j.value->>0 AS BIGINT))
             ORDER BY 1, 2, j.n DESC
             ON CONFLICT (endpoint_id, address) DO UPDATE SET
                 result_hash = excluded.result_hash, outcome = excluded.outcome,
                 leaf_fingerprint = excluded.leaf_fingerprint,
                 leaf_not_after = excluded.leaf_not_after,
                 chain_not_after = excluded.chain_not_after, details = excluded.details",
};

/// Fills `observation_batch` (created on first use, emptied first)
/// with the batch, one row per (endpoint, address); a repeated pair keeps
/// its last result, an endpoint removed meanwhile is left out.
async fn load_observation_batch(
    tx: &mut sqlx::AnyConnection,
    batch: &[(i64, &[CertObservation])],
) -> Result<(), StoreError> {
    // One serialisation pass, borrowing: `details` goes in as a JSON object
    // (stored as its JSON text by `->`), not as an escaped string.
    let labels: Vec<Vec<String>> = batch
        .iter()
        .map(|(_, observations)| {
            observations
                .iter()
                .map(|obs| obs.outcome.label().to_ascii_lowercase())
                .collect()
        })
        .collect();
    let rows: Vec<_> = batch
        .iter()
        .zip(&labels)
        .flat_map(|((endpoint_id, observations), labels)| {
            observations.iter().zip(labels).map(move |(obs, outcome)| {
                (
                    endpoint_id,
                    &obs.address,
                    &obs.result_hash,
                    outcome,
                    &obs.leaf_fingerprint,
                    obs.leaf_not_after.map(format_time),
                    obs.chain_not_after.map(format_time),
                    &obs.details,
                )
            })
        })
        .collect();
    let engine = super::engine_of(tx);
    sqlx::query(BATCH_TABLE.of(engine))
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM observation_batch")
        .execute(&mut *tx)
        .await?;
    // In chunks, so that no single parameter grows large (large
    // short-lived buffers inflate the allocator's resident memory).
    for chunk in rows.chunks(OBSERVATIONS_PER_STATEMENT) {
        // Numbers, strings and JSON values: serialising cannot fail.
        let chunk = serde_json::to_string(chunk).expect("observations serialise to JSON");
        sqlx::query(LOAD_BATCH.of(engine))
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Unchanged results: the current row's last-seen (and its drifting
/// details) are refreshed. Returns how many.
async fn refresh_unchanged(tx: &mut sqlx::AnyConnection, now: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE cert_observations SET last_seen_at = $1,
             details = (SELECT b.details FROM observation_batch b
                        WHERE b.endpoint_id = cert_observations.endpoint_id
                          AND b.address = cert_observations.address)
         WHERE endpoint_id IN (SELECT endpoint_id FROM observation_batch)
           AND +current = 1
           AND EXISTS (SELECT 1 FROM observation_batch b
                       WHERE b.endpoint_id = cert_observations.endpoint_id
                         AND b.address = cert_observations.address
                         AND b.result_hash = cert_observations.result_hash)",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Addresses of the batch's endpoints (`ids`, a JSON array) that are no
/// longer served stop being current. Returns how many.
async fn retire_unserved(tx: &mut sqlx::AnyConnection, ids: &str) -> Result<u64, StoreError> {
    let ids_sql = super::ids_from_json(super::engine_of(tx), "$1");
    Ok(sqlx::query(&format!(
        "UPDATE cert_observations SET current = 0
         WHERE endpoint_id IN ({ids_sql})
           AND +current = 1
           AND NOT EXISTS (SELECT 1 FROM observation_batch b
                           WHERE b.endpoint_id = cert_observations.endpoint_id
                             AND b.address = cert_observations.address)"
    ))
    .bind(ids)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Changed results: the old row stops being current, and every result
/// without a current row gets one. Returns how many rows were inserted.
async fn replace_changed(tx: &mut sqlx::AnyConnection, now: &str) -> Result<u64, StoreError> {
    sqlx::query(
        "UPDATE cert_observations SET current = 0
         WHERE endpoint_id IN (SELECT endpoint_id FROM observation_batch)
           AND +current = 1
           AND EXISTS (SELECT 1 FROM observation_batch b
                       WHERE b.endpoint_id = cert_observations.endpoint_id
                         AND b.address = cert_observations.address
                         AND b.result_hash <> cert_observations.result_hash)",
    )
    .execute(&mut *tx)
    .await?;
    Ok(sqlx::query(
        "INSERT INTO cert_observations
           (endpoint_id, domain_id, address, first_seen_at, last_seen_at, current, result_hash,
            outcome, leaf_fingerprint, leaf_not_after, chain_not_after, details)
         SELECT b.endpoint_id, e.domain_id, b.address, $1, $1, 1, b.result_hash, b.outcome,
                b.leaf_fingerprint, b.leaf_not_after, b.chain_not_after, b.details
         FROM observation_batch b CROSS JOIN endpoints e
         WHERE e.id = b.endpoint_id
           AND NOT EXISTS (SELECT 1 FROM cert_observations c
                           WHERE c.endpoint_id = b.endpoint_id AND c.address = b.address
                             AND c.current = 1)",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Endpoints of the batch that served a leaf certificate for the first time
/// get `first_handshake_at = now`; a stamp once written never changes.
async fn stamp_first_handshakes(tx: &mut sqlx::AnyConnection, now: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE endpoints SET first_handshake_at = $1
         WHERE first_handshake_at IS NULL
           AND id IN (SELECT endpoint_id FROM observation_batch
                      WHERE leaf_fingerprint IS NOT NULL)",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Each endpoint of the batch (`ids`, a JSON array) counts one more
/// recorded check: `cert_checks` is the number of its latest check, by
/// which a failure streak tells checks apart (two checks within one second
/// have the same time, never the same number).
async fn number_checks(tx: &mut sqlx::AnyConnection, ids: &str) -> Result<(), StoreError> {
    let ids_sql = super::ids_from_json(super::engine_of(tx), "$1");
    sqlx::query(&format!(
        "UPDATE endpoints SET cert_checks = cert_checks + 1 WHERE id IN ({ids_sql})"
    ))
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Recomputes the certificate columns of the domains of `endpoint_ids` (a
/// JSON array) from their current observations: the earliest leaf
/// not-after and the worst outcome (critical > unknown > warning > ok);
/// both NULL for a domain watched for its registration alone, whose
/// endpoints are not counted. Only rows whose value changes are written.
/// Each value is a seek in a partial index over the current observations
/// by domain (migration 0308), so the cost does not grow with the domain:
/// a batch under a domain of 100,000 endpoints reads no more than one under
/// a domain of five.
pub(crate) async fn refresh_domain_certificates(
    tx: &mut sqlx::AnyConnection,
    endpoint_ids: &str,
) -> Result<(), StoreError> {
    let engine = super::engine_of(tx);
    let ids_sql = super::ids_from_json(engine, "$1");
    // Scalar subqueries, not EXISTS: PostgreSQL may run an EXISTS as a
    // hashed subplan, reading every current observation of that outcome
    // in the fleet once per statement; a scalar subquery is a seek per
    // domain. COALESCE stops at the first outcome found.
    let any = |outcome: &str| {
        format!(
            "(SELECT o.outcome FROM cert_observations o
              WHERE o.domain_id = d.id AND o.current = 1 AND o.outcome = '{outcome}' LIMIT 1)"
        )
    };
    sqlx::query(&format!(
        "WITH fresh AS MATERIALIZED (
             SELECT d.id,
                    CASE WHEN d.watch <> 'registration' THEN
                        (SELECT MIN(o.leaf_not_after) FROM cert_observations o
                         WHERE o.domain_id = d.id AND o.current = 1) END AS not_after,
                    CASE WHEN d.watch <> 'registration' THEN
                        COALESCE({critical}, {unknown}, {warning},
                                 (SELECT 'ok' FROM cert_observations o
                                  WHERE o.domain_id = d.id AND o.current = 1 LIMIT 1)) END
                    AS outcome
             FROM domains d
             WHERE d.id IN (SELECT e.domain_id FROM endpoints e WHERE e.id IN ({ids_sql})))
         UPDATE domains SET cert_not_after = fresh.not_after, cert_outcome = fresh.outcome
         FROM fresh
         WHERE domains.id = fresh.id
           AND (domains.cert_not_after IS DISTINCT FROM fresh.not_after
                OR domains.cert_outcome IS DISTINCT FROM fresh.outcome)",
        critical = any("critical"),
        unknown = any("unknown"),
        warning = any("warning"),
    ))
    .bind(endpoint_ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
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
             WHERE endpoint_id = $1 AND (current = 1 OR $2 = 0)
             ORDER BY first_seen_at DESC, id DESC",
        )
        .bind(endpoint_id)
        .bind(i64::from(current_only))
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
