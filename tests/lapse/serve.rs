//! `lapse serve`: the HTTP server, health check and clean shutdown.

use std::time::Duration;

use crate::harness::cli::{free_port, TestEnv};

#[tokio::test]
async fn in_process_server_answers_healthz_and_stops_on_shutdown() {
    let env = TestEnv::new();
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let app = lapse::app::App::build(config).await.expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(lapse::app::serve(app, listener, async {
        let _ = stopped.await;
    }));
    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("GET /healthz");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    stop.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .expect("join")
        .expect("serve ok");
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
