//! The hot reads of the API rendered by the database: the domain list (on
//! SQLite) and the domain detail (on both engines) as JSON text, one
//! statement each, that the handler sends as it is (no per-row decoding,
//! no serde). On PostgreSQL the list serialises the typed read model (the
//! reference these statements are tested against) instead.
//!
//! The typed read models in `domains.rs` ([`DomainItem`], [`DomainDetail`])
//! stay the definition of the wire format (the OpenAPI document is made
//! from them) and the reference these statements are tested against
//! (`tests/lapse/api.rs`: `sql_rendered_json_matches_the_typed_read_models`):
//! same keys in the same order, same values.
//!
//! Two things SQLite cannot compute are finished here:
//! - `display_name` / `display_host` (IDNA to Unicode): SQLite writes the
//!   ASCII name; a list's `"display_name":"xn--..."` values are decoded in
//!   place (that key cannot occur anywhere else in a list); a detail that
//!   mentions `xn--` anywhere is read through the typed path instead.
//! - `total`: counting every match costs a walk of the index range per
//!   request, so totals are kept in [`Totals`], keyed by the filter and the
//!   domains' generation number (migration 0101), which the page statement
//!   reads in its own snapshot. A total is reused only while no domain
//!   row it could count has changed: exact, never stale. (A client's
//!   totals of status and expiry filters are always counted: on a shared
//!   domain they follow its own endpoints, which move no domain row.)
//!
//! A client token's statements read the domains as it sees them
//! (`domains_seen_by`) and name the viewer in the pairs (its own endpoints,
//! its own alerts, another client's registration without the client), the
//! same way the typed read models do.
//!
//! `days_left` is computed in SQL exactly as [`super::days_left`] does:
//! whole seconds from `now` to the time truncated towards zero (chrono's
//! `num_seconds`), then divided by 86,400 rounding down.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::Row;

use super::super::{format_time, Engine, Store, StoreError};
use super::domains::{
    domain_filter, endpoint_count_sql, expiry_key, not_tracked, DomainQuery, DomainSort,
};
use super::{
    domain_of_client, domains_seen_by, tls_mode_name_sql, Arg, Cursor, Sql, ALERT_CLIENT,
    STATUS_SQL,
};
use crate::domain::access::Visibility;
use crate::domain::names::{to_unicode, HostName};
use crate::domain::status::StatusWindows;

#[cfg(doc)]
use super::domains::{DomainDetail, DomainItem};

/// List totals by filter, each valid for one generation of the domains
/// table and, when the filter compares times, for as long as no domain
/// crosses one of the times it compares. Shared by every request (the API
/// state holds one).
#[derive(Debug, Default)]
pub struct Totals {
    entries: Mutex<HashMap<String, Kept>>,
    /// How many totals were counted (not taken from `entries`).
    counted: std::sync::atomic::AtomicU64,
}

/// A counted total and what it holds for.
#[derive(Debug, Clone)]
struct Kept {
    generation: i64,
    total: i64,
    /// One range per time the filter compares with a column.
    times: Vec<TimeRange>,
}

/// A time the filter compares (`now`, a window's end, the expiry bound)
/// and the stretch of times over which the count stays the same: between
/// the stored values on either side of the time it was counted at. The
/// stretch comes from the data alone, so requests whose clocks differ by
/// a moment (read before waiting for a connection) keep the same range.
/// Times are compared as the text every time is stored in
/// ([`super::super::format_time`]), as the SQL compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TimeRange {
    /// The greatest stored value the time had passed (`column < time`) or
    /// reached (`column <= time`); `None`: none.
    after: Option<String>,
    /// The least stored value it had not passed (`<`: at or past it) or
    /// not reached (`<=`: past it); `None`: none.
    until: Option<String>,
    /// The filter compares with `<=`.
    inclusive: bool,
}

impl TimeRange {
    /// Whether the filter matches the same stored values at `now` as when
    /// counted: no stored value between `now` and the counted time.
    fn holds(&self, now: &str) -> bool {
        let (after, until) = (self.after.as_deref(), self.until.as_deref());
        if self.inclusive {
            after.is_none_or(|a| a <= now) && until.is_none_or(|u| now < u)
        } else {
            after.is_none_or(|a| a < now) && until.is_none_or(|u| now <= u)
        }
    }
}

