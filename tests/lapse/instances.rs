//! Issue 17: several `lapse serve` instances on one database, all equal.
//! Each test runs "instances" in this process: one `Store` (its own pool,
//! its own `server.instance` name) and engine or sender per instance, all
//! on one database, against real loopback servers (TLS sites, an SMTP sink,
//! an RDAP registry). They run on PostgreSQL (a fresh database in the
//! throwaway cluster) and, where it is cheap, on SQLite too.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use lapse::config::{DatabaseConfig, PostgresLocation};
use lapse::monitor::engine::{Engine, EngineSettings, SystemClock};
use lapse::monitor::registration::RegistrationChecker;
use lapse::probe::tls::{TlsProbe, TlsProbeSettings};
use lapse::store::{ScanScope, Store};
use sqlx::Row;

use crate::harness::cli::TestEnv;
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::postgres;
use crate::harness::registry::{rdap_behaviour, RdapServer};
use crate::harness::sites::smtp_config_without_staff;
use crate::harness::smtp::SmtpSink;
use crate::harness::tls::TlsServer;

/// Where the instances' database lives.
struct Db {
    config: DatabaseConfig,
    /// A URL for the test's own reads (sqlx's Any driver).
    url: String,
    _dir: Option<tempfile::TempDir>,
}

fn postgres_db() -> Db {
    let url = postgres::cluster().fresh_database();
    Db {
        config: DatabaseConfig {
            path: std::path::PathBuf::new(),
            postgres: Some(PostgresLocation {
                url: url.clone(),
                password: None,
            }),
            max_connections: 8,
            busy_timeout: Duration::from_secs(10),
        },
        url,
        _dir: None,
    }
}

fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lapse.db");
    Db {
        url: format!("sqlite://{}", path.display()),
        config: DatabaseConfig {
            path,
            postgres: None,
            max_connections: 8,
            busy_timeout: Duration::from_secs(10),
        },
        _dir: Some(dir),
    }
}

/// One store per instance name, on the same database (migrated once).
async fn stores(db: &Db, names: &[&str]) -> Vec<Store> {
    let mut stores = Vec::new();
    for name in names {
        stores.push(
            Store::open(&db.config)
                .await
                .expect("store")
                .with_instance(name),
        );
    }
    stores
}

/// The test's own connection, to look at what the instances wrote.
async fn reader(db: &Db) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .expect("reader")
}

async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

fn settings(lease: Duration) -> EngineSettings {
    EngineSettings {
        concurrency: 16,
        registration_concurrency: 2,
        batch_size: 50,
        shutdown_grace: Duration::from_secs(2),
        retry_base: chrono::TimeDelta::minutes(15),
        retry_cap: chrono::TimeDelta::hours(1),
        lease,
    }
}

fn probe(pki: &TestPki) -> TlsProbe {
    TlsProbe::new(TlsProbeSettings {
        allow_ranges: vec!["127.0.0.0/8".parse().expect("range")],
        extra_ca_pem: Some(pki.root_pem()),
        nameservers: vec![],
        per_address_concurrency: 16,
        ..TlsProbeSettings::default()
    })
    .expect("probe")
}

/// `n` endpoints `e{i}.many.test` on `port` of 127.0.0.1, their domains
/// watched for TLS only (no registration items).
async fn endpoints(store: &Store, n: usize, port: u16) {
    use lapse::domain::fleet::Watch;
    use lapse::domain::names::HostName;
    let now = Utc::now();
    for d in 0..10 {
        let domain = HostName::from_canonical(format!("d{d}.many.test"));
        for i in (d..n).step_by(10) {
            let host = HostName::from_canonical(format!("e{i}.d{d}.many.test"));
            store
                .add_endpoint(&host, port, &domain, None, now)
                .await
                .expect("add");
        }
        store
            .set_watch(&domain, Watch::Tls, now)
            .await
            .expect("watch");
    }
}

