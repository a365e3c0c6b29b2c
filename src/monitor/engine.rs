//! The scan engine: one pipeline for the scheduler, `lapse scan` and the
//! API. Due work -> probes -> assessment -> store, with bounded concurrency.
//!
//! - Certificate checks run at most `scan.concurrency` at once, and the
//!   probe caps handshakes per IP address (`scan.per_address_concurrency`).
//! - Registration lookups run at most `scan.registration_concurrency` at
//!   once, each server paced by the rate limiters; they never take a
//!   certificate slot, so a slow WHOIS server cannot stall the scan.
//! - Items of a page are shuffled, so consecutive checks hit different servers.
//! - Results go through a channel to one writer (`engine/writer.rs`) that
//!   records them in batched transactions (observations, next due time,
//!   item done, counts).
//! - Several instances on one database share a scan: each claims batches of
//!   items under a lease (`scan.lease_secs`, renewed while it works), waits
//!   while others hold the rest, and the one whose `end_scan` closes the
//!   row ends the scan.
//! - A stop request (SIGINT/SIGTERM) stops taking work; checks in flight get
//!   `scan.shutdown_grace`, their results are recorded, and the scan is left
//!   `interrupted`: the next run of the same scope resumes it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::seq::SliceRandom;
use tokio::sync::{mpsc, watch, Mutex, Semaphore};
use tokio::task::JoinSet;

use crate::domain::certificate::{Severity, TlsMode};
use crate::domain::registration::is_alarming_status;
use crate::monitor::alerts::{self, AlertSettings, FailureMode};
use crate::monitor::health::{check_canaries, CheckCounts};
use crate::monitor::registration::RegistrationChecker;
use crate::probe::tls::{TlsProbe, TlsTarget};
use crate::store::{
    CronStart, ItemResult, ScanHandle, ScanProgress, ScanScope, ScanSummary, Store, StoreError,
    WorkItem,
};

mod writer;

use writer::write_results;

/// Where this instance's next claim of each kind starts: after the last
/// item it claimed.
#[derive(Debug, Default)]
struct ClaimCursors {
    endpoint: i64,
    registration: i64,
}

/// Certificate items claimed from the store at a time, at most.
const CLAIM_MAX: usize = 256;
/// Registration items an instance holds ahead of its lookups, per
/// `scan.registration_concurrency` slot: enough that a slow (paced)
/// registry's queue does not hold back the others' items, few enough that
/// the instances share the lookups.
const LOOKUPS_AHEAD: usize = 8;
/// How long an instance with nothing to claim waits before looking again
/// while items of the scan are still in flight (here or elsewhere).
const IDLE_RETRY: Duration = Duration::from_millis(250);

/// Where "now" comes from. The engine reads it once per check.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that follows tokio's (pausable) clock from a fixed start, for
/// schedule tests.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    pub start: DateTime<Utc>,
    pub started: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            start,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.started;
        self.start + TimeDelta::from_std(elapsed).unwrap_or_default()
    }
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub concurrency: usize,
    pub registration_concurrency: usize,
    pub batch_size: usize,
    pub shutdown_grace: Duration,
    /// A failed certificate check is retried after `retry_base * 2^(n-1)`, at most `retry_cap`.
    pub retry_base: TimeDelta,
    pub retry_cap: TimeDelta,
    /// How long claimed scan items stay this instance's without a renewal
    /// (`scan.lease_secs`): an instance that dies loses its items for this long.
    pub lease: Duration,
}

impl EngineSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            concurrency: config.scan.concurrency,
            registration_concurrency: config.scan.registration_concurrency,
            batch_size: config.scan.batch_size,
            shutdown_grace: config.scan.shutdown_grace,
            retry_base: TimeDelta::minutes(config.schedule.retry_min_minutes),
            retry_cap: TimeDelta::hours(config.schedule.retry_max_hours),
            lease: config.scan.lease,
        }
    }
}

/// How a scan ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScanOutcome {
    pub summary: ScanSummary,
    pub resumed: bool,
    /// Stopped before every item was done; the next run resumes it.
    pub interrupted: bool,
}

/// The engine itself failed (a target failing is a finding, not an error).
/// A store error keeps its own classification
/// ([`StoreError::is_input_error`]); the writer failing is always lapse's own
/// failure, never bad input.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task recording results panicked or was cancelled.
    #[error("result writer failed: {0}")]
    Writer(#[source] tokio::task::JoinError),
}

