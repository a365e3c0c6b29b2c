//! A lab for alert tests: a lapse installation (config file, SQLite) with a
//! client and its contacts, loopback TLS servers serving certificates of
//! chosen validity, the real probe, and "scans" that record observations
//! and call the alert hook exactly as the scan engine will.

use chrono::{DateTime, Duration, Utc};
use lapse::app::{self, App};
use lapse::config::{Config, LoadOptions};
use lapse::domain::names::HostName;
use lapse::monitor::alerts::{
    evaluate_endpoint, evaluate_scan, AlertSettings, FailureMode, ScanSummary,
};
use lapse::notify::{DeliveryReport, Sender};
use lapse::probe::tls::{TlsProbe, TlsProbeSettings, TlsTarget};
use lapse::store::{AppliedChanges, OutboxListing, Store};

use crate::support::TestEnv;
use crate::tls_support::{ip, Issued, Prelude, TestPki, TlsServer, Validity};

pub const CLIENT: &str = "Acme";
pub const CONTACTS: [&str; 2] = ["ops@acme.test", "cto@acme.test"];
pub const STAFF: &str = "staff@agency.test";

/// Config for a plain SMTP sink on `port`, staff in copy.
pub fn smtp_config(port: u16, extra: &str) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"lapse <lapse@agency.test>\"\ntimeout_secs = 5\n\n[alerts]\nstaff = [\"{STAFF}\"]\n{extra}"
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

pub struct Lab {
    pub env: TestEnv,
    pub app: App,
    pub pki: TestPki,
    pub probe: TlsProbe,
    pub sites: Vec<Site>,
    pub scans: i64,
}

impl Lab {
    /// A lab whose config file has `config` appended.
    pub async fn new(config: &str) -> Self {
        let env = TestEnv::with_config(config);
        let config = Config::load(&LoadOptions {
            explicit_path: Some(env.config_path()),
        })
        .expect("config");
        let app = App::build(config).await.expect("app");
        let contacts: Vec<String> = CONTACTS.iter().map(|c| (*c).to_owned()).collect();
        app.store
            .add_client(CLIENT, &contacts, Utc::now())
            .await
            .expect("client");
        let pki = TestPki::new();
        let probe = TlsProbe::new(TlsProbeSettings {
            connect_timeout: std::time::Duration::from_secs(2),
            handshake_timeout: std::time::Duration::from_secs(3),
            deadline: std::time::Duration::from_secs(10),
            allow_ranges: vec!["127.0.0.0/8".parse().expect("range")],
            extra_ca_pem: Some(pki.root_pem()),
            ..TlsProbeSettings::default()
        })
        .expect("probe");
        Self {
            env,
            app,
            pki,
            probe,
            sites: Vec::new(),
            scans: 0,
        }
    }

    pub fn store(&self) -> &Store {
        &self.app.store
    }

    pub fn settings(&self) -> AlertSettings {
        app::alert_settings(&self.app.config)
    }

    pub fn sender(&self) -> Sender {
        app::sender(&self.app).expect("sender")
    }

    /// A leaf for `host` valid from `from_days` to `to_days` around the
    /// PKI's `now` (plus 12 hours, so "days left" is exactly `to_days`).
    pub fn leaf(&self, host: &str, from_days: i64, to_days: i64) -> Issued {
        self.pki
            .leaf(&[host], Validity::days(self.pki.now, from_days, to_days))
    }

    /// Watches `host` (under `lapse.test`, client Acme) and serves `leaf` for it.
    pub async fn site(&mut self, host: &str, leaf: &Issued) -> usize {
        self.app
            .store
            .add_endpoint(
                &HostName::from_canonical(host),
                443,
                &HostName::from_canonical("lapse.test"),
                Some(CLIENT),
                Utc::now(),
            )
            .await
            .expect("add endpoint");
        let endpoint_id = self
            .app
            .store
            .endpoint_id(&HostName::from_canonical(host), 443)
            .await
            .expect("endpoint id");
        let server = TlsServer::start(ip("127.0.0.1"), self.pki.served(leaf), leaf.key_der()).await;
        self.sites.push(Site {
            host: host.to_owned(),
            endpoint_id,
            port: server.addr.port(),
            server: Some(server),
        });
        self.sites.len() - 1
    }

    /// The site (again) serves `leaf` on its port: a renewal, or back up.
    pub async fn serve(&mut self, site: usize, leaf: &Issued) {
        self.take_down(site).await;
        let addr = std::net::SocketAddr::new(ip("127.0.0.1"), self.sites[site].port);
        let server =
            TlsServer::start_on(addr, self.pki.served(leaf), leaf.key_der(), Prelude::None).await;
        self.sites[site].server = Some(server);
    }

    /// The site stops answering: connection refused. (Dropping the server
    /// aborts its task; the listener closes when the runtime gets to it.)
    pub async fn take_down(&mut self, site: usize) {
        self.sites[site].server = None;
        let addr = std::net::SocketAddr::new(ip("127.0.0.1"), self.sites[site].port);
        for _ in 0..250 {
            if std::net::TcpListener::bind(addr).is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the server on {addr} did not stop");
    }

    /// What the scan engine does for each endpoint, then at the end of the
    /// scan: probe, record, evaluate (failures deferred), evaluate the scan.
    pub async fn scan(&mut self, now: DateTime<Utc>) -> AppliedChanges {
        self.scans += 1;
        let settings = self.settings();
        let mut applied = AppliedChanges::default();
        let mut failed = 0;
        for site in &self.sites {
            let target =
                TlsTarget::new(site.host.as_str(), site.port).with_pinned_address(ip("127.0.0.1"));
            let report = self.probe.check(&target, now).await;
            if report.severity() == lapse::domain::certificate::Severity::Unknown {
                failed += 1;
            }
            self.app
                .store
                .record_cert_observations(site.endpoint_id, &report.observations(), now)
                .await
                .expect("record");
            applied.absorb(
                evaluate_endpoint(
                    &self.app.store,
                    &settings,
                    site.endpoint_id,
                    FailureMode::DeferToScan,
                    now,
                )
                .await
                .expect("evaluate endpoint"),
            );
        }
        let summary = ScanSummary {
            scan_id: self.scans,
            checks_total: u32::try_from(self.sites.len()).expect("count"),
            checks_failed: failed,
        };
        applied.absorb(
            evaluate_scan(&self.app.store, &settings, &summary, now)
                .await
                .expect("evaluate scan"),
        );
        applied
    }

    /// Probes and records every site, without evaluating alerts (for tests
    /// where a `lapse` process evaluates).
    pub async fn record(&self, now: DateTime<Utc>) {
        for site in &self.sites {
            let target =
                TlsTarget::new(site.host.as_str(), site.port).with_pinned_address(ip("127.0.0.1"));
            let report = self.probe.check(&target, now).await;
            self.app
                .store
                .record_cert_observations(site.endpoint_id, &report.observations(), now)
                .await
                .expect("record");
        }
    }

    pub async fn deliver(&self, now: DateTime<Utc>) -> DeliveryReport {
        self.sender().deliver_due(now).await.expect("deliver")
    }

    pub async fn outbox(&self) -> Vec<OutboxListing> {
        self.app
            .store
            .list_outbox(None, 1000)
            .await
            .expect("outbox")
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.pki.now
    }

    pub fn later(&self, hours: i64) -> DateTime<Utc> {
        self.pki.now + Duration::hours(hours)
    }
}
