//! `/clients`, `/clients/{id}` (contacts, the client's domains and
//! thresholds; its portal links are web-auth's page at
//! `/clients/{id}/portal-links`) and `/thresholds` (the defaults and every
//! override).

use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use minijinja::context;
use serde::Deserialize;

use super::super::session::{CsrfForm, Staff};
use super::super::{WebError, WebState};
use super::domains::{DetailParams, ThresholdsForm};
use super::{back_to, OrPage};
use crate::domain::access::Action;
use crate::domain::names::parse_email;
use crate::store::read_models::{ClientView, DomainQuery};
use crate::store::ThresholdOwner;

/// The client's domains shown on its page (the domain list has the rest).
const DOMAINS_SHOWN: u32 = 50;

pub async fn list(
    State(state): State<WebState>,
    Staff(viewer): Staff,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let clients = state
        .api
        .store
        .visible_clients(viewer.visibility())
        .await
        .or_page()?;
    state.page(
        Some(&viewer),
        "staff/clients.html",
        context! { clients => clients },
    )
}

#[derive(Debug, Deserialize)]
pub struct NewClientForm {
    #[serde(default)]
    name: String,
    /// Addresses separated by commas, semicolons, spaces or lines.
    #[serde(default)]
    contacts: String,
}

pub async fn create(
    State(state): State<WebState>,
    CsrfForm { viewer, form }: CsrfForm<NewClientForm>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let api = &state.api;
    let contacts = form
        .contacts
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|c| !c.is_empty())
        .map(|c| parse_email(c).map_err(|e| WebError::BadRequest(format!("`{c}`: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let name = form.name.trim();
    if api
        .store
        .resolve_client(viewer.visibility(), name)
        .await
        .or_page()?
        .is_some_and(|c| c.name.eq_ignore_ascii_case(name))
    {
        return Err(WebError::BadRequest(format!(
            "a client named `{name}` already exists"
        )));
    }
    let added = api
        .store
        .add_client(name, &contacts, api.now())
        .await
        .or_page()?;
    let client = api
        .store
        .resolve_client(viewer.visibility(), &added.name)
        .await
        .or_page()?
        .ok_or(WebError::NotFound)?;
    Ok(back_to(&format!("/clients/{}", client.id), "created"))
}

/// A client the viewer may see, by the id in the path.
async fn visible_client(
    state: &WebState,
    viewer: &super::super::session::Viewer,
    id: &str,
) -> Result<ClientView, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    state
        .api
        .store
        .visible_client(viewer.visibility(), id)
        .await
        .or_page()
}

pub async fn detail(
    State(state): State<WebState>,
    Staff(viewer): Staff,
    Path(id): Path<String>,
    Query(params): Query<DetailParams>,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let client = visible_client(&state, &viewer, &id).await?;
    let api = &state.api;
    let domains = api
        .store
        .domain_page(
            viewer.visibility(),
            &api.windows(api.now()),
            &DomainQuery {
                client_id: Some(client.id),
                limit: DOMAINS_SHOWN,
                ..DomainQuery::default()
            },
        )
        .await
        .or_page()?;
    let thresholds = api
        .store
        .threshold_override(&ThresholdOwner::Client(client.name.clone()))
        .await
        .or_page()?;
    let done = params.done.as_deref().and_then(|word| {
        Some(match word {
            "created" => "The client is added.",
            "contact-added" => "The contact is added.",
            "contact-removed" => "The contact is removed.",
            "thresholds" => "The thresholds are saved.",
            _ => return None,
        })
    });
    state.page(
        Some(&viewer),
        "staff/client.html",
        context! {
            client => client,
            domains => domains,
            thresholds => thresholds,
            defaults => context! {
                certificate_days => &api.settings.certificate_days,
                registration_days => &api.settings.registration_days,
            },
            done => done,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    email: String,
}

pub async fn add_contact(
    State(state): State<WebState>,
    Path(id): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<ContactForm>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let client = visible_client(&state, &viewer, &id).await?;
    let email = parse_email(form.email.trim())
        .map_err(|e| WebError::BadRequest(format!("`{}`: {e}", form.email.trim())))?;
    state
        .api
        .store
        .add_contact(client.id, &email, state.api.now())
        .await
        .or_page()?;
    Ok(back_to(&format!("/clients/{}", client.id), "contact-added"))
}

pub async fn remove_contact(
    State(state): State<WebState>,
    Path((id, contact_id)): Path<(String, String)>,
    CsrfForm { viewer, .. }: CsrfForm<super::domains::NoFields>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let client = visible_client(&state, &viewer, &id).await?;
    let contact_id: i64 = contact_id.parse().map_err(|_| WebError::NotFound)?;
    state
        .api
        .store
        .remove_contact(client.id, contact_id)
        .await
        .or_page()?;
    Ok(back_to(
        &format!("/clients/{}", client.id),
        "contact-removed",
    ))
}

pub async fn set_thresholds(
    State(state): State<WebState>,
    Path(id): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<ThresholdsForm>,
) -> Result<Redirect, WebError> {
    viewer.require(Action::Write)?;
    let changes = form.read()?;
    let client = visible_client(&state, &viewer, &id).await?;
    let owner = ThresholdOwner::Client(client.name.clone());
    for (kind, days) in &changes {
        state
            .api
            .store
            .set_thresholds(&owner, *kind, days.as_ref())
            .await
            .or_page()?;
    }
    Ok(back_to(&format!("/clients/{}", client.id), "thresholds"))
}

/// `/thresholds`: the defaults from `[alerts]` and every override.
pub async fn thresholds(
    State(state): State<WebState>,
    Staff(viewer): Staff,
) -> Result<Html<String>, WebError> {
    // Overrides are listed fleet-wide, like `lapse thresholds list`.
    viewer.require(Action::ReadAll)?;
    let api = &state.api;
    let overrides = api.store.threshold_overrides().await.or_page()?;
    // Links to the clients' pages: a lookup per client override (few),
    // not the client list (which counts every client's domains).
    let mut client_ids = std::collections::BTreeMap::new();
    for o in overrides.iter().filter(|o| o.level == "client") {
        if let Some(client) = api
            .store
            .resolve_client(viewer.visibility(), &o.name)
            .await
            .or_page()?
        {
            client_ids.insert(o.name.clone(), client.id);
        }
    }
    state.page(
        Some(&viewer),
        "staff/thresholds.html",
        context! {
            overrides => overrides,
            client_ids => client_ids,
            defaults => context! {
                certificate_days => &api.settings.certificate_days,
                registration_days => &api.settings.registration_days,
            },
        },
    )
}
