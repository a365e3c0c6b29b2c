//! Scans requested through the API: a `scans` row in state `queued` with
//! its scope, which the scan engine picks up with
//! [`Store::claim_queued_scan`]; progress is read from the same row.
//!
//! `scans.scope` holds [`ScanScope`] as JSON: `{"kind":"all"}`,
//! `{"kind":"client","client_id":3,"client":"Acme"}` or
//! `{"kind":"domain","domain_id":9,"domain":"example.com","client_id":3}`.
//! The `client_id` is what client tokens are filtered on.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::super::{format_time, Store, StoreError};
use super::{Arg, Cursor, Page, Sql};
use crate::domain::access::Visibility;

/// What a scan covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanScope {
    /// Every domain and endpoint.
    All,
    /// One client's domains and endpoints.
    Client { client_id: i64, client: String },
    /// One domain and its endpoints.
    Domain {
        domain_id: i64,
        domain: String,
        client_id: Option<i64>,
    },
}

/// A scan and its progress.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ScanView {
    pub id: i64,
    /// `queued`, `running`, `finished` or `interrupted`.
    pub state: String,
    pub scope: ScanScope,
    /// When it was requested (while `queued`), then when it started.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub items_total: i64,
    pub items_done: i64,
    /// `items_done` of `items_total` in percent; 0 before the items are known.
    pub progress_percent: f64,
    pub count_ok: i64,
    pub count_warning: i64,
    pub count_critical: i64,
    pub count_unknown: i64,
}

const SCAN_SELECT: &str = "SELECT s.id, s.state, s.scope, s.started_at, s.finished_at,
     s.items_total, s.items_done, s.count_ok, s.count_warning, s.count_critical, s.count_unknown
     FROM scans s";

/// The client a scan belongs to (NULL for whole-fleet scans and for scopes
/// written in another format).
const SCAN_CLIENT: &str =
    "CASE WHEN json_valid(s.scope) THEN json_extract(s.scope, '$.client_id') END";

impl Store {
    /// Queues a scan. A scan of the same scope that is still queued is
    /// returned instead of a second one (`false`: nothing new was queued).
    pub async fn request_scan(
        &self,
        scope: &ScanScope,
        now: DateTime<Utc>,
    ) -> Result<(ScanView, bool), StoreError> {
        let scope_json = serde_json::to_string(scope)
            .map_err(|e| StoreError::Invalid(format!("scan scope: {e}")))?;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let queued: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM scans WHERE state = 'queued' AND scope = ? ORDER BY id LIMIT 1",
        )
        .bind(&scope_json)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, created) = match queued {
            Some(id) => (id, false),
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO scans (scope, state, started_at) VALUES (?, 'queued', ?)
                     RETURNING id",
                )
                .bind(&scope_json)
                .bind(format_time(now))
                .fetch_one(&mut *tx)
                .await?;
                (id, true)
            }
        };
        tx.commit().await?;
        Ok((self.visible_scan(Visibility::All, id).await?, created))
    }

    /// One scan, if the caller may see it.
    pub async fn visible_scan(
        &self,
        visibility: Visibility,
        id: i64,
    ) -> Result<ScanView, StoreError> {
        let mut sql = Sql {
            text: format!("{SCAN_SELECT} WHERE s.id = ?1"),
            args: vec![Arg::Int(id)],
        };
        sql.visible(visibility, SCAN_CLIENT);
        let row = sql
            .query()
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no scan with id {id}")))?;
        Ok(scan_view(&row))
    }

    /// Scans, newest first, within the caller's visibility (a client sees
    /// the scans of its client and of its domains).
    pub async fn scan_page(
        &self,
        visibility: Visibility,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<ScanView>, StoreError> {
        let mut filter = Sql {
            text: " WHERE 1 = 1".into(),
            args: Vec::new(),
        };
        filter.visible(visibility, SCAN_CLIENT);
        let total: i64 = Sql {
            text: format!("SELECT COUNT(*) FROM scans s{}", filter.text),
            args: filter.args.clone(),
        }
        .query()
        .fetch_one(self.pool())
        .await?
        .get(0);
        let mut page = Sql {
            text: format!("{SCAN_SELECT}{}", filter.text),
            args: filter.args,
        };
        if let Some(cursor) = cursor {
            page.push(" AND s.id < ").bind(Arg::Int(cursor.id));
        }
        page.push(" ORDER BY s.id DESC LIMIT ")
            .bind(Arg::Int(i64::from(limit) + 1));
        let rows = page.query().fetch_all(self.pool()).await?;
        let more = rows.len() > limit as usize;
        let items: Vec<ScanView> = rows.iter().take(limit as usize).map(scan_view).collect();
        let next_cursor = more.then(|| items.last()).flatten().map(|last| {
            Cursor {
                key: String::new(),
                id: last.id,
            }
            .encode()
        });
        Ok(Page {
            items,
            total,
            next_cursor,
        })
    }

    /// **The scan engine's hook.** Takes the oldest queued scan, marks it
    /// `running` with `started_at = now` and returns its id and scope; `None`
    /// when nothing is queued. One statement, so two workers never claim
    /// the same scan. (On PostgreSQL the inner SELECT gets
    /// `FOR UPDATE SKIP LOCKED`.)
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
        Ok(row.map(|r| (r.get("id"), parse_scope(&r.get::<String, _>("scope")))))
    }
}

fn parse_scope(text: &str) -> ScanScope {
    serde_json::from_str(text).unwrap_or(ScanScope::All)
}

fn scan_view(r: &SqliteRow) -> ScanView {
    let items_total: i64 = r.get("items_total");
    let items_done: i64 = r.get("items_done");
    ScanView {
        id: r.get("id"),
        state: r.get("state"),
        scope: parse_scope(&r.get::<String, _>("scope")),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
        progress_percent: if items_total > 0 {
            (items_done as f64 * 1000.0 / items_total as f64).round() / 10.0
        } else {
            0.0
        },
        items_total,
        items_done,
        count_ok: r.get("count_ok"),
        count_warning: r.get("count_warning"),
        count_critical: r.get("count_critical"),
        count_unknown: r.get("count_unknown"),
    }
}
