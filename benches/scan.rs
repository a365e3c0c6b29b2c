//! Scan benchmark: the real engine against the floor, a bare loop of DNS
//! lookups plus rustls handshakes over the same names.
//!
//! ```text
//! cargo bench --bench scan -- --endpoints 10000 --concurrency 64
//! cargo bench --bench scan -- --endpoints 100000 --layout one
//! cargo bench --bench scan -- --endpoints 10000 --database postgres://USER@127.0.0.1:5432/bench
//! ```
//!
//! The fixture runs in a process of its own (this binary again, with
//! `--fixture`), so its CPU is charged to neither side: a rustls server on
//! 127.0.0.1 serving, per SNI name, an ECDSA P-256 certificate issued by a
//! test CA; a DNS server on 127.0.0.1 (UDP) answering A 127.0.0.1 with TTL 0
//! for every name and no AAAA; an RDAP server (bootstrap + domain replies).
//!
//! Then, in this process: (a) the floor: lapse's own resolver type
//! (`DnsResolver`, hickory, pointed at the fixture's DNS server) and a rustls
//! client with the same provider and protocol versions, looking up A and AAAA
//! and handshaking with every address, over the same names at the same
//! concurrency; (b) a full scan through the real engine of a fresh database
//! holding those endpoints (DNS through the same server, nothing pinned,
//! registration lookups of their domains, batched recording, alert
//! decisions); (c) a second scan with nothing changed. Prints endpoints/s,
//! CPU seconds per 1,000 checks (this process only; PostgreSQL's server CPU
//! on its own line), peak RSS, database bytes per endpoint and the ratios.
//!
//! Layouts (`--layout`): `spread` (default), endpoints `eI.dJ.test` over N/5
//! registrable domains `dJ.test`; `one`, all endpoints `eI.platform.test`
//! under the one registrable domain `platform.test`.
//!
//! `--tls-only` watches the domains for their certificates alone (no
//! registration lookups, like the floor); by default each registrable domain
//! is looked up once per fresh scan too (RDAP, one per five endpoints in the
//! spread layout).
//!
//! `--no-alerts` builds the engine without alert decisions, to measure their
//! share of (b); `--instances K` runs K engines (own pools, own instance
//! names) sharing the scans.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapse::app::{Alerting, App};
use lapse::config::Config;
use lapse::domain::names::HostName;
use lapse::monitor::engine::{Clock, SystemClock};
use lapse::store::ScanScope;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::sign::CertifiedKey;

struct Args {
    /// `--database URL`: an empty PostgreSQL database made for the run
    /// (`createdb`); default a fresh SQLite file.
    database: Option<String>,
    endpoints: usize,
    concurrency: usize,
    /// `--instances K`: K engines, each on its own pool and instance name,
    /// share the scans (leased items), as K `lapse serve` would.
    instances: usize,
    alerting: Alerting,
    layout: Layout,
    /// `--tls-only`: the domains are watched for their certificates alone,
    /// so the scans make no registration lookups (the floor makes none).
    tls_only: bool,
    /// `--perf DIR`: record each phase of this process with `perf record`
    /// into `DIR/{floor,scan,rescan}.data` (perf must be installed).
    perf: Option<std::path::PathBuf>,
    /// `--fixture DIR`: run as the fixture process (see the module doc).
    fixture: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    /// N/5 registrable domains.
    Spread,
    /// One registrable domain for every endpoint.
    One,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Spread => "spread",
            Layout::One => "one",
        }
    }

    fn domains(self, n: usize) -> usize {
        match self {
            Layout::Spread => (n / 5).max(1),
            Layout::One => 1,
        }
    }

    /// Endpoint `i`'s host name and registrable domain.
    fn names(self, n: usize, i: usize) -> (String, String) {
        match self {
            Layout::Spread => {
                let domain = format!("d{}.test", i % self.domains(n));
                (format!("e{i}.{domain}"), domain)
            }
            Layout::One => (format!("e{i}.platform.test"), "platform.test".to_owned()),
        }
    }
}

