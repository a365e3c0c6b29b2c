//! `/api/v1/clients`: clients and their contacts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{path_id, ApiJson, ApiPath, Params, Whole};
use super::openapi::{DeliveryModeName, EmailAddress, TimeZoneName, WeekdayName};
use super::{ApiState, Caller};
use crate::domain::access::Action;
use crate::domain::names::parse_email;
use crate::store::read_models::{ClientView, ContactView};
use crate::store::{ClientDelivery, DeliveryChange, DeliveryMode, StoreError, WEEKDAYS};

/// A new client.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    #[schema(example = "Acme Ltd", min_length = 1)]
    pub name: String,
    /// Addresses that receive the client's alerts.
    #[serde(default)]
    #[schema(value_type = Vec<EmailAddress>, example = json!(["ops@acme.example"]))]
    pub contacts: Vec<String>,
}

/// A change to a client.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientChange {
    #[schema(example = "Acme Ltd", min_length = 1)]
    pub name: String,
}

/// A new contact.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    #[schema(value_type = EmailAddress, example = "cto@acme.example")]
    pub email: String,
}

/// List clients (a client token sees only its own).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients",
    responses((status = 200, body = Vec<ClientView>),
              (status = 400, description = "A query parameter: this route takes none (`unknown_parameter`)", body = ErrorBody)))]
pub async fn list_clients(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Json<Vec<ClientView>>> {
    caller.require(Action::Read)?;
    params.only(&[])?;
    Ok(Json(
        state.store.visible_clients(caller.visibility()).await?,
    ))
}

/// Create a client (admin, staff). 409 when the name is taken.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = NewClient,
    responses((status = 201, body = ClientView), (status = 403, body = ErrorBody),
              (status = 409, description = "A client with this name exists (`client_exists`)", body = ErrorBody),
              (status = 422, description = "The name is empty or holds characters lapse refuses (`invalid`), or a contact is not an address (`invalid_email`); `field` names it", body = ErrorBody)))]
pub async fn create_client(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewClient>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Action::Write)?;
    let contacts = parse_contacts(&body.contacts)?;
    if state
        .store
        .resolve_client(caller.visibility(), &body.name)
        .await?
        .is_some_and(|c| c.name.eq_ignore_ascii_case(body.name.trim()))
    {
        return Err(ApiError::conflict(
            "client_exists",
            format!("a client named `{}` already exists", body.name.trim()),
        )
        .with_field("name"));
    }
    let added = state
        .store
        .add_client(&body.name, &contacts, state.now())
        .await
        .map_err(|e| ApiError::from(e).with_field("name"))?;
    let client = state
        .store
        .resolve_client(caller.visibility(), &added.name)
        .await?
        .ok_or_else(|| ApiError::internal(&"a client just added is missing"))?;
    let view = state
        .store
        .visible_client(caller.visibility(), client.id)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One client with its contacts.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)))]
pub async fn get_client(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ClientView>> {
    caller.require(Action::Read)?;
    let id = path_id(&id, "id")?;
    Ok(Json(
        state.store.visible_client(caller.visibility(), id).await?,
    ))
}

/// Rename a client (admin, staff).
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients", request_body = ClientChange,
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = ClientView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "Another client has this name", body = ErrorBody),
              (status = 422, description = "The name is empty or holds characters lapse refuses (`invalid`)", body = ErrorBody)))]
pub async fn update_client(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ClientChange>,
) -> ApiResult<Json<ClientView>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let view = state
        .store
        .rename_client(id, &body.name)
        .await
        .map_err(|e| ApiError::from(e).with_field("name"))?;
    Ok(Json(view))
}

/// Delete a client and its contacts (admin, staff). A client that owns
/// domains (a registration or an endpoint under one) is kept (409) unless
/// `release_domains=true`, which keeps them watched, owned by the agency.
#[utoipa::path(delete, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = i64, Path, minimum = 1, description = "Client id"),
           ("release_domains" = Option<bool>, Query, description = "Keep the client's registrations and endpoints, owned by the agency")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn delete_client(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let release = params.only(&["release_domains"])?.flag("release_domains")?;
    let id = path_id(&id, "id")?;
    let client = state.store.visible_client(caller.visibility(), id).await?;
    state
        .store
        .remove_client(&client.name, release)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => ApiError::conflict(
                "client_owns_domains",
                format!(
                    "client `{}` still owns {} domain(s) (registrations or endpoints); delete them first, or pass release_domains=true to keep watching them, owned by the agency",
                    client.name, client.domains
                ),
            ),
            other => other.into(),
        })?;
    // The client's tokens went with it (cascade): forget them at once.
    state.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// A client's contacts.
#[utoipa::path(get, path = "/api/v1/clients/{id}/contacts", tag = "clients",
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = Vec<ContactView>), (status = 404, body = ErrorBody)))]
pub async fn list_contacts(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<ContactView>>> {
    caller.require(Action::Read)?;
    let id = path_id(&id, "id")?;
    Ok(Json(
        state
            .store
            .visible_client(caller.visibility(), id)
            .await?
            .contacts,
    ))
}

/// Add a contact (admin, staff); 201 when new, 200 when it was there.
#[utoipa::path(post, path = "/api/v1/clients/{id}/contacts", tag = "clients", request_body = NewContact,
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 201, body = ContactView), (status = 200, body = ContactView),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "Not an email address lapse accepts (`invalid_email`)", body = ErrorBody)))]
pub async fn add_contact(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewContact>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let email = parse_email(&body.email)
        .map_err(|e| ApiError::unprocessable("invalid_email", e.to_string()).with_field("email"))?;
    let (contact, created) = state.store.add_contact(id, &email, state.now()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(contact)))
}

