//! The web pages' accounts and sessions: staff users (Argon2id password
//! hashes made by the caller), sessions, one-time links (set a password,
//! a contact's sign-in) and the portal links staff share with a client.
//!
//! No secret is stored: sessions, links and portal links keep the SHA-256
//! of their secret (the caller hashes), so a copy of the database signs
//! nobody in. A session is live while its row is there, not expired, and
//! what it stands for still stands: the user has a password, the contact is
//! still the client's, the portal link is not revoked. Removing a user, a
//! client or a portal link ends its sessions (`ON DELETE CASCADE`, and
//! revocation deletes them).
//!
//! - [`WebUser`]: a staff account as listed; [`UserCredentials`]: what
//!   sign-in checks
//! - [`SessionOf`]: who a new session is for; [`StoredSession`]: a live one
//! - [`PortalLinkView`]: a portal link as staff see it
//! - `web_auth/portal.rs`: what the client portal reads that the API
//!   read models do not (the messages sent to a client)

mod portal;

pub use portal::{SentMessage, SIGN_IN_MESSAGE_PREFIX};

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::alerts::NewMessage;
use super::read_models::ClientRef;
use super::{format_time, Store, StoreError};
use crate::domain::access::Role;

/// A staff account as listed (never its password hash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebUser {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// False until the set-password link was used.
    pub has_password: bool,
    pub created_at: String,
    pub password_set_at: Option<String>,
    /// Sessions not yet expired.
    pub live_sessions: i64,
}

/// What sign-in checks a password against.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// Argon2id PHC string; `None` until a password is set.
    pub password_hash: Option<String>,
}

/// A one-time link to store: the SHA-256 of its secret and its end.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// Who a session is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOf {
    Staff {
        user_id: i64,
    },
    /// A client's contact, signed in through an emailed link.
    Contact {
        client_id: i64,
        contact: String,
    },
    /// Whoever opened a portal link.
    PortalLink {
        client_id: i64,
        portal_link_id: i64,
    },
}

/// A live session and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id: i64,
    pub who: SessionPrincipal,
}

/// The person behind a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPrincipal {
    Staff {
        user_id: i64,
        email: String,
        role: Role,
    },
    Client {
        client_id: i64,
        client_name: String,
        /// `None`: a portal link's session.
        contact: Option<String>,
    },
}

/// A portal link as staff see it (its secret was shown once).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PortalLinkView {
    pub id: i64,
    pub client_id: i64,
    pub label: String,
    pub created_by: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// The roles a staff account may have (a client signs in by link).
pub const STAFF_ROLES: [Role; 3] = [Role::Admin, Role::Staff, Role::Viewer];

impl Store {
    /// Adds a staff account without a password, and its set-password link.
    /// An address already in use is a `Conflict`.
    pub async fn create_web_user(
        &self,
        email: &str,
        role: Role,
        link: &NewLink,
        now: DateTime<Utc>,
    ) -> Result<WebUser, StoreError> {
        if !STAFF_ROLES.contains(&role) {
            return Err(StoreError::Invalid(format!(
                "a staff account is admin, staff or viewer, not {role}; clients sign in by link"
            )));
        }
        let now_text = format_time(now);
        let mut tx = self.write_tx().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO web_users (email, role, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(email)
        .bind(role.as_str())
        .bind(&now_text)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Err(StoreError::Conflict(format!(
                "there is already an account for {email} (`lapse users list`)"
            )));
        };
        insert_set_password_link(&mut tx, id, link, &now_text).await?;
        tx.commit().await?;
        self.web_user(email, now).await
    }

    /// A new set-password link for an existing account (e.g. a forgotten
    /// password): earlier unused links stop working.
    pub async fn reissue_set_password_link(
        &self,
        email: &str,
        link: &NewLink,
        now: DateTime<Utc>,
    ) -> Result<WebUser, StoreError> {
        let now_text = format_time(now);
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM web_users WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| no_user(email))?;
        sqlx::query(
            "DELETE FROM web_links WHERE purpose = 'set_password' AND user_id = $1 AND used_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_set_password_link(&mut tx, id, link, &now_text).await?;
        tx.commit().await?;
        self.web_user(email, now).await
    }

    /// One account by address.
    pub async fn web_user(&self, email: &str, now: DateTime<Utc>) -> Result<WebUser, StoreError> {
        self.list_web_users(now)
            .await?
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .ok_or_else(|| no_user(email))
    }

