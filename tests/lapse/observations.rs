//! Certificate observations recorded per endpoint and address, compactly:
//! a real probe against loopback servers, a real SQLite file.

use std::time::Duration;

use chrono::Utc;
use lapse::domain::names::HostName;
use lapse::probe::tls::{TlsProbe, TlsProbeSettings, TlsTarget};
use lapse::store::Store;

use crate::harness::cli::TestEnv;
use crate::harness::ip;
use crate::harness::pki::{TestPki, Validity};
use crate::harness::tls::TlsServer;

const HOST: &str = "www.lapse.test";

async fn store(env: &TestEnv) -> Store {
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    Store::open(&config.database).await.expect("store")
}

fn settings(pki: &TestPki) -> TlsProbeSettings {
    TlsProbeSettings {
        connect_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(3),
        deadline: Duration::from_secs(10),
        allow_ranges: vec!["127.0.0.0/8".parse().expect("range")],
        extra_ca_pem: Some(pki.root_pem()),
        ..TlsProbeSettings::default()
    }
}

#[tokio::test]
async fn unchanged_result_refreshes_last_seen_and_a_renewal_adds_a_row() {
    let env = TestEnv::new();
    let store = store(&env).await;
    let host = HostName::from_canonical(HOST);
    let now = Utc::now();
    store
        .add_endpoint(
            &host,
            443,
            &HostName::from_canonical("lapse.test"),
            None,
            now,
        )
        .await
        .expect("add");
    let endpoint = store.endpoint_id(&host, 443).await.expect("id");

    let pki = TestPki::new();
    let old = pki.good_leaf(&[HOST]);
    let server = TlsServer::start(ip("127.0.0.1"), pki.served(&old), old.key_der()).await;
    let probe = TlsProbe::new(settings(&pki)).expect("probe");
    let target = TlsTarget::new(HOST, server.addr.port()).with_pinned_address(ip("127.0.0.1"));

    let first = probe.check(&target, now).await;
    let summary = store
        .record_cert_observations(endpoint, &first.observations(), now)
        .await
        .expect("record");
    assert_eq!((summary.inserted, summary.refreshed), (1, 0));

    let later = now + chrono::Duration::days(1);
    let second = probe.check(&target, later).await;
    let summary = store
        .record_cert_observations(endpoint, &second.observations(), later)
        .await
        .expect("record");
    assert_eq!(
        (summary.inserted, summary.refreshed),
        (0, 1),
        "one day older is unchanged"
    );
    let history = store
        .cert_observations(endpoint, false)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].last_seen_at, lapse::store::format_time(later));
    assert_eq!(history[0].address, "127.0.0.1");
    assert_eq!(history[0].outcome, "ok");
    assert_eq!(
        history[0].leaf_fingerprint.as_deref(),
        Some(old.fingerprint().as_str())
    );

    // Renewed: a new certificate is served on the same address (a new
    // server on another port stands in for the reloaded one).
    drop(server);
    let renewed = pki.leaf(&[HOST], Validity::days(pki.now, -1, 89));
    let server = TlsServer::start(ip("127.0.0.1"), pki.served(&renewed), renewed.key_der()).await;
    let target = TlsTarget::new(HOST, server.addr.port()).with_pinned_address(ip("127.0.0.1"));
    let third = probe.check(&target, later).await;
    let summary = store
        .record_cert_observations(endpoint, &third.observations(), later)
        .await
        .expect("record");
    assert_eq!((summary.inserted, summary.refreshed), (1, 0));
    let current = store
        .cert_observations(endpoint, true)
        .await
        .expect("current");
    assert_eq!(current.len(), 1);
    assert_eq!(
        current[0].leaf_fingerprint.as_deref(),
        Some(renewed.fingerprint().as_str())
    );
    assert_eq!(
        store
            .cert_observations(endpoint, false)
            .await
            .expect("history")
            .len(),
        2
    );
    drop(server);
}

#[tokio::test]
async fn an_address_that_disappears_stops_being_current() {
    let env = TestEnv::new();
    let store = store(&env).await;
    let host = HostName::from_canonical(HOST);
    let now = Utc::now();
    store
        .add_endpoint(
            &host,
            443,
            &HostName::from_canonical("lapse.test"),
            None,
            now,
        )
        .await
        .expect("add");
    let endpoint = store.endpoint_id(&host, 443).await.expect("id");
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = TlsServer::start(ip("127.0.0.2"), pki.served(&leaf), leaf.key_der()).await;
    let probe = TlsProbe::new(settings(&pki)).expect("probe");
    let reachable = TlsTarget::new(HOST, server.addr.port()).with_pinned_address(ip("127.0.0.2"));
    let report = probe.check(&reachable, now).await;
    store
        .record_cert_observations(endpoint, &report.observations(), now)
        .await
        .expect("record");

    let moved = TlsTarget::new(HOST, server.addr.port()).with_pinned_address(ip("127.0.0.3"));
    let report = probe.check(&moved, now).await;
    let summary = store
        .record_cert_observations(endpoint, &report.observations(), now)
        .await
        .expect("record");
    assert_eq!(summary.retired, 1);
    let current = store
        .cert_observations(endpoint, true)
        .await
        .expect("current");
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].address, "127.0.0.3");
    assert_eq!(
        current[0].outcome, "unknown",
        "connection refused: could not check"
    );
}

