//! What operators and dashboards read about the whole fleet: the summary,
//! the facts behind `/metrics` (the scheduler's heartbeat among them), and
//! the upcoming expiries of the calendar feed.
//!
//! What is not watched is not counted: certificates and endpoints of a
//! domain watched for its registration alone, the registration of one
//! watched for its endpoints alone. Registrations belong to their owner,
//! certificates to their endpoint's client.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::super::{format_time, HeartbeatView, Store, StoreError, SCHEDULER};
use super::STATUS_SQL;
use super::{
    days_left, domain_of_client, domains_seen_by, Arg, Sql, ALERT_CLIENT, NEEDS_DATE_SQL, NO_EXPIRY,
};
use crate::domain::access::Visibility;
use crate::domain::names::to_unicode;
use crate::domain::status::{DomainStatus, StatusWindows};

/// Counts by status and the next expiries.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// When these figures were computed (they may be cached for a few seconds).
    pub generated_at: String,
    pub clients: i64,
    pub domains: i64,
    /// Endpoints checked (a client token: its own), not those kept under a
    /// domain watched for its registration alone.
    pub endpoints: i64,
    /// Domains per status; every status is present.
    #[schema(value_type = std::collections::BTreeMap<String, i64>,
             example = json!({"ok": 90, "expiring": 6, "expired": 1, "failing": 2, "unknown": 1,
                              "needs_date": 1, "not_found": 0}))]
    pub domains_by_status: std::collections::BTreeMap<&'static str, i64>,
    pub alerts_firing: i64,
    /// The soonest upcoming expiries (registration or certificate), at most 10.
    pub next_expiries: Vec<NextExpiry>,
}

/// An upcoming expiry of a domain.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NextExpiry {
    pub domain: String,
    pub display_name: String,
    /// The client owning the registration (absent for a client token
    /// looking at another client's).
    pub client: Option<String>,
    /// `registration` or `certificate`.
    pub kind: String,
    pub expires_at: String,
    pub days_left: i64,
}

/// A current certificate, for the metrics.
#[derive(Debug, Clone)]
pub struct CertificateMetric {
    pub host: String,
    pub port: u16,
    pub address: String,
    pub not_after: String,
}

/// A registration expiry by source, for the metrics.
#[derive(Debug, Clone)]
pub struct RegistrationMetric {
    pub domain: String,
    pub source: String,
    pub expires_at: String,
}

/// Everything `/metrics` shows, read in one go.
#[derive(Debug, Clone, Default)]
pub struct MetricsFacts {
    pub certificates: Vec<CertificateMetric>,
    pub registrations: Vec<RegistrationMetric>,
    /// (domain, assessed registration expiry).
    pub assessed_registrations: Vec<(String, String)>,
    pub domains_by_status: Vec<(String, i64)>,
    /// Endpoints checked (under a domain whose watch includes tls).
    pub endpoints: i64,
    /// Check results summed over every recorded scan: (outcome, count).
    pub check_outcomes: Vec<(String, i64)>,
    /// Durations of finished scans, in seconds.
    pub scan_durations_secs: Vec<f64>,
    pub scans_by_state: Vec<(String, i64)>,
    pub outbox_by_state: Vec<(String, i64)>,
    pub alerts_firing_by_kind: Vec<(String, i64)>,
    pub scheduler_heartbeat: Option<HeartbeatView>,
}

/// One event of the calendar feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry {
    /// Stable across feeds: `registration-<domain id>` or `certificate-<endpoint id>`.
    pub key: String,
    /// `registration` or `certificate`.
    pub kind: &'static str,
    /// `example.com` or `shop.example.com:443`.
    pub subject: String,
    /// The registration's owner, or the endpoint's client.
    pub client: Option<String>,
    pub expires_at: String,
    /// Where the date came from (`registry_rdap`, ...) for registrations.
    pub source: Option<String>,
}

/// A watched registration whose expiry nobody publishes and nobody has
/// entered: staff must enter the date by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateNeeded {
    /// ASCII (punycode) name.
    pub domain: String,
    /// The client owning the registration.
    pub client: Option<String>,
    /// The last lookup's outcome (`not_published`, `failed`, ...).
    pub outcome: Option<String>,
}

