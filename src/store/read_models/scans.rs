//! Scans as callers see them: state, progress and counts, and the scope
//! with the names of its client or domain joined in at read time (the
//! stored [`ScanScope`] holds ids only; see `store/scan_scope.rs`).
//!
//! A client token sees the scans of its client and of the domains it may
//! see (whose registration or one of whose endpoints it owns, as they are
//! now); whole-fleet and due-work scans are staff business.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::super::{Dialect, Engine, ScanScope, Store, StoreError};
use super::domain_of_client_as;
use super::{Arg, Cursor, Page, Sql};
use crate::domain::access::Visibility;

// The stored [`ScanScope`] with the names joined in. Its doc comment is the
// OpenAPI description, and its OpenAPI name stays `ScanScope`, as it was.
/// What a scan covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schema(as = ScanScope)]
pub enum ScanScopeView {
    /// Every domain and endpoint.
    All,
    /// One client's domains and endpoints. `client` is null once the
    /// client has been removed.
    Client {
        client_id: i64,
        client: Option<String>,
    },
    /// One domain and its endpoints; `client_id` is the client owning the
    /// domain's registration (null for a client token when another client
    /// owns it). `domain` is null once the domain has been removed.
    Domain {
        domain_id: i64,
        domain: Option<String>,
        client_id: Option<i64>,
    },
    /// Only what was due: new endpoints and domains, failed checks retried.
    Due,
    /// The stored scope is in no shape this version reads (another version
    /// wrote it): nothing is claimed about what the scan covered.
    Unknown,
}

/// A scan and its progress.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ScanView {
    pub id: i64,
    /// `queued`, `running`, `finished` or `interrupted`.
    pub state: String,
    pub scope: ScanScopeView,
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

/// The client and the domain a scan's scope names, by the keys `client_id`
/// and `domain_id` (the current shape and the API's older one both use
/// them); NULL when the stored scope is not JSON. PostgreSQL has no
/// `json_valid` (and a cast of text that is not JSON fails), so it picks
/// the number out of the text.
const SCOPE_CLIENT_ID: Dialect = Dialect {
    sqlite: "(CASE WHEN json_valid(s.scope) THEN json_extract(s.scope, '$.client_id') END)",
    postgres: "CAST(substring(s.scope from '\"client_id\":[[:space:]]*(-?[0-9]+)') AS BIGINT)",
};
const SCOPE_DOMAIN_ID: Dialect = Dialect {
    sqlite: "(CASE WHEN json_valid(s.scope) THEN json_extract(s.scope, '$.domain_id') END)",
    postgres: "CAST(substring(s.scope from '\"domain_id\":[[:space:]]*(-?[0-9]+)') AS BIGINT)",
};

/// The scans with the client and domain their scope names (`sc`, `sd`).
fn scans_with_scope(engine: Engine) -> String {
    format!(
        "scans s LEFT JOIN clients sc ON sc.id = {} LEFT JOIN domains sd ON sd.id = {}",
        SCOPE_CLIENT_ID.of(engine),
        SCOPE_DOMAIN_ID.of(engine)
    )
}

const SCAN_COLUMNS: &str = "s.id, s.state, s.scope, s.started_at, s.finished_at,
     s.items_total, s.items_done, s.count_ok, s.count_warning, s.count_critical, s.count_unknown,
     sc.name AS scope_client, sd.name AS scope_domain, sd.client_id AS scope_domain_client";

/// Whether the client `client` (an SQL expression) may see a scan, over
/// [`scans_with_scope`]: a client scan of its own, a domain scan of a
/// domain it may see (see [`domain_of_client_as`]); never whole-fleet and
/// due-work scans (nor a scan of a domain since removed).
fn scan_of_client(engine: Engine, client: &str) -> String {
    let domain = domain_of_client_as("sd", client);
    format!(
        "(CASE WHEN {} IS NOT NULL THEN sd.id IS NOT NULL AND {domain} ELSE {} = {client} END)",
        SCOPE_DOMAIN_ID.of(engine),
        SCOPE_CLIENT_ID.of(engine)
    )
}

impl Sql {
    /// ` AND <the scan is the viewer's>` for a client viewer.
    fn visible_scan(&mut self, engine: Engine, visibility: Visibility) -> &mut Self {
        if let Some(viewer) = self.viewer(visibility) {
            self.push(" AND ").push(&scan_of_client(engine, &viewer));
        }
        self
    }
}

impl Store {
    /// One scan, if the caller may see it.
    pub async fn visible_scan(
        &self,
        visibility: Visibility,
        id: i64,
    ) -> Result<ScanView, StoreError> {
        let mut sql = Sql {
            text: format!(
                "SELECT {SCAN_COLUMNS} FROM {} WHERE s.id = $1",
                scans_with_scope(self.engine())
            ),
            args: vec![Arg::Int(id)],
        };
        sql.visible_scan(self.engine(), visibility);
        let row = sql
            .query()
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no scan with id {id}")))?;
        Ok(scan_view(&row, visibility))
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
        filter.visible_scan(self.engine(), visibility);
        let scans = scans_with_scope(self.engine());
        let total: i64 = Sql {
            text: format!("SELECT COUNT(*) FROM {scans}{}", filter.text),
            args: filter.args.clone(),
        }
        .query()
        .fetch_one(self.pool())
        .await?
        .get(0);
        let mut page = Sql {
            text: format!("SELECT {SCAN_COLUMNS} FROM {scans}{}", filter.text),
            args: filter.args,
        };
        if let Some(cursor) = cursor {
            page.push(" AND s.id < ").bind(Arg::Int(cursor.id));
        }
        page.push(" ORDER BY s.id DESC LIMIT ")
            .bind(Arg::Int(i64::from(limit) + 1));
        let rows = page.query().fetch_all(self.pool()).await?;
        let more = rows.len() > limit as usize;
        let items: Vec<ScanView> = rows
            .iter()
            .take(limit as usize)
            .map(|r| scan_view(r, visibility))
            .collect();
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
}

/// The stored scope with the joined names; [`ScanScopeView::Unknown`] when
/// the stored text is in no shape this version reads.
fn scope_view(r: &AnyRow, visibility: Visibility) -> ScanScopeView {
    match ScanScope::from_stored(r.get("scope")) {
        Some(ScanScope::All) => ScanScopeView::All,
        Some(ScanScope::Client { client_id }) => ScanScopeView::Client {
            client_id,
            client: r.get("scope_client"),
        },
        Some(ScanScope::Domain { domain_id }) => ScanScopeView::Domain {
            domain_id,
            domain: r.get("scope_domain"),
            client_id: r
                .get::<Option<i64>, _>("scope_domain_client")
                .filter(|owner| visibility.client_id().is_none_or(|viewer| viewer == *owner)),
        },
        Some(ScanScope::Due) => ScanScopeView::Due,
        None => ScanScopeView::Unknown,
    }
}

fn scan_view(r: &AnyRow, visibility: Visibility) -> ScanView {
    let items_total: i64 = r.get("items_total");
    let items_done: i64 = r.get("items_done");
    ScanView {
        id: r.get("id"),
        state: r.get("state"),
        scope: scope_view(r, visibility),
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