/// Progress as the writer records it, by kind of item.
pub type ProgressFn = Arc<dyn Fn(&ScanProgress) + Send + Sync>;

/// The engine; cheap to share. One scan runs at a time in a process; the
/// instances on one database share a scan's items (claimed in batches under
/// a lease, `scan.lease_secs`), and exactly one of them ends the scan.
pub struct Engine {
    store: Store,
    probe: Arc<TlsProbe>,
    registration: Option<Arc<RegistrationChecker>>,
    settings: EngineSettings,
    clock: Arc<dyn Clock>,
    /// `None`: results are recorded without deciding alerts (benchmarks, tests).
    alerts: Option<Arc<AlertSettings>>,
    /// The running scan's certificate checks, for the outage rule.
    checks: Arc<CheckCounts>,
    /// Registration items handed to the lookup dispatcher and not yet
    /// looked up: an instance claims no more than it can look up soon, so
    /// the instances share the lookups too.
    lookups_pending: Arc<AtomicUsize>,
    running: Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// `registration: None` skips registration items (they stay due).
    pub fn new(
        store: Store,
        probe: TlsProbe,
        registration: Option<RegistrationChecker>,
        settings: EngineSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            probe: Arc::new(probe),
            registration: registration.map(Arc::new),
            settings,
            clock,
            alerts: None,
            checks: Arc::new(CheckCounts::default()),
            lookups_pending: Arc::new(AtomicUsize::new(0)),
            running: Mutex::new(()),
        }
    }

    /// Decide alerts after every recorded result, and the outage rule at the
    /// end of each scan.
    pub fn with_alerts(mut self, settings: AlertSettings) -> Self {
        self.alerts = Some(Arc::new(settings));
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs (or resumes) a scan of `scope`, waiting for any other scan to end first.
    pub async fn run(
        &self,
        scope: &ScanScope,
        stop: watch::Receiver<bool>,
        progress: Option<ProgressFn>,
    ) -> Result<ScanOutcome, EngineError> {
        let _one_at_a_time = self.running.lock().await;
        self.run_locked(scope, stop, progress).await
    }

    /// Runs a scan unless one is already running (for the due-work poll).
    pub async fn try_run(
        &self,
        scope: &ScanScope,
        stop: watch::Receiver<bool>,
    ) -> Result<Option<ScanOutcome>, EngineError> {
        let Ok(_guard) = self.running.try_lock() else {
            return Ok(None);
        };
        self.run_locked(scope, stop, None).await.map(Some)
    }

    /// Runs a scan requested through the API (`claim_queued_scan`) on its row.
    pub async fn run_requested(
        &self,
        scan_id: i64,
        scope: &ScanScope,
        stop: watch::Receiver<bool>,
    ) -> Result<ScanOutcome, EngineError> {
        let _one_at_a_time = self.running.lock().await;
        let started_at = self.clock.now();
        let handle = self
            .store
            .adopt_requested_scan(scan_id, scope, started_at)
            .await?;
        self.run_handle(handle, scope, started_at, stop, None).await
    }

    /// The full scan of a cron firing (`schedule` due at `fired`): the
    /// first instance to record the firing starts it, the others join it
    /// while it runs. `None`: another instance's scan of that firing is over.
    pub async fn run_cron_firing(
        &self,
        schedule: &str,
        fired: DateTime<Utc>,
        stop: watch::Receiver<bool>,
    ) -> Result<Option<ScanOutcome>, EngineError> {
        let _one_at_a_time = self.running.lock().await;
        let started_at = self.clock.now();
        let handle = match self
            .store
            .start_cron_scan(schedule, fired, started_at)
            .await?
        {
            CronStart::Started(handle) => handle,
            CronStart::Joined(handle) => {
                tracing::info!(
                    scan.id = handle.scan_id,
                    "joining the scheduled scan another instance started"
                );
                handle
            }
            CronStart::Over => return Ok(None),
        };
        self.run_handle(handle, &ScanScope::All, started_at, stop, None)
            .await
            .map(Some)
    }

    /// Takes part in running scans that have items nobody holds (their
    /// instance died, or has not claimed them yet), unless a scan already
    /// runs here; returns how many it joined. For the due-work poll.
    pub async fn join_running(&self, stop: watch::Receiver<bool>) -> Result<usize, EngineError> {
        let Ok(_guard) = self.running.try_lock() else {
            return Ok(0);
        };
        let mut joined = 0;
        for (scan_id, scope) in self.store.joinable_scans(self.clock.now()).await? {
            if *stop.borrow() {
                break;
            }
            let Some(handle) = self.store.join_scan(scan_id).await? else {
                continue;
            };
            tracing::info!(
                scan.id = scan_id,
                "joining a running scan with unclaimed items"
            );
            let started_at = self.clock.now();
            self.run_handle(handle, &scope, started_at, stop.clone(), None)
                .await?;
            joined += 1;
        }
        Ok(joined)
    }

    async fn run_locked(
        &self,
        scope: &ScanScope,
        stop: watch::Receiver<bool>,
        progress: Option<ProgressFn>,
    ) -> Result<ScanOutcome, EngineError> {
        let started_at = self.clock.now();
        let handle = self.store.start_or_resume_scan(scope, started_at).await?;
        self.run_handle(handle, scope, started_at, stop, progress)
            .await
    }

    /// The pipeline of one scan: the writer starts, the pending items are
    /// checked (or the stop request lets the ones in flight finish), the
    /// writer records the last batch, then the scan row is closed.
    async fn run_handle(
        &self,
        handle: ScanHandle,
        scope: &ScanScope,
        started_at: DateTime<Utc>,
        stop: watch::Receiver<bool>,
        progress: Option<ProgressFn>,
    ) -> Result<ScanOutcome, EngineError> {
        if handle.scan_id == 0 {
            return Ok(nothing_due(scope, started_at));
        }
        log_start(&handle, scope);
        self.checks.reset();
        self.lookups_pending.store(0, Ordering::SeqCst);
        let (results_tx, results_rx) = mpsc::channel::<ItemResult>(self.settings.batch_size);
        // A full scan defers failure alerts to its end (the outage rule); a
        // due-work run is a recheck and decides at once.
        let mode = if *scope == ScanScope::Due {
            FailureMode::Immediate
        } else {
            FailureMode::DeferToScan
        };
        let writer = tokio::spawn(write_results(
            self.store.clone(),
            handle,
            results_rx,
            self.settings.batch_size,
            self.clock.clone(),
            progress,
            self.alerts.clone().map(|a| (a, mode)),
        ));
        let stopped = self.check_items(&handle, stop, results_tx).await;
        let written = writer.await.map_err(EngineError::Writer);
        // What this instance did not finish goes back to the pool at once
        // (and otherwise when its lease runs out).
        if let Err(error) = self.store.release_scan_leases(handle.scan_id).await {
            tracing::warn!(scan.id = handle.scan_id, %error, "cannot release scan leases; they run out by themselves");
        }
        let stopped = stopped?;
        written??;
        Ok(self.end(&handle, scope, started_at, stopped).await?)
    }

    /// Checks the scan's items, claimed batch by batch, and waits for the
    /// checks to end; the sender is dropped on return, so the writer sees the
    /// last result. Returns whether a stop request cut the scan short.
    async fn check_items(
        &self,
        handle: &ScanHandle,
        mut stop: watch::Receiver<bool>,
        results: mpsc::Sender<ItemResult>,
    ) -> Result<bool, StoreError> {
        // Registration lookups have their own dispatcher, so a registry's
        // pacing queue never holds up certificate checks or other registries.
        let (lookups_tx, lookups_rx) = mpsc::unbounded_channel();
        let lookups = self.registration.clone().map(|checker| {
            tokio::spawn(dispatch_lookups(
                lookups_rx,
                self.settings.registration_concurrency,
                self.job(),
                checker,
                results.clone(),
                stop.clone(),
            ))
        });
        let mut checks = JoinSet::new();
        let stopped = self
            .start_checks(
                handle.scan_id,
                &mut stop,
                &results,
                &lookups_tx,
                &mut checks,
            )
            .await?;
        drop(lookups_tx);
        self.wait_for_checks(handle.scan_id, stopped, checks, lookups)
            .await;
        Ok(stopped)
    }

    /// Claims the scan's items in batches under a lease and spawns a check
    /// per item, at most `scan.concurrency` certificate checks at once;
    /// registration items go to the lookup dispatcher. Items of a batch are
    /// shuffled so consecutive checks hit different servers. With nothing
    /// to claim while items are still unfinished (in flight here, or held
    /// by another instance), it waits and looks again: a dead instance's
    /// items become claimable when its lease runs out. Returns whether a
    /// stop request ended it.
    async fn start_checks(
        &self,
        scan_id: i64,
        stop: &mut watch::Receiver<bool>,
        results: &mpsc::Sender<ItemResult>,
        lookups: &mpsc::UnboundedSender<WorkItem>,
        checks: &mut JoinSet<()>,
    ) -> Result<bool, StoreError> {
        let cert_slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut renewed = tokio::time::Instant::now();
        let mut cursors = ClaimCursors::default();
        let mut stopped = *stop.borrow();
        'claims: while !stopped {
            if results.is_closed() {
                // The writer failed (its error ends the scan): claim nothing more.
                break;
            }
            let now = self.clock.now();
            let claimed = self
                .next_batch(scan_id, &cert_slots, &mut renewed, &mut cursors, now)
                .await;
            let mut batch = match claimed {
                Ok(Claimed::Items(batch)) => batch,
                Ok(Claimed::AllDone) => break,
                Ok(Claimed::Wait) => Vec::new(),
                Err(error) => {
                    // The database is away (a restart): try again shortly.
                    tracing::warn!(scan.id = scan_id, %error, "cannot claim scan items; trying again");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(IDLE_RETRY) => {}
                    // Nothing left to take here: the checks in flight finish
                    // as the last ones of a scan do (no grace cut).
                    _ = stop.changed() => break 'claims,
                }
                while checks.try_join_next().is_some() {}
                continue;
            }
            batch.shuffle(&mut rand::rng());
            for item in batch {
                if let WorkItem::Registration { .. } = &item {
                    self.lookups_pending.fetch_add(1, Ordering::SeqCst);
                    let _ = lookups.send(item);
                    continue;
                }
                let permit = tokio::select! {
                    permit = cert_slots.clone().acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => break 'claims,
                    },
                    _ = stop.changed() => {
                        stopped = true;
                        break 'claims;
                    }
                };
                let job = self.job();
                let results = results.clone();
                checks.spawn(async move {
                    let result = job.check(item).await;
                    // The writer is gone only if recording failed; nothing to do then.
                    let _ = results.send(result).await;
                    drop(permit);
                });
                while checks.try_join_next().is_some() {}
            }
            stopped = *stop.borrow();
        }
        Ok(stopped)
    }

    /// Renews this instance's leases when a third of the lease has passed,
    /// then claims as many items as there are free certificate slots plus
    /// `scan.concurrency` more: the claim runs while the slots are still
    /// full, so the batch is a slot-load ahead. Claiming only the free slots
    /// made every claim after the first one or two items long: two
    /// statements and a write lock per check, which cost the scan a tenth of
    /// its CPU in thread hand-offs (issue 19's profile).
    async fn next_batch(
        &self,
        scan_id: i64,
        cert_slots: &Semaphore,
        renewed: &mut tokio::time::Instant,
        cursors: &mut ClaimCursors,
        now: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
        let registrations = self.registration.is_some();
        let lease = TimeDelta::from_std(self.settings.lease).unwrap_or(TimeDelta::seconds(60));
        if renewed.elapsed() >= self.settings.lease / 3 {
            self.store.renew_scan_leases(scan_id, now + lease).await?;
            *renewed = tokio::time::Instant::now();
        }
        let room = (cert_slots.available_permits() + self.settings.concurrency).clamp(1, CLAIM_MAX);
        let mut batch = self
            .claim(
                scan_id,
                "endpoint",
                room,
                now + lease,
                now,
                &mut cursors.endpoint,
            )
            .await?;
        // Without a checker registration items stay due (and the scan
        // ends interrupted, as before).
        let lookup_room = (self.settings.registration_concurrency * LOOKUPS_AHEAD)
            .saturating_sub(self.lookups_pending.load(Ordering::SeqCst))
            .min(CLAIM_MAX);
        if registrations && lookup_room > 0 {
            batch.extend(
                self.claim(
                    scan_id,
                    "registration",
                    lookup_room,
                    now + lease,
                    now,
                    &mut cursors.registration,
                )
                .await?,
            );
        }
        if !batch.is_empty() {
            return Ok(Claimed::Items(batch));
        }
        let (left, _held) = self
            .store
            .scan_items_left(scan_id, registrations, now)
            .await?;
        Ok(if left == 0 {
            Claimed::AllDone
        } else {
            Claimed::Wait
        })
    }

    /// Claims up to `limit` items of `kind` from `cursor` (the last item
    /// this instance claimed) on; when fewer are left there, once more from
    /// the scan's first item, for items released or whose lease ran out
    /// behind the cursor (a stopped or dead instance's).
    async fn claim(
        &self,
        scan_id: i64,
        kind: &str,
        limit: usize,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
        cursor: &mut i64,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let limit = limit as i64;
        let mut items = self
            .store
            .claim_scan_items(scan_id, kind, limit, lease_until, now, *cursor)
            .await?;
        if (items.len() as i64) < limit && *cursor > 0 {
            let more = limit - items.len() as i64;
            items.extend(
                self.store
                    .claim_scan_items(scan_id, kind, more, lease_until, now, 0)
                    .await?,
            );
        }
        if let Some(last) = items.iter().map(|item| item.key().1).max() {
            *cursor = (*cursor).max(last);
        }
        Ok(items)
    }

    /// Waits for the checks and lookups in flight: all of them, or after a
    /// stop request at most `scan.shutdown_grace`, abandoning the rest (they
    /// stay pending and are redone on resume).
    async fn wait_for_checks(
        &self,
        scan_id: i64,
        stopped: bool,
        mut checks: JoinSet<()>,
        mut lookups: Option<tokio::task::JoinHandle<()>>,
    ) {
        if stopped {
            tracing::info!(
                scan.id = scan_id,
                in_flight = checks.len(),
                grace_secs = self.settings.shutdown_grace.as_secs(),
                "stopping: letting in-flight checks finish"
            );
        }
        let all_done = async {
            while checks.join_next().await.is_some() {}
            if let Some(lookups) = lookups.as_mut() {
                let _ = lookups.await;
            }
        };
        if !stopped {
            all_done.await;
            return;
        }
        let drained = tokio::time::timeout(self.settings.shutdown_grace, all_done).await;
        if drained.is_err() {
            tracing::warn!(
                scan.id = scan_id,
                abandoned = checks.len(),
                "checks still running after the grace period; they will be redone on resume"
            );
            checks.abort_all();
            if let Some(lookups) = &lookups {
                lookups.abort();
            }
        }
    }

    /// Closes the scan row (`finished`, or `interrupted` to be resumed),
    /// applies the outage rule to a finished full scan, and logs the counts.
    async fn end(
        &self,
        handle: &ScanHandle,
        scope: &ScanScope,
        started_at: DateTime<Utc>,
        stopped: bool,
    ) -> Result<ScanOutcome, StoreError> {
        let summary = self.store.scan_summary(handle.scan_id).await?;
        let finished = summary.items_done >= summary.items_total && !stopped;
        let ended_at = self.clock.now();
        // Several instances may reach the end of one scan: only the one
        // that closes its row ends it (summary, the scan's alert decisions).
        let closed = self
            .store
            .end_scan(handle.scan_id, finished, ended_at)
            .await?;
        let summary = self.store.scan_summary(handle.scan_id).await?;
        if !closed {
            return Ok(ScanOutcome {
                resumed: handle.resumed,
                interrupted: summary.state != "finished",
                summary,
            });
        }
        if let (Some(settings), true, false) = (&self.alerts, finished, *scope == ScanScope::Due) {
            // lapse's own health: the canaries when configured, else the
            // checks that failed on lapse's side.
            let evidence = check_canaries(&self.probe, &settings.canaries, ended_at)
                .await
                .unwrap_or_else(|| self.checks.evidence());
            let counts = alerts::ScanSummary {
                scan_id: summary.scan_id,
                evidence,
            };
            if let Err(error) =
                alerts::evaluate_scan(&self.store, settings, &counts, ended_at).await
            {
                tracing::error!(scan.id = summary.scan_id, %error, "cannot evaluate the scan's alerts");
            }
        }
        if summary.items_total > 0 || handle.resumed {
            tracing::info!(
                scan.id = summary.scan_id,
                items.done = summary.items_done,
                items.total = summary.items_total,
                ok = summary.ok,
                warning = summary.warning,
                critical = summary.critical,
                unknown = summary.unknown,
                duration_ms = (ended_at - started_at).num_milliseconds(),
                interrupted = !finished,
                "scan ended"
            );
        }
        Ok(ScanOutcome {
            summary,
            resumed: handle.resumed,
            interrupted: !finished,
        })
    }

    fn job(&self) -> Job {
        Job {
            store: self.store.clone(),
            probe: self.probe.clone(),
            registration: self.registration.clone(),
            settings: self.settings.clone(),
            clock: self.clock.clone(),
            checks: self.checks.clone(),
            lookups_pending: self.lookups_pending.clone(),
        }
    }

    /// Scopes of scans left unfinished by a crash or a stop, oldest first.
    pub async fn unfinished_scopes(&self) -> Result<Vec<ScanScope>, StoreError> {
        self.store.unfinished_scan_scopes().await
    }
}