fn args() -> Args {
    let mut out = Args {
        database: None,
        endpoints: 10_000,
        concurrency: 64,
        instances: 1,
        alerting: Alerting::On,
        layout: Layout::Spread,
        fixture: None,
        perf: None,
        tls_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--endpoints" => {
                out.endpoints = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(out.endpoints)
            }
            "--concurrency" => {
                out.concurrency = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(out.concurrency)
            }
            "--no-alerts" => out.alerting = Alerting::Off,
            "--instances" => {
                out.instances = it.next().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
            }
            "--database" => out.database = it.next(),
            "--fixture" => out.fixture = it.next().map(Into::into),
            "--perf" => out.perf = it.next().map(Into::into),
            "--tls-only" => out.tls_only = true,
            "--layout" => {
                out.layout = match it.next().as_deref() {
                    Some("one") => Layout::One,
                    Some("spread") => Layout::Spread,
                    other => panic!("--layout spread|one, not {other:?}"),
                }
            }
            _ => {} // cargo bench passes `--bench`
        }
    }
    out
}

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    process_cpu_seconds(std::path::Path::new("/proc/self/stat"))
}

/// CPU seconds (user + system) of the process whose `/proc/PID/stat` is
/// `stat_path`; 0 when it cannot be read.
fn process_cpu_seconds(stat_path: &std::path::Path) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size in MB (VmHWM).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A test CA and, per SNI name, a certificate it issued (ECDSA P-256, one
/// shared key).
struct Pki {
    ca_pem: String,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

fn pki(names: &[String]) -> Pki {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name
        .push(DnType::CommonName, "lapse bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::from_params(&ca, &ca_key);
    let leaf_key = KeyPair::generate().expect("key");
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            leaf_key.serialize_der(),
        )))
        .expect("signing key");
    let by_name = names
        .iter()
        .map(|name| {
            let mut leaf = CertificateParams::new(vec![name.clone()]).expect("params");
            leaf.distinguished_name
                .push(DnType::CommonName, name.as_str());
            let cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
            let certified = CertifiedKey::new(vec![cert.der().clone()], signing_key.clone());
            (name.clone(), Arc::new(certified))
        })
        .collect();
    Pki {
        ca_pem: ca_cert.pem(),
        by_name,
    }
}

/// Serves the certificate issued for the requested SNI name.
#[derive(Debug)]
struct BySni(HashMap<String, Arc<CertifiedKey>>);

impl rustls::server::ResolvesServerCert for BySni {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.0.get(name).cloned())
    }
}

/// Handshakes accepted and DNS queries answered by the fixture.
#[derive(Default)]
struct Served {
    handshakes: std::sync::atomic::AtomicU64,
    queries: std::sync::atomic::AtomicU64,
}

async fn tls_server(pki: &Pki, served: Arc<Served>) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(pki.by_name.clone())));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let served = served.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    served
                        .handshakes
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
                }
            });
        }
    });
    addr
}

/// A DNS server on UDP: A 127.0.0.1 (TTL 0, so nothing is cached between
/// scans) for every name, an empty NOERROR answer for every other type.
async fn dns_server(served: Arc<Served>) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(reply) = dns_reply(&buf[..len]) {
                served
                    .queries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    addr
}

