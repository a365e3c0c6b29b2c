//! Domains and endpoints as the API reads them: pages with filters, a
//! keyset cursor and totals; the detail of one domain; endpoints by id.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::super::{Engine, Store, StoreError};
use super::{days_left, domain_of_client, domains_seen_by};
use super::{AlertView, ObservationView};
use super::{Arg, ClientRef, Cursor, Page, Sql, Totals, NO_EXPIRY, STATUS_SQL};
use crate::domain::access::Visibility;
use crate::domain::certificate::TlsMode;
use crate::domain::fleet::{OwnerKind, Watch};
use crate::domain::names::{to_unicode, HostName};
use crate::domain::status::{DomainStatus, StatusWindows};

/// How a domain page is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DomainSort {
    /// Soonest next expiry first (registration or certificate); nothing
    /// known sorts last.
    #[default]
    Expiry,
    /// By ASCII name.
    Name,
}

/// Filters and paging of a domain list.
#[derive(Debug, Clone, Default)]
pub struct DomainQuery {
    /// Only this client's domains: those whose registration it owns or
    /// under which it owns an endpoint.
    pub client_id: Option<i64>,
    pub status: Option<DomainStatus>,
    /// Only domains whose next expiry is before this time (expired included).
    pub expiring_before: Option<DateTime<Utc>>,
    /// Part of the ASCII name, lower case.
    pub name_contains: Option<String>,
    pub sort: DomainSort,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// A domain as listed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DomainItem {
    pub id: i64,
    /// ASCII (punycode) name.
    #[schema(example = "xn--bcher-kva.de")]
    pub name: String,
    /// The name as people read it.
    #[schema(example = "bücher.de")]
    pub display_name: String,
    /// The client that owns the registration (absent when the agency or
    /// nobody owns it, and for a client token looking at another client's).
    pub client: Option<ClientRef>,
    pub registration_owner: RegistrationOwner,
    /// What is watched: `registration`, `tls` (the endpoints) or `both`.
    #[schema(value_type = String, example = "both")]
    pub watch: Watch,
    /// `ok`, `expiring`, `expired`, `failing`, `not_found`, `needs_date` or
    /// `unknown` (see the API docs).
    #[schema(value_type = String, example = "expiring")]
    pub status: DomainStatus,
    /// The earlier of the registration expiry and the earliest certificate expiry.
    pub next_expiry_at: Option<String>,
    /// Whole days until `next_expiry_at` (negative when past).
    pub days_left: Option<i64>,
    pub registration: RegistrationState,
    pub certificate: CertificateState,
    /// How many endpoints are watched under the domain (a client token:
    /// of its own); 0 when only the registration is watched, though the
    /// endpoints kept under it are still listed in the detail.
    pub endpoint_count: i64,
    pub created_at: String,
}

/// Who owns a domain's registration (and receives its alerts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegistrationOwner {
    /// A client. A client token sees another client's ownership without
    /// `id` and `name`.
    Client {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// The agency itself: staff receive the registration's alerts.
    Agency,
    /// Nobody here renews it (a platform's registration, e.g. `github.io`).
    None,
}

/// The assessed registration of a domain.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RegistrationState {
    /// The earliest credible expiry.
    pub expires_at: Option<String>,
    /// Where it came from: `registry_rdap`, `registrar_rdap`, `whois` or `manual`.
    pub source: Option<String>,
    pub days_left: Option<i64>,
    /// Last lookup's outcome: `found`, `not_published`, `not_found`,
    /// `rate_limited`, `unparseable` or `failed`.
    pub outcome: Option<String>,
    /// Last lookup attempt.
    pub checked_at: Option<String>,
    /// Last lookup that returned facts.
    pub confirmed_at: Option<String>,
    /// True when recent lookups failed and `expires_at` is the last known date.
    pub stale: bool,
}