/// Distinct filters kept; past this the map starts again.
const TOTALS_KEPT: usize = 512;

impl Totals {
    /// How many totals were counted rather than reused, since this was made.
    pub fn counted(&self) -> u64 {
        self.counted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The total kept for `key`, if it holds for `generation` and the times
    /// the filter compares now (`times`, in the order they were kept).
    fn get(&self, key: &str, generation: i64, times: &[String]) -> Option<i64> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = entries.get(key)?;
        let holds = kept.generation == generation
            && kept.times.len() == times.len()
            && kept
                .times
                .iter()
                .zip(times)
                .all(|(range, now)| range.holds(now));
        holds.then_some(kept.total)
    }

    fn put(&self, key: String, kept: Kept) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= TOTALS_KEPT && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, kept);
    }
}

/// The times a list's filter compares with stored times, in a fixed order,
/// each with the column it is compared with (`<`, or `<=` when inclusive):
/// a status filter reads now and both windows' ends ([`STATUS_SQL`]), an
/// expiry bound the next expiry.
fn compared_times(windows: &StatusWindows, query: &DomainQuery) -> Vec<(String, String, bool)> {
    let mut times = Vec::new();
    if query.status.is_some() {
        times.push((format_time(windows.now), expiry_key(), false));
        times.push((
            format_time(windows.registration_until),
            "d.expires_at".to_owned(),
            false,
        ));
        times.push((
            format_time(windows.certificate_until),
            "d.cert_not_after".to_owned(),
            false,
        ));
    }
    if let Some(before) = query.expiring_before {
        times.push((format_time(before), expiry_key(), true));
    }
    times
}

/// The key a list's total is kept under: the viewer, the filters, and how
/// far ahead of now the compared times are (a 7-day and a 30-day bound are
/// two totals, each kept); the times themselves are left out (each kept
/// total says for which times it holds).
fn total_key(visibility: Visibility, windows: &StatusWindows, query: &DomainQuery) -> String {
    let ahead = |t: chrono::DateTime<chrono::Utc>| (t - windows.now).num_seconds();
    let windows_ahead = query.status.map(|_| {
        (
            ahead(windows.registration_until),
            ahead(windows.certificate_until),
        )
    });
    format!(
        "{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
        visibility.client_id(),
        query.client_id,
        query.status.map(|s| s.as_str()),
        windows_ahead,
        query.expiring_before.map(ahead),
        query.name_contains,
    )
}

impl Store {
    /// The number of domains a list's filter matches (`filter`: its FROM
    /// (the domains as the viewer sees them) and WHERE clauses, with
    /// their bindings), from `totals` when one
    /// is kept that holds for `generation` (the domains' generation in the
    /// page's snapshot, if known) and the times compared now; else counted
    /// and kept. A client's totals of filters that compare times are
    /// always counted: its figures on a shared domain follow its own
    /// endpoints' observations, which move no domain row.
    pub(super) async fn domain_total(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        query: &DomainQuery,
        filter: &Sql,
        generation: Option<i64>,
        totals: Option<&Totals>,
    ) -> Result<i64, StoreError> {
        let times = compared_times(windows, query);
        let totals = totals.filter(|_| visibility.client_id().is_none() || times.is_empty());
        let key = total_key(visibility, windows, query);
        let now: Vec<String> = times.iter().map(|(t, _, _)| t.clone()).collect();
        if let (Some(totals), Some(generation)) = (totals, generation) {
            if let Some(total) = totals.get(&key, generation, &now) {
                return Ok(total);
            }
        }
        let mut count = Sql {
            text: String::from(
                "SELECT COUNT(*), (SELECT domains FROM api_generation WHERE id = 1)",
            ),
            args: filter.args.clone(),
        };
        if totals.is_some() {
            // The stored values on either side of each compared time, read
            // in the count's snapshot (an index seek each).
            for (time, column, inclusive) in &times {
                let index_column = column.replace("d.", "b.");
                let (below, above) = if *inclusive { ("<=", ">") } else { ("<", ">=") };
                for (aggregate, op) in [("MAX", below), ("MIN", above)] {
                    count.push(&format!(
                        ", (SELECT {aggregate}({index_column}) FROM domains b \
                         WHERE {index_column} {op} "
                    ));
                    count.bind_fixed(Arg::Text(time.clone())).push(")");
                }
            }
        }
        count.push(&filter.text);
        let row = count.query().fetch_one(self.pool()).await?;
        let total: i64 = row.get(0);
        if let Some(totals) = totals {
            totals
                .counted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(totals) = totals {
            let ranges = times
                .into_iter()
                .enumerate()
                .map(|(i, (_, _, inclusive))| TimeRange {
                    after: row.get(2 + 2 * i),
                    until: row.get(3 + 2 * i),
                    inclusive,
                })
                .collect();
            totals.put(
                key,
                Kept {
                    generation: row.get(1),
                    total,
                    times: ranges,
                },
            );
        }
        Ok(total)
    }
}

/// The JSON functions of each engine, for the statements below: SQLite's
/// JSON1 functions or PostgreSQL's `json` ones. Both keep keys in the order
/// written.
#[derive(Debug, Clone, Copy)]
struct JsonSql(Engine);

impl JsonSql {
    fn postgres(self) -> bool {
        self.0 == Engine::Postgres
    }