/// Every endpoint is checked on 127.0.0.1 (no DNS).
async fn pin_all(pool: &sqlx::AnyPool) {
    sqlx::query("UPDATE endpoints SET pinned_address = '127.0.0.1'")
        .execute(pool)
        .await
        .expect("pin");
}

/// Until the scan has finished, who holds (or held) the scan's items: the
/// most items each instance was seen with, done or in flight. The scan's
/// state is read before the holders, so the last look is taken after the
/// scan finished (items keep their holder once done).
async fn watch_holders(pool: sqlx::AnyPool) -> BTreeMap<String, i64> {
    let mut most: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        let any = count(&pool, "SELECT COUNT(*) FROM scans").await;
        let running = count(
            &pool,
            "SELECT COUNT(*) FROM scans WHERE state <> 'finished'",
        )
        .await;
        let rows = sqlx::query(
            "SELECT leased_by, COUNT(*) AS n FROM scan_items
             WHERE leased_by IS NOT NULL GROUP BY leased_by",
        )
        .fetch_all(&pool)
        .await
        .expect("holders");
        for row in rows {
            let n: i64 = row.get("n");
            let entry = most.entry(row.get("leased_by")).or_default();
            *entry = (*entry).max(n);
        }
        if any > 0 && running == 0 {
            return most;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn three_instances_check_every_item_once(db: Db, n: usize) {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[
        "*.d0.many.test",
        "*.d1.many.test",
        "*.d2.many.test",
        "*.d3.many.test",
        "*.d4.many.test",
        "*.d5.many.test",
        "*.d6.many.test",
        "*.d7.many.test",
        "*.d8.many.test",
        "*.d9.many.test",
    ]);
    let server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let names = ["alpha", "beta", "gamma"];
    let stores = stores(&db, &names).await;
    endpoints(&stores[0], n, server.addr.port()).await;
    let pool = reader(&db).await;
    pin_all(&pool).await;

    let holders = tokio::spawn(watch_holders(pool.clone()));
    let mut runs = Vec::new();
    for store in &stores {
        let engine = Engine::new(
            store.clone(),
            probe(&pki),
            None,
            settings(Duration::from_secs(30)),
            Arc::new(SystemClock),
        );
        runs.push(tokio::spawn(async move {
            let (_stop_tx, stop) = tokio::sync::watch::channel(false);
            engine.run(&ScanScope::All, stop, None).await.expect("scan")
        }));
    }
    let mut outcomes = Vec::new();
    for run in runs {
        let outcome = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .expect("the scan ends");
        outcomes.push(outcome.expect("instance"));
    }
    let holders = tokio::time::timeout(Duration::from_secs(30), holders)
        .await
        .expect("the scan ends")
        .expect("watcher");

    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM scans").await,
        1,
        "one scan"
    );
    let summary = &outcomes[0].summary;
    assert_eq!(summary.state, "finished", "{summary:?}");
    assert_eq!(summary.items_total, n as i64, "{summary:?}");
    assert_eq!(summary.items_done, n as i64, "{summary:?}");
    assert_eq!(summary.ok, n as i64, "{summary:?}");
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        n,
        "every endpoint's handshake once"
    );
    for name in names {
        assert!(
            holders.get(name).is_some_and(|n| *n > 0),
            "{name} took part: {holders:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_a_scan_of_3000_endpoints_on_postgres() {
    three_instances_check_every_item_once(postgres_db(), 3000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_a_scan_on_sqlite() {
    three_instances_check_every_item_once(sqlite_db(), 600).await;
}

/// An instance stops dead mid-scan (its tasks dropped, nothing released):
/// its items return to the pool when its 2 s lease ends and the two left
/// finish the scan with every item recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_that_dies_mid_scan_loses_nothing() {
    let n = 600;
    let db = postgres_db();
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[
        "*.d0.many.test",
        "*.d1.many.test",
        "*.d2.many.test",
        "*.d3.many.test",
        "*.d4.many.test",
        "*.d5.many.test",
        "*.d6.many.test",
        "*.d7.many.test",
        "*.d8.many.test",
        "*.d9.many.test",
    ]);
    let server = TlsServer::start_held(
        ip("127.0.0.1"),
        pki.served(&leaf),
        leaf.key_der(),
        Duration::from_millis(20),
    )
    .await;
    let stores = stores(&db, &["doomed", "steady-1", "steady-2"]).await;
    endpoints(&stores[0], n, server.addr.port()).await;
    let pool = reader(&db).await;
    pin_all(&pool).await;
    let engine = |store: &Store| {
        Engine::new(
            store.clone(),
            probe(&pki),
            None,
            settings(Duration::from_secs(2)),
            Arc::new(SystemClock),
        )
    };

    // The doomed instance starts the scan alone and holds items ...
    let doomed = engine(&stores[0]);
    let doomed = tokio::spawn(async move {
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let _ = doomed.run(&ScanScope::All, stop, None).await;
    });
    let held = "SELECT COUNT(*) FROM scan_items WHERE leased_by = 'doomed' AND done_at IS NULL";
    let started = Instant::now();
    while count(&pool, held).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the doomed instance never claimed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // What /readyz and /metrics show: the instance and the items it holds.
    let now = Utc::now();
    stores[0]
        .record_instance_beat("test", now, now)
        .await
        .expect("beat");
    let live = stores[1]
        .live_instances(now - chrono::TimeDelta::minutes(1), Utc::now())
        .await
        .expect("instances");
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].instance, "doomed");
    assert!(live[0].scan_items_leased > 0, "{live:?}");
    // ... and dies: no stop, no release, its checks dropped in flight.
    doomed.abort();
    let _ = doomed.await;
    let stranded = count(&pool, held).await;
    assert!(stranded > 0, "it died holding leases");

    let mut runs = Vec::new();
    // One resumes the scope's scan at once; the other only does what the
    // due-work poll does, joining a running scan with items nobody holds.
    let first = engine(&stores[1]);
    runs.push(tokio::spawn(async move {
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        first.run(&ScanScope::All, stop, None).await.expect("scan");
    }));
    let poller = engine(&stores[2]);
    let poll_pool = pool.clone();
    runs.push(tokio::spawn(async move {
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut joined = 0;
        while count(
            &poll_pool,
            "SELECT COUNT(*) FROM scans WHERE state = 'running'",
        )
        .await
            > 0
        {
            joined += poller.join_running(stop.clone()).await.expect("join");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(joined > 0, "the poll joined the scan");
    }));
    for run in runs {
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the others finish the scan")
            .expect("instance");
    }
    let row = sqlx::query("SELECT state, items_total, items_done, count_ok FROM scans")
        .fetch_one(&pool)
        .await
        .expect("scan row");
    let (state, total, done, ok): (String, i64, i64, i64) = (
        row.get("state"),
        row.get("items_total"),
        row.get("items_done"),
        row.get("count_ok"),
    );
    assert_eq!(
        (state.as_str(), total, done, ok),
        ("finished", n as i64, n as i64, n as i64)
    );
    let observed = count(
        &pool,
        "SELECT COUNT(DISTINCT endpoint_id) FROM cert_observations WHERE current = 1",
    )
    .await;
    assert_eq!(observed, n as i64, "every endpoint recorded");
    assert!(
        server.connections.load(Ordering::SeqCst) >= n,
        "the stranded items were checked again"
    );
}

