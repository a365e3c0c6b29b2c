//! `/api/v1/domains`, `/api/v1/endpoints`, observation history and bulk
//! import. Names go through the one parser (`domain::names`), as in the CLI.

use axum::extract::State;
use axum::http::{header::CONTENT_TYPE, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::Duration;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{
    body_bytes, has_escaped_nul, is_json, parse_json, path_id, present, ApiJson, ApiPath, Params,
};
use super::openapi::{
    Days, DomainSortName, DomainStatusName, PageLimit, RegistrationOwnerName, TlsModeName,
    WatchName, DEFAULT_LIMIT, DOMAIN_SORTS, MAX_DAYS, MAX_LIMIT,
};
use super::targets::{
    known_client, store_target, tls_mode_field, ClientInput, StoredTarget, TargetRequest,
};
use super::{ApiState, Caller, JsonText};
use crate::domain::access::{Action, Visibility};
use crate::domain::address::refusal;
use crate::domain::names::{parse_target, HostName};
use crate::domain::status::DomainStatus;
use crate::inventory::{self, ImportItem, ImportRowResult};
use crate::store::read_models::{
    Cursor, DomainDetail, DomainItem, DomainQuery, DomainSort, EndpointChange, EndpointView,
    HistoryOf, ObservationView, Page,
};

/// What to watch: anything the CLI accepts, with the same options.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// `example.com`, `https://Shop.Example.co.uk:8443/x`, `bücher.de`:
    /// the endpoint (443 unless a port is given) and its registrable domain
    /// are stored; with `watch: registration`, the registration alone.
    #[schema(example = "https://shop.example.co.uk:8443/", min_length = 1)]
    pub name: String,
    /// The endpoint's client, by id or name; it also owns the registration
    /// when the domain is new (unless `registration_owner` says otherwise)
    /// or when the name is the registrable domain and the agency owned it.
    #[schema(example = "Acme Ltd")]
    pub client: Option<ClientInput>,
    /// `registration`, `tls` (the endpoint alone) or `both`. Default: both,
    /// and tls under a platform's suffix (`x.github.io`).
    #[schema(value_type = Option<WatchName>, example = "both")]
    pub watch: Option<String>,
    /// `direct`, `starttls-smtp`, `starttls-imap` or `starttls-pop3`
    /// (`auto`, `smtp`, `imap`, `pop3` are still accepted). Default: from
    /// the port (465/993/995 direct; 25/587 SMTP, 143 IMAP, 110 POP3 STARTTLS).
    #[schema(value_type = Option<TlsModeName>, example = "starttls-smtp")]
    pub tls_mode: Option<String>,
    /// Who owns the registration: `client` (needs `client`), `agency` or
    /// `none`. Taking a registration another client owns is a 409: move it
    /// with `PATCH /api/v1/domains/{name}`.
    #[schema(value_type = Option<RegistrationOwnerName>, example = "agency")]
    pub registration_owner: Option<String>,
}

/// A new endpoint, with optional check options.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// `mail.example.com:587`, `https://www.example.com/`.
    #[schema(example = "mail.example.com:587", min_length = 1)]
    pub target: String,
    /// The client that owns the endpoint (its contacts get the certificate
    /// mail); absent: the agency's own.
    pub client: Option<ClientInput>,
    /// `direct`, `starttls-smtp`, `starttls-imap` or `starttls-pop3`
    /// (`auto`, `smtp`, `imap`, `pop3` are still accepted). Default: from the port.
    #[schema(value_type = Option<TlsModeName>, example = "starttls-smtp")]
    pub tls_mode: Option<String>,
    /// Check this IP address (IPv4 or IPv6, outside the reserved ranges
    /// unless `targets.allow_ranges` lists them) instead of resolving the host.
    #[schema(example = "93.184.215.14")]
    pub pinned_address: Option<String>,
}

/// A change to an endpoint. Absent fields stay; `pinned_address: null`
/// clears it; `client: null` makes it the agency's own.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    /// `direct`, `starttls-smtp`, `starttls-imap` or `starttls-pop3`.
    #[schema(value_type = Option<TlsModeName>)]
    pub tls_mode: Option<String>,
    /// An IP address to check instead of resolving the host; `null` unpins.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub pinned_address: Option<Option<String>>,
    /// The client that owns the endpoint, by id or name; `null`: the agency.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ClientInput>)]
    pub client: Option<Option<ClientInput>>,
}

/// Every row's outcome of a bulk import.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    pub stored: usize,
    pub failed: usize,
    pub rows: Vec<ImportRowView>,
}

