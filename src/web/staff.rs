//! The staff dashboard's pages: the same read models and use cases as the
//! JSON API, rendered as HTML that works with JavaScript off.
//!
//! Every handler takes [`Staff`](super::session::Staff) (a client's
//! session answers 404), reads through `viewer.visibility()`, and checks
//! `viewer.require(Action::Write)` (or `Scan`) before it changes anything;
//! every form posts through [`CsrfForm`](super::session::CsrfForm), but
//! the multipart import, which checks its `_csrf` part itself. A
//! `Server-Timing: app;dur=<ms>` header on each answer says how long the
//! server took (`benches/web.sh` reads it).
//!
//! - `staff/overview.rs`: `/` (counts, next expiries, open alerts, dates to enter, failed deliveries)
//! - `staff/domains.rs`: `/domains`, `/domains/{name}` (+ the manual expiry and the domain's thresholds)
//! - `staff/adding.rs`: `/domains/add` (pasted lines), `/import` (CSV), one result per line or row
//! - `staff/clients.rs`: `/clients`, `/clients/{id}` (contacts, the client's thresholds), `/thresholds`
//! - `staff/activity.rs`: `/alerts`, `/outbox` (retry), `/scans` (start, progress), `/settings`

mod activity;
mod adding;
mod clients;
mod domains;
mod overview;

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::{WebError, WebState};
use crate::store::StoreError;

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "staff/overview.html",
        include_str!("templates/staff/overview.html"),
    ),
    (
        "staff/macros.html",
        include_str!("templates/staff/macros.html"),
    ),
    (
        "staff/domains.html",
        include_str!("templates/staff/domains.html"),
    ),
    (
        "staff/domain.html",
        include_str!("templates/staff/domain.html"),
    ),
    ("staff/add.html", include_str!("templates/staff/add.html")),
    (
        "staff/import.html",
        include_str!("templates/staff/import.html"),
    ),
    (
        "staff/clients.html",
        include_str!("templates/staff/clients.html"),
    ),
    (
        "staff/client.html",
        include_str!("templates/staff/client.html"),
    ),
    (
        "staff/thresholds.html",
        include_str!("templates/staff/thresholds.html"),
    ),
    (
        "staff/alerts.html",
        include_str!("templates/staff/alerts.html"),
    ),
    (
        "staff/outbox.html",
        include_str!("templates/staff/outbox.html"),
    ),
    (
        "staff/scans.html",
        include_str!("templates/staff/scans.html"),
    ),
    ("staff/scan.html", include_str!("templates/staff/scan.html")),
    (
        "staff/settings.html",
        include_str!("templates/staff/settings.html"),
    ),
];

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/domains", get(domains::list))
        .route("/domains/add", get(adding::add_form).post(adding::add))
        .route("/domains/{name}", get(domains::detail))
        .route(
            "/domains/{name}/manual-expiry",
            post(domains::set_manual_expiry),
        )
        .route(
            "/domains/{name}/manual-expiry/clear",
            post(domains::clear_manual_expiry),
        )
        .route("/domains/{name}/thresholds", post(domains::set_thresholds))
        .route("/import", get(adding::import_form).post(adding::import))
        .route("/clients", get(clients::list).post(clients::create))
        .route("/clients/{id}", get(clients::detail))
        .route("/clients/{id}/contacts", post(clients::add_contact))
        .route(
            "/clients/{id}/contacts/{contact_id}/remove",
            post(clients::remove_contact),
        )
        .route("/clients/{id}/thresholds", post(clients::set_thresholds))
        .route("/thresholds", get(clients::thresholds))
        .route("/alerts", get(activity::alerts))
        .route("/outbox", get(activity::outbox))
        .route("/outbox/{id}/retry", post(activity::retry))
        .route("/scans", get(activity::scans).post(activity::start_scan))
        .route("/scans/{id}", get(activity::scan))
        .route("/settings", get(activity::settings))
        .layer(axum::middleware::from_fn(server_timing))
}

/// Adds `Server-Timing: app;dur=<ms>`: the time from the request reaching
/// the staff routes to the answer being ready (the page read and rendered).
async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// A store result as a page answers it: a row the viewer may not see is
/// 404, input the store refused is shown to the person, the rest is
/// lapse's failure.
trait OrPage<T> {
    fn or_page(self) -> Result<T, WebError>;
}

impl<T> OrPage<T> for Result<T, StoreError> {
    fn or_page(self) -> Result<T, WebError> {
        self.map_err(|e| match e {
            StoreError::NotFound(_) => WebError::NotFound,
            e if e.is_input_error() => WebError::BadRequest(e.to_string()),
            e => WebError::Store(e),
        })
    }
}

/// An empty text field is no value.
fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// The id of the client a query or form names (by id or name, as the API
/// takes it) among those the viewer sees; a 400 page naming it otherwise.
async fn client_id(
    api: &crate::api::ApiState,
    visibility: crate::domain::access::Visibility,
    reference: &str,
) -> Result<i64, WebError> {
    Ok(api
        .store
        .resolve_client(visibility, reference)
        .await
        .or_page()?
        .ok_or_else(|| WebError::BadRequest(format!("no client `{reference}`")))?
        .id)
}

/// An optional client filter: empty is none.
async fn client_filter(
    api: &crate::api::ApiState,
    visibility: crate::domain::access::Visibility,
    reference: Option<&str>,
) -> Result<Option<i64>, WebError> {
    match given(reference) {
        None => Ok(None),
        Some(reference) => client_id(api, visibility, reference).await.map(Some),
    }
}

/// A path that goes back to a page with a note of what was done (a fixed
/// word, not text from the form).
fn back_to(path: &str, done: &str) -> axum::response::Redirect {
    let query = serde_urlencoded::to_string([("done", done)]).unwrap_or_default();
    axum::response::Redirect::to(&format!("{path}?{query}"))
}