/// Two instances deliver the same pending messages to one SMTP server:
/// each Message-ID arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_senders_deliver_each_message_once() {
    for db in [postgres_db(), sqlite_db()] {
        two_senders_deliver_each_message_once_on(db).await;
    }
}

async fn two_senders_deliver_each_message_once_on(db: Db) {
    let messages = 60;
    let sink = SmtpSink::plain().await;
    let env = TestEnv::with_config(&smtp_config_without_staff(sink.port(), ""));
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let stores = stores(&db, &["mail-1", "mail-2"]).await;
    let now = Utc::now();
    let queued: Vec<lapse::store::NewMessage> = (0..messages)
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
    stores[0]
        .write_digest(now, &[], &queued, "agency.test", now)
        .await
        .expect("queue")
        .expect("queued");

    let mut senders = Vec::new();
    for store in &stores {
        let sender = lapse::notify::Sender::new(
            store.clone(),
            lapse::app::mail_transport(&config).expect("transport"),
            None,
            lapse::notify::SenderSettings {
                batch: 5,
                ..lapse::notify::SenderSettings::from(&config.outbox)
            },
        );
        senders.push(tokio::spawn(async move {
            sender.deliver_due(now).await.expect("deliver")
        }));
    }
    let mut sent = 0;
    let mut each = Vec::new();
    for sender in senders {
        let report = sender.await.expect("sender");
        each.push(report.sent.len());
        sent += report.sent.len();
    }
    assert_eq!(sent, messages, "{each:?}");
    let received = sink.wait_for(messages).await;
    let mut ids: HashMap<String, usize> = HashMap::new();
    for mail in &received {
        *ids.entry(mail.message_id()).or_default() += 1;
    }
    assert_eq!(ids.len(), messages, "every message arrived");
    assert!(ids.values().all(|n| *n == 1), "none twice: {ids:?}");
    assert_eq!(sink.received().len(), messages);
}