/// One row of a bulk import.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportRowView {
    /// CSV line number (header = 1), or 1-based index in a JSON array.
    pub line: u64,
    pub input: String,
    /// `stored` or `failed`.
    pub status: String,
    pub domain: Option<String>,
    pub endpoint: Option<String>,
    pub client: Option<String>,
    /// What is watched for the domain: `registration`, `tls` or `both`.
    pub watch: Option<String>,
    /// The endpoint's TLS mode (`direct`, `starttls-smtp`, ...).
    pub tls_mode: Option<String>,
    /// Who owns the registration: `client`, `agency` or `none`.
    pub registration_owner: Option<String>,
    /// True when the row changed nothing (already watched).
    pub unchanged: Option<bool>,
    /// Why the row was refused.
    pub reason: Option<String>,
}

/// List domains: filter, sort by next expiry (or name), page with a cursor.
///
/// `status` is computed at read time from the stored facts and the alert
/// thresholds, first that holds: `expired` (registration or a current
/// certificate past its expiry), `not_found` (the registration is watched
/// and the registry does not know the domain), `failing` (a certificate
/// check is critical or could not be made), `expiring` (within the largest
/// registration or certificate threshold), `needs_date` (the registration
/// is watched, the registry publishes no expiry and none was entered by
/// hand: `PUT /api/v1/domains/{name}/manual-expiry`), `unknown` (nothing
/// checked yet), else `ok`. Only what is watched counts (`watch`).
#[utoipa::path(get, path = "/api/v1/domains", tag = "domains",
    params(
        ("client" = Option<String>, Query, description = "Client id or name: the domains whose registration it owns or under which it owns an endpoint"),
        ("status" = inline(Option<DomainStatusName>), Query, description = "ok, expiring, expired, failing, not_found, needs_date or unknown"),
        ("expiring_within_days" = inline(Option<Days>), Query, description = "Only domains whose next expiry (registration or certificate) is within this many days (0 to 3650); expired ones included"),
        ("q" = Option<String>, Query, description = "Part of the domain name"),
        ("sort" = inline(Option<DomainSortName>), Query, description = "expiry (default: soonest first, unknown last) or name"),
        ("limit" = inline(Option<PageLimit>), Query),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<DomainItem>),
              (status = 422, description = "`client` names no client the token may see (`unknown_client`)", body = ErrorBody)))]
pub async fn list_domains(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> ApiResult<JsonText> {
    caller.require(Action::Read)?;
    params.only(&[
        "client",
        "status",
        "expiring_within_days",
        "q",
        "sort",
        "limit",
        "cursor",
    ])?;
    let now = state.now();
    let statuses: Vec<&str> = DomainStatus::ALL.iter().map(|s| s.as_str()).collect();
    let status = params
        .choice("status", &statuses)?
        .and_then(DomainStatus::parse);
    let expiring_before = params
        .int("expiring_within_days", 0, MAX_DAYS)?
        .map(|days| now + Duration::days(days));
    let sort = match params.choice("sort", &DOMAIN_SORTS)? {
        Some("name") => DomainSort::Name,
        _ => DomainSort::Expiry,
    };
    let client_id = match params.text("client") {
        Some(reference) => Some(resolve_client(&state, caller.visibility(), reference).await?),
        None => None,
    };
    let name_contains = params.text("q").map(|q| {
        let lower = q.to_lowercase();
        if lower.is_ascii() {
            lower
        } else {
            idna::domain_to_ascii(&lower).unwrap_or(lower)
        }
    });
    let query = DomainQuery {
        client_id,
        status,
        expiring_before,
        name_contains,
        sort,
        limit: page_limit(&params)?,
        cursor: cursor(&params)?,
    };
    let page = state
        .store
        .domain_page_json(
            caller.visibility(),
            &state.windows(now),
            &query,
            &state.totals,
        )
        .await?;
    Ok(JsonText(page))
}

/// Watch a target (admin, staff): stores the endpoint and its registrable
/// domain, like `lapse domains add` (with `watch: registration`, like
/// `--registration-only`). Idempotent: 201 when something was stored or
/// changed, 200 when it was already watched so.
#[utoipa::path(post, path = "/api/v1/domains", tag = "domains", request_body = NewDomain,
    responses((status = 201, body = StoredTarget), (status = 200, body = StoredTarget),
              (status = 403, body = ErrorBody),
              (status = 409, description = "The endpoint (`endpoint_owned_by_another_client`) or the registration (`registration_owned_by_another_client`) belongs to another client; the message names it and says how to move it", body = ErrorBody),
              (status = 422, description = "The name was refused; `code` says why (`public_suffix`, `unknown_tld`, `ip_literal`, ...) and `field` is `name`; or `watch`, `tls_mode`, `registration_owner` or `client` is not valid (`field` names it)", body = ErrorBody)))]
