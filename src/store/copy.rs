//! `lapse db copy`: a SQLite database copied into PostgreSQL, every table,
//! ids and history kept.
//!
//! The tables, their columns and their foreign keys are read from the
//! source (SQLite's catalogue), never listed here, so a table a later
//! migration adds is copied too. The source is opened read-only and read
//! in one read transaction (one snapshot); the target is written in one
//! transaction under the write lock (all or nothing):
//!
//! 1. both schemas must be at the same latest migration;
//! 2. the target must hold no row, except in its one-row tables (`CHECK
//!    (id = 1)`, seeded by the migrations), unless the caller asked to
//!    replace what it holds;
//! 3. every table of the target is emptied (`TRUNCATE`, which fires no
//!    trigger), then each source table is copied parents first, in batched
//!    multi-row inserts, the columns matched by name (a generated column of
//!    the target is left to PostgreSQL; a source column missing on the
//!    target refuses the copy);
//! 4. the one-row tables are written again from the source (`ON CONFLICT
//!    DO UPDATE`): triggers of the target bumped their counters while the
//!    rows went in;
//! 5. every identity sequence is set past the greatest id ever handed out:
//!    the table's largest id, SQLite's `sqlite_sequence` when that is
//!    higher, or the target sequence's own when higher still (a replaced
//!    target's ids): ids of deleted rows are never reused, on either engine;
//! 6. the row count of every table is compared, then the transaction
//!    commits.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, Row, Transaction};

use super::{Engine, Store, StoreError};
use crate::config::DatabaseConfig;

/// Rows per INSERT statement at most (PostgreSQL takes 65,535 parameters
/// per statement; the batch shrinks for wide tables).
const BATCH_ROWS: usize = 500;
const MAX_PARAMETERS: usize = 60_000;

/// The migrations table: each engine keeps its own.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// What was copied: per table, the rows in the source and in the target
/// after the copy (always equal: the copy is refused otherwise), and the
/// next id the target will hand out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// The schema version both databases are at.
    pub migration: i64,
    /// Rows the target held before (deleted first), by table; empty unless
    /// the caller asked to replace them.
    pub replaced: Vec<TableRows>,
    pub tables: Vec<CopiedTable>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CopiedTable {
    pub table: String,
    pub source_rows: i64,
    pub target_rows: i64,
    /// The id the next inserted row gets (tables with an identity `id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_id: Option<i64>,
}

