//! What staff decide about a domain rather than what lapse finds out:
//! a registration expiry entered by hand (`/api/v1/domains/{name}/manual-expiry`,
//! as `lapse domains set-expiry`).

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::domains::domain_name;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::{ApiState, Caller, JsonText};
use crate::domain::access::{Action, Visibility};
use crate::store::read_models::DomainDetail;

/// A registration expiry from a person, e.g. from the registrar's invoice.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualExpiryChange {
    /// The expiry date, `YYYY-MM-DD`.
    #[schema(example = "2027-03-31")]
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
    Path(name): Path<String>,
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
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let name = domain_name(&state, &name)?;
    state.store.clear_manual_expiry(&name, state.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
