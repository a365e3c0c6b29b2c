//! The store (SQLite or PostgreSQL): the only module that knows SQL.
//!
//! [`Store`] wraps a sqlx pool (WAL, foreign keys on, busy timeout set) and
//! exposes use cases (`add_target`, `list_domains`,
//! `domains_expiring_within`...) rather than tables. Migrations in
//! `migrations/` are embedded and applied by [`Store::open`].
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`: it takes the write
//! lock up front and waits (busy timeout) for it, instead of failing with
//! "database is locked" when a read transaction must upgrade to a write
//! while another writer is active (WAL's busy-snapshot case).
//!
//! Times are stored as RFC 3339 UTC text with whole seconds ([`format_time`]);
//! callers pass `now`, the store never reads the clock.
//!
//! - `store/clients.rs`: clients and contacts
//! - `store/domains.rs`: domains and endpoints: lists, removal, pinning
//! - `store/fleet.rs`: adding targets; watch mode, registration owner,
//!   endpoint client and TLS mode (the fleet model's one writer)
//! - `store/observations.rs`: certificate observations (compact history)
//! - `store/registration.rs`: RDAP bootstrap cache, facts per source, assessed state, manual dates
//! - `store/scan_scope.rs`: [`ScanScope`], what a scan covers, and its one
//!   stored JSON shape (older shapes still read)
//! - `store/scans.rs`: scans and their items (resumable), batched result recording
//! - `store/instances.rs`: several instances on one database: heartbeats,
//!   cron firings started once, the registry pacing they share
//! - `store/scan_queue.rs`: scans requested through the API (queued, claimed
//!   and adopted by the engine) and the scheduler's heartbeat
//! - `store/alerts.rs`: alerts, ledger, failure streaks, threshold overrides
//! - `store/outbox.rs`: the delivery queue (claim with a lease, retry, list)
//!   and staff digests
//! - `store/tokens.rs`: API tokens (hashed), lookup, last use, revocation
//! - `store/web_auth.rs` (+ `web_auth/`): the web pages' staff accounts, sessions,
//!   one-time links and portal links (all hashed); the mail a client was sent
//! - `store/read_models.rs`, `store/read_models/`: visibility-filtered read
//!   models (keyset pages, detail, history, scans, summary, metrics facts,
//!   calendar) and edits by id; also the JSON API's wire types
//! - `store/bench_seed.rs`: the benchmark fleet (`lapse bench seed`)
//! - `store/copy.rs`: `lapse db copy`, a SQLite database into PostgreSQL

mod alert_handling;
mod alerts;
mod bench_seed;
mod channels;
mod client_delivery;
mod clients;
mod copy;
mod domains;
mod fleet;
mod instances;
mod observations;
mod outbox;
pub mod read_models;
mod registration;
mod scan_queue;
mod scan_scope;
mod scans;
mod tokens;
mod web_auth;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool};

use crate::config::DatabaseConfig;

pub use alert_handling::{AlertHandlingState, AlertHandlingView, HandlingFacts, MuteView, NewMute};
pub use alerts::{
    AlertChanges, AlertListing, AlertScope, AlertWrite, AppliedChanges, Audience, Channel,
    ChannelPost, ClientDigestEntry, CurrentCert, Delivery, DigestLine, DomainAlertFacts,
    EndpointAlertFacts, NewMessage, Streak, ThresholdKind, ThresholdOverride, ThresholdOwner,
};
pub use bench_seed::SeedReport;
pub use channels::{NewRoute, RouteListing};
pub use client_delivery::{
    ClientDelivery, DeliveryChange, DeliveryMode, DigestClient, WaitingEntry, WEEKDAYS,
};
pub use clients::{ClientAdded, ClientListing};
pub use copy::{CopiedTable, CopyError, CopyReport, TableRows};
pub use domains::{DomainListing, EndpointListing, ExpiringDomain, RemovedTarget};
pub use fleet::{AddedTarget, NewTarget, OwnerChange, WatchChange};
pub use instances::{CronStart, InstanceView, LeaseCounts};
pub use observations::{RecordSummary, StoredCertObservation};
pub use outbox::{
    DigestEntry, OutboxItem, OutboxMessage, OutboxQuery, OutboxState, RetrySelection,
};
pub use registration::{CachedBootstrap, DueRegistration, RegistrationContext, RegistrationRecord};
pub use scan_queue::{HeartbeatView, SCHEDULER};
pub use scan_scope::ScanScope;
pub use scans::{
    ItemResult, KindProgress, ScanHandle, ScanProgress, ScanSummary, UpcomingExpiry, WorkItem,
};
pub use tokens::{NewToken, StoredToken, TokenView};
pub use web_auth::{
    NewLink, PortalLinkView, SentMessage, SessionOf, SessionPrincipal, StoredSession,
    UserCredentials, WebUser, SIGN_IN_MESSAGE_PREFIX, STAFF_ROLES,
};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Why a store operation failed. `NoSuchClient`, `Conflict`, `NotFound`,
/// `Invalid` and `InvalidTokenClient` are the caller's input; the others are
/// lapse's own failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {location}: {source}")]
    Open {
        location: String,
        source: sqlx::Error,
    },
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no client named `{0}` (add it with `lapse clients add`)")]
    NoSuchClient(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// A token's client does not fit its role: the client role needs one,
    /// every other role refuses one.
    #[error("{0}")]
    InvalidTokenClient(String),
    /// A failure streak asked for an alert kind that keeps none: lapse's
    /// own mistake, never the caller's input.
    #[error("no failure streak is kept for {0} alerts")]
    NoStreak(&'static str),
    /// The state a decision was made on changed before it was written;
    /// read again and decide again.
    #[error("{0}")]
    Stale(String),
    /// A `scans.scope` this version cannot read (written by another version,
    /// or edited by hand): the scan is not run as anything else.
    #[error("scan #{scan_id} has a scope this lapse cannot read: {stored}")]
    UnreadableScanScope { scan_id: i64, stored: String },
}

impl StoreError {
    /// True when the caller's input was refused (as opposed to a database
    /// failure): the CLI exits 2 for these, the API answers 4xx.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Self::NoSuchClient(_)
                | Self::Conflict(_)
                | Self::NotFound(_)
                | Self::Invalid(_)
                | Self::InvalidTokenClient(_)
        )
    }
}

impl StoreError {
    /// True when the database refused the data itself (a value it cannot
    /// store, a constraint): trying the same statement again cannot help.
    /// PostgreSQL's SQLSTATE classes 22 (data exception) and 23 (integrity
    /// constraint); SQLite's TOOBIG, CONSTRAINT and MISMATCH (18-20, with
    /// their extended codes).
    pub fn refuses_the_data(&self) -> bool {
        let Self::Db(sqlx::Error::Database(db)) = self else {
            return false;
        };
        let Some(code) = db.code() else {
            return false;
        };
        if code.starts_with("22") || code.starts_with("23") {
            return true;
        }
        code.parse::<u32>()
            .is_ok_and(|c| matches!(c & 0xff, 18..=20))
    }

    /// True when the database could not be reached (PostgreSQL down or
    /// restarting, connections refused or cut, the pool waiting in vain):
    /// the operation did not complete and can be tried again once it is
    /// back. The API answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        let Self::Db(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            // Class 08 (connection exception), 57P01-57P03 (shutdown, crash
            // shutdown, cannot connect now).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }
}

/// A migration as reported by `lapse migrate`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub newly_applied: bool,
}

/// Which database engine a [`Store`] talks to. The use cases are the same on
/// both; where the SQL differs, each use case keeps the two texts side by
/// side ([`Dialect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// One statement (or fragment) written for each engine: the one visible
/// place where a use case's SQL differs between SQLite and PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Dialect {
    pub(crate) fn of(&self, engine: Engine) -> &'static str {
        match engine {
            Engine::Sqlite => self.sqlite,
            Engine::Postgres => self.postgres,
        }
    }
}

