//! Inventory use cases shared by the CLI and the API: turning what staff
//! paste or import into stored clients, domains and endpoints.
//!
//! Everything goes through [`crate::domain::names`] (one parser) and the
//! store's use cases; this module only composes them and reports per item.
//! `tokens.rs`: making and hashing API tokens. `web_users.rs`: the web
//! pages' staff accounts, passwords (Argon2id) and link secrets.
//! `wording.rs`: how a stored target reads (the CLI and the web pages
//! print the same words).

pub mod tokens;
pub mod web_users;
pub mod wording;

use std::io::Read;

use chrono::{DateTime, Utc};

use crate::domain::certificate::TlsMode;
use crate::domain::fleet::{OwnerKind, Watch, TLS_MODE_NAMES};
use crate::domain::names::{parse_email, parse_target, NameError, NamePolicy, Target};
use crate::store::{AddedTarget, NewTarget, RemovedTarget, Store, StoreError};

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

/// How to store a target, beyond its name: every surface (CLI flags, CSV
/// columns, API fields) fills the same options.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// The endpoint's client (and the registration's, when new).
    pub client: Option<String>,
    /// What to watch; `None`: the default (registration plus the endpoint;
    /// only the endpoint under a platform's private suffix).
    pub watch: Option<Watch>,
    /// The endpoint's TLS mode; `None`: what the port implies.
    pub tls: Option<TlsMode>,
    /// Who owns the registration, when said.
    pub owner: Option<OwnerKind>,
}

/// Parses and stores one target. `default_port` applies when the input
/// names none. With `watch: Registration` only the registration is stored.
pub async fn add_target(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    input: &str,
    options: &AddOptions,
    now: DateTime<Utc>,
) -> Result<AddedTarget, TargetError> {
    let target = parse_target(input, policy)?;
    let new = new_target(&target, default_port, options)?;
    Ok(store.add_target(&new, now).await?)
}

/// The store's request for a parsed target, after checking that the
/// options fit together.
fn new_target<'a>(
    target: &'a Target,
    default_port: u16,
    options: &'a AddOptions,
) -> Result<NewTarget<'a>, TargetError> {
    let registration_only = options.watch == Some(Watch::Registration);
    if registration_only && target.port.is_some() {
        return Err(TargetError::Row(format!(
            "a registration-only target has no port: `{}:{}` names an endpoint (add `{}` instead, or drop --registration-only)",
            target.host,
            target.port.unwrap_or_default(),
            target.registrable.to_unicode(),
        )));
    }
    if registration_only && options.tls.is_some() {
        return Err(TargetError::Row(
            "a registration-only target has no endpoint, so no TLS mode".into(),
        ));
    }
    if options.owner == Some(OwnerKind::Client) && options.client.is_none() {
        return Err(TargetError::Row(
            "the registration owner `client` needs a client (give the client)".into(),
        ));
    }
    Ok(NewTarget {
        host: &target.host,
        port: (!registration_only).then(|| target.port_or(default_port)),
        registrable: &target.registrable,
        client: options.client.as_deref(),
        watch: options.watch,
        tls: options.tls,
        owner: options.owner,
        platform: target.platform.is_some(),
    })
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

/// The columns a CSV import reads.
const COLUMNS: &str = "host, client, contacts, watch, tls, owner";

/// Why a whole import could not start (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV has no header row; expected columns: {COLUMNS}")]
    NoHeader,
    #[error("the CSV header has no `host` column (found: {found}); expected columns: {COLUMNS}")]
    NoHostColumn { found: String },
    #[error("the CSV header names an unknown column `{0}`; expected columns: {COLUMNS}")]
    UnknownColumn(String),
    #[error("the CSV header names the column `{0}` twice; keep one")]
    RepeatedColumn(String),
    #[error("cannot read the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot read the CSV: {0}")]
    Read(std::io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Imports a CSV with a header row and the columns `host` (required),
/// `client`, `contacts` (addresses separated by `;`, `,` or spaces),
/// `watch` (`registration`, `tls` or `both`), `tls` (the TLS mode) and
/// `owner` (the registration's: `client`, `agency` or `none`), in any order;
/// an empty cell means the default. Good rows are stored; bad rows are reported with their line
/// number and reason, and change nothing. A client named in a row is
/// created when missing, with the row's contacts.
pub async fn import_csv<R: Read>(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    reader: R,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    // Read whole (imports are small) so line numbers come from the bytes:
    // the csv crate's own count is off by one after CRLF line ends.
    let mut data = Vec::new();
    let mut reader = reader;
    reader.read_to_end(&mut data).map_err(ImportError::Read)?;
    let lines = LineIndex::new(&data);
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data.as_slice());
    let headers = csv.headers()?.clone();
    let columns = columns_of(&headers)?;
    let host_column = columns.host.ok_or_else(|| ImportError::NoHostColumn {
        found: headers.iter().collect::<Vec<_>>().join(", "),
    })?;

    let mut report = ImportReport::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = lines.line_of(csv.position().byte());
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A malformed record (bad quoting, bad UTF-8): report the line, go on.
                report.rows.push(ImportRow {
                    line: e.position().map_or(line, |p| lines.line_of(p.byte())),
                    input: String::new(),
                    result: ImportRowResult::Failed {
                        reason: format!("unreadable CSV row: {e}"),
                    },
                });
                continue;
            }
        }
        let line = record.position().map_or(line, |p| lines.line_of(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |col: Option<usize>| col.and_then(|i| record.get(i)).unwrap_or("").trim();
        let input = cell(Some(host_column)).to_owned();
        let row = Row {
            host: &input,
            client: cell(columns.client),
            contacts: cell(columns.contacts),
            watch: cell(columns.watch),
            tls: cell(columns.tls),
            owner: cell(columns.owner),
        };
        let result = import_row(store, policy, default_port, &row, now).await;
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

/// The header row's columns; an unknown or repeated column is refused
/// before any row is read.
fn columns_of(headers: &csv::StringRecord) -> Result<Columns, ImportError> {
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(ImportError::NoHeader);
    }
    let mut columns = Columns::default();
    for (index, name) in headers.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        let slot = match name.as_str() {
            "host" => &mut columns.host,
            "client" => &mut columns.client,
            "contacts" => &mut columns.contacts,
            "watch" => &mut columns.watch,
            "tls" => &mut columns.tls,
            "owner" => &mut columns.owner,
            _ => return Err(ImportError::UnknownColumn(name)),
        };
        if slot.replace(index).is_some() {
            return Err(ImportError::RepeatedColumn(name));
        }
    }
    Ok(columns)
}