pub async fn create_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewDomain>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Action::Write)?;
    let request = TargetRequest {
        input: &body.name,
        field: "name",
        client: body.client.as_ref(),
        watch: body.watch.as_deref(),
        tls_mode: body.tls_mode.as_deref(),
        owner: body.registration_owner.as_deref(),
    };
    let (status, stored) = store_target(&state, &request).await?;
    Ok((status, Json(stored)))
}

/// One domain: registration facts with sources and staleness, endpoints
/// with the latest observation per address, open alerts.
#[utoipa::path(get, path = "/api/v1/domains/{name}", tag = "domains",
    params(("name" = String, Path, description = "The registrable domain, ASCII or Unicode")),
    responses((status = 200, body = DomainDetail), (status = 404, body = ErrorBody)))]
pub async fn get_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<JsonText> {
    caller.require(Action::Read)?;
    let name = domain_name(&state, &name)?;
    let now = state.now();
    let detail = state
        .store
        .domain_detail_json(caller.visibility(), &state.windows(now), &name)
        .await?;
    Ok(JsonText(detail))
}

/// Stop watching a domain and all its endpoints (admin, staff). Removing
/// the last endpoint keeps the domain; this is how a domain goes.
#[utoipa::path(delete, path = "/api/v1/domains/{name}", tag = "domains",
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let name = domain_name(&state, &name)?;
    state.store.remove_domain(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A domain's endpoints with their current observations.
#[utoipa::path(get, path = "/api/v1/domains/{name}/endpoints", tag = "endpoints",
    params(("name" = String, Path, description = "The registrable domain")),
    responses((status = 200, body = Vec<EndpointView>), (status = 404, body = ErrorBody)))]
pub async fn list_domain_endpoints(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<EndpointView>>> {
    caller.require(Action::Read)?;
    let name = domain_name(&state, &name)?;
    let now = state.now();
    Ok(Json(
        state
            .store
            .visible_domain_endpoints(caller.visibility(), &state.windows(now), &name)
            .await?,
    ))
}

/// Certificate observation history of every endpoint of a domain, newest first.
#[utoipa::path(get, path = "/api/v1/domains/{name}/observations", tag = "observations",
    params(("name" = String, Path, description = "The registrable domain"),
           ("limit" = inline(Option<PageLimit>), Query),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = Page<ObservationView>), (status = 404, body = ErrorBody)))]
pub async fn domain_observations(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    params: Params,
) -> ApiResult<Json<Page<ObservationView>>> {
    caller.require(Action::Read)?;
    params.only(&["limit", "cursor"])?;
    let name = domain_name(&state, &name)?;
    let now = state.now();
    // 404 for a domain the caller may not see, rather than an empty page.
    state
        .store
        .visible_domain(caller.visibility(), &state.windows(now), &name)
        .await?;
    let page = state
        .store
        .observation_history(
            caller.visibility(),
            HistoryOf::Domain(name.as_str()),
            page_limit(&params)?,
            cursor(&params)?.as_ref(),
        )
        .await?;
    Ok(Json(page))
}

/// Watch an endpoint (admin, staff), optionally for a client, with a TLS
/// mode or a pinned address. Idempotent like `POST /api/v1/domains`; 409
/// when the endpoint belongs to another client.
#[utoipa::path(post, path = "/api/v1/endpoints", tag = "endpoints", request_body = NewEndpoint,
    responses((status = 201, body = StoredTarget), (status = 200, body = StoredTarget),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_endpoint(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewEndpoint>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Action::Write)?;
    let pinned = body
        .pinned_address
        .as_deref()
        .map(|a| pinned_address(&state, Some(a)))
        .transpose()?;
    let request = TargetRequest {
        input: &body.target,
        field: "target",
        client: body.client.as_ref(),
        watch: None,
        tls_mode: body.tls_mode.as_deref(),
        owner: None,
    };
    let (mut status, mut stored) = store_target(&state, &request).await?;
    if let (Some(pinned), Some(endpoint)) = (pinned, stored.endpoint.as_ref()) {
        let change = EndpointChange {
            tls_mode: None,
            pinned_address: Some(pinned),
        };
        let changed = state
            .store
            .change_endpoint(endpoint.id, &change, state.now())
            .await?;
        stored.endpoint = Some(changed);
        status = StatusCode::CREATED.max(status);
    }
    Ok((status, Json(stored)))
}

