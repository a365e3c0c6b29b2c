//! Registration state: the cached RDAP bootstrap, facts per source, the
//! assessed view on `domains`, manual dates.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::{format_time, parse_time, Dialect, Store, StoreError};
use crate::domain::names::HostName;
use crate::domain::registration::{
    Assessment, Capability, DateValue, ManualExpiry, ParseOutcome, SourcedFacts,
};

/// The bootstrap file as cached.
#[derive(Debug, Clone)]
pub struct CachedBootstrap {
    pub url: String,
    pub body: Vec<u8>,
    pub fetched_at: DateTime<Utc>,
}

/// What the next lookup of a domain needs to know.
#[derive(Debug, Clone)]
pub struct RegistrationContext {
    pub domain_id: i64,
    pub name: String,
    pub previous: Option<Assessment>,
    pub manual: Option<ManualExpiry>,
    pub failures: u32,
}

/// One lookup's result as it is recorded ([`Store::record_registration`],
/// or inside a scan's batch by `Store::record_scan_results`).
#[derive(Debug, Clone)]
pub struct RegistrationRecord {
    pub domain_id: i64,
    /// The answers per source.
    pub answers: Vec<SourcedFacts>,
    pub assessment: Assessment,
    /// Why no source answered, when none did (kept until one answers again).
    pub failure: Option<String>,
    /// When to look again.
    pub next_check_at: DateTime<Utc>,
    /// When the lookup was made.
    pub checked_at: DateTime<Utc>,
}

/// A domain whose registration facts are due for a lookup.
#[derive(Debug, Clone)]
pub struct DueRegistration {
    pub domain_id: i64,
    pub name: String,
}