/// Line numbers as an editor counts them (`\n` ends a line, `\r\n`
/// included), for records found at byte offsets.
struct LineIndex<'a> {
    data: &'a [u8],
    newlines: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(data: &'a [u8]) -> Self {
        let newlines = data
            .iter()
            .enumerate()
            .filter_map(|(i, b)| (*b == b'\n').then_some(i))
            .collect();
        Self { data, newlines }
    }

    /// The 1-based line of the record the csv crate places at `offset`.
    /// After a CRLF or a blank line that offset can still be on the line
    /// ending before the record, so the record starts at the first byte
    /// from `offset` on that ends no line.
    fn line_of(&self, offset: u64) -> u64 {
        let mut at = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        while self
            .data
            .get(at)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            at += 1;
        }
        self.newlines.partition_point(|newline| *newline < at) as u64 + 1
    }
}

#[derive(Default)]
struct Columns {
    host: Option<usize>,
    client: Option<usize>,
    contacts: Option<usize>,
    watch: Option<usize>,
    tls: Option<usize>,
    owner: Option<usize>,
}

/// One row's cells (trimmed; empty means the default).
struct Row<'a> {
    host: &'a str,
    client: &'a str,
    contacts: &'a str,
    watch: &'a str,
    tls: &'a str,
    owner: &'a str,
}

async fn import_row(
    store: &Store,
    policy: &NamePolicy,
    default_port: u16,
    row: &Row<'_>,
    now: DateTime<Utc>,
) -> Result<AddedTarget, TargetError> {
    // Validate everything before writing anything, so a bad row stores nothing.
    let target = parse_target(row.host, policy)?;
    let emails = row
        .contacts
        .split([';', ',', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(parse_email)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TargetError::Row(e.to_string()))?;
    if row.client.is_empty() && !emails.is_empty() {
        return Err(TargetError::Row(
            "contacts belong to a client: fill the `client` column".into(),
        ));
    }
    let options = AddOptions {
        client: (!row.client.is_empty()).then(|| row.client.to_owned()),
        watch: parse_cell(
            row.watch,
            "watch",
            Watch::parse,
            "registration, tls or both",
        )?,
        tls: parse_cell(
            row.tls,
            "tls",
            |t| TlsMode::parse_name(t, target.port_or(default_port)),
            TLS_MODE_NAMES,
        )?,
        owner: parse_cell(
            row.owner,
            "owner",
            OwnerKind::parse,
            "client, agency or none",
        )?,
    };
    let new = new_target(&target, default_port, &options)?;
    if let Some(name) = &options.client {
        store.add_client(name, &emails, now).await?;
    }
    Ok(store.add_target(&new, now).await?)
}

/// An optional cell: empty is `None`, anything else must parse.
fn parse_cell<T>(
    text: &str,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, TargetError> {
    if text.is_empty() {
        return Ok(None);
    }
    parse(text).map(Some).ok_or_else(|| {
        TargetError::Row(format!(
            "`{text}` is not a `{column}` value; use {expected}"
        ))
    })
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
    /// `registration`, `tls` or `both` (default: both; tls under a platform's suffix).
    #[serde(default)]
    pub watch: Option<String>,
    /// `direct`, `starttls-smtp`, `starttls-imap` or `starttls-pop3` (default: from the port).
    #[serde(default)]
    pub tls: Option<String>,
    /// The registration's owner: `client`, `agency` or `none`.
    #[serde(default)]
    pub owner: Option<String>,
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
        let cell = |value: &Option<String>| value.as_deref().unwrap_or("").trim().to_owned();
        let (client, watch, tls, owner) = (
            cell(&item.client),
            cell(&item.watch),
            cell(&item.tls),
            cell(&item.owner),
        );
        let row = Row {
            host: item.host.trim(),
            client: &client,
            contacts: &contacts,
            watch: &watch,
            tls: &tls,
            owner: &owner,
        };
        let result = import_row(store, policy, default_port, &row, now).await;
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
