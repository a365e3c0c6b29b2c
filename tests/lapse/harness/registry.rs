//! Loopback registries for the registration tests: WHOIS servers (port 43 protocol on
//! `127.0.0.1:0`) and an RDAP server (a small HTTP/1.1 server) that serves its own bootstrap file
//! pointing the test TLD `test` at itself. Each server records when every request arrived and how
//! many were in flight at once, so tests can check pacing from the server's side.
//!
//! Domains choose the behaviour (see [`whois_behaviour`] and [`rdap_behaviour`]):
//! `example.test` answers normally, `referral.test` / `linked.test` point to the registrar,
//! `missing.test` does not exist, `ratelimited.test` / `busy.test` say "slow down",
//! `huge.test` sends 10 MB, `endless.test` never ends, `garbage.test` sends noise,
//! `reset.test` resets the connection, `noexpiry.test` has no expiration event in RDAP,
//! `unpublished.test` none in RDAP nor in WHOIS.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lapse::probe::rdap::{RdapClient, RdapSettings};
use lapse::probe::registration::RegistrationClients;
use lapse::probe::whois::{WhoisClient, WhoisSettings};
use lapse::ratelimit::{RateLimitSettings, ServerLimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The fixed clock of every test.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
        .expect("fixed now")
        .with_timezone(&Utc)
}

/// When a request arrived and what it asked.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub query: String,
}

/// What a server saw.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    active: Arc<AtomicUsize>,
    max_active: Arc<AtomicUsize>,
}

impl Journal {
    fn arrive(&self, query: &str) -> ActiveGuard {
        self.arrivals.lock().expect("journal").push(Arrival {
            at: Instant::now(),
            query: query.to_owned(),
        });
        let now_active = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now_active, Ordering::SeqCst);
        ActiveGuard(self.active.clone())
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().expect("journal").clone()
    }

    pub fn queries(&self) -> Vec<String> {
        self.arrivals().into_iter().map(|a| a.query).collect()
    }

    /// The most requests that were being served at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_active.load(Ordering::SeqCst)
    }
}

struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// WHOIS
// ---------------------------------------------------------------------------------------------

/// How the WHOIS server answers one query.
#[derive(Debug, Clone)]
pub enum WhoisReply {
    Text(String),
    Bytes(Vec<u8>),
    /// `bytes` of filler, sent as fast as the client reads.
    Huge {
        bytes: usize,
    },
    /// A line every 50 ms, for at most 30 s (a reply that never ends, as far as a test can tell).
    Endless,
    /// A few bytes, then a TCP reset.
    Reset,
    /// The text after a pause (to hold the connection open).
    Slow {
        delay: Duration,
        text: String,
    },
}

type WhoisHandler = Arc<dyn Fn(&str) -> WhoisReply + Send + Sync>;

pub struct WhoisServer {
    pub addr: SocketAddr,
    pub journal: Journal,
    task: JoinHandle<()>,
}

impl WhoisServer {
    pub async fn start(handler: impl Fn(&str) -> WhoisReply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind WHOIS server");
        let addr = listener.local_addr().expect("WHOIS address");
        let journal = Journal::default();
        let handler: WhoisHandler = Arc::new(handler);
        let task = tokio::spawn({
            let journal = journal.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let journal = journal.clone();
                    let handler = handler.clone();
                    tokio::spawn(async move { serve_whois(stream, journal, handler).await });
                }
            }
        });
        WhoisServer {
            addr,
            journal,
            task,
        }
    }

    /// `127.0.0.1:PORT`, as `whois.servers` takes it.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for WhoisServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_whois(mut stream: TcpStream, journal: Journal, handler: WhoisHandler) {
    let Some(line) = read_until(&mut stream, b"\n", 1024).await else {
        return;
    };
    let query = String::from_utf8_lossy(&line).trim().to_owned();
    let _active = journal.arrive(&query);
    match handler(&query) {
        WhoisReply::Text(text) => {
            let _ = stream.write_all(text.as_bytes()).await;
        }
        WhoisReply::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
        }
        WhoisReply::Slow { delay, text } => {
            tokio::time::sleep(delay).await;
            let _ = stream.write_all(text.as_bytes()).await;
        }
        WhoisReply::Huge { bytes } => {
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < bytes {
                let n = chunk.len().min(bytes - sent);
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        }
        WhoisReply::Endless => {
            let _ = stream.write_all(b"Domain Name: ENDLESS.TEST\r\n").await;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                if stream.write_all(b"% still thinking\r\n").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        WhoisReply::Reset => {
            let _ = stream.write_all(b"Domain Name: RESET.TEST\r\n").await;
            let _ = stream.set_zero_linger();
            drop(stream);
            return;
        }
    }
    let _ = stream.shutdown().await;
}