    /// A JSON object of the key/value pairs `pairs`.
    fn object(self, pairs: &str) -> String {
        if self.postgres() {
            format!("json_build_object({pairs})")
        } else {
            format!("json_object({pairs})")
        }
    }

    /// A JSON array of `value` over the rows of the enclosing `SELECT`, in
    /// the order `order`; `[]` when there are none.
    fn array(self, value: &str, order: &str) -> String {
        if self.postgres() {
            format!("COALESCE(json_agg({value} ORDER BY {order}), '[]'::json)")
        } else {
            format!("json_group_array({value} ORDER BY {order})")
        }
    }

    fn boolean(self, expr: &str) -> String {
        if self.postgres() {
            format!("to_json({expr})")
        } else {
            format!("json(CASE WHEN {expr} THEN 'true' ELSE 'false' END)")
        }
    }

    /// 1 when `expr` holds, else 0.
    fn one_if(self, expr: &str) -> String {
        if self.postgres() {
            format!("CASE WHEN {expr} THEN 1 ELSE 0 END")
        } else {
            format!("({expr})")
        }
    }

    /// Seconds from `now` to a time column, before truncation (`$4` is
    /// now): the column's Unix time rounded down, as SQLite's `unixepoch`.
    fn secs_until(self, column: &str) -> String {
        if self.postgres() {
            format!("(floor(extract(epoch FROM ({column})::timestamptz))::bigint - $4)")
        } else {
            format!("(unixepoch({column}) - $4)")
        }
    }

    /// Whole days from the seconds `x` (see [`JsonSql::secs_until`]):
    /// truncated towards zero as chrono does when `now` has a fraction
    /// (`$5`), then floored.
    fn days_of(self, x: &str) -> String {
        let secs = format!("({x} - {})", self.one_if(&format!("{x} > 0 AND $5 = 1")));
        format!(
            "({secs} / 86400 - {})",
            self.one_if(&format!("{secs} % 86400 < 0"))
        )
    }

    /// Observation details and alert details: JSON as stored; `null` when
    /// what is stored is not JSON (as the typed path does). PostgreSQL 15
    /// cannot test text for JSON: the cast fails the statement instead, and
    /// the caller reads the typed path ([`invalid_stored_data`]).
    fn stored(self, column: &str) -> String {
        if self.postgres() {
            format!("({column})::json")
        } else {
            format!("CASE WHEN json_valid({column}) THEN json({column}) END")
        }
    }

