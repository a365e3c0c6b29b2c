//! The scan engine: recording, compaction, resumption after `kill -9`,
//! per-address cap, against loopback servers. Scenarios are sized to take
//! about 2 s at most on the 2-core machine (per-server pacing under a scan is
//! in `registration_pacing`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use lapse::monitor::engine::{Engine, EngineSettings, SystemClock};
use lapse::probe::tls::{TlsProbe, TlsProbeSettings};
use lapse::store::{ScanScope, Store};

use crate::harness::cli::{db_count, TestEnv};
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::tls::{Misbehaviour, RawServer, TlsServer};

/// Config for scanning loopback names: private DNS, loopback allowed, the test CA trusted.
fn scan_config(env: &TestEnv, dns: &DnsServer, pki: &TestPki, extra: &str) -> String {
    let ca = env.write("ca.pem", std::str::from_utf8(&pki.root_pem()).expect("pem"));
    format!(
        "[dns]\nnameservers = [\"{}\"]\n[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [tls]\nextra_ca_file = \"{}\"\nconnect_timeout_ms = 1000\nhandshake_timeout_ms = 2000\n{extra}",
        dns.addr,
        ca.display()
    )
}

#[tokio::test]
async fn scan_records_every_endpoint_and_an_unchanged_second_scan_adds_no_rows() {
    let pki = TestPki::new();
    let names = ["www.shop.test", "api.shop.test", "mail.other.test"];
    let leaf = pki.good_leaf(&names);
    let server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let mut zone = Zone::new();
    for name in names {
        zone = zone.host(name, &[ip("127.0.0.1")]);
    }
    let dns = DnsServer::start(zone).await;
    let env0 = TestEnv::new();
    let env = TestEnv::with_config(&scan_config(&env0, &dns, &pki, ""));
    let port = server.addr.port();
    let inputs: Vec<String> = names.iter().map(|n| format!("{n}:{port}")).collect();
    let mut args = vec!["domains", "add"];
    args.extend(inputs.iter().map(String::as_str));
    assert_eq!(env.run_async(&args).await.code, 0);

    let first = env.run_async(&["scan", "--json"]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let summary: serde_json::Value = serde_json::from_str(&first.stdout).expect("json");
    assert_eq!(
        summary["scan"]["summary"]["items_total"], 5,
        "3 endpoints + 2 registrations: {summary}"
    );
    let details = texts(&env, "SELECT details FROM cert_observations ORDER BY id").await;
    assert_eq!(summary["scan"]["summary"]["ok"], 3, "{summary} {details}");
    assert_eq!(summary["scan"]["interrupted"], false);
    assert_eq!(summary["nearest_expiries"][0]["kind"], "certificate");
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    let rows = db_count(&env, "SELECT COUNT(*) FROM cert_observations").await;
    assert_eq!(rows, 3);

    let second = env.run_async(&["scan"]).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stdout.contains("finished: 3 of 3 checks done"),
        "registrations are not due again: {}",
        second.stdout
    );
    assert!(
        second.stdout.contains("nearest expiries:"),
        "{}",
        second.stdout
    );
    assert_eq!(
        db_count(&env, "SELECT COUNT(*) FROM cert_observations").await,
        3,
        "unchanged: no new rows"
    );
    assert_eq!(
        db_count(&env, "SELECT COUNT(*) FROM scan_items").await,
        0,
        "finished scans keep no items"
    );
    assert_eq!(
        db_count(&env, "SELECT COUNT(*) FROM scans WHERE state = 'finished'").await,
        2
    );
}

