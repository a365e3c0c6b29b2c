//! Three `lapse serve` processes on one PostgreSQL database, one of them
//! killed with SIGKILL while it holds scan items and messages: the scan
//! completes with every endpoint recorded, every message is delivered, and
//! the only Message-IDs that reach the SMTP server twice are those the
//! killed process had in flight (SMTP cannot do better: the server had the
//! message, the sender never heard its 250).

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::Row;

use crate::harness::cli::{free_port, TestEnv};
use crate::harness::pki::TestPki;
use crate::harness::postgres;
use crate::harness::sites::smtp_config_without_staff;
use crate::harness::smtp::SmtpSink;
use crate::harness::tls::TlsServer;

const ENDPOINTS: usize = 400;
const MESSAGES: usize = 40;

struct Instance {
    name: String,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_instance_loses_no_check_and_no_message_and_repeats_only_its_own() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&["*.kill.test"]);
    let server = TlsServer::start(
        "127.0.0.1".parse().expect("ip"),
        pki.served(&leaf),
        leaf.key_der(),
    )
    .await;
    let sink = SmtpSink::plain().await;
    sink.delay_replies(Duration::from_millis(150));

    let ca_dir = tempfile::tempdir().expect("temp dir");
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, pki.root_pem()).expect("ca");
    let extra = format!(
        "[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [tls]\nextra_ca_file = \"{}\"\n\
         [scan]\nlease_secs = 3\nconcurrency = 4\nper_address_concurrency = 0\n\
         [schedule]\ndue_poll_secs = 1\njitter_secs = 0\n\
         [outbox]\npoll_secs = 1\nsending_lease_secs = 8\n[webhooks]\ntimeout_secs = 5\n\
         [log]\nlevel = \"warn\"\n\
         {}",
        ca.display(),
        smtp_config_without_staff(sink.port(), "")
    );
    let env = TestEnv::on_postgres(postgres::cluster().fresh_database(), &extra);

    // The fleet and the mail, written before any instance starts.
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = lapse::store::Store::open(&config.database)
        .await
        .expect("store");
    let now = Utc::now();
    let domain = lapse::domain::names::HostName::from_canonical("kill.test");
    for i in 0..ENDPOINTS {
        let host = lapse::domain::names::HostName::from_canonical(format!("e{i}.kill.test"));
        store
            .add_endpoint(&host, server.addr.port(), &domain, None, now)
            .await
            .expect("endpoint");
    }
    store
        .set_watch(&domain, lapse::domain::fleet::Watch::Tls, now)
        .await
        .expect("watch");
    let pool = env.db().await;
    // Pinned to loopback, and not due: the requested scan is the only one
    // (the due-work poll would start a second).
    sqlx::query(
        "UPDATE endpoints SET pinned_address = '127.0.0.1', next_check_at = '2099-01-01T00:00:00Z'",
    )
    .execute(&pool)
    .await
    .expect("pin");
    let queued: Vec<lapse::store::NewMessage> = (0..MESSAGES)
        .map(|i| lapse::store::NewMessage {
            channel: lapse::store::Channel::Email,
            recipient: format!("ops{i}@acme.test"),
            cc: None,
            reply_to: None,
            subject: format!("message {i}"),
            body_text: "body".into(),
            body_html: None,
        })
        .collect();
    store
        .write_digest(now, &[], &queued, "agency.test", now)
        .await
        .expect("queue")
        .expect("queued");
    store
        .request_scan(&lapse::store::ScanScope::All, now)
        .await
        .expect("request a scan");

    let mut instances: Vec<Instance> = ["one", "two", "three"]
        .iter()
        .map(|name| {
            let child = env
                .command(&["serve"])
                .env("LAPSE_SERVER__LISTEN", format!("127.0.0.1:{}", free_port()))
                .env("LAPSE_SERVER__INSTANCE", name)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn lapse serve");
            Instance {
                name: (*name).to_owned(),
                child,
            }
        })
        .collect();

    // Kill, mid-scan and mid-delivery, the instance holding the most.
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        let rows = sqlx::query(
            "SELECT leased_by, COUNT(*) AS n FROM (
                 SELECT leased_by FROM scan_items WHERE done_at IS NULL AND leased_by IS NOT NULL
                 UNION ALL
                 SELECT leased_by FROM outbox WHERE state = 'sending' AND leased_by IS NOT NULL
             ) held GROUP BY leased_by ORDER BY n DESC",
        )
        .fetch_all(&pool)
        .await
        .expect("holders");
        let sent = count(&pool, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'").await;
        let checked = count(
            &pool,
            "SELECT COUNT(*) FROM scan_items WHERE done_at IS NOT NULL",
        )
        .await;
        let both = rows.iter().any(|r| {
            let name: String = r.get("leased_by");
            name != "mail"
        }) && sent > 0
            && checked > 0;
        if both {
            let name: String = rows[0].get("leased_by");
            break instances
                .iter()
                .position(|i| i.name == name)
                .expect("a known instance");
        }
        assert!(
            Instant::now() < deadline,
            "no instance took work within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut killed = instances.remove(victim);
    killed.child.kill().expect("SIGKILL");
    killed.child.wait().expect("reaped");
    // Frozen now: what the dead instance had in flight.
    let in_flight: BTreeSet<String> = sqlx::query_scalar(
        "SELECT message_id FROM outbox WHERE state = 'sending' AND leased_by = $1",
    )
    .bind(&killed.name)
    .fetch_all(&pool)
    .await
    .expect("in flight")
    .into_iter()
    .collect();
    let items_held = count(
        &pool,
        &format!(
            "SELECT COUNT(*) FROM scan_items WHERE done_at IS NULL AND leased_by = '{}'",
            killed.name
        ),
    )
    .await;

    println!(
        "killed {} holding {items_held} unfinished item(s) and {} message(s) in flight",
        killed.name,
        in_flight.len()
    );
    // The two left finish both.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let scans_open = count(
            &pool,
            "SELECT COUNT(*) FROM scans WHERE state <> 'finished'",
        )
        .await;
        let unsent = count(&pool, "SELECT COUNT(*) FROM outbox WHERE state <> 'sent'").await;
        if scans_open == 0 && unsent == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not finished within 120 s after the kill: {scans_open} scan(s) open, {unsent} message(s) unsent"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM scan_items WHERE done_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM cert_observations WHERE current = 1"
        )
        .await,
        ENDPOINTS as i64,
        "every endpoint recorded (the killed instance held {items_held} item(s))"
    );
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM scans").await,
        1,
        "one scan"
    );
    let handshakes = server.connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (ENDPOINTS..=ENDPOINTS + items_held as usize).contains(&handshakes),
        "{handshakes} handshakes for {ENDPOINTS} endpoints: only the killed instance's \
         {items_held} unfinished item(s) may be checked again"
    );

    let received = sink.wait_for(MESSAGES).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for mail in &received {
        *seen.entry(mail.message_id()).or_default() += 1;
    }
    let stored: BTreeSet<String> = sqlx::query_scalar("SELECT message_id FROM outbox")
        .fetch_all(&pool)
        .await
        .expect("ids")
        .into_iter()
        .collect();
    for id in &stored {
        assert!(seen.contains_key(id), "{id} was never delivered");
    }
    let twice: BTreeSet<String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        twice.is_subset(&in_flight),
        "arrived twice: {twice:?}; in flight at the kill: {in_flight:?}"
    );
    assert!(seen.values().all(|n| *n <= 2), "{seen:?}");
    println!(
        "{handshakes} handshakes, {} message(s) arrived twice",
        twice.len()
    );
    pool.close().await;
    drop(instances);
}