/// What a claim found.
enum Claimed {
    Items(Vec<WorkItem>),
    /// Nothing claimable, but items are still in flight (here or at another
    /// instance, or held by a dead one until its lease runs out).
    Wait,
    /// Every item of the scan is done.
    AllDone,
}

/// The outcome of a scan with nothing to do (no scan row was written).
fn nothing_due(scope: &ScanScope, started_at: DateTime<Utc>) -> ScanOutcome {
    ScanOutcome {
        summary: ScanSummary {
            scan_id: 0,
            scope: serde_json::to_value(scope).unwrap_or_default(),
            state: "nothing_due".into(),
            started_at: crate::store::format_time(started_at),
            finished_at: None,
            items_total: 0,
            items_done: 0,
            ok: 0,
            warning: 0,
            critical: 0,
            unknown: 0,
        },
        resumed: false,
        interrupted: false,
    }
}

fn log_start(handle: &ScanHandle, scope: &ScanScope) {
    if handle.resumed {
        tracing::info!(
            scan.id = handle.scan_id,
            items.done = handle.items_done,
            items.total = handle.items_total,
            "resuming an interrupted scan"
        );
    } else if handle.items_total > 0 {
        tracing::info!(scan.id = handle.scan_id, items.total = handle.items_total, scope = ?scope, "scan started");
    }
}

