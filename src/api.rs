//! The HTTP surface: an axum router serving the JSON API under `/api/v1`,
//! its OpenAPI document and docs page, health checks and metrics. Handlers
//! translate between HTTP and use cases; they hold no SQL and no business
//! rules.
//!
//! - `api/auth.rs`: bearer tokens -> [`Caller`] (role, visibility), per-token rate limit
//! - `api/error.rs`: [`ApiError`], the one error type and its JSON body
//! - `api/extract.rs`: JSON bodies and query parameters refused in that format
//! - `api/clients.rs`, `api/domains.rs`, `api/activity.rs`: the resources
//! - `api/thresholds.rs`: threshold overrides per client and per domain
//! - `api/channels.rs`: the configured channels and their routes (attach, detach)
//! - `api/targets.rs`: storing a target from a body, the fleet fields, 409s that say how to move
//! - `api/domain_settings.rs`: what staff decide about a domain (watch, registration owner, a manual expiry)
//! - `api/outbox.rs`: the delivery queue (list, retry)
//! - `api/alert_handling.rs`: acknowledge and snooze alerts, maintenance windows, runbooks and repeat days
//! - `api/calendar.rs`: the iCalendar feed; `api/metrics.rs`: Prometheus text
//! - `api/openapi.rs`: the OpenAPI document: the statuses every operation of a kind answers, the named value lists
//! - `api/docs/`: the offline docs page (HTML, JS, CSS compiled in)
//!
//! Who needs a token: `/healthz`, `/readyz`, `/api/v1/openapi.json` and
//! `/api/v1/docs` are public (they reveal nothing about the fleet);
//! `/metrics` needs an admin, staff or viewer token unless
//! `api.metrics_require_token = false`; everything else under `/api/v1`
//! needs a token, `calendar.ics` also as `?token=`.

mod activity;
mod alert_handling;
pub mod auth;
pub mod calendar;
mod channels;
mod clients;
mod domain_settings;
mod domains;
pub mod error;
mod extract;
pub mod metrics;
mod openapi;
mod outbox;
mod targets;
mod thresholds;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::Caller;
pub use error::{ApiError, ApiResult};

use crate::config::{ApiConfig, Config};
use crate::domain::access::Visibility;
use crate::domain::names::NamePolicy;
use crate::domain::status::StatusWindows;
use crate::store::read_models::{Summary, Totals};
use crate::store::SCHEDULER;
use crate::store::{InstanceView, Store};

/// What handlers need from the configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub api: ApiConfig,
    pub names: NamePolicy,
    pub default_port: u16,
    /// Where a registration starts to count as expiring (largest threshold).
    pub registration_window_days: u32,
    /// Where a certificate starts to count as expiring (largest threshold).
    pub certificate_window_days: u32,
    /// `[alerts]`: the thresholds where no client or domain overrides them.
    pub certificate_days: Vec<u32>,
    pub registration_days: Vec<u32>,
    /// `targets.allow_ranges`: reserved ranges a pinned address may be in.
    pub allow_ranges: Vec<ipnet::IpNet>,
    /// The configured channels: (name, kind, set by `[webhooks]`).
    pub channels: Vec<(String, &'static str, bool)>,
}

impl ApiSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            api: config.api.clone(),
            names: config.names.policy(),
            default_port: config.endpoints.default_port,
            registration_window_days: config
                .alerts
                .registration_days
                .first()
                .copied()
                .unwrap_or(0),
            certificate_window_days: config.alerts.certificate_warning_days(),
            certificate_days: config.alerts.certificate_days.clone(),
            registration_days: config.alerts.registration_days.clone(),
            allow_ranges: config.targets.allow_ranges.clone(),
            channels: config
                .all_channels()
                .iter()
                .map(|c| (c.name.clone(), c.target.kind(), c.from_webhooks))
                .collect(),
        }
    }
}