/// One endpoint with its current observations.
#[utoipa::path(get, path = "/api/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = i64, Path, minimum = 1, description = "Endpoint id")),
    responses((status = 200, body = EndpointView), (status = 404, body = ErrorBody)))]
pub async fn get_endpoint(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EndpointView>> {
    caller.require(Action::Read)?;
    let id = path_id(&id, "id")?;
    Ok(Json(
        state
            .store
            .visible_endpoint(caller.visibility(), id)
            .await?,
    ))
}

/// Change an endpoint's client, TLS mode or pinned address (admin, staff);
/// a new way of checking is checked again at once. Giving the endpoint to
/// another client is an explicit move, never a conflict.
#[utoipa::path(patch, path = "/api/v1/endpoints/{id}", tag = "endpoints", request_body = EndpointPatch,
    params(("id" = i64, Path, minimum = 1, description = "Endpoint id")),
    responses((status = 200, body = EndpointView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_endpoint(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EndpointPatch>,
) -> ApiResult<Json<EndpointView>> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let (host, port) = state.store.endpoint_address(id).await?;
    let change = EndpointChange {
        tls_mode: body
            .tls_mode
            .as_deref()
            .map(|t| tls_mode_field(t, port).map(|mode| mode.stored().to_owned()))
            .transpose()?,
        pinned_address: body
            .pinned_address
            .map(|a| pinned_address(&state, a.as_deref()))
            .transpose()?,
    };
    let client = match &body.client {
        Some(Some(reference)) => Some(Some(known_client(&state, reference).await?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(client) = client {
        state
            .store
            .set_endpoint_client(&host, port, client.as_deref())
            .await?;
    }
    if change.tls_mode.is_none() && change.pinned_address.is_none() {
        return Ok(Json(
            state.store.visible_endpoint(Visibility::All, id).await?,
        ));
    }
    Ok(Json(
        state
            .store
            .change_endpoint(id, &change, state.now())
            .await?,
    ))
}

/// Stop watching an endpoint (admin, staff); its domain stays, even
/// without endpoints (`DELETE /api/v1/domains/{name}` removes it).
#[utoipa::path(delete, path = "/api/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = i64, Path, minimum = 1, description = "Endpoint id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_endpoint(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::Write)?;
    let id = path_id(&id, "id")?;
    let (host, port) = state.store.endpoint_address(id).await?;
    state.store.remove_endpoint(&host, port).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Certificate observation history of one endpoint, newest first.
#[utoipa::path(get, path = "/api/v1/endpoints/{id}/observations", tag = "observations",
    params(("id" = i64, Path, minimum = 1, description = "Endpoint id"),
           ("limit" = inline(Option<PageLimit>), Query),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = Page<ObservationView>), (status = 404, body = ErrorBody)))]
pub async fn endpoint_observations(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    params: Params,
) -> ApiResult<Json<Page<ObservationView>>> {
    caller.require(Action::Read)?;
    params.only(&["limit", "cursor"])?;
    let id = path_id(&id, "id")?;
    state
        .store
        .visible_endpoint(caller.visibility(), id)
        .await?;
    Ok(Json(
        state
            .store
            .observation_history(
                caller.visibility(),
                HistoryOf::Endpoint(id),
                page_limit(&params)?,
                cursor(&params)?.as_ref(),
            )
            .await?,
    ))
}

/// Bulk import (admin, staff): a CSV body (`Content-Type: text/csv`, header
/// row with `host` and any of `client`, `contacts`, `watch`, `tls`, `owner`)
/// or a JSON array of `{"host", "client", "contacts", "watch", "tls",
/// "owner"}`, as `lapse domains import`. Good rows are stored, bad rows are
/// reported with their reason and store nothing; importing again changes nothing.
#[utoipa::path(post, path = "/api/v1/imports", tag = "domains",
    request_body(content((Vec<ImportItem> = "application/json"), (String = "text/csv"))),
    responses((status = 200, body = ImportResult), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody),
              (status = 415, body = ErrorBody)))]