/// The most events one calendar feed carries.
pub const CALENDAR_MAX_EVENTS: i64 = 10_000;

impl Store {
    /// Counts by status and the next expiries, within the caller's visibility.
    pub async fn summary(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
    ) -> Result<Summary, StoreError> {
        let mut by_status = Sql::with_windows(windows);
        let viewer = by_status.viewer(visibility);
        by_status.push(&format!(
            "SELECT {STATUS_SQL} AS status, COUNT(*) AS n FROM {} WHERE 1 = 1",
            domains_seen_by(viewer.as_deref())
        ));
        if let Some(viewer) = &viewer {
            by_status.push(" AND ").push(&domain_of_client(viewer));
        }
        by_status.push(" GROUP BY 1");
        let rows = by_status.query().fetch_all(self.pool()).await?;
        let mut domains_by_status: std::collections::BTreeMap<&'static str, i64> =
            DomainStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut domains = 0;
        for row in &rows {
            let n: i64 = row.get("n");
            domains += n;
            if let Some(status) = DomainStatus::parse(row.get("status")) {
                domains_by_status.insert(status.as_str(), n);
            }
        }
        let client_id = visibility.client_id();
        let endpoints: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM endpoints e JOIN domains d ON d.id = e.domain_id
             WHERE d.watch <> 'registration' AND ($1 IS NULL OR e.client_id = $1)",
        )
        .bind(client_id)
        .fetch_one(self.pool())
        .await?;
        let clients: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM clients WHERE ($1 IS NULL OR id = $1)")
                .bind(client_id)
                .fetch_one(self.pool())
                .await?;
        let alerts_firing: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM alerts a LEFT JOIN domains d ON d.id =
               COALESCE(a.domain_id, (SELECT x.domain_id FROM endpoints x WHERE x.id = a.endpoint_id))
               LEFT JOIN endpoints e ON e.id = a.endpoint_id
             WHERE a.state = 'firing' AND ($1 IS NULL OR {ALERT_CLIENT} = $1)"
        ))
        .bind(client_id)
        .fetch_one(self.pool())
        .await?;
        let next_expiries = self.next_expiries(visibility, windows).await?;
        Ok(Summary {
            generated_at: format_time(windows.now),
            clients,
            domains,
            endpoints,
            domains_by_status,
            alerts_firing,
            next_expiries,
        })
    }

    /// The 10 soonest upcoming expiries the caller may see.
    async fn next_expiries(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
    ) -> Result<Vec<NextExpiry>, StoreError> {
        let mut next = Sql {
            text: String::new(),
            args: vec![Arg::Text(format_time(windows.now))],
        };
        // The owner's name only to staff and to the owner.
        let viewer = next.viewer(visibility);
        let owner_seen = viewer
            .as_ref()
            .map_or("1 = 1".to_owned(), |v| format!("d.client_id = {v}"));
        next.push(&format!(
            "SELECT d.name, CASE WHEN {owner_seen} THEN c.name END AS client_name,
                    d.next_expiry_at, d.expires_at
             FROM {} LEFT JOIN clients c ON c.id = d.client_id
             WHERE COALESCE(d.next_expiry_at, '{NO_EXPIRY}') >= $1",
            domains_seen_by(viewer.as_deref())
        ));
        if let Some(viewer) = &viewer {
            next.push(" AND ").push(&domain_of_client(viewer));
        }
        next.push(&format!(
            " ORDER BY COALESCE(d.next_expiry_at, '{NO_EXPIRY}'), d.id LIMIT 10"
        ));
        let next_rows = next.query().fetch_all(self.pool()).await?;
        Ok(next_rows
            .iter()
            .filter_map(|r| {
                let name: String = r.get("name");
                let at: String = r.get::<Option<String>, _>("next_expiry_at")?;
                let registration = r.get::<Option<String>, _>("expires_at").as_deref() == Some(&at);
                Some(NextExpiry {
                    display_name: to_unicode(&name),
                    domain: name,
                    client: r.get("client_name"),
                    kind: if registration {
                        "registration"
                    } else {
                        "certificate"
                    }
                    .into(),
                    days_left: days_left(Some(&at), windows.now).unwrap_or_default(),
                    expires_at: at,
                })
            })
            .collect())
    }

    /// Every registration that needs a date entered by hand (the condition
    /// of the status `needs_date`, whatever a certificate adds to the
    /// status; a domain the registry does not know is not asked for one),
    /// by name.
    pub async fn registrations_needing_date(&self) -> Result<Vec<DateNeeded>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT d.name, c.name AS client_name, d.registration_outcome
             FROM domains d LEFT JOIN clients c ON c.id = d.client_id
             WHERE {NEEDS_DATE_SQL} AND d.registration_outcome IS DISTINCT FROM 'not_found'
             ORDER BY d.name"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| DateNeeded {
                domain: r.get("name"),
                client: r.get("client_name"),
                outcome: r.get("registration_outcome"),
            })
            .collect())
    }

    /// The facts behind `/metrics` (the whole fleet).
    pub async fn metrics_facts(&self, windows: &StatusWindows) -> Result<MetricsFacts, StoreError> {
        let pool = self.pool();
        let certificates = certificate_metrics(pool).await?;
        let registrations = registration_metrics(pool).await?;
        let assessed_registrations = sqlx::query(
            "SELECT name, expires_at FROM domains
             WHERE expires_at IS NOT NULL AND watch <> 'tls' ORDER BY name",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let mut by_status = Sql::with_windows(windows);
        by_status.push(&format!(
            "SELECT {STATUS_SQL} AS status, COUNT(*) FROM domains d GROUP BY 1 ORDER BY 1"
        ));
        let domains_by_status = pairs(by_status.query().fetch_all(pool).await?);
        let endpoints: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM endpoints e JOIN domains d ON d.id = e.domain_id
             WHERE d.watch <> 'registration'",
        )
        .fetch_one(pool)
        .await?;
        let (check_outcomes, scan_durations_secs, scans_by_state) = scan_metrics(pool).await?;
        let outbox_by_state = pairs(
            sqlx::query("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
                .fetch_all(pool)
                .await?,
        );
        let alerts_firing_by_kind = pairs(
            sqlx::query(
                "SELECT kind, COUNT(*) FROM alerts WHERE state = 'firing' GROUP BY kind ORDER BY kind",
            )
            .fetch_all(pool)
            .await?,
        );
        Ok(MetricsFacts {
            certificates,
            registrations,
            assessed_registrations,
            domains_by_status,
            endpoints,
            check_outcomes,
            scan_durations_secs,
            scans_by_state,
            outbox_by_state,
            alerts_firing_by_kind,
            scheduler_heartbeat: self.heartbeat(SCHEDULER).await?,
        })
    }

    /// Registration and certificate expiries from `from` to `until`, soonest
    /// first, at most [`CALENDAR_MAX_EVENTS`]: watched registrations with
    /// their owner (a client token: those it owns), certificates of watched
    /// endpoints with the endpoint's client (a client token: its own).
    pub async fn calendar_entries(
        &self,
        visibility: Visibility,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CalendarEntry>, StoreError> {
        let mut sql = Sql {
            text: "SELECT 'registration' AS kind, d.id AS id, d.name AS subject, c.name AS client_name,
                     d.expires_at AS at, d.expires_source AS source
                 FROM domains d LEFT JOIN clients c ON c.id = d.client_id
                 WHERE d.expires_at >= $1 AND d.expires_at <= $2 AND d.watch <> 'tls'"
                .into(),
            args: vec![
                Arg::Text(format_time(from)),
                Arg::Text(format_time(until)),
            ],
        };
        sql.visible(visibility, "d.client_id");
        sql.push(
            " UNION ALL
             SELECT 'certificate', e.id, e.host || ':' || e.port, c.name, MIN(o.leaf_not_after), NULL
             FROM cert_observations o JOIN endpoints e ON e.id = o.endpoint_id
               JOIN domains d ON d.id = e.domain_id LEFT JOIN clients c ON c.id = e.client_id
             WHERE o.current = 1 AND o.leaf_not_after >= $1 AND o.leaf_not_after <= $2
               AND d.watch <> 'registration'",
        );
        sql.visible(visibility, "e.client_id");
        sql.push(" GROUP BY e.id, c.name ORDER BY at, subject LIMIT ")
            .bind(Arg::Int(CALENDAR_MAX_EVENTS));
        let rows = sql.query().fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let kind = if r.get::<String, _>("kind") == "registration" {
                    "registration"
                } else {
                    "certificate"
                };
                CalendarEntry {
                    key: format!("{kind}-{}", r.get::<i64, _>("id")),
                    kind,
                    subject: r.get("subject"),
                    client: r.get("client_name"),
                    expires_at: r.get("at"),
                    source: r.get("source"),
                }
            })
            .collect())
    }
}

