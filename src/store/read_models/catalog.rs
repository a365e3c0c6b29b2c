//! Clients and their contacts, addressed by id, within a [`Visibility`].

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::super::{format_time, Store, StoreError};
use crate::domain::access::Visibility;

/// A client named inside another object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientRef {
    pub id: i64,
    pub name: String,
}

impl ClientRef {
    pub(in crate::store) fn from_row(id: Option<i64>, name: Option<String>) -> Option<Self> {
        Some(Self {
            id: id?,
            name: name?,
        })
    }
}

/// A client with its contacts.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    /// How many domains are the client's: it owns the registration or at
    /// least one endpoint under it.
    pub domains: i64,
    pub contacts: Vec<ContactView>,
}

/// An address that receives a client's alerts.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub email: String,
    pub created_at: String,
}

impl Store {
    /// Clients the caller may see, by name.
    pub async fn visible_clients(
        &self,
        visibility: Visibility,
    ) -> Result<Vec<ClientView>, StoreError> {
        let client_id = visibility.client_id();
        let rows = sqlx::query(
            "SELECT c.id, c.name, c.created_at,
                    (SELECT COUNT(*) FROM domains d WHERE d.client_id = c.id OR d.id IN
                       (SELECT x.domain_id FROM endpoints x WHERE x.client_id = c.id)) AS domains
             FROM clients c WHERE ($1 IS NULL OR c.id = $1) ORDER BY c.name",
        )
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        let contacts = sqlx::query(
            "SELECT id, client_id, email, created_at FROM contacts
             WHERE ($1 IS NULL OR client_id = $1) ORDER BY email",
        )
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let id: i64 = row.get("id");
                ClientView {
                    id,
                    name: row.get("name"),
                    created_at: row.get("created_at"),
                    domains: row.get("domains"),
                    contacts: contacts
                        .iter()
                        .filter(|c| c.get::<i64, _>("client_id") == id)
                        .map(|c| ContactView {
                            id: c.get("id"),
                            email: c.get("email"),
                            created_at: c.get("created_at"),
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// One client, if the caller may see it.
    pub async fn visible_client(
        &self,
        visibility: Visibility,
        id: i64,
    ) -> Result<ClientView, StoreError> {
        if visibility.client_id().is_some_and(|own| own != id) {
            return Err(no_client(id));
        }
        self.visible_clients(Visibility::Client(id))
            .await?
            .pop()
            .ok_or_else(|| no_client(id))
    }

    /// Resolves a client named by id (`"7"`) or name (`"Acme Ltd"`, any
    /// case) within the caller's visibility.
    pub async fn resolve_client(
        &self,
        visibility: Visibility,
        reference: &str,
    ) -> Result<Option<ClientRef>, StoreError> {
        let reference = reference.trim();
        // No client's name holds NUL (names are refused with it), and
        // PostgreSQL refuses the character in any text it is sent.
        if reference.contains('\0') {
            return Ok(None);
        }
        let by_id: Option<i64> = reference.parse().ok();
        let row = sqlx::query(
            "SELECT id, name FROM clients WHERE (id = $1 OR name = $2) AND ($3 IS NULL OR id = $3)
             ORDER BY id = $1 DESC LIMIT 1",
        )
        .bind(by_id)
        .bind(reference)
        .bind(visibility.client_id())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| ClientRef {
            id: r.get("id"),
            name: r.get("name"),
        }))
    }

    /// Renames a client; another client with the name is a conflict.
    pub async fn rename_client(&self, id: i64, name: &str) -> Result<ClientView, StoreError> {
        let name = crate::store::clients::clean_client_name(name)?;
        let name = name.as_str();
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM clients WHERE name = $1 AND id <> $2")
                .bind(name)
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "another client is already named `{name}`"
            )));
        }
        let updated = sqlx::query("UPDATE clients SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(self.writer())
            .await?;
        if updated.rows_affected() == 0 {
            return Err(no_client(id));
        }
        self.visible_client(Visibility::All, id).await
    }

    /// Adds a (validated) contact to a client; returns it and whether it is new.
    pub async fn add_contact(
        &self,
        client_id: i64,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(ContactView, bool), StoreError> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM clients WHERE id = $1")
            .bind(client_id)
            .fetch_optional(self.pool())
            .await?;
        if exists.is_none() {
            return Err(no_client(client_id));
        }
        let inserted = sqlx::query(
            "INSERT INTO contacts (client_id, email, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (client_id, email) DO NOTHING",
        )
        .bind(client_id)
        .bind(email)
        .bind(format_time(now))
        .execute(self.writer())
        .await?;
        let row = sqlx::query(
            "SELECT id, email, created_at FROM contacts WHERE client_id = $1 AND email = $2",
        )
        .bind(client_id)
        .bind(email)
        .fetch_one(self.pool())
        .await?;
        Ok((
            ContactView {
                id: row.get("id"),
                email: row.get("email"),
                created_at: row.get("created_at"),
            },
            inserted.rows_affected() > 0,
        ))
    }

    /// Removes one contact of a client.
    pub async fn remove_contact(&self, client_id: i64, contact_id: i64) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM contacts WHERE id = $1 AND client_id = $2")
            .bind(contact_id)
            .bind(client_id)
            .execute(self.writer())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "client {client_id} has no contact with id {contact_id}"
            )));
        }
        Ok(())
    }
}

fn no_client(id: i64) -> StoreError {
    StoreError::NotFound(format!("no client with id {id}"))
}
