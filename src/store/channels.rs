//! Channel routes: which named channel (`[channels.NAME]`) is attached to
//! staff or to a client, with the least severity and the groups of events
//! it wants. The rule that applies a route is `domain::routing`; the
//! channels themselves live in the configuration, never here.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, Store, StoreError};
use crate::domain::routing::{EventGroup, Route, RouteTarget, Severity};

/// A stored route as listed: the route and the client's name.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RouteListing {
    pub channel: String,
    /// `staff`, or the client's name.
    pub attached_to: String,
    /// `info`, `warning` or `critical`.
    pub min_severity: String,
    /// Groups of events: `expiry`, `status`, `failures`, `lapse`.
    pub events: Vec<String>,
    pub created_at: String,
}

/// What `attach_channel` writes.
#[derive(Debug, Clone)]
pub struct NewRoute {
    pub channel: String,
    /// `None`: staff.
    pub client: Option<String>,
    pub min_severity: Severity,
    pub groups: Vec<EventGroup>,
}

fn route_from_row(r: &sqlx::any::AnyRow) -> Route {
    let target = match r.get::<Option<i64>, _>("client_id") {
        Some(id) => RouteTarget::Client(id),
        None => RouteTarget::Staff,
    };
    Route {
        channel: r.get("channel"),
        target,
        min_severity: Severity::parse(r.get::<&str, _>("min_severity")).unwrap_or(Severity::Info),
        groups: EventGroup::parse_list(r.get::<&str, _>("events")).unwrap_or_default(),
    }
}

/// The routes that may post about a subject of `client_id`: staff's and,
/// when there is a client, that client's own.
pub(super) async fn routes_for(
    conn: &mut sqlx::AnyConnection,
    client_id: Option<i64>,
) -> Result<Vec<Route>, StoreError> {
    let rows = sqlx::query(
        "SELECT channel, client_id, min_severity, events FROM channel_routes
         WHERE client_id IS NULL OR client_id = $1 ORDER BY channel, id",
    )
    .bind(client_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.iter().map(route_from_row).collect())
}

impl Store {
    /// Staff's audience for a subject of nobody's (lapse's own trouble):
    /// no contacts, staff's routes.
    pub async fn staff_audience(&self) -> Result<super::Audience, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Ok(super::Audience {
            routes: routes_for(&mut conn, None).await?,
            ..super::Audience::default()
        })
    }

    /// Attaches a channel to staff or to a client; attaching again replaces
    /// the severity and events. Returns the route as listed.
    pub async fn attach_channel(
        &self,
        route: &NewRoute,
        now: DateTime<Utc>,
    ) -> Result<RouteListing, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let client_id = match &route.client {
            Some(name) => Some(self.client_id(&mut conn, name).await?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO channel_routes (channel, client_id, min_severity, events, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (channel, COALESCE(client_id, 0))
             DO UPDATE SET min_severity = excluded.min_severity, events = excluded.events",
        )
        .bind(&route.channel)
        .bind(client_id)
        .bind(route.min_severity.as_str())
        .bind(EventGroup::list(&route.groups))
        .bind(format_time(now))
        .execute(&mut *conn)
        .await?;
        self.channel_routes()
            .await?
            .into_iter()
            .find(|r| {
                r.channel == route.channel
                    && r.attached_to == route.client.as_deref().map_or("staff", str::trim)
            })
            .ok_or_else(|| StoreError::NotFound("the route just attached is gone".into()))
    }

    /// Detaches a channel from staff (`client` None) or from a client.
    /// `NotFound` when it was not attached there.
    pub async fn detach_channel(
        &self,
        channel: &str,
        client: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        let client_id = match client {
            Some(name) => Some(self.client_id(&mut conn, name).await?),
            None => None,
        };
        let done = sqlx::query(
            "DELETE FROM channel_routes WHERE channel = $1 AND client_id IS NOT DISTINCT FROM $2",
        )
        .bind(channel)
        .bind(client_id)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "channel `{channel}` is not attached to {}",
                client.map_or("staff".to_owned(), |c| format!("client `{}`", c.trim()))
            )));
        }
        Ok(())
    }

    /// Every route, by channel, staff first.
    pub async fn channel_routes(&self) -> Result<Vec<RouteListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.channel, c.name AS client, r.min_severity, r.events, r.created_at
             FROM channel_routes r LEFT JOIN clients c ON c.id = r.client_id
             ORDER BY r.channel, r.client_id IS NOT NULL, c.name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| RouteListing {
                channel: r.get("channel"),
                attached_to: r
                    .get::<Option<String>, _>("client")
                    .unwrap_or_else(|| "staff".into()),
                min_severity: r.get("min_severity"),
                events: r
                    .get::<String, _>("events")
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
                created_at: r.get("created_at"),
            })
            .collect())
    }
}