/// The Any driver's URL of a SQLite file, opened in `mode` (`rwc`, `ro`):
/// the path percent-encoded where sqlx would read it otherwise.
pub(crate) fn sqlite_url(path: &Path, mode: &str) -> Result<String, StoreError> {
    const PATH: &percent_encoding::AsciiSet =
        &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');
    let file = path.to_str().ok_or_else(|| StoreError::Open {
        location: path.display().to_string(),
        source: sqlx::Error::Configuration("the SQLite path is not valid UTF-8".into()),
    })?;
    Ok(format!(
        "sqlite://{}?mode={mode}",
        percent_encoding::utf8_percent_encode(file, PATH)
    ))
}

/// The engine a connection (inside a transaction) talks to.
pub(crate) fn engine_of(conn: &sqlx::AnyConnection) -> Engine {
    if conn.backend_name() == "PostgreSQL" {
        Engine::Postgres
    } else {
        Engine::Sqlite
    }
}

/// A subquery giving the ids of a JSON array of integers bound (as text) at
/// `param`: SQLite's `json_each`, PostgreSQL's `json_array_elements_text`.
pub(crate) fn ids_from_json(engine: Engine, param: &str) -> String {
    match engine {
        Engine::Sqlite => format!("SELECT value FROM json_each({param})"),
        Engine::Postgres => format!(
            "SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST({param} AS json))"
        ),
    }
}