/// The reply to one query: header, the question echoed, and for type A one
/// answer pointing at the question's name (compression pointer to offset 12).
fn dns_reply(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    let question = query.get(12..at + 4)?;
    let qtype = u16::from_be_bytes([query[at], query[at + 1]]);
    let answers: u16 = u16::from(qtype == 1);
    let mut reply = Vec::with_capacity(12 + question.len() + 16);
    reply.extend_from_slice(&query[0..2]); // id
                                           // QR, opcode 0, AA, RD copied; RA; RCODE 0.
    reply.push(0x84 | (query[2] & 0x01));
    reply.push(0x80);
    reply.extend_from_slice(&[0, 1]);
    reply.extend_from_slice(&answers.to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if qtype == 1 {
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    }
    Some(reply)
}

/// A tiny RDAP server: the bootstrap points `test` at itself; every domain exists.
async fn rdap_server() -> SocketAddr {
    use axum::extract::{Path, State};
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route(
            "/bootstrap.json",
            get(|State(own): State<SocketAddr>| async move {
                axum::Json(serde_json::json!({
                    "version": "1.0",
                    "services": [[["test"], [format!("http://{own}/rdap/")]]]
                }))
            }),
        )
        .route(
            "/rdap/domain/{name}",
            get(|Path(name): Path<String>| async move {
                axum::Json(serde_json::json!({
                    "objectClassName": "domain",
                    "ldhName": name,
                    "status": ["active"],
                    "events": [
                        {"eventAction": "registration", "eventDate": "2015-01-01T00:00:00Z"},
                        {"eventAction": "expiration", "eventDate": "2030-01-01T00:00:00Z"}
                    ],
                    "entities": [{"objectClassName": "entity", "roles": ["registrar"],
                        "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Bench Registrar"]]]}]
                }))
            }),
        )
        .with_state(addr);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The fixture process: issues the certificates, writes the CA to
/// `dir/ca.pem`, starts the servers and prints their ports; then answers
/// `stats` lines on stdin with what it served, and exits when stdin closes.
async fn fixture(dir: std::path::PathBuf, n: usize, layout: Layout) {
    use std::io::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    use tokio::io::AsyncBufReadExt as _;
    let names: Vec<String> = (0..n).map(|i| layout.names(n, i).0).collect();
    let pki = pki(&names);
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).expect("ca");
    let served = Arc::new(Served::default());
    let tls = tls_server(&pki, served.clone()).await;
    let dns = dns_server(served.clone()).await;
    let rdap = rdap_server().await;
    let mut out = std::io::stdout();
    writeln!(out, "READY {} {} {}", tls.port(), dns.port(), rdap.port()).expect("stdout");
    out.flush().expect("stdout");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {
        writeln!(
            out,
            "STATS {} {}",
            served.handshakes.load(Relaxed),
            served.queries.load(Relaxed)
        )
        .expect("stdout");
        out.flush().expect("stdout");
    }
}

/// The fixture process, seen from the benchmark.
struct Fixture {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    tls: SocketAddr,
    dns: SocketAddr,
    rdap: SocketAddr,
    ca_pem: String,
}

impl Fixture {
    fn start(dir: &std::path::Path, n: usize, layout: Layout) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--fixture", &dir.display().to_string()])
            .args(["--endpoints", &n.to_string(), "--layout", layout.name()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("fixture process");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("fixture ready");
        let ports: Vec<u16> = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("fixture said {line:?}"))
            .split_whitespace()
            .map(|p| p.parse().expect("port"))
            .collect();
        let at = |port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        Self {
            child,
            stdout,
            tls: at(ports[0]),
            dns: at(ports[1]),
            rdap: at(ports[2]),
            ca_pem: std::fs::read_to_string(dir.join("ca.pem")).expect("ca"),
        }
    }

