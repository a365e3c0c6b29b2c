//! The one error type of the HTTP API. Every refusal is JSON
//! `{"error": {"code", "message", "field"}}` with a stable `code`; lapse's
//! own failures are logged once, here, and answered with a generic message
//! so that internals (SQL, paths) never reach a caller.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::domain::names::NameError;
use crate::inventory::TargetError;
use crate::store::StoreError;

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    retry_after_secs: Option<u64>,
}

/// The JSON body of every error.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_parameter`, `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `body_too_large`,
    /// `rate_limited`, a name error code such as `public_suffix`, ...
    #[schema(example = "public_suffix")]
    pub code: String,
    /// What was wrong, in words a person can act on.
    pub message: String,
    /// The parameter or body field at fault, when there is one.
    #[schema(example = "name")]
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: a malformed request (bad query parameter, unparseable JSON).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 about one query or path parameter.
    pub fn invalid_parameter(field: &str, message: impl Into<String>) -> Self {
        Self::bad_request("invalid_parameter", message).with_field(field)
    }

    /// 401: no token, or not a live one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the token's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request contradicts what is stored.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 413.
    pub fn body_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit_bytes} bytes (api.max_body_bytes); send fewer rows per request"),
        )
    }

    /// 415.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 422: well-formed, but the content is refused.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests with this token; retry in {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// 500: lapse failed. The cause is logged here, once, and not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "lapse could not complete the request; the cause is in its log",
        )
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A name the parser refused, as 422 with the parser's code.
    pub fn from_name(error: &NameError, field: &str) -> Self {
        Self::unprocessable(error.code(), error.to_string()).with_field(field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchClient(name) => Self::unprocessable(
                "unknown_client",
                format!("no client named `{name}`; create it first (POST /api/v1/clients)"),
            )
            .with_field("client"),
            StoreError::Conflict(message) => Self::conflict("conflict", message),
            StoreError::NotFound(message) => Self::not_found(message),
            StoreError::Invalid(message) => Self::unprocessable("invalid", message),
            other if other.is_unavailable() => {
                tracing::error!(error = %other, "request failed: the database is unreachable");
                Self::unavailable(
                    "the database is unreachable, so the request was not completed; \
                     try again shortly",
                )
            }
            other => Self::internal(&other),
        }
    }
}

impl From<TargetError> for ApiError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Name(name) => Self::from_name(&name, "name"),
            TargetError::Store(store) => store.into(),
            TargetError::Row(message) => Self::unprocessable("invalid", message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lapse\""),
            );
        }
        response
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
