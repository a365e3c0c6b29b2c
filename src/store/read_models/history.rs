//! History as the API reads it: certificate observations per domain and per
//! endpoint (newest first), and alerts (firing and resolved).
//!
//! A client token sees the observations of its own endpoints, the alerts
//! of its own endpoints and the registration alerts of the domains whose
//! registration it owns.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::super::{Store, StoreError};
use super::{Arg, Cursor, Page, Sql, ALERT_CLIENT};
use crate::domain::access::Visibility;

/// One stored observation: one check result for one address of an endpoint.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ObservationView {
    pub id: i64,
    pub endpoint_id: i64,
    pub host: String,
    pub port: u16,
    /// The IP address checked; empty for findings about the endpoint as a
    /// whole (DNS failure, addresses disagreeing).
    pub address: String,
    /// When this result was first seen; history is compact, so an unchanged
    /// result only moves `last_seen_at`.
    pub first_seen_at: String,
    pub last_seen_at: String,
    /// True for the latest result of its address.
    pub current: bool,
    /// `ok`, `warning`, `critical` or `unknown` (could not check).
    pub outcome: String,
    /// SHA-256 of the leaf certificate, hex.
    pub leaf_fingerprint: Option<String>,
    pub leaf_not_after: Option<String>,
    /// Earliest expiry on the chain that validates.
    pub chain_not_after: Option<String>,
    /// Everything seen: the chain (subject, SANs, issuer, serial, key,
    /// signature), the findings and the TLS version.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// An alert: one episode of a condition on a domain or endpoint.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub domain: Option<String>,
    /// `host:port` when the alert is about an endpoint.
    pub endpoint: Option<String>,
    /// `cert_expiry`, `registration_expiry`, `check_failure`, ...
    pub kind: String,
    /// What the alert is about (a fingerprint, an expiry date).
    pub subject_key: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub opened_at: String,
    pub resolved_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    /// Who acknowledged it and when (it holds until the next threshold).
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    /// Snoozed until then, by whom.
    pub snoozed_until: Option<String>,
    pub snoozed_by: Option<String>,
}

/// Filters of the alert list.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// `firing` or `resolved`; both when absent.
    pub state: Option<String>,
    /// Only this client's alerts (its endpoints', its registrations').
    pub client_id: Option<i64>,
    pub domain: Option<String>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

const OBSERVATION_SELECT: &str = "SELECT o.id, o.endpoint_id, e.host, e.port, o.address,
     o.first_seen_at, o.last_seen_at, o.current, o.outcome, o.leaf_fingerprint,
     o.leaf_not_after, o.chain_not_after, o.details
     FROM cert_observations o JOIN endpoints e ON e.id = o.endpoint_id
     JOIN domains d ON d.id = e.domain_id";

/// The domain an alert belongs to, directly or through its endpoint.
const ALERT_DOMAIN: &str =
    "COALESCE(a.domain_id, (SELECT x.domain_id FROM endpoints x WHERE x.id = a.endpoint_id))";