/// The key of the advisory lock that serialises PostgreSQL write
/// transactions (SQLite's write lock does the same there): every
/// read-decide-write use case keeps the guarantee it has on SQLite, across
/// instances. ASCII "lapsewr".
const POSTGRES_WRITE_LOCK: i64 = 0x006c_6170_7365_7772;

/// How long a PostgreSQL connection may sit idle in the pool before it is
/// pinged on its way out (see `open_postgres`).
const POSTGRES_PING_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// SQLite's page cache per connection, in KiB: SQLite's default for the
/// readers; more for the one writer, whose cache outlives its transactions.
const SQLITE_READER_CACHE_KIB: u32 = 2_000;
const SQLITE_WRITER_CACHE_KIB: u32 = 16_384;

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run. SQLite: a pool of its own with one
    /// connection (SQLite has one writer anyway), so writes queue in order
    /// instead of polling the busy timeout, and its page cache stays warm
    /// from one transaction to the next (a connection's cache is dropped
    /// whenever another connection has written). PostgreSQL: `pool`.
    writer: AnyPool,
    engine: Engine,
    path: PathBuf,
    location: String,
    /// The name this process claims work under (`server.instance`), in
    /// scan item and outbox leases and the `instances` table.
    instance: std::sync::Arc<str>,
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let store = Self::open_without_migrating(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without touching its schema.
    pub async fn open_without_migrating(config: &DatabaseConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        match &config.postgres {
            Some(pg) => Self::open_postgres(config, pg).await,
            None => Self::open_sqlite(config).await,
        }
    }

    async fn open_sqlite(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let path = config.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_error = |source| StoreError::Open {
            location: path.display().to_string(),
            source,
        };
        let url = sqlite_url(&path, "rwc")?;
        let busy_ms = config.busy_timeout.as_millis();
        let options = |connections: u32, cache_kib: u32| {
            AnyPoolOptions::new()
                .max_connections(connections)
                // A local file: nothing to test before each use (a ping is a
                // round trip to the connection's thread).
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    let pragmas = [
                        format!("PRAGMA busy_timeout = {busy_ms}"),
                        // WAL: readers never wait for the writer; NORMAL is safe with WAL.
                        "PRAGMA journal_mode = WAL".to_owned(),
                        "PRAGMA synchronous = NORMAL".to_owned(),
                        "PRAGMA foreign_keys = ON".to_owned(),
                        format!("PRAGMA cache_size = -{cache_kib}"),
                    ];
                    Box::pin(async move {
                        for pragma in &pragmas {
                            sqlx::Executor::execute(&mut *conn, pragma.as_str()).await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = options(config.max_connections, SQLITE_READER_CACHE_KIB)
            .connect(&url)
            .await
            .map_err(open_error)?;
        // Waiting for the writer is waiting for SQLite's write lock: as long
        // as the busy timeout lets a write wait.
        let writer = options(1, SQLITE_WRITER_CACHE_KIB)
            .acquire_timeout(
                config
                    .busy_timeout
                    .max(std::time::Duration::from_millis(100)),
            )
            .connect(&url)
            .await
            .map_err(open_error)?;
        Ok(Self {
            pool,
            writer,
            engine: Engine::Sqlite,
            location: path.display().to_string(),
            path,
            instance: "lapse".into(),
        })
    }

    async fn open_postgres(
        config: &DatabaseConfig,
        pg: &crate::config::PostgresLocation,
    ) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            location: pg.url.clone(),
            source,
        };
        let mut url = url::Url::parse(&pg.url)
            .map_err(|e| open_error(sqlx::Error::Configuration(e.into())))?;
        if let Some(password) = &pg.password {
            // Only fails for URLs without a host, which the config refuses.
            let _ = url.set_password(Some(password.expose()));
        }
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.busy_timeout.max(std::time::Duration::from_secs(5)))
            // A connection that was in use a moment ago is handed out as it
            // is; one idle for longer is pinged first (a server restarted or
            // a connection cut meanwhile: it is dropped and another taken).
            // sqlx's default pings before every acquire: one more round trip
            // per statement.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < POSTGRES_PING_AFTER_IDLE {
                        return Ok(true);
                    }
                    Ok(sqlx::Connection::ping(conn).await.is_ok())
                })
            })
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Short statements: compiling them costs more than it saves.
                    sqlx::Executor::execute(&mut *conn, "SET jit = off").await?;
                    Ok(())
                })
            })
            .connect(url.as_str())
            .await
            .map_err(open_error)?;
        Ok(Self {
            writer: pool.clone(),
            pool,
            engine: Engine::Postgres,
            path: PathBuf::new(),
            location: pg.url.clone(),
            instance: "lapse".into(),
        })
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATOR,
            Engine::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// Applies pending migrations; returns every known migration and whether
    /// this call applied it.
    pub async fn migrate(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let before = self.applied_versions().await?;
        let migrator = self.migrator();
        migrator.run(&self.pool).await?;
        Ok(migrator
            .iter()
            .map(|m| MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                newly_applied: !before.contains(&m.version),
            })
            .collect())
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        const EXISTS: Dialect = Dialect {
            sqlite: "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            postgres: "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()",
        };
        let exists: i64 = sqlx::query_scalar(EXISTS.of(self.engine))
            .fetch_one(&self.pool)
            .await?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        Ok(
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves SQLite's write-ahead log into the database file, so the file's
    /// size is the data's size (benchmarks, backups). Nothing to do on
    /// PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.engine == Engine::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// How many bytes the database takes: SQLite's pages (call
    /// [`Self::checkpoint`] first to count the write-ahead log in), or
    /// PostgreSQL's `pg_database_size` (tables, indexes, TOAST).
    pub async fn size_bytes(&self) -> Result<i64, StoreError> {
        const SIZE: Dialect = Dialect {
            sqlite: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            postgres: "SELECT pg_database_size(current_database())",
        };
        Ok(sqlx::query_scalar(SIZE.of(self.engine))
            .fetch_one(&self.pool)
            .await?)
    }

    /// The SQLite file; empty on PostgreSQL (see [`Self::location`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the data lives, for logs and messages: the SQLite file or the
    /// PostgreSQL URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The same pool, claiming work as `instance` (`server.instance`).
    pub fn with_instance(mut self, instance: &str) -> Self {
        self.instance = instance.into();
        self
    }

    /// The name this store claims work under.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Where a statement that writes outside [`Store::write_tx`] runs:
    /// SQLite's one writer connection (it would wait for SQLite's write
    /// lock anyway, polling, and would drop the writer's page cache);
    /// PostgreSQL's pool.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Starts a write transaction that holds the database's write lock from
    /// its first statement: SQLite's `BEGIN IMMEDIATE` (waits up to the busy
    /// timeout instead of failing when a reader must upgrade), PostgreSQL's
    /// transaction-scoped advisory lock (shared by every instance).
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(POSTGRES_WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }
}