/// Runs registration lookups as they arrive: at most `slots` at once, and
/// per queue (one registry server, see [`RegistrationChecker::queue_for`])
/// at most what that server may take, queues served in turn. A stop ends
/// the dispatching; lookups in flight finish (the caller bounds the wait).
async fn dispatch_lookups(
    mut incoming: mpsc::UnboundedReceiver<WorkItem>,
    slots: usize,
    job: Job,
    checker: Arc<RegistrationChecker>,
    results: mpsc::Sender<ItemResult>,
    mut stop: watch::Receiver<bool>,
) {
    struct Queue {
        waiting: VecDeque<WorkItem>,
        running: usize,
        limit: usize,
    }
    let slots = slots.max(1);
    let mut queues: Vec<(String, Queue)> = Vec::new();
    let mut turn = 0;
    let mut running: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut closed = false;
    let mut stopped = *stop.borrow();
    loop {
        // Start what may start, queues taking turns.
        while !stopped && running.len() < slots {
            let ready = (0..queues.len())
                .map(|i| (turn + i) % queues.len())
                .find(|&i| {
                    let q = &queues[i].1;
                    !q.waiting.is_empty() && q.running < q.limit
                });
            let Some(i) = ready else { break };
            turn = i + 1;
            let queue = &mut queues[i].1;
            let Some(item) = queue.waiting.pop_front() else {
                break;
            };
            queue.running += 1;
            let job = job.clone();
            let results = results.clone();
            let handle = tasks.spawn(async move {
                let result = job.check(item).await;
                let _ = results.send(result).await;
            });
            running.insert(handle.id(), i);
        }
        let idle =
            running.is_empty() && (stopped || queues.iter().all(|(_, q)| q.waiting.is_empty()));
        if closed && idle {
            return;
        }
        tokio::select! {
            item = incoming.recv(), if !closed => match item {
                Some(item) => {
                    let (key, limit) = match &item {
                        WorkItem::Registration { name, .. } => checker.queue_for(name, job.clock.now()).await,
                        _ => (String::new(), 1),
                    };
                    let i = match queues.iter().position(|(k, _)| *k == key) {
                        Some(i) => i,
                        None => {
                            queues.push((key, Queue { waiting: VecDeque::new(), running: 0, limit }));
                            queues.len() - 1
                        }
                    };
                    queues[i].1.waiting.push_back(item);
                }
                None => closed = true,
            },
            Some(done) = tasks.join_next_with_id() => {
                let id = match &done {
                    Ok((id, ())) => *id,
                    Err(error) => error.id(),
                };
                if let Some(i) = running.remove(&id) {
                    queues[i].1.running -= 1;
                }
            },
            changed = stop.changed(), if !stopped => stopped = changed.is_err() || *stop.borrow(),
        }
    }
}