/// The most arrivals within any one second starting at an arrival.
fn busiest_second(arrivals: &[Instant]) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|t| **t >= *start && **t - *start < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// A registry paced at 2 requests per second (burst 1) sees at most
/// burst + 2 requests in any second from three instances together (each
/// holds at most 8 lookups ahead per registration slot, one slot each
/// here, so at least two instances look up).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_together_keep_a_registrys_pace() {
    const BURST: usize = 1;
    let domains = 12;
    let db = postgres_db();
    let paced = RdapServer::start(rdap_behaviour).await;
    let env = TestEnv::with_config(&format!(
        "[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [rdap]\nbootstrap_url = \"http://127.0.0.1:9/bootstrap.json\"\ntimeout_ms = 2000\n\
         [rdap.overrides]\n\"paced.test\" = \"{rdap}\"\n\
         [ratelimit]\nper_second = 1000.0\nburst = 100\nmax_concurrent = 16\nmax_wait_secs = 30\n\
         [ratelimit.servers]\n\"{key}\" = {{ per_second = 2.0, burst = {BURST}, max_concurrent = 4 }}\n\
         [scan]\nregistration_concurrency = 1\n",
        rdap = paced.url("/rdap/"),
        key = paced.addr,
    ));
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let stores = stores(&db, &["pace-1", "pace-2", "pace-3"]).await;
    let now = Utc::now();
    for d in 0..domains {
        let name = lapse::domain::names::HostName::from_canonical(format!("d{d}.paced.test"));
        let target = lapse::store::NewTarget {
            host: &name,
            port: None,
            registrable: &name,
            client: None,
            watch: Some(lapse::domain::fleet::Watch::Registration),
            tls: None,
            owner: None,
            platform: false,
        };
        stores[0].add_target(&target, now).await.expect("add");
    }
    let pki = TestPki::new();
    let holders = tokio::spawn(watch_holders(reader(&db).await));
    let mut runs = Vec::new();
    for store in &stores {
        let checker = RegistrationChecker::build(&config, store, now)
            .await
            .expect("registration checker");
        let engine = Engine::new(
            store.clone(),
            probe(&pki),
            Some(checker),
            EngineSettings::from_config(&config),
            Arc::new(SystemClock),
        );
        runs.push(tokio::spawn(async move {
            let (_stop_tx, stop) = tokio::sync::watch::channel(false);
            engine.run(&ScanScope::All, stop, None).await.expect("scan")
        }));
    }
    for run in runs {
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the scan ends")
            .expect("instance");
    }
    let arrivals: Vec<Instant> = paced.journal.arrivals().iter().map(|a| a.at).collect();
    assert_eq!(arrivals.len(), domains, "{:?}", paced.journal.queries());
    let busiest = busiest_second(&arrivals);
    assert!(busiest <= BURST + 2, "{busiest} requests in one second");
    let holders = tokio::time::timeout(Duration::from_secs(10), holders)
        .await
        .expect("the scan ends")
        .expect("watcher");
    assert!(holders.len() >= 2, "lookups shared: {holders:?}");
}