/// A yes/no column or expression: SQLite answers 0 or 1, PostgreSQL a
/// boolean for `EXISTS` and comparisons (and 0 or 1 for stored flags);
/// NULL is no. Panics, as `Row::get` does, on any other type.
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> bool {
    use sqlx::Row;
    match row.try_get::<Option<i64>, _>(column) {
        Ok(value) => value.is_some_and(|v| v != 0),
        Err(_) => row.get::<Option<bool>, _>(column).unwrap_or(false),
    }
}

/// How every time is written: `2026-11-22T16:19:00Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads a time written by [`format_time`] (or any RFC 3339 time).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::<chrono::FixedOffset>::from_str(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_sort_as_text() {
        let a = parse_time("2026-01-02T03:04:05Z").unwrap();
        let b = parse_time("2026-11-22T16:19:00+01:00").unwrap();
        assert_eq!(format_time(a), "2026-01-02T03:04:05Z");
        assert_eq!(format_time(b), "2026-11-22T15:19:00Z");
        assert!(format_time(a) < format_time(b));
    }

    /// `.cargo/config.toml` compiles the bundled SQLite without the two
    /// process-wide mutexes (one page-cache group for every connection,
    /// allocation statistics) and without the 20-page block each page
    /// cache starts with: a build that lost the flags would still pass
    /// every other test, only slower under concurrent reads.
    #[tokio::test]
    async fn sqlite_is_built_with_the_flags_of_the_cargo_config() {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut conn)
            .await
            .expect("compile options");
        assert!(
            options.iter().any(|o| o == "THREADSAFE=1"),
            "not the bundled build: {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_PCACHE_INITSZ=0"),
            "{options:?}"
        );
    }
}
