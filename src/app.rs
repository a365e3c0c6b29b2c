//! Composition root: builds everything from a [`Config`] and owns the
//! running process.
//!
//! - [`App`]: the configuration and the opened store, built once.
//! - Wiring: [`build_engine`], [`sender`], [`mail_transport`], [`check_endpoint`],
//!   [`tls_probe_settings`], [`scheduler_settings`], [`alert_settings`].
//! - `process.rs`: [`run`], the whole of `lapse serve` (scheduler, outbox
//!   sender, digests, HTTP) with its ordered shutdown; [`serve`], HTTP only;
//!   [`shutdown_signal`], [`serve_until_signal`]; [`scan_in_foreground`],
//!   `lapse scan` stopped by a signal. `run` and `serve` take a bound listener and a shutdown future so
//!   that tests bind port 0 and stop cleanly.
//!
//! Failures here are lapse's own ([`AppError`]); the CLI maps them to its
//! exit codes.

mod process;

pub use process::{bind, run, scan_in_foreground, serve, serve_until_signal, shutdown_signal};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::certificate::ExpiryWindow;
use crate::monitor::alerts::AlertSettings;
use crate::monitor::engine::{Clock, Engine, EngineError, EngineSettings};
use crate::monitor::registration::{RegistrationChecker, RegistrationSetupError};
use crate::monitor::schedule::SchedulerSettings;
use crate::notify::channels::ChannelClient;
use crate::notify::email::{SmtpMailer, SmtpSetupError};
use crate::notify::webhook::WebhookSetupError;
use crate::notify::{MailTransport, Sender, SenderSettings};
use crate::probe::tls::{EndpointReport, ProbeSetupError, TlsProbe, TlsProbeSettings, TlsTarget};
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
        let store = Store::open(&config.database)
            .await?
            .with_instance(&config.server.instance);
        tracing::debug!(
            db = %config.database.location(),
            duration_ms = started.elapsed().as_millis() as u64,
            "database open"
        );
        Ok(Self { config, store })
    }
}

/// lapse could not build or run one of its parts: always its own failure,
/// never the input's. The messages are the ones the CLI prints.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot set up the TLS probe: {0}")]
    TlsProbe(#[source] ProbeSetupError),
    #[error("cannot set up registration lookups: {0}")]
    Registration(#[source] RegistrationSetupError),
    #[error("{0}")]
    Smtp(#[from] SmtpSetupError),
    #[error("webhooks: {0}")]
    Webhooks(#[source] WebhookSetupError),
    #[error("cannot listen on {address} (server.listen): {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Server(#[source] std::io::Error),
    #[error("server task failed: {0}")]
    ServerTask(#[source] tokio::task::JoinError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Whether the engine decides alerts after recording results. Production
/// always does; the scan benchmark can measure the pipeline without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alerting {
    On,
    Off,
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
        critical_within_days: None,
        max_chain_bytes: config.tls.max_chain_bytes,
        per_address_concurrency: 0,
    }
}

/// `lapse check`: one endpoint, every address, now; no database. Returns
/// the report and the time it was judged at.
pub async fn check_endpoint(
    config: &Config,
    target: &TlsTarget,
    window: ExpiryWindow,
) -> Result<(EndpointReport, DateTime<Utc>), AppError> {
    let settings = TlsProbeSettings {
        expiring_within_days: window.warning_days,
        critical_within_days: window.critical_days,
        ..tls_probe_settings(config)
    };
    let probe = TlsProbe::new(settings).map_err(AppError::TlsProbe)?;
    let now = Utc::now();
    Ok((probe.check(target, now).await, now))
}

/// The scan engine with everything it needs. Nothing is fetched here: the
/// RDAP bootstrap is loaded when a lookup first needs it (cached, or
/// fetched); a failed fetch is logged and noted, not fatal.
pub async fn build_engine(
    app: &App,
    clock: Arc<dyn Clock>,
    alerting: Alerting,
) -> Result<Engine, AppError> {
    let mut probe_settings = tls_probe_settings(&app.config);
    probe_settings.per_address_concurrency = app.config.scan.per_address_concurrency;
    let probe = TlsProbe::new(probe_settings).map_err(AppError::TlsProbe)?;
    let registration = RegistrationChecker::build(&app.config, &app.store, clock.now())
        .await
        .map_err(AppError::Registration)?
        .with_policy(app.config.schedule.recheck_policy());
    let engine = Engine::new(
        app.store.clone(),
        probe,
        Some(registration),
        EngineSettings::from_config(&app.config),
        clock,
    );
    Ok(match alerting {
        Alerting::On => engine.with_alerts(alert_settings(&app.config)),
        Alerting::Off => engine,
    })
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
pub fn mail_transport(config: &Config) -> Result<MailTransport, AppError> {
    match &config.smtp.host {
        Some(host) => {
            let mailer = SmtpMailer::new(host, &config.smtp, config.tls.extra_ca_pem.as_deref())?;
            Ok(MailTransport::Smtp(Box::new(mailer)))
        }
        None => Ok(MailTransport::Log),
    }
}

/// The outbox sender, with the configured transports.
pub fn sender(app: &App) -> Result<Sender, AppError> {
    let mail = mail_transport(&app.config)?;
    let channels = ChannelClient::new(&app.config).map_err(AppError::Webhooks)?;
    Ok(Sender::new(
        app.store.clone(),
        mail,
        channels,
        SenderSettings::from(&app.config.outbox),
    ))
}
