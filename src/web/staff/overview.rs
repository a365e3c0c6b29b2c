//! `/`: the overview: domains by status, the next expiries, open alerts,
//! the domains waiting for a date entered by hand, failed deliveries.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use minijinja::context;

use super::super::session::Staff;
use super::super::{WebError, WebState};
use super::OrPage;
use crate::domain::access::Action;
use crate::domain::status::DomainStatus;
use crate::store::read_models::{AlertQuery, DomainQuery, Page};
use crate::store::{OutboxQuery, OutboxState};

/// How many rows each list of the overview shows.
const SHOWN: u32 = 10;

pub async fn page(
    State(state): State<WebState>,
    Staff(viewer): Staff,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Read)?;
    let visibility = viewer.visibility();
    let api = &state.api;
    let windows = api.windows(api.now());
    // The API's cached summary; should its refresh fail, the store is
    // asked once more so the failure is reported as the store's.
    let summary = match api.summary(visibility).await {
        Ok(summary) => summary,
        Err(_) => Arc::new(api.store.summary(visibility, &windows).await.or_page()?),
    };
    let alerts = api
        .store
        .alert_page(
            visibility,
            &AlertQuery {
                state: Some("firing".to_owned()),
                limit: SHOWN,
                ..AlertQuery::default()
            },
        )
        .await
        .or_page()?;
    // The summary counts them: with none, the list is not asked for (a
    // status filter that matches nothing walks every domain).
    let waiting = summary
        .domains_by_status
        .get(DomainStatus::NeedsDate.as_str())
        .copied()
        .unwrap_or(0);
    let needs_date = if waiting == 0 {
        Page {
            items: Vec::new(),
            total: 0,
            next_cursor: None,
        }
    } else {
        api.store
            .domain_page(
                visibility,
                &windows,
                &DomainQuery {
                    status: Some(DomainStatus::NeedsDate),
                    limit: SHOWN,
                    ..DomainQuery::default()
                },
            )
            .await
            .or_page()?
    };
    // The queue is fleet-wide: roles that read everything see it.
    let failed = if viewer.role().allows(Action::ReadAll) {
        Some(
            api.store
                .outbox_page(&OutboxQuery {
                    state: Some(OutboxState::Failed),
                    limit: SHOWN,
                    cursor: None,
                })
                .await
                .or_page()?,
        )
    } else {
        None
    };
    let counts: Vec<(&str, i64)> = DomainStatus::ALL
        .iter()
        .map(|s| {
            let n = summary
                .domains_by_status
                .get(s.as_str())
                .copied()
                .unwrap_or(0);
            (s.as_str(), n)
        })
        .collect();
    state.page(
        Some(&viewer),
        "staff/overview.html",
        context! {
            summary => &*summary,
            counts => counts,
            alerts => alerts,
            needs_date => needs_date,
            failed => failed,
        },
    )
}
