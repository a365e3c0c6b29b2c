//! `/domains` and `/domains/{name}`: the list (filters, sort, keyset
//! pages) and one domain (registration facts, endpoints per address, the
//! timeline of observations, alerts and what was sent), with the changes
//! made there: a registration expiry entered by hand, the domain's
//! thresholds.
//!
//! The list reads the API's hot statement (`Store::domain_page_json`, with
//! its cached totals), so the page costs what `GET /api/v1/domains` costs
//! plus the rendering.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use chrono::Duration;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::super::session::{CsrfForm, Staff};
use super::super::{WebError, WebState};
use super::{back_to, client_filter, given, OrPage};
use crate::api::ApiState;
use crate::domain::access::{Action, Visibility};
use crate::domain::alert_policy::Thresholds;
use crate::domain::certificate::Finding;
use crate::domain::names::{parse_target, HostName};
use crate::domain::status::DomainStatus;
use crate::store::read_models::{Cursor, DomainQuery, DomainSort, HistoryOf, ObservationView};
use crate::store::{ThresholdKind, ThresholdOwner};

/// Domains per page.
const PER_PAGE: u32 = 50;
/// Observations in a domain's timeline, and messages in its "sent" list.
const TIMELINE: u32 = 50;
/// The largest `within` (days), as the API's `expiring_within_days`.
const MAX_DAYS: i64 = 3650;

/// The list's query: every field as typed in the filter form (an empty
/// field is no filter).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    within: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sort: Option<String>,
    /// The keyset cursor of the page (the API's `next_cursor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
}

impl ListParams {
    /// The same filters without the page, only the fields given.
    fn filters(&self) -> Self {
        let keep = |v: &Option<String>| given(v.as_deref()).map(str::to_owned);
        Self {
            client: keep(&self.client),
            status: keep(&self.status),
            within: keep(&self.within),
            q: keep(&self.q),
            sort: keep(&self.sort),
            page: None,
        }
    }

    fn url(&self) -> String {
        let query = serde_urlencoded::to_string(self).unwrap_or_default();
        if query.is_empty() {
            "/domains".to_owned()
        } else {
            format!("/domains?{query}")
        }
    }
}

/// The store's query for the list's parameters; a value a person can fix
/// is a 400 naming it.
async fn domain_query(
    api: &ApiState,
    visibility: Visibility,
    params: &ListParams,
) -> Result<DomainQuery, WebError> {
    let status = match given(params.status.as_deref()) {
        None => None,
        Some(text) => Some(DomainStatus::parse(text).ok_or_else(|| {
            WebError::BadRequest(format!(
                "`{text}` is not a status; use ok, expiring, expired, failing, not_found, needs_date or unknown"
            ))
        })?),
    };
    let expiring_before = match given(params.within.as_deref()) {
        None => None,
        Some(text) => {
            let days = text
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=MAX_DAYS).contains(d))
                .ok_or_else(|| {
                    WebError::BadRequest(format!(
                        "`{text}` is not a number of days from 0 to {MAX_DAYS}"
                    ))
                })?;
            Some(api.now() + Duration::days(days))
        }
    };
    let client_id = client_filter(api, visibility, params.client.as_deref()).await?;
    let cursor = match given(params.page.as_deref()) {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            WebError::BadRequest(
                "that page is not one this list gave; start again from the first".to_owned(),
            )
        })?),
    };
    let name_contains = given(params.q.as_deref()).map(|q| {
        let lower = q.to_lowercase();
        if lower.is_ascii() {
            lower
        } else {
            idna::domain_to_ascii(&lower).unwrap_or(lower)
        }
    });
    Ok(DomainQuery {
        client_id,
        status,
        expiring_before,
        name_contains,
        sort: match given(params.sort.as_deref()) {
            Some("name") => DomainSort::Name,
            _ => DomainSort::Expiry,
        },
        limit: PER_PAGE,
        cursor,
    })
}

