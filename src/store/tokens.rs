//! API tokens: only the SHA-256 of the secret is stored; the secret is
//! shown once, at creation. Lookups go by hash; `last_used_at` is written at
//! most once a minute per token so that reads stay reads.

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::read_models::ClientRef;
use super::{format_time, parse_time, Store, StoreError};
use crate::domain::access::Role;

/// A token to store (the caller made the secret and hashed it).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// Client name, required for (and only for) the client role.
    pub client: Option<String>,
    pub token_hash: String,
}

/// A token as listed (never its secret or hash).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    pub client: Option<ClientRef>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What a request's token resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: i64,
    pub role: Role,
    pub client_id: Option<i64>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How stale `last_used_at` may get before a request refreshes it.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

impl Store {
    /// Stores a new token. The client role needs a client; others refuse one.
    pub async fn create_api_token(
        &self,
        token: &NewToken,
        now: DateTime<Utc>,
    ) -> Result<TokenView, StoreError> {
        let name = token.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a token name needs 1 to 100 printable characters".into(),
            ));
        }
        let mut conn = self.pool().acquire().await?;
        let client_id = match (&token.client, token.role) {
            (Some(client), Role::Client) => Some(self.client_id(&mut conn, client).await?),
            (None, Role::Client) => {
                return Err(StoreError::InvalidTokenClient(
                    "a client token needs the client it may see (--client NAME)".into(),
                ))
            }
            (Some(_), role) => {
                return Err(StoreError::InvalidTokenClient(format!(
                    "a {role} token sees every client; --client is only for the client role"
                )))
            }
            (None, _) => None,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, client_id, token_hash, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(token.role.as_str())
        .bind(client_id)
        .bind(&token.token_hash)
        .bind(format_time(now))
        .fetch_one(&mut *conn)
        .await?;
        drop(conn);
        self.api_token(id).await
    }

    /// One token by id.
    pub async fn api_token(&self, id: i64) -> Result<TokenView, StoreError> {
        self.list_api_tokens()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("no token with id {id}")))
    }

    /// Every token, newest first, revoked ones included.
    pub async fn list_api_tokens(&self) -> Result<Vec<TokenView>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.role, t.client_id, c.name AS client_name, t.created_at,
                    t.last_used_at, t.revoked_at
             FROM api_tokens t LEFT JOIN clients c ON c.id = t.client_id
             ORDER BY t.id DESC",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| TokenView {
                id: r.get("id"),
                name: r.get("name"),
                role: Role::parse(r.get("role")).unwrap_or(Role::Client),
                client: ClientRef::from_row(r.get("client_id"), r.get("client_name")),
                created_at: r.get("created_at"),
                last_used_at: r.get("last_used_at"),
                revoked_at: r.get("revoked_at"),
            })
            .collect())
    }

    /// The live token with this hash: not revoked, and its client (for a
    /// client token) still there.
    pub async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.role, t.client_id, t.last_used_at FROM api_tokens t
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
               AND (t.client_id IS NULL
                    OR EXISTS (SELECT 1 FROM clients c WHERE c.id = t.client_id))",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| {
            Some(StoredToken {
                id: r.get("id"),
                role: Role::parse(r.get("role"))?,
                client_id: r.get("client_id"),
                last_used_at: r
                    .get::<Option<String>, _>("last_used_at")
                    .as_deref()
                    .and_then(parse_time),
            })
        }))
    }

    /// Whether a token resolved earlier still stands as it was resolved: its
    /// row is there, not revoked, with the same role and client, and that
    /// client's row is there. A cached principal is checked with this
    /// before each use, so it cannot outlive the rows it came from (a token
    /// revoked, or a client removed, by another process). One statement:
    /// a primary-key lookup in `api_tokens` and, for a client token, one in
    /// `clients`.
    pub async fn api_token_stands(&self, token: &StoredToken) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM api_tokens t
             WHERE t.id = $1 AND t.revoked_at IS NULL AND t.role = $2 AND t.client_id IS NOT DISTINCT FROM $3
               AND (t.client_id IS NULL
                    OR EXISTS (SELECT 1 FROM clients c WHERE c.id = t.client_id))",
        )
        .bind(token.id)
        .bind(token.role.as_str())
        .bind(token.client_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Records a use of a token, unless one was recorded in the last minute.
    /// Returns whether it wrote.
    pub async fn touch_api_token(
        &self,
        token: &StoredToken,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if token
            .last_used_at
            .is_some_and(|t| now - t < Duration::seconds(LAST_USED_RESOLUTION_SECS))
        {
            return Ok(false);
        }
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(format_time(now))
            .bind(token.id)
            .execute(self.writer())
            .await?;
        Ok(true)
    }

    /// Revokes a token; revoking twice is a no-op that still succeeds.
    pub async fn revoke_api_token(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<TokenView, StoreError> {
        let updated = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(format_time(now))
        .bind(id)
        .execute(self.writer())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no token with id {id}")));
        }
        self.api_token(id).await
    }
}
