//! `/api/v1/alerts`, `/api/v1/scans`, `/api/v1/summary`, `/api/v1/me` and
//! `/api/v1/tokens`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::domains::{cursor, domain_name, page_limit, resolve_client};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{path_id, ApiJson, ApiPath, Params, Whole};
use super::openapi::{
    AlertStateName, PageLimit, RoleName, ScanScopeName, ALERT_STATES, SCAN_SCOPES,
};
use super::targets::ClientInput;
use super::{ApiState, Caller};
use crate::domain::access::{Action, Role, Visibility};
use crate::inventory;
use crate::store::read_models::{AlertQuery, AlertView, ClientRef, Page, ScanView, Summary};
use crate::store::{ScanScope, StoreError, TokenView};

/// Who the token belongs to.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    pub token_id: i64,
    /// `admin`, `staff`, `viewer` or `client`.
    pub role: String,
    /// The client a client token is limited to.
    pub client: Option<ClientRef>,
}

/// A scan to start.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScan {
    /// `all`, `client` (needs `client`) or `domain` (needs `domain`).
    #[schema(value_type = ScanScopeName, example = "domain")]
    pub scope: String,
    pub client: Option<ClientInput>,
    /// The registrable domain of a `domain` scan.
    #[schema(example = "example.com")]
    pub domain: Option<String>,
}

/// A token to make.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// A label saying who or what uses it.
    #[schema(example = "grafana", min_length = 1)]
    pub name: String,
    /// `admin`, `staff`, `viewer` or `client`.
    #[schema(value_type = RoleName, example = "viewer")]
    pub role: String,
    /// Required for (and only for) the client role: client id or name.
    pub client: Option<ClientInput>,
}

/// A token just made: the only time its secret is shown.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Send as `Authorization: Bearer <token>`. Not stored; not shown again.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

/// The caller's own token.
#[utoipa::path(get, path = "/api/v1/me", tag = "tokens",
    responses((status = 200, body = Me)))]
pub async fn me(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Me>> {
    caller.require(Action::Read)?;
    let client = match caller.client_id {
        Some(id) => state
            .store
            .visible_client(caller.visibility(), id)
            .await
            .ok()
            .map(|c| ClientRef {
                id: c.id,
                name: c.name,
            }),
        None => None,
    };
    Ok(Json(Me {
        token_id: caller.token_id,
        role: caller.role.as_str().into(),
        client,
    }))
}

/// Alerts, newest first: firing and resolved.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    params(("state" = inline(Option<AlertStateName>), Query, description = "firing or resolved (default: both)"),
           ("client" = Option<String>, Query, description = "Client id or name"),
           ("domain" = Option<String>, Query, description = "Registrable domain (`invalid_parameter` when the name is not one)"),
           ("limit" = inline(Option<PageLimit>), Query),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = Page<AlertView>),
              (status = 422, description = "`client` names no client the token may see (`unknown_client`)", body = ErrorBody)))]
pub async fn list_alerts(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Json<Page<AlertView>>> {
    caller.require(Action::Read)?;
    params.only(&["state", "client", "domain", "limit", "cursor"])?;
    let client_id = match params.text("client") {
        Some(reference) => Some(resolve_client(&state, caller.visibility(), reference).await?),
        None => None,
    };
    let domain = params
        .text("domain")
        .map(|d| domain_name(&state, d).map(|n| n.as_str().to_owned()))
        .transpose()
        .map_err(|e| ApiError::invalid_parameter("domain", e.message))?;
    let query = AlertQuery {
        state: params.choice("state", &ALERT_STATES)?.map(str::to_owned),
        client_id,
        domain,
        limit: page_limit(&params)?,
        cursor: cursor(&params)?,
    };
    Ok(Json(
        state.store.alert_page(caller.visibility(), &query).await?,
    ))
}

/// Start a scan (admin, staff): of everything, one client or one domain.
/// The scan is queued (202) and the scheduler runs it; a scan of the same
/// scope still queued is returned instead (200).
#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", request_body = NewScan,
    responses((status = 202, body = ScanView), (status = 200, body = ScanView),
              (status = 403, body = ErrorBody),
              (status = 422, description = "A `client` scan without a known `client`, a `domain` scan without a watched `domain` (`missing_field`, `unknown_client`, `unknown_domain`), or another scope (`invalid_scope`); `field` names it", body = ErrorBody)))]