    /// A stored JSON list of strings; `[]` when it is anything else (on
    /// PostgreSQL, text that is not JSON fails as in [`JsonSql::stored`]).
    fn strings(self, column: &str) -> String {
        if self.postgres() {
            format!(
                "CASE WHEN {column} IS NULL OR json_typeof(({column})::json) <> 'array'
                      THEN '[]'::json
                      WHEN EXISTS (SELECT 1 FROM json_array_elements(({column})::json) j
                                   WHERE json_typeof(j) <> 'string')
                      THEN '[]'::json
                      ELSE ({column})::json END"
            )
        } else {
            format!(
                "CASE WHEN json_valid({column}) AND json_type({column}) = 'array'
                           AND NOT EXISTS (SELECT 1 FROM json_each({column}) WHERE type != 'text')
                      THEN json({column}) ELSE json('[]') END"
            )
        }
    }
}

/// Whether a statement failed on what is stored (PostgreSQL's class 22,
/// data exception: text that is not JSON or not a time), which the typed
/// read models read leniently.
fn invalid_stored_data(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().is_some_and(|c| c.starts_with("22")))
}

/// The key/value pairs of a [`DomainItem`] over the aliases `d` (domains)
/// and `c` (its registration's client), in the struct's field order, for
/// the viewer `viewer` (a client's placeholder; `None`: staff).
fn item_pairs(json: JsonSql, viewer: Option<&str>) -> String {
    // The registration owner's client, unless another client is looking.
    let owner_seen = match viewer {
        Some(v) => format!("d.client_id IS NOT NULL AND c.name IS NOT NULL AND d.client_id = {v}"),
        None => "d.client_id IS NOT NULL AND c.name IS NOT NULL".to_owned(),
    };
    let days = |column: &str| json.days_of(&json.secs_until(column));
    format!(
        "'id', d.id, 'name', d.name, 'display_name', d.name,
         'client', CASE WHEN {owner_seen}
                   THEN {client} END,
         'registration_owner', CASE
             WHEN d.registration_owner <> 'client' THEN {owner_kind}
             WHEN {owner_seen}
             THEN {owner_client}
             ELSE {owner_unseen} END,
         'watch', d.watch,
         'status', {STATUS_SQL},
         'next_expiry_at', d.next_expiry_at,
         'days_left', {next},
         'registration', {registration},
         'certificate', {certificate},
         'endpoint_count', {endpoint_count},
         'created_at', d.created_at",
        client = json.object("'id', d.client_id, 'name', c.name"),
        owner_kind = json.object("'kind', d.registration_owner"),
        owner_client = json.object("'kind', 'client', 'id', d.client_id, 'name', c.name"),
        owner_unseen = json.object("'kind', 'client'"),
        registration = json.object(&format!(
            "'expires_at', d.expires_at, 'source', d.expires_source, 'days_left', {reg},
             'outcome', d.registration_outcome, 'checked_at', d.registration_checked_at,
             'confirmed_at', d.registration_confirmed_at,
             'stale', {stale}",
            reg = days("d.expires_at"),
            stale = json.boolean("d.registration_stale != 0"),
        )),
        certificate = json.object(&format!(
            "'not_after', d.cert_not_after, 'days_left', {cert}, 'outcome', d.cert_outcome",
            cert = days("d.cert_not_after"),
        )),
        endpoint_count = endpoint_count_sql(viewer),
        next = days("d.next_expiry_at"),
    )
}