/// Current certificates with a not-after, by host, port and address.
async fn certificate_metrics(pool: &sqlx::AnyPool) -> Result<Vec<CertificateMetric>, StoreError> {
    Ok(sqlx::query(
        "SELECT e.host, e.port, o.address, o.leaf_not_after
         FROM cert_observations o JOIN endpoints e ON e.id = o.endpoint_id
           JOIN domains d ON d.id = e.domain_id
         WHERE o.current = 1 AND o.leaf_not_after IS NOT NULL AND d.watch <> 'registration'
         ORDER BY e.host, e.port, o.address",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| CertificateMetric {
        host: r.get("host"),
        port: u16::try_from(r.get::<i64, _>("port")).unwrap_or_default(),
        address: r.get("address"),
        not_after: r.get("leaf_not_after"),
    })
    .collect())
}

/// Registration expiries per source, plus the assessed one of domains
/// whose source has no fact row.
async fn registration_metrics(pool: &sqlx::AnyPool) -> Result<Vec<RegistrationMetric>, StoreError> {
    Ok(sqlx::query(
        "SELECT d.name, f.source, f.expires_at FROM registration_facts f
           JOIN domains d ON d.id = f.domain_id
         WHERE f.expires_at IS NOT NULL AND d.watch <> 'tls'
         UNION ALL
         SELECT d.name, COALESCE(d.expires_source, 'unknown'), d.expires_at FROM domains d
         WHERE d.expires_at IS NOT NULL AND d.watch <> 'tls' AND NOT EXISTS (
             SELECT 1 FROM registration_facts f
             WHERE f.domain_id = d.id AND f.source = d.expires_source)
         ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| RegistrationMetric {
        domain: r.get(0),
        source: r.get(1),
        expires_at: r.get(2),
    })
    .collect())
}

