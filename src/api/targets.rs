//! Storing a target from a request body (`POST /api/v1/domains`,
//! `POST /api/v1/endpoints`) through the use case the CLI shares
//! (`inventory::add_target`), and the fleet fields every body spells the
//! same way: `watch`, `tls_mode`, `registration_owner`, `client`. A target
//! another client owns is a 409 whose message names the owner and the
//! request that moves it.

use axum::http::StatusCode;

use super::error::{ApiError, ApiResult};
use super::extract::Whole;
use super::ApiState;
use crate::domain::access::Visibility;
use crate::domain::certificate::TlsMode;
use crate::domain::fleet::{OwnerKind, Watch, TLS_MODE_NAMES};
use crate::domain::names::{parse_target, Target};
use crate::inventory::{self, AddOptions, TargetError};
use crate::store::read_models::{DomainItem, EndpointView};
use crate::store::{AddedTarget, StoreError};

/// A client named by id or by name.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ClientInput {
    Id(Whole),
    Name(String),
}

impl ClientInput {
    pub fn as_reference(&self) -> String {
        match self {
            Self::Id(Whole(id)) => id.to_string(),
            Self::Name(name) => name.clone(),
        }
    }
}

/// What storing a target did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StoredTarget {
    pub domain: DomainItem,
    /// Absent when only the registration is watched.
    pub endpoint: Option<EndpointView>,
    pub domain_created: bool,
    pub endpoint_created: bool,
    /// A client was given something that had none (the endpoint or the registration).
    pub client_assigned: bool,
}

/// A target to store, as a body gives it (fields not yet checked).
pub struct TargetRequest<'a> {
    pub input: &'a str,
    /// The body field holding `input`, for errors.
    pub field: &'static str,
    pub client: Option<&'a ClientInput>,
    pub watch: Option<&'a str>,
    pub tls_mode: Option<&'a str>,
    pub owner: Option<&'a str>,
}

/// Parses, checks and stores a target, answering with what was stored.
pub async fn store_target(
    state: &ApiState,
    request: &TargetRequest<'_>,
) -> ApiResult<(StatusCode, StoredTarget)> {
    let policy = &state.settings.names;
    let target =
        parse_target(request.input, policy).map_err(|e| ApiError::from_name(&e, request.field))?;
    let options = add_options(state, request, &target).await?;
    let now = state.now();
    let added = inventory::add_target(
        &state.store,
        policy,
        state.settings.default_port,
        request.input,
        &options,
        now,
    )
    .await;
    let added = match added {
        Ok(added) => added,
        Err(TargetError::Store(StoreError::Conflict(message))) => {
            return Err(conflict(state, &target, &options, message).await);
        }
        Err(TargetError::Name(name)) => return Err(ApiError::from_name(&name, request.field)),
        Err(other) => return Err(other.into()),
    };
    stored_target(state, &target, added).await
}

/// Checks every option before anything is written, naming the field at fault.
async fn add_options(
    state: &ApiState,
    request: &TargetRequest<'_>,
    target: &Target,
) -> ApiResult<AddOptions> {
    let client = match request.client {
        Some(reference) => Some(known_client(state, reference).await?),
        None => None,
    };
    let watch = request.watch.map(watch_field).transpose()?;
    let owner = request.owner.map(owner_field).transpose()?;
    let port = target.port_or(state.settings.default_port);
    let tls = request
        .tls_mode
        .map(|t| tls_mode_field(t, port))
        .transpose()?;
    if watch == Some(Watch::Registration) {
        if let Some(port) = target.port {
            return Err(ApiError::unprocessable(
                "registration_only_endpoint",
                format!(
                    "`{}:{port}` names an endpoint, and `watch: registration` watches none: send `{}`, or another watch",
                    target.host.to_unicode(),
                    target.registrable.to_unicode()
                ),
            )
            .with_field(request.field));
        }
        if tls.is_some() {
            return Err(ApiError::unprocessable(
                "registration_only_endpoint",
                "`watch: registration` watches no endpoint, so it takes no TLS mode",
            )
            .with_field("tls_mode"));
        }
    }
    owner_needs_client(owner, client.is_some())?;
    Ok(AddOptions {
        client,
        watch,
        tls,
        owner,
    })
}