    /// Handshakes and DNS queries the fixture has served so far.
    fn stats(&mut self) -> (u64, u64) {
        use std::io::{BufRead as _, Write as _};
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "stats").expect("ask");
        stdin.flush().expect("ask");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("stats");
        let numbers: Vec<u64> = line
            .strip_prefix("STATS ")
            .unwrap_or_else(|| panic!("fixture said {line:?}"))
            .split_whitespace()
            .map(|v| v.parse().expect("number"))
            .collect();
        (numbers[0], numbers[1])
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// (a) The floor: A and AAAA lookups through lapse's resolver type, then a
/// rustls handshake with every address, over the same names at the same
/// concurrency.
async fn floor_loop(
    ca_pem: &str,
    dns: SocketAddr,
    port: u16,
    names: &[String],
    concurrency: usize,
) -> Duration {
    use lapse::probe::dns::{DnsResolver, Resolution};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let resolver = DnsResolver::new(&[dns], Duration::from_secs(5)).expect("resolver");
    let started = Instant::now();
    futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let connector = connector.clone();
            let resolver = resolver.clone();
            async move {
                let Resolution::Addresses(addresses) = resolver.resolve(&name).await else {
                    panic!("{name} did not resolve");
                };
                for address in addresses {
                    let tcp = tokio::net::TcpStream::connect(SocketAddr::new(address, port))
                        .await
                        .expect("connect");
                    let sni = ServerName::try_from(name.clone()).expect("name");
                    let tls = connector.connect(sni, tcp).await.expect("handshake");
                    drop(tls);
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    started.elapsed()
}

/// CPU seconds (user + system) of the PostgreSQL backends serving database
/// `db` (their command line reads `postgres: USER DB ADDRESS ...`; the
/// pools keep them for the whole run). The server's background processes
/// (WAL writer, checkpointer) and other clusters on the machine are left out.
fn postgres_cpu_seconds(db: Option<&str>) -> f64 {
    let Some(db) = db else {
        return 0.0;
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let needle = format!(" {db} ");
    let mut total = 0.0;
    for entry in dir.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.starts_with("postgres: ") || !cmdline.contains(&needle) {
            continue;
        }
        total += process_cpu_seconds(&entry.path().join("stat"));
    }
    total
}

/// The database name of a PostgreSQL URL (`postgres://USER@HOST:PORT/DB?...`).
fn database_name(url: &str) -> Option<String> {
    let path = url.split('?').next()?.rsplit_once('/')?.1;
    (!path.is_empty()).then(|| path.to_owned())
}

use rustls::pki_types::pem::PemObject as _;

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.fixture.clone() {
        Some(dir) => runtime.block_on(fixture(dir, args.endpoints, args.layout)),
        None => runtime.block_on(run(args)),
    }
}

/// One measured phase: wall time, this process's CPU, PostgreSQL's CPU.
struct Phase {
    wall: Duration,
    cpu: f64,
    pg_cpu: f64,
}

/// `perf record` of this process while one phase runs, when `--perf` asked.
struct Recording(Option<std::process::Child>);

impl Recording {
    fn start(perf: Option<&std::path::Path>, phase: &str) -> Self {
        let Some(dir) = perf else {
            return Self(None);
        };
        std::fs::create_dir_all(dir).expect("perf dir");
        let child = std::process::Command::new("perf")
            .args(["record", "-F", "999", "-g", "-p"])
            .arg(std::process::id().to_string())
            .arg("-o")
            .arg(dir.join(format!("{phase}.data")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("perf record (is perf installed?)");
        // perf needs a moment to attach.
        std::thread::sleep(Duration::from_millis(500));
        Self(Some(child))
    }

    fn stop(self) {
        if let Some(mut child) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

async fn measure<F: std::future::Future>(
    perf: Option<&std::path::Path>,
    pg_db: Option<&str>,
    phase: &str,
    work: F,
) -> (F::Output, Phase) {
    let recording = Recording::start(perf, phase);
    let cpu = cpu_seconds();
    let pg_cpu = postgres_cpu_seconds(pg_db);
    let started = Instant::now();
    let out = work.await;
    let phase = Phase {
        wall: started.elapsed(),
        cpu: cpu_seconds() - cpu,
        pg_cpu: postgres_cpu_seconds(pg_db) - pg_cpu,
    };
    recording.stop();
    (out, phase)
}

async fn run(args: Args) {
    let n = args.endpoints;
    let layout = args.layout;
    let domains = layout.domains(n);
    let dir = tempfile::tempdir().expect("tempdir");
    let named: Vec<(String, String)> = (0..n).map(|i| layout.names(n, i)).collect();
    let names: Vec<String> = named.iter().map(|(host, _)| host.clone()).collect();
    let issued = Instant::now();
    let mut fixture = Fixture::start(dir.path(), n, layout);
    println!(
        "fixture process: {n} certificates issued, servers up in {:.1} s",
        issued.elapsed().as_secs_f64()
    );
    let ca_path = dir.path().join("ca.pem");
    let db_path = dir.path().join("bench.db");
    async fn size(app: &App) -> u64 {
        app.store.checkpoint().await.expect("checkpoint");
        app.store.size_bytes().await.expect("size").unsigned_abs()
    }
    let config_text = format!(
        "[database]\n{db}\n[names]\nprivate_tlds = [\"test\"]\n\
         [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n[tls]\nextra_ca_file = \"{ca}\"\n\
         [rdap]\nbootstrap_url = \"http://{rdap}/bootstrap.json\"\n\
         [whois]\niana_server = \"127.0.0.1:9\"\n[dns]\nnameservers = [\"{dns}\"]\n\
         [ratelimit]\nper_second = 100000.0\nburst = 1000\nmax_concurrent = 64\n\
         [scan]\nconcurrency = {c}\nper_address_concurrency = 0\nregistration_concurrency = 16\nbatch_size = 500\n\
         [log]\nlevel = \"warn\"\n",
        db = match &args.database {
            Some(url) => format!("url = \"{url}\""),
            None => format!("path = \"{}\"", db_path.display()),
        },
        ca = ca_path.display(),
        rdap = fixture.rdap,
        dns = fixture.dns,
        c = args.concurrency,
    );
    let config = Config::from_sources(
        Some((std::path::Path::new("bench.toml"), &config_text)),
        &[],
    )
    .expect("config");
    lapse::logging::init(&config.log);
    let app = App::build(config).await.expect("app");
    println!("database: {}", app.store.location());

    println!(
        "seeding {n} endpoints over {domains} registrable domains (layout {}) ...",
        layout.name()
    );
    let seeded = Instant::now();
    let now = chrono::Utc::now();
    for (host, domain) in &named {
        let host = HostName::from_canonical(host.clone());
        let domain = HostName::from_canonical(domain.clone());
        app.store
            .add_endpoint(&host, fixture.tls.port(), &domain, None, now)
            .await
            .expect("seed");
    }
    if args.tls_only {
        let mut seen = std::collections::HashSet::new();
        for (_, domain) in &named {
            if seen.insert(domain.as_str()) {
                app.store
                    .set_watch(
                        &HostName::from_canonical(domain.clone()),
                        lapse::domain::fleet::Watch::Tls,
                        now,
                    )
                    .await
                    .expect("watch");
            }
        }
    }
    println!(
        "seeded in {:.1} s{}",
        seeded.elapsed().as_secs_f64(),
        if args.tls_only {
            " (certificates only: no registration lookups)"
        } else {
            ""
        }
    );

    // (a) the floor
    let served0 = fixture.stats();
    let perf = args.perf.as_deref();
    let pg_db = args.database.as_deref().and_then(database_name);
    let pg_db = pg_db.as_deref();
    let (_, floor) = measure(
        perf,
        pg_db,
        "floor",
        floor_loop(
            &fixture.ca_pem,
            fixture.dns,
            fixture.tls.port(),
            &names,
            args.concurrency,
        ),
    )
    .await;
    let served_floor = fixture.stats();
    let floor_rate = n as f64 / floor.wall.as_secs_f64();

    // (b) the full scan through the real engine
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut engines = Vec::new();
    for k in 0..args.instances {
        let store = if k == 0 {
            app.store.clone()
        } else {
            lapse::store::Store::open(&app.config.database)
                .await
                .expect("store")
                .with_instance(&format!("bench-{k}"))
        };
        let instance = App {
            config: app.config.clone(),
            store,
        };
        engines.push(
            lapse::app::build_engine(&instance, clock.clone(), args.alerting)
                .await
                .expect("engine"),
        );
    }
    let engines = Arc::new(engines);
    // Every engine runs the scan; they share its items. The first one's
    // outcome is reported.
    let run_all = |stop: tokio::sync::watch::Receiver<bool>| {
        let engines = engines.clone();
        async move {
            let runs = (0..engines.len()).map(|k| {
                let engines = engines.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    engines[k]
                        .run(&ScanScope::All, stop, None)
                        .await
                        .expect("scan")
                })
            });
            let mut outcomes = futures::future::join_all(runs).await.into_iter();
            outcomes.next().expect("one engine").expect("join")
        }
    };
    let db_before = size(&app).await;
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let (first, scan) = measure(perf, pg_db, "scan", run_all(stop.clone())).await;
    let served_scan = fixture.stats();
    let scan_rate = n as f64 / scan.wall.as_secs_f64();
    let db_after_first = size(&app).await;

    // (c) a second scan with nothing changed
    let (second, rescan) = measure(perf, pg_db, "rescan", run_all(stop)).await;
    let served_rescan = fixture.stats();
    let rescan_rate = n as f64 / rescan.wall.as_secs_f64();
    let db_after_second = size(&app).await;

    let s = &first.summary;
    println!("\nfirst scan: {} items ({} ok, {} warning, {} critical, {} unknown); second scan: {} items", s.items_done, s.ok, s.warning, s.critical, s.unknown, second.summary.items_done);
    let served = |from: (u64, u64), to: (u64, u64)| {
        format!(
            "{} handshakes, {} DNS queries",
            to.0 - from.0,
            to.1 - from.1
        )
    };
    println!(
        "fixture served: floor {}; scan {}; rescan {}",
        served(served0, served_floor),
        served(served_floor, served_scan),
        served(served_scan, served_rescan)
    );
    let per_k = |cpu: f64| cpu / n as f64 * 1000.0;
    println!(
        "\n{:<36} {:>11} {:>11} {:>11}",
        "", "(a) floor", "(b) scan", "(c) rescan"
    );
    println!(
        "{:<36} {:>11.0} {:>11.0} {:>11.0}",
        "endpoints per second", floor_rate, scan_rate, rescan_rate
    );
    println!(
        "{:<36} {:>11} {:>11.2} {:>11.2}",
        "  ratio to the floor (target >= 0.80)",
        "",
        scan_rate / floor_rate,
        rescan_rate / floor_rate
    );
    println!(
        "{:<36} {:>11.3} {:>11.3} {:>11.3}",
        "CPU s per 1,000 checks (this process)",
        per_k(floor.cpu),
        per_k(scan.cpu),
        per_k(rescan.cpu)
    );
    println!(
        "{:<36} {:>11} {:>11.2} {:>11.2}",
        "  ratio to the floor (target <= 1.35)",
        "",
        scan.cpu / floor.cpu,
        rescan.cpu / floor.cpu
    );
    if args.database.is_some() {
        println!(
            "{:<36} {:>11} {:>11.3} {:>11.3}",
            "PostgreSQL backends' CPU s per 1,000",
            "",
            per_k(scan.pg_cpu),
            per_k(rescan.pg_cpu)
        );
    }
    println!(
        "{:<36} {:>11} {:>11.1}",
        "peak RSS (MB, whole process)",
        "",
        peak_rss_mb()
    );
    println!(
        "{:<36} {:>11} {:>11.0}",
        "database bytes per endpoint",
        "",
        db_after_first as f64 / n as f64
    );
    println!(
        "{:<36} {:>11} {:>11.0}",
        "  of which the first scan added",
        "",
        (db_after_first as f64 - db_before as f64) / n as f64
    );
    println!(
        "{:<36} {:>11} {:>11} {:>11.1}",
        "  bytes per endpoint the rescan added",
        "",
        "",
        (db_after_second as f64 - db_after_first as f64) / n as f64
    );
    println!(
        "\nRESULT layout={}{} n={n} floor={floor_rate:.0} scan={scan_rate:.0} rescan={rescan_rate:.0} \
         floor_cpu={:.3} scan_cpu={:.3} rescan_cpu={:.3} rss_mb={:.1}",
        layout.name(),
        if args.tls_only { " tls-only" } else { "" },
        per_k(floor.cpu),
        per_k(scan.cpu),
        per_k(rescan.cpu),
        peak_rss_mb()
    );
    println!(
        "N = {n}, concurrency = {}, instances = {}, database {} -> {} -> {} bytes",
        args.concurrency, args.instances, db_before, db_after_first, db_after_second
    );
}