/// Check results summed over every scan, durations of finished scans,
/// scans per state.
async fn scan_metrics(
    pool: &sqlx::AnyPool,
) -> Result<(Vec<(String, i64)>, Vec<f64>, Vec<(String, i64)>), StoreError> {
    let check_outcomes = sqlx::query(
        "SELECT CAST(COALESCE(SUM(count_ok), 0) AS BIGINT),
                CAST(COALESCE(SUM(count_warning), 0) AS BIGINT),
                CAST(COALESCE(SUM(count_critical), 0) AS BIGINT),
                CAST(COALESCE(SUM(count_unknown), 0) AS BIGINT) FROM scans",
    )
    .fetch_one(pool)
    .await
    .map(|r| {
        ["ok", "warning", "critical", "unknown"]
            .iter()
            .enumerate()
            .map(|(i, o)| ((*o).to_owned(), r.get::<i64, _>(i)))
            .collect()
    })?;
    let scan_durations_secs = sqlx::query(
        "SELECT started_at, finished_at FROM scans
         WHERE state = 'finished' AND finished_at IS NOT NULL",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .filter_map(|r| {
        let started = super::super::parse_time(r.get(0))?;
        let finished = super::super::parse_time(r.get(1))?;
        Some(((finished - started).num_milliseconds() as f64 / 1000.0).max(0.0))
    })
    .collect();
    let scans_by_state = pairs(
        sqlx::query("SELECT state, COUNT(*) FROM scans GROUP BY state ORDER BY state")
            .fetch_all(pool)
            .await?,
    );
    Ok((check_outcomes, scan_durations_secs, scans_by_state))
}

fn pairs(rows: Vec<sqlx::any::AnyRow>) -> Vec<(String, i64)> {
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}
