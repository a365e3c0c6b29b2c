//! Visibility-filtered read models: what a caller may see of clients,
//! domains, endpoints, history, alerts, scans and the fleet's figures, each
//! read scoped by a [`Visibility`], plus the edits by id that go with them.
//!
//! Every read takes a [`Visibility`]: a client token's requests filter on
//! its client in SQL, here, so a caller cannot forget it. In the fleet
//! model a domain is a client's when it owns the registration or at least
//! one endpoint under it (`domain_of_client`); endpoints, observations
//! and certificate figures are a client's own endpoints' only
//! (`domains_seen_by`); an alert is its endpoint's client's or its
//! registration owner's (`ALERT_CLIENT`); another client's ownership of a
//! registration shows without the client.
//!
//! The read models (`DomainItem`, `DomainDetail`, ...) are also the JSON
//! wire types of `/api/v1` (they derive `ToSchema` for the OpenAPI
//! document): one definition, so the document cannot drift from what is sent.
//!
//! - `read_models/catalog.rs`: clients and contacts by id
//! - `read_models/domains.rs`: domain pages (filters, keyset cursor, totals), detail, endpoints
//! - `read_models/json.rs`: the same page and detail rendered as JSON by SQLite (the hot
//!   routes), with totals cached per filter and generation of the domains
//! - `read_models/history.rs`: observation history, alerts
//! - `read_models/scans.rs`: scans and their progress, the scope's names joined in
//! - `read_models/operations.rs`: summary, metrics facts, calendar entries, the
//!   registrations waiting for a date entered by hand (for the staff digest)

mod catalog;
mod domains;
mod history;
mod json;
mod operations;
mod scans;

pub use catalog::{ClientRef, ClientView, ContactView};
pub use domains::{
    CertificateState, DomainDetail, DomainItem, DomainQuery, DomainSort, EndpointChange,
    EndpointView, RegistrationFact, RegistrationState,
};
pub use history::{AlertQuery, AlertView, HistoryOf, ObservationView};
pub use json::Totals;
pub use operations::{
    CalendarEntry, CertificateMetric, DateNeeded, MetricsFacts, NextExpiry, RegistrationMetric,
    Summary, CALENDAR_MAX_EVENTS,
};
pub use scans::{ScanScopeView, ScanView};

use crate::domain::access::Visibility;
use crate::domain::status::StatusWindows;

use super::format_time;

/// One page of a list: at most `limit` items, the total matching the
/// filters, and the cursor of the next page (absent on the last page).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many rows match the filters, over all pages.
    pub total: i64,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Where a page starts: a keyset cursor, opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub id: i64,
}

impl Cursor {
    /// URL-safe text: base64 of `key` NUL `id`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}\u{0}{}", self.key, self.id))
    }

    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (key, id) = text.split_once('\u{0}')?;
        Some(Self {
            key: key.to_owned(),
            id: id.parse().ok()?,
        })
    }
}

/// What sorts last when nothing is known (the indexes use the same value).
const NO_EXPIRY: &str = "9999-12-31T23:59:59Z";

/// The condition of the status `needs_date` over the alias `d`, on its
/// own: the registration is watched, no expiry is known, the lookup found
/// nothing published and nobody entered a date.
macro_rules! needs_date_sql {
    () => {
        "d.watch <> 'tls' AND d.expires_at IS NULL AND d.manual_expires_at IS NULL \
         AND (d.registration_outcome = 'not_published' \
              OR d.registration_capability = 'nothing_published')"
    };
}

/// Shared with the alert facts (`store::alerts`): the "needs a date" alert
/// follows the status.
pub(crate) use needs_date_sql;

/// The domain status rule of [`crate::domain::status`] in SQL, over the
/// alias `d`, with `?1` now, `?2` the registration window's end and `?3`
/// the certificate window's end.
const STATUS_SQL: &str = concat!(
    "CASE \
     WHEN d.next_expiry_at < $1 THEN 'expired' \
     WHEN d.watch <> 'tls' AND d.registration_outcome = 'not_found' THEN 'not_found' \
     WHEN d.cert_outcome IN ('critical', 'unknown') THEN 'failing' \
     WHEN d.expires_at < $2 OR d.cert_not_after < $3 THEN 'expiring' \
     WHEN ",
    needs_date_sql!(),
    " THEN 'needs_date' \
     WHEN d.next_expiry_at IS NULL AND d.cert_outcome IS NULL THEN 'unknown' \
     ELSE 'ok' END"
);

