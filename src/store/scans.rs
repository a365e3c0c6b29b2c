//! Scans: a row per run with counts, and its work items so that an
//! interrupted scan resumes with what is left.
//!
//! A scan is created with all its items in one transaction. Items are done
//! when their result is recorded (in the same transaction as the result), so
//! a crash loses at most the results in flight, and a restart never checks a
//! finished item again. Finishing deletes the items (the counts stay on the
//! scan row), so the table does not grow with history.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::observations::{record_batch_in, Numbering};
use super::{format_time, Dialect, Engine, ScanScope, Store, StoreError};
use crate::domain::certificate::Severity;
use crate::domain::observation::CertObservation;

/// The scan being run. `scan_id` 0: nothing was due, no scan was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ScanHandle {
    pub scan_id: i64,
    /// True when an interrupted scan was picked up again.
    pub resumed: bool,
    pub items_total: i64,
    pub items_done: i64,
}

/// One item of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkItem {
    Endpoint {
        endpoint_id: i64,
        host: String,
        port: u16,
        tls_mode: String,
        pinned_address: Option<String>,
        check_failures: u32,
    },
    Registration {
        domain_id: i64,
        name: String,
    },
    /// The endpoint or domain was removed since the scan started.
    Gone {
        kind: String,
        item_id: i64,
    },
}

impl WorkItem {
    /// (kind, id): the item's key in `scan_items`.
    pub fn key(&self) -> (&str, i64) {
        match self {
            Self::Endpoint { endpoint_id, .. } => ("endpoint", *endpoint_id),
            Self::Registration { domain_id, .. } => ("registration", *domain_id),
            Self::Gone { kind, item_id } => (kind.as_str(), *item_id),
        }
    }
}

/// A finished item, ready to record.
#[derive(Debug, Clone)]
pub enum ItemResult {
    Endpoint {
        endpoint_id: i64,
        outcome: Severity,
        observations: Vec<CertObservation>,
        /// When this endpoint is due again (`None`: at the next full scan).
        next_check_at: Option<DateTime<Utc>>,
        /// Consecutive failures after this check.
        check_failures: u32,
    },
    /// A registration lookup: its record (answers, assessment, when next)
    /// is written in the batch's transaction, with the item marked done;
    /// `None` when there was nothing to record (no checker, or the
    /// domain's context could not be read).
    Registration {
        domain_id: i64,
        outcome: Severity,
        record: Option<Box<super::RegistrationRecord>>,
    },
    Gone {
        kind: String,
        item_id: i64,
    },
}

impl ItemResult {
    /// The item this result is of: its kind and id.
    pub fn item(&self) -> (&str, i64) {
        match self {
            Self::Endpoint { endpoint_id, .. } => ("endpoint", *endpoint_id),
            Self::Registration { domain_id, .. } => ("registration", *domain_id),
            Self::Gone { kind, item_id } => (kind.as_str(), *item_id),
        }
    }
}

/// A scan as reported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScanSummary {
    pub scan_id: i64,
    pub scope: serde_json::Value,
    pub state: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub items_total: i64,
    pub items_done: i64,
    pub ok: i64,
    pub warning: i64,
    pub critical: i64,
    pub unknown: i64,
}

/// Items of one kind in a scan: how many, and how many are done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindProgress {
    pub done: i64,
    pub total: i64,
}

/// A scan's progress by kind of item. Certificate checks run as fast as
/// the handshakes allow; registration lookups are paced per registry, so
/// each kind has its own rate and a time left of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanProgress {
    pub certificates: KindProgress,
    pub registrations: KindProgress,
}

impl ScanProgress {
    pub fn done(&self) -> i64 {
        self.certificates.done + self.registrations.done
    }

    pub fn total(&self) -> i64 {
        self.certificates.total + self.registrations.total
    }

    /// Counts one recorded result.
    pub fn count(&mut self, result: &ItemResult) {
        let kind = match result {
            ItemResult::Endpoint { .. } => &mut self.certificates,
            ItemResult::Registration { .. } => &mut self.registrations,
            ItemResult::Gone { kind, .. } if kind == "registration" => &mut self.registrations,
            ItemResult::Gone { .. } => &mut self.certificates,
        };
        kind.done += 1;
    }
}

/// One of the nearest expiries, certificate or registration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpcomingExpiry {
    pub kind: String,
    pub subject: String,
    pub expires_at: String,
}