/// What one spawned check needs.
#[derive(Clone)]
struct Job {
    store: Store,
    probe: Arc<TlsProbe>,
    registration: Option<Arc<RegistrationChecker>>,
    settings: EngineSettings,
    clock: Arc<dyn Clock>,
    checks: Arc<CheckCounts>,
    lookups_pending: Arc<AtomicUsize>,
}

impl Job {
    async fn check(self, item: WorkItem) -> ItemResult {
        match item {
            WorkItem::Endpoint {
                endpoint_id,
                host,
                port,
                tls_mode,
                pinned_address,
                check_failures,
            } => {
                let mut target = TlsTarget::new(host, port).with_mode(tls_mode_of(&tls_mode, port));
                if let Some(address) = pinned_address.and_then(|a| a.parse().ok()) {
                    target = target.with_pinned_address(address);
                }
                let now = self.clock.now();
                let report = self.probe.check(&target, now).await;
                self.checks.count(&report);
                let outcome = report.severity();
                // Could not check: try again sooner than the next full scan.
                let (failures, next_check_at) = if outcome == Severity::Unknown {
                    let failures = check_failures + 1;
                    (failures, Some(now + retry_after(failures, &self.settings)))
                } else {
                    (0, None)
                };
                ItemResult::Endpoint {
                    endpoint_id,
                    outcome,
                    observations: report.observations(),
                    next_check_at,
                    check_failures: failures,
                }
            }
            WorkItem::Registration { domain_id, name } => {
                let Some(checker) = &self.registration else {
                    return ItemResult::Gone {
                        kind: "registration".into(),
                        item_id: domain_id,
                    };
                };
                let now = self.clock.now();
                // Recorded by the writer, in its batch's transaction.
                let (outcome, record) = match checker.check(&self.store, domain_id, now).await {
                    Ok((check, record)) => {
                        let a = &check.assessment;
                        let outcome = if a.stale {
                            Severity::Unknown
                        } else if a.not_found || a.status.iter().any(|s| is_alarming_status(s)) {
                            Severity::Critical
                        } else {
                            Severity::Ok
                        };
                        (outcome, Some(Box::new(record)))
                    }
                    Err(error) => {
                        tracing::error!(domain.name = %name, %error, "cannot look a registration up");
                        (Severity::Unknown, None)
                    }
                };
                let _ =
                    self.lookups_pending
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                ItemResult::Registration {
                    domain_id,
                    outcome,
                    record,
                }
            }
            WorkItem::Gone { kind, item_id } => ItemResult::Gone { kind, item_id },
        }
    }
}

