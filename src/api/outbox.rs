//! `/api/v1/outbox`: the delivery queue, as `lapse outbox list` and
//! `lapse outbox retry` show and change it. The queue holds every client's
//! messages (and the staff's), so it is fleet-wide: admin, staff and viewer
//! tokens read it, admin and staff queue a message again; client tokens
//! have no access.

use axum::extract::State;
use axum::Json;

use super::domains::{cursor, page_limit};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{path_id, ApiPath, Params};
use super::openapi::{OutboxStateName, PageLimit};
use super::{ApiState, Caller};
use crate::domain::access::Action;
use crate::store::read_models::Page;
use crate::store::{OutboxItem, OutboxQuery, OutboxState, StoreError};

/// Messages, newest first (admin, staff, viewer): alert emails, webhooks
/// and digests with their delivery state, attempts and last error.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "outbox",
    params(("state" = inline(Option<OutboxStateName>), Query, description = "pending, sending, sent, failed or logged (default: all)"),
           ("limit" = inline(Option<PageLimit>), Query),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = Page<OutboxItem>), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn list_outbox(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Json<Page<OutboxItem>>> {
    caller.require(Action::ReadAll)?;
    params.only(&["state", "limit", "cursor"])?;
    let states: Vec<&str> = OutboxState::ALL.iter().map(|s| s.as_str()).collect();
    let query = OutboxQuery {
        state: params
            .choice("state", &states)?
            .and_then(OutboxState::parse),
        limit: page_limit(&params)?,
        cursor: cursor(&params)?,
    };
    Ok(Json(state.store.outbox_page(&query).await?))
}

/// Queue a message for delivery again now, attempts reset (admin, staff):
/// a failed one, or one logged while no SMTP was configured. The same
/// bytes are sent under the same Message-ID. 409 for a message already
/// sent or being sent.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/retry", tag = "outbox",
    params(("id" = i64, Path, minimum = 1, description = "Message id (`id` in the list)")),
    responses((status = 200, body = OutboxItem), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry_message(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OutboxItem>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let item = state
        .store
        .retry_message(id, state.now())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(message) => ApiError::conflict("not_retryable", message),
            other => other.into(),
        })?;
    Ok(Json(item))
}