impl Store {
    pub async fn rdap_bootstrap(&self) -> Result<Option<CachedBootstrap>, StoreError> {
        let row = sqlx::query("SELECT url, body, fetched_at FROM rdap_bootstrap WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(row.and_then(|r| {
            Some(CachedBootstrap {
                url: r.get("url"),
                body: r.get("body"),
                fetched_at: parse_time(&r.get::<String, _>("fetched_at"))?,
            })
        }))
    }

    pub async fn save_rdap_bootstrap(
        &self,
        url: &str,
        body: &[u8],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rdap_bootstrap (id, url, body, fetched_at) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, body = excluded.body,
                                            fetched_at = excluded.fetched_at",
        )
        .bind(url)
        .bind(body)
        .bind(format_time(fetched_at))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The state of a tracked domain, by id.
    pub async fn registration_context(
        &self,
        domain_id: i64,
    ) -> Result<RegistrationContext, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, registration_assessment, registration_lookup_failures,
                    manual_expires_at, manual_note, manual_set_at
             FROM domains WHERE id = $1",
        )
        .bind(domain_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("domain #{domain_id} is not tracked")))?;
        let manual = row
            .get::<Option<String>, _>("manual_expires_at")
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
            .map(|date| ManualExpiry {
                date,
                note: row.get("manual_note"),
                set_at: row
                    .get::<Option<String>, _>("manual_set_at")
                    .and_then(|t| parse_time(&t))
                    .unwrap_or_default(),
            });
        Ok(RegistrationContext {
            domain_id: row.get("id"),
            name: row.get("name"),
            previous: row
                .get::<Option<String>, _>("registration_assessment")
                .and_then(|json| serde_json::from_str(&json).ok()),
            manual,
            failures: u32::try_from(row.get::<i64, _>("registration_lookup_failures")).unwrap_or(0),
        })
    }

    /// The id of a tracked domain by its ASCII name.
    pub async fn domain_id(&self, name: &HostName) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT id FROM domains WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("`{}` is not tracked", name.to_unicode())))
    }

    /// Removes a hand-entered expiry. A date shown from it goes too, and
    /// the registration is due for a lookup at once, so what the sources
    /// publish (or that they publish nothing) shows again. Returns the
    /// domain id.
    pub async fn clear_manual_expiry(
        &self,
        name: &HostName,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let domain_id = self.domain_id(name).await?;
        sqlx::query(
            "UPDATE domains SET manual_expires_at = NULL, manual_note = NULL, manual_set_at = NULL,
               expires_at = CASE WHEN expires_source = 'manual' THEN NULL ELSE expires_at END,
               expires_source = CASE WHEN expires_source = 'manual' THEN NULL ELSE expires_source END,
               next_registration_check_at = $1
             WHERE id = $2",
        )
        .bind(format_time(now))
        .bind(domain_id)
        .execute(self.writer())
        .await?;
        Ok(domain_id)
    }

    /// Records one lookup: the answers per source and the new assessment, in
    /// one transaction. The lookup gets the next number in
    /// `registration_checks` (failure streaks tell lookups apart by it). `failed` counts consecutive lookups where no source
    /// answered; `next_check_at` is when to look again; `failure` says why
    /// no source answered (kept until a source answers again).
    pub async fn record_registration(
        &self,
        domain_id: i64,
        answers: &[SourcedFacts],
        assessment: &Assessment,
        failure: Option<&str>,
        next_check_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_lookup(&RegistrationRecord {
            domain_id,
            answers: answers.to_vec(),
            assessment: assessment.clone(),
            failure: failure.map(str::to_owned),
            next_check_at,
            checked_at: now,
        })
        .await
    }

    /// Records one lookup, as a [`RegistrationRecord`], in a transaction of
    /// its own.
    pub async fn record_lookup(&self, record: &RegistrationRecord) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        record_registrations_in(&mut tx, &[record]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or replaces) a hand-entered expiry, e.g. from the registrar's
    /// invoice, for TLDs that publish none. Returns the domain id. The date
    /// is kept but not copied to `expires_at` while the domain is watched for
    /// its endpoints alone.
    pub async fn set_manual_expiry(
        &self,
        name: &HostName,
        date: NaiveDate,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let domain_id = self.domain_id(name).await?;
        let date_text = date.format("%Y-%m-%d").to_string();
        // Shown at once; a lookup is due now, so the next scan (or the
        // scheduler's due-work poll) re-assesses it against what sources
        // publish and ends a "needs a date" alert without waiting a week.
        sqlx::query(
            "UPDATE domains SET manual_expires_at = $1, manual_note = $2, manual_set_at = $3,
               expires_at = CASE WHEN watch = 'tls' THEN NULL
                                 WHEN expires_at IS NULL OR expires_source = 'manual'
                                 THEN $4 ELSE expires_at END,
               expires_source = CASE WHEN watch = 'tls' THEN NULL
                                     WHEN expires_at IS NULL OR expires_source = 'manual'
                                     THEN 'manual' ELSE expires_source END,
               next_registration_check_at = CASE WHEN watch = 'tls'
                                                 THEN next_registration_check_at ELSE $5 END
             WHERE id = $6",
        )
        .bind(&date_text)
        .bind(note)
        .bind(format_time(now))
        .bind(format!("{date_text}T00:00:00Z"))
        .bind(format_time(now))
        .bind(domain_id)
        .execute(self.writer())
        .await?;
        Ok(domain_id)
    }

    /// Domains whose registration lookup is due at `now`, soonest first
    /// (not those watched for their endpoints alone).
    pub async fn due_registrations(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DueRegistration>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name FROM domains
             WHERE watch <> 'tls'
               AND (next_registration_check_at IS NULL OR next_registration_check_at <= $1)
             ORDER BY next_registration_check_at, id LIMIT $2",
        )
        .bind(format_time(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| DueRegistration {
                domain_id: r.get("id"),
                name: r.get("name"),
            })
            .collect())
    }
}

/// The snake_case name serde gives a unit variant (`registry_rdap`).
fn json_label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn date_text(d: &DateValue) -> String {
    match d {
        DateValue::Instant(t) => format_time(*t),
        DateValue::Date(d) => d.format("%Y-%m-%d").to_string(),
    }
}

/// The assessed expiry as a sortable instant: a bare date counts from the
/// start of its day (UTC), the earliest moment it could mean.
fn expiry_instant(d: &DateValue) -> String {
    match d {
        DateValue::Instant(t) => format_time(*t),
        DateValue::Date(d) => format!("{}T00:00:00Z", d.format("%Y-%m-%d")),
    }
}

/// What a lookup came to, as `domains.registration_outcome` stores it.
fn lookup_outcome(record: &RegistrationRecord) -> &'static str {
    let assessment = &record.assessment;
    if assessment.stale {
        "failed"
    } else if assessment.not_found {
        "not_found"
    } else if assessment.expires.is_some() {
        "found"
    } else if assessment.capability == Capability::NothingPublished {
        "not_published"
    } else {
        record
            .answers
            .iter()
            .map(|a| a.facts.outcome)
            .find(|o| *o == ParseOutcome::RateLimited)
            .map_or("unparseable", |_| "rate_limited")
    }
}

/// `registration_facts`' columns in the order a batch row holds them.
macro_rules! facts_columns {
    () => {
        "domain_id, source, server, outcome, expires_at, registered_at, updated_at,
         registrar, registrar_iana_id, status, nameservers, fetched_at"
    };
}

