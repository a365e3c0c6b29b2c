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
        let mut tx = self.write_tx().await?;
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
                    "INSERT INTO scans (scope, state, started_at) VALUES ($1, 'queued', $2)
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
            "UPDATE scans SET state = 'running', started_at = $1
             WHERE id = (SELECT id FROM scans WHERE state = 'queued' ORDER BY id LIMIT 1)
               AND state = 'queued'
             RETURNING id, scope",
        )
        .bind(format_time(now))
        .fetch_optional(self.writer())
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
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE scans SET state = 'running', started_at = $1 WHERE id = $2")
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
            "INSERT INTO heartbeats (component, instance, beat_at) VALUES ($1, $2, $3)
             ON CONFLICT (component) DO UPDATE SET instance = excluded.instance,
                                                   beat_at = excluded.beat_at",
        )
        .bind(component)
        .bind(instance)
        .bind(format_time(now))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The last beat of a component, if it ever beat.
    pub async fn heartbeat(&self, component: &str) -> Result<Option<HeartbeatView>, StoreError> {
        let row =
            sqlx::query("SELECT component, instance, beat_at FROM heartbeats WHERE component = $1")
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::names::HostName;
    use crate::store::read_models::ScanScopeView;

    async fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(&crate::config::DatabaseConfig {
            postgres: None,
            path: dir.path().join("lapse.db"),
            max_connections: 2,
            busy_timeout: Duration::from_secs(5),
        })
        .await
        .unwrap()
    }

    /// A `scans` row as an older lapse left it.
    async fn old_row(store: &Store, scope: &str, state: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO scans (scope, state, started_at) VALUES ($1, $2, '2026-01-01T00:00:00Z')
             RETURNING id",
        )
        .bind(scope)
        .bind(state)
        .fetch_one(store.pool())
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn rows_in_the_apis_older_shape_show_claim_and_resume_as_their_scope() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let now = Utc::now();
        store.add_client("Acme", &[], now).await.unwrap();
        let acme = HostName::from_canonical("acme.test");
        store
            .add_endpoint(
                &HostName::from_canonical("www.acme.test"),
                443,
                &acme,
                Some("Acme"),
                now,
            )
            .await
            .unwrap();
        let client_id = store.client_id_by_name("Acme").await.unwrap();
        let domain_id: i64 = sqlx::query_scalar("SELECT id FROM domains")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let queued = old_row(
            &store,
            &format!(r#"{{"kind":"client","client_id":{client_id},"client":"Acme"}}"#),
            "queued",
        )
        .await;
        let running = old_row(
            &store,
            &format!(
                r#"{{"kind":"domain","domain_id":{domain_id},"domain":"acme.test","client_id":{client_id}}}"#
            ),
            "interrupted",
        )
        .await;

        let view = store
            .visible_scan(Visibility::Client(client_id), running)
            .await
            .unwrap();
        assert_eq!(
            view.scope,
            ScanScopeView::Domain {
                domain_id,
                domain: Some("acme.test".into()),
                client_id: Some(client_id),
            }
        );
        let (again, created) = store
            .request_scan(&ScanScope::Client { client_id }, now)
            .await
            .unwrap();
        assert_eq!(
            (again.id, created),
            (queued, false),
            "the queued old row counts"
        );
        assert_eq!(
            store.claim_queued_scan(now).await.unwrap(),
            Some((queued, ScanScope::Client { client_id }))
        );
        let resumed = store
            .start_or_resume_scan(&ScanScope::Domain { domain_id }, now)
            .await
            .unwrap();
        assert_eq!((resumed.scan_id, resumed.resumed), (running, true));
    }

    #[tokio::test]
    async fn an_unreadable_scope_is_shown_as_unknown_and_never_claimed_as_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let id = old_row(&store, r#"{"scope":"everything"}"#, "queued").await;
        let view = store.visible_scan(Visibility::All, id).await.unwrap();
        assert_eq!(view.scope, ScanScopeView::Unknown);
        assert!(matches!(
            store.claim_queued_scan(Utc::now()).await,
            Err(StoreError::UnreadableScanScope { scan_id, .. }) if scan_id == id
        ));
        assert!(matches!(
            store.unfinished_scan_scopes().await,
            Err(StoreError::UnreadableScanScope { scan_id, .. }) if scan_id == id
        ));
    }
}
