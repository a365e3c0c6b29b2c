//! `/api/v1/clients`: clients and their contacts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{path_id, ApiJson, ApiPath, Params};
use super::openapi::EmailAddress;
use super::{ApiState, Caller};
use crate::domain::access::Action;
use crate::domain::names::parse_email;
use crate::store::read_models::{ClientView, ContactView};

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