/// The facts upsert's conflict clause, the same on both engines.
macro_rules! facts_on_conflict {
    () => {
        " ON CONFLICT (domain_id, source, server) DO UPDATE SET
           outcome = excluded.outcome, expires_at = excluded.expires_at,
           registered_at = excluded.registered_at, updated_at = excluded.updated_at,
           registrar = excluded.registrar, registrar_iana_id = excluded.registrar_iana_id,
           status = excluded.status, nameservers = excluded.nameservers,
           fetched_at = excluded.fetched_at"
    };
}

/// What the batch's UPDATE sets from its row `r`, the same on both engines.
macro_rules! domains_set {
    () => {
        "UPDATE domains SET
           expires_at = CASE WHEN watch = 'tls' THEN NULL ELSE r.expires_at END,
           expires_source = CASE WHEN watch = 'tls' THEN NULL ELSE r.expires_source END,
           registrar = r.registrar, registration_status = r.status,
           registration_checked_at = r.checked_at,
           registration_checks = registration_checks + 1,
           registration_confirmed_at = r.confirmed_at,
           registration_outcome = r.outcome,
           registration_stale = CAST(r.stale AS BIGINT),
           registration_assessment = r.assessment, registration_capability = r.capability,
           registration_lookup_failures =
             CASE WHEN CAST(r.stale AS BIGINT) = 1 THEN registration_lookup_failures + 1
                  ELSE 0 END,
           registration_failure = r.failure,
           next_registration_check_at = r.next_check_at "
    };
}

/// A batch row's columns after its domain id (`j.value`: the row's array).
macro_rules! batch_row_columns {
    () => {
        "j.value->>1 AS expires_at, j.value->>2 AS expires_source,
         j.value->>3 AS registrar, j.value->>4 AS status, j.value->>5 AS checked_at,
         j.value->>6 AS confirmed_at, j.value->>7 AS outcome, j.value->>8 AS stale,
         j.value->>9 AS assessment, j.value->>10 AS capability, j.value->>11 AS failure,
         j.value->>12 AS next_check_at"
    };
}

/// A batch's answers (a JSON array of arrays, in the batch's order) into
/// `registration_facts`, for domains still tracked; a later answer of the
/// same (domain, source, server) wins, as one statement per answer would
/// leave it.
const UPSERT_FACTS: Dialect = Dialect {
    sqlite: concat!(
        "INSERT INTO registration_facts (",
        facts_columns!(),
        ")
         SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4,
                j.value->>5, j.value->>6, j.value->>7, j.value->>8, j.value->>9,
                j.value->>10, j.value->>11
         FROM json_each($1) j
         WHERE EXISTS (SELECT 1 FROM domains d WHERE d.id = j.value->>0)
         ORDER BY j.key",
        facts_on_conflict!()
    ),
    postgres: concat!(
        "INSERT INTO registration_facts (",
        facts_columns!(),
        ")
         SELECT DISTINCT ON (1, 2, 3)
                CAST(j.value->>0 AS BIGINT), j.value->>1, j.value->>2, j.value->>3,
                j.value->>4, j.value->>5, j.value->>6, j.value->>7,
                CAST(j.value->>8 AS BIGINT), j.value->>9, j.value->>10, j.value->>11
         FROM json_array_elements(CAST($1 AS json)) WITH ORDINALITY AS j(value, n)
         WHERE EXISTS (SELECT 1 FROM domains d WHERE d.id = CAST(j.value->>0 AS BIGINT))
         ORDER BY 1, 2, 3, j.n DESC",
        facts_on_conflict!()
    ),
};

/// The batch's assessments (a JSON array of arrays, one per domain) onto
/// their domains, every domain of the batch at once. A domain removed
/// meanwhile matches no row.
const UPDATE_DOMAINS: Dialect = Dialect {
    sqlite: concat!(
        domains_set!(),
        "FROM (SELECT j.value->>0 AS domain_id, ",
        batch_row_columns!(),
        "
               FROM json_each($1) j) AS r
         WHERE domains.id = r.domain_id"
    ),
    postgres: concat!(
        domains_set!(),
        "FROM (SELECT CAST(j.value->>0 AS BIGINT) AS domain_id, ",
        batch_row_columns!(),
        "
               FROM json_array_elements(CAST($1 AS json)) AS j(value)) AS r
         WHERE domains.id = r.domain_id"
    ),
};