/// Why a copy was refused or failed. Nothing was written to the target in
/// either case.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source of a copy must be a SQLite database, the target a PostgreSQL one")]
    Engines,
    #[error(
        "cannot connect to {0}: no answer in time (is PostgreSQL running there, and are the \
         host and port right?)"
    )]
    Unreachable(String),
    #[error("no SQLite database at {0}")]
    NoSource(String),
    #[error(
        "the SQLite database is at migration {source_version}, this lapse knows {known}: \
         run `lapse migrate` on it first"
    )]
    SourceBehind { source_version: i64, known: i64 },
    #[error(
        "the {engine} database was migrated by a newer lapse (migration {version} is unknown \
         here): upgrade lapse first"
    )]
    Newer { engine: &'static str, version: i64 },
    #[error(
        "the SQLite database is at migration {source_version} and the PostgreSQL database at \
         {target_version}: upgrade lapse and run `lapse migrate` so both are at the same version"
    )]
    Versions {
        source_version: i64,
        target_version: i64,
    },
    #[error(
        "the PostgreSQL database already holds lapse data ({}); copy into an empty \
         database, or add --replace-target-data to delete those rows first",
        list(.0)
    )]
    TargetNotEmpty(Vec<TableRows>),
    #[error("table `{0}` is missing in the PostgreSQL database (are both at the same migration?)")]
    MissingTable(String),
    #[error(
        "column `{table}.{column}` is missing in the PostgreSQL database (are both at the same \
         migration?)"
    )]
    MissingColumn { table: String, column: String },
    #[error(
        "column `{table}.{column}` has type {kind} on PostgreSQL, which the copy cannot write"
    )]
    UnknownType {
        table: String,
        column: String,
        kind: String,
    },
    #[error("`{table}.{column}` holds a value that is not {expected} in the SQLite database")]
    BadValue {
        table: String,
        column: String,
        expected: &'static str,
    },
    #[error("the foreign keys between {0} form a cycle: no order copies parents first")]
    Cycle(String),
    #[error(
        "table `{table}`: {source_rows} rows in SQLite but {target_rows} in PostgreSQL after \
         copying; nothing was written"
    )]
    CountMismatch {
        table: String,
        source_rows: i64,
        target_rows: i64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl CopyError {
    /// True when the databases given (not lapse) are at fault: the CLI
    /// exits 2.
    pub fn is_input_error(&self) -> bool {
        match self {
            Self::Store(e) => e.is_input_error(),
            Self::NoSource(_)
            | Self::SourceBehind { .. }
            | Self::Newer { .. }
            | Self::Versions { .. }
            | Self::TargetNotEmpty(_)
            | Self::MissingTable(_)
            | Self::MissingColumn { .. }
            | Self::BadValue { .. }
            | Self::Engines => true,
            Self::Unreachable(_)
            | Self::UnknownType { .. }
            | Self::Cycle(_)
            | Self::CountMismatch { .. } => false,
        }
    }
}

fn list(tables: &[TableRows]) -> String {
    tables
        .iter()
        .map(|t| format!("{} rows in {}", t.rows, t.table))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An identifier in double quotes (both engines).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// How a column's values travel: read from SQLite as this, bound to
/// PostgreSQL as this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Text,
    Bytes,
    Real,
    Boolean,
}

impl Kind {
    fn of_postgres(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "bigint" | "integer" | "smallint" => Self::Integer,
            "text" | "character varying" | "character" => Self::Text,
            "bytea" => Self::Bytes,
            "double precision" | "real" => Self::Real,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    fn expected(self) -> &'static str {
        match self {
            Self::Integer => "an integer",
            Self::Text => "text",
            Self::Bytes => "bytes",
            Self::Real => "a number",
            Self::Boolean => "0 or 1",
        }
    }
}

enum Value {
    Integer(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Real(Option<f64>),
    Boolean(Option<bool>),
}

/// Reads column `i` of a SQLite row as `kind`, taking what SQLite's
/// dynamic typing may have stored instead where the meaning is plain.
fn read_value(row: &AnyRow, i: usize, kind: Kind) -> Option<Value> {
    match kind {
        Kind::Integer => row.try_get::<Option<i64>, _>(i).ok().map(Value::Integer),
        Kind::Text => row
            .try_get::<Option<String>, _>(i)
            .ok()
            .or_else(|| {
                row.try_get::<Option<i64>, _>(i)
                    .ok()
                    .map(|v| v.map(|v| v.to_string()))
            })
            .map(Value::Text),
        Kind::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .ok()
            .or_else(|| {
                row.try_get::<Option<String>, _>(i)
                    .ok()
                    .map(|v| v.map(String::into_bytes))
            })
            .map(Value::Bytes),
        Kind::Real => row
            .try_get::<Option<f64>, _>(i)
            .ok()
            .or_else(|| {
                row.try_get::<Option<i64>, _>(i)
                    .ok()
                    .map(|v| v.map(|v| v as f64))
            })
            .map(Value::Real),
        Kind::Boolean => row
            .try_get::<Option<i64>, _>(i)
            .ok()
            .map(|v| v.map(|v| v != 0))
            .or_else(|| row.try_get::<Option<bool>, _>(i).ok())
            .map(Value::Boolean),
    }
}

/// A source table as the copy sees it.
#[derive(Debug)]
struct SourceTable {
    name: String,
    /// Columns (table order), generated ones left out.
    columns: Vec<String>,
    /// Tables its foreign keys point to.
    parents: BTreeSet<String>,
    rows: i64,
}

/// The target's tables: name -> (column -> (kind, generated)).
type TargetColumns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

/// One table's copy: the SELECT on SQLite, the INSERT head on PostgreSQL.
struct TablePlan {
    name: String,
    columns: Vec<(String, Kind)>,
}

impl Store {
    /// Opens the configured SQLite database read-only (the copy's source:
    /// never written, never migrated, never created).
    pub async fn open_copy_source(config: &DatabaseConfig) -> Result<Self, CopyError> {
        if config.postgres.is_some() {
            return Err(CopyError::Engines);
        }
        sqlx::any::install_default_drivers();
        let path = config.path.clone();
        if !path.is_file() {
            return Err(CopyError::NoSource(path.display().to_string()));
        }
        let open_error = |source| StoreError::Open {
            location: path.display().to_string(),
            source,
        };
        let url = super::sqlite_url(&path, "ro")?;
        let busy = format!("PRAGMA busy_timeout = {}", config.busy_timeout.as_millis());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(move |conn, _| {
                let busy = busy.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, busy.as_str()).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(open_error)?;
        Ok(Self {
            // Read-only: nothing is ever written through it.
            writer: pool.clone(),
            pool,
            engine: Engine::Sqlite,
            location: path.display().to_string(),
            path,
            instance: "lapse".into(),
        })
    }

    /// Opens the copy's target (PostgreSQL) and migrates it; refuses one a
    /// newer lapse migrated.
    pub async fn open_copy_target(config: &DatabaseConfig) -> Result<Self, CopyError> {
        if config.postgres.is_none() {
            return Err(CopyError::Engines);
        }
        let store = match Self::open_without_migrating(config).await {
            // The pool retries until its timeout and then says only that.
            Err(StoreError::Open {
                location,
                source: sqlx::Error::PoolTimedOut,
            }) => return Err(CopyError::Unreachable(location)),
            other => other?,
        };
        let known: BTreeSet<i64> = store.migrator().iter().map(|m| m.version).collect();
        let applied = store.applied_versions().await?;
        if let Some(version) = applied.iter().find(|v| !known.contains(v)) {
            store.close().await;
            return Err(CopyError::Newer {
                engine: "PostgreSQL",
                version: *version,
            });
        }
        if let Err(e) = store.migrate().await {
            store.close().await;
            return Err(e.into());
        }
        Ok(store)
    }

    /// Copies this (SQLite) database into `target` (PostgreSQL, migrated):
    /// see the module's documentation. `replace` allows a target that
    /// already holds data: its rows are deleted first, in the same
    /// transaction.
    pub async fn copy_into(&self, target: &Store, replace: bool) -> Result<CopyReport, CopyError> {
        if self.engine != Engine::Sqlite || target.engine != Engine::Postgres {
            return Err(CopyError::Engines);
        }
        let migration = self.check_versions(target).await?;

        let mut source = self.pool.begin().await?;
        let tables = source_tables(&mut source).await?;
        let sequences = sqlite_sequences(&mut source).await?;
        let order = parents_first(&tables)?;

        let mut tx = target.write_tx().await?;
        let target_columns = target_columns(&mut tx).await?;
        let one_row = one_row_tables(&mut tx).await?;
        let mut held = Vec::new();
        for table in target_columns.keys() {
            let rows = count(&mut tx, table).await?;
            if rows > 0 && !one_row.contains(table) {
                held.push(TableRows {
                    table: table.clone(),
                    rows,
                });
            }
        }
        if !held.is_empty() && !replace {
            return Err(CopyError::TargetNotEmpty(held));
        }
        let plans = order
            .iter()
            .map(|t| plan(t, &target_columns))
            .collect::<Result<Vec<_>, _>>()?;

        if !target_columns.is_empty() {
            let all = target_columns
                .keys()
                .map(|t| quoted(t))
                .collect::<Vec<_>>()
                .join(", ");
            sqlx::query(&format!("TRUNCATE TABLE {all}"))
                .execute(&mut *tx)
                .await?;
        }
        for plan in &plans {
            copy_table(&mut source, &mut tx, plan, None).await?;
        }
        for plan in plans.iter().filter(|p| one_row.contains(&p.name)) {
            copy_table(&mut source, &mut tx, plan, Some("id")).await?;
        }
        let mut copied = Vec::new();
        for table in &order {
            let target_rows = count(&mut tx, &table.name).await?;
            if target_rows != table.rows {
                return Err(CopyError::CountMismatch {
                    table: table.name.clone(),
                    source_rows: table.rows,
                    target_rows,
                });
            }
            let next_id = match target_columns[&table.name].contains_key("id") {
                true => set_sequence(&mut tx, &table.name, sequences.get(&table.name)).await?,
                false => None,
            };
            copied.push(CopiedTable {
                table: table.name.clone(),
                source_rows: table.rows,
                target_rows,
                next_id,
            });
        }
        // The source was only read: ending its snapshot cannot lose anything.
        let _ = source.rollback().await;
        tx.commit().await?;
        copied.sort_by(|a, b| a.table.cmp(&b.table));
        Ok(CopyReport {
            migration,
            replaced: held,
            tables: copied,
        })
    }

    /// The one migration version both databases must be at.
    async fn check_versions(&self, target: &Store) -> Result<i64, CopyError> {
        let known = |store: &Store| -> BTreeSet<i64> {
            store.migrator().iter().map(|m| m.version).collect()
        };
        let mut versions = [0_i64; 2];
        for (i, store) in [self, target].into_iter().enumerate() {
            let applied = store.applied_versions().await?;
            let known = known(store);
            if let Some(version) = applied.iter().find(|v| !known.contains(v)) {
                return Err(CopyError::Newer {
                    engine: if i == 0 { "SQLite" } else { "PostgreSQL" },
                    version: *version,
                });
            }
            versions[i] = applied.iter().copied().max().unwrap_or(0);
        }
        let latest = known(self).into_iter().max().unwrap_or(0);
        if versions[0] < latest {
            return Err(CopyError::SourceBehind {
                source_version: versions[0],
                known: latest,
            });
        }
        if versions[0] != versions[1] {
            return Err(CopyError::Versions {
                source_version: versions[0],
                target_version: versions[1],
            });
        }
        Ok(versions[0])
    }
}

/// Every table of the SQLite database but its own and the migrations'.
async fn source_tables(tx: &mut Transaction<'static, Any>) -> Result<Vec<SourceTable>, CopyError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
         ESCAPE '\\' AND name <> $1 ORDER BY name",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut **tx)
    .await?;
    let mut tables = Vec::new();
    for name in names {
        // table_info leaves generated columns out (table_xinfo has them).
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(&mut **tx)
                .await?;
        let parents: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(&name)
                .fetch_all(&mut **tx)
                .await?;
        let rows = count(tx, &name).await?;
        tables.push(SourceTable {
            parents: parents.into_iter().filter(|p| *p != name).collect(),
            name,
            columns,
            rows,
        });
    }
    Ok(tables)
}

/// SQLite's AUTOINCREMENT high-water marks: the greatest id each table
/// ever handed out (higher than `max(id)` once the newest row is deleted).
async fn sqlite_sequences(
    tx: &mut Transaction<'static, Any>,
) -> Result<BTreeMap<String, i64>, CopyError> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
    )
    .fetch_one(&mut **tx)
    .await?;
    if exists == 0 {
        return Ok(BTreeMap::new());
    }
    let rows = sqlx::query("SELECT name, seq FROM sqlite_sequence")
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<String, _>("name"), r.get::<i64, _>("seq")))
        .collect())
}

