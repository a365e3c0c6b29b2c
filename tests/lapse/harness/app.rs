//! `TestApp`: one lapse installation for a test, built by composition.
//!
//! [`TestApp::builder`] gives a temporary directory with a config file and
//! a SQLite store, a [`TestClock`] starting at the PKI's `now`, a test PKI
//! whose root the config trusts, and loopback-only targets allowed. On top,
//! as the test asks: `.fleet()` (a small fleet, below), `.api()` (the HTTP
//! API in-process on 127.0.0.1:0 with a token per role), `.client(..)` (a
//! client with contacts, for alert tests), `.rdap()` (a loopback registry
//! where every `.test` domain is healthy), `.memory_mail()` (the sender keeps
//! emails in memory instead of the configured transport), `.config(..)`.
//! Sites and scans through the real engine are in `sites.rs`.
//!
//! The fleet: clients Acme (domain `acme.test`: endpoints `www.acme.test:443`
//! and `mail.acme.test:587`) and Globex (domain `globex.test`: endpoint
//! `www.globex.test:443`), and `orphan.test` without a client. Each
//! endpoint has a current observation; `acme.test` and `globex.test` each
//! have a firing alert and a registration fact.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lapse::app::App;
use lapse::config::{Config, LoadOptions};
use lapse::domain::access::Role;
use lapse::domain::certificate::Severity;
use lapse::domain::names::HostName;
use lapse::domain::observation::CertObservation;
use lapse::monitor::engine::Engine;
use lapse::notify::{MailTransport, Mailbox, Sender, SenderSettings};
use lapse::store::Store;
use serde_json::Value;

use super::cli::TestEnv;
use super::clock::TestClock;
use super::pki::TestPki;
use super::registry::{registered_until, RdapServer};
use super::sites::Site;

/// Builds a [`TestApp`].
#[derive(Default)]
pub struct TestAppBuilder {
    config: String,
    fleet: bool,
    api: bool,
    rdap: bool,
    memory_mail: bool,
    client: Option<(String, Vec<String>)>,
    pki: Option<TestPki>,
}

impl TestAppBuilder {
    /// Extra TOML for the config file (e.g. an `[api]` section). The
    /// builder writes `[tls]` and `[targets]` itself (and `[rdap]` with
    /// `.rdap()`).
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push_str(toml);
        self.config.push('\n');
        self
    }

    /// The Acme/Globex fleet (see the module docs).
    pub fn fleet(mut self) -> Self {
        self.fleet = true;
        self
    }

    /// Serves the HTTP API in-process, with a token per role.
    pub fn api(mut self) -> Self {
        self.api = true;
        self
    }

    /// A client with these contacts.
    pub fn client(mut self, name: &str, contacts: &[&str]) -> Self {
        self.client = Some((
            name.to_owned(),
            contacts.iter().map(|c| (*c).to_owned()).collect(),
        ));
        self
    }

    /// A loopback RDAP registry where every `.test` domain is registered
    /// for two more years, unpaced (the builder writes `[rdap]` and
    /// `[ratelimit]`).
    pub fn rdap(mut self) -> Self {
        self.rdap = true;
        self
    }

    /// The sender keeps emails in memory ([`TestApp::mailbox`]).
    pub fn memory_mail(mut self) -> Self {
        self.memory_mail = true;
        self
    }

    /// Uses this PKI (e.g. one that already issued a mail server's
    /// certificate) instead of a fresh one.
    pub fn pki(mut self, pki: TestPki) -> Self {
        self.pki = Some(pki);
        self
    }

    pub async fn build(self) -> TestApp {
        let pki = self.pki.unwrap_or_else(TestPki::new);
        let clock = TestClock::at(pki.now);
        let rdap = if self.rdap {
            Some(registered_until(pki.now + chrono::Duration::days(730)).await)
        } else {
            None
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("test-ca.pem");
        std::fs::write(&ca, pki.root_pem()).expect("write CA");
        let mut config = format!(
            "[tls]\nextra_ca_file = \"{}\"\nconnect_timeout_ms = 2000\nhandshake_timeout_ms = 3000\ndeadline_ms = 10000\n\n\
             [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\n",
            ca.display()
        );
        if let Some(rdap) = &rdap {
            // Unpaced: the loopback registry is no public server, and the
            // pacer waits on the system clock, not the test's.
            config.push_str(&format!(
                "[rdap]\nbootstrap_url = \"{}\"\n\n[ratelimit]\nper_second = 1000.0\nburst = 100\n\n",
                rdap.url("/bootstrap.json")
            ));
        }
        config.push_str(&self.config);
        let env = TestEnv::in_dir(dir, &config);
        let loaded = Config::load(&LoadOptions {
            explicit_path: Some(env.config_path()),
        })
        .expect("config");
        let app = App::build(loaded).await.expect("app");
        let store = app.store.clone();
        let now = clock.now();
        let mut ids = HashMap::new();
        if let Some((name, contacts)) = &self.client {
            store.add_client(name, contacts, now).await.expect("client");
        }
        if self.fleet {
            seed_fleet(&env, &store, now, &mut ids).await;
        }
        let mut test_app = TestApp {
            env,
            app,
            store,
            clock,
            pki,
            sites: Vec::new(),
            tokens: HashMap::new(),
            ids,
            http: reqwest::Client::new(),
            addr: None,
            stop: None,
            server: None,
            mailbox: self.memory_mail.then(Mailbox::default),
            engines: Engines::default(),
            _rdap: rdap,
        };
        if self.api {
            test_app.serve_api(self.fleet).await;
        }
        test_app
    }
}

