//! Domains (registrations) and endpoints (TLS services under them): lists,
//! removal, pinning. Adding and ownership are in `fleet.rs`.

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::read_models::NEEDS_DATE_SQL;
use super::{format_time, Store, StoreError};
use crate::domain::certificate::TlsMode;
use crate::domain::fleet::{OwnerKind, Watch};
use crate::domain::names::{to_unicode, HostName};

/// A domain with its endpoints, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DomainListing {
    /// ASCII (punycode) name.
    pub name: String,
    /// The name as people read it.
    pub display_name: String,
    /// What is watched: `registration`, `tls` or `both`.
    pub watch: Watch,
    /// Who owns the registration: `client`, `agency` or `none`.
    pub registration_owner: OwnerKind,
    /// The client owning the registration, when a client does.
    pub client: Option<String>,
    pub expires_at: Option<String>,
    pub expires_source: Option<String>,
    /// The last lookup's outcome (`found`, `not_published`, `not_found`, ...).
    pub registration_outcome: Option<String>,
    /// What the registry publishes (`rdap_with_expiry`, `whois_only`,
    /// `nothing_published`), once a lookup has told.
    pub registration_capability: Option<String>,
    /// The registration is watched, the registry publishes no expiry and
    /// nobody entered one: a person must enter the date (the status
    /// `needs_date`, same rule as the API's).
    pub needs_date: bool,
    /// When the registration was last looked up.
    pub registration_checked_at: Option<String>,
    /// Why the last lookup learned nothing (every source failed), if it did.
    pub registration_failure: Option<String>,
    pub endpoints: Vec<EndpointListing>,
}

impl DomainListing {
    /// The registration is watched and the registry does not know the domain.
    pub fn not_found(&self) -> bool {
        self.watch.registration() && self.registration_outcome.as_deref() == Some("not_found")
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointListing {
    pub host: String,
    pub display_host: String,
    pub port: u16,
    /// `direct`, `starttls-smtp`, `starttls-imap` or `starttls-pop3`.
    pub tls_mode: String,
    pub pinned_address: Option<String>,
    /// The endpoint's client; `None`: the agency's own.
    pub client: Option<String>,
}

/// What `remove_target` removed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemovedTarget {
    pub endpoints: Vec<String>,
    pub domain: Option<String>,
}

/// A domain whose assessed registration expiry falls within a window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExpiringDomain {
    pub name: String,
    pub client: Option<String>,
    pub expires_at: String,
    pub expires_source: Option<String>,
}

impl Store {
    /// Domains with their endpoints, by name. With a client: the domains
    /// whose registration it owns or under which it has an endpoint, with
    /// only its own endpoints.
    pub async fn list_domains(
        &self,
        client: Option<&str>,
    ) -> Result<Vec<DomainListing>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let client_id = match client {
            Some(name) => Some(self.client_id(&mut conn, name).await?),
            None => None,
        };
        let domains = sqlx::query(&format!(
            "SELECT d.id, d.name, d.watch, d.registration_owner, c.name AS client_name,
                    d.expires_at, d.expires_source, d.registration_outcome,
                    d.registration_capability, ({NEEDS_DATE_SQL}) AS needs_date,
                    d.registration_checked_at, d.registration_failure
             FROM domains d LEFT JOIN clients c ON c.id = d.client_id
             WHERE $1 IS NULL OR d.client_id = $1
                OR EXISTS (SELECT 1 FROM endpoints e WHERE e.domain_id = d.id AND e.client_id = $1)
             ORDER BY d.name"
        ))
        .bind(client_id)
        .fetch_all(&mut *conn)
        .await?;
        let endpoints = sqlx::query(
            "SELECT e.domain_id, e.host, e.port, e.tls_mode, e.pinned_address,
                    c.name AS client_name
             FROM endpoints e LEFT JOIN clients c ON c.id = e.client_id
             WHERE $1 IS NULL OR e.client_id = $1
             ORDER BY e.domain_id, e.host, e.port",
        )
        .bind(client_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(domains
            .iter()
            .map(|row| {
                let id: i64 = row.get("id");
                let name: String = row.get("name");
                DomainListing {
                    display_name: to_unicode(&name),
                    name,
                    watch: Watch::parse(row.get("watch")).unwrap_or(Watch::Both),
                    registration_owner: OwnerKind::parse(row.get("registration_owner"))
                        .unwrap_or(OwnerKind::Agency),
                    client: row.get("client_name"),
                    expires_at: row.get("expires_at"),
                    expires_source: row.get("expires_source"),
                    registration_outcome: row.get("registration_outcome"),
                    registration_capability: row.get("registration_capability"),
                    needs_date: super::flag(row, "needs_date"),
                    registration_checked_at: row.get("registration_checked_at"),
                    registration_failure: row.get("registration_failure"),
                    endpoints: endpoints
                        .iter()
                        .filter(|e| e.get::<i64, _>("domain_id") == id)
                        .map(endpoint_listing)
                        .collect(),
                }
            })
            .collect())
    }