/// The tables ordered so that every table comes after the tables its
/// foreign keys point to (ties by name).
fn parents_first(tables: &[SourceTable]) -> Result<Vec<&SourceTable>, CopyError> {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < tables.len() {
        let ready: Vec<&SourceTable> = tables
            .iter()
            .filter(|t| !placed.contains(t.name.as_str()))
            .filter(|t| {
                t.parents
                    .iter()
                    .all(|p| placed.contains(p.as_str()) || !names.contains(p.as_str()))
            })
            .collect();
        if ready.is_empty() {
            let left = tables
                .iter()
                .filter(|t| !placed.contains(t.name.as_str()))
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CopyError::Cycle(left));
        }
        for table in ready {
            placed.insert(&table.name);
            order.push(table);
        }
    }
    Ok(order)
}

/// Every table of the target's schema but the migrations', with its
/// columns' types and whether each is generated.
async fn target_columns(tx: &mut Transaction<'static, Any>) -> Result<TargetColumns, CopyError> {
    let rows = sqlx::query(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                c.data_type::text AS data_type, c.is_generated::text AS is_generated \
         FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> $1 \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut **tx)
    .await?;
    let mut tables = TargetColumns::new();
    for row in rows {
        let generated = row.get::<String, _>("is_generated") == "ALWAYS";
        tables
            .entry(row.get("table_name"))
            .or_default()
            .insert(row.get("column_name"), (row.get("data_type"), generated));
    }
    Ok(tables)
}

