//! `/domains/add` (many pasted lines) and `/import` (a CSV file or pasted
//! CSV): the same `inventory` use cases as `lapse domains add` and `lapse
//! domains import`, one result per line or row in the CLI's words
//! (`inventory::wording`).

use axum::extract::{Multipart, State};
use axum::response::Html;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::super::session::{same_secret, CsrfForm, Staff, Viewer, FORM_LIMIT};
use super::super::{WebError, WebState};
use super::{given, OrPage};
use crate::domain::access::Action;
use crate::domain::fleet::Watch;
use crate::inventory::wording::describe_added;
use crate::inventory::{self, AddOptions, ImportError, ImportRowResult};
use crate::store::AddedTarget;

/// One pasted line's or CSV row's outcome, as the page lists it.
#[derive(Debug, Serialize)]
struct LineResult {
    /// The CSV line number (header = 1); for pasted lines, the line's.
    line: u64,
    input: String,
    /// `added`, `exists` or `refused`.
    class: &'static str,
    /// What the CLI prints for it (several lines for a stored target).
    text: String,
}

impl LineResult {
    async fn stored(
        state: &WebState,
        line: u64,
        input: &str,
        added: &AddedTarget,
    ) -> Result<Self, WebError> {
        let capability = state
            .api
            .store
            .tld_capability(&added.domain)
            .await
            .or_page()?;
        Ok(Self {
            line,
            input: input.to_owned(),
            class: if added.changed() { "added" } else { "exists" },
            text: describe_added(added, capability.as_deref()),
        })
    }
}

pub async fn add_form(
    State(state): State<WebState>,
    Staff(viewer): Staff,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Write)?;
    state.page(Some(&viewer), "staff/add.html", context! {})
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    lines: String,
    #[serde(default)]
    client: Option<String>,
    /// `both` (default), `registration` or `tls`.
    #[serde(default)]
    watch: Option<String>,
}

/// Stores every line it can, as `lapse domains add LINE...` does; blank
/// lines are no input.
pub async fn add(
    State(state): State<WebState>,
    CsrfForm { viewer, form }: CsrfForm<AddForm>,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Write)?;
    let api = &state.api;
    let watch = match given(form.watch.as_deref()) {
        None => None,
        Some(text) => Some(Watch::parse(text).ok_or_else(|| {
            WebError::BadRequest(format!(
                "`{text}` is not a watch mode; use registration, tls or both"
            ))
        })?),
    };
    let options = AddOptions {
        client: given(form.client.as_deref()).map(str::to_owned),
        watch,
        tls: None,
        owner: None,
    };
    let now = api.now();
    let mut results = Vec::new();
    for (index, raw) in form.lines.lines().enumerate() {
        let input = raw.trim();
        if input.is_empty() {
            continue;
        }
        let line = u64::try_from(index + 1).unwrap_or(u64::MAX);
        let outcome = inventory::add_target(
            &api.store,
            &api.settings.names,
            api.settings.default_port,
            input,
            &options,
            now,
        )
        .await;
        results.push(match outcome {
            Ok(added) => LineResult::stored(&state, line, input, &added).await?,
            Err(e) if e.is_input_error() => LineResult {
                line,
                input: input.to_owned(),
                class: "refused",
                text: format!("`{input}`: {e}"),
            },
            Err(inventory::TargetError::Store(e)) => return Err(WebError::Store(e)),
            Err(e) => return Err(WebError::BadRequest(e.to_string())),
        });
    }
    let refused = results.iter().filter(|r| r.class == "refused").count();
    state.page(
        Some(&viewer),
        "staff/add.html",
        context! {
            results => results,
            refused => refused,
            lines => form.lines,
            client => form.client,
            watch => form.watch,
        },
    )
}

pub async fn import_form(
    State(state): State<WebState>,
    Staff(viewer): Staff,
) -> Result<Html<String>, WebError> {
    viewer.require(Action::Write)?;
    state.page(Some(&viewer), "staff/import.html", context! {})
}

/// The parts of the import form: the CSRF token, a file, pasted text.
#[derive(Debug, Default)]
struct ImportParts {
    csrf: Option<String>,
    file: Option<Vec<u8>>,
    pasted: Option<String>,
}

async fn read_parts(mut multipart: Multipart) -> Result<ImportParts, WebError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        WebError::BadRequest(format!("the form could not be read: {e}"))
    };
    let mut parts = ImportParts::default();
    let mut size = 0_usize;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(unreadable)?;
        size += bytes.len();
        if size > FORM_LIMIT {
            return Err(WebError::BadRequest(format!(
                "the form is over {FORM_LIMIT} bytes"
            )));
        }
        match name.as_str() {
            "_csrf" => parts.csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" if !bytes.is_empty() => parts.file = Some(bytes.to_vec()),
            "csv" => parts.pasted = Some(String::from_utf8_lossy(&bytes).into_owned()),
            _ => {}
        }
    }
    Ok(parts)
}

/// Imports a CSV as `lapse domains import` does: a file, else the pasted
/// text. Multipart bodies do not go through `CsrfForm`, so the `_csrf`
/// part is checked here, before anything is read into the store.
pub async fn import(
    State(state): State<WebState>,
    viewer: Viewer,
    multipart: Multipart,
) -> Result<Html<String>, WebError> {
    if !viewer.is_staff() {
        return Err(WebError::NotFound);
    }
    let parts = read_parts(multipart).await?;
    if !parts
        .csrf
        .as_deref()
        .is_some_and(|token| same_secret(token, &viewer.csrf))
    {
        return Err(WebError::CsrfRefused);
    }
    viewer.require(Action::Write)?;
    let csv = match (parts.file, given(parts.pasted.as_deref())) {
        (Some(file), _) => file,
        (None, Some(text)) => text.as_bytes().to_vec(),
        (None, None) => {
            return Err(WebError::BadRequest(
                "choose a CSV file or paste its text".to_owned(),
            ))
        }
    };
    let api = &state.api;
    let report = match inventory::import_csv(
        &api.store,
        &api.settings.names,
        api.settings.default_port,
        csv.as_slice(),
        api.now(),
    )
    .await
    {
        Ok(report) => report,
        Err(ImportError::Store(e)) => return Err(WebError::Store(e)),
        Err(other) => return Err(WebError::BadRequest(other.to_string())),
    };
    let mut rows = Vec::with_capacity(report.rows.len());
    for row in &report.rows {
        rows.push(match &row.result {
            ImportRowResult::Stored(added) => {
                let mut result = LineResult::stored(&state, row.line, &row.input, added).await?;
                result.text = format!("line {}: {}", row.line, result.text);
                result
            }
            ImportRowResult::Failed { reason } => LineResult {
                line: row.line,
                input: row.input.clone(),
                class: "refused",
                text: format!("line {}: `{}`: {reason}", row.line, row.input),
            },
        });
    }
    let failed = report.failed().count();
    state.page(
        Some(&viewer),
        "staff/import.html",
        context! {
            rows => rows,
            summary => format!("imported {} row(s), {failed} failed", report.stored()),
            failed => failed,
        },
    )
}
