//! The SQLite store: the only module that knows SQL.
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

mod alert_handling;
mod alerts;
mod bench_seed;
mod channels;
mod client_delivery;
mod clients;
mod domains;
mod fleet;
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
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

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
pub use domains::{DomainListing, EndpointListing, ExpiringDomain, RemovedTarget};
pub use fleet::{AddedTarget, NewTarget, OwnerChange, WatchChange};
pub use observations::{RecordSummary, StoredCertObservation};
pub use outbox::{
    DigestEntry, OutboxItem, OutboxMessage, OutboxQuery, OutboxState, RetrySelection,
};
pub use registration::{CachedBootstrap, DueRegistration, RegistrationContext};
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Why a store operation failed. `NoSuchClient`, `Conflict`, `NotFound`,
/// `Invalid` and `InvalidTokenClient` are the caller's input; the others are
/// lapse's own failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
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

/// A migration as reported by `lapse migrate`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub newly_applied: bool,
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
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
        let path = config.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(config.busy_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Self { pool, path })
    }

    /// Applies pending migrations; returns every known migration and whether
    /// this call applied it.
    pub async fn migrate(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let before = self.applied_versions().await?;
        MIGRATOR.run(&self.pool).await?;
        Ok(MIGRATOR
            .iter()
            .map(|m| MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                newly_applied: !before.contains(&m.version),
            })
            .collect())
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        Ok(
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
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

    /// Moves the write-ahead log into the database file, so the file's size
    /// is the data's size (benchmarks, backups).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
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
}