/// Computed summaries per visibility: when and what, and whether a refresh
/// is under way.
#[derive(Default)]
struct SummaryCache {
    entries: std::sync::Mutex<HashMap<Visibility, SummaryEntry>>,
    /// Serialises first computations, so a burst of requests on a cold
    /// cache counts the domains once.
    first: tokio::sync::Mutex<()>,
}

struct SummaryEntry {
    computed: Instant,
    summary: Arc<Summary>,
    refreshing: bool,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub settings: Arc<ApiSettings>,
    pub limiter: auth::TokenRateLimiter,
    /// Resolved tokens, kept briefly (see [`auth::TokenCache`]).
    pub tokens: Arc<auth::TokenCache>,
    /// List totals per filter and generation of the domains (exact).
    pub totals: Arc<Totals>,
    summaries: Arc<SummaryCache>,
    clock: fn() -> DateTime<Utc>,
}

impl ApiState {
    pub fn new(store: Store, config: &Config) -> Self {
        let settings = ApiSettings::from_config(config);
        Self {
            store,
            limiter: auth::TokenRateLimiter::new(&settings.api),
            tokens: Arc::default(),
            totals: Arc::default(),
            settings: Arc::new(settings),
            summaries: Arc::default(),
            clock: Utc::now,
        }
    }

    /// The clock, read once per request.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Where "expiring" starts, from the alert thresholds.
    pub fn windows(&self, now: DateTime<Utc>) -> StatusWindows {
        StatusWindows::new(
            now,
            self.settings.registration_window_days,
            self.settings.certificate_window_days,
        )
    }

    /// The summary for a visibility, reused for `api.summary_cache_secs`.
    /// Once computed, a stale summary is answered at once while one
    /// background task recomputes it (stale-while-revalidate), so no
    /// request waits for the count of every domain after the first.
    pub async fn summary(&self, visibility: Visibility) -> Result<Arc<Summary>, ApiError> {
        let ttl = self.settings.api.summary_cache;
        if ttl.is_zero() {
            let windows = self.windows(self.now());
            return Ok(Arc::new(self.store.summary(visibility, &windows).await?));
        }
        if let Some(summary) = self.cached_summary(visibility, ttl) {
            return Ok(summary);
        }
        let _first = self.summaries.first.lock().await;
        if let Some(summary) = self.cached_summary(visibility, ttl) {
            return Ok(summary);
        }
        let windows = self.windows(self.now());
        let summary = Arc::new(self.store.summary(visibility, &windows).await?);
        self.store_summary(visibility, summary.clone());
        Ok(summary)
    }

    /// A cached summary, fresh or stale; a stale one starts a refresh.
    fn cached_summary(
        &self,
        visibility: Visibility,
        ttl: std::time::Duration,
    ) -> Option<Arc<Summary>> {
        let mut entries = self
            .summaries
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get_mut(&visibility)?;
        if entry.computed.elapsed() >= ttl && !entry.refreshing {
            entry.refreshing = true;
            let state = self.clone();
            tokio::spawn(async move {
                let windows = state.windows(state.now());
                match state.store.summary(visibility, &windows).await {
                    Ok(summary) => state.store_summary(visibility, Arc::new(summary)),
                    Err(error) => {
                        tracing::warn!(%error, "cannot refresh the summary; serving the last one");
                        if let Some(entry) = state
                            .summaries
                            .entries
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get_mut(&visibility)
                        {
                            entry.refreshing = false;
                        }
                    }
                }
            });
        }
        Some(entry.summary.clone())
    }

    fn store_summary(&self, visibility: Visibility, summary: Arc<Summary>) {
        self.summaries
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                visibility,
                SummaryEntry {
                    computed: Instant::now(),
                    summary,
                    refreshing: false,
                },
            );
    }
}