pub async fn list(
    State(state): State<WebState>,
    Staff(viewer): Staff,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let api = &state.api;
    let query = domain_query(api, viewer.visibility(), &params).await?;
    let page = domain_page(api, viewer.visibility(), &query).await?;
    let filters = params.filters();
    let next_url = page["next_cursor"].as_str().map(|cursor| {
        ListParams {
            page: Some(cursor.to_owned()),
            ..params.filters()
        }
        .url()
    });
    let sort_url = |sort: &str| {
        ListParams {
            sort: Some(sort.to_owned()),
            ..params.filters()
        }
        .url()
    };
    let statuses: Vec<&str> = DomainStatus::ALL.iter().map(|s| s.as_str()).collect();
    state.page(
        Some(&viewer),
        "staff/domains.html",
        context! {
            page => page,
            filters => &filters,
            statuses => statuses,
            sort => if query.sort == DomainSort::Name { "name" } else { "expiry" },
            by_name_url => sort_url("name"),
            by_expiry_url => sort_url("expiry"),
            first_url => params.page.is_some().then(|| filters.url()),
            next_url => next_url,
        },
    )
}

/// One page of domains as the API answers it: SQLite's JSON with the
/// cached totals (the hot statement). Should that JSON ever not parse, the
/// typed read model answers instead, and the failure is logged.
async fn domain_page(
    api: &ApiState,
    visibility: Visibility,
    query: &DomainQuery,
) -> Result<serde_json::Value, WebError> {
    let windows = api.windows(api.now());
    let json = api
        .store
        .domain_page_json(visibility, &windows, query, &api.totals)
        .await
        .or_page()?;
    match serde_json::from_str(&json) {
        Ok(page) => Ok(page),
        Err(error) => {
            tracing::error!(%error, "the domain page's JSON does not parse; reading it typed");
            let page = api
                .store
                .domain_page(visibility, &windows, query)
                .await
                .or_page()?;
            Ok(serde_json::to_value(page).unwrap_or_default())
        }
    }
}