/// [`needs_date_sql!`] as a constant, for the list of dates to enter.
pub(super) const NEEDS_DATE_SQL: &str = needs_date_sql!();

/// Whether the client `client` (an SQL expression) may see the domain `d`:
/// it owns the registration or at least one endpoint under it.
fn domain_of_client(client: &str) -> String {
    domain_of_client_as("d", client)
}

/// The domains table under the alias `d`, as the viewer `viewer` (a
/// client's placeholder, `None`: staff) sees it. Staff read the table.
/// A client reads, for a domain under which another client (or the
/// agency) owns endpoints, the certificate columns over its own endpoints
/// alone (nothing when it owns none), and `next_expiry_at` from them, so
/// the status, the days left, the filters and the order it sees describe
/// what it can see. The other domains' columns are the table's.
fn domains_seen_by(viewer: Option<&str>) -> String {
    let Some(v) = viewer else {
        return "domains d".to_owned();
    };
    let shared = format!(
        "s.watch <> 'registration' AND EXISTS \
           (SELECT 1 FROM endpoints x WHERE x.domain_id = s.id AND x.client_id IS DISTINCT FROM {v})"
    );
    let own = format!(
        "FROM endpoints x CROSS JOIN cert_observations o \
         WHERE o.endpoint_id = x.id AND x.domain_id = s.id AND x.client_id = {v} \
           AND +o.current = 1"
    );
    format!(
        "(SELECT t.*, CASE WHEN t.expires_at IS NULL THEN t.cert_not_after \
                   WHEN t.cert_not_after IS NULL THEN t.expires_at \
                   WHEN t.cert_not_after < t.expires_at THEN t.cert_not_after \
                   ELSE t.expires_at END AS next_expiry_at \
          FROM (SELECT s.id, s.name, s.client_id, s.registration_owner, s.watch, s.created_at, \
                  s.expires_at, s.expires_source, s.registration_outcome, \
                  s.registration_checked_at, s.registration_confirmed_at, \
                  s.registration_stale, s.registration_capability, s.manual_expires_at, \
                  s.manual_note, \
                  CASE WHEN {shared} THEN (SELECT MIN(o.leaf_not_after) {own}) \
                       ELSE s.cert_not_after END AS cert_not_after, \
                  CASE WHEN {shared} THEN (SELECT CASE MAX(CASE o.outcome \
                         WHEN 'critical' THEN 3 WHEN 'unknown' THEN 2 WHEN 'warning' THEN 1 \
                         ELSE 0 END) WHEN 3 THEN 'critical' WHEN 2 THEN 'unknown' \
                         WHEN 1 THEN 'warning' WHEN 0 THEN 'ok' END {own}) \
                       ELSE s.cert_outcome END AS cert_outcome \
                FROM domains s) t) d"
    )
}

/// [`domain_of_client`] over another alias of `domains`.
fn domain_of_client_as(domain: &str, client: &str) -> String {
    format!(
        "({domain}.client_id = {client} OR {domain}.id IN \
           (SELECT x.domain_id FROM endpoints x WHERE x.client_id = {client}))"
    )
}

/// The client an alert is for, over the aliases `a` (alerts), `d` (its
/// domain) and `e` (its endpoint, if any): an endpoint's alerts are its
/// client's, a registration's its owner's.
pub(super) const ALERT_CLIENT: &str =
    "CASE WHEN a.endpoint_id IS NOT NULL THEN e.client_id ELSE d.client_id END";

/// The endpoint's TLS mode as every surface names it
/// ([`crate::domain::certificate::TlsMode::name`]), over the alias `e`:
/// stored values by name, anything else (`auto`) by what the port implies.
fn tls_mode_name_sql() -> String {
    use crate::domain::certificate::TlsMode;
    let modes = [
        TlsMode::Direct,
        TlsMode::StartTlsSmtp,
        TlsMode::StartTlsImap,
        TlsMode::StartTlsPop3,
    ];
    let mut sql = String::from("CASE e.tls_mode");
    for mode in modes {
        sql.push_str(&format!(" WHEN '{}' THEN '{}'", mode.stored(), mode.name()));
    }
    sql.push_str(" ELSE CASE");
    for port in [25_u16, 110, 143, 587] {
        sql.push_str(&format!(
            " WHEN e.port = {port} THEN '{}'",
            TlsMode::default_for_port(port).name()
        ));
    }
    sql.push_str(&format!(" ELSE '{}' END END", TlsMode::Direct.name()));
    sql
}