impl Store {
    /// A scan's items by kind, as recorded so far.
    pub async fn scan_progress(&self, scan_id: i64) -> Result<ScanProgress, StoreError> {
        let rows = sqlx::query(
            "SELECT item_kind, COUNT(*), COUNT(done_at) FROM scan_items
             WHERE scan_id = $1 GROUP BY item_kind",
        )
        .bind(scan_id)
        .fetch_all(self.pool())
        .await?;
        let mut progress = ScanProgress::default();
        for row in rows {
            let kind: String = row.get(0);
            let counts = KindProgress {
                total: row.get(1),
                done: row.get(2),
            };
            match kind.as_str() {
                "registration" => progress.registrations = counts,
                _ => progress.certificates = counts,
            }
        }
        Ok(progress)
    }

    /// Picks up an unfinished scan of the same scope (another instance's
    /// running scan included: this one joins it), or starts a new one with
    /// all its items.
    pub async fn start_or_resume_scan(
        &self,
        scope: &ScanScope,
        now: DateTime<Utc>,
    ) -> Result<ScanHandle, StoreError> {
        let mut tx = self.write_tx().await?;
        let handle = resume_or_create_in(&mut tx, scope, &format_time(now)).await?;
        if !handle.resumed && handle.items_total == 0 && *scope == ScanScope::Due {
            // Nothing due: no row, so the frequent due-work poll leaves no history.
            tx.rollback().await?;
            return Ok(ScanHandle {
                scan_id: 0,
                resumed: false,
                items_total: 0,
                items_done: 0,
            });
        }
        tx.commit().await?;
        Ok(handle)
    }

