//! What people do with alerts, over HTTP (as `lapse alerts
//! ack|snooze|unsnooze|runbook|repeat` and `lapse domains
//! mute|unmute|mutes`): acknowledge and snooze a firing alert, maintenance
//! windows, and the runbook and repeat days of a domain or a client. The
//! token's name is recorded as who did it. Changes: admin and staff; the
//! windows are fleet-wide (admin, staff, viewer read them); a runbook is
//! read by whoever may see its domain or client.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};

use super::domains::domain_name;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{path_id, whole, ApiJson, ApiPath, Params};
use super::{ApiState, Caller};
use crate::domain::access::Action;
use crate::domain::alert_handling::Runbook;
use crate::domain::names::parse_target;
use crate::store::{AlertHandlingView, MuteView, NewMute, ThresholdOwner};

/// A snooze's end.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeChange {
    /// RFC 3339, in the future.
    #[schema(format = DateTime, example = "2026-12-20T08:00:00Z")]
    pub until: String,
}

/// A new maintenance window.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    /// The registrable domain: its registration and all its endpoints.
    #[schema(example = "example.com")]
    pub domain: String,
    /// Only this endpoint of the domain, `host:port`.
    #[serde(default)]
    #[schema(example = "shop.example.com:443")]
    pub endpoint: Option<String>,
    /// RFC 3339; default: now.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339, after `starts_at`.
    #[schema(format = DateTime, example = "2026-12-20T08:00:00Z")]
    pub ends_at: String,
    /// Why (shown in lists and in staff mail).
    #[schema(min_length = 1, example = "registrar transfer")]
    pub reason: String,
}

/// A runbook and the repeat days: staff mail carries the runbook; a
/// domain's empty fields fall back to its client's.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookView {
    /// The registrar or DNS account.
    #[serde(default)]
    pub account: Option<String>,
    /// Who renews.
    #[serde(default)]
    pub renewer: Option<String>,
    /// How to renew, free text.
    #[serde(default)]
    pub howto: Option<String>,
    /// Repeat until renewed: one reminder a day in the last N days (1..366); `null`: off
    /// (a domain's `null` means its client's).
    #[serde(default)]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 366)]
    pub repeat_days: Option<serde_json::Number>,
}

fn instant(text: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::unprocessable("invalid", format!("`{field}` is not an RFC 3339 time"))
                .with_field(field)
        })
}

/// Acknowledge a firing alert (admin, staff): no daily reminders until its
/// next threshold or a new subject. Recorded with the token's name.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts",
    params(("id" = i64, Path, minimum = 1, description = "Alert id")),
    responses((status = 200, body = AlertHandlingView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 404, description = "No firing alert with this id", body = ErrorBody)))]
pub async fn acknowledge(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AlertHandlingView>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let by = state.store.token_actor(caller.token_id).await?;
    state.store.acknowledge_alert(id, &by, state.now()).await?;
    Ok(Json(state.store.alert_handling_view(id).await?))
}

/// Snooze a firing alert until a time (admin, staff): nothing is sent about
/// it until then, except a staff-only reminder if its expiry passes.
#[utoipa::path(put, path = "/api/v1/alerts/{id}/snooze", tag = "alerts",
    request_body = SnoozeChange,
    params(("id" = i64, Path, minimum = 1, description = "Alert id")),
    responses((status = 200, body = AlertHandlingView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 404, description = "No firing alert with this id", body = ErrorBody),
              (status = 422, description = "`until` is not an RFC 3339 time in the future", body = ErrorBody)))]
pub async fn snooze(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SnoozeChange>,
) -> ApiResult<Json<AlertHandlingView>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let until = instant(&body.until, "until")?;
    let now = state.now();
    if until <= now {
        return Err(
            ApiError::unprocessable("invalid", "`until` must be in the future").with_field("until"),
        );
    }
    let by = state.store.token_actor(caller.token_id).await?;
    state.store.snooze_alert(id, Some(until), &by, now).await?;
    Ok(Json(state.store.alert_handling_view(id).await?))
}

/// End a snooze now (admin, staff).
#[utoipa::path(delete, path = "/api/v1/alerts/{id}/snooze", tag = "alerts",
    params(("id" = i64, Path, minimum = 1, description = "Alert id")),
    responses((status = 200, body = AlertHandlingView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 404, description = "No firing alert with this id", body = ErrorBody)))]
pub async fn unsnooze(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AlertHandlingView>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let by = state.store.token_actor(caller.token_id).await?;
    state.store.snooze_alert(id, None, &by, state.now()).await?;
    Ok(Json(state.store.alert_handling_view(id).await?))
}

/// Maintenance windows, newest first (admin, staff, viewer): those not
/// over yet, or all with `all=true`.
#[utoipa::path(get, path = "/api/v1/mutes", tag = "alerts",
    params(("all" = Option<bool>, Query, description = "Ended and lifted windows too")),
    responses((status = 200, body = Vec<MuteView>), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn list_mutes(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Json<Vec<MuteView>>> {
    caller.require(Action::ReadAll)?;
    params.only(&["all"])?;
    let all = params.flag("all")?;
    Ok(Json(state.store.list_mutes(all, state.now()).await?))
}

/// Mute a domain, or one of its endpoints, for a maintenance window (admin,
/// staff): its alerts are held until the window ends, then told; an expiry
/// passing meanwhile is told to staff alone.
#[utoipa::path(post, path = "/api/v1/mutes", tag = "alerts", request_body = MuteRequest,
    responses((status = 201, body = MuteView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 404, description = "The domain or the endpoint is not tracked", body = ErrorBody),
              (status = 422, description = "A time that is not RFC 3339, a window that ends before it starts, no reason, or a name that is not a domain; `field` names it", body = ErrorBody)))]
