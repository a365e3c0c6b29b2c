//! Several `lapse serve` instances on one database, all equal, no leader:
//! each beats its own row in `instances`; a cron firing starts one scan,
//! whichever instance inserts its `cron_firings` row first (the others join
//! that scan); registry pacing is a next-free-slot per server reserved in
//! one short write transaction, so instances together keep a server's rate.
//! Leases on scan items (`store/scans.rs`) and outbox rows
//! (`store/outbox.rs`) carry the instance's name; what an instance holds is
//! read from them.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::scans::resume_or_create_in;
use super::{format_time, Engine, ScanHandle, ScanScope, Store, StoreError};

/// One instance as `/readyz` and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InstanceView {
    pub instance: String,
    pub started_at: String,
    pub beat_at: String,
    pub version: String,
    /// Unfinished scan items it holds under an unexpired lease.
    pub scan_items_leased: i64,
    /// Outbox rows it is delivering (`sending`, lease unexpired).
    pub outbox_leased: i64,
}

/// Leases held across all instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseCounts {
    pub scan_items: i64,
    pub outbox: i64,
}

/// What a cron firing did for this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronStart {
    /// This instance won the firing and started (or resumed) the scan.
    Started(ScanHandle),
    /// Another instance won; its scan is still running: join it.
    Joined(ScanHandle),
    /// Another instance won and its scan is over (or nothing to join).
    Over,
}

