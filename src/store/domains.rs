//! Domains (registrations) and endpoints (TLS services under them).

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::{format_time, Store, StoreError};
use crate::domain::names::{to_unicode, HostName};

/// What `add_endpoint` stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddedTarget {
    pub domain: String,
    pub host: String,
    pub port: u16,
    pub client: Option<String>,
    pub domain_created: bool,
    pub endpoint_created: bool,
    /// The domain had no client and this call assigned one.
    pub client_assigned: bool,
}

impl AddedTarget {
    pub fn changed(&self) -> bool {
        self.domain_created || self.endpoint_created || self.client_assigned
    }
}

/// A domain with its endpoints, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DomainListing {
    /// ASCII (punycode) name.
    pub name: String,
    /// The name as people read it.
    pub display_name: String,
    pub client: Option<String>,
    pub expires_at: Option<String>,
    pub expires_source: Option<String>,
    pub endpoints: Vec<EndpointListing>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointListing {
    pub host: String,
    pub display_host: String,
    pub port: u16,
    pub tls_mode: String,
    pub pinned_address: Option<String>,
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
    /// Stores an endpoint and its registrable domain, optionally under a
    /// client. Idempotent. A domain already owned by another client is a
    /// conflict (nothing changes); an unowned one is assigned.
    pub async fn add_endpoint(
        &self,
        host: &HostName,
        port: u16,
        registrable: &HostName,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AddedTarget, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let client_id = match client {
            Some(name) => Some(self.client_id(&mut tx, name).await?),
            None => None,
        };
        let created_at = format_time(now);
        let domain_insert = sqlx::query(
            "INSERT INTO domains (name, client_id, created_at, next_registration_check_at)
             VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(registrable.as_str())
        .bind(client_id)
        .bind(&created_at)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT d.id, d.client_id, c.name AS client_name
             FROM domains d LEFT JOIN clients c ON c.id = d.client_id WHERE d.name = ?",
        )
        .bind(registrable.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let domain_id: i64 = row.get("id");
        let owner_id: Option<i64> = row.get("client_id");
        let owner_name: Option<String> = row.get("client_name");
        let mut client_assigned = false;
        let mut client_name = owner_name.clone();
        if let Some(wanted) = client_id {
            match owner_id {
                Some(owner) if owner != wanted => {
                    return Err(StoreError::Conflict(format!(
                        "`{}` belongs to client `{}`; remove it there first to move it",
                        to_unicode(registrable.as_str()),
                        owner_name.unwrap_or_default()
                    )));
                }
                Some(_) => {}
                None => {
                    sqlx::query("UPDATE domains SET client_id = ? WHERE id = ?")
                        .bind(wanted)
                        .bind(domain_id)
                        .execute(&mut *tx)
                        .await?;
                    client_assigned = domain_insert.rows_affected() == 0;
                    client_name = sqlx::query_scalar("SELECT name FROM clients WHERE id = ?")
                        .bind(wanted)
                        .fetch_one(&mut *tx)
                        .await?;
                }
            }
        }
        // A new endpoint is due at once: it is checked within seconds.
        let endpoint_insert = sqlx::query(
            "INSERT INTO endpoints (domain_id, host, port, created_at, next_check_at)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (host, port) DO NOTHING",
        )
        .bind(domain_id)
        .bind(host.as_str())
        .bind(i64::from(port))
        .bind(&created_at)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AddedTarget {
            domain: registrable.as_str().to_owned(),
            host: host.as_str().to_owned(),
            port,
            client: client_name,
            domain_created: domain_insert.rows_affected() > 0,
            endpoint_created: endpoint_insert.rows_affected() > 0,
            client_assigned,
        })
    }

    /// Domains with their endpoints, by name; only one client's when given.
    pub async fn list_domains(
        &self,
        client: Option<&str>,
    ) -> Result<Vec<DomainListing>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let client_id = match client {
            Some(name) => Some(self.client_id(&mut conn, name).await?),
            None => None,
        };
        let domains = sqlx::query(
            "SELECT d.id, d.name, c.name AS client_name, d.expires_at, d.expires_source
             FROM domains d LEFT JOIN clients c ON c.id = d.client_id
             WHERE (?1 IS NULL OR d.client_id = ?1)
             ORDER BY d.name",
        )
        .bind(client_id)
        .fetch_all(&mut *conn)
        .await?;
        let endpoints = sqlx::query(
            "SELECT e.domain_id, e.host, e.port, e.tls_mode, e.pinned_address
             FROM endpoints e JOIN domains d ON d.id = e.domain_id
             WHERE (?1 IS NULL OR d.client_id = ?1)
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
                    client: row.get("client_name"),
                    expires_at: row.get("expires_at"),
                    expires_source: row.get("expires_source"),
                    endpoints: endpoints
                        .iter()
                        .filter(|e| e.get::<i64, _>("domain_id") == id)
                        .map(|e| {
                            let host: String = e.get("host");
                            EndpointListing {
                                display_host: to_unicode(&host),
                                host,
                                port: u16::try_from(e.get::<i64, _>("port")).unwrap_or_default(),
                                tls_mode: e.get("tls_mode"),
                                pinned_address: e.get("pinned_address"),
                            }
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// Removes a whole domain (with every endpoint under it).
    pub async fn remove_domain(&self, name: &HostName) -> Result<RemovedTarget, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM domains WHERE name = ?")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("`{}` is not tracked", name.to_unicode()))
            })?;
        let endpoints = endpoint_names(&mut tx, id).await?;
        sqlx::query("DELETE FROM domains WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RemovedTarget {
            endpoints,
            domain: Some(name.as_str().to_owned()),
        })
    }

    /// Removes one endpoint; its domain goes too when nothing is left under it.
    pub async fn remove_endpoint(
        &self,
        host: &HostName,
        port: u16,
    ) -> Result<RemovedTarget, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let domain_id: i64 =
            sqlx::query_scalar("SELECT domain_id FROM endpoints WHERE host = ? AND port = ?")
                .bind(host.as_str())
                .bind(i64::from(port))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("`{}:{port}` is not tracked", host.to_unicode()))
                })?;
        sqlx::query("DELETE FROM endpoints WHERE host = ? AND port = ?")
            .bind(host.as_str())
            .bind(i64::from(port))
            .execute(&mut *tx)
            .await?;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM endpoints WHERE domain_id = ?")
            .bind(domain_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut domain = None;
        if left == 0 {
            domain = sqlx::query_scalar("DELETE FROM domains WHERE id = ? RETURNING name")
                .bind(domain_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(RemovedTarget {
            endpoints: vec![format!("{host}:{port}")],
            domain,
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
             WHERE d.expires_at IS NOT NULL AND d.expires_at <= ?
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
            sqlx::query("UPDATE endpoints SET pinned_address = ? WHERE host = ? AND port = ?")
                .bind(address.map(|a| a.to_string()))
                .bind(host.as_str())
                .bind(i64::from(port))
                .execute(self.pool())
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
    conn: &mut sqlx::SqliteConnection,
    domain_id: i64,
) -> Result<Vec<String>, StoreError> {
    let rows =
        sqlx::query("SELECT host, port FROM endpoints WHERE domain_id = ? ORDER BY host, port")
            .bind(domain_id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .iter()
        .map(|r| format!("{}:{}", r.get::<String, _>("host"), r.get::<i64, _>("port")))
        .collect())
}