/// The key/value pairs of a [`DomainDetail`] (see [`item_pairs`]); a
/// client sees its own endpoints and the alerts that are its own.
fn detail_pairs(json: JsonSql, viewer: Option<&str>) -> String {
    let own_endpoints = viewer.map_or(String::new(), |v| format!(" AND e.client_id = {v}"));
    let own_alerts = viewer.map_or(String::new(), |v| format!(" AND {ALERT_CLIENT} = {v}"));
    let port = "CASE WHEN e.port BETWEEN 0 AND 65535 THEN e.port ELSE 0 END";
    let observation = json.object(&format!(
        "'id', o.id, 'endpoint_id', o.endpoint_id, 'host', e.host, 'port', {port},
         'address', o.address, 'first_seen_at', o.first_seen_at,
         'last_seen_at', o.last_seen_at, 'current', {current},
         'outcome', o.outcome, 'leaf_fingerprint', o.leaf_fingerprint,
         'leaf_not_after', o.leaf_not_after, 'chain_not_after', o.chain_not_after,
         'details', {details}",
        current = json.boolean("o.current = 1"),
        details = json.stored("o.details"),
    ));
    let fact = json.object(&format!(
        "'source', f.source, 'server', f.server, 'outcome', f.outcome,
         'expires_at', f.expires_at, 'registered_at', f.registered_at,
         'updated_at', f.updated_at, 'registrar', f.registrar,
         'registrar_iana_id', f.registrar_iana_id,
         'status', {status}, 'nameservers', {nameservers},
         'fetched_at', f.fetched_at, 'age_days', -{age} - 1",
        status = json.strings("f.status"),
        nameservers = json.strings("f.nameservers"),
        age = json.days_of(&json.secs_until("f.fetched_at")),
    ));
    let endpoint = json.object(&format!(
        "'id', e.id, 'domain', d.name, 'host', e.host, 'display_host', e.host,
         'port', {port},
         'client', CASE WHEN e.client_id IS NOT NULL AND ec.name IS NOT NULL
                   THEN {client} END,
         'tls_mode', {tls_mode}, 'pinned_address', e.pinned_address,
         'created_at', e.created_at, 'next_check_at', e.next_check_at,
         'current_observations', (
             SELECT {observations}
             FROM cert_observations o
             WHERE o.endpoint_id = e.id AND o.current = 1)",
        client = json.object("'id', e.client_id, 'name', ec.name"),
        tls_mode = tls_mode_name_sql(),
        observations = json.array(&observation, "o.address, o.id"),
    ));
    let alert = json.object(&format!(
        "'id', a.id, 'domain', d.name,
         'endpoint', CASE WHEN e.id IS NOT NULL THEN e.host || ':' || e.port END,
         'kind', a.kind, 'subject_key', a.subject_key, 'state', a.state,
         'opened_at', a.opened_at, 'resolved_at', a.resolved_at,
         'details', {details},
         'acknowledged_at', a.acknowledged_at, 'acknowledged_by', a.acknowledged_by,
         'snoozed_until', a.snoozed_until, 'snoozed_by', a.snoozed_by",
        details = json.stored("a.details"),
    ));
    format!(
        "{item},
         'manual_expires_at', d.manual_expires_at,
         'manual_note', d.manual_note,
         'registration_facts', (
             SELECT {facts}
             FROM registration_facts f WHERE f.domain_id = d.id),
         'registration_dates_disagree', {disagree},
         'endpoints', (
             SELECT {endpoints}
             FROM endpoints e LEFT JOIN clients ec ON ec.id = e.client_id
             WHERE e.domain_id = d.id{own_endpoints}),
         'open_alerts', (
             SELECT {alerts}
             FROM alerts a LEFT JOIN endpoints e ON e.id = a.endpoint_id
             WHERE a.state = 'firing'
               AND (a.domain_id = d.id
                    OR (a.domain_id IS NULL AND a.endpoint_id IN
                          (SELECT x.id FROM endpoints x WHERE x.domain_id = d.id))){own_alerts})",
        item = item_pairs(json, viewer),
        facts = json.array(&fact, "f.source, f.server"),
        endpoints = json.array(&endpoint, "e.host, e.port"),
        alerts = json.array(&alert, "a.id DESC"),
        disagree = json.boolean(
            "(SELECT COUNT(DISTINCT substr(f.expires_at, 1, 10)) FROM registration_facts f
              WHERE f.domain_id = d.id AND f.expires_at IS NOT NULL) > 1"
        ),
    )
}

/// `{"items": [...], "total": n, "next_cursor": ...}` around items
/// already rendered as a JSON array.
fn page_body(items: &str, total: i64, next_cursor: Option<&str>) -> String {
    let mut body = String::with_capacity(items.len() + 80);
    body.push_str("{\"items\":");
    body.push_str(items);
    body.push_str(",\"total\":");
    body.push_str(&total.to_string());
    body.push_str(",\"next_cursor\":");
    match next_cursor {
        // The cursor is URL-safe base64: nothing to escape.
        Some(cursor) => {
            body.push('"');
            body.push_str(cursor);
            body.push('"');
        }
        None => body.push_str("null"),
    }
    body.push('}');
    body
}

