//! `lapse serve`: the whole process in-process (HTTP, scheduler, ordered
//! shutdown), and the binary's own part: signals and the listen address.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapse::app::{self, App};
use lapse::config::{Config, LoadOptions};
use lapse::domain::names::HostName;

use crate::harness::cli::{db_count as count, free_port, TestEnv};
use crate::harness::wait_until;

/// A TCP server on loopback that accepts connections and never answers, so
/// a TLS check against it stays in flight until its handshake timeout.
async fn silent_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (port, accepted)
}

/// The whole `serve` on a port-0 listener: HTTP answers, the scheduler beats
/// (`/readyz`) and runs the due-work poll; a stop during a check lets the
/// check finish and be recorded before the pool closes, and `run` returns
/// promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_in_process_answers_runs_the_scheduler_and_stops_after_in_flight_checks() {
    let (silent_port, accepted) = silent_server().await;
    let env = TestEnv::with_config(
        "[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [tls]\nconnect_timeout_ms = 1000\nhandshake_timeout_ms = 1500\n\
         [schedule]\ndue_poll_secs = 1\njitter_secs = 0\n\
         [scan]\nshutdown_grace_secs = 1\n",
    );
    let config = Config::load(&LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let app = App::build(config).await.expect("app");
    let added = lapse::inventory::add_target(
        &app.store,
        &app.config.names.policy(),
        443,
        &format!("silent.serve.test:{silent_port}"),
        &lapse::inventory::AddOptions::default(),
        chrono::Utc::now(),
    )
    .await
    .expect("add target");
    // Pinned to loopback: nothing is resolved.
    app.store
        .pin_endpoint(
            &HostName::from_canonical(added.host),
            silent_port,
            Some(std::net::Ipv4Addr::LOCALHOST.into()),
        )
        .await
        .expect("pin");
    let store = app.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app::run(app, listener, async {
        let _ = stopped.await;
    }));

    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    wait_until(
        "the scheduler's heartbeat",
        Duration::from_secs(5),
        || async {
            let ready = reqwest::get(format!("http://{addr}/readyz")).await;
            ready.is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    // The due-work poll (every second) checks the endpoint; the check hangs.
    wait_until("a check in flight", Duration::from_secs(5), || async {
        accepted.load(Ordering::SeqCst) > 0
    })
    .await;
    assert_eq!(
        count(&env, "SELECT COUNT(*) FROM scans WHERE state = 'running'").await,
        1,
        "the due-work scan is running"
    );

    let asked = Instant::now();
    stop.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("serve stops within 5 s")
        .expect("join")
        .expect("serve ends Ok");
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert_eq!(
        count(&env, "SELECT COUNT(*) FROM scans WHERE state = 'running'").await,
        0,
        "the scan was ended (recorded) before the pool closed"
    );
    assert_eq!(
        count(&env, "SELECT COUNT(*) FROM cert_observations").await,
        1,
        "the in-flight check's result was recorded after the stop"
    );
    assert!(store.ping().await.is_err(), "run closes the pool last");
}

#[tokio::test]
async fn binary_serves_healthz_and_exits_0_on_sigterm() {
    let port = free_port();
    let env = TestEnv::with_config(&format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let mut child = env.command(&["serve"]).spawn().expect("spawn lapse serve");
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut status = None;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&url).await {
            status = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status.map(|s| s.as_u16()), Some(200), "healthz answered");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut exit = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().expect("wait") {
            exit = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exit = exit.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("lapse serve did not stop on SIGTERM");
    });
    assert_eq!(exit.code(), Some(0));
}

#[test]
fn serve_on_a_taken_port_fails_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let env = TestEnv::with_config(&format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let run = env.run(&["serve"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
}
