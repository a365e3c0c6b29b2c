//! What the client portal reads beside the API's read models: the mail
//! sent to a client's contacts (subjects and states, never bodies).
//!
//! A message is the client's when it was addressed to one of its contacts
//! and, when it is about an alert, the alert is the client's (an
//! endpoint's alerts are its client's, a registration's its owner's, as in
//! `read_models`). Sign-in mail (`web-sign-in.*`) is never listed: its
//! body holds a live link.

use sqlx::Row;

use super::super::{Dialect, Store, StoreError};

/// A message sent (or about to be) to a client's contacts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SentMessage {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    /// `pending`, `sending`, `sent`, `failed` or `logged`.
    pub state: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// The prefix of the sign-in mails' message ids.
pub const SIGN_IN_MESSAGE_PREFIX: &str = "web-sign-in.";

/// The message's recipients (comma-separated) include the contact `k`, in
/// any case: SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE does,
/// but refuses the `nocase` collation of `contacts.email`, hence `"C"`.
const RECIPIENT_IS_CONTACT: Dialect = Dialect {
    sqlite: "',' || REPLACE(o.recipient, ' ', '') || ',' LIKE '%,' || k.email || ',%'",
    postgres: "',' || REPLACE(o.recipient, ' ', '') || ','
                   ILIKE '%,' || (k.email COLLATE \"C\") || ',%'",
};

impl Store {
    /// The latest `limit` emails sent to `client_id`'s contacts, newest first.
    pub async fn messages_sent_to_client(
        &self,
        client_id: i64,
        limit: u32,
    ) -> Result<Vec<SentMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT o.id, o.recipient, o.subject, o.state, o.created_at, o.sent_at
             FROM outbox o
             WHERE o.channel = 'email' AND o.message_id NOT LIKE $2 || '%'
               AND EXISTS (SELECT 1 FROM contacts k WHERE k.client_id = $1 AND {})
               AND (o.alert_id IS NULL OR EXISTS (
                     SELECT 1 FROM alerts a JOIN domains d ON d.id = a.domain_id
                     LEFT JOIN endpoints e ON e.id = a.endpoint_id
                     WHERE a.id = o.alert_id
                       AND CASE WHEN a.endpoint_id IS NOT NULL THEN e.client_id
                                ELSE d.client_id END = $1))
             ORDER BY o.id DESC LIMIT $3",
            RECIPIENT_IS_CONTACT.of(self.engine())
        ))
        .bind(client_id)
        .bind(SIGN_IN_MESSAGE_PREFIX)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| SentMessage {
                id: r.get("id"),
                recipient: r.get("recipient"),
                subject: r.get("subject"),
                state: r.get("state"),
                created_at: r.get("created_at"),
                sent_at: r.get("sent_at"),
            })
            .collect())
    }
}