/// A bind value of a query built at run time.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text with numbered parameters, built piece by piece. The first five
/// parameters are always the clock: `$1` now and `$2`, `$3` the status
/// windows' ends (so [`STATUS_SQL`] fits in), `$4` now in whole Unix
/// seconds and `$5` 1 when now has a fraction (for `days_left` computed in
/// SQL, `json.rs`).
///
/// Every statement starts with all five, used or not: a statement text
/// built by two paths (the count of a list's filter, for the typed page and
/// the page rendered as JSON) must come with the same parameters each time,
/// since PostgreSQL prepares it once with their number and types.
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn with_windows(windows: &StatusWindows) -> Self {
        Self {
            text: String::new(),
            args: vec![
                Arg::Text(format_time(windows.now)),
                Arg::Text(format_time(windows.registration_until)),
                Arg::Text(format_time(windows.certificate_until)),
                Arg::Int(windows.now.timestamp()),
                Arg::Int(i64::from(windows.now.timestamp_subsec_nanos() > 0)),
            ],
        }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a parameter placeholder bound to `arg`. A NUL in a text
    /// (a filter typed by a caller) becomes U+FFFD: PostgreSQL's text cannot
    /// hold NUL, and no stored name or key holds either, so the filter
    /// matches nothing on both engines.
    fn bind(&mut self, arg: Arg) -> &mut Self {
        let arg = match arg {
            Arg::Text(t) if t.contains('\0') => Arg::Text(t.replace('\0', "\u{fffd}")),
            other => other,
        };
        self.args.push(arg);
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    /// Like [`Self::bind`], but the value cannot steer the query plan:
    /// `(?N || '')` for text, `(?N + 0)` for integers. SQLite (built with
    /// STAT4, as libsqlite3-sys bundles it) re-prepares a statement each
    /// time a parameter compared with an indexed column changes value, so
    /// that it can plan with the value; for the API's large statements
    /// (the detail looks up a different name on every request) that
    /// re-preparation cost more than running them. The index is used the
    /// same way: the expression is still a constant.
    fn bind_fixed(&mut self, arg: Arg) -> &mut Self {
        let (open, close) = match arg {
            Arg::Text(_) => ("(", " || '')"),
            Arg::Int(_) => ("(", " + 0)"),
        };
        self.push(open);
        self.bind(arg);
        self.push(close)
    }

    /// Binds `arg` and returns its placeholder, for text that names it
    /// more than once.
    fn param(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// The viewer's client id as a fixed placeholder (see
    /// [`Self::bind_fixed`]); `None` when the caller sees everything.
    fn viewer(&mut self, visibility: Visibility) -> Option<String> {
        let id = visibility.client_id()?;
        let at = self.param(Arg::Int(id));
        Some(format!("({at} + 0)"))
    }

    /// ` AND <column> = <the viewer>` for a client viewer.
    fn visible(&mut self, visibility: Visibility, client_column: &str) -> &mut Self {
        if let Some(id) = visibility.client_id() {
            self.push(" AND ").push(client_column).push(" = ");
            self.bind(Arg::Int(id));
        }
        self
    }

    /// ` AND <the domain d is the viewer's>` for a client viewer (see
    /// [`domain_of_client`]); returns the viewer's placeholder.
    fn visible_domain(&mut self, visibility: Visibility) -> Option<String> {
        let viewer = self.viewer(visibility)?;
        self.push(" AND ").push(&domain_of_client(&viewer));
        Some(viewer)
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut query = sqlx::query(&self.text);
        for arg in &self.args {
            query = match arg {
                Arg::Text(t) => query.bind(t.as_str()),
                Arg::Int(i) => query.bind(*i),
            };
        }
        query
    }
}

/// Days from `now` to an RFC 3339 time, rounded down (negative when past).
fn days_left(at: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let at = super::parse_time(at?)?;
    Some((at - now).num_seconds().div_euclid(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            key: "2026-01-01T00:00:00Z".into(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not a cursor!"), None);
        assert_eq!(Cursor::decode(""), None);
    }
}
