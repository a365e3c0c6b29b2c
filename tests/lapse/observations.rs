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
