//! The running `lapse serve`: what starts, and the order it stops in.
//!
//! Start: the outbox sender is built first, so a bad transport fails before
//! anything runs; the scheduler builds its engine in its own task; the staff
//! digest loop runs when `alerts.staff_delivery = "digest"`; then HTTP.
//! Starting contacts nobody: the RDAP bootstrap is fetched when a scan first
//! needs a registration lookup.
//!
//! Stop, once the shutdown future resolves (or the HTTP server ends by
//! itself), in this order, because every part writes through the one pool:
//! 1. one stop signal: HTTP stops accepting, the scheduler starts no scan,
//!    the engine takes no more items, sender and digest stop after their
//!    current round;
//! 2. the scheduler gets `scan.shutdown_grace` + 5 s for in-flight checks to
//!    finish and be recorded (aborted after that: the scan resumes at the
//!    next start);
//! 3. the sender and the digest loop end;
//! 4. HTTP gets `server.shutdown_grace` for requests in flight;
//! 5. only then is the pool closed, when nothing uses it any more.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};

use super::{alert_settings, build_engine, scheduler_settings, sender, Alerting, App, AppError};
use crate::api::{self, ApiState};
use crate::config::StaffDelivery;
use crate::monitor::digest;
use crate::monitor::engine::{Clock, ProgressFn, ScanOutcome, SystemClock};
use crate::monitor::schedule::run_scheduler;
use crate::store::ScanScope;
use crate::web::{self, WebState};

/// What the HTTP task ends with.
type HttpEnd = Result<std::io::Result<()>, JoinError>;

/// `lapse serve`: binds `server.listen` and runs until SIGINT/SIGTERM.
pub async fn serve_until_signal(app: App) -> Result<(), AppError> {
    let listener = bind(&app).await?;
    run(app, listener, shutdown_signal()).await
}

/// `lapse scan`: one scan of `scope` in the foreground on the system clock;
/// SIGINT/SIGTERM stops it taking work (the scan is left `interrupted` and
/// resumed by the next run of the same scope).
pub async fn scan_in_foreground(
    app: &App,
    scope: &ScanScope,
    progress: Option<ProgressFn>,
) -> Result<ScanOutcome, AppError> {
    let engine = build_engine(app, Arc::new(SystemClock), Alerting::On).await?;
    let (stop_tx, stop) = watch::channel(false);
    let on_signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let outcome = engine.run(scope, stop, progress).await;
    on_signal.abort();
    Ok(outcome?)
}

/// Binds `server.listen`.
pub async fn bind(app: &App) -> Result<TcpListener, AppError> {
    let address = app.config.server.listen;
    TcpListener::bind(address)
        .await
        .map_err(|source| AppError::Listen { address, source })
}

/// Runs all of `lapse serve` on `listener` until `shutdown` resolves, then
/// stops in order (see the module comment) and closes the pool.
pub async fn run<F>(app: App, listener: TcpListener, shutdown: F) -> Result<(), AppError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let sender = sender(&app)?;
    let listen = listener.local_addr().unwrap_or(app.config.server.listen);
    tracing::info!(server.listen = %listen, db = %app.store.location(), "lapse serving");
    let (stop_tx, stop) = watch::channel(false);
    let scheduler = tokio::spawn(schedule(app.clone(), stop.clone()));
    let delivery = tokio::spawn(sender.run(stopped(stop.clone())));
    let digests = (app.config.alerts.staff_delivery == StaffDelivery::Digest).then(|| {
        tokio::spawn(digest::run(
            app.store.clone(),
            alert_settings(&app.config),
            app.config.alerts.digest_cron.clone(),
            stopped(stop.clone()),
        ))
    });
    let client_digests = tokio::spawn(digest::run_client_digests(
        app.store.clone(),
        alert_settings(&app.config),
        app.config.schedule.timezone,
        stopped(stop.clone()),
    ));
    let mut http = tokio::spawn(serve_http(app.clone(), listener, stopped(stop)));
    let ended_early = tokio::select! {
        () = shutdown => None,
        end = &mut http => Some(end),
    };
    let _ = stop_tx.send(true);
    let scan_grace = app.config.scan.shutdown_grace + Duration::from_secs(5);
    drain(scheduler, scan_grace, || {
        tracing::warn!(
            "scheduler still busy after the scan grace period; the scan resumes at the next start"
        );
    })
    .await;
    let _ = delivery.await;
    if let Some(digests) = digests {
        let _ = digests.await;
    }
    let _ = client_digests.await;
    let http_end = match ended_early {
        Some(end) => Some(end),
        None => {
            let grace = app.config.server.shutdown_grace;
            drain(http, grace, || {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "requests still in flight after the grace period; stopping anyway"
                );
            })
            .await
        }
    };
    app.store.close().await;
    finish(http_end)
}

/// Serves HTTP only on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish and closes the pool. For tests of the API
/// alone; `lapse serve` is [`run`].
pub async fn serve<F>(app: App, listener: TcpListener, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_http(app.clone(), listener, shutdown).await?;
    app.store.close().await;
    Ok(())
}

/// The API router on `listener` until `shutdown`; leaves the pool open.
async fn serve_http<F>(app: App, listener: TcpListener, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let state = ApiState::new(app.store.clone(), &app.config);
    let router = api::router(state.clone()).merge(web::router(WebState::new(state, &app.config)));
    // The peer's address reaches handlers (the web sign-in limits per address).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The scheduler task: builds the engine, then runs until `stop`. Without an
/// engine the server still answers (and `/readyz` says the scheduler is
/// missing).
async fn schedule(app: App, stop: watch::Receiver<bool>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match build_engine(&app, clock.clone(), Alerting::On).await {
        Ok(engine) => {
            tracing::info!(schedule.scan = %app.config.schedule.scan, schedule.timezone = %app.config.schedule.timezone, "scheduler started");
            run_scheduler(
                Arc::new(engine),
                scheduler_settings(&app.config),
                clock,
                stop,
            )
            .await;
        }
        Err(error) => tracing::error!(%error, "scheduler not started"),
    }
}

/// Resolves once `stop` says so (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Waits `grace` for `task`; past that, says so with `late` and aborts it,
/// so that nothing of it runs once the pool is closed. `None` when aborted.
async fn drain<T>(
    mut task: JoinHandle<T>,
    grace: Duration,
    late: impl FnOnce(),
) -> Option<Result<T, JoinError>> {
    match tokio::time::timeout(grace, &mut task).await {
        Ok(end) => Some(end),
        Err(_) => {
            late();
            task.abort();
            let _ = task.await;
            None
        }
    }
}

fn finish(http_end: Option<HttpEnd>) -> Result<(), AppError> {
    match http_end {
        // Still serving after the grace period: stopped anyway, as warned.
        None => Ok(()),
        Some(Ok(Ok(()))) => {
            tracing::info!("lapse stopped");
            Ok(())
        }
        Some(Ok(Err(e))) => Err(AppError::Server(e)),
        Some(Err(e)) => Err(AppError::ServerTask(e)),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutting down"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutting down"),
    }
}
