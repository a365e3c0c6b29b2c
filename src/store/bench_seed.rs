//! The benchmark seed: a fleet of fake clients, domains, endpoints and
//! current observations written in batched multi-row inserts inside one
//! transaction, so 100,000 domains take seconds, not minutes.
//!
//! Dates are spread deterministically (a fixed linear congruential
//! sequence): registrations from 5 days ago to a year ahead; 95% of
//! certificates 30 to 90 days ahead (renewed on time), 5% from 5 days ago
//! to 30 days ahead (renewals that failed).

use chrono::{DateTime, Duration, Utc};

use super::{format_time, Store, StoreError};

/// What the seed wrote.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SeedReport {
    pub clients: u32,
    pub domains: u32,
    pub endpoints: u32,
    pub observations: u32,
}

/// Rows per INSERT statement (SQLite allows 32766 parameters).
const BATCH_ROWS: usize = 500;

impl Store {
    /// Seeds `domains` domains named `d000001-bench.com`..., spread over
    /// `clients` clients, each with `endpoints_per_domain` endpoints
    /// (`www.`, `mail.`, `api.`, ...) and one current observation per
    /// endpoint. Refuses a database that already holds domains.
    pub async fn seed_benchmark(
        &self,
        clients: u32,
        domains: u32,
        endpoints_per_domain: u32,
        now: DateTime<Utc>,
    ) -> Result<SeedReport, StoreError> {
        let clients = clients.max(1);
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM domains")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            return Err(StoreError::Conflict(format!(
                "the database already holds {existing} domain(s); seed a fresh one"
            )));
        }
        let created = format_time(now);
        let mut random = Lcg(0x5eed);
        let day = |d: i64| format_time(now + Duration::days(d) + Duration::hours(d.rem_euclid(24)));

        let client_base: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM clients")
            .fetch_one(&mut *tx)
            .await?;
        for chunk in (1..=clients).collect::<Vec<_>>().chunks(BATCH_ROWS) {
            let mut sql = String::from("INSERT INTO clients (id, name, created_at) VALUES ");
            push_rows(&mut sql, chunk.len(), 3);
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q
                    .bind(client_base + i64::from(*c))
                    .bind(format!("Bench client {c:05}"))
                    .bind(&created);
            }
            q.execute(&mut *tx).await?;
        }

        let mut endpoint_id: i64 = 0;
        let prefixes = ["www", "mail", "api", "shop", "app", "cdn", "vpn", "git"];
        let ids: Vec<u32> = (1..=domains).collect();
        for chunk in ids.chunks(BATCH_ROWS / 2) {
            let mut sql = String::from(
                "INSERT INTO domains (id, name, client_id, created_at, expires_at, expires_source,
                   registration_outcome, registration_checked_at, registration_confirmed_at) VALUES ",
            );
            push_rows(&mut sql, chunk.len(), 9);
            let mut q = sqlx::query(&sql);
            for d in chunk {
                let expires = day(random.next_in(-5, 365));
                q = q
                    .bind(i64::from(*d))
                    .bind(format!("d{d:06}-bench.com"))
                    .bind(client_base + i64::from(d % clients + 1))
                    .bind(&created)
                    .bind(expires)
                    .bind("registry_rdap")
                    .bind("found")
                    .bind(&created)
                    .bind(&created);
            }
            q.execute(&mut *tx).await?;

            let mut endpoints = String::from(
                "INSERT INTO endpoints (id, domain_id, host, port, created_at, next_check_at) VALUES ",
            );
            let per = endpoints_per_domain as usize;
            push_rows(&mut endpoints, chunk.len() * per, 6);
            let mut q = sqlx::query(&endpoints);
            let first_endpoint = endpoint_id;
            for d in chunk {
                for p in 0..per {
                    endpoint_id += 1;
                    let prefix = prefixes[p % prefixes.len()];
                    let suffix = if p < prefixes.len() {
                        String::new()
                    } else {
                        p.to_string()
                    };
                    q = q
                        .bind(endpoint_id)
                        .bind(i64::from(*d))
                        .bind(format!("{prefix}{suffix}.d{d:06}-bench.com"))
                        .bind(443_i64)
                        .bind(&created)
                        .bind(day(1));
                }
            }
            if per > 0 {
                q.execute(&mut *tx).await?;
            }

            let mut observations = String::from(
                "INSERT INTO cert_observations (endpoint_id, address, first_seen_at, last_seen_at,
                   current, result_hash, outcome, leaf_fingerprint, leaf_not_after, chain_not_after,
                   details) VALUES ",
            );
            let count = (endpoint_id - first_endpoint) as usize;
            push_rows(&mut observations, count, 11);
            let mut q = sqlx::query(&observations);
            for id in first_endpoint + 1..=endpoint_id {
                let days = if random.next_in(0, 100) < 5 {
                    random.next_in(-5, 30)
                } else {
                    random.next_in(30, 90)
                };
                let not_after = day(days);
                let outcome = if days < 0 {
                    "critical"
                } else if days < 30 {
                    "warning"
                } else {
                    "ok"
                };
                let fingerprint =
                    format!("{:064x}", u128::from(random.next_u64()) * 7 + id as u128);
                q = q
                    .bind(id)
                    .bind(format!("192.0.2.{}", id % 250 + 1))
                    .bind(&created)
                    .bind(&created)
                    .bind(1_i64)
                    .bind(fingerprint.clone())
                    .bind(outcome)
                    .bind(fingerprint.clone())
                    .bind(not_after.clone())
                    .bind(not_after)
                    .bind(format!(
                        r#"{{"tls_version":"TLSv1.3","findings":[],"chain":[{{"subject":"CN=endpoint {id}","issuer":"CN=Bench CA","sha256":"{fingerprint}"}}]}}"#
                    ));
            }
            if count > 0 {
                q.execute(&mut *tx).await?;
                // The domains' certificate columns, as the scan writer keeps them.
                let ids: Vec<i64> = (first_endpoint + 1..=endpoint_id).collect();
                crate::store::observations::refresh_domain_certificates(
                    &mut tx,
                    &serde_json::Value::from(ids).to_string(),
                )
                .await?;
            }
        }
        tx.commit().await?;
        sqlx::query("ANALYZE").execute(self.pool()).await?;
        Ok(SeedReport {
            clients,
            domains,
            endpoints: u32::try_from(endpoint_id).unwrap_or(u32::MAX),
            observations: u32::try_from(endpoint_id).unwrap_or(u32::MAX),
        })
    }
}

/// Appends `rows` groups of `columns` placeholders: `(?, ?), (?, ?)`.
fn push_rows(sql: &mut String, rows: usize, columns: usize) {
    let group = format!("({})", vec!["?"; columns].join(", "));
    sql.push_str(&vec![group; rows].join(", "));
}

/// A fixed pseudo-random sequence, so every seed is the same fleet.
struct Lcg(u64);

impl Lcg {
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }

    /// A number in `low..high`.
    fn next_in(&mut self, low: i64, high: i64) -> i64 {
        let span = u64::try_from(high - low).unwrap_or(1).max(1);
        low + i64::try_from(self.next_u64() % span).unwrap_or(0)
    }
}
