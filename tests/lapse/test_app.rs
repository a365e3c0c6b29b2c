//! `TestApp`: a real lapse server on 127.0.0.1:0 over a real SQLite file,
//! with a token per role and a small fleet, for the API tests.
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
use lapse::api::auth::{generate_token, hash_token};
use lapse::domain::access::Role;
use lapse::domain::certificate::Severity;
use lapse::domain::names::HostName;
use lapse::domain::observation::CertObservation;
use lapse::store::NewToken;
use lapse::store::Store;
use serde_json::Value;

use crate::support::TestEnv;

/// Builds a [`TestApp`].
#[derive(Default)]
pub struct TestAppBuilder {
    config: String,
    fleet: bool,
}

impl TestAppBuilder {
    /// Extra TOML for the config file (e.g. an `[api]` section).
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push_str(toml);
        self.config.push('\n');
        self
    }

    /// Without the Acme/Globex fleet (tokens are still made).
    pub fn empty(mut self) -> Self {
        self.fleet = false;
        self
    }

    pub async fn build(self) -> TestApp {
        let env = TestEnv::with_config(&self.config);
        let config = lapse::config::Config::load(&lapse::config::LoadOptions {
            explicit_path: Some(env.config_path()),
        })
        .expect("config");
        let app = lapse::app::App::build(config).await.expect("app");
        let store = app.store.clone();
        let now = Utc::now();
        let mut tokens = HashMap::new();
        let mut ids = HashMap::new();
        if self.fleet {
            seed_fleet(&store, now, &mut ids).await;
        }
        for (key, role, client) in [
            ("admin", Role::Admin, None),
            ("staff", Role::Staff, None),
            ("viewer", Role::Viewer, None),
            ("acme", Role::Client, Some("Acme")),
            ("globex", Role::Client, Some("Globex")),
        ] {
            if client.is_some() && !self.fleet {
                continue;
            }
            let secret = generate_token();
            store
                .create_api_token(
                    &NewToken {
                        name: key.into(),
                        role,
                        client: client.map(str::to_owned),
                        token_hash: hash_token(&secret),
                    },
                    now,
                )
                .await
                .expect("token");
            tokens.insert(key.to_owned(), secret);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(lapse::app::serve(app, listener, async {
            let _ = stopped.await;
        }));
        TestApp {
            env,
            addr,
            store,
            tokens,
            ids,
            http: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }
}

/// A running server and handles on what it serves.
pub struct TestApp {
    pub env: TestEnv,
    pub addr: SocketAddr,
    /// The same database, for arranging facts the API does not write.
    pub store: Store,
    tokens: HashMap<String, String>,
    /// Ids of the fleet's rows: `acme`, `globex` (clients), `www.acme.test`,
    /// `mail.acme.test`, `www.globex.test`, `orphan.test` (endpoints).
    pub ids: HashMap<String, i64>,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
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
        TestAppBuilder {
            fleet: true,
            ..TestAppBuilder::default()
        }
    }

    pub async fn new() -> Self {
        Self::builder().build().await
    }

    /// The secret of a token: `admin`, `staff`, `viewer`, `acme`, `globex`.
    pub fn token(&self, who: &str) -> &str {
        self.tokens
            .get(who)
            .map(String::as_str)
            .expect("known token")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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

    /// Sets a domain's assessed registration expiry, standing in for the
    /// registration checker (which writes these columns).
    pub async fn set_registration_expiry(&self, domain: &str, expires_at: &str) {
        let pool = self.pool().await;
        sqlx::query(
            "UPDATE domains SET expires_at = ?, expires_source = 'registry_rdap' WHERE name = ?",
        )
        .bind(expires_at)
        .bind(domain)
        .execute(&pool)
        .await
        .expect("update");
        pool.close().await;
    }

    /// A second connection to the database file, for arranging rows.
    pub async fn pool(&self) -> sqlx::SqlitePool {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.env.path("lapse.db"))
            .busy_timeout(Duration::from_secs(5));
        sqlx::SqlitePool::connect_with(options).await.expect("pool")
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

async fn seed_fleet(store: &Store, now: DateTime<Utc>, ids: &mut HashMap<String, i64>) {
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
    let clients = store.list_clients().await.expect("clients");
    let pool = store_pool(store).await;
    for c in clients {
        let id: i64 = sqlx::query_scalar("SELECT id FROM clients WHERE name = ?")
            .bind(&c.name)
            .fetch_one(&pool)
            .await
            .expect("client id");
        ids.insert(c.name.to_ascii_lowercase(), id);
    }
    for domain in ["acme.test", "globex.test"] {
        sqlx::query(
            "INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at)
             SELECT id, 'registration_expiry', 'x', 'firing', ? FROM domains WHERE name = ?",
        )
        .bind(lapse::store::format_time(now))
        .bind(domain)
        .execute(&pool)
        .await
        .expect("alert");
        sqlx::query(
            "INSERT INTO registration_facts (domain_id, source, server, outcome, expires_at, registrar, status, nameservers, fetched_at)
             SELECT id, 'registry_rdap', 'https://rdap.example/domain/', 'found', '2030-01-01T00:00:00Z', 'Example Registrar', '[\"clientTransferProhibited\"]', '[\"ns1.example.net\"]', ? FROM domains WHERE name = ?",
        )
        .bind(lapse::store::format_time(now))
        .bind(domain)
        .execute(&pool)
        .await
        .expect("fact");
    }
    pool.close().await;
}

async fn store_pool(store: &Store) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(store.path())
        .busy_timeout(Duration::from_secs(5));
    sqlx::SqlitePool::connect_with(options).await.expect("pool")
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