#[tokio::test]
async fn a_scan_killed_mid_way_resumes_without_rechecking_finished_items() {
    let pki = TestPki::new();
    // Every check waits for the handshake timeout (100 ms): a slow, countable scan of 1.6 s.
    let server = RawServer::start(ip("127.0.0.1"), Misbehaviour::Silent).await;
    let total = 16;
    let mut zone = Zone::new();
    let mut inputs = Vec::new();
    for i in 0..total {
        let name = format!("e{i}.slow.test");
        zone = zone.host(&name, &[ip("127.0.0.1")]);
        inputs.push(format!("{name}:{}", server.addr.port()));
    }
    let dns = DnsServer::start(zone).await;
    let env0 = TestEnv::new();
    let extra = "[scan]\nconcurrency = 1\nbatch_size = 1\n";
    let env = TestEnv::with_config(
        &scan_config(&env0, &dns, &pki, extra)
            .replace("handshake_timeout_ms = 2000", "handshake_timeout_ms = 100"),
    );
    let mut args = vec!["domains", "add"];
    args.extend(inputs.iter().map(String::as_str));
    assert_eq!(env.run_async(&args).await.code, 0);

    let mut child = env.command(&["scan"]).spawn().expect("spawn lapse scan");
    // Wait until a few endpoint checks are recorded, then kill -9.
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done_before_kill = db_count(
            &env,
            "SELECT COUNT(*) FROM scan_items WHERE done_at IS NOT NULL AND item_kind = 'endpoint'",
        )
        .await;
        if done_before_kill >= 4 {
            break;
        }
    }
    let killed = std::process::Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = child.wait();
    let done_at_kill = db_count(
        &env,
        "SELECT COUNT(*) FROM scan_items WHERE done_at IS NOT NULL AND item_kind = 'endpoint'",
    )
    .await;
    assert!(
        (4..total).contains(&done_at_kill),
        "killed mid-way: {done_at_kill} done"
    );
    assert_eq!(
        db_count(&env, "SELECT COUNT(*) FROM scans WHERE state = 'running'").await,
        1
    );

    // Count what the second run checks: every endpoint it touches connects once.
    let before = db_count(&env, "SELECT COUNT(*) FROM cert_observations").await;
    let resumed = env.run_async(&["scan", "--json"]).await;
    assert_eq!(resumed.code, 0, "{resumed:?}");
    let summary: serde_json::Value = serde_json::from_str(&resumed.stdout).expect("json");
    assert_eq!(summary["scan"]["resumed"], true, "{summary}");
    assert_eq!(summary["scan"]["interrupted"], false, "{summary}");
    assert_eq!(
        summary["scan"]["summary"]["items_done"],
        summary["scan"]["summary"]["items_total"]
    );
    let checked_again: i64 =
        db_count(&env, "SELECT COUNT(*) FROM cert_observations").await - before;
    assert_eq!(
        checked_again,
        total - done_at_kill,
        "only the unfinished endpoints were checked"
    );
    assert_eq!(
        db_count(&env, "SELECT COUNT(*) FROM cert_observations").await,
        total
    );
}

/// 300 endpoints on one address, checked 64 at a time by the engine, still see at most 3
/// handshakes at once: the per-address cap holds under sustained pressure, well past one round
/// of the engine's concurrency and across several write batches.
#[tokio::test]
async fn three_hundred_endpoints_on_one_address_respect_the_per_address_cap() {
    let endpoints: usize = 300;
    let pki = TestPki::new();
    let env = TestEnv::new();
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = Store::open(&config.database).await.expect("store");
    let leaf = pki.good_leaf(&["*.many.test"]);
    let server = TlsServer::start_held(
        ip("127.0.0.1"),
        pki.served(&leaf),
        leaf.key_der(),
        Duration::from_millis(5),
    )
    .await;
    let now = chrono::Utc::now();
    for i in 0..endpoints {
        let host = lapse::domain::names::HostName::from_canonical(format!("e{i}.many.test"));
        let domain =
            lapse::domain::names::HostName::from_canonical(format!("d{}.many.test", i % 60));
        store
            .add_endpoint(&host, server.addr.port(), &domain, None, now)
            .await
            .expect("add");
        // DNS-free: every endpoint is checked on 127.0.0.1.
        store
            .pin_endpoint(&host, server.addr.port(), Some(ip("127.0.0.1")))
            .await
            .expect("pin");
    }
    let probe = TlsProbe::new(TlsProbeSettings {
        allow_ranges: vec!["127.0.0.0/8".parse().expect("range")],
        extra_ca_pem: Some(pki.root_pem()),
        nameservers: vec![],
        per_address_concurrency: 3,
        ..TlsProbeSettings::default()
    })
    .expect("probe");
    let engine = Engine::new(
        store.clone(),
        probe,
        None,
        EngineSettings {
            concurrency: 64,
            registration_concurrency: 1,
            batch_size: 30,
            shutdown_grace: Duration::from_secs(5),
            retry_base: chrono::TimeDelta::minutes(15),
            retry_cap: chrono::TimeDelta::hours(1),
            lease: Duration::from_secs(60),
        },
        Arc::new(SystemClock),
    );
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let outcome = engine.run(&ScanScope::All, stop, None).await.expect("scan");
    assert_eq!(
        outcome.summary.ok, endpoints as i64,
        "{:?}",
        outcome.summary
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), endpoints);
    let max = server.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&max),
        "at most 3 handshakes to one address at once, saw {max}"
    );
}

/// One text column of every row, joined with ` | `.
async fn texts(env: &TestEnv, sql: &str) -> String {
    let pool = env.db().await;
    let texts = sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_all(&pool)
        .await
        .expect("text");
    pool.close().await;
    texts.into_iter().flatten().collect::<Vec<_>>().join(" | ")
}