/// A registration owned by a client needs that client.
pub fn owner_needs_client(owner: Option<OwnerKind>, has_client: bool) -> ApiResult<()> {
    if owner == Some(OwnerKind::Client) && !has_client {
        return Err(ApiError::unprocessable(
            "missing_field",
            "`registration_owner: client` needs `client` (the client's id or name)",
        )
        .with_field("client"));
    }
    Ok(())
}

/// The 409 for a target another client owns: the registration when the
/// request asked for it and another client holds it, else the endpoint.
async fn conflict(
    state: &ApiState,
    target: &Target,
    options: &AddOptions,
    message: String,
) -> ApiError {
    let asked_for_registration = options.owner.is_some()
        || (options.watch == Some(Watch::Registration) && options.client.is_some());
    let holder = match state
        .store
        .visible_domain(
            Visibility::All,
            &state.windows(state.now()),
            &target.registrable,
        )
        .await
    {
        Ok(domain) => domain.client.map(|c| c.name),
        Err(error) => return error.into(),
    };
    let domain = target.registrable.to_unicode();
    match holder {
        Some(holder) if asked_for_registration && options.client.as_ref() != Some(&holder) => {
            let owner = options.owner.unwrap_or(OwnerKind::Client);
            let body = match (owner, &options.client) {
                (OwnerKind::Client, Some(client)) => {
                    format!("{{\"registration_owner\": \"client\", \"client\": \"{client}\"}}")
                }
                _ => format!("{{\"registration_owner\": \"{owner}\"}}"),
            };
            ApiError::conflict(
                "registration_owned_by_another_client",
                format!(
                    "the registration of `{domain}` belongs to client `{holder}`; to move it, PATCH /api/v1/domains/{domain} with {body}"
                ),
            )
            .with_field(if options.owner.is_some() {
                "registration_owner"
            } else {
                "client"
            })
        }
        _ => {
            let port = target.port_or(state.settings.default_port);
            let hint = match (
                state.store.endpoint_id(&target.host, port).await,
                &options.client,
            ) {
                (Ok(id), Some(client)) => format!(
                    " (or move it: PATCH /api/v1/endpoints/{id} with {{\"client\": \"{client}\"}})"
                ),
                _ => String::new(),
            };
            ApiError::conflict(
                "endpoint_owned_by_another_client",
                format!("{message}{hint}"),
            )
            .with_field("client")
        }
    }
}

/// The domain and endpoint as stored, read back for the answer.
async fn stored_target(
    state: &ApiState,
    target: &Target,
    added: AddedTarget,
) -> ApiResult<(StatusCode, StoredTarget)> {
    let domain = state
        .store
        .visible_domain(
            Visibility::All,
            &state.windows(state.now()),
            &target.registrable,
        )
        .await?;
    let endpoint = match added.port {
        Some(port) => {
            let id = state.store.endpoint_id(&target.host, port).await?;
            Some(state.store.visible_endpoint(Visibility::All, id).await?)
        }
        None => None,
    };
    let status = if added.changed() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        StoredTarget {
            domain,
            endpoint,
            domain_created: added.domain_created,
            endpoint_created: added.endpoint_created,
            client_assigned: added.client_assigned,
        },
    ))
}

/// A client named in a body, by id or name; its stored name.
pub async fn known_client(state: &ApiState, reference: &ClientInput) -> ApiResult<String> {
    let reference = reference.as_reference();
    Ok(state
        .store
        .resolve_client(Visibility::All, &reference)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_client",
                format!("no client `{reference}`; create it first (POST /api/v1/clients)"),
            )
            .with_field("client")
        })?
        .name)
}

/// `watch`: `registration`, `tls` or `both`.
pub fn watch_field(text: &str) -> ApiResult<Watch> {
    Watch::parse(text).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_watch",
            format!("`{text}` is not a watch mode; use registration, tls or both"),
        )
        .with_field("watch")
    })
}

/// `registration_owner`: `client`, `agency` or `none`.
pub fn owner_field(text: &str) -> ApiResult<OwnerKind> {
    OwnerKind::parse(text).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_owner",
            format!("`{text}` is not a registration owner; use client, agency or none"),
        )
        .with_field("registration_owner")
    })
}

/// `tls_mode`: the surface names, or the older `auto|smtp|imap|pop3`
/// (`auto`: what `port` implies).
pub fn tls_mode_field(text: &str, port: u16) -> ApiResult<TlsMode> {
    TlsMode::parse_name(text, port).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_tls_mode",
            format!("`{text}` is not a TLS mode; use one of {TLS_MODE_NAMES}"),
        )
        .with_field("tls_mode")
    })
}