impl Store {
    /// Records this instance's beat (`started_at` is kept from its first).
    pub async fn record_instance_beat(
        &self,
        version: &str,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO instances (instance, started_at, beat_at, version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (instance) DO UPDATE SET started_at = excluded.started_at,
                 beat_at = excluded.beat_at, version = excluded.version",
        )
        .bind(self.instance())
        .bind(format_time(started_at))
        .bind(format_time(now))
        .bind(version)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Every instance that beat since `since`, with the leases it holds at
    /// `now`, by name.
    pub async fn live_instances(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<InstanceView>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.instance, i.started_at, i.beat_at, i.version,
                    (SELECT COUNT(*) FROM scan_items s WHERE s.leased_by = i.instance
                        AND s.done_at IS NULL AND s.lease_until >= $2) AS scan_items_leased,
                    (SELECT COUNT(*) FROM outbox o WHERE o.leased_by = i.instance
                        AND o.state = 'sending' AND o.lease_until >= $2) AS outbox_leased
             FROM instances i WHERE i.beat_at >= $1 ORDER BY i.instance",
        )
        .bind(format_time(since))
        .bind(format_time(now))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| InstanceView {
                instance: r.get("instance"),
                started_at: r.get("started_at"),
                beat_at: r.get("beat_at"),
                version: r.get("version"),
                scan_items_leased: r.get("scan_items_leased"),
                outbox_leased: r.get("outbox_leased"),
            })
            .collect())
    }

    /// Leases unexpired at `now`, whoever holds them.
    pub async fn lease_counts(&self, now: DateTime<Utc>) -> Result<LeaseCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM scan_items WHERE leased_by IS NOT NULL
                        AND done_at IS NULL AND lease_until >= $1) AS scan_items,
                    (SELECT COUNT(*) FROM outbox WHERE state = 'sending'
                        AND lease_until >= $1) AS outbox",
        )
        .bind(format_time(now))
        .fetch_one(self.pool())
        .await?;
        Ok(LeaseCounts {
            scan_items: row.get("scan_items"),
            outbox: row.get("outbox"),
        })
    }

    /// A cron firing of `schedule` due at `fire_at`: the first instance to
    /// record it starts (or resumes) the full scan and notes the scan on the
    /// firing, in one write transaction; every later one gets the scan to
    /// join while it runs.
    pub async fn start_cron_scan(
        &self,
        schedule: &str,
        fire_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<CronStart, StoreError> {
        let fire_text = format_time(fire_at);
        let now_text = format_time(now);
        let mut tx = self.write_tx().await?;
        let won = sqlx::query(
            "INSERT INTO cron_firings (schedule, fire_at, instance, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (schedule, fire_at) DO NOTHING",
        )
        .bind(schedule)
        .bind(&fire_text)
        .bind(self.instance())
        .bind(&now_text)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if won {
            let handle = resume_or_create_in(&mut tx, &ScanScope::All, &now_text).await?;
            sqlx::query(
                "UPDATE cron_firings SET scan_id = $1 WHERE schedule = $2 AND fire_at = $3",
            )
            .bind(handle.scan_id)
            .bind(schedule)
            .bind(&fire_text)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(CronStart::Started(handle));
        }
        let scan_id: Option<i64> = sqlx::query_scalar(
            "SELECT scan_id FROM cron_firings WHERE schedule = $1 AND fire_at = $2",
        )
        .bind(schedule)
        .bind(&fire_text)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match scan_id {
            Some(id) => self
                .join_scan(id)
                .await?
                .map_or(CronStart::Over, CronStart::Joined),
            None => CronStart::Over,
        })
    }

    /// Running scans with items nobody holds at `now` (never claimed, or
    /// their holder's lease ran out: it died or stopped), oldest first:
    /// an idle instance joins them, so a scan whose only instance died is
    /// finished by the others.
    pub async fn joinable_scans(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, ScanScope)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.scope FROM scans s
             WHERE s.state = 'running' AND EXISTS (
                 SELECT 1 FROM scan_items i WHERE i.scan_id = s.id AND i.done_at IS NULL
                   AND (i.lease_until IS NULL OR i.lease_until < $1))
             ORDER BY s.id",
        )
        .bind(format_time(now))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.get("id");
                Ok((id, ScanScope::read(id, r.get("scope"))?))
            })
            .collect()
    }

    /// The scan `scan_id` to take part in, while it is `running`.
    pub async fn join_scan(&self, scan_id: i64) -> Result<Option<ScanHandle>, StoreError> {
        let row = sqlx::query(
            "SELECT items_total, items_done FROM scans WHERE id = $1 AND state = 'running'",
        )
        .bind(scan_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| ScanHandle {
            scan_id,
            resumed: true,
            items_total: r.get("items_total"),
            items_done: r.get("items_done"),
        }))
    }

    /// Reserves the next request slot at `server` for a pace of one request
    /// every `interval_ms` with bursts of `burst` (GCRA: the stored value is
    /// the theoretical arrival time), shared by every instance. Returns how
    /// many milliseconds from now the slot starts (0: go now). "Now" is
    /// read once the row is locked: taken before, a wait for the lock made
    /// the slot start in the past, and two requests reached the server
    /// closer than the pace.
    ///
    /// SQLite: inside the database's write lock, on `now_ms`. PostgreSQL:
    /// one statement on the server's clock (`clock_timestamp()` in the
    /// conflict's update is read after the row lock is taken), so the row
    /// is locked for that statement alone: reserving with a transaction of
    /// its own (lock, read, write, commit: four round trips) queued a
    /// fleet's lookups behind each other, 9.7 ms each on average with 64
    /// at once.
    pub async fn reserve_pacing_slot(
        &self,
        server: &str,
        interval_ms: i64,
        burst: u32,
        now_ms: impl Fn() -> i64,
    ) -> Result<i64, StoreError> {
        let interval = interval_ms.max(1);
        let tolerance = interval.saturating_mul(i64::from(burst.max(1)) - 1);
        if self.engine() == Engine::Postgres {
            let row = sqlx::query(
                "INSERT INTO server_pacing (server_key, next_free_ms)
                 VALUES ($1, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) + $2)
                 ON CONFLICT (server_key) DO UPDATE SET next_free_ms = GREATEST(
                     server_pacing.next_free_ms,
                     CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)) + $2
                 RETURNING next_free_ms,
                           CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            )
            .bind(server)
            .bind(interval)
            .fetch_one(self.writer())
            .await?;
            let next_free: i64 = row.try_get(0)?;
            // Read after the update's clock: the wait is at most a few
            // microseconds short, and the answer's way back is longer.
            let now: i64 = row.try_get(1)?;
            let tat = next_free.saturating_sub(interval);
            return Ok((tat - tolerance - now).max(0));
        }
        let mut tx = self.write_tx().await?;
        let now_ms = now_ms();
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT next_free_ms FROM server_pacing WHERE server_key = $1")
                .bind(server)
                .fetch_optional(&mut *tx)
                .await?;
        let tat = stored.unwrap_or(now_ms).max(now_ms);
        let wait = (tat - tolerance - now_ms).max(0);
        sqlx::query(
            "INSERT INTO server_pacing (server_key, next_free_ms) VALUES ($1, $2)
             ON CONFLICT (server_key) DO UPDATE SET next_free_ms = excluded.next_free_ms",
        )
        .bind(server)
        .bind(tat.saturating_add(interval))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(wait)
    }
}