async fn read_until(stream: &mut TcpStream, end: &[u8], cap: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 512];
    while !buf.windows(end.len()).any(|w| w == end) {
        if buf.len() > cap {
            return None;
        }
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    Some(buf)
}

/// A thick registry's reply (Verisign layout); `referral` adds `Registrar WHOIS Server:`.
pub fn registry_whois_reply(domain: &str, expires: &str, referral: Option<&str>) -> String {
    let upper = domain.to_uppercase();
    let referral = referral
        .map(|r| format!("   Registrar WHOIS Server: {r}\r\n"))
        .unwrap_or_default();
    format!(
        "   Domain Name: {upper}\r\n\
         \x20  Registry Domain ID: 12345_DOMAIN_TEST-VRSN\r\n\
         {referral}\
         \x20  Registrar URL: http://www.registrar.test\r\n\
         \x20  Updated Date: 2024-08-14T07:01:34Z\r\n\
         \x20  Creation Date: 1995-08-14T04:00:00Z\r\n\
         \x20  Registry Expiry Date: {expires}\r\n\
         \x20  Registrar: Example Registrar, Inc.\r\n\
         \x20  Registrar IANA ID: 9999\r\n\
         \x20  Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited\r\n\
         \x20  Name Server: NS1.EXAMPLE.TEST\r\n\
         \x20  Name Server: NS2.EXAMPLE.TEST\r\n\
         \x20  DNSSEC: unsigned\r\n\
         >>> Last update of whois database: 2025-06-01T00:00:00Z <<<\r\n"
    )
}

/// A registrar's reply, with the registrar's own expiry.
pub fn registrar_whois_reply(domain: &str, expires: &str) -> String {
    format!(
        "Domain Name: {domain}\r\n\
         Registrar WHOIS Server: whois.registrar.test\r\n\
         Creation Date: 1995-08-14T04:00:00Z\r\n\
         Registrar Registration Expiration Date: {expires}\r\n\
         Registrar: Registrar Of Record LLC\r\n\
         Registrar IANA ID: 4242\r\n\
         Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n\
         Name Server: ns1.example.test\r\n"
    )
}

/// Bytes no registry would send: deterministic noise over the whole byte range.
pub fn garbage() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub const REGISTRY_EXPIRY: &str = "2026-08-13T04:00:00Z";
pub const REGISTRAR_EXPIRY: &str = "2027-08-13T04:00:00Z";