pub async fn import(
    State(state): State<ApiState>,
    caller: Caller,
    request: axum::extract::Request,
) -> ApiResult<Json<ImportResult>> {
    caller.require(Action::Write)?;
    let content_type = request.headers().get(CONTENT_TYPE).cloned();
    let csv = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"));
    if !csv && !is_json(content_type.as_ref()) {
        return Err(ApiError::unsupported_media_type(
            "send a CSV body with `Content-Type: text/csv` or a JSON array with `Content-Type: application/json`",
        ));
    }
    let bytes = body_bytes(request, &state).await?;
    let policy = state.settings.names.clone();
    let port = state.settings.default_port;
    let now = state.now();
    // A NUL in any row is a malformed body (400, as a CSV that does not
    // parse): PostgreSQL's text cannot hold it, and no name needs it.
    if (csv && bytes.contains(&0)) || (!csv && has_escaped_nul(&bytes)) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "the body holds the NUL character, which no name, client or address may contain",
        ));
    }
    let report = if csv {
        inventory::import_csv(&state.store, &policy, port, bytes.as_ref(), now)
            .await
            .map_err(|e| match e {
                inventory::ImportError::Store(s) => ApiError::from(s),
                other => ApiError::bad_request("invalid_csv", other.to_string()),
            })?
    } else {
        let items: Vec<ImportItem> = parse_json(&bytes)?;
        inventory::import_items(&state.store, &policy, port, &items, now).await?
    };
    let rows: Vec<ImportRowView> = report
        .rows
        .into_iter()
        .map(|row| match row.result {
            ImportRowResult::Stored(added) => ImportRowView {
                line: row.line,
                input: row.input,
                status: "stored".into(),
                unchanged: Some(!added.changed()),
                endpoint: added.port.map(|port| format!("{}:{port}", added.host)),
                domain: Some(added.domain),
                client: added.client,
                watch: Some(added.watch.as_str().to_owned()),
                tls_mode: added.tls_mode,
                registration_owner: Some(added.registration_owner.as_str().to_owned()),
                reason: None,
            },
            ImportRowResult::Failed { reason } => ImportRowView {
                line: row.line,
                input: row.input,
                status: "failed".into(),
                domain: None,
                endpoint: None,
                client: None,
                watch: None,
                tls_mode: None,
                registration_owner: None,
                unchanged: None,
                reason: Some(reason),
            },
        })
        .collect();
    let failed = rows.iter().filter(|r| r.status == "failed").count();
    Ok(Json(ImportResult {
        stored: rows.len() - failed,
        failed,
        rows,
    }))
}

/// A registrable domain from the path (ASCII or Unicode, any case).
pub fn domain_name(state: &ApiState, raw: &str) -> ApiResult<HostName> {
    let target = parse_target(raw, &state.settings.names).map_err(|e| {
        ApiError::not_found(format!("`{raw}` is not a domain lapse could track: {e}"))
    })?;
    if !target.is_bare_domain() {
        return Err(ApiError::not_found(format!(
            "`{raw}` is not a registrable domain; its domain is `{}`",
            target.registrable.to_unicode()
        )));
    }
    Ok(target.registrable)
}

/// A client reference from a query parameter, within the caller's visibility.
pub async fn resolve_client(
    state: &ApiState,
    visibility: Visibility,
    reference: &str,
) -> ApiResult<i64> {
    state
        .store
        .resolve_client(visibility, reference)
        .await?
        .map(|c| c.id)
        .ok_or_else(|| {
            ApiError::unprocessable("unknown_client", format!("no client `{reference}`"))
                .with_field("client")
        })
}

pub fn page_limit(params: &Params) -> ApiResult<u32> {
    Ok(params
        .int("limit", 1, MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT)
        .try_into()
        .unwrap_or(DEFAULT_LIMIT as u32))
}

pub fn cursor(params: &Params) -> ApiResult<Option<Cursor>> {
    params
        .text("cursor")
        .map(|c| {
            Cursor::decode(c).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "cursor",
                    "the cursor is not one this API returned; start again without it",
                )
            })
        })
        .transpose()
}

/// A pinned address as given: an IP address outside the reserved ranges
/// (unless `targets.allow_ranges` lists its range), refused when it is set
/// rather than at every check.
fn pinned_address(state: &ApiState, address: Option<&str>) -> ApiResult<Option<String>> {
    let Some(text) = address else {
        return Ok(None);
    };
    let ip = text.trim().parse::<std::net::IpAddr>().map_err(|_| {
        ApiError::unprocessable(
            "invalid_address",
            format!("`{text}` is not an IPv4 or IPv6 address"),
        )
        .with_field("pinned_address")
    })?;
    if let Some((range, reserved)) = refusal(ip, &state.settings.allow_ranges) {
        return Err(ApiError::unprocessable(
            "reserved_address",
            format!(
                "`{ip}` is in a {reserved} range ({range}), which lapse does not contact; pin a public address, or allow the range in targets.allow_ranges"
            ),
        )
        .with_field("pinned_address"));
    }
    Ok(Some(ip.to_string()))
}
