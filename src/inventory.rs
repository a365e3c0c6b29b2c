//! Inventory use cases shared by the CLI and the API: turning what staff
//! paste or import into stored clients, domains and endpoints.
//!
//! Everything goes through [`crate::domain::names`] (one parser) and the
//! store's use cases; this module only composes them and reports per item.
//! `tokens.rs`: making and hashing API tokens.

pub mod tokens;

use std::io::Read;

use chrono::{DateTime, Utc};

use crate::domain::names::{parse_email, parse_target, NameError, NamePolicy, Target};
use crate::store::{AddedTarget, RemovedTarget, Store, StoreError};

/// Why one target (an argument, an API item, a CSV row) was not stored.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Name(#[from] NameError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Row(String),
}

impl TargetError {
    /// True when the input was at fault rather than lapse.
    pub fn is_input_error(&self) -> bool {
        match self {
            Self::Name(_) | Self::Row(_) => true,
            Self::Store(e) => e.is_input_error(),
        }
    }
}

/// Parses and stores one target. `default_port` applies when the input
/// names none.
pub async fn add_target(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    input: &str,
    client: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AddedTarget, TargetError> {
    let target = parse_target(input, policy)?;
    Ok(store
        .add_endpoint(
            &target.host,
            target.port_or(default_port),
            &target.registrable,
            client,
            now,
        )
        .await?)
}

/// Removes what an input names: a bare registrable domain removes the domain
/// and all its endpoints; anything else removes that one endpoint.
pub async fn remove_target(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    input: &str,
) -> Result<RemovedTarget, TargetError> {
    let target: Target = parse_target(input, policy)?;
    if target.is_bare_domain() {
        return Ok(store.remove_domain(&target.registrable).await?);
    }
    Ok(store
        .remove_endpoint(&target.host, target.port_or(default_port))
        .await?)
}

/// The outcome of one CSV row.
#[derive(Debug, serde::Serialize)]
pub struct ImportRow {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    pub input: String,
    #[serde(flatten)]
    pub result: ImportRowResult,
}

#[derive(Debug, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ImportRowResult {
    Stored(AddedTarget),
    Failed { reason: String },
}

/// Every row's outcome, in file order.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub rows: Vec<ImportRow>,
}

impl ImportReport {
    pub fn stored(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.result, ImportRowResult::Stored(_)))
            .count()
    }

    pub fn failed(&self) -> impl Iterator<Item = &ImportRow> {
        self.rows
            .iter()
            .filter(|r| matches!(r.result, ImportRowResult::Failed { .. }))
    }
}

/// Why a whole import could not start (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV has no header row; expected columns: host, client, contacts")]
    NoHeader,
    #[error("the CSV header has no `host` column (found: {found}); expected columns: host, client, contacts")]
    NoHostColumn { found: String },
    #[error(
        "the CSV header names an unknown column `{0}`; expected columns: host, client, contacts"
    )]
    UnknownColumn(String),
    #[error("cannot read the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Imports a CSV with a header row and the columns `host` (required),
/// `client` and `contacts` (addresses separated by `;`, `,` or spaces), in
/// any order. Good rows are stored; bad rows are reported with their line
/// number and reason, and change nothing. A client named in a row is
/// created when missing, with the row's contacts.
pub async fn import_csv<R: Read>(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    reader: R,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = csv.headers()?.clone();
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(ImportError::NoHeader);
    }
    let mut columns = Columns::default();
    for (index, name) in headers.iter().enumerate() {
        match name.trim().to_ascii_lowercase().as_str() {
            "host" => columns.host = Some(index),
            "client" => columns.client = Some(index),
            "contacts" => columns.contacts = Some(index),
            other => return Err(ImportError::UnknownColumn(other.to_owned())),
        }
    }
    let host_column = columns.host.ok_or_else(|| ImportError::NoHostColumn {
        found: headers.iter().collect::<Vec<_>>().join(", "),
    })?;

    let mut report = ImportReport::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A malformed record (bad quoting, bad UTF-8): report the line, go on.
                report.rows.push(ImportRow {
                    line: e.position().map_or(line, csv::Position::line),
                    input: String::new(),
                    result: ImportRowResult::Failed {
                        reason: format!("unreadable CSV row: {e}"),
                    },
                });
                continue;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |col: Option<usize>| col.and_then(|i| record.get(i)).unwrap_or("").trim();
        let input = cell(Some(host_column)).to_owned();
        let result = import_row(
            store,
            policy,
            default_port,
            &input,
            cell(columns.client),
            cell(columns.contacts),
            now,
        )
        .await;
        let result = match result {
            Ok(added) => ImportRowResult::Stored(added),
            Err(e) if e.is_input_error() => ImportRowResult::Failed {
                reason: e.to_string(),
            },
            Err(TargetError::Store(e)) => return Err(ImportError::Store(e)),
            Err(e) => ImportRowResult::Failed {
                reason: e.to_string(),
            },
        };
        report.rows.push(ImportRow {
            line,
            input,
            result,
        });
    }
    Ok(report)
}

#[derive(Default)]
struct Columns {
    host: Option<usize>,
    client: Option<usize>,
    contacts: Option<usize>,
}

async fn import_row(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    host: &str,
    client: &str,
    contacts: &str,
    now: DateTime<Utc>,
) -> Result<AddedTarget, TargetError> {
    // Validate everything before writing anything, so a bad row stores nothing.
    let target = parse_target(host, policy)?;
    let emails = contacts
        .split([';', ',', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(parse_email)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TargetError::Row(e.to_string()))?;
    if client.is_empty() && !emails.is_empty() {
        return Err(TargetError::Row(
            "contacts belong to a client: fill the `client` column".into(),
        ));
    }
    let client = (!client.is_empty()).then_some(client);
    if let Some(name) = client {
        store.add_client(name, &emails, now).await?;
    }
    Ok(store
        .add_endpoint(
            &target.host,
            target.port_or(default_port),
            &target.registrable,
            client,
            now,
        )
        .await?)
}

/// One item of a JSON bulk import: the same columns as the CSV.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportItem {
    /// What to watch, as for `domains add`.
    #[schema(example = "shop.example.com")]
    pub host: String,
    /// Owning client, created when missing.
    #[serde(default)]
    pub client: Option<String>,
    /// The client's contact addresses.
    #[serde(default)]
    pub contacts: Vec<String>,
}

/// Imports items given as data (the API's JSON bulk import) with the same
/// rules as [`import_csv`]; `line` is the 1-based position in the list.
pub async fn import_items(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    items: &[ImportItem],
    now: DateTime<Utc>,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    for (index, item) in items.iter().enumerate() {
        let contacts = item.contacts.join(";");
        let result = import_row(
            store,
            policy,
            default_port,
            item.host.trim(),
            item.client.as_deref().unwrap_or("").trim(),
            &contacts,
            now,
        )
        .await;
        let result = match result {
            Ok(added) => ImportRowResult::Stored(added),
            Err(TargetError::Store(e)) if !e.is_input_error() => return Err(e),
            Err(e) => ImportRowResult::Failed {
                reason: e.to_string(),
            },
        };
        report.rows.push(ImportRow {
            line: index as u64 + 1,
            input: item.host.clone(),
            result,
        });
    }
    Ok(report)
}