/// The engines of a test, built on first use: one that decides alerts as
/// `serve` and `lapse scan` do, one that only records (as before a
/// `lapse alerts evaluate`).
#[derive(Default)]
pub(super) struct Engines {
    pub alerting: tokio::sync::OnceCell<Engine>,
    pub recording: tokio::sync::OnceCell<Engine>,
}

/// A lapse installation and handles on what it runs.
pub struct TestApp {
    pub env: TestEnv,
    pub app: App,
    /// The same database, for arranging and reading facts.
    pub store: Store,
    pub clock: TestClock,
    pub pki: TestPki,
    /// Watched loopback TLS sites (see `sites.rs`).
    pub sites: Vec<Site>,
    tokens: HashMap<String, String>,
    /// Ids of the fleet's rows: `acme`, `globex` (clients), `www.acme.test`,
    /// `mail.acme.test`, `www.globex.test`, `orphan.test` (endpoints).
    pub ids: HashMap<String, i64>,
    http: reqwest::Client,
    addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    mailbox: Option<Mailbox>,
    pub(super) engines: Engines,
    _rdap: Option<RdapServer>,
}

/// A response: status, headers and body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> Option<&str> {
        self.json["error"]["field"].as_str()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// The API tests' default: the fleet, served over HTTP.
    pub async fn new() -> Self {
        Self::builder().fleet().api().build().await
    }

    /// Tokens for every role (clients' only with the fleet), then the API
    /// on 127.0.0.1:0.
    async fn serve_api(&mut self, fleet: bool) {
        let now = self.clock.now();
        for (key, role, client) in [
            ("admin", Role::Admin, None),
            ("staff", Role::Staff, None),
            ("viewer", Role::Viewer, None),
            ("acme", Role::Client, Some("Acme")),
            ("globex", Role::Client, Some("Globex")),
        ] {
            if client.is_some() && !fleet {
                continue;
            }
            let created = lapse::inventory::tokens::create_token(
                &self.store,
                key.into(),
                role,
                client.map(str::to_owned),
                now,
            )
            .await
            .expect("token");
            self.tokens.insert(key.to_owned(), created.secret);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        self.addr = Some(listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.server = Some(tokio::spawn(lapse::app::serve(
            self.app.clone(),
            listener,
            async {
                let _ = stopped.await;
            },
        )));
    }

    /// The secret of a token: `admin`, `staff`, `viewer`, `acme`, `globex`.
    pub fn token(&self, who: &str) -> &str {
        self.tokens
            .get(who)
            .map(String::as_str)
            .expect("known token")
    }

    /// Where the API listens (built with `.api()`).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("built with .api()")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Sends a request; `who` names a token (or `None`), `body` is JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        who: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(who) = who {
            request = request.bearer_auth(self.token(who));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, who: &str) -> Reply {
        self.call("GET", path, Some(who), None).await
    }

    /// A raw request for bodies that are not JSON.
    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Reply {
        reply(request.send().await.expect("request")).await
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `hours` after the start of the test (the PKI's `now`).
    pub fn later(&self, hours: i64) -> DateTime<Utc> {
        self.pki.now + chrono::Duration::hours(hours)
    }

    /// The outbox sender: the configured transports, or memory with
    /// `.memory_mail()`.
    pub fn sender(&self) -> Sender {
        let Some(mailbox) = &self.mailbox else {
            return lapse::app::sender(&self.app).expect("sender");
        };
        let config = &self.app.config;
        let channels = lapse::notify::channels::ChannelClient::new(config).expect("channels");
        Sender::new(
            self.store.clone(),
            MailTransport::Memory(mailbox.clone()),
            channels,
            SenderSettings::from(&config.outbox),
        )
    }

    /// What the in-memory transport sent (built with `.memory_mail()`).
    pub fn mailbox(&self) -> &Mailbox {
        self.mailbox.as_ref().expect("built with .memory_mail()")
    }

    /// Delivers what is due at `now`, as the sender in `serve` does.
    pub async fn deliver(&self, now: DateTime<Utc>) -> lapse::notify::DeliveryReport {
        self.sender().deliver_due(now).await.expect("deliver")
    }

    pub async fn outbox(&self) -> Vec<lapse::store::OutboxItem> {
        self.store.list_outbox(None, 1000).await.expect("outbox")
    }

    /// What alert evaluation needs from the configuration.
    pub fn settings(&self) -> lapse::monitor::alerts::AlertSettings {
        lapse::app::alert_settings(&self.app.config)
    }

    /// `lapse domains add DOMAIN --client CLIENT --registration-only`: the
    /// client owns the registration; no endpoint is watched.
    pub async fn add_registration_only(&self, domain: &str, client: &str) {
        lapse::inventory::add_target(
            &self.store,
            &self.app.config.names.policy(),
            443,
            domain,
            &lapse::inventory::AddOptions {
                client: Some(client.to_owned()),
                watch: Some(lapse::domain::fleet::Watch::Registration),
                ..lapse::inventory::AddOptions::default()
            },
            self.now(),
        )
        .await
        .expect("add");
    }

    /// Sets a domain's assessed registration expiry, standing in for the
    /// registration checker (which writes these columns).
    pub async fn set_registration_expiry(&self, domain: &str, expires_at: &str) {
        let pool = self.pool().await;
        sqlx::query(
            "UPDATE domains SET expires_at = $1, expires_source = 'registry_rdap' WHERE name = $2",
        )
        .bind(expires_at)
        .bind(domain)
        .execute(&pool)
        .await
        .expect("update");
        pool.close().await;
    }

    /// A second connection to the database file, for arranging rows no
    /// use case writes.
    pub async fn pool(&self) -> sqlx::AnyPool {
        self.env.db().await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("server stops")
                .expect("join")
                .expect("serve ok");
        }
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        json,
    }
}

async fn seed_fleet(
    env: &TestEnv,
    store: &Store,
    now: DateTime<Utc>,
    ids: &mut HashMap<String, i64>,
) {
    store
        .add_client("Acme", &["ops@acme.example".to_owned()], now)
        .await
        .expect("acme");
    store
        .add_client("Globex", &["it@globex.example".to_owned()], now)
        .await
        .expect("globex");
    for (host, port, domain, client) in [
        ("www.acme.test", 443, "acme.test", Some("Acme")),
        ("mail.acme.test", 587, "acme.test", Some("Acme")),
        ("www.globex.test", 443, "globex.test", Some("Globex")),
        ("orphan.test", 443, "orphan.test", None),
    ] {
        let h = HostName::from_canonical(host);
        store
            .add_endpoint(&h, port, &HostName::from_canonical(domain), client, now)
            .await
            .expect("endpoint");
        let id = store.endpoint_id(&h, port).await.expect("id");
        ids.insert(host.to_owned(), id);
        store
            .record_cert_observations(id, &[observation("127.0.0.1", 40, now)], now)
            .await
            .expect("observation");
    }
    for name in ["Acme", "Globex"] {
        let id = store.client_id_by_name(name).await.expect("client id");
        ids.insert(name.to_ascii_lowercase(), id);
    }
    // No use case writes these two yet: an alert without going through
    // evaluation, a registration fact without a lookup.
    let pool = env.db().await;
    for domain in ["acme.test", "globex.test"] {
        sqlx::query(
            "INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at)
             SELECT id, 'registration_expiry', 'x', 'firing', $1 FROM domains WHERE name = $2",
        )
        .bind(lapse::store::format_time(now))
        .bind(domain)
        .execute(&pool)
        .await
        .expect("alert");
        sqlx::query(
            "INSERT INTO registration_facts (domain_id, source, server, outcome, expires_at, registrar, status, nameservers, fetched_at)
             SELECT id, 'registry_rdap', 'https://rdap.example/domain/', 'found', '2030-01-01T00:00:00Z', 'Example Registrar', '[\"clientTransferProhibited\"]', '[\"ns1.example.net\"]', $1 FROM domains WHERE name = $2",
        )
        .bind(lapse::store::format_time(now))
        .bind(domain)
        .execute(&pool)
        .await
        .expect("fact");
    }
    pool.close().await;
}

/// A good certificate observation expiring in `days`.
pub fn observation(address: &str, days: i64, now: DateTime<Utc>) -> CertObservation {
    let details = serde_json::json!({"chain": [{"subject": "CN=test"}], "findings": [], "tls_version": "TLSv1.3"});
    CertObservation {
        address: address.to_owned(),
        outcome: Severity::Ok,
        leaf_fingerprint: Some(format!("{days:064}")),
        leaf_not_after: Some(now + chrono::Duration::days(days)),
        chain_not_after: Some(now + chrono::Duration::days(days)),
        result_hash: lapse::domain::observation::stable_hash(&details) + &days.to_string(),
        details,
    }
}