/// The registry WHOIS server of `.test`, by domain.
pub fn whois_behaviour(query: &str) -> WhoisReply {
    match query.to_ascii_lowercase().as_str() {
        "referral.test" => WhoisReply::Text(registry_whois_reply(query, REGISTRY_EXPIRY, Some("whois.registrar.test"))),
        "missing.test" => WhoisReply::Text("No match for \"MISSING.TEST\".\r\n>>> Last update of whois database: 2025-06-01T00:00:00Z <<<\r\n".to_owned()),
        "ratelimited.test" => WhoisReply::Text("WHOIS LIMIT EXCEEDED - SEE WWW.REGISTRY.TEST/WHOIS FOR DETAILS\r\n".to_owned()),
        "huge.test" => WhoisReply::Huge { bytes: 10 * 1024 * 1024 },
        "endless.test" => WhoisReply::Endless,
        "garbage.test" => WhoisReply::Bytes(garbage()),
        "reset.test" => WhoisReply::Reset,
        // Registered, but neither RDAP nor WHOIS publishes an expiry (as `.de` and others).
        "unpublished.test" => WhoisReply::Text(
            registry_whois_reply(query, REGISTRY_EXPIRY, None)
                .lines()
                .filter(|l| !l.contains("Expiry Date"))
                .map(|l| format!("{l}\n"))
                .collect(),
        ),
        _ => WhoisReply::Text(registry_whois_reply(query, REGISTRY_EXPIRY, None)),
    }
}

// ---------------------------------------------------------------------------------------------
// RDAP (HTTP/1.1, one request per connection)
// ---------------------------------------------------------------------------------------------

/// How the RDAP server answers one request.
#[derive(Debug, Clone)]
pub enum HttpReply {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers, then `bytes` of body without a length, until the client gives up.
    HugeBody { bytes: usize },
    /// Accept the request and never answer (within 30 s).
    Stall,
}

