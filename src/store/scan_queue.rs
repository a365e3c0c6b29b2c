//! The scheduler's side of the store: scans requested through the API wait
//! here as `queued` rows until the scheduler claims one
//! ([`Store::claim_queued_scan`]) and the engine adopts it
//! ([`Store::adopt_requested_scan`]: its items are written and it runs and
//! resumes like any scan, under the [`ScanScope`] it was requested with);
//! and the scheduler's heartbeat, which `/readyz` reads.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::read_models::ScanView;
use super::scans::fill_scan_items;
use super::{format_time, ScanHandle, ScanScope, Store, StoreError};
use crate::domain::access::Visibility;

/// The last beat of a background component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HeartbeatView {
    pub component: String,
    pub instance: String,
    pub beat_at: String,
}

/// The component name the scheduler beats under.
pub const SCHEDULER: &str = "scheduler";

impl Store {
    /// Queues a scan. A scan of the same scope that is still queued is
    /// returned instead of a second one (`false`: nothing new was queued).
    pub async fn request_scan(
        &self,
        scope: &ScanScope,
        now: DateTime<Utc>,
    ) -> Result<(ScanView, bool), StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        // Compared as values, so a queued row in an older shape counts too.
        let queued = sqlx::query("SELECT id, scope FROM scans WHERE state = 'queued' ORDER BY id")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .find(|row| ScanScope::from_stored(row.get("scope")) == Some(*scope))
            .map(|row| row.get::<i64, _>("id"));
        let (id, created) = match queued {
            Some(id) => (id, false),
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO scans (scope, state, started_at) VALUES (?, 'queued', ?)
                     RETURNING id",
                )
                .bind(scope.to_stored())
                .bind(format_time(now))
                .fetch_one(&mut *tx)
                .await?;
                (id, true)
            }
        };
        tx.commit().await?;
        Ok((self.visible_scan(Visibility::All, id).await?, created))
    }

    /// **The scheduler's hook.** Takes the oldest queued scan, marks it
    /// `running` with `started_at = now` and returns its id and scope; `None`
    /// when nothing is queued. One statement, so two workers never claim
    /// the same scan. (On PostgreSQL the inner SELECT gets
    /// `FOR UPDATE SKIP LOCKED`.) A scope this version cannot read is an
    /// error naming the scan, which stays claimed rather than run as
    /// something else.
    pub async fn claim_queued_scan(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, ScanScope)>, StoreError> {
        let row = sqlx::query(
            "UPDATE scans SET state = 'running', started_at = ?
             WHERE id = (SELECT id FROM scans WHERE state = 'queued' ORDER BY id LIMIT 1)
               AND state = 'queued'
             RETURNING id, scope",
        )
        .bind(format_time(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let id: i64 = r.get("id");
            Ok((id, ScanScope::read(id, r.get("scope"))?))
        })
        .transpose()
    }

    /// Takes over a claimed scan: its work items for `scope` (the scope it
    /// was claimed with) are written, then it runs like any scan. The
    /// stored scope is left as requested.
    pub async fn adopt_requested_scan(
        &self,
        scan_id: i64,
        scope: &ScanScope,
        now: DateTime<Utc>,
    ) -> Result<ScanHandle, StoreError> {
        let now_text = format_time(now);
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE scans SET state = 'running', started_at = ? WHERE id = ?")
            .bind(&now_text)
            .bind(scan_id)
            .execute(&mut *tx)
            .await?;
        let total = fill_scan_items(&mut tx, scan_id, scope, &now_text).await?;
        tx.commit().await?;
        Ok(ScanHandle {
            scan_id,
            resumed: false,
            items_total: total,
            items_done: 0,
        })
    }

    /// **The scheduler's hook.** Records that `component` (use
    /// [`SCHEDULER`]) is alive; `/readyz` checks that the last beat is fresh.
    pub async fn record_heartbeat(
        &self,
        component: &str,
        instance: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO heartbeats (component, instance, beat_at) VALUES (?, ?, ?)
             ON CONFLICT (component) DO UPDATE SET instance = excluded.instance,
                                                   beat_at = excluded.beat_at",
        )
        .bind(component)
        .bind(instance)
        .bind(format_time(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The last beat of a component, if it ever beat.
    pub async fn heartbeat(&self, component: &str) -> Result<Option<HeartbeatView>, StoreError> {
        let row =
            sqlx::query("SELECT component, instance, beat_at FROM heartbeats WHERE component = ?")
                .bind(component)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| HeartbeatView {
            component: r.get("component"),
            instance: r.get("instance"),
            beat_at: r.get("beat_at"),
        }))
    }
}