/// The certificates of a domain's endpoints, summed up.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CertificateState {
    /// Earliest leaf expiry among the current observations.
    pub not_after: Option<String>,
    pub days_left: Option<i64>,
    /// Worst current outcome: `ok`, `warning`, `critical` or `unknown`
    /// (could not check); absent before the first check.
    pub outcome: Option<String>,
}

/// One domain with everything known about it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DomainDetail {
    #[serde(flatten)]
    pub domain: DomainItem,
    /// A date entered by hand (e.g. from the registrar's invoice).
    pub manual_expires_at: Option<String>,
    pub manual_note: Option<String>,
    /// Registration facts, one per source.
    pub registration_facts: Vec<RegistrationFact>,
    /// True when sources report different expiry dates.
    pub registration_dates_disagree: bool,
    pub endpoints: Vec<EndpointView>,
    pub open_alerts: Vec<AlertView>,
}

/// What one source said about a registration, and when.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RegistrationFact {
    pub source: String,
    /// The RDAP base URL or WHOIS host that answered.
    pub server: Option<String>,
    pub outcome: String,
    pub expires_at: Option<String>,
    pub registered_at: Option<String>,
    pub updated_at: Option<String>,
    pub registrar: Option<String>,
    pub registrar_iana_id: Option<i64>,
    /// EPP status codes.
    pub status: Vec<String>,
    pub nameservers: Vec<String>,
    pub fetched_at: String,
    /// Whole days since `fetched_at`.
    pub age_days: Option<i64>,
}

/// A TLS service under a domain.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: i64,
    pub domain: String,
    pub host: String,
    pub display_host: String,
    pub port: u16,
    /// The client that owns the endpoint (absent: the agency's own).
    pub client: Option<ClientRef>,
    /// `direct`, `starttls-smtp`, `starttls-imap` or `starttls-pop3`.
    pub tls_mode: String,
    /// Address checked instead of resolving the host.
    pub pinned_address: Option<String>,
    pub created_at: String,
    pub next_check_at: Option<String>,
    /// The latest observation per address.
    pub current_observations: Vec<ObservationView>,
}

/// A change to an endpoint's options; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    /// The stored value ([`TlsMode::stored`]: `direct`, `smtp`, ...).
    pub tls_mode: Option<String>,
    /// `Some(None)` clears the pinned address.
    pub pinned_address: Option<Option<String>>,
}

/// The columns of a [`DomainItem`] (and the detail's manual date) over
/// `d` and its registration owner `c`, for the viewer `viewer` (a client's
/// placeholder, see [`Sql::viewer`]).
fn domain_columns(viewer: Option<&str>) -> String {
    format!(
        "d.id, d.name, d.client_id, c.name AS client_name, d.registration_owner, d.watch,
         d.next_expiry_at, d.expires_at, d.expires_source, d.registration_outcome,
         d.registration_checked_at, d.registration_confirmed_at, d.registration_stale,
         d.cert_not_after, d.cert_outcome, d.created_at, {} AS endpoint_count,
         d.manual_expires_at, d.manual_note",
        endpoint_count_sql(viewer)
    )
}

/// The endpoints watched under `d` the viewer may see (none when only
/// the registration is watched).
pub(super) fn endpoint_count_sql(viewer: Option<&str>) -> String {
    let own = viewer.map_or(String::new(), |v| format!(" AND e.client_id = {v}"));
    format!(
        "CASE WHEN d.watch = 'registration' THEN 0 ELSE \
         (SELECT COUNT(*) FROM endpoints e WHERE e.domain_id = d.id{own}) END"
    )
}

pub(super) fn expiry_key() -> String {
    format!("COALESCE(d.next_expiry_at, '{NO_EXPIRY}')")
}