/// The target's one-row tables (`CHECK (id = 1)`): state the migrations
/// seed, not data; a fresh database already holds their row.
async fn one_row_tables(tx: &mut Transaction<'static, Any>) -> Result<BTreeSet<String>, CopyError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT cl.relname::text FROM pg_catalog.pg_constraint c \
         JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace \
         WHERE n.nspname = current_schema() AND c.contype = 'c' \
           AND pg_catalog.pg_get_constraintdef(c.oid) = 'CHECK ((id = 1))'",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(names.into_iter().collect())
}

async fn count(tx: &mut Transaction<'static, Any>, table: &str) -> Result<i64, CopyError> {
    Ok(
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quoted(table)))
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Which columns of `table` go over, and as what.
fn plan(table: &SourceTable, target: &TargetColumns) -> Result<TablePlan, CopyError> {
    let columns = target
        .get(&table.name)
        .ok_or_else(|| CopyError::MissingTable(table.name.clone()))?;
    let mut plan = TablePlan {
        name: table.name.clone(),
        columns: Vec::new(),
    };
    for column in &table.columns {
        let (data_type, generated) =
            columns
                .get(column)
                .ok_or_else(|| CopyError::MissingColumn {
                    table: table.name.clone(),
                    column: column.clone(),
                })?;
        if *generated {
            continue;
        }
        let kind = Kind::of_postgres(data_type).ok_or_else(|| CopyError::UnknownType {
            table: table.name.clone(),
            column: column.clone(),
            kind: data_type.clone(),
        })?;
        plan.columns.push((column.clone(), kind));
    }
    Ok(plan)
}

