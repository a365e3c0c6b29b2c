//! What staff decide about a domain rather than what lapse finds out:
//! what is watched and who owns the registration (`PATCH
//! /api/v1/domains/{name}`, as `lapse domains watch` and `lapse domains
//! owner`), and a registration expiry entered by hand
//! (`/api/v1/domains/{name}/manual-expiry`, as `lapse domains set-expiry`).

use axum::extract::State;
use axum::http::StatusCode;

use super::domains::domain_name;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::openapi::{RegistrationOwnerName, WatchName};
use super::targets::{known_client, owner_field, owner_needs_client, watch_field, ClientInput};
use super::{ApiState, Caller, JsonText};
use crate::domain::access::{Action, Visibility};
use crate::domain::fleet::OwnerKind;
use crate::store::read_models::DomainDetail;

/// A change to a domain. Absent fields stay as they are; at least one is needed.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainPatch {
    /// `registration` (endpoints are kept but not checked), `tls` (the
    /// registration is not looked up; its facts stay on record) or `both`.
    #[serde(default)]
    #[schema(value_type = WatchName, example = "registration")]
    pub watch: Option<String>,
    /// `client` (with `client`), `agency` or `none`. An explicit move: the
    /// registration may belong to another client before.
    #[serde(default)]
    #[schema(value_type = RegistrationOwnerName, example = "client")]
    pub registration_owner: Option<String>,
    /// The client that owns the registration, by id or name; alone, it
    /// means `registration_owner: client`.
    #[serde(default)]
    #[schema(value_type = ClientInput, example = "Acme Ltd")]
    pub client: Option<ClientInput>,
}

/// Change what is watched for a domain or who owns its registration
/// (admin, staff). Nothing is deleted: the endpoints of a
/// registration-only domain stay, unchecked; a TLS-only domain's
/// registration facts stay on record. Checks that become due run at the
/// next scan.
#[utoipa::path(patch, path = "/api/v1/domains/{name}", tag = "domains",
    request_body = DomainPatch,
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 200, body = DomainDetail), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "No field given, or a field is not valid (`field` names it)", body = ErrorBody)))]
pub async fn update_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<DomainPatch>,
) -> ApiResult<JsonText> {
    caller.require(Action::Write)?;
    let watch = body.watch.as_deref().map(watch_field).transpose()?;
    let mut owner = body
        .registration_owner
        .as_deref()
        .map(owner_field)
        .transpose()?;
    if owner.is_none() && body.client.is_some() {
        owner = Some(OwnerKind::Client);
    }
    if watch.is_none() && owner.is_none() {
        return Err(ApiError::unprocessable(
            "missing_field",
            "give watch and/or registration_owner, e.g. {\"watch\": \"registration\"}",
        )
        .with_field("watch"));
    }
    owner_needs_client(owner, body.client.is_some())?;
    if body.client.is_some() && owner != Some(OwnerKind::Client) {
        return Err(ApiError::unprocessable(
            "invalid",
            "a registration owned by the agency or by nobody names no client; leave out `client`",
        )
        .with_field("client"));
    }
    let client = match &body.client {
        Some(reference) => Some(known_client(&state, reference).await?),
        None => None,
    };
    let name = domain_name(&state, &name)?;
    let now = state.now();
    if let Some(owner) = owner {
        state
            .store
            .set_registration_owner(&name, owner, client.as_deref())
            .await?;
    }
    if let Some(watch) = watch {
        state.store.set_watch(&name, watch, now).await?;
    }
    let detail = state
        .store
        .domain_detail_json(Visibility::All, &state.windows(now), &name)
        .await?;
    Ok(JsonText(detail))
}

/// A registration expiry from a person, e.g. from the registrar's invoice.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualExpiryChange {
    /// The expiry date, `YYYY-MM-DD`.
    #[schema(example = "2027-03-31", format = Date)]
    pub expires_at: String,
    /// Where the date comes from.
    #[schema(example = "registrar invoice 2026-114")]
    pub note: Option<String>,
}

/// Enter a registration expiry by hand (admin, staff), for a TLD that
/// publishes none; it clears the `needs_date` status. lapse keeps looking
/// the domain up, and a date the registry publishes wins over it.
#[utoipa::path(put, path = "/api/v1/domains/{name}/manual-expiry", tag = "domains",
    request_body = ManualExpiryChange,
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 200, body = DomainDetail), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "Not a date (`field`: `expires_at`)", body = ErrorBody)))]
pub async fn set_manual_expiry(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ManualExpiryChange>,
) -> ApiResult<JsonText> {
    caller.require(Action::Write)?;
    let date =
        chrono::NaiveDate::parse_from_str(body.expires_at.trim(), "%Y-%m-%d").map_err(|_| {
            ApiError::unprocessable(
                "invalid_date",
                format!(
                    "`{}` is not a date; use YYYY-MM-DD, e.g. 2027-03-31",
                    body.expires_at
                ),
            )
            .with_field("expires_at")
        })?;
    let name = domain_name(&state, &name)?;
    let now = state.now();
    let note = body
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    state
        .store
        .set_manual_expiry(&name, date, note, now)
        .await?;
    let detail = state
        .store
        .domain_detail_json(Visibility::All, &state.windows(now), &name)
        .await?;
    Ok(JsonText(detail))
}

/// Remove a hand-entered expiry (admin, staff); the registration is looked
/// up again at once.
#[utoipa::path(delete, path = "/api/v1/domains/{name}/manual-expiry", tag = "domains",
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn clear_manual_expiry(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let name = domain_name(&state, &name)?;
    state.store.clear_manual_expiry(&name, state.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