/// The TLS mode stored for an endpoint (`auto` follows the port).
pub fn tls_mode_of(stored: &str, port: u16) -> TlsMode {
    TlsMode::from_stored(stored, port)
}

/// Backoff after `failures` consecutive failed checks.
pub fn retry_after(failures: u32, settings: &EngineSettings) -> TimeDelta {
    crate::domain::backoff(settings.retry_base, settings.retry_cap, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_certificate_checks_back_off_exponentially_up_to_the_cap() {
        let settings = EngineSettings {
            concurrency: 1,
            registration_concurrency: 1,
            batch_size: 1,
            shutdown_grace: Duration::from_secs(1),
            retry_base: TimeDelta::minutes(15),
            retry_cap: TimeDelta::hours(24),
            lease: Duration::from_secs(60),
        };
        assert_eq!(retry_after(1, &settings), TimeDelta::minutes(15));
        assert_eq!(retry_after(2, &settings), TimeDelta::minutes(30));
        assert_eq!(retry_after(4, &settings), TimeDelta::hours(2));
        assert_eq!(retry_after(40, &settings), TimeDelta::hours(24));
    }

    #[test]
    fn stored_tls_mode_auto_follows_the_port() {
        assert_eq!(tls_mode_of("auto", 587), TlsMode::StartTlsSmtp);
        assert_eq!(tls_mode_of("auto", 443), TlsMode::Direct);
        assert_eq!(tls_mode_of("imap", 10143), TlsMode::StartTlsImap);
    }
}