    /// Removes a whole domain (with every endpoint under it).
    pub async fn remove_domain(&self, name: &HostName) -> Result<RemovedTarget, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM domains WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("`{}` is not tracked", name.to_unicode()))
            })?;
        let endpoints = endpoint_names(&mut tx, id).await?;
        sqlx::query("DELETE FROM domains WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RemovedTarget {
            endpoints,
            domain: Some(name.as_str().to_owned()),
        })
    }

    /// Removes one endpoint. Its domain stays (removing a domain is its
    /// own use case): with no endpoint left, a domain watching its
    /// registration is registration-only from now on.
    pub async fn remove_endpoint(
        &self,
        host: &HostName,
        port: u16,
    ) -> Result<RemovedTarget, StoreError> {
        let removed: Option<i64> = sqlx::query_scalar(
            "DELETE FROM endpoints WHERE host = $1 AND port = $2 RETURNING domain_id",
        )
        .bind(host.as_str())
        .bind(i64::from(port))
        .fetch_optional(self.writer())
        .await?;
        if removed.is_none() {
            return Err(StoreError::NotFound(format!(
                "`{}:{port}` is not tracked",
                host.to_unicode()
            )));
        }
        Ok(RemovedTarget {
            endpoints: vec![format!("{host}:{port}")],
            domain: None,
        })
    }

    /// Domains whose assessed registration expiry is before `now + days`
    /// (already expired included), soonest first.
    pub async fn domains_expiring_within(
        &self,
        days: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<ExpiringDomain>, StoreError> {
        let until = format_time(now + Duration::days(days));
        let rows = sqlx::query(
            "SELECT d.name, c.name AS client_name, d.expires_at, d.expires_source
             FROM domains d LEFT JOIN clients c ON c.id = d.client_id
             WHERE d.expires_at IS NOT NULL AND d.expires_at <= $1
             ORDER BY d.expires_at, d.name",
        )
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| ExpiringDomain {
                name: row.get("name"),
                client: row.get("client_name"),
                expires_at: row.get("expires_at"),
                expires_source: row.get("expires_source"),
            })
            .collect())
    }

    /// Pins an endpoint to an address (DNS is skipped; SNI still names the
    /// host), or unpins it with `None`.
    pub async fn pin_endpoint(
        &self,
        host: &HostName,
        port: u16,
        address: Option<std::net::IpAddr>,
    ) -> Result<(), StoreError> {
        let updated =
            sqlx::query("UPDATE endpoints SET pinned_address = $1 WHERE host = $2 AND port = $3")
                .bind(address.map(|a| a.to_string()))
                .bind(host.as_str())
                .bind(i64::from(port))
                .execute(self.writer())
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "`{}:{port}` is not tracked",
                host.to_unicode()
            )));
        }
        Ok(())
    }

    /// Counts of (domains, endpoints), for summaries and tests.
    pub async fn inventory_counts(&self) -> Result<(i64, i64), StoreError> {
        let domains: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM domains")
            .fetch_one(self.pool())
            .await?;
        let endpoints: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM endpoints")
            .fetch_one(self.pool())
            .await?;
        Ok((domains, endpoints))
    }
}

async fn endpoint_names(
    conn: &mut sqlx::AnyConnection,
    domain_id: i64,
) -> Result<Vec<String>, StoreError> {
    let rows =
        sqlx::query("SELECT host, port FROM endpoints WHERE domain_id = $1 ORDER BY host, port")
            .bind(domain_id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .iter()
        .map(|r| format!("{}:{}", r.get::<String, _>("host"), r.get::<i64, _>("port")))
        .collect())
}

fn endpoint_listing(e: &sqlx::any::AnyRow) -> EndpointListing {
    let host: String = e.get("host");
    let port = u16::try_from(e.get::<i64, _>("port")).unwrap_or_default();
    EndpointListing {
        display_host: to_unicode(&host),
        host,
        port,
        tls_mode: TlsMode::from_stored(&e.get::<String, _>("tls_mode"), port)
            .name()
            .to_owned(),
        pinned_address: e.get("pinned_address"),
        client: e.get("client_name"),
    }
}

impl Store {
    /// What the registry of `domain`'s suffix publishes (`rdap_with_expiry`,
    /// `whois_only`, `nothing_published`), as the latest lookup of any
    /// domain under that suffix found; `None` until one has told.
    pub async fn tld_capability(&self, domain: &str) -> Result<Option<String>, StoreError> {
        let Some((_, suffix)) = domain.split_once('.') else {
            return Ok(None);
        };
        let tail = format!(".{suffix}");
        Ok(sqlx::query_scalar(
            "SELECT registration_capability FROM domains
             WHERE substr(name, CAST(length(name) - $2 + 1 AS INTEGER)) = $1
               AND registration_capability IN ('rdap_with_expiry', 'whois_only', 'nothing_published')
             ORDER BY registration_checked_at DESC LIMIT 1",
        )
        .bind(&tail)
        .bind(i64::try_from(tail.len()).unwrap_or(i64::MAX))
        .fetch_optional(self.pool())
        .await?)
    }
}