/// The WHERE clause of a domain list (visibility and the query's filters),
/// shared by the typed and the SQL-rendered list. Values compared with
/// indexed columns are bound fixed (see `Sql::bind_fixed`). Returns the
/// viewer's placeholder (see [`Sql::viewer`]).
pub(super) fn domain_filter(
    filter: &mut Sql,
    engine: Engine,
    visibility: Visibility,
    query: &DomainQuery,
) -> Option<String> {
    filter.push(" WHERE 1 = 1");
    let viewer = filter.visible_domain(visibility);
    if let Some(id) = query.client_id {
        let client = filter.param(Arg::Int(id));
        let client = format!("({client} + 0)");
        // The same domains either way. SQLite answers the OR from both
        // indexes (registration owner, endpoints' client); PostgreSQL
        // would walk every domain testing the OR, so it gets the ids as
        // one set, from the same two indexes.
        let of_client = match engine {
            Engine::Sqlite => domain_of_client(&client),
            Engine::Postgres => format!(
                "d.id IN (SELECT s.id FROM domains s WHERE s.client_id = {client} \
                 UNION ALL SELECT x.domain_id FROM endpoints x WHERE x.client_id = {client})"
            ),
        };
        filter.push(" AND ").push(&of_client);
    }
    if let Some(status) = query.status {
        let common = matches!(
            status,
            DomainStatus::Ok | DomainStatus::Expiring | DomainStatus::Expired
        );
        if engine == Engine::Postgres && common {
            // The same rows (the status is always one of the seven), in
            // the form PostgreSQL estimates as common: it takes `= 'ok'` of
            // an expression for 0.5% of the domains, and so read and
            // sorted every domain of the range (250 to 320 ms at 100,000
            // domains) where walking the sort's index stops after a page.
            // These three fill the expiry range `status_implies` bounds
            // (nearly all of it for `ok` and `expired`, a quarter for
            // `expiring` in the benchmark); the rare ones keep `=`, which
            // PostgreSQL rightly takes as few.
            let others: Vec<String> = DomainStatus::ALL
                .iter()
                .filter(|other| **other != status)
                .map(|other| format!("'{}'", other.as_str()))
                .collect();
            filter.push(&format!(
                " AND ({STATUS_SQL}) NOT IN ({})",
                others.join(", ")
            ));
        } else {
            filter
                .push(&format!(" AND ({STATUS_SQL}) = "))
                .bind(Arg::Text(status.as_str().to_owned()));
        }
        status_implies(filter, status, query.sort);
    }
    if let Some(before) = query.expiring_before {
        filter
            .push(&format!(" AND {} <= ", expiry_key()))
            .bind_fixed(Arg::Text(super::format_time(before)));
    }
    if let Some(part) = &query.name_contains {
        let escaped = part
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        filter
            .push(" AND d.name LIKE ")
            .bind(Arg::Text(format!("%{escaped}%")))
            .push(" ESCAPE '\\'");
    }
    viewer
}

