//! PostgreSQL stopped for 20 s and started again under a running `lapse
//! serve` (a child process, on a cluster of the test's own): lapse says so
//! (`/readyz` 503 naming the database, a log line), refuses writes with a
//! 503 that says nothing was done, and carries on when the server is back:
//! ready again, writes accepted, nothing written before the outage lost.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::cli::{free_port, TestEnv};
use crate::harness::postgres;

struct Serve {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn readyz(base: &str) -> Option<(u16, serde_json::Value)> {
    let reply = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let status = reply.status().as_u16();
    Some((status, reply.json().await.unwrap_or_default()))
}

/// Polls `/readyz` until it answers `status`, for at most `within`.
async fn wait_for_readyz(serve: &Serve, status: u16, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some((got, body)) = readyz(&serve.base).await {
            if got == status {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not answer {status} within {within:?}; log:\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn add_domain(base: &str, token: &str, name: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/domains"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "name": name, "watch": "registration" }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_for_20_s_is_reported_and_serve_carries_on_with_nothing_lost() {
    let cluster = postgres::private_cluster();
    let port = free_port();
    let env = TestEnv::on_postgres(
        cluster.fresh_database(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [schedule]\ndue_poll_secs = 1\njitter_secs = 0\n\
             [api]\nscheduler_heartbeat_max_age_secs = 5\n"
        ),
    );
    let made = env.run(&[
        "tokens", "create", "--role", "admin", "--name", "outage", "--json",
    ]);
    assert_eq!(made.code, 0, "{made:?}");
    let token = serde_json::from_str::<serde_json::Value>(&made.stdout).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();

    let log = env.path("serve.log");
    let child = env
        .command(&["serve"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn lapse serve");
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    wait_for_readyz(&serve, 200, Duration::from_secs(30)).await;
    assert_eq!(add_domain(&serve.base, &token, "before.test").await, 201);

    let restarted = cluster.stop_for(Duration::from_secs(20));
    let down = wait_for_readyz(&serve, 503, Duration::from_secs(15)).await;
    assert_eq!(down["database"], "unreachable", "{down}");
    let refused = add_domain(&serve.base, &token, "during.test").await;
    assert_eq!(
        refused, 503,
        "a write while the database is down is refused, not lost"
    );
    let log_now = serve.log();
    assert!(
        log_now.contains("database unreachable") || log_now.contains("database is unreachable"),
        "a log line names the outage:\n{log_now}"
    );

    restarted.join().expect("cluster restarted");
    let up = wait_for_readyz(&serve, 200, Duration::from_secs(40)).await;
    assert_eq!(up["database"], "ok", "{up}");
    assert_eq!(
        up["scheduler"]["state"], "ok",
        "the scheduler beats again: {up}"
    );
    assert_eq!(add_domain(&serve.base, &token, "after.test").await, 201);
    assert_eq!(
        add_domain(&serve.base, &token, "during.test").await,
        201,
        "the refused write, again"
    );

    let list: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/domains?sort=name", serve.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["after.test", "before.test", "during.test"],
        "{list}"
    );
    let mut serve = serve;
    assert!(
        serve.child.try_wait().expect("wait").is_none(),
        "serve kept running through the outage"
    );
}