/// Every documented route, with its handler.
fn documented_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(activity::me))
        .routes(routes!(clients::list_clients, clients::create_client))
        .routes(routes!(
            clients::get_client,
            clients::update_client,
            clients::delete_client
        ))
        .routes(routes!(
            clients::get_client_delivery,
            clients::update_client_delivery
        ))
        .routes(routes!(clients::list_contacts, clients::add_contact))
        .routes(routes!(clients::delete_contact))
        .routes(routes!(domains::list_domains, domains::create_domain))
        .routes(routes!(
            domains::get_domain,
            domain_settings::update_domain,
            domains::delete_domain
        ))
        .routes(routes!(domains::list_domain_endpoints))
        .routes(routes!(domains::domain_observations))
        .routes(routes!(domains::create_endpoint))
        .routes(routes!(
            domains::get_endpoint,
            domains::update_endpoint,
            domains::delete_endpoint
        ))
        .routes(routes!(domains::endpoint_observations))
        .routes(routes!(domains::import))
        .routes(routes!(
            thresholds::get_client_thresholds,
            thresholds::set_client_thresholds,
            thresholds::clear_client_thresholds
        ))
        .routes(routes!(
            thresholds::get_domain_thresholds,
            thresholds::set_domain_thresholds,
            thresholds::clear_domain_thresholds
        ))
        .routes(routes!(
            domain_settings::set_manual_expiry,
            domain_settings::clear_manual_expiry
        ))
        .routes(routes!(channels::list_channels))
        .routes(routes!(
            channels::attach_to_staff,
            channels::detach_from_staff
        ))
        .routes(routes!(
            channels::attach_to_client,
            channels::detach_from_client
        ))
        .routes(routes!(outbox::list_outbox))
        .routes(routes!(outbox::retry_message))
        .routes(routes!(activity::list_alerts))
        .routes(routes!(alert_handling::acknowledge))
        .routes(routes!(alert_handling::snooze, alert_handling::unsnooze))
        .routes(routes!(
            alert_handling::list_mutes,
            alert_handling::add_mute
        ))
        .routes(routes!(alert_handling::lift_mute))
        .routes(routes!(
            alert_handling::get_domain_runbook,
            alert_handling::set_domain_runbook
        ))
        .routes(routes!(
            alert_handling::get_client_runbook,
            alert_handling::set_client_runbook
        ))
        .routes(routes!(activity::start_scan, activity::list_scans))
        .routes(routes!(activity::get_scan))
        .routes(routes!(activity::summary))
        .routes(routes!(activity::list_tokens, activity::create_token))
        .routes(routes!(activity::revoke_token))
        .routes(routes!(calendar::calendar))
        .routes(routes!(metrics::metrics))
}

/// The OpenAPI 3 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(documented_routes().into_openapi())
}

/// The whole HTTP surface with its layers.
pub fn router(state: ApiState) -> Router {
    let (api, doc) = documented_routes().split_for_parts();
    let doc_json: Arc<str> = openapi::finish(doc)
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
        .into();
    let config = state.settings.api.clone();
    let mut router = api
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc_json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.to_string(),
                    )
                }
            }),
        )
        .route("/api/v1/docs", get(docs_page))
        .route("/api/v1/docs/docs.js", get(docs_js))
        .route("/api/v1/docs/docs.css", get(docs_css))
        .fallback(|| async {
            ApiError::not_found("no such route; the API is described at /api/v1/docs")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::bad_request_with_status(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see /api/v1/docs",
            )
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            config.max_body_bytes,
            refuse_large_bodies,
        ));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([HeaderName::from_static("retry-after")])
                .max_age(std::time::Duration::from_secs(600)),
        );
    }
    router
}

/// A JSON body rendered elsewhere (by SQLite), sent as it is.
pub struct JsonText(pub String);

impl IntoResponse for JsonText {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

impl ApiError {
    fn bad_request_with_status(status: StatusCode, code: &'static str, message: &str) -> Self {
        let mut e = Self::bad_request(code, message);
        e.status = status;
        e
    }
}

/// 413 before reading a body whose declared length is over the limit.
async fn refuse_large_bodies(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return ApiError::body_too_large(limit).into_response();
    }
    next.run(request).await
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
#[expect(
    dead_code,
    reason = "documents the route served by the closure in `router`"
)]
async fn openapi_json() {}