/// Two schedulers fire the same schedule at the same time: one scan row,
/// the second instance joins it (or finds it over).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cron_firing_starts_one_scan_across_instances() {
    for db in [postgres_db(), sqlite_db()] {
        let pki = TestPki::new();
        let leaf = pki.good_leaf(&[
            "*.d0.many.test",
            "*.d1.many.test",
            "*.d2.many.test",
            "*.d3.many.test",
            "*.d4.many.test",
            "*.d5.many.test",
            "*.d6.many.test",
            "*.d7.many.test",
            "*.d8.many.test",
            "*.d9.many.test",
        ]);
        let server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
        let stores = stores(&db, &["cron-1", "cron-2"]).await;
        endpoints(&stores[0], 40, server.addr.port()).await;
        let pool = reader(&db).await;
        pin_all(&pool).await;
        let fired = Utc::now();
        let mut runs = Vec::new();
        for store in &stores {
            let engine = Engine::new(
                store.clone(),
                probe(&pki),
                None,
                settings(Duration::from_secs(30)),
                Arc::new(SystemClock),
            );
            runs.push(tokio::spawn(async move {
                let (_stop_tx, stop) = tokio::sync::watch::channel(false);
                engine
                    .run_cron_firing("0 0 2 * * *", fired, stop)
                    .await
                    .expect("firing")
            }));
        }
        for run in runs {
            tokio::time::timeout(Duration::from_secs(60), run)
                .await
                .expect("the scan ends")
                .expect("scheduler");
        }
        assert_eq!(count(&pool, "SELECT COUNT(*) FROM scans").await, 1);
        assert_eq!(count(&pool, "SELECT COUNT(*) FROM cron_firings").await, 1);
        assert_eq!(server.connections.load(Ordering::SeqCst), 40);
        pool.close().await;
    }
}

/// `/readyz` lists the instances that beat lately with the work they hold,
/// beside the old fields; `/metrics` counts them.
#[tokio::test]
async fn readyz_and_metrics_show_the_instances() {
    let app = crate::harness::app::TestApp::builder()
        .fleet()
        .api()
        .config("[api]\nscheduler_heartbeat_max_age_secs = 60")
        .build()
        .await;
    let now = Utc::now();
    app.store
        .record_heartbeat("scheduler", app.store.instance(), now)
        .await
        .expect("beat");
    app.store
        .record_instance_beat("1.2.3", now, now)
        .await
        .expect("instance beat");
    let ready = app.call("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json["scheduler"]["state"], "ok");
    let instances = ready.json["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 1, "{instances:?}");
    assert_eq!(instances[0]["instance"], app.store.instance());
    assert_eq!(instances[0]["version"], "1.2.3");
    assert_eq!(instances[0]["scan_items_leased"], 0);
    assert_eq!(instances[0]["outbox_leased"], 0);
    let metrics = app.get("/metrics", "viewer").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text.clone();
    assert!(text.contains("\nlapse_instances 1\n"), "{text}");
    assert!(
        text.contains(&format!(
            "lapse_instance_leases{{instance=\"{}\",kind=\"scan_items\"}} 0",
            app.store.instance()
        )),
        "{text}"
    );
    app.stop().await;
}
