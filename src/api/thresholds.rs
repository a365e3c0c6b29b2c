//! `/api/v1/clients/{id}/thresholds` and `/api/v1/domains/{name}/thresholds`:
//! the days at which alerts fire, overriding `[alerts]`, as `lapse
//! thresholds` reads, sets and clears them. A domain's override wins over
//! the client's; a client's applies to what the client owns (certificate
//! days to its endpoints, registration days to the registrations it owns).
//!
//! Everyone may read the thresholds of what they see (a client token its
//! own client's and its domains'); admin and staff change them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::domains::domain_name;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{path_id, present, ApiJson, ApiPath, Whole};
use super::openapi::{ThresholdDays, MAX_DAYS};
use super::{ApiState, Caller};
use crate::domain::access::Action;
use crate::domain::alert_policy::Thresholds;
use crate::store::{ThresholdKind, ThresholdOwner};

/// The override of a client or a domain, and the defaults it overrides.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ThresholdsView {
    /// `client` or `domain`.
    #[schema(example = "client")]
    pub level: String,
    /// The client's name, or the domain's ASCII name.
    #[schema(example = "Acme Ltd")]
    pub name: String,
    /// The client's id (level `client` only).
    pub client_id: Option<i64>,
    /// Certificate thresholds in days, largest first; `null`: inherited
    /// (a domain's from the endpoint's client, then `defaults`).
    #[schema(example = json!([21, 7, 2, 0]))]
    pub certificate_days: Option<Vec<u32>>,
    /// Registration thresholds in days, largest first; `null`: inherited
    /// (a domain's from the registration owner, then `defaults`).
    pub registration_days: Option<Vec<u32>>,
    /// `[alerts]` in the configuration: what applies where nothing overrides.
    pub defaults: DefaultThresholds,
}

/// The configured thresholds.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DefaultThresholds {
    pub certificate_days: Vec<u32>,
    pub registration_days: Vec<u32>,
}

/// A change to an override: a list of days (0 to 3650) sets it, `null`
/// clears it (inherited again), an absent field stays as it is. At least
/// one field is needed.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsChange {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ThresholdDays, example = json!([21, 7, 2, 0]))]
    pub certificate_days: Option<Option<Vec<Whole>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ThresholdDays, example = json!([60, 30, 7]))]
    pub registration_days: Option<Option<Vec<Whole>>>,
}

/// A client's threshold override (a client token: its own client's).
#[utoipa::path(get, path = "/api/v1/clients/{id}/thresholds", tag = "thresholds",
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = ThresholdsView), (status = 404, body = ErrorBody)))]
pub async fn get_client_thresholds(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ThresholdsView>> {
    caller.require(Action::Read)?;
    let owner = client_owner(&state, &caller, &id).await?;
    Ok(Json(view(&state, owner).await?))
}

/// Set a client's thresholds (admin, staff), like `lapse thresholds set --client`.
#[utoipa::path(put, path = "/api/v1/clients/{id}/thresholds", tag = "thresholds",
    request_body = ThresholdsChange,
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = ThresholdsView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "No list given, an empty list or days out of 0..3650; `field` names it", body = ErrorBody)))]
pub async fn set_client_thresholds(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ThresholdsChange>,
) -> ApiResult<Json<ThresholdsView>> {
    caller.require(Action::Write)?;
    let changes = validate(body)?;
    let owner = client_owner(&state, &caller, &id).await?;
    apply(&state, &owner, &changes).await?;
    Ok(Json(view(&state, owner).await?))
}

/// Clear a client's thresholds (admin, staff): both lists are inherited again.
#[utoipa::path(delete, path = "/api/v1/clients/{id}/thresholds", tag = "thresholds",
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn clear_client_thresholds(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let owner = client_owner(&state, &caller, &id).await?;
    apply(&state, &owner, &cleared()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A domain's threshold override (it wins over the clients').
#[utoipa::path(get, path = "/api/v1/domains/{name}/thresholds", tag = "thresholds",
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 200, body = ThresholdsView), (status = 404, body = ErrorBody)))]
pub async fn get_domain_thresholds(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ThresholdsView>> {
    caller.require(Action::Read)?;
    let owner = domain_owner(&state, &caller, &name).await?;
    Ok(Json(view(&state, owner).await?))
}

/// Set a domain's thresholds (admin, staff), like `lapse thresholds set --domain`.
#[utoipa::path(put, path = "/api/v1/domains/{name}/thresholds", tag = "thresholds",
    request_body = ThresholdsChange,
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 200, body = ThresholdsView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "No list given, an empty list or days out of 0..3650; `field` names it", body = ErrorBody)))]
pub async fn set_domain_thresholds(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ThresholdsChange>,
) -> ApiResult<Json<ThresholdsView>> {
    caller.require(Action::Write)?;
    let changes = validate(body)?;
    let owner = domain_owner(&state, &caller, &name).await?;
    apply(&state, &owner, &changes).await?;
    Ok(Json(view(&state, owner).await?))
}