    /// Claims up to `limit` unfinished items of the scan that nobody holds
    /// (or whose holder's lease ran out) for this instance until
    /// `lease_until`, and returns them. One statement; on PostgreSQL its
    /// pick skips rows another instance is claiming at that moment
    /// (`FOR UPDATE SKIP LOCKED`), so no item is handed out twice.
    /// Only items of `kind` (`endpoint`, `registration`), and only those
    /// after item `after`: a caller that passes the last item it claimed
    /// starts its walk there instead of at the scan's first item, past
    /// every item already done (on PostgreSQL each done item leaves dead
    /// index entries until vacuum, so walking from the start cost a claim
    /// time in proportion to the items done: 31 ms per claim at 10,000).
    pub async fn claim_scan_items(
        &self,
        scan_id: i64,
        kind: &str,
        limit: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
        after: i64,
    ) -> Result<Vec<WorkItem>, StoreError> {
        // The pick is a CTE, run once: as an `IN (SELECT .. LIMIT ..)`
        // PostgreSQL may rescan it per row and claim more than the limit.
        const CLAIM: Dialect = Dialect {
            sqlite: "WITH picked AS (
                     SELECT item_id FROM scan_items
                     WHERE scan_id = $3 AND item_kind = $5 AND done_at IS NULL AND item_id > $7
                       AND (lease_until IS NULL OR lease_until < $4)
                     ORDER BY item_id LIMIT $6)
                 UPDATE scan_items SET leased_by = $1, lease_until = $2
                 WHERE scan_id = $3 AND item_kind = $5 AND item_id IN (SELECT item_id FROM picked)
                 RETURNING item_kind, item_id",
            // The picked rows, locked, are updated by their row address:
            // joined by key instead, PostgreSQL read every item of the scan
            // (sequential scan and hash join) to update a hundred.
            postgres: "WITH picked AS MATERIALIZED (
                     SELECT ctid AS row_address FROM scan_items
                     WHERE scan_id = $3 AND item_kind = $5 AND done_at IS NULL AND item_id > $7
                       AND (lease_until IS NULL OR lease_until < $4)
                     ORDER BY item_id LIMIT $6
                     FOR UPDATE SKIP LOCKED)
                 UPDATE scan_items SET leased_by = $1, lease_until = $2
                 WHERE ctid = ANY (ARRAY(SELECT row_address FROM picked))
                 RETURNING item_kind, item_id",
        };
        let claimed = sqlx::query(CLAIM.of(self.engine()))
            .bind(self.instance())
            .bind(format_time(lease_until))
            .bind(scan_id)
            .bind(format_time(now))
            .bind(kind)
            .bind(limit)
            .bind(after)
            .fetch_all(self.writer())
            .await?;
        let mut by_kind: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for row in &claimed {
            by_kind
                .entry(row.get("item_kind"))
                .or_default()
                .push(row.get("item_id"));
        }
        let mut items = Vec::with_capacity(claimed.len());
        for (kind, ids) in by_kind {
            match kind.as_str() {
                "endpoint" | "registration" => {
                    items.extend(self.work_items(&kind, &ids).await?);
                }
                _ => items.extend(ids.into_iter().map(|item_id| WorkItem::Gone {
                    kind: kind.clone(),
                    item_id,
                })),
            }
        }
        Ok(items)
    }

    /// What checking the items `ids` of one kind needs, read from that
    /// kind's table by primary key (the ids written out); an id no longer
    /// there is an item gone. The scan's items are not read again: joined
    /// from them, PostgreSQL (its statistics not yet knowing the scan's new
    /// items) walked every item of the scan for each claim.
    async fn work_items(&self, kind: &str, ids: &[i64]) -> Result<Vec<WorkItem>, StoreError> {
        let sql = if kind == "endpoint" {
            format!(
                "SELECT id, host, port, tls_mode, pinned_address, check_failures
                 FROM endpoints WHERE id IN ({})",
                id_list(ids)
            )
        } else {
            format!(
                "SELECT id, name FROM domains WHERE id IN ({})",
                id_list(ids)
            )
        };
        // Right after the claim, on the connection that wrote it (SQLite:
        // its cache is warm).
        let rows = sqlx::query(&sql).fetch_all(self.writer()).await?;
        let mut found: HashMap<i64, WorkItem> = rows
            .iter()
            .map(|r| {
                let id: i64 = r.get("id");
                let item = if kind == "endpoint" {
                    WorkItem::Endpoint {
                        endpoint_id: id,
                        host: r.get("host"),
                        port: u16::try_from(r.get::<i64, _>("port")).unwrap_or(443),
                        tls_mode: r.get("tls_mode"),
                        pinned_address: r.get("pinned_address"),
                        check_failures: u32::try_from(r.get::<i64, _>("check_failures"))
                            .unwrap_or(0),
                    }
                } else {
                    WorkItem::Registration {
                        domain_id: id,
                        name: r.get("name"),
                    }
                };
                (id, item)
            })
            .collect();
        Ok(ids
            .iter()
            .map(|&item_id| {
                found.remove(&item_id).unwrap_or_else(|| WorkItem::Gone {
                    kind: kind.to_owned(),
                    item_id,
                })
            })
            .collect())
    }

    /// Moves this instance's leases on the scan's unfinished items to
    /// `lease_until` (the items it is still checking).
    pub async fn renew_scan_leases(
        &self,
        scan_id: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE scan_items SET lease_until = $1
             WHERE scan_id = $2 AND leased_by = $3 AND done_at IS NULL",
        )
        .bind(format_time(lease_until))
        .bind(scan_id)
        .bind(self.instance())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Gives this instance's unfinished items of the scan back to the pool
    /// (a stop: the other instances take them at once).
    pub async fn release_scan_leases(&self, scan_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE scan_items SET leased_by = NULL, lease_until = NULL
             WHERE scan_id = $1 AND leased_by = $2 AND done_at IS NULL",
        )
        .bind(scan_id)
        .bind(self.instance())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Unfinished items of the scan (registration items only when
    /// `registrations`), and how many of them nobody may claim at `now`
    /// (leased, lease unexpired).
    pub async fn scan_items_left(
        &self,
        scan_id: i64,
        registrations: bool,
        now: DateTime<Utc>,
    ) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS left_over,
                    COUNT(CASE WHEN lease_until >= $2 THEN 1 END) AS held
             FROM scan_items WHERE scan_id = $1 AND done_at IS NULL
               AND ($3 = 1 OR item_kind <> 'registration')",
        )
        .bind(scan_id)
        .bind(format_time(now))
        .bind(i64::from(registrations))
        .fetch_one(self.pool())
        .await?;
        Ok((row.get("left_over"), row.get("held")))
    }

    /// Records a batch of results in one transaction: observations, next due
    /// times, items done, scan counts. An item already done (checked by an
    /// instance whose lease ran out meanwhile) is not counted again.
    pub async fn record_scan_results(
        &self,
        scan_id: i64,
        results: &[ItemResult],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let now_text = format_time(now);
        let mut observed = Vec::new();
        let mut registrations = Vec::new();
        let mut endpoints = Vec::new();
        let mut items: BTreeMap<(&str, Option<usize>), Vec<i64>> = BTreeMap::new();
        for result in results {
            let (kind, item_id, outcome) = match result {
                ItemResult::Endpoint {
                    endpoint_id,
                    outcome,
                    observations,
                    next_check_at,
                    check_failures,
                } => {
                    observed.push((*endpoint_id, observations.as_slice()));
                    endpoints.push((
                        *endpoint_id,
                        next_check_at.map(format_time),
                        *check_failures,
                    ));
                    ("endpoint", *endpoint_id, Some(*outcome))
                }
                ItemResult::Registration {
                    domain_id,
                    outcome,
                    record,
                } => {
                    registrations.extend(record.as_deref());
                    ("registration", *domain_id, Some(*outcome))
                }
                ItemResult::Gone { kind, item_id } => (kind.as_str(), *item_id, None),
            };
            let outcome = outcome.map(|o| match o {
                Severity::Ok => 0,
                Severity::Warning => 1,
                Severity::Critical => 2,
                Severity::Unknown => 3,
            });
            items.entry((kind, outcome)).or_default().push(item_id);
        }
        // Set-based: a few statements per batch, whatever its size.
        let mut tx = self.write_tx().await?;
        record_batch_in(&mut tx, &observed, now, Numbering::ByCaller).await?;
        super::registration::record_registrations_in(&mut tx, &registrations).await?;
        // Grouped by what is written, each group one statement that walks
        // the primary key: a whole batch of passing checks is one statement.
        // It also numbers the checks (`cert_checks`, see `record_batch_in`).
        let mut by_state: BTreeMap<(Option<String>, u32), Vec<i64>> = BTreeMap::new();
        for (id, next, failures) in endpoints {
            by_state.entry((next, failures)).or_default().push(id);
        }
        let engine = self.engine();
        let ids3 = super::ids_from_json(engine, "$3");
        for ((next, failures), ids) in by_state {
            sqlx::query(&format!(
                "UPDATE endpoints SET next_check_at = $1, check_failures = $2,
                     cert_checks = cert_checks + 1
                 WHERE id IN ({ids3})"
            ))
            .bind(next)
            .bind(i64::from(failures))
            .bind(serde_json::Value::from(ids).to_string())
            .execute(&mut *tx)
            .await?;
        }
        let mut counts = [0_i64; 5];
        for ((kind, outcome), ids) in items {
            let done = sqlx::query(&format!(
                "UPDATE scan_items SET done_at = $1, outcome = $2
                 WHERE scan_id = $3 AND item_kind = $4 AND done_at IS NULL AND item_id IN ({})",
                super::ids_from_json(engine, "$5")
            ))
            .bind(&now_text)
            .bind(outcome.map(|o| OUTCOMES[o]))
            .bind(scan_id)
            .bind(kind)
            .bind(serde_json::Value::from(ids).to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let done = i64::try_from(done).unwrap_or(i64::MAX);
            counts[4] += done;
            if let Some(outcome) = outcome {
                counts[outcome] += done;
            }
        }
        sqlx::query(
            "UPDATE scans SET items_done = items_done + $1, count_ok = count_ok + $2,
               count_warning = count_warning + $3, count_critical = count_critical + $4,
               count_unknown = count_unknown + $5
             WHERE id = $6",
        )
        .bind(counts[4])
        .bind(counts[0])
        .bind(counts[1])
        .bind(counts[2])
        .bind(counts[3])
        .bind(scan_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a scan, once: `finished` (its items deleted) when every item
    /// is done; else `interrupted` (to be resumed), unless another instance
    /// still holds live leases on it (`now`), which then goes on. Returns
    /// whether this call closed it: only that caller ends the scan (summary,
    /// the scan's alert decisions).
    pub async fn end_scan(
        &self,
        scan_id: i64,
        finished: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let closed = if finished {
            let closed = sqlx::query(
                "UPDATE scans SET state = 'finished', finished_at = $1
                 WHERE id = $2 AND state <> 'finished'",
            )
            .bind(format_time(now))
            .bind(scan_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            sqlx::query("DELETE FROM scan_items WHERE scan_id = $1")
                .bind(scan_id)
                .execute(&mut *tx)
                .await?;
            closed
        } else {
            sqlx::query(
                "UPDATE scans SET state = 'interrupted' WHERE id = $1 AND state = 'running'
                   AND NOT EXISTS (SELECT 1 FROM scan_items WHERE scan_id = $1
                       AND done_at IS NULL AND leased_by <> $2 AND lease_until >= $3)",
            )
            .bind(scan_id)
            .bind(self.instance())
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        };
        tx.commit().await?;
        if finished && self.engine() == Engine::Postgres {
            self.release_scan_queue_space().await;
        }
        Ok(closed)
    }

    /// PostgreSQL: empties `scan_items` outright (TRUNCATE) once no scan
    /// has items left in it. A scan's items are written about five times
    /// each (queued, leased, done, deleted), and PostgreSQL keeps every
    /// version until vacuum: without this, each scan of 100,000 endpoints
    /// left about 80 MB of dead queue rows and index pages, and an
    /// unchanged rescan grew the database by as much. Only taken when no
    /// other session holds any lock on the table (`NOWAIT`): a scan being
    /// claimed or recorded meanwhile is never waited for nor made to wait
    /// behind the lock, and vacuum reclaims the space then. Failing here
    /// loses nothing, so it is logged, not returned.
    async fn release_scan_queue_space(&self) {
        let attempt = async {
            let mut tx = self.pool().begin().await?;
            sqlx::query("LOCK TABLE scan_items IN ACCESS EXCLUSIVE MODE NOWAIT")
                .execute(&mut *tx)
                .await?;
            let left: Option<i32> = sqlx::query_scalar("SELECT 1 FROM scan_items LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            let emptied = left.is_none();
            if emptied {
                sqlx::query("TRUNCATE scan_items").execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<bool, StoreError>(emptied)
        };
        match attempt.await {
            Ok(emptied) => tracing::debug!(emptied, "scan queue space released"),
            Err(error) => {
                tracing::debug!(%error, "scan queue not emptied (in use); vacuum reclaims it")
            }
        }
    }

    pub async fn scan_summary(&self, scan_id: i64) -> Result<ScanSummary, StoreError> {
        let r = sqlx::query(
            "SELECT id, scope, state, started_at, finished_at, items_total, items_done,
                    count_ok, count_warning, count_critical, count_unknown
             FROM scans WHERE id = $1",
        )
        .bind(scan_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no scan #{scan_id}")))?;
        Ok(ScanSummary {
            scan_id: r.get("id"),
            scope: serde_json::to_value(ScanScope::read(scan_id, r.get("scope"))?)
                .expect("a scan scope serialises"),
            state: r.get("state"),
            started_at: r.get("started_at"),
            finished_at: r.get("finished_at"),
            items_total: r.get("items_total"),
            items_done: r.get("items_done"),
            ok: r.get("count_ok"),
            warning: r.get("count_warning"),
            critical: r.get("count_critical"),
            unknown: r.get("count_unknown"),
        })
    }

    /// The nearest expiries, certificates (current observations) and
    /// registrations together, soonest first.
    pub async fn nearest_expiries(&self, limit: i64) -> Result<Vec<UpcomingExpiry>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, subject, expires_at FROM (
                 SELECT 'certificate' AS kind,
                        e.host || ':' || e.port || ' @' || o.address AS subject,
                        o.leaf_not_after AS expires_at
                 FROM cert_observations o JOIN endpoints e ON e.id = o.endpoint_id
                 JOIN domains d ON d.id = e.domain_id
                 WHERE o.current = 1 AND o.leaf_not_after IS NOT NULL AND d.watch <> 'registration'
                 UNION ALL
                 SELECT 'registration', d.name, d.expires_at
                 FROM domains d WHERE d.expires_at IS NOT NULL
             ) x ORDER BY expires_at, subject LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| UpcomingExpiry {
                kind: r.get("kind"),
                subject: r.get("subject"),
                expires_at: r.get("expires_at"),
            })
            .collect())
    }

    /// Scopes of scans left `running` (a crash) or `interrupted` (a stop).
    /// A scope this version cannot read is an error naming its scan: it is
    /// neither resumed as something else nor skipped without a word.
    pub async fn unfinished_scan_scopes(&self) -> Result<Vec<ScanScope>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, scope FROM scans WHERE state IN ('running', 'interrupted') ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| ScanScope::read(r.get("id"), r.get("scope")))
            .collect()
    }

    /// Client id by name, for scan scopes.
    pub async fn client_id_by_name(&self, name: &str) -> Result<i64, StoreError> {
        let mut conn = self.pool().acquire().await?;
        self.client_id(&mut conn, name).await
    }
}

/// A claimed item as the engine checks it.
/// Ids as an SQL list (`1, 2, 3`): integers, so nothing to escape, and the
/// same text on both engines.
fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `scan_items.outcome` by severity: ok, warning, critical, unknown.
const OUTCOMES: [&str; 4] = ["ok", "warning", "critical", "unknown"];

/// In a write transaction: the unfinished scan of `scope` (marked
/// `running` again), or a new one with all its items.
pub(super) async fn resume_or_create_in(
    tx: &mut sqlx::AnyConnection,
    scope: &ScanScope,
    now_text: &str,
) -> Result<ScanHandle, StoreError> {
    // Compared as values, not as text, so that a row written in an
    // older shape of the same scope is resumed too.
    let unfinished = sqlx::query(
        "SELECT id, scope, items_total, items_done FROM scans
         WHERE state IN ('running', 'interrupted')
         ORDER BY id DESC",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .find(|row| ScanScope::from_stored(row.get("scope")) == Some(*scope));
    if let Some(row) = unfinished {
        let scan_id: i64 = row.get("id");
        sqlx::query("UPDATE scans SET state = 'running' WHERE id = $1")
            .bind(scan_id)
            .execute(&mut *tx)
            .await?;
        return Ok(ScanHandle {
            scan_id,
            resumed: true,
            items_total: row.get("items_total"),
            items_done: row.get("items_done"),
        });
    }
    let scan_id: i64 = sqlx::query_scalar(
        "INSERT INTO scans (scope, state, started_at) VALUES ($1, 'running', $2) RETURNING id",
    )
    .bind(scope.to_stored())
    .bind(now_text)
    .fetch_one(&mut *tx)
    .await?;
    let total = fill_scan_items(&mut *tx, scan_id, scope, now_text).await?;
    Ok(ScanHandle {
        scan_id,
        resumed: false,
        items_total: total,
        items_done: 0,
    })
}

/// Inserts a scan's work items for `scope` and records their number.
pub(super) async fn fill_scan_items(
    tx: &mut sqlx::AnyConnection,
    scan_id: i64,
    scope: &ScanScope,
    now_text: &str,
) -> Result<i64, StoreError> {
    // What is watched decides what is checked: no endpoint of a
    // registration-only domain, no lookup for a TLS-only one.
    const DUE: &str =
        "(d.next_registration_check_at IS NULL OR d.next_registration_check_at <= $2)";
    let (endpoint_filter, registration_filter, id) = match scope {
        ScanScope::All => ("1 = 1".to_owned(), DUE.to_owned(), 0),
        ScanScope::Client { client_id } => (
            "e.client_id = $3".to_owned(),
            format!("d.client_id = $3 AND {DUE}"),
            *client_id,
        ),
        ScanScope::Domain { domain_id } => {
            ("d.id = $3".to_owned(), "d.id = $3".to_owned(), *domain_id)
        }
        ScanScope::Due => (
            "e.next_check_at IS NOT NULL AND e.next_check_at <= $2".to_owned(),
            DUE.to_owned(),
            0,
        ),
    };
    sqlx::query(&format!(
        "INSERT INTO scan_items (scan_id, item_kind, item_id)
             SELECT $1, 'endpoint', e.id FROM endpoints e JOIN domains d ON d.id = e.domain_id
             WHERE d.watch IN ('tls', 'both') AND {endpoint_filter}"
    ))
    .bind(scan_id)
    .bind(now_text)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO scan_items (scan_id, item_kind, item_id)
             SELECT $1, 'registration', d.id FROM domains d
             WHERE d.watch IN ('registration', 'both') AND {registration_filter}"
    ))
    .bind(scan_id)
    .bind(now_text)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // PostgreSQL plans the claims and the "items done" updates from its
    // statistics; until autovacuum counts the new items they say the scan
    // has none, and each claim walked every item of the scan (a filter, not
    // an index condition). Counted now: a sample, once per scan.
    if super::engine_of(tx) == Engine::Postgres {
        sqlx::query("ANALYZE scan_items").execute(&mut *tx).await?;
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scan_items WHERE scan_id = $1")
        .bind(scan_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE scans SET items_total = $1 WHERE id = $2")
        .bind(total)
        .bind(scan_id)
        .execute(&mut *tx)
        .await?;
    Ok(total)
}
