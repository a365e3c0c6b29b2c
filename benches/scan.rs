//! Scan benchmark: the real engine against a bare rustls handshake loop.
//!
//! ```text
//! cargo bench --bench scan -- --endpoints 10000 --concurrency 64
//! cargo bench --bench scan -- --endpoints 10000 --database postgres://USER@127.0.0.1:5432/bench
//! ```
//!
//! `--no-alerts` builds the engine without alert decisions, to measure
//! their share of (b).
//!
//! Starts, in this process: a rustls server on 127.0.0.1 serving one ECDSA
//! P-256 wildcard certificate (`*.bench.test`, from a test CA) for any of N
//! SNI names, and a loopback RDAP server (bootstrap + domain replies). A fresh
//! SQLite database gets N endpoints over N/5 domains (pinned to 127.0.0.1).
//! Then (a) a bare rustls handshake loop over the same names at the same
//! concurrency, (b) a full scan through the real engine (probe, registration
//! lookups, batched recording, alert decisions), (c) a second scan with
//! nothing changed. Prints endpoints/s, CPU seconds per 1,000 checks, peak
//! RSS, database bytes per endpoint and the (b)/(a) ratio.

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
}

fn args() -> Args {
    let mut out = Args {
        database: None,
        endpoints: 10_000,
        concurrency: 64,
        instances: 1,
        alerting: Alerting::On,
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
            _ => {} // cargo bench passes `--bench`
        }
    }
    out
}

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

async fn tls_server(pki: &Pki) -> SocketAddr {
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
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
                }
            });
        }
    });
    addr
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

/// (a) Bare handshakes over the same names at the same concurrency.
async fn bare_loop(
    pki: &Pki,
    server: SocketAddr,
    names: &[String],
    concurrency: usize,
) -> Duration {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let started = Instant::now();
    futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(server)
                    .await
                    .expect("connect");
                let sni = ServerName::try_from(name).expect("name");
                let tls = connector.connect(sni, tcp).await.expect("handshake");
                drop(tls);
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    started.elapsed()
}

use rustls::pki_types::pem::PemObject as _;

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let n = args.endpoints;
    let domains = (n / 5).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    // Hosts `eI.dJ.test` under the registrable domains `dJ.test`.
    let names: Vec<String> = (0..n)
        .map(|i| format!("e{i}.d{}.test", i % domains))
        .collect();
    let issued = Instant::now();
    let pki = pki(&names);
    println!(
        "issued {n} certificates in {:.1} s",
        issued.elapsed().as_secs_f64()
    );
    let tls = tls_server(&pki).await;
    let rdap = rdap_server().await;
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &pki.ca_pem).expect("ca");
    let db_path = dir.path().join("bench.db");
    async fn size(app: &App) -> u64 {
        app.store.checkpoint().await.expect("checkpoint");
        app.store.size_bytes().await.expect("size").unsigned_abs()
    }
    let config_text = format!(
        "[database]\n{db}\n[names]\nprivate_tlds = [\"test\"]\n\
         [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n[tls]\nextra_ca_file = \"{ca}\"\n\
         [rdap]\nbootstrap_url = \"http://{rdap}/bootstrap.json\"\n\
         [whois]\niana_server = \"127.0.0.1:9\"\n[dns]\nnameservers = [\"127.0.0.1:9\"]\n\
         [ratelimit]\nper_second = 100000.0\nburst = 1000\nmax_concurrent = 64\n\
         [scan]\nconcurrency = {c}\nper_address_concurrency = 0\nregistration_concurrency = 16\nbatch_size = 500\n\
         [log]\nlevel = \"warn\"\n",
        db = match &args.database {
            Some(url) => format!("url = \"{url}\""),
            None => format!("path = \"{}\"", db_path.display()),
        },
        ca = ca_path.display(),
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

    println!("seeding {n} endpoints over {domains} domains ...");
    let seeded = Instant::now();
    let now = chrono::Utc::now();
    let pin: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for (i, name) in names.iter().enumerate() {
        let host = HostName::from_canonical(name.clone());
        let domain = HostName::from_canonical(format!("d{}.test", i % domains));
        app.store
            .add_endpoint(&host, tls.port(), &domain, None, now)
            .await
            .expect("seed");
        app.store
            .pin_endpoint(&host, tls.port(), Some(pin))
            .await
            .expect("pin");
    }
    println!("seeded in {:.1} s", seeded.elapsed().as_secs_f64());

    // (a) the bare handshake loop
    let cpu0 = cpu_seconds();
    let bare = bare_loop(&pki, tls, &names, args.concurrency).await;
    let bare_cpu = cpu_seconds() - cpu0;
    let bare_rate = n as f64 / bare.as_secs_f64();

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
    app.store.checkpoint().await.expect("checkpoint");
    let db_before = size(&app).await;
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let cpu1 = cpu_seconds();
    let started = Instant::now();
    let first = run_all(stop.clone()).await;
    let scan = started.elapsed();
    let scan_cpu = cpu_seconds() - cpu1;
    let scan_rate = n as f64 / scan.as_secs_f64();
    app.store.checkpoint().await.expect("checkpoint");
    let db_after_first = size(&app).await;

    // (c) a second scan with nothing changed
    let cpu2 = cpu_seconds();
    let started = Instant::now();
    let second = run_all(stop).await;
    let rescan = started.elapsed();
    let rescan_cpu = cpu_seconds() - cpu2;
    app.store.checkpoint().await.expect("checkpoint");
    let db_after_second = size(&app).await;

    let s = &first.summary;
    println!("\nfirst scan: {} items ({} ok, {} warning, {} critical, {} unknown); second scan: {} items", s.items_done, s.ok, s.warning, s.critical, s.unknown, second.summary.items_done);
    println!(
        "\n{:<34} {:>14} {:>14}",
        "", "(a) bare loop", "(b) full scan"
    );
    println!(
        "{:<34} {:>14.0} {:>14.0}",
        "endpoints per second", bare_rate, scan_rate
    );
    println!(
        "{:<34} {:>14.3} {:>14.3}",
        "CPU seconds per 1,000 checks",
        bare_cpu / n as f64 * 1000.0,
        scan_cpu / n as f64 * 1000.0
    );
    println!(
        "{:<34} {:>14} {:>14.1}",
        "peak RSS (MB, whole process)",
        "",
        peak_rss_mb()
    );
    println!(
        "{:<34} {:>14} {:>14.0}",
        "database bytes per endpoint",
        "",
        db_after_first as f64 / n as f64
    );
    println!(
        "{:<34} {:>14} {:>14.0}",
        "  of which the first scan added",
        "",
        (db_after_first as f64 - db_before as f64) / n as f64
    );
    println!(
        "{:<34} {:>14} {:>14.1}",
        "second (unchanged) scan growth/ep",
        "",
        (db_after_second as f64 - db_after_first as f64) / n as f64
    );
    println!(
        "{:<34} {:>29.2}",
        "ratio (b)/(a) endpoints per second",
        scan_rate / bare_rate
    );
    println!(
        "\n(c) second scan, nothing changed and no registration due: {:.0} endpoints/s, \
         {:.3} CPU s per 1,000 checks, ratio (c)/(a) {:.2}",
        n as f64 / rescan.as_secs_f64(),
        rescan_cpu / n as f64 * 1000.0,
        n as f64 / rescan.as_secs_f64() / bare_rate
    );
    println!(
        "\nN = {n}, concurrency = {}, instances = {}, database {} -> {} -> {} bytes",
        args.concurrency, args.instances, db_before, db_after_first, db_after_second
    );
}