/// Clear a domain's thresholds (admin, staff): both lists are inherited again.
#[utoipa::path(delete, path = "/api/v1/domains/{name}/thresholds", tag = "thresholds",
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn clear_domain_thresholds(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let owner = domain_owner(&state, &caller, &name).await?;
    apply(&state, &owner, &cleared()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A client the caller may see (404 otherwise), as the override's owner.
async fn client_owner(state: &ApiState, caller: &Caller, id: &str) -> ApiResult<Owner> {
    let id = path_id(id, "id")?;
    let client = state.store.visible_client(caller.visibility(), id).await?;
    Ok(Owner {
        store: ThresholdOwner::Client(client.name),
        client_id: Some(client.id),
    })
}

/// A domain the caller may see (404 otherwise), as the override's owner.
async fn domain_owner(state: &ApiState, caller: &Caller, name: &str) -> ApiResult<Owner> {
    let name = domain_name(state, name)?;
    state
        .store
        .visible_domain(caller.visibility(), &state.windows(state.now()), &name)
        .await?;
    Ok(Owner {
        store: ThresholdOwner::Domain(name),
        client_id: None,
    })
}

/// Whose override a request is about.
struct Owner {
    store: ThresholdOwner,
    client_id: Option<i64>,
}

/// One list to set (`Some`) or clear (`None`).
type Change = (ThresholdKind, Option<Thresholds>);

fn cleared() -> Vec<Change> {
    vec![
        (ThresholdKind::Certificate, None),
        (ThresholdKind::Registration, None),
    ]
}

/// Checks the whole body before anything is written, with the CLI's words.
fn validate(body: ThresholdsChange) -> ApiResult<Vec<Change>> {
    let mut changes = Vec::new();
    for (kind, field, value) in [
        (
            ThresholdKind::Certificate,
            "certificate_days",
            body.certificate_days,
        ),
        (
            ThresholdKind::Registration,
            "registration_days",
            body.registration_days,
        ),
    ] {
        match value {
            None => {}
            Some(None) => changes.push((kind, None)),
            Some(Some(days)) => changes.push((kind, Some(thresholds(field, &days)?))),
        }
    }
    if changes.is_empty() {
        return Err(ApiError::unprocessable(
            "missing_field",
            "give certificate_days and/or registration_days, e.g. {\"certificate_days\": [21, 7, 2, 0]}",
        )
        .with_field("certificate_days"));
    }
    Ok(changes)
}

fn thresholds(field: &str, days: &[Whole]) -> ApiResult<Thresholds> {
    let mut checked = Vec::with_capacity(days.len());
    for (i, Whole(day)) in days.iter().enumerate() {
        match u32::try_from(*day) {
            Ok(d) if *day <= MAX_DAYS => checked.push(d),
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_days",
                    format!("days go from 0 to {MAX_DAYS}"),
                )
                .with_field(format!("{field}[{i}]")))
            }
        }
    }
    Thresholds::new(checked).ok_or_else(|| {
        ApiError::unprocessable("invalid_days", "give at least one number of days")
            .with_field(field)
    })
}

async fn apply(state: &ApiState, owner: &Owner, changes: &[Change]) -> ApiResult<()> {
    for (kind, days) in changes {
        state
            .store
            .set_thresholds(&owner.store, *kind, days.as_ref())
            .await?;
    }
    Ok(())
}

/// The owner's override as stored now.
async fn view(state: &ApiState, owner: Owner) -> ApiResult<ThresholdsView> {
    let (level, name) = match &owner.store {
        ThresholdOwner::Client(name) => ("client", name.clone()),
        ThresholdOwner::Domain(name) => ("domain", name.as_str().to_owned()),
    };
    let stored = state
        .store
        .threshold_overrides()
        .await?
        .into_iter()
        .find(|o| o.level == level && o.name == name);
    let (certificate_days, registration_days) = stored
        .map(|o| (o.certificate_days, o.registration_days))
        .unwrap_or_default();
    Ok(ThresholdsView {
        level: level.to_owned(),
        name,
        client_id: owner.client_id,
        certificate_days,
        registration_days,
        defaults: DefaultThresholds {
            certificate_days: state.settings.certificate_days.clone(),
            registration_days: state.settings.registration_days.clone(),
        },
    })
}
