//! `lapse serve` runs the full scan on `schedule.scan`: a child `lapse serve` with a cron that
//! fires every 2 seconds scans a few loopback TLS endpoints, the store shows a finished scan of
//! scope `all` with their observations, and SIGTERM stops it cleanly (exit 0).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::cli::{free_port, sqlite_count as count, TestEnv};
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::tls::TlsServer;

const NAMES: [&str; 3] = ["www.cron.test", "api.cron.test", "mail.cron.test"];

async fn query_row(env: &TestEnv, sql: &str) -> Option<(i64, String, i64, i64, i64)> {
    use sqlx::ConnectOptions;
    use sqlx::Row;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(env.path("lapse.db"))
        .read_only(true)
        .connect()
        .await
        .ok()?;
    let row = sqlx::query(sql).fetch_optional(&mut conn).await.ok()??;
    Some((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
}

#[tokio::test]
async fn serve_runs_the_cron_scan_and_exits_0_on_sigterm() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&NAMES);
    let server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let zone = NAMES.iter().fold(Zone::new(), |zone, name| {
        zone.host(name, &[ip("127.0.0.1")])
    });
    let dns = DnsServer::start(zone).await;
    let port = free_port();
    let ca_dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, pki.root_pem()).expect("write CA");
    // A full scan every 2 seconds, no jitter; the due-work poll out of the way (hourly), so
    // whatever is recorded is the cron scan's doing.
    let env = TestEnv::with_config(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\
         [dns]\nnameservers = [\"{dns}\"]\n\
         [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [tls]\nextra_ca_file = \"{ca}\"\nconnect_timeout_ms = 1000\nhandshake_timeout_ms = 2000\n\
         [schedule]\nscan = \"*/2 * * * * *\"\njitter_secs = 0\ndue_poll_secs = 3600\n",
        dns = dns.addr,
        ca = ca.display(),
    ));
    let inputs: Vec<String> = NAMES
        .iter()
        .map(|n| format!("{n}:{}", server.addr.port()))
        .collect();
    let mut args = vec!["domains", "add"];
    args.extend(inputs.iter().map(String::as_str));
    let added = env.run_async(&args).await;
    assert_eq!(added.code, 0, "{added:?}");
    assert_eq!(
        count(&env, "SELECT COUNT(*) FROM cert_observations").await,
        0,
        "nothing checked before serve"
    );

    let log = std::fs::File::create(env.path("serve.log")).expect("log file");
    let mut command = tokio::process::Command::from(env.command(&["serve"]));
    command
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn lapse serve");
    let pid = child.id().expect("pid");

    let deadline = Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let row = query_row(
            &env,
            "SELECT id, scope, items_total, items_done, count_ok FROM scans
             WHERE state = 'finished' AND finished_at IS NOT NULL
               AND json_extract(scope, '$.scope') = 'all'
             ORDER BY id LIMIT 1",
        )
        .await;
        if let Some(row) = row {
            break row;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "lapse serve exited early ({status}): {}",
                std::fs::read_to_string(env.path("serve.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no finished cron scan within 20 s: {}",
            std::fs::read_to_string(env.path("serve.log")).unwrap_or_default()
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
            "SELECT COUNT(*) FROM scans WHERE json_extract(scope, '$.scope') <> 'all'"
        )
        .await,
        0,
        "no other kind of scan did the work (scan {scan_id})"
    );

    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap_or_else(|_| panic!("lapse serve did not stop within 15 s of SIGTERM"))
        .expect("wait");
    let log = std::fs::read_to_string(env.path("serve.log")).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{log}");
}