/// What `status` implies of a domain, as conditions an index can answer
/// (each follows from [`STATUS_SQL`], so they change no result): the
/// database walks the range they bound instead of computing the status of
/// every domain, which matters most for the rare statuses (a page of
/// `not_found` domains would otherwise read the whole table to find
/// there are few). `$1` is now, `$2` and `$3` the windows' ends.
///
/// The status filter itself stays: these conditions only narrow where the
/// database looks.
fn status_implies(filter: &mut Sql, status: DomainStatus, sort: DomainSort) {
    let key = expiry_key();
    let text = |arg: &Arg| match arg {
        Arg::Text(t) => t.clone(),
        Arg::Int(i) => i.to_string(),
    };
    let (now, registration, certificate) = (
        text(&filter.args[0]),
        text(&filter.args[1]),
        text(&filter.args[2]),
    );
    match status {
        // `next_expiry_at < now`.
        DomainStatus::Expired => {
            filter.push(&format!(" AND {key} < ($1 || '')"));
        }
        // Sorted by name, the common statuses are found soon enough
        // walking the names; a range of expiries would make the database
        // sort every domain in it.
        DomainStatus::Ok | DomainStatus::Expiring if sort == DomainSort::Name => {}
        // Neither expired nor expiring: the next expiry (the earlier of
        // the two dates) is not before now, nor before the earlier
        // window's end (or there is none).
        DomainStatus::Ok => {
            let from = now.max(registration.min(certificate));
            filter
                .push(&format!(" AND {key} >= "))
                .bind_fixed(Arg::Text(from));
        }
        // Not expired, and a date inside its window: the next expiry is
        // before the later window's end.
        DomainStatus::Expiring => {
            filter
                .push(&format!(" AND {key} >= ($1 || '') AND {key} < "))
                .bind_fixed(Arg::Text(registration.max(certificate)));
        }
        // Not expired either.
        DomainStatus::NotFound => {
            filter.push(&format!(
                " AND d.registration_outcome = 'not_found' AND {key} >= ($1 || '')"
            ));
        }
        DomainStatus::Failing => {
            filter.push(&format!(
                " AND d.cert_outcome IN ('critical', 'unknown') AND {key} >= ($1 || '')"
            ));
        }
        DomainStatus::NeedsDate => {
            filter.push(" AND d.expires_at IS NULL");
        }
        // No next expiry (the key's value for nothing known) and no check.
        DomainStatus::Unknown => {
            filter.push(&format!(
                " AND {key} >= '{NO_EXPIRY}' AND d.cert_outcome IS NULL"
            ));
        }
    }
}

impl Store {
    /// One page of domains, filtered and sorted; `total` counts every match.
    pub async fn domain_page(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        query: &DomainQuery,
    ) -> Result<Page<DomainItem>, StoreError> {
        self.domain_page_kept(visibility, windows, query, None)
            .await
    }

