//! Composition root: builds everything from a [`Config`] and runs the
//! server. The server takes a bound listener and a shutdown future so that
//! tests bind port 0 and stop cleanly.

use std::future::Future;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::monitor::alerts::AlertSettings;
use crate::monitor::engine::{Clock, Engine, EngineSettings};
use crate::monitor::registration::RegistrationChecker;
use crate::monitor::schedule::SchedulerSettings;
use crate::notify::email::SmtpMailer;
use crate::notify::webhook::WebhookClient;
use crate::notify::{MailTransport, Sender, SenderSettings};
use crate::probe::tls::{TlsProbe, TlsProbeSettings};
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
        per_address_concurrency: 0,
    }
}

/// The scan engine with everything it needs. Registration lookups load the
/// RDAP bootstrap (cached, or fetched); that failing is logged, not fatal.
pub async fn build_engine(app: &App, clock: std::sync::Arc<dyn Clock>) -> Result<Engine, String> {
    let mut probe_settings = tls_probe_settings(&app.config);
    probe_settings.per_address_concurrency = app.config.scan.per_address_concurrency;
    let probe =
        TlsProbe::new(probe_settings).map_err(|e| format!("cannot set up the TLS probe: {e}"))?;
    let registration = RegistrationChecker::build(&app.config, &app.store, clock.now())
        .await
        .map_err(|e| format!("cannot set up registration lookups: {e}"))?
        .with_policy(app.config.schedule.recheck_policy());
    Ok(Engine::new(
        app.store.clone(),
        probe,
        Some(registration),
        EngineSettings::from_config(&app.config),
        clock,
    )
    .with_alerts_if(
        std::env::var_os("LAPSE_BENCH_NO_ALERTS").is_none(),
        alert_settings(&app.config),
    ))
}

pub fn scheduler_settings(config: &Config) -> SchedulerSettings {
    SchedulerSettings {
        cron: config.schedule.cron(),
        timezone: config.schedule.timezone,
        jitter: config.schedule.jitter,
        due_poll: config.schedule.due_poll,
    }
}

/// What evaluation needs from the configuration.
pub fn alert_settings(config: &Config) -> AlertSettings {
    AlertSettings::from_config(config)
}

/// The email transport the configuration asks for: SMTP when `smtp.host`
/// is set, else the log (messages stay in the outbox).
pub fn mail_transport(config: &Config) -> Result<MailTransport, String> {
    match &config.smtp.host {
        Some(host) => SmtpMailer::new(host, &config.smtp, config.tls.extra_ca_pem.as_deref())
            .map(|mailer| MailTransport::Smtp(Box::new(mailer)))
            .map_err(|e| e.to_string()),
        None => Ok(MailTransport::Log),
    }
}

/// The outbox sender, with the configured transports.
pub fn sender(app: &App) -> Result<Sender, String> {
    let mail = mail_transport(&app.config)?;
    let webhooks = WebhookClient::new(&app.config.webhooks, app.config.tls.extra_ca_pem.as_deref())
        .map_err(|e| format!("webhooks: {e}"))?;
    Ok(Sender::new(
        app.store.clone(),
        mail,
        webhooks,
        SenderSettings::from(&app.config.outbox),
    ))
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