    /// Every staff account, by address.
    pub async fn list_web_users(&self, now: DateTime<Utc>) -> Result<Vec<WebUser>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.role, u.password_hash IS NOT NULL AS has_password,
                    u.created_at, u.password_set_at,
                    (SELECT COUNT(*) FROM web_sessions s
                     WHERE s.user_id = u.id AND s.expires_at > $1) AS live_sessions
             FROM web_users u ORDER BY u.email",
        )
        .bind(format_time(now))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| WebUser {
                id: r.get("id"),
                email: r.get("email"),
                role: Role::parse(r.get("role")).unwrap_or(Role::Viewer),
                has_password: super::flag(r, "has_password"),
                created_at: r.get("created_at"),
                password_set_at: r.get("password_set_at"),
                live_sessions: r.get("live_sessions"),
            })
            .collect())
    }

    /// Removes an account; its sessions and links go with it.
    pub async fn remove_web_user(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<WebUser, StoreError> {
        let user = self.web_user(email, now).await?;
        sqlx::query("DELETE FROM web_users WHERE id = $1")
            .bind(user.id)
            .execute(self.writer())
            .await?;
        Ok(user)
    }

    /// What sign-in checks for this address, when there is an account.
    pub async fn web_user_credentials(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let row =
            sqlx::query("SELECT id, email, role, password_hash FROM web_users WHERE email = $1")
                .bind(email.trim())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|r| {
            Some(UserCredentials {
                id: r.get("id"),
                email: r.get("email"),
                role: Role::parse(r.get("role"))?,
                password_hash: r.get("password_hash"),
            })
        }))
    }

    /// The account a set-password link is for, while the link is unused
    /// and not expired.
    pub async fn set_password_link_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT u.email FROM web_links l JOIN web_users u ON u.id = l.user_id
             WHERE l.token_hash = $1 AND l.purpose = 'set_password'
               AND l.used_at IS NULL AND l.expires_at > $2",
        )
        .bind(token_hash)
        .bind(format_time(now))
        .fetch_optional(self.pool())
        .await?)
    }

    /// Uses a set-password link once: stores the new hash and ends the
    /// account's other sessions. `None` when the link is unknown, used or
    /// expired (nothing is written then).
    pub async fn use_set_password_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let now = format_time(now);
        let mut tx = self.write_tx().await?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE web_links SET used_at = $1
             WHERE token_hash = $2 AND purpose = 'set_password'
               AND used_at IS NULL AND expires_at > $1
             RETURNING user_id",
        )
        .bind(&now)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let row = sqlx::query(
            "UPDATE web_users SET password_hash = $1, password_set_at = $2 WHERE id = $3
             RETURNING id, email, role, password_hash",
        )
        .bind(password_hash)
        .bind(&now)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Role::parse(row.get("role")).map(|role| UserCredentials {
            id: row.get("id"),
            email: row.get("email"),
            role,
            password_hash: row.get("password_hash"),
        }))
    }

    /// Starts a session; expired sessions and links are cleared on the way.
    pub async fn create_web_session(
        &self,
        secret_hash: &str,
        of: &SessionOf,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let now = format_time(now);
        let (user_id, client_id, contact, link_id) = match of {
            SessionOf::Staff { user_id } => (Some(*user_id), None, None, None),
            SessionOf::Contact { client_id, contact } => {
                (None, Some(*client_id), Some(contact.as_str()), None)
            }
            SessionOf::PortalLink {
                client_id,
                portal_link_id,
            } => (None, Some(*client_id), None, Some(*portal_link_id)),
        };
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM web_links WHERE expires_at <= $1")
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO web_sessions (secret_hash, user_id, client_id, contact, portal_link_id,
                                       created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(secret_hash)
        .bind(user_id)
        .bind(client_id)
        .bind(contact)
        .bind(link_id)
        .bind(&now)
        .bind(format_time(expires_at))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The live session with this secret's hash, and who it is.
    pub async fn web_session(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, u.email, u.role, s.client_id, c.name AS client_name, s.contact
             FROM web_sessions s
             LEFT JOIN web_users u ON u.id = s.user_id
             LEFT JOIN clients c ON c.id = s.client_id
             WHERE s.secret_hash = $1 AND s.expires_at > $2
               AND (s.user_id IS NULL OR u.password_hash IS NOT NULL)
               AND (s.portal_link_id IS NULL OR EXISTS (
                     SELECT 1 FROM portal_links p
                     WHERE p.id = s.portal_link_id AND p.revoked_at IS NULL))
               AND (s.contact IS NULL OR EXISTS (
                     SELECT 1 FROM contacts k
                     WHERE k.client_id = s.client_id AND k.email = s.contact))",
        )
        .bind(secret_hash)
        .bind(format_time(now))
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let who = match r.get::<Option<i64>, _>("user_id") {
            Some(user_id) => {
                let Some(role) = Role::parse(r.get("role")) else {
                    return Ok(None);
                };
                SessionPrincipal::Staff {
                    user_id,
                    email: r.get("email"),
                    role,
                }
            }
            None => SessionPrincipal::Client {
                client_id: r.get("client_id"),
                client_name: r.get("client_name"),
                contact: r.get("contact"),
            },
        };
        Ok(Some(StoredSession {
            id: r.get("id"),
            who,
        }))
    }

    /// Ends one session (sign-out); ending it twice is fine.
    pub async fn end_web_session(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The clients that have `email` among their contacts.
    pub async fn clients_of_contact(&self, email: &str) -> Result<Vec<ClientRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.name FROM contacts k JOIN clients c ON c.id = k.client_id
             WHERE k.email = $1 ORDER BY c.name",
        )
        .bind(email.trim())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| ClientRef {
                id: r.get("id"),
                name: r.get("name"),
            })
            .collect())
    }

    /// Stores a contact's sign-in links (one per client it is a contact
    /// of) and queues the mail that carries them, in one transaction.
    pub async fn queue_client_sign_in(
        &self,
        contact: &str,
        links: &[(i64, NewLink)],
        message: &NewMessage,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = format_time(now);
        let mut tx = self.write_tx().await?;
        for (client_id, link) in links {
            sqlx::query(
                "INSERT INTO web_links (token_hash, purpose, client_id, contact, created_at, expires_at)
                 VALUES ($1, 'client_sign_in', $2, $3, $4, $5)",
            )
            .bind(&link.token_hash)
            .bind(client_id)
            .bind(contact)
            .bind(&now)
            .bind(format_time(link.expires_at))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO outbox (message_id, channel, recipient, cc, reply_to, subject, body_text,
                                 body_html, state, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, 'pending', 0, $8, $9)",
        )
        .bind(message_id)
        .bind(message.channel.as_str())
        .bind(&message.recipient)
        .bind(&message.reply_to)
        .bind(&message.subject)
        .bind(&message.body_text)
        .bind(&message.body_html)
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a contact's sign-in link once: the client and contact it is
    /// for, while the link is unused, not expired and the address is still
    /// the client's contact. `None` otherwise (nothing is written then).
    pub async fn use_client_sign_in_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let now = format_time(now);
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE web_links SET used_at = $1
             WHERE token_hash = $2 AND purpose = 'client_sign_in'
               AND used_at IS NULL AND expires_at > $1
               AND EXISTS (SELECT 1 FROM contacts k
                           WHERE k.client_id = web_links.client_id AND k.email = web_links.contact)
             RETURNING client_id, contact",
        )
        .bind(&now)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|r| (r.get("client_id"), r.get("contact"))))
    }

    /// Stores a portal link for a client (by id).
    pub async fn create_portal_link(
        &self,
        client_id: i64,
        label: &str,
        token_hash: &str,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<PortalLinkView, StoreError> {
        let label = label.trim();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a label is one line of at most 100 characters".into(),
            ));
        }
        let row = sqlx::query(
            "INSERT INTO portal_links (token_hash, client_id, label, created_by, created_at)
             SELECT $1, c.id, $2, $3, $4 FROM clients c WHERE c.id = $5
             RETURNING id, client_id, label, created_by, created_at, revoked_at",
        )
        .bind(token_hash)
        .bind(label)
        .bind(created_by)
        .bind(format_time(now))
        .bind(client_id)
        .fetch_optional(self.writer())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no client with id {client_id}")))?;
        Ok(portal_link(&row))
    }

    /// A client's portal links, newest first, revoked ones included.
    pub async fn portal_links(&self, client_id: i64) -> Result<Vec<PortalLinkView>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, client_id, label, created_by, created_at, revoked_at
             FROM portal_links WHERE client_id = $1 ORDER BY id DESC",
        )
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(portal_link).collect())
    }

    /// Revokes a client's portal link and ends the sessions it started;
    /// revoking twice is fine.
    pub async fn revoke_portal_link(
        &self,
        client_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE portal_links SET revoked_at = COALESCE(revoked_at, $1)
             WHERE id = $2 AND client_id = $3",
        )
        .bind(format_time(now))
        .bind(id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no portal link {id} for this client"
            )));
        }
        sqlx::query("DELETE FROM web_sessions WHERE portal_link_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live (not revoked) portal link with this hash: (link id, client id).
    pub async fn portal_link_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, client_id FROM portal_links WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| (r.get("id"), r.get("client_id"))))
    }
}

async fn insert_set_password_link(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    link: &NewLink,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO web_links (token_hash, purpose, user_id, created_at, expires_at)
         VALUES ($1, 'set_password', $2, $3, $4)",
    )
    .bind(&link.token_hash)
    .bind(user_id)
    .bind(now)
    .bind(format_time(link.expires_at))
    .execute(tx)
    .await?;
    Ok(())
}

fn no_user(email: &str) -> StoreError {
    StoreError::NotFound(format!(
        "no account for {email} (`lapse users list` shows them)"
    ))
}

fn portal_link(r: &sqlx::any::AnyRow) -> PortalLinkView {
    PortalLinkView {
        id: r.get("id"),
        client_id: r.get("client_id"),
        label: r.get("label"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
        revoked_at: r.get("revoked_at"),
    }
}
