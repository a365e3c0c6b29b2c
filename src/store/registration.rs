//! Registration state: the cached RDAP bootstrap, facts per source, the
//! assessed view on `domains`, manual dates.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::{format_time, parse_time, Store, StoreError};
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
        record_registration_in(&mut tx, record).await?;
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

/// Records one lookup inside the caller's write transaction: the answers per
/// source and the new assessment. The lookup gets the next number in
/// `registration_checks`.
pub(super) async fn record_registration_in(
    tx: &mut sqlx::AnyConnection,
    record: &RegistrationRecord,
) -> Result<(), StoreError> {
    let RegistrationRecord {
        domain_id,
        answers,
        assessment,
        failure,
        next_check_at,
        checked_at: now,
    } = record;
    let (domain_id, next_check_at, now) = (*domain_id, *next_check_at, *now);
    // Removed while it was looked up: nothing to record.
    let tracked = sqlx::query("SELECT 1 FROM domains WHERE id = $1")
        .bind(domain_id)
        .fetch_optional(&mut *tx)
        .await?;
    if tracked.is_none() {
        return Ok(());
    }
    for answer in answers {
        let f = &answer.facts;
        sqlx::query(
            "INSERT INTO registration_facts
               (domain_id, source, server, outcome, expires_at, registered_at, updated_at,
                registrar, registrar_iana_id, status, nameservers, fetched_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (domain_id, source, server) DO UPDATE SET
               outcome = excluded.outcome, expires_at = excluded.expires_at,
               registered_at = excluded.registered_at, updated_at = excluded.updated_at,
               registrar = excluded.registrar, registrar_iana_id = excluded.registrar_iana_id,
               status = excluded.status, nameservers = excluded.nameservers,
               fetched_at = excluded.fetched_at",
        )
        .bind(domain_id)
        .bind(json_label(&answer.source))
        .bind(stored_text(&answer.server))
        .bind(json_label(&f.outcome))
        .bind(f.expires.as_ref().map(date_text))
        .bind(f.created.as_ref().map(date_text))
        .bind(f.updated.as_ref().map(date_text))
        .bind(f.registrar.as_deref().map(stored_text))
        .bind(f.registrar_iana_id.map(i64::from))
        .bind(serde_json::to_string(&f.status).unwrap_or_default())
        .bind(serde_json::to_string(&f.nameservers).unwrap_or_default())
        .bind(format_time(answer.fetched_at))
        .execute(&mut *tx)
        .await?;
    }
    let outcome = if assessment.stale {
        "failed"
    } else if assessment.not_found {
        "not_found"
    } else if assessment.expires.is_some() {
        "found"
    } else if assessment.capability == Capability::NothingPublished {
        "not_published"
    } else {
        answers
            .iter()
            .map(|a| a.facts.outcome)
            .find(|o| *o == ParseOutcome::RateLimited)
            .map_or("unparseable", |_| "rate_limited")
    };
    let failures_sql = if assessment.stale {
        "registration_lookup_failures + 1"
    } else {
        "0"
    };
    // A domain watched for its endpoints alone keeps no expiry on the
    // domain row (the facts above stay): nothing lists or alerts it.
    sqlx::query(&format!(
        "UPDATE domains SET
           expires_at = CASE WHEN watch = 'tls' THEN NULL ELSE $1 END,
           expires_source = CASE WHEN watch = 'tls' THEN NULL ELSE $2 END,
           registrar = $3, registration_status = $4,
           registration_checked_at = $5,
           registration_checks = registration_checks + 1,
           registration_confirmed_at = $6,
           registration_outcome = $7, registration_stale = $8,
           registration_assessment = $9, registration_capability = $10,
           registration_lookup_failures = {failures_sql},
           registration_failure = $11,
           next_registration_check_at = $12
         WHERE id = $13"
    ))
    .bind(assessment.expires.as_ref().map(|d| expiry_instant(&d.date)))
    .bind(assessment.expires.as_ref().map(|d| json_label(&d.source)))
    .bind(assessment.registrar.as_deref().map(stored_text))
    .bind(serde_json::to_string(&assessment.status).unwrap_or_default())
    .bind(format_time(now))
    .bind(assessment.confirmed_at.map(format_time))
    .bind(outcome)
    .bind(i64::from(assessment.stale))
    .bind(serde_json::to_string(assessment).unwrap_or_default())
    .bind(json_label(&assessment.capability))
    .bind(
        failure
            .as_deref()
            .filter(|_| assessment.stale)
            .map(stored_text),
    )
    .bind(format_time(next_check_at))
    .bind(domain_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Text a registry sent, as stored: a NUL (which PostgreSQL refuses in any
/// text, and which would fail the scan's whole batch) becomes U+FFFD.
/// JSON columns need nothing: serialising writes NUL as `\u0000`.
fn stored_text(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}