impl Store {
    /// [`Store::domain_page`] as the JSON body of `GET /api/v1/domains`:
    /// `{"items": [...], "total": n, "next_cursor": ...}`, rendered by
    /// SQLite in one statement; `total` from `totals` while the domains'
    /// generation has not moved, else counted (and kept).
    pub async fn domain_page_json(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        query: &DomainQuery,
        totals: &Totals,
    ) -> Result<String, StoreError> {
        if self.engine() == Engine::Postgres {
            // PostgreSQL: the typed read model, serialised. Rendered by
            // PostgreSQL (json_build_object over the same pairs as the
            // detail), a page of 100 cost 2.3 ms of execution instead of
            // 0.6 and the list's requests/s halved (README, "API
            // benchmark"): decoding the rows here is cheaper.
            let page = self
                .domain_page_kept(visibility, windows, query, Some(totals))
                .await?;
            return to_json(&page);
        }
        let mut filter = Sql::with_windows(windows);
        let viewer = domain_filter(&mut filter, Engine::Sqlite, visibility, query);
        let domains = domains_seen_by(viewer.as_deref());
        let count_filter = Sql {
            text: format!(" FROM {domains}{}", filter.text),
            args: filter.args.clone(),
        };

        let mut page = filter;
        let (key_column, order) = match query.sort {
            DomainSort::Expiry => {
                if let Some(cursor) = &query.cursor {
                    page.push(&format!(" AND {} >= ", expiry_key()))
                        .bind_fixed(Arg::Text(cursor.key.clone()));
                    let key = page.args.len();
                    page.push(&format!(
                        " AND ({}, d.id) > ((${key} || ''), ",
                        expiry_key()
                    ))
                    .bind_fixed(Arg::Int(cursor.id))
                    .push(")");
                }
                (expiry_key(), format!(" ORDER BY {}, d.id", expiry_key()))
            }
            DomainSort::Name => {
                if let Some(cursor) = &query.cursor {
                    page.push(" AND d.name > ")
                        .bind_fixed(Arg::Text(cursor.key.clone()));
                }
                ("d.name".to_owned(), " ORDER BY d.name".to_owned())
            }
        };
        // Only ids and sort keys go through the window that numbers the
        // rows (limit + 1 of them, to know whether a next page exists);
        // the columns are read once, by rowid, where the JSON is made.
        // CROSS JOIN keeps the numbered rows as the outer loop.
        let inner_filter = std::mem::take(&mut page.text);
        page.push(&format!(
            "SELECT d.id, {key_column} AS page_key FROM {domains}{inner_filter}{order} LIMIT "
        ));
        page.bind(Arg::Int(i64::from(query.limit) + 1));
        let inner = std::mem::take(&mut page.text);
        page.args.push(Arg::Int(i64::from(query.limit)));
        let limit = page.args.len();
        page.push(&format!(
            "SELECT json_group_array(json_object({pairs}) ORDER BY w.rn)
                      FILTER (WHERE w.rn <= ${limit}),
                    COUNT(*),
                    MAX(CASE WHEN w.rn = ${limit} THEN w.page_key END),
                    MAX(CASE WHEN w.rn = ${limit} THEN w.id END),
                    (SELECT domains FROM api_generation WHERE id = 1)
             FROM (SELECT row_number() OVER () AS rn, q.id, q.page_key FROM ({inner}) q) w
             CROSS JOIN {domains} ON d.id = w.id
             LEFT JOIN clients c ON c.id = d.client_id",
            pairs = item_pairs(JsonSql(Engine::Sqlite), viewer.as_deref()),
        ));
        let row = page.query().fetch_one(self.pool()).await?;
        let items: Option<String> = row.get(0);
        let fetched: i64 = row.get(1);
        let last_key: Option<String> = row.get(2);
        let last_id: Option<i64> = row.get(3);
        let generation: i64 = row.get(4);

        let total = self
            .domain_total(
                visibility,
                windows,
                query,
                &count_filter,
                Some(generation),
                Some(totals),
            )
            .await?;
        let next_cursor = match (fetched > i64::from(query.limit), last_key, last_id) {
            (true, Some(key), Some(id)) => Some(Cursor { key, id }.encode()),
            _ => None,
        };
        let items = display_names(items.unwrap_or_else(|| "[]".to_owned()), "display_name");
        Ok(page_body(&items, total, next_cursor.as_deref()))
    }

