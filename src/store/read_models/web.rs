//! What the staff pages read beyond the API's read models: the messages
//! queued about a domain's alerts ("what was sent"), within a
//! [`Visibility`] like every other read here, and one client's or
//! domain's threshold override.

use sqlx::Row;

use super::super::outbox::{outbox_item, OUTBOX_ITEM_COLUMNS};
use super::super::{OutboxItem, Store, StoreError, ThresholdOverride, ThresholdOwner};
use super::{Arg, Sql, ALERT_CLIENT};
use crate::domain::access::Visibility;

impl Store {
    /// The newest `limit` messages queued about the alerts of a domain and
    /// its endpoints (a client: about its own alerts), newest first.
    pub async fn messages_of_domain(
        &self,
        visibility: Visibility,
        domain_id: i64,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let columns = OUTBOX_ITEM_COLUMNS
            .split(", ")
            .map(|c| format!("m.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = Sql {
            text: format!(
                "SELECT {columns} FROM alerts a JOIN outbox m ON m.alert_id = a.id
                 LEFT JOIN endpoints e ON e.id = a.endpoint_id
                 LEFT JOIN domains d ON d.id = ?1
                 WHERE (a.domain_id = ?1
                        OR a.endpoint_id IN (SELECT x.id FROM endpoints x WHERE x.domain_id = ?1))"
            ),
            args: vec![Arg::Int(domain_id)],
        };
        sql.visible(visibility, ALERT_CLIENT);
        sql.push(" ORDER BY m.id DESC LIMIT ")
            .bind(Arg::Int(i64::from(limit)));
        let rows = sql.query().fetch_all(self.pool()).await?;
        Ok(rows.iter().map(outbox_item).collect())
    }
}

impl Store {
    /// The threshold override of one client or domain (both lists absent
    /// when none is set), without reading every row as
    /// [`Store::threshold_overrides`] does.
    pub async fn threshold_override(
        &self,
        owner: &ThresholdOwner,
    ) -> Result<ThresholdOverride, StoreError> {
        let (level, table, key) = match owner {
            ThresholdOwner::Client(name) => ("client", "clients", name.trim().to_owned()),
            ThresholdOwner::Domain(name) => ("domain", "domains", name.as_str().to_owned()),
        };
        let row = sqlx::query(&format!(
            "SELECT name, certificate_days, registration_days FROM {table} WHERE name = ?"
        ))
        .bind(&key)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no {level} `{key}`")))?;
        let days = |column: &str| {
            row.get::<Option<String>, _>(column)
                .and_then(|t| serde_json::from_str::<Vec<u32>>(&t).ok())
        };
        Ok(ThresholdOverride {
            level: level.to_owned(),
            name: row.get("name"),
            certificate_days: days("certificate_days"),
            registration_days: days("registration_days"),
        })
    }
}