pub async fn add_mute(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<MuteRequest>,
) -> ApiResult<(StatusCode, Json<MuteView>)> {
    caller.require(Action::Write)?;
    let now = state.now();
    let endpoint = match &body.endpoint {
        Some(text) => {
            let target = parse_target(text, &state.settings.names)
                .map_err(|e| ApiError::from_name(&e, "endpoint"))?;
            Some((target.host, target.port.unwrap_or(443)))
        }
        None => None,
    };
    let mute = NewMute {
        domain: domain_name(&state, &body.domain)?,
        endpoint,
        starts_at: match &body.starts_at {
            Some(text) => instant(text, "starts_at")?,
            None => now,
        },
        ends_at: instant(&body.ends_at, "ends_at")?,
        reason: body.reason,
        by: state.store.token_actor(caller.token_id).await?,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.add_mute(&mute, now).await?),
    ))
}

/// Lift a maintenance window now (admin, staff): its alerts are told again.
#[utoipa::path(delete, path = "/api/v1/mutes/{id}", tag = "alerts",
    params(("id" = i64, Path, minimum = 1, description = "Window id")),
    responses((status = 200, body = MuteView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn lift_mute(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MuteView>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let by = state.store.token_actor(caller.token_id).await?;
    Ok(Json(state.store.lift_mute(id, &by, state.now()).await?))
}

async fn domain_owner(state: &ApiState, caller: &Caller, name: &str) -> ApiResult<ThresholdOwner> {
    let name = domain_name(state, name)?;
    state
        .store
        .visible_domain(caller.visibility(), &state.windows(state.now()), &name)
        .await?;
    Ok(ThresholdOwner::Domain(name))
}

async fn client_owner(state: &ApiState, caller: &Caller, id: &str) -> ApiResult<ThresholdOwner> {
    let id = path_id(id, "id")?;
    let client = state.store.visible_client(caller.visibility(), id).await?;
    Ok(ThresholdOwner::Client(client.name))
}

async fn read_runbook(state: &ApiState, owner: &ThresholdOwner) -> ApiResult<Json<RunbookView>> {
    let (runbook, repeat_days) = state.store.runbook(owner).await?;
    Ok(Json(RunbookView {
        account: runbook.account,
        renewer: runbook.renewer,
        howto: runbook.howto,
        repeat_days: repeat_days.map(serde_json::Number::from),
    }))
}

async fn write_runbook(
    state: &ApiState,
    owner: &ThresholdOwner,
    body: RunbookView,
) -> ApiResult<Json<RunbookView>> {
    let repeat_days = match &body.repeat_days {
        Some(number) => Some(
            whole(number)
                .filter(|d| (1..=366).contains(d))
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "invalid",
                        "`repeat_days` must be a whole number between 1 and 366",
                    )
                    .with_field("repeat_days")
                })?,
        ),
        None => None,
    };
    let runbook = Runbook {
        account: body.account,
        renewer: body.renewer,
        howto: body.howto,
    };
    state.store.set_runbook(owner, &runbook).await?;
    state.store.set_repeat_days(owner, repeat_days).await?;
    read_runbook(state, owner).await
}

/// A domain's own runbook and repeat days (without its client's defaults).
#[utoipa::path(get, path = "/api/v1/domains/{name}/runbook", tag = "alerts",
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 200, body = RunbookView), (status = 404, body = ErrorBody),
              (status = 422, description = "Not a domain name", body = ErrorBody)))]
pub async fn get_domain_runbook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<RunbookView>> {
    caller.require(Action::Read)?;
    let owner = domain_owner(&state, &caller, &name).await?;
    read_runbook(&state, &owner).await
}

/// Replace a domain's runbook and repeat days (admin, staff); absent or
/// null fields are cleared (and fall back to the client's).
#[utoipa::path(put, path = "/api/v1/domains/{name}/runbook", tag = "alerts",
    request_body = RunbookView,
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 200, body = RunbookView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "`repeat_days` out of 1..366, or not a domain name", body = ErrorBody)))]
pub async fn set_domain_runbook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<RunbookView>,
) -> ApiResult<Json<RunbookView>> {
    caller.require(Action::Write)?;
    let owner = domain_owner(&state, &caller, &name).await?;
    write_runbook(&state, &owner, body).await
}

/// Runs `act` on the client's runbook by its name; once more with the name
/// read again when the client was renamed meanwhile.
async fn on_client<F, Fut>(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    act: F,
) -> ApiResult<Json<RunbookView>>
where
    F: Fn(ThresholdOwner) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Json<RunbookView>>>,
{
    let owner = client_owner(state, caller, id).await?;
    match act(owner).await {
        Err(e) if e.code == "unknown_client" => act(client_owner(state, caller, id).await?).await,
        other => other,
    }
}

/// A client's runbook and repeat days: the default of its domains.
#[utoipa::path(get, path = "/api/v1/clients/{id}/runbook", tag = "alerts",
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = RunbookView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get_client_runbook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RunbookView>> {
    caller.require(Action::Read)?;
    on_client(&state, &caller, &id, |owner| {
        let state = state.clone();
        async move { read_runbook(&state, &owner).await }
    })
    .await
}

/// Replace a client's runbook and repeat days (admin, staff); absent or
/// null fields are cleared.
#[utoipa::path(put, path = "/api/v1/clients/{id}/runbook", tag = "alerts",
    request_body = RunbookView,
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = RunbookView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "`repeat_days` out of 1..366", body = ErrorBody)))]
pub async fn set_client_runbook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RunbookView>,
) -> ApiResult<Json<RunbookView>> {
    caller.require(Action::Write)?;
    on_client(&state, &caller, &id, |owner| {
        let state = state.clone();
        let body = body.clone();
        async move { write_runbook(&state, &owner, body).await }
    })
    .await
}