pub async fn start_scan(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewScan>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Action::Scan)?;
    let now = state.now();
    let scope = match body.scope.as_str() {
        "all" => ScanScope::All,
        "client" => {
            let reference = body.client.as_ref().ok_or_else(|| {
                ApiError::unprocessable("missing_field", "a client scan needs `client`")
                    .with_field("client")
            })?;
            let client = state
                .store
                .resolve_client(
                    Visibility::All,
                    &match reference {
                        ClientInput::Id(Whole(id)) => id.to_string(),
                        ClientInput::Name(n) => n.clone(),
                    },
                )
                .await?
                .ok_or_else(|| {
                    ApiError::unprocessable("unknown_client", "no such client").with_field("client")
                })?;
            ScanScope::Client {
                client_id: client.id,
            }
        }
        "domain" => {
            let raw = body.domain.as_deref().ok_or_else(|| {
                ApiError::unprocessable("missing_field", "a domain scan needs `domain`")
                    .with_field("domain")
            })?;
            let name = domain_name(&state, raw).map_err(|e| {
                ApiError::unprocessable("unknown_domain", e.message).with_field("domain")
            })?;
            let domain = state
                .store
                .visible_domain(Visibility::All, &state.windows(now), &name)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(message) => {
                        ApiError::unprocessable("unknown_domain", message).with_field("domain")
                    }
                    other => other.into(),
                })?;
            ScanScope::Domain {
                domain_id: domain.id,
            }
        }
        other => {
            return Err(ApiError::unprocessable(
                "invalid_scope",
                format!(
                    "`{other}` is not a scan scope; use {}",
                    SCAN_SCOPES.join(", ")
                ),
            )
            .with_field("scope"))
        }
    };
    let (scan, created) = state.store.request_scan(&scope, now).await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(scan)))
}

/// Scans, newest first, with their progress.
#[utoipa::path(get, path = "/api/v1/scans", tag = "scans",
    params(("limit" = inline(Option<PageLimit>), Query),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = Page<ScanView>)))]
pub async fn list_scans(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Json<Page<ScanView>>> {
    caller.require(Action::Read)?;
    params.only(&["limit", "cursor"])?;
    Ok(Json(
        state
            .store
            .scan_page(
                caller.visibility(),
                page_limit(&params)?,
                cursor(&params)?.as_ref(),
            )
            .await?,
    ))
}

/// One scan's progress.
#[utoipa::path(get, path = "/api/v1/scans/{id}", tag = "scans",
    params(("id" = i64, Path, minimum = 1, description = "Scan id")),
    responses((status = 200, body = ScanView), (status = 404, body = ErrorBody)))]
pub async fn get_scan(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ScanView>> {
    caller.require(Action::Read)?;
    let id = path_id(&id, "id")?;
    Ok(Json(
        state.store.visible_scan(caller.visibility(), id).await?,
    ))
}

/// Counts of domains by status, of endpoints, clients and firing alerts,
/// and the next expiries. Cached for `api.summary_cache_secs`.
#[utoipa::path(get, path = "/api/v1/summary", tag = "summary",
    responses((status = 200, body = Summary),
              (status = 400, description = "A query parameter: this route takes none (`unknown_parameter`)", body = ErrorBody)))]
pub async fn summary(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Json<Summary>> {
    caller.require(Action::Read)?;
    params.only(&[])?;
    Ok(Json(Summary::clone(
        &*state.summary(caller.visibility()).await?,
    )))
}

/// Every API token (admin).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TokenView>>> {
    caller.require(Action::ManageTokens)?;
    Ok(Json(state.store.list_api_tokens().await?))
}

/// Make a token (admin). The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 403, body = ErrorBody),
              (status = 422, description = "Not a role (`invalid_role`), an unknown client (`unknown_client`), a client for a role other than client or none for the client role, or an empty name (`invalid`); `field` names it", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTokenRequest>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Action::ManageTokens)?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_role",
            format!(
                "`{}` is not a role; use admin, staff, viewer or client",
                body.role
            ),
        )
        .with_field("role")
    })?;
    let client = match &body.client {
        Some(reference) => {
            let text = match reference {
                ClientInput::Id(Whole(id)) => id.to_string(),
                ClientInput::Name(n) => n.clone(),
            };
            Some(
                state
                    .store
                    .resolve_client(Visibility::All, &text)
                    .await?
                    .ok_or_else(|| {
                        ApiError::unprocessable("unknown_client", format!("no client `{text}`"))
                            .with_field("client")
                    })?
                    .name,
            )
        }
        None => None,
    };
    let created =
        inventory::tokens::create_token(&state.store, body.name.clone(), role, client, state.now())
            .await
            .map_err(|e| match e {
                StoreError::InvalidTokenClient(m) => {
                    ApiError::unprocessable("invalid", m).with_field("client")
                }
                StoreError::Invalid(m) => ApiError::unprocessable("invalid", m).with_field("name"),
                other => other.into(),
            })?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: created.secret,
            info: created.info,
        }),
    ))
}

/// Revoke a token (admin); it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, minimum = 1, description = "Token id")),
    responses((status = 200, body = TokenView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TokenView>> {
    caller.require(Action::ManageTokens)?;
    let id = path_id(&id, "id")?;
    let revoked = state.store.revoke_api_token(id, state.now()).await;
    // Whatever the outcome, no resolved token outlives the attempt.
    state.tokens.clear();
    Ok(Json(revoked?))
}
