//! `lapse serve` runs the full scan on `schedule.scan`: the whole serve, in-process, with a cron
//! that fires every 2 seconds scans a few loopback TLS endpoints, the store shows a finished scan
//! of scope `all` with their observations, and the shutdown future stops it cleanly. (SIGTERM
//! on the binary is `serve.rs`.)

use std::time::{Duration, Instant};

use lapse::app::{self, App};
use lapse::config::{Config, LoadOptions};

use crate::harness::cli::{db_count as count, TestEnv};
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::tls::TlsServer;

const NAMES: [&str; 3] = ["www.cron.test", "api.cron.test", "mail.cron.test"];

async fn query_row(env: &TestEnv, sql: &str) -> Option<(i64, String, i64, i64, i64)> {
    use sqlx::Row;
    let pool = env.db().await;
    let row = sqlx::query(sql).fetch_optional(&pool).await;
    pool.close().await;
    let row = row.ok()??;
    Some((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_cron_scan_and_stops_on_shutdown() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&NAMES);
    let server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let zone = NAMES.iter().fold(Zone::new(), |zone, name| {
        zone.host(name, &[ip("127.0.0.1")])
    });
    let dns = DnsServer::start(zone).await;
    let ca_dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, pki.root_pem()).expect("write CA");
    // A full scan every 2 seconds, no jitter; the due-work poll out of the way (hourly), so
    // whatever is recorded is the cron scan's doing.
    let env = TestEnv::with_config(&format!(
        "[dns]\nnameservers = [\"{dns}\"]\n\
         [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [tls]\nextra_ca_file = \"{ca}\"\nconnect_timeout_ms = 1000\nhandshake_timeout_ms = 2000\n\
         [schedule]\nscan = \"*/2 * * * * *\"\njitter_secs = 0\ndue_poll_secs = 3600\n",
        dns = dns.addr,
        ca = ca.display(),
    ));
    let config = Config::load(&LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let app = App::build(config).await.expect("app");
    for name in NAMES {
        lapse::inventory::add_target(
            &app.store,
            &app.config.names.policy(),
            443,
            &format!("{name}:{}", server.addr.port()),
            &lapse::inventory::AddOptions::default(),
            chrono::Utc::now(),
        )
        .await
        .expect("add target");
    }
    assert_eq!(
        count(&env, "SELECT COUNT(*) FROM cert_observations").await,
        0,
        "nothing checked before serve"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut serving = tokio::spawn(app::run(app, listener, async {
        let _ = stopped.await;
    }));

    let deadline = Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let row = query_row(
            &env,
            "SELECT id, scope, items_total, items_done, count_ok FROM scans
             WHERE state = 'finished' AND finished_at IS NOT NULL
               AND scope LIKE '%\"scope\":\"all\"%'
             ORDER BY id LIMIT 1",
        )
        .await;
        if let Some(row) = row {
            break row;
        }
        if serving.is_finished() {
            panic!("serve ended early: {:?}", (&mut serving).await);
        }
        assert!(
            Instant::now() < deadline,
            "no finished cron scan within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (scan_id, scope, items_total, items_done, count_ok) = finished;
    let scope: serde_json::Value = serde_json::from_str(&scope).expect("scope JSON");
    assert_eq!(scope["scope"], "all", "{scope}");
    assert!(
        items_total >= NAMES.len() as i64,
        "the three endpoints (and the due registrations): {items_total}"
    );
    assert_eq!(items_done, items_total);
    assert_eq!(count_ok, NAMES.len() as i64, "three good certificates");
    assert_eq!(
        count(
            &env,
            "SELECT COUNT(DISTINCT endpoint_id) FROM cert_observations WHERE current = 1"
        )
        .await,
        NAMES.len() as i64,
        "an observation recorded for every endpoint"
    );
    assert!(server.connections.load(std::sync::atomic::Ordering::SeqCst) >= NAMES.len());
    assert_eq!(
        count(
            &env,
            "SELECT COUNT(*) FROM scans WHERE scope NOT LIKE '%\"scope\":\"all\"%'"
        )
        .await,
        0,
        "no other kind of scan did the work (scan {scan_id})"
    );

    stop.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(15), serving)
        .await
        .unwrap_or_else(|_| panic!("serve did not stop within 15 s of the shutdown"))
        .expect("join")
        .expect("serve ends Ok");
}