/// A registrable domain from the path; anything else is no page.
fn domain_name(state: &WebState, raw: &str) -> Result<HostName, WebError> {
    let target = parse_target(raw, &state.api.settings.names).map_err(|_| WebError::NotFound)?;
    if !target.is_bare_domain() {
        return Err(WebError::NotFound);
    }
    Ok(target.registrable)
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailParams {
    #[serde(default)]
    pub done: Option<String>,
}

pub async fn detail(
    State(state): State<WebState>,
    Staff(viewer): Staff,
    Path(name): Path<String>,
    Query(params): Query<DetailParams>,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let name = domain_name(&state, &name)?;
    let api = &state.api;
    let visibility = viewer.visibility();
    let windows = api.windows(api.now());
    let detail = api
        .store
        .domain_detail(visibility, &windows, &name)
        .await
        .or_page()?;
    let timeline = api
        .store
        .observation_history(visibility, HistoryOf::Domain(name.as_str()), TIMELINE, None)
        .await
        .or_page()?;
    let sent = api
        .store
        .messages_of_domain(visibility, detail.domain.id, TIMELINE)
        .await
        .or_page()?;
    let thresholds = api
        .store
        .threshold_override(&ThresholdOwner::Domain(name.clone()))
        .await
        .or_page()?;
    let findings = findings_of(
        detail
            .endpoints
            .iter()
            .flat_map(|e| &e.current_observations)
            .chain(&timeline.items),
    );
    state.page(
        Some(&viewer),
        "staff/domain.html",
        context! {
            findings => findings,
            d => detail,
            timeline => timeline,
            sent => sent,
            thresholds => thresholds,
            defaults => context! {
                certificate_days => &api.settings.certificate_days,
                registration_days => &api.settings.registration_days,
            },
            done => params.done.as_deref().and_then(done_note),
        },
    )
}

/// Each observation's findings as the CLI and the mail word them, by
/// observation id (a finding this version cannot read shows its kind).
fn findings_of<'a>(
    observations: impl Iterator<Item = &'a ObservationView>,
) -> BTreeMap<i64, Vec<String>> {
    observations
        .map(|o| {
            let texts = o.details["findings"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|value| match Finding::deserialize(value) {
                            Ok(finding) => finding.to_string(),
                            Err(_) => value["kind"]
                                .as_str()
                                .unwrap_or("unknown finding")
                                .to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            (o.id, texts)
        })
        .collect()
}

/// What a redirect's `done` word says on the page.
fn done_note(word: &str) -> Option<&'static str> {
    Some(match word {
        "expiry-set" => "The registration expiry entered by hand is saved.",
        "expiry-cleared" => {
            "The date entered by hand is removed; the registration is looked up again."
        }
        "thresholds" => "The thresholds are saved.",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
pub struct ManualExpiryForm {
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    note: Option<String>,
}

pub async fn set_manual_expiry(
    State(state): State<WebState>,
    Path(name): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<ManualExpiryForm>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let name = domain_name(&state, &name)?;
    let api = &state.api;
    let now = api.now();
    // 404 for a domain the viewer may not see, before anything changes.
    api.store
        .visible_domain(viewer.visibility(), &api.windows(now), &name)
        .await
        .or_page()?;
    let date =
        chrono::NaiveDate::parse_from_str(form.expires_at.trim(), "%Y-%m-%d").map_err(|_| {
            WebError::BadRequest(format!(
                "`{}` is not a date; use YYYY-MM-DD, e.g. 2027-03-31",
                form.expires_at
            ))
        })?;
    api.store
        .set_manual_expiry(&name, date, given(form.note.as_deref()), now)
        .await
        .or_page()?;
    Ok(back_to(
        &format!("/domains/{}", name.as_str()),
        "expiry-set",
    ))
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

pub async fn clear_manual_expiry(
    State(state): State<WebState>,
    Path(name): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let name = domain_name(&state, &name)?;
    let api = &state.api;
    let now = api.now();
    api.store
        .visible_domain(viewer.visibility(), &api.windows(now), &name)
        .await
        .or_page()?;
    api.store.clear_manual_expiry(&name, now).await.or_page()?;
    Ok(back_to(
        &format!("/domains/{}", name.as_str()),
        "expiry-cleared",
    ))
}

/// A thresholds form: each list as typed (`30, 14, 7`); empty means the
/// defaults (the override is cleared).
#[derive(Debug, Deserialize)]
pub struct ThresholdsForm {
    #[serde(default)]
    pub certificate_days: String,
    #[serde(default)]
    pub registration_days: String,
}

impl ThresholdsForm {
    /// Both lists, read before anything is written.
    pub fn read(&self) -> Result<[(ThresholdKind, Option<Thresholds>); 2], WebError> {
        Ok([
            (
                ThresholdKind::Certificate,
                days_list("certificate", &self.certificate_days)?,
            ),
            (
                ThresholdKind::Registration,
                days_list("registration", &self.registration_days)?,
            ),
        ])
    }
}

fn days_list(what: &str, text: &str) -> Result<Option<Thresholds>, WebError> {
    let mut days = Vec::new();
    for part in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let day = part
            .parse::<u32>()
            .ok()
            .filter(|d| i64::from(*d) <= MAX_DAYS)
            .ok_or_else(|| {
                WebError::BadRequest(format!(
                    "{what} days: `{part}` is not a number of days from 0 to {MAX_DAYS}"
                ))
            })?;
        days.push(day);
    }
    Ok(Thresholds::new(days))
}

pub async fn set_thresholds(
    State(state): State<WebState>,
    Path(name): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<ThresholdsForm>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let name = domain_name(&state, &name)?;
    let changes = form.read()?;
    let api = &state.api;
    api.store
        .visible_domain(viewer.visibility(), &api.windows(api.now()), &name)
        .await
        .or_page()?;
    let owner = ThresholdOwner::Domain(name.clone());
    for (kind, days) in &changes {
        api.store
            .set_thresholds(&owner, *kind, days.as_ref())
            .await
            .or_page()?;
    }
    Ok(back_to(
        &format!("/domains/{}", name.as_str()),
        "thresholds",
    ))
}