/// One synthetic observation of `address`: its outcome, leaf expiry (days
/// from `now`) and a fingerprint that tells results apart.
fn observation(
    address: &str,
    outcome: lapse::domain::certificate::Severity,
    days: Option<i64>,
    tag: &str,
    now: chrono::DateTime<Utc>,
) -> lapse::domain::observation::CertObservation {
    let details = serde_json::json!({ "tag": tag, "findings": [] });
    let not_after = days.map(|d| now + chrono::Duration::days(d));
    lapse::domain::observation::CertObservation {
        address: address.to_owned(),
        outcome,
        leaf_fingerprint: days.map(|_| format!("{tag:0>64}")),
        leaf_not_after: not_after,
        chain_not_after: not_after,
        result_hash: lapse::domain::observation::stable_hash(&details),
        details,
    }
}

/// A domain's certificate columns (earliest leaf expiry, worst outcome)
/// follow the current observations of its own endpoints, recorded one
/// endpoint at a time (each recording looks the domain's values up by
/// index, migration 0308): a renewal that retires the worst result lowers
/// the outcome, an address without a certificate counts as unknown, and
/// another domain's results never leak in.
#[tokio::test]
async fn a_domains_certificate_columns_follow_the_current_observations_of_its_endpoints() {
    use lapse::domain::certificate::Severity;
    let env = TestEnv::new();
    let store = store(&env).await;
    let now = Utc::now();
    let mut ids = std::collections::HashMap::new();
    for (host, domain) in [
        ("a.platform.test", "platform.test"),
        ("b.platform.test", "platform.test"),
        ("c.platform.test", "platform.test"),
        ("d.platform.test", "platform.test"),
        ("x.other.test", "other.test"),
    ] {
        let host_name = HostName::from_canonical(host);
        store
            .add_endpoint(
                &host_name,
                443,
                &HostName::from_canonical(domain),
                None,
                now,
            )
            .await
            .expect("add");
        ids.insert(host, store.endpoint_id(&host_name, 443).await.expect("id"));
    }
    let record = |host: &'static str, observations: Vec<_>| {
        let store = store.clone();
        let id = ids[host];
        async move {
            store
                .record_cert_observations(id, &observations, now)
                .await
                .expect("record")
        }
    };
    let columns = |domain: &'static str| {
        let pool = env.db();
        async move {
            let row =
                sqlx::query("SELECT cert_not_after, cert_outcome FROM domains WHERE name = $1")
                    .bind(domain)
                    .fetch_one(&pool.await)
                    .await
                    .expect("domain");
            use sqlx::Row;
            (
                row.get::<Option<String>, _>("cert_not_after"),
                row.get::<Option<String>, _>("cert_outcome"),
            )
        }
    };
    let day = |d: i64| Some(lapse::store::format_time(now + chrono::Duration::days(d)));

    assert_eq!(
        columns("platform.test").await,
        (None, None),
        "nothing seen yet"
    );
    record(
        "x.other.test",
        vec![observation(
            "192.0.2.9",
            Severity::Critical,
            Some(-3),
            "x",
            now,
        )],
    )
    .await;
    record(
        "a.platform.test",
        vec![observation("192.0.2.1", Severity::Ok, Some(90), "a", now)],
    )
    .await;
    assert_eq!(columns("platform.test").await, (day(90), Some("ok".into())));
    record(
        "b.platform.test",
        vec![observation(
            "192.0.2.2",
            Severity::Warning,
            Some(20),
            "b",
            now,
        )],
    )
    .await;
    record(
        "c.platform.test",
        vec![observation(
            "192.0.2.3",
            Severity::Critical,
            Some(-1),
            "c",
            now,
        )],
    )
    .await;
    assert_eq!(
        columns("platform.test").await,
        (day(-1), Some("critical".into()))
    );

    // c renewed: its expired result stops being current.
    let summary = record(
        "c.platform.test",
        vec![observation("192.0.2.3", Severity::Ok, Some(89), "c2", now)],
    )
    .await;
    assert_eq!(summary.inserted, 1, "{summary:?}");
    assert_eq!(
        columns("platform.test").await,
        (day(20), Some("warning".into()))
    );

    // d: one address serves nothing readable (no expiry), the other is fine.
    record(
        "d.platform.test",
        vec![
            observation("192.0.2.4", Severity::Unknown, None, "d-none", now),
            observation("192.0.2.5", Severity::Ok, Some(60), "d", now),
        ],
    )
    .await;
    assert_eq!(
        columns("platform.test").await,
        (day(20), Some("unknown".into()))
    );
    assert_eq!(
        columns("other.test").await,
        (day(-3), Some("critical".into()))
    );

    // d's unreadable address goes away: the domain is back to its warning.
    record(
        "d.platform.test",
        vec![observation("192.0.2.5", Severity::Ok, Some(60), "d", now)],
    )
    .await;
    assert_eq!(
        columns("platform.test").await,
        (day(20), Some("warning".into()))
    );
}