impl Store {
    /// The current observations of these endpoints.
    pub(super) async fn current_observations(
        &self,
        endpoint_ids: &[i64],
    ) -> Result<Vec<ObservationView>, StoreError> {
        if endpoint_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql {
            text: format!("{OBSERVATION_SELECT} WHERE o.current = 1 AND o.endpoint_id IN ("),
            args: Vec::new(),
        };
        for (i, id) in endpoint_ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Arg::Int(*id));
        }
        sql.push(") ORDER BY o.endpoint_id, o.address");
        let rows = sql.query().fetch_all(self.pool()).await?;
        Ok(rows.iter().map(observation_view).collect())
    }

    /// Observation history, newest first: of one endpoint, or of every
    /// endpoint of a domain (a client: of its own endpoints).
    pub async fn observation_history(
        &self,
        visibility: Visibility,
        of: HistoryOf<'_>,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<ObservationView>, StoreError> {
        let mut filter = Sql {
            text: " WHERE 1 = 1".into(),
            args: Vec::new(),
        };
        filter.visible(visibility, "e.client_id");
        match of {
            HistoryOf::Endpoint(id) => filter.push(" AND o.endpoint_id = ").bind(Arg::Int(id)),
            HistoryOf::Domain(name) => filter
                .push(" AND d.name = ")
                .bind(Arg::Text(name.to_owned())),
        };
        let total: i64 = Sql {
            text: format!(
                "SELECT COUNT(*) FROM cert_observations o JOIN endpoints e ON e.id = o.endpoint_id
                 JOIN domains d ON d.id = e.domain_id{}",
                filter.text
            ),
            args: filter.args.clone(),
        }
        .query()
        .fetch_one(self.pool())
        .await?
        .get(0);
        let mut page = Sql {
            text: format!("{OBSERVATION_SELECT}{}", filter.text),
            args: filter.args,
        };
        if let Some(cursor) = cursor {
            page.push(" AND o.id < ").bind(Arg::Int(cursor.id));
        }
        page.push(" ORDER BY o.id DESC LIMIT ")
            .bind(Arg::Int(i64::from(limit) + 1));
        let rows = page.query().fetch_all(self.pool()).await?;
        Ok(id_page(&rows, limit, total, observation_view))
    }

    /// Alerts, newest first, within the caller's visibility.
    pub async fn alert_page(
        &self,
        visibility: Visibility,
        query: &AlertQuery,
    ) -> Result<Page<AlertView>, StoreError> {
        let mut filter = Sql {
            text: " WHERE 1 = 1".into(),
            args: Vec::new(),
        };
        filter.visible(visibility, ALERT_CLIENT);
        if let Some(state) = &query.state {
            filter
                .push(" AND a.state = ")
                .bind(Arg::Text(state.clone()));
        }
        if let Some(id) = query.client_id {
            filter
                .push(&format!(" AND {ALERT_CLIENT} = "))
                .bind(Arg::Int(id));
        }
        if let Some(name) = &query.domain {
            filter.push(" AND d.name = ").bind(Arg::Text(name.clone()));
        }
        let from = format!(
            " FROM alerts a LEFT JOIN domains d ON d.id = {ALERT_DOMAIN}
              LEFT JOIN endpoints e ON e.id = a.endpoint_id"
        );
        let total: i64 = Sql {
            text: format!("SELECT COUNT(*){from}{}", filter.text),
            args: filter.args.clone(),
        }
        .query()
        .fetch_one(self.pool())
        .await?
        .get(0);
        let mut page = Sql {
            text: format!("{ALERT_SELECT}{from}{}", filter.text),
            args: filter.args,
        };
        if let Some(cursor) = &query.cursor {
            page.push(" AND a.id < ").bind(Arg::Int(cursor.id));
        }
        page.push(" ORDER BY a.id DESC LIMIT ")
            .bind(Arg::Int(i64::from(query.limit) + 1));
        let rows = page.query().fetch_all(self.pool()).await?;
        Ok(id_page(&rows, query.limit, total, alert_view))
    }

    /// Firing alerts of a domain and its endpoints the caller may see.
    pub(super) async fn open_alerts_of_domain(
        &self,
        domain_id: i64,
        visibility: Visibility,
    ) -> Result<Vec<AlertView>, StoreError> {
        let mut sql = Sql {
            text: format!(
                "{ALERT_SELECT} FROM alerts a LEFT JOIN domains d ON d.id = {ALERT_DOMAIN}
                 LEFT JOIN endpoints e ON e.id = a.endpoint_id
                 WHERE a.state = 'firing' AND d.id = $1"
            ),
            args: vec![Arg::Int(domain_id)],
        };
        sql.visible(visibility, ALERT_CLIENT);
        sql.push(" ORDER BY a.id DESC");
        let rows = sql.query().fetch_all(self.pool()).await?;
        Ok(rows.iter().map(alert_view).collect())
    }
}

/// Whose observation history.
#[derive(Debug, Clone, Copy)]
pub enum HistoryOf<'a> {
    Endpoint(i64),
    /// Canonical (ASCII) domain name.
    Domain(&'a str),
}

const ALERT_SELECT: &str = "SELECT a.id, d.name AS domain_name, e.host, e.port, a.kind,
     a.subject_key, a.state, a.opened_at, a.resolved_at, a.details,
     a.acknowledged_at, a.acknowledged_by, a.snoozed_until, a.snoozed_by";

/// A page keyed by descending id.
fn id_page<T>(rows: &[AnyRow], limit: u32, total: i64, read: fn(&AnyRow) -> T) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = (rows.len() > limit)
        .then(|| rows.get(limit - 1))
        .flatten()
        .map(|last| {
            Cursor {
                key: String::new(),
                id: last.get("id"),
            }
            .encode()
        });
    Page {
        items: rows.iter().take(limit).map(read).collect(),
        total,
        next_cursor,
    }
}

fn observation_view(r: &AnyRow) -> ObservationView {
    ObservationView {
        id: r.get("id"),
        endpoint_id: r.get("endpoint_id"),
        host: r.get("host"),
        port: u16::try_from(r.get::<i64, _>("port")).unwrap_or_default(),
        address: r.get("address"),
        first_seen_at: r.get("first_seen_at"),
        last_seen_at: r.get("last_seen_at"),
        current: r.get::<i64, _>("current") == 1,
        outcome: r.get("outcome"),
        leaf_fingerprint: r.get("leaf_fingerprint"),
        leaf_not_after: r.get("leaf_not_after"),
        chain_not_after: r.get("chain_not_after"),
        details: serde_json::from_str(&r.get::<String, _>("details")).unwrap_or_default(),
    }
}

fn alert_view(r: &AnyRow) -> AlertView {
    let host: Option<String> = r.get("host");
    let port: Option<i64> = r.get("port");
    AlertView {
        id: r.get("id"),
        domain: r.get("domain_name"),
        endpoint: host.zip(port).map(|(h, p)| format!("{h}:{p}")),
        kind: r.get("kind"),
        subject_key: r.get("subject_key"),
        state: r.get("state"),
        opened_at: r.get("opened_at"),
        resolved_at: r.get("resolved_at"),
        details: r
            .get::<Option<String>, _>("details")
            .and_then(|d| serde_json::from_str(&d).ok()),
        acknowledged_at: r.get("acknowledged_at"),
        acknowledged_by: r.get("acknowledged_by"),
        snoozed_until: r.get("snoozed_until"),
        snoozed_by: r.get("snoozed_by"),
    }
}
