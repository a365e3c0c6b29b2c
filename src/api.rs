//! The HTTP surface: an axum router. Today `GET /healthz`; the JSON API under
//! `/api/v1` grows here. Handlers translate between HTTP and use cases; they
//! hold no SQL and no business rules.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::store::Store;

/// Shared state of every handler.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Alive and the database answers: 200; otherwise 503 with the reason kept
/// in the log, not in the response.
async fn healthz(State(state): State<ApiState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check failed: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}