/// Records lookups inside the caller's write transaction (a scan's batch,
/// or one lookup): their answers per source and the new assessments, in
/// two statements whatever the batch's size (one per lookup each was a
/// round trip to the database's thread or server: three per lookup). Each
/// lookup gets the next number in `registration_checks`; a domain removed
/// while it was looked up gets nothing. A domain looked up twice in one
/// batch (its counters add up per lookup) is written lookup by lookup.
pub(super) async fn record_registrations_in(
    tx: &mut sqlx::AnyConnection,
    records: &[&RegistrationRecord],
) -> Result<(), StoreError> {
    let mut domains = std::collections::HashSet::new();
    if records.iter().all(|r| domains.insert(r.domain_id)) {
        return write_registrations(tx, records).await;
    }
    for record in records {
        write_registrations(tx, std::slice::from_ref(record)).await?;
    }
    Ok(())
}

/// [`record_registrations_in`] for lookups of distinct domains.
async fn write_registrations(
    tx: &mut sqlx::AnyConnection,
    records: &[&RegistrationRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let engine = super::engine_of(tx);
    // Each row of the batch seeks its domain (PostgreSQL, see
    // `IndexSeeksOnly`): no hash of every domain per batch.
    let planner = super::observations::IndexSeeksOnly::set(&mut *tx).await?;
    let facts: Vec<serde_json::Value> = records
        .iter()
        .flat_map(|record| {
            record.answers.iter().map(|answer| {
                let f = &answer.facts;
                serde_json::json!([
                    record.domain_id,
                    json_label(&answer.source),
                    stored_text(&answer.server),
                    json_label(&f.outcome),
                    f.expires.as_ref().map(date_text),
                    f.created.as_ref().map(date_text),
                    f.updated.as_ref().map(date_text),
                    f.registrar.as_deref().map(stored_text),
                    f.registrar_iana_id.map(i64::from),
                    serde_json::to_string(&f.status).unwrap_or_default(),
                    serde_json::to_string(&f.nameservers).unwrap_or_default(),
                    format_time(answer.fetched_at),
                ])
            })
        })
        .collect();
    if !facts.is_empty() {
        sqlx::query(UPSERT_FACTS.of(engine))
            .bind(serde_json::Value::from(facts).to_string())
            .execute(&mut *tx)
            .await?;
    }
    let rows: Vec<serde_json::Value> = records
        .iter()
        .map(|record| {
            let a = &record.assessment;
            serde_json::json!([
                record.domain_id,
                a.expires.as_ref().map(|d| expiry_instant(&d.date)),
                a.expires.as_ref().map(|d| json_label(&d.source)),
                a.registrar.as_deref().map(stored_text),
                serde_json::to_string(&a.status).unwrap_or_default(),
                format_time(record.checked_at),
                a.confirmed_at.map(format_time),
                lookup_outcome(record),
                i64::from(a.stale),
                serde_json::to_string(a).unwrap_or_default(),
                json_label(&a.capability),
                record
                    .failure
                    .as_deref()
                    .filter(|_| a.stale)
                    .map(stored_text),
                format_time(record.next_check_at),
            ])
        })
        .collect();
    sqlx::query(UPDATE_DOMAINS.of(engine))
        .bind(serde_json::Value::from(rows).to_string())
        .execute(&mut *tx)
        .await?;
    planner.restore(tx).await
}

/// Text a registry sent, as stored: a NUL (which PostgreSQL refuses in any
/// text, and which would fail the scan's whole batch) becomes U+FFFD.
/// JSON columns need nothing: serialising writes NUL as `\u0000`.
fn stored_text(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::registration::{assess, RegistrationFacts, Source};

    async fn store(dir: &tempfile::TempDir, name: &str) -> Store {
        Store::open(&crate::config::DatabaseConfig {
            postgres: None,
            path: dir.path().join(name),
            max_connections: 2,
            busy_timeout: Duration::from_secs(5),
        })
        .await
        .expect("store")
    }

    fn answer(server: &str, outcome: ParseOutcome, expires: Option<DateValue>) -> SourcedFacts {
        SourcedFacts {
            source: Source::RegistryRdap,
            server: server.to_owned(),
            fetched_at: Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap(),
            facts: RegistrationFacts {
                outcome,
                expires,
                registrar: Some("Registrar\0 Inc".to_owned()),
                registrar_iana_id: Some(292),
                status: vec!["active".to_owned()],
                nameservers: vec!["ns1.example.net".to_owned()],
                ..RegistrationFacts::default()
            },
        }
    }

    /// Lookups of three batches: found, not found, nothing learned (stale,
    /// with a reason, twice in a row), one domain removed before its
    /// record; `a.test` twice in the third batch.
    fn batches(ids: &[i64]) -> Vec<Vec<RegistrationRecord>> {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap();
        let expiry = DateValue::Instant(Utc.with_ymd_and_hms(2027, 3, 1, 4, 0, 0).unwrap());
        let record = |id: i64, answers: Vec<SourcedFacts>, failure: Option<&str>| {
            let assessment = assess(&answers, None, None, now);
            RegistrationRecord {
                domain_id: id,
                answers,
                assessment,
                failure: failure.map(str::to_owned),
                next_check_at: now + chrono::Duration::days(1),
                checked_at: now,
            }
        };
        let found = |id| {
            record(
                id,
                vec![answer(
                    "https://rdap.test/",
                    ParseOutcome::Found,
                    Some(expiry),
                )],
                None,
            )
        };
        vec![
            vec![
                found(ids[0]),
                record(
                    ids[1],
                    vec![answer("https://rdap.test/", ParseOutcome::NotFound, None)],
                    None,
                ),
                record(
                    ids[2],
                    Vec::new(),
                    Some("rdap https://rdap.test/: timed out"),
                ),
                found(999_999),
            ],
            vec![
                record(
                    ids[2],
                    Vec::new(),
                    Some("rdap https://rdap.test/: timed out"),
                ),
                found(ids[0]),
            ],
            vec![found(ids[0]), found(ids[0])],
        ]
    }

    async fn rows(store: &Store) -> Vec<String> {
        let mut rows: Vec<String> = sqlx::query_scalar(
            "SELECT name || '|' || COALESCE(expires_at, '-') || '|' || COALESCE(expires_source, '-')
                 || '|' || COALESCE(registrar, '-') || '|' || COALESCE(registration_status, '-')
                 || '|' || COALESCE(registration_checked_at, '-') || '|' || registration_checks
                 || '|' || COALESCE(registration_confirmed_at, '-')
                 || '|' || COALESCE(registration_outcome, '-') || '|' || registration_stale
                 || '|' || COALESCE(registration_assessment, '-')
                 || '|' || COALESCE(registration_capability, '-')
                 || '|' || registration_lookup_failures || '|' || COALESCE(registration_failure, '-')
                 || '|' || COALESCE(next_registration_check_at, '-')
             FROM domains ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .expect("domains");
        let facts: Vec<String> = sqlx::query_scalar(
            "SELECT d.name || '|' || f.source || '|' || f.server || '|' || f.outcome
                 || '|' || COALESCE(f.expires_at, '-') || '|' || COALESCE(f.registrar, '-')
                 || '|' || COALESCE(f.registrar_iana_id, '-') || '|' || f.status
                 || '|' || f.nameservers || '|' || f.fetched_at
             FROM registration_facts f JOIN domains d ON d.id = f.domain_id
             ORDER BY d.name, f.source, f.server",
        )
        .fetch_all(store.pool())
        .await
        .expect("facts");
        rows.extend(facts);
        rows
    }

    /// A batch leaves the same rows as its lookups recorded one at a time,
    /// including a domain gone meanwhile and a domain twice.
    #[tokio::test]
    async fn a_batch_of_lookups_is_recorded_as_one_by_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Utc::now();
        let mut recorded = Vec::new();
        for (name, batched) in [("one.db", false), ("batch.db", true)] {
            let store = store(&dir, name).await;
            let mut ids = Vec::new();
            for domain in ["a.test", "b.test", "c.test"] {
                let domain = HostName::from_canonical(domain);
                let host = HostName::from_canonical(format!("www.{}", domain.as_str()));
                store
                    .add_endpoint(&host, 443, &domain, None, now)
                    .await
                    .expect("add");
                ids.push(store.domain_id(&domain).await.expect("id"));
            }
            for batch in batches(&ids) {
                let mut tx = store.write_tx().await.expect("tx");
                if batched {
                    let refs: Vec<&RegistrationRecord> = batch.iter().collect();
                    record_registrations_in(&mut tx, &refs)
                        .await
                        .expect("batch");
                } else {
                    for record in &batch {
                        record_registrations_in(&mut tx, &[record])
                            .await
                            .expect("one");
                    }
                }
                tx.commit().await.expect("commit");
            }
            recorded.push(rows(&store).await);
        }
        assert_eq!(recorded[0], recorded[1]);
        let a = &recorded[0][0];
        assert!(a.starts_with("a.test|2027-03-01T04:00:00Z|"), "{a}");
        assert!(a.contains("|4|"), "four lookups counted: {a}");
        let c = &recorded[0][2];
        assert!(
            c.contains("|failed|1|") && c.contains("|2|rdap https://rdap.test/: timed out|"),
            "{c}"
        );
        assert!(
            recorded[0]
                .iter()
                .any(|r| r.starts_with("a.test|registry_rdap|")),
            "{:?}",
            recorded[0]
        );
    }
}