/// Remove a contact (admin, staff).
#[utoipa::path(delete, path = "/api/v1/clients/{id}/contacts/{contact_id}", tag = "clients",
    params(("id" = i64, Path, minimum = 1, description = "Client id"),
           ("contact_id" = i64, Path, minimum = 1, description = "Contact id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_contact(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((id, contact_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let contact_id = path_id(&contact_id, "contact_id")?;
    state.store.remove_contact(id, contact_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_contacts(contacts: &[String]) -> ApiResult<Vec<String>> {
    contacts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            parse_email(c).map_err(|e| {
                ApiError::unprocessable("invalid_email", e.to_string())
                    .with_field(format!("contacts[{i}]"))
            })
        })
        .collect()
}

/// A change to how a client hears of its alerts. Absent fields stay as
/// they are; at least one is needed.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPatch {
    /// `immediate`, `daily` or `weekly`.
    #[serde(default)]
    #[schema(value_type = DeliveryModeName, example = "weekly")]
    pub delivery: Option<String>,
    /// The hour digests go out, in the client's time zone.
    #[serde(default)]
    #[schema(value_type = i64, minimum = 0, maximum = 23, example = 9)]
    pub digest_hour: Option<Whole>,
    /// The day weekly digests go out.
    #[serde(default)]
    #[schema(value_type = WeekdayName, example = "mon")]
    pub digest_weekday: Option<String>,
    /// The client's IANA time zone; `default` goes back to `schedule.timezone`.
    #[serde(default)]
    #[schema(value_type = TimeZoneName, example = "Europe/Berlin")]
    pub timezone: Option<String>,
}

/// How a client hears of its alerts: at once, or a daily or weekly digest.
#[utoipa::path(get, path = "/api/v1/clients/{id}/delivery", tag = "clients",
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = ClientDelivery), (status = 404, body = ErrorBody)))]
pub async fn get_client_delivery(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ClientDelivery>> {
    caller.require(Action::Read)?;
    let id = path_id(&id, "id")?;
    let client = state.store.visible_client(caller.visibility(), id).await?;
    match state.store.client_delivery(&client.name).await {
        // Renamed since its name was read: read it again, once.
        Err(StoreError::NoSuchClient(_)) => {
            let client = state.store.visible_client(caller.visibility(), id).await?;
            Ok(Json(state.store.client_delivery(&client.name).await?))
        }
        other => Ok(Json(other?)),
    }
}

/// Change how a client hears of its alerts (admin, staff). Expired, a
/// registration problem and one day or less left are always sent at once.
#[utoipa::path(patch, path = "/api/v1/clients/{id}/delivery", tag = "clients",
    request_body = DeliveryPatch,
    params(("id" = i64, Path, minimum = 1, description = "Client id")),
    responses((status = 200, body = ClientDelivery), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "No field given, or a field is not valid (`field` names it)", body = ErrorBody)))]
pub async fn update_client_delivery(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DeliveryPatch>,
) -> ApiResult<Json<ClientDelivery>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let change = delivery_change(body)?;
    let client = state.store.visible_client(caller.visibility(), id).await?;
    match state.store.set_client_delivery(&client.name, &change).await {
        // Renamed since its name was read (the change is the same when
        // made again): read the name again, once.
        Err(StoreError::NoSuchClient(_)) => {
            let client = state.store.visible_client(caller.visibility(), id).await?;
            Ok(Json(
                state
                    .store
                    .set_client_delivery(&client.name, &change)
                    .await?,
            ))
        }
        other => Ok(Json(other?)),
    }
}

fn delivery_change(body: DeliveryPatch) -> ApiResult<DeliveryChange> {
    let invalid = |field: &str, message: String| {
        ApiError::unprocessable("invalid", message).with_field(field.to_owned())
    };
    if body.delivery.is_none()
        && body.digest_hour.is_none()
        && body.digest_weekday.is_none()
        && body.timezone.is_none()
    {
        return Err(ApiError::unprocessable(
            "invalid",
            "give at least one of delivery, digest_hour, digest_weekday, timezone",
        ));
    }
    let delivery = match body.delivery.as_deref() {
        None => None,
        Some(text) => Some(
            DeliveryMode::parse(text)
                .filter(|_| text == text.trim())
                .ok_or_else(|| {
                    invalid(
                        "delivery",
                        format!("one of {}", DeliveryMode::NAMES.join(", ")),
                    )
                })?,
        ),
    };
    let digest_hour = match body.digest_hour {
        None => None,
        Some(Whole(hour)) => Some(
            u8::try_from(hour)
                .ok()
                .filter(|h| *h <= 23)
                .ok_or_else(|| invalid("digest_hour", "an hour from 0 to 23".into()))?,
        ),
    };
    if let Some(day) = &body.digest_weekday {
        if !WEEKDAYS.contains(&day.as_str()) {
            return Err(invalid(
                "digest_weekday",
                format!("one of {}", WEEKDAYS.join(", ")),
            ));
        }
    }
    let timezone = match body.timezone.as_deref() {
        None => None,
        Some("default") => Some(None),
        Some(zone) => Some(Some(
            zone.parse::<chrono_tz::Tz>()
                .map(|tz| tz.name().to_owned())
                .map_err(|_| {
                    invalid(
                        "timezone",
                        "an IANA time zone like Europe/Berlin, or `default`".into(),
                    )
                })?,
        )),
    };
    Ok(DeliveryChange {
        timezone,
        delivery,
        digest_hour,
        digest_weekday: body.digest_weekday,
    })
}