/// Streams one table from the source into the target in batches; with
/// `upsert_on`, a row whose key is already there is overwritten.
async fn copy_table(
    source: &mut Transaction<'static, Any>,
    target: &mut Transaction<'static, Any>,
    plan: &TablePlan,
    upsert_on: Option<&str>,
) -> Result<(), CopyError> {
    if plan.columns.is_empty() {
        return Ok(());
    }
    let names = plan
        .columns
        .iter()
        .map(|(c, _)| quoted(c))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!("SELECT {names} FROM {}", quoted(&plan.name));
    let batch = BATCH_ROWS.min(MAX_PARAMETERS / plan.columns.len()).max(1);
    let on_conflict = match upsert_on {
        Some(key) => {
            let sets = plan
                .columns
                .iter()
                .filter(|(c, _)| c != key)
                .map(|(c, _)| format!("{0} = EXCLUDED.{0}", quoted(c)))
                .collect::<Vec<_>>();
            if sets.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", quoted(key))
            } else {
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    quoted(key),
                    sets.join(", ")
                )
            }
        }
        None => String::new(),
    };
    let head = format!("INSERT INTO {} ({names}) VALUES ", quoted(&plan.name));
    let mut rows = sqlx::query(&select).fetch(&mut **source);
    let mut pending: Vec<Vec<Value>> = Vec::with_capacity(batch);
    while let Some(row) = rows.try_next().await? {
        let mut values = Vec::with_capacity(plan.columns.len());
        for (i, (column, kind)) in plan.columns.iter().enumerate() {
            values.push(
                read_value(&row, i, *kind).ok_or_else(|| CopyError::BadValue {
                    table: plan.name.clone(),
                    column: column.clone(),
                    expected: kind.expected(),
                })?,
            );
        }
        pending.push(values);
        if pending.len() == batch {
            insert(target, &head, &on_conflict, std::mem::take(&mut pending)).await?;
        }
    }
    if !pending.is_empty() {
        insert(target, &head, &on_conflict, pending).await?;
    }
    Ok(())
}

/// One multi-row INSERT.
async fn insert(
    target: &mut Transaction<'static, Any>,
    head: &str,
    tail: &str,
    rows: Vec<Vec<Value>>,
) -> Result<(), CopyError> {
    let width = rows.first().map_or(0, Vec::len);
    let mut sql = String::from(head);
    for r in 0..rows.len() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * width + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(tail);
    let mut query = sqlx::query(&sql);
    for value in rows.into_iter().flatten() {
        query = match value {
            Value::Integer(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
            Value::Bytes(v) => query.bind(v),
            Value::Real(v) => query.bind(v),
            Value::Boolean(v) => query.bind(v),
        };
    }
    query.execute(&mut **target).await?;
    Ok(())
}

/// Sets `table`'s identity sequence past every id SQLite ever handed out
/// and every id the target's sequence already gave; the next id it will
/// hand out (`None`: the table has no identity).
async fn set_sequence(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    sqlite_high: Option<&i64>,
) -> Result<Option<i64>, CopyError> {
    let sequence: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
        .bind(quoted(table))
        .fetch_one(&mut **tx)
        .await?;
    let Some(sequence) = sequence else {
        return Ok(None);
    };
    let max_id: i64 = sqlx::query_scalar(&format!(
        "SELECT COALESCE(MAX(id), 0) FROM {}",
        quoted(table)
    ))
    .fetch_one(&mut **tx)
    .await?;
    // The sequence as it stands (a replaced target's ids stay used too).
    let (last, called): (i64, bool) = {
        let row = sqlx::query(&format!("SELECT last_value, is_called FROM {sequence}"))
            .fetch_one(&mut **tx)
            .await?;
        (row.get("last_value"), row.get("is_called"))
    };
    let used = if called { last } else { last - 1 };
    let high = max_id.max(sqlite_high.copied().unwrap_or(0)).max(used);
    // setval(seq, n, true): the next value is n + 1; (seq, 1, false): 1.
    let (value, called) = if high > 0 { (high, true) } else { (1, false) };
    sqlx::query("SELECT setval($1::regclass, $2, $3)")
        .bind(&sequence)
        .bind(value)
        .bind(called)
        .execute(&mut **tx)
        .await?;
    Ok(Some(high + 1))
}