#[tokio::test]
async fn a_scan_at_10_3_and_minus_5_days_queues_one_message_each_and_a_second_scan_none() {
    let pki = TestPki::new();
    let mut zone = Zone::new();
    let mut servers = Vec::new();
    let mut inputs = Vec::new();
    for (name, days_left) in [
        ("ten.acme.test", 10),
        ("three.acme.test", 3),
        ("gone.acme.test", -5),
    ] {
        let leaf = pki.leaf(
            &[name],
            crate::harness::pki::Validity::days(pki.now, -60, days_left),
        );
        let server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
        inputs.push(format!("{name}:{}", server.addr.port()));
        zone = zone.host(name, &[ip("127.0.0.1")]);
        servers.push(server);
    }
    let dns = DnsServer::start(zone).await;
    let env0 = TestEnv::new();
    let env = TestEnv::with_config(&scan_config(&env0, &dns, &pki, ""));
    assert_eq!(
        env.run_async(&[
            "clients",
            "add",
            "Acme",
            "--contact",
            "ops@acme.example.com"
        ])
        .await
        .code,
        0
    );
    let mut args = vec!["domains", "add", "--client", "Acme"];
    args.extend(inputs.iter().map(String::as_str));
    assert_eq!(env.run_async(&args).await.code, 0);

    let first = env.run_async(&["scan"]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let subjects = texts(
        &env,
        "SELECT recipient || ' ' || subject FROM outbox ORDER BY subject",
    )
    .await;
    assert_eq!(
        db_count(
            &env,
            "SELECT COUNT(*) FROM outbox WHERE recipient = 'ops@acme.example.com'"
        )
        .await,
        3,
        "{subjects}"
    );
    assert!(subjects.contains("ten.acme.test"), "{subjects}");
    assert!(subjects.contains("three.acme.test"), "{subjects}");
    assert!(subjects.contains("gone.acme.test"), "{subjects}");

    let second = env.run_async(&["scan"]).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(
        db_count(&env, "SELECT COUNT(*) FROM outbox").await,
        3,
        "a second scan queues nothing"
    );
}

#[tokio::test]
async fn the_due_work_poll_records_no_scan_when_nothing_is_due() {
    let env = TestEnv::new();
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = Store::open(&config.database).await.expect("store");
    let probe = TlsProbe::new(TlsProbeSettings::default()).expect("probe");
    let engine = Engine::new(
        store.clone(),
        probe,
        None,
        EngineSettings::from_config(&config),
        Arc::new(SystemClock),
    );
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    for _ in 0..3 {
        let outcome = engine
            .run(&ScanScope::Due, stop.clone(), None)
            .await
            .expect("poll");
        assert_eq!(outcome.summary.items_total, 0);
    }
    assert_eq!(db_count(&env, "SELECT COUNT(*) FROM scans").await, 0);
}

/// Ctrl-C stops a foreground scan: the summary says "interrupted" and the
/// exit code is 130, so a script never takes it for a finished scan.
#[tokio::test]
async fn an_interrupted_scan_exits_130_and_says_so() {
    let pki = TestPki::new();
    // Every check waits for the handshake timeout (100 ms): a slow scan.
    let server = RawServer::start(ip("127.0.0.1"), Misbehaviour::Silent).await;
    let mut zone = Zone::new();
    let mut inputs = Vec::new();
    for i in 0..16 {
        let name = format!("e{i}.slow.test");
        zone = zone.host(&name, &[ip("127.0.0.1")]);
        inputs.push(format!("{name}:{}", server.addr.port()));
    }
    let dns = DnsServer::start(zone).await;
    let env0 = TestEnv::new();
    let extra = "[scan]\nconcurrency = 1\nbatch_size = 1\nshutdown_grace_secs = 1\n";
    let env = TestEnv::with_config(
        &scan_config(&env0, &dns, &pki, extra)
            .replace("handshake_timeout_ms = 2000", "handshake_timeout_ms = 100"),
    );
    let mut args = vec!["domains", "add"];
    args.extend(inputs.iter().map(String::as_str));
    assert_eq!(env.run_async(&args).await.code, 0);

    let child = env
        .command(&["scan"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn lapse scan");
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done = db_count(
            &env,
            "SELECT COUNT(*) FROM scan_items WHERE done_at IS NOT NULL AND item_kind = 'endpoint'",
        )
        .await;
        if done >= 2 {
            break;
        }
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("interrupted (run `lapse scan` again to resume)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("run `lapse scan` again to resume it"),
        "{stderr}"
    );
}