impl HttpReply {
    pub fn json(status: u16, body: String) -> Self {
        HttpReply::Response {
            status,
            headers: vec![(
                "Content-Type".to_owned(),
                "application/rdap+json".to_owned(),
            )],
            body: body.into_bytes(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            HttpReply::Response {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_owned(), value.to_owned()));
                HttpReply::Response {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

type HttpHandler = Arc<dyn Fn(&str, SocketAddr) -> HttpReply + Send + Sync>;

pub struct RdapServer {
    pub addr: SocketAddr,
    pub journal: Journal,
    task: JoinHandle<()>,
}

impl RdapServer {
    /// `handler(path, own_address)` answers each request.
    pub async fn start(
        handler: impl Fn(&str, SocketAddr) -> HttpReply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind RDAP server");
        let addr = listener.local_addr().expect("RDAP address");
        let journal = Journal::default();
        let handler: HttpHandler = Arc::new(handler);
        let task = tokio::spawn({
            let journal = journal.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let journal = journal.clone();
                    let handler = handler.clone();
                    tokio::spawn(async move { serve_http(stream, addr, journal, handler).await });
                }
            }
        });
        RdapServer {
            addr,
            journal,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for RdapServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_http(
    mut stream: TcpStream,
    own: SocketAddr,
    journal: Journal,
    handler: HttpHandler,
) {
    let Some(head) = read_until(&mut stream, b"\r\n\r\n", 16 * 1024).await else {
        return;
    };
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let _active = journal.arrive(&path);
    match handler(&path, own) {
        HttpReply::Response {
            status,
            headers,
            body,
        } => {
            let mut text = format!(
                "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                reason(status),
                body.len()
            );
            for (name, value) in headers {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("\r\n");
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
        HttpReply::HugeBody { bytes } => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/rdap+json\r\nConnection: close\r\n\r\n")
                .await;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < bytes {
                let n = chunk.len().min(bytes - sent);
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        }
        HttpReply::Stall => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }
    let _ = stream.shutdown().await;
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// An RDAP domain object. `expires: None` leaves the expiration event out; `related` adds a
/// registrar link. The registrar entity carries an event of its own that must not be read.
pub fn rdap_domain(name: &str, expires: Option<&str>, related: Option<&str>) -> String {
    let mut events = vec![
        serde_json::json!({"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"}),
        serde_json::json!({"eventAction": "last changed", "eventDate": "2024-08-14T07:01:34Z"}),
    ];
    if let Some(expires) = expires {
        events.push(serde_json::json!({"eventAction": "expiration", "eventDate": expires}));
    }
    let mut links = vec![
        serde_json::json!({"rel": "self", "href": format!("https://rdap.registry.test/domain/{name}"), "type": "application/rdap+json"}),
    ];
    if let Some(related) = related {
        links.push(
            serde_json::json!({"rel": "related", "href": related, "type": "application/rdap+json"}),
        );
    }
    serde_json::json!({
        "objectClassName": "domain",
        "ldhName": name.to_uppercase(),
        "status": ["client delete prohibited"],
        "events": events,
        "links": links,
        "entities": [{
            "objectClassName": "entity",
            "roles": ["registrar"],
            "publicIds": [{"type": "IANA Registrar ID", "identifier": "9999"}],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Example Registrar, Inc."]]],
            "events": [{"eventAction": "registrar expiration", "eventDate": "2030-01-01T00:00:00Z"}]
        }],
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": "NS1.EXAMPLE.TEST"},
            {"objectClassName": "nameserver", "ldhName": "NS2.EXAMPLE.TEST"}
        ]
    })
    .to_string()
}

/// The registry RDAP server of `.test` (under `/rdap/`), the registrar's (under `/registrar/`)
/// and the bootstrap file (`/bootstrap.json`), by path.
pub fn rdap_behaviour(path: &str, own: SocketAddr) -> HttpReply {
    if path == "/bootstrap.json" {
        let body = serde_json::json!({
            "version": "1.0",
            "publication": "2025-05-30T00:00:00Z",
            "services": [[["test"], [format!("http://{own}/rdap/")]]]
        });
        return HttpReply::json(200, body.to_string());
    }
    if let Some(name) = path.strip_prefix("/registrar/domain/") {
        return HttpReply::json(200, rdap_domain(name, Some(REGISTRAR_EXPIRY), None));
    }
    let Some(name) = path.strip_prefix("/rdap/domain/") else {
        return HttpReply::json(
            404,
            r#"{"errorCode": 404, "title": "Not Found"}"#.to_owned(),
        );
    };
    match name {
        "linked.test" => HttpReply::json(
            200,
            rdap_domain(
                name,
                Some(REGISTRY_EXPIRY),
                Some(&format!("http://{own}/registrar/domain/{name}")),
            ),
        ),
        "missing.test" => HttpReply::json(
            404,
            r#"{"errorCode": 404, "title": "Not Found"}"#.to_owned(),
        ),
        "busy.test" => HttpReply::json(
            429,
            r#"{"errorCode": 429, "title": "Too Many Requests"}"#.to_owned(),
        )
        .with_header("Retry-After", "120"),
        "busydate.test" => HttpReply::json(429, r#"{"errorCode": 429}"#.to_owned())
            .with_header("Retry-After", "Sun, 01 Jun 2025 12:05:00 GMT"),
        "noexpiry.test" | "unpublished.test" => HttpReply::json(200, rdap_domain(name, None, None)),
        "broken.test" => HttpReply::json(500, "{}".to_owned()),
        "slow.test" => HttpReply::Stall,
        "huge.test" => HttpReply::HugeBody {
            bytes: 10 * 1024 * 1024,
        },
        "loop.test" => HttpReply::Response {
            status: 302,
            headers: vec![(
                "Location".to_owned(),
                format!("http://{own}/rdap/domain/loop.test"),
            )],
            body: Vec::new(),
        },
        _ => HttpReply::json(200, rdap_domain(name, Some(REGISTRY_EXPIRY), None)),
    }
}

/// An RDAP registry where every `.test` domain is registered until
/// `expires` (its bootstrap points `.test` at itself): the registration
/// items of a scan find healthy registrations, so a test about
/// certificates sees no registration alert.
pub async fn registered_until(expires: DateTime<Utc>) -> RdapServer {
    let expires = lapse::store::format_time(expires);
    RdapServer::start(move |path, own| match path.strip_prefix("/rdap/domain/") {
        Some(name) => HttpReply::json(200, rdap_domain(name, Some(&expires), None)),
        None => rdap_behaviour(path, own),
    })
    .await
}

/// The IANA WHOIS server: `refer:` for `wtest` (WHOIS-only TLD), nothing for others.
pub fn iana_behaviour(query: &str) -> WhoisReply {
    match query.to_ascii_lowercase().as_str() {
        "wtest" => WhoisReply::Text(
            "% IANA WHOIS server\r\n\r\nrefer:        whois.nic.wtest\r\n\r\ndomain:       WTEST\r\n\r\nwhois:        whois.nic.wtest\r\n\r\nstatus:       ACTIVE\r\n".to_owned(),
        ),
        other => WhoisReply::Text(format!("% IANA WHOIS server\r\n\r\ndomain:       {}\r\n\r\nstatus:       ACTIVE\r\n", other.to_uppercase())),
    }
}

// ---------------------------------------------------------------------------------------------
// The whole set
// ---------------------------------------------------------------------------------------------

/// Every loopback server a registration test needs, and settings that point at them.
pub struct TestRegistries {
    pub rdap: RdapServer,
    pub registry_whois: WhoisServer,
    pub registrar_whois: WhoisServer,
    pub iana: WhoisServer,
}

impl TestRegistries {
    pub async fn start() -> Self {
        TestRegistries {
            rdap: RdapServer::start(rdap_behaviour).await,
            registry_whois: WhoisServer::start(whois_behaviour).await,
            registrar_whois: WhoisServer::start(|q: &str| {
                WhoisReply::Text(registrar_whois_reply(q, REGISTRAR_EXPIRY))
            })
            .await,
            iana: WhoisServer::start(iana_behaviour).await,
        }
    }

    /// Short bounds so that a hang shows up as a failed test, not a stuck one.
    pub fn rdap_settings(&self) -> RdapSettings {
        RdapSettings {
            bootstrap_url: self.rdap.url("/bootstrap.json"),
            overrides: BTreeMap::new(),
            timeout: Duration::from_millis(800),
            connect_timeout: Duration::from_millis(500),
            max_bytes: 256 * 1024,
            max_redirects: 3,
            ..RdapSettings::default()
        }
    }

    /// `.test` on the registry server; the registrar's referral host and `.wtest`'s server (found
    /// at IANA) mapped to loopback.
    pub fn whois_settings(&self) -> WhoisSettings {
        WhoisSettings {
            servers: HashMap::from([
                ("test".to_owned(), self.registry_whois.host_port()),
                (
                    "whois.registrar.test".to_owned(),
                    self.registrar_whois.host_port(),
                ),
                (
                    "whois.nic.wtest".to_owned(),
                    self.registry_whois.host_port(),
                ),
            ]),
            iana_server: self.iana.host_port(),
            timeout: Duration::from_millis(800),
            deadline: Duration::from_millis(1500),
            max_bytes: 256 * 1024,
            max_referrals: 2,
            rate_limit_backoff: Duration::from_secs(60),
            ..WhoisSettings::default()
        }
    }

    pub async fn clients(&self) -> RegistrationClients {
        clients(self.rdap_settings(), self.whois_settings()).await
    }
}

pub async fn clients(rdap: RdapSettings, whois: WhoisSettings) -> RegistrationClients {
    let rdap = RdapClient::new(rdap).expect("RDAP client");
    let bootstrap = rdap
        .fetch_bootstrap(now())
        .await
        .expect("loopback bootstrap")
        .registry;
    RegistrationClients {
        rdap,
        bootstrap,
        whois: WhoisClient::new(whois).expect("WHOIS client"),
    }
}

/// Pacing loose enough not to slow functional tests down.
pub fn unpaced() -> RateLimitSettings {
    RateLimitSettings {
        default: ServerLimit {
            per_second: 1000.0,
            burst: 1000,
            max_concurrent: 64,
        },
        ..RateLimitSettings::default()
    }
}
