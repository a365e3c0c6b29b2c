//! Watched loopback TLS sites and scans through the real scan engine.
//!
//! A site is an endpoint under `lapse.test` (client [`CLIENT`]) stored with
//! the loopback port its [`TlsServer`] listens on and pinned to 127.0.0.1,
//! so the engine checks it exactly as it checks any endpoint: no DNS, SNI
//! naming the host. [`TestApp::scan`] sets the test clock and runs the
//! engine built as `lapse::app::build_engine` builds it (probe, registration
//! checker, alert hook); what the scan changed is read back from the store.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use lapse::domain::names::HostName;
use lapse::monitor::engine::Engine;
use lapse::store::ScanScope;

use super::app::TestApp;
use super::ip;
use super::pki::{Issued, Validity};
use super::tls::{Prelude, TlsServer};

pub const CLIENT: &str = "Acme";
pub const CONTACTS: [&str; 2] = ["ops@acme.test", "cto@acme.test"];
pub const STAFF: &str = "staff@agency.test";

/// Config for a plain SMTP sink on `port`, staff in copy.
pub fn smtp_config(port: u16, extra: &str) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"lapse <lapse@agency.test>\"\ntimeout_secs = 5\n\n[alerts]\nstaff = [\"{STAFF}\"]\n{extra}"
    )
}

/// [`smtp_config`] without staff: each client event is one mail, to the
/// client (for tests of delivery itself, not of who hears what).
pub fn smtp_config_without_staff(port: u16, extra: &str) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"lapse <lapse@agency.test>\"\ntimeout_secs = 5\n{extra}"
    )
}

/// One watched endpoint and the server standing in for it.
pub struct Site {
    pub host: String,
    pub endpoint_id: i64,
    /// The loopback port the site is served on (refused while `server` is None).
    pub port: u16,
    pub server: Option<TlsServer>,
}

impl Site {
    /// How lapse names the endpoint in messages: `host:port` off 443.
    pub fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What one scan changed.
#[derive(Debug)]
pub struct Scanned {
    /// Message ids the scan queued.
    pub queued: Vec<String>,
    /// Alerts the scan resolved.
    pub resolved: Vec<i64>,
}

impl TestApp {
    /// The alert tests' installation: client Acme with [`CONTACTS`], a
    /// healthy loopback registry, `config` appended.
    pub async fn lab(config: &str) -> Self {
        Self::builder()
            .client(CLIENT, &CONTACTS)
            .rdap()
            .config(config)
            .build()
            .await
    }

    /// A leaf for `host` valid from `from_days` to `to_days` around the
    /// PKI's `now` (plus 12 hours, so "days left" is exactly `to_days`).
    pub fn leaf(&self, host: &str, from_days: i64, to_days: i64) -> Issued {
        self.pki
            .leaf(&[host], Validity::days(self.pki.now, from_days, to_days))
    }

    /// Watches `host` (under `lapse.test`, client Acme) and serves `leaf` for it.
    pub async fn site(&mut self, host: &str, leaf: &Issued) -> usize {
        self.site_for(host, leaf, CLIENT).await
    }

    /// [`TestApp::site`] for another client's endpoint (the client exists).
    pub async fn site_for(&mut self, host: &str, leaf: &Issued, client: &str) -> usize {
        let server = TlsServer::start(ip("127.0.0.1"), self.pki.served(leaf), leaf.key_der()).await;
        let port = server.addr.port();
        let name = HostName::from_canonical(host);
        lapse::inventory::add_target(
            &self.store,
            &self.app.config.names.policy(),
            443,
            &format!("{host}:{port}"),
            &lapse::inventory::AddOptions {
                client: Some(client.to_owned()),
                ..Default::default()
            },
            self.clock.now(),
        )
        .await
        .expect("add endpoint");
        self.store
            .pin_endpoint(&name, port, Some(ip("127.0.0.1")))
            .await
            .expect("pin");
        let endpoint_id = self.store.endpoint_id(&name, port).await.expect("id");
        self.sites.push(Site {
            host: host.to_owned(),
            endpoint_id,
            port,
            server: Some(server),
        });
        self.sites.len() - 1
    }

    /// The site (again) serves `leaf` on its port: a renewal, or back up.
    pub async fn serve(&mut self, site: usize, leaf: &Issued) {
        self.take_down(site).await;
        let addr = SocketAddr::new(ip("127.0.0.1"), self.sites[site].port);
        let server =
            TlsServer::start_on(addr, self.pki.served(leaf), leaf.key_der(), Prelude::None).await;
        self.sites[site].server = Some(server);
    }

    /// The site stops answering: connection refused. (Dropping the server
    /// aborts its task; the listener closes when the runtime gets to it, so
    /// this waits until the port is free.)
    pub async fn take_down(&mut self, site: usize) {
        self.sites[site].server = None;
        let addr = SocketAddr::new(ip("127.0.0.1"), self.sites[site].port);
        for _ in 0..250 {
            if std::net::TcpListener::bind(addr).is_ok() {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the server on {addr} did not stop");
    }

    /// A full scan at `now` by the real engine, deciding alerts.
    pub async fn scan(&self, now: DateTime<Utc>) -> Scanned {
        let engine = self
            .engines
            .alerting
            .get_or_init(|| async {
                lapse::app::build_engine(
                    &self.app,
                    std::sync::Arc::new(self.clock.clone()),
                    lapse::app::Alerting::On,
                )
                .await
                .expect("engine")
            })
            .await;
        self.run(engine, now).await
    }

    /// A full scan at `now` that records results without deciding alerts
    /// (for tests where a `lapse` process evaluates).
    pub async fn record(&self, now: DateTime<Utc>) -> Scanned {
        let engine = self
            .engines
            .recording
            .get_or_init(|| self.recording_engine())
            .await;
        self.run(engine, now).await
    }

    async fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Scanned {
        self.clock.set(now);
        let queued_before = self.outbox().await;
        let alerts_before = self.store.list_alerts(true).await.expect("alerts");
        let (_stop, stop) = tokio::sync::watch::channel(false);
        let outcome = engine.run(&ScanScope::All, stop, None).await.expect("scan");
        assert!(!outcome.interrupted, "{outcome:?}");
        let queued = self
            .outbox()
            .await
            .into_iter()
            .filter(|m| !queued_before.iter().any(|b| b.message_id == m.message_id))
            .map(|m| m.message_id)
            .collect();
        let resolved = self
            .store
            .list_alerts(true)
            .await
            .expect("alerts")
            .into_iter()
            .filter(|a| {
                a.state == "resolved"
                    && !alerts_before
                        .iter()
                        .any(|b| b.id == a.id && b.state == "resolved")
            })
            .map(|a| a.id)
            .collect();
        Scanned { queued, resolved }
    }

    /// The engine `build_engine` makes, without the alert hook.
    async fn recording_engine(&self) -> Engine {
        let clock = std::sync::Arc::new(self.clock.clone());
        lapse::app::build_engine(&self.app, clock, lapse::app::Alerting::Off)
            .await
            .expect("engine")
    }
}
