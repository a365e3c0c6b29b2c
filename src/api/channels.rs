//! `/api/v1/channels`: the configured channels (never their URLs or
//! tokens) and where each is attached, as `lapse channels list`, `attach`
//! and `detach` show and change them. Routes are fleet-wide: admin, staff
//! and viewer tokens read them, admin and staff change them; client tokens
//! have no access.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{path_id, ApiJson, ApiPath};
use super::{ApiState, Caller};
use crate::domain::access::Action;
use crate::domain::routing::{EventGroup, Severity};
use crate::store::{NewRoute, RouteListing};

/// A configured channel and its routes.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    #[schema(example = "ops-teams")]
    pub name: String,
    /// teams, telegram, ntfy, pagerduty, slack, discord or webhook.
    #[schema(example = "teams")]
    pub kind: String,
    /// Set by `[webhooks]`: posts every event to staff, whatever the routes.
    pub from_webhooks: bool,
    pub routes: Vec<RouteListing>,
}

/// Where a route's posts start and what they cover; absent fields take
/// their defaults (`info`; every group for staff, `expiry` and `status`
/// for a client).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteChange {
    /// info, warning or critical.
    #[schema(example = "warning")]
    pub min_severity: Option<String>,
    /// Groups of events: expiry, status, failures, lapse.
    #[schema(example = json!(["expiry", "status"]))]
    pub events: Option<Vec<String>>,
}

/// Every configured channel and where it is attached (admin, staff, viewer).
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels",
    responses((status = 200, body = Vec<ChannelView>), (status = 403, body = ErrorBody)))]
pub async fn list_channels(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ChannelView>>> {
    caller.require(Action::ReadAll)?;
    let routes = state.store.channel_routes().await?;
    Ok(Json(
        state
            .settings
            .channels
            .iter()
            .map(|(name, kind, from_webhooks)| ChannelView {
                name: name.clone(),
                kind: (*kind).to_owned(),
                from_webhooks: *from_webhooks,
                routes: routes
                    .iter()
                    .filter(|r| &r.channel == name)
                    .cloned()
                    .collect(),
            })
            .collect(),
    ))
}

/// Attach a channel to staff: every subject (admin, staff), like
/// `lapse channels attach NAME --staff`. Again: replaces severity and events.
#[utoipa::path(put, path = "/api/v1/channels/{name}/staff", tag = "channels",
    request_body = RouteChange,
    params(("name" = String, Path, description = "The channel's name")),
    responses((status = 200, body = RouteListing), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "An unknown severity or event group, or a `[webhooks]` channel; `field` names it", body = ErrorBody)))]
pub async fn attach_to_staff(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<RouteChange>,
) -> ApiResult<Json<RouteListing>> {
    caller.require(Action::Write)?;
    attach(&state, name, None, body).await
}

/// Detach a channel from staff (admin, staff).
#[utoipa::path(delete, path = "/api/v1/channels/{name}/staff", tag = "channels",
    params(("name" = String, Path, description = "The channel's name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn detach_from_staff(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    state.store.detach_channel(&name, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Attach a channel to one client: that client's subjects only (admin,
/// staff), like `lapse channels attach NAME --client CLIENT`.
#[utoipa::path(put, path = "/api/v1/channels/{name}/clients/{id}", tag = "channels",
    request_body = RouteChange,
    params(("name" = String, Path, description = "The channel's name"),
           ("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = RouteListing), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "An unknown severity or event group, or a `[webhooks]` channel; `field` names it", body = ErrorBody)))]
pub async fn attach_to_client(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((name, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RouteChange>,
) -> ApiResult<Json<RouteListing>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let client = state.store.visible_client(caller.visibility(), id).await?;
    attach(&state, name, Some(client.name), body).await
}

/// Detach a channel from a client (admin, staff).
#[utoipa::path(delete, path = "/api/v1/channels/{name}/clients/{id}", tag = "channels",
    params(("name" = String, Path, description = "The channel's name"),
           ("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn detach_from_client(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let client = state.store.visible_client(caller.visibility(), id).await?;
    state
        .store
        .detach_channel(&name, Some(&client.name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn attach(
    state: &ApiState,
    name: String,
    client: Option<String>,
    body: RouteChange,
) -> ApiResult<Json<RouteListing>> {
    let Some((_, _, from_webhooks)) = state.settings.channels.iter().find(|c| c.0 == name) else {
        return Err(ApiError::not_found(format!("no channel named `{name}`")));
    };
    if *from_webhooks {
        return Err(ApiError::unprocessable(
            "invalid",
            format!("channel `{name}` comes from `[webhooks]` and posts every event to staff"),
        )
        .with_field("name"));
    }
    let min_severity = match body.min_severity.as_deref() {
        None => Severity::Info,
        Some(text) => Severity::parse(text).ok_or_else(|| {
            ApiError::unprocessable("invalid", "min_severity: info, warning or critical")
                .with_field("min_severity")
        })?,
    };
    let groups = match &body.events {
        None if client.is_some() => vec![EventGroup::Expiry, EventGroup::Status],
        None => EventGroup::ALL.to_vec(),
        Some(list) => EventGroup::parse_list(&list.join(",")).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid",
                "events: one or more of expiry, status, failures, lapse",
            )
            .with_field("events")
        })?,
    };
    let route = NewRoute {
        channel: name,
        client,
        min_severity,
        groups,
    };
    Ok(Json(state.store.attach_channel(&route, state.now()).await?))
}
