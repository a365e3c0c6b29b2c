//! Composition root: builds everything from a [`Config`] and runs the
//! server. The server takes a bound listener and a shutdown future so that
//! tests bind port 0 and stop cleanly.

use std::future::Future;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::probe::tls::TlsProbeSettings;
use crate::store::{Store, StoreError};

/// Everything a command needs, built once.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub store: Store,
}

impl App {
    /// Opens the database (applying migrations).
    pub async fn build(config: Config) -> Result<Self, StoreError> {
        let started = Instant::now();
        let store = Store::open(&config.database).await?;
        tracing::debug!(
            db.path = %config.database.path.display(),
            duration_ms = started.elapsed().as_millis() as u64,
            "database open"
        );
        Ok(Self { config, store })
    }
}

/// The TLS probe's settings from the configuration.
pub fn tls_probe_settings(config: &Config) -> TlsProbeSettings {
    TlsProbeSettings {
        connect_timeout: config.tls.connect_timeout,
        handshake_timeout: config.tls.handshake_timeout,
        deadline: config.tls.deadline,
        nameservers: config.dns.nameservers.clone(),
        allow_ranges: config.targets.allow_ranges.clone(),
        extra_ca_pem: config.tls.extra_ca_pem.clone(),
        expiring_within_days: config.alerts.certificate_warning_days(),
        max_chain_bytes: config.tls.max_chain_bytes,
    }
}

/// Serves HTTP on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn serve<F>(app: App, listener: TcpListener, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let router = api::router(ApiState::new(app.store.clone(), &app.config));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    app.store.close().await;
    Ok(())
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