    /// [`Store::domain_detail`] as the JSON body of `GET
    /// /api/v1/domains/{name}`, rendered by the database in one statement
    /// (one round trip instead of the typed path's five). The typed path
    /// answers instead when the domain mentions a Unicode name (`xn--`),
    /// and on PostgreSQL when something stored is not JSON or not a time.
    pub async fn domain_detail_json(
        &self,
        visibility: Visibility,
        windows: &StatusWindows,
        name: &HostName,
    ) -> Result<String, StoreError> {
        let engine = self.engine();
        let json = JsonSql(engine);
        let mut sql = Sql::with_windows(windows);
        let viewer = sql.viewer(visibility);
        sql.push(&format!(
            "SELECT {detail}{as_text} FROM {domains} LEFT JOIN clients c ON c.id = d.client_id
             WHERE d.name = ",
            detail = json.object(&detail_pairs(json, viewer.as_deref())),
            // sqlx's Any driver reads no `json` column: PostgreSQL sends text.
            as_text = if engine == Engine::Postgres {
                "::text"
            } else {
                ""
            },
            domains = domains_seen_by(viewer.as_deref()),
        ))
        .bind_fixed(Arg::Text(name.as_str().to_owned()));
        if let Some(viewer) = &viewer {
            sql.push(" AND ").push(&domain_of_client(viewer));
        }
        let row = match sql.query().fetch_optional(self.pool()).await {
            Err(error) if invalid_stored_data(&error) => {
                return to_json(&self.domain_detail(visibility, windows, name).await?);
            }
            row => row?.ok_or_else(|| not_tracked(name))?,
        };
        let body: String = row.get(0);
        if body.contains("xn--") {
            // A Unicode name somewhere: let the typed path decode it.
            return to_json(&self.domain_detail(visibility, windows, name).await?);
        }
        Ok(body)
    }
}

/// A typed read model as the JSON the SQL-rendered path sends.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Db(sqlx::Error::Decode(e.into())))
}

/// Decodes `"<key>":"xn--..."` values in SQLite's JSON (written without
/// spaces) to Unicode. Only for JSON where `key` occurs nowhere but as the
/// field to decode (a list of domain items): any other occurrence would be
/// a string, and its quotes escaped.
fn display_names(json: String, key: &str) -> String {
    if !json.contains("xn--") {
        return json;
    }
    let pattern = format!("\"{key}\":\"");
    let mut out = String::with_capacity(json.len() + 64);
    let mut rest = json.as_str();
    while let Some(at) = rest.find(&pattern) {
        let start = at + pattern.len();
        out.push_str(&rest[..at]);
        out.push_str(&pattern[..pattern.len() - 1]);
        let Some(len) = rest[start..].find('"') else {
            out.push_str(&rest[at + pattern.len() - 1..]);
            return out;
        };
        let ascii = &rest[start..start + len];
        if ascii.contains("xn--") && !ascii.contains('\\') {
            out.push_str(&serde_json::Value::String(to_unicode(ascii)).to_string());
        } else {
            out.push('"');
            out.push_str(ascii);
            out.push('"');
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_decode_only_punycode_values_of_the_key() {
        let json = r#"[{"name":"xn--bcher-kva.de","display_name":"xn--bcher-kva.de"},{"name":"a.de","display_name":"a.de"}]"#;
        assert_eq!(
            display_names(json.to_owned(), "display_name"),
            r#"[{"name":"xn--bcher-kva.de","display_name":"bücher.de"},{"name":"a.de","display_name":"a.de"}]"#
        );
        let plain = r#"[{"display_name":"a.de"}]"#;
        assert_eq!(display_names(plain.to_owned(), "display_name"), plain);
    }
}