/// The human-readable docs page: renders the OpenAPI document, offline.
async fn docs_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        ],
        include_str!("api/docs/index.html"),
    )
        .into_response()
}

async fn docs_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("api/docs/docs.js"),
    )
        .into_response()
}

async fn docs_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("api/docs/docs.css"),
    )
        .into_response()
}

/// `GET /healthz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    pub database: &'static str,
}

/// How recent an instance's beat must be to be listed (`/readyz`,
/// `/metrics`) when `api.scheduler_heartbeat_max_age_secs` is 0.
pub const LIVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// How recent an instance's beat must be to be listed: the readiness age
/// (`api.scheduler_heartbeat_max_age_secs`), else [`LIVE_WITHIN`].
fn live_within(state: &ApiState) -> chrono::TimeDelta {
    let age = state
        .settings
        .api
        .scheduler_heartbeat_max_age
        .unwrap_or(LIVE_WITHIN);
    chrono::TimeDelta::from_std(age).unwrap_or(chrono::TimeDelta::seconds(120))
}

/// `GET /readyz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    pub database: &'static str,
    pub scheduler: SchedulerReadiness,
    /// The instances of `lapse serve` on this database that beat lately,
    /// with the work each holds (empty when the database is unreachable).
    pub instances: Vec<InstanceView>,
}

/// The scheduler's part of `GET /readyz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SchedulerReadiness {
    /// `ok`, `stale`, `missing` (no heartbeat yet), `unknown` (not
    /// readable) or `not_required` (`api.scheduler_heartbeat_max_age_secs = 0`).
    #[schema(example = "ok")]
    pub state: &'static str,
    /// The last heartbeat.
    pub last_beat_at: Option<String>,
    /// Its age in seconds.
    pub age_secs: Option<i64>,
}

/// Alive and the database answers: 200; otherwise 503 with the reason kept
/// in the log, not in the response.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, body = Health, description = "Alive; the database answers"),
              (status = 503, body = Health, description = "The database does not answer")))]
async fn healthz(State(state): State<ApiState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: "ok",
            }),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check failed: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    database: "unreachable",
                }),
            )
                .into_response()
        }
    }
}

/// Ready to serve: the database answers and the scheduler's heartbeat is
/// fresher than `api.scheduler_heartbeat_max_age_secs` (unless that is 0).
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, body = Readiness, description = "Ready"),
              (status = 503, body = Readiness, description = "Not ready; the body says which check failed")))]
async fn readyz(State(state): State<ApiState>) -> Response {
    let database = match state.store.ping().await {
        Ok(()) => "ok",
        Err(error) => {
            tracing::error!(%error, "readiness: database unreachable");
            "unreachable"
        }
    };
    let now = state.now();
    let (scheduler, last_beat_at, age_secs) = match state.settings.api.scheduler_heartbeat_max_age {
        None => ("not_required", None, None),
        Some(max_age) if database == "ok" => match state.store.heartbeat(SCHEDULER).await {
            Ok(Some(beat)) => {
                let age = crate::store::parse_time(&beat.beat_at).map(|t| (now - t).num_seconds());
                let fresh = age.is_some_and(|a| a <= max_age.as_secs() as i64);
                (if fresh { "ok" } else { "stale" }, Some(beat.beat_at), age)
            }
            Ok(None) => ("missing", None, None),
            Err(error) => {
                tracing::error!(%error, "readiness: cannot read the scheduler heartbeat");
                ("unknown", None, None)
            }
        },
        Some(_) => ("unknown", None, None),
    };
    let instances = if database == "ok" {
        state
            .store
            .live_instances(now - live_within(&state), now)
            .await
            .unwrap_or_else(|error| {
                tracing::error!(%error, "readiness: cannot read the instances");
                Vec::new()
            })
    } else {
        Vec::new()
    };
    let ready = database == "ok" && matches!(scheduler, "ok" | "not_required");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database,
        scheduler: SchedulerReadiness {
            state: scheduler,
            last_beat_at,
            age_secs,
        },
        instances,
    };
    (status, Json(body)).into_response()
}