    /// [`Self::domain_page`], with the total from `totals` while one is
    /// kept that still holds (see [`Totals`]), else counted (and kept).
    pub(super) async fn domain_page_kept(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        query: &DomainQuery,
        totals: Option<&Totals>,
    ) -> Result<Page<DomainItem>, StoreError> {
        let mut filter = Sql::with_windows(windows);
        let viewer = domain_filter(&mut filter, self.engine(), visibility, query);
        let where_clause = filter.text.clone();
        let count_filter = Sql {
            text: format!(" FROM {}{where_clause}", domains_seen_by(viewer.as_deref())),
            args: filter.args.clone(),
        };

        let mut page = filter;
        page.text = format!(
            "SELECT {}, {STATUS_SQL} AS status, {} AS expiry_key,
                    (SELECT domains FROM api_generation WHERE id = 1) AS generation
             FROM {} LEFT JOIN clients c ON c.id = d.client_id{where_clause}",
            domain_columns(viewer.as_deref()),
            expiry_key(),
            domains_seen_by(viewer.as_deref())
        );
        let order = match query.sort {
            DomainSort::Expiry => {
                if let Some(cursor) = &query.cursor {
                    // The plain `>=` gives SQLite the index range's start;
                    // the row value then skips the rows of the last page.
                    page.push(&format!(" AND {} >= ", expiry_key()))
                        .bind(Arg::Text(cursor.key.clone()));
                    let key = page.args.len();
                    page.push(&format!(" AND ({}, d.id) > (${key}, ", expiry_key()))
                        .bind(Arg::Int(cursor.id))
                        .push(")");
                }
                format!(" ORDER BY {}, d.id", expiry_key())
            }
            DomainSort::Name => {
                if let Some(cursor) = &query.cursor {
                    page.push(" AND d.name > ")
                        .bind(Arg::Text(cursor.key.clone()));
                }
                " ORDER BY d.name".to_owned()
            }
        };
        page.push(&order).push(" LIMIT ");
        page.bind(Arg::Int(i64::from(query.limit) + 1));
        // Prepared on both engines. PostgreSQL goes over to a generic plan
        // after five requests; while its expiry indexes held the key alone
        // (before migration 0404) that plan read and sorted a whole expiry
        // range for one page, and the statement was planned per request
        // instead. With the id in the indexes every plan walks the list's
        // order and stops after a page: planning each request cost 18% of
        // the list's requests/s (README, "API benchmark").
        let rows = page.query().fetch_all(self.pool()).await?;
        // The generation in the page's snapshot; an empty page reads it
        // on its own (only when a kept total may be used).
        let generation: Option<i64> = match rows.first() {
            Some(row) => Some(row.get("generation")),
            None if totals.is_some() => Some(
                sqlx::query_scalar("SELECT domains FROM api_generation WHERE id = 1")
                    .fetch_one(self.pool())
                    .await?,
            ),
            None => None,
        };
        let total = self
            .domain_total(
                visibility,
                windows,
                query,
                &count_filter,
                generation,
                totals,
            )
            .await?;
        let more = rows.len() > query.limit as usize;
        let items: Vec<DomainItem> = rows
            .iter()
            .take(query.limit as usize)
            .map(|r| domain_item(r, windows.now, visibility))
            .collect();
        // A page of no items (limit 0, which the API refuses) has no cursor.
        let next_cursor = if more && query.limit > 0 {
            rows.get(query.limit as usize - 1).map(|last| {
                let key = match query.sort {
                    DomainSort::Expiry => last.get("expiry_key"),
                    DomainSort::Name => last.get("name"),
                };
                Cursor {
                    key,
                    id: last.get("id"),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(Page {
            items,
            total,
            next_cursor,
        })
    }

    /// One domain by canonical name, if the caller may see it.
    pub async fn visible_domain(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        name: &HostName,
    ) -> Result<DomainItem, StoreError> {
        Ok(domain_item(
            &self.domain_row(visibility, windows, name).await?,
            windows.now,
            visibility,
        ))
    }

    async fn domain_row(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        name: &HostName,
    ) -> Result<AnyRow, StoreError> {
        let mut sql = Sql::with_windows(windows);
        let viewer = sql.viewer(visibility);
        sql.push(&format!(
            "SELECT {}, {STATUS_SQL} AS status
             FROM {} LEFT JOIN clients c ON c.id = d.client_id WHERE d.name = ",
            domain_columns(viewer.as_deref()),
            domains_seen_by(viewer.as_deref())
        ))
        .bind(Arg::Text(name.as_str().to_owned()));
        if let Some(viewer) = &viewer {
            sql.push(" AND ").push(&domain_of_client(viewer));
        }
        sql.query()
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| not_tracked(name))
    }

    /// A domain with its registration facts, endpoints, current
    /// observations and open alerts.
    pub async fn domain_detail(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        name: &HostName,
    ) -> Result<DomainDetail, StoreError> {
        let row = self.domain_row(visibility, windows, name).await?;
        let domain = domain_item(&row, windows.now, visibility);
        let facts = sqlx::query(
            "SELECT source, server, outcome, expires_at, registered_at, updated_at, registrar,
                    registrar_iana_id, status, nameservers, fetched_at
             FROM registration_facts WHERE domain_id = $1 ORDER BY source",
        )
        .bind(domain.id)
        .fetch_all(self.pool())
        .await?;
        let registration_facts: Vec<RegistrationFact> = facts
            .iter()
            .map(|f| {
                let fetched_at: String = f.get("fetched_at");
                RegistrationFact {
                    source: f.get("source"),
                    server: f.get("server"),
                    outcome: f.get("outcome"),
                    expires_at: f.get("expires_at"),
                    registered_at: f.get("registered_at"),
                    updated_at: f.get("updated_at"),
                    registrar: f.get("registrar"),
                    registrar_iana_id: f.get("registrar_iana_id"),
                    status: json_list(f.get("status")),
                    nameservers: json_list(f.get("nameservers")),
                    age_days: days_left(Some(&fetched_at), windows.now).map(|d| -d - 1),
                    fetched_at,
                }
            })
            .collect();
        let mut dates: Vec<&str> = registration_facts
            .iter()
            .filter_map(|f| f.expires_at.as_deref())
            .map(|t| t.get(..10).unwrap_or(t))
            .collect();
        dates.sort_unstable();
        dates.dedup();
        let endpoints = self.endpoints_of(domain.id, visibility).await?;
        let open_alerts = self.open_alerts_of_domain(domain.id, visibility).await?;
        Ok(DomainDetail {
            manual_expires_at: row.get("manual_expires_at"),
            manual_note: row.get("manual_note"),
            registration_dates_disagree: dates.len() > 1,
            registration_facts,
            endpoints,
            open_alerts,
            domain,
        })
    }

    /// The endpoints of a domain the caller may see (a client: its own),
    /// with current observations.
    pub async fn visible_domain_endpoints(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        name: &HostName,
    ) -> Result<Vec<EndpointView>, StoreError> {
        let domain = self.visible_domain(visibility, windows, name).await?;
        self.endpoints_of(domain.id, visibility).await
    }

    /// The endpoints under a domain the caller may see (a client: its own).
    async fn endpoints_of(
        &self,
        domain_id: i64,
        visibility: Visibility,
    ) -> Result<Vec<EndpointView>, StoreError> {
        let mut sql = Sql {
            text: format!("{ENDPOINT_SELECT} WHERE e.domain_id = $1"),
            args: vec![Arg::Int(domain_id)],
        };
        sql.visible(visibility, "e.client_id");
        sql.push(" ORDER BY e.host, e.port");
        let rows = sql.query().fetch_all(self.pool()).await?;
        let mut endpoints: Vec<EndpointView> = rows.iter().map(endpoint_view).collect();
        let ids: Vec<i64> = endpoints.iter().map(|e| e.id).collect();
        let mut current = self.current_observations(&ids).await?;
        for endpoint in &mut endpoints {
            endpoint.current_observations = current
                .iter()
                .filter(|o| o.endpoint_id == endpoint.id)
                .cloned()
                .collect();
        }
        current.clear();
        Ok(endpoints)
    }

    /// One endpoint by id, if the caller may see it (a client: its own).
    pub async fn visible_endpoint(
        &self,
        visibility: Visibility,
        id: i64,
    ) -> Result<EndpointView, StoreError> {
        let mut sql = Sql {
            text: format!("{ENDPOINT_SELECT} WHERE e.id = $1"),
            args: vec![Arg::Int(id)],
        };
        sql.visible(visibility, "e.client_id");
        let row = sql
            .query()
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| no_endpoint(id))?;
        let mut endpoint = endpoint_view(&row);
        endpoint.current_observations = self.current_observations(&[id]).await?;
        Ok(endpoint)
    }

    /// Changes an endpoint's TLS mode or pinned address (validated by the caller).
    pub async fn change_endpoint(
        &self,
        id: i64,
        change: &EndpointChange,
        now: DateTime<Utc>,
    ) -> Result<EndpointView, StoreError> {
        let mut tx = self.write_tx().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM endpoints WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(no_endpoint(id));
        }
        if let Some(mode) = &change.tls_mode {
            sqlx::query("UPDATE endpoints SET tls_mode = $1 WHERE id = $2")
                .bind(mode)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(pinned) = &change.pinned_address {
            sqlx::query("UPDATE endpoints SET pinned_address = $1 WHERE id = $2")
                .bind(pinned)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // A changed way of checking is worth checking at once.
        sqlx::query("UPDATE endpoints SET next_check_at = $1 WHERE id = $2")
            .bind(super::format_time(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.visible_endpoint(Visibility::All, id).await
    }

    /// The host and port of an endpoint, for removal by id.
    pub async fn endpoint_address(&self, id: i64) -> Result<(HostName, u16), StoreError> {
        let row = sqlx::query("SELECT host, port FROM endpoints WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| no_endpoint(id))?;
        Ok((
            HostName::from_canonical(row.get::<String, _>("host")),
            u16::try_from(row.get::<i64, _>("port")).unwrap_or_default(),
        ))
    }
}

const ENDPOINT_SELECT: &str = "SELECT e.id, d.name AS domain_name, e.host, e.port, e.tls_mode,
     e.client_id, ec.name AS client_name, e.pinned_address, e.created_at, e.next_check_at
     FROM endpoints e JOIN domains d ON d.id = e.domain_id LEFT JOIN clients ec ON ec.id = e.client_id";

fn endpoint_view(r: &AnyRow) -> EndpointView {
    let host: String = r.get("host");
    let port = u16::try_from(r.get::<i64, _>("port")).unwrap_or_default();
    EndpointView {
        id: r.get("id"),
        domain: r.get("domain_name"),
        display_host: to_unicode(&host),
        host,
        port,
        client: ClientRef::from_row(r.get("client_id"), r.get("client_name")),
        tls_mode: TlsMode::from_stored(r.get("tls_mode"), port)
            .name()
            .to_owned(),
        pinned_address: r.get("pinned_address"),
        created_at: r.get("created_at"),
        next_check_at: r.get("next_check_at"),
        current_observations: Vec::new(),
    }
}

/// A domain row as `visibility` may see it: a client token sees another
/// client's registration ownership without the client.
fn domain_item(r: &AnyRow, now: DateTime<Utc>, visibility: Visibility) -> DomainItem {
    let name: String = r.get("name");
    let owner_id: Option<i64> = r.get("client_id");
    let client = ClientRef::from_row(owner_id, r.get("client_name"))
        .filter(|c| visibility.client_id().is_none_or(|viewer| viewer == c.id));
    let registration_owner = match OwnerKind::parse(r.get("registration_owner")) {
        Some(OwnerKind::Client) => RegistrationOwner::Client {
            id: client.as_ref().map(|c| c.id),
            name: client.as_ref().map(|c| c.name.clone()),
        },
        Some(OwnerKind::None) => RegistrationOwner::None,
        Some(OwnerKind::Agency) | None => RegistrationOwner::Agency,
    };
    let next_expiry_at: Option<String> = r.get("next_expiry_at");
    let expires_at: Option<String> = r.get("expires_at");
    let cert_not_after: Option<String> = r.get("cert_not_after");
    DomainItem {
        id: r.get("id"),
        display_name: to_unicode(&name),
        name,
        client,
        registration_owner,
        watch: Watch::parse(r.get("watch")).unwrap_or(Watch::Both),
        status: DomainStatus::parse(r.get("status")).unwrap_or(DomainStatus::Unknown),
        days_left: days_left(next_expiry_at.as_deref(), now),
        next_expiry_at,
        registration: RegistrationState {
            days_left: days_left(expires_at.as_deref(), now),
            expires_at,
            source: r.get("expires_source"),
            outcome: r.get("registration_outcome"),
            checked_at: r.get("registration_checked_at"),
            confirmed_at: r.get("registration_confirmed_at"),
            stale: r.get::<i64, _>("registration_stale") != 0,
        },
        certificate: CertificateState {
            days_left: days_left(cert_not_after.as_deref(), now),
            not_after: cert_not_after,
            outcome: r.get("cert_outcome"),
        },
        endpoint_count: r.get("endpoint_count"),
        created_at: r.get("created_at"),
    }
}

fn json_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub(super) fn not_tracked(name: &HostName) -> StoreError {
    StoreError::NotFound(format!("`{}` is not tracked", name.to_unicode()))
}

fn no_endpoint(id: i64) -> StoreError {
    StoreError::NotFound(format!("no endpoint with id {id}"))
}
