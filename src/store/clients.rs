//! Clients (agency customers) and their contacts.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, Store, StoreError};

/// What `add_client` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientAdded {
    pub name: String,
    pub created: bool,
    /// Contacts this call added (those already present are not repeated).
    pub contacts_added: Vec<String>,
}

/// A client as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientListing {
    pub name: String,
    pub contacts: Vec<String>,
    pub domains: i64,
    pub created_at: String,
}

impl Store {
    /// Adds a client, or adds contacts to an existing one. Idempotent: the
    /// same call twice changes nothing the second time. `contacts` must be
    /// validated addresses.
    pub async fn add_client(
        &self,
        name: &str,
        contacts: &[String],
        now: DateTime<Utc>,
    ) -> Result<ClientAdded, StoreError> {
        let name = clean_client_name(name)?;
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO clients (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&name)
        .bind(format_time(now))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT id, name FROM clients WHERE name = $1")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?;
        let client_id: i64 = row.get("id");
        let stored_name: String = row.get("name");
        let mut contacts_added = Vec::new();
        for email in contacts {
            let result = sqlx::query(
                "INSERT INTO contacts (client_id, email, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (client_id, email) DO NOTHING",
            )
            .bind(client_id)
            .bind(email)
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
            if result.rows_affected() > 0 {
                contacts_added.push(email.clone());
            }
        }
        tx.commit().await?;
        Ok(ClientAdded {
            name: stored_name,
            created: inserted.rows_affected() > 0,
            contacts_added,
        })
    }

    /// Every client with its contacts and number of domains, by name.
    pub async fn list_clients(&self) -> Result<Vec<ClientListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.name, c.created_at,
                    (SELECT COUNT(*) FROM domains d WHERE d.client_id = c.id
                        OR EXISTS (SELECT 1 FROM endpoints e
                                   WHERE e.domain_id = d.id AND e.client_id = c.id)) AS domains
             FROM clients c ORDER BY c.name",
        )
        .fetch_all(self.pool())
        .await?;
        let contacts = sqlx::query("SELECT client_id, email FROM contacts ORDER BY email")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let id: i64 = row.get("id");
                ClientListing {
                    name: row.get("name"),
                    created_at: row.get("created_at"),
                    domains: row.get("domains"),
                    contacts: contacts
                        .iter()
                        .filter(|c| c.get::<i64, _>("client_id") == id)
                        .map(|c| c.get("email"))
                        .collect(),
                }
            })
            .collect())
    }

    /// Removes a client and its contacts. A client that still owns domains
    /// (a registration or an endpoint) is kept unless `release_domains`,
    /// which leaves them watched and owned by the agency.
    pub async fn remove_client(
        &self,
        name: &str,
        release_domains: bool,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM clients WHERE name = $1")
            .bind(name.trim())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NoSuchClient(name.trim().to_owned()))?;
        // What the client owns: registrations, and endpoints under any domain.
        let owned: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM domains d WHERE d.client_id = $1
                OR EXISTS (SELECT 1 FROM endpoints e WHERE e.domain_id = d.id AND e.client_id = $1)",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if owned > 0 && !release_domains {
            return Err(StoreError::Conflict(format!(
                "client `{}` still owns {owned} domain(s); remove them first, or pass --release-domains to keep watching them without a client",
                name.trim()
            )));
        }
        // Released: the agency owns what the client owned.
        sqlx::query(
            "UPDATE domains SET client_id = NULL, registration_owner = 'agency' WHERE client_id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE endpoints SET client_id = NULL WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(owned)
    }

    /// The id of a client by name (case-insensitive).
    pub(super) async fn client_id(
        &self,
        conn: &mut sqlx::AnyConnection,
        name: &str,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT id FROM clients WHERE name = $1")
            .bind(name.trim())
            .fetch_optional(conn)
            .await?
            .ok_or_else(|| StoreError::NoSuchClient(name.trim().to_owned()))
    }
}

/// A client name as stored: trimmed, 1 to 200 characters, no control or
/// look-alike characters (`domain::text`).
pub(super) fn clean_client_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Invalid("a client name cannot be empty".into()));
    }
    if name.chars().count() > 200 {
        return Err(StoreError::Invalid(
            "a client name may have at most 200 characters".into(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a client name cannot contain control characters".into(),
        ));
    }
    if let Some(found) = crate::domain::text::look_alike(name) {
        return Err(StoreError::Invalid(format!(
            "the client name `{}` contains {found}; remove it",
            name.escape_default()
        )));
    }
    Ok(name.to_owned())
}
