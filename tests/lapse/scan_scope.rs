//! A scan requested through the API keeps its scope once the engine has
//! adopted and run it: `GET /api/v1/scans/{id}` reports the same scope
//! before and after, and a client token still sees its own client's and
//! domains' scans (and not another client's, nor the whole fleet's).
//!
//! The scans run on the scheduler's path (claim the queued row, adopt it,
//! run it) with the engine `serve` builds. Every endpoint is pinned to
//! 127.0.0.1, where nothing of the fleet listens, and the registry is the
//! harness's loopback RDAP server: nothing is contacted off loopback.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use lapse::domain::names::HostName;
use lapse::monitor::engine::Engine;
use serde_json::{json, Value};

use crate::harness::app::{Reply, TestApp};

/// Pins every endpoint of the fleet to 127.0.0.1: no DNS lookup leaves
/// the machine, and the probe refuses the reserved address.
async fn pin_fleet_to_loopback(app: &TestApp) {
    for (host, port) in [
        ("www.acme.test", 443),
        ("mail.acme.test", 587),
        ("www.globex.test", 443),
        ("orphan.test", 443),
    ] {
        app.store
            .pin_endpoint(
                &HostName::from_canonical(host),
                port,
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            )
            .await
            .expect("pin");
    }
}

/// Claims and runs every queued scan, as the scheduler's requested-scan
/// loop does, with the engine `serve` builds; returns how many it claimed.
async fn run_queued_scans(app: &TestApp) -> usize {
    let engine: Engine = lapse::app::build_engine(
        &app.app,
        Arc::new(app.clock.clone()),
        lapse::app::Alerting::On,
    )
    .await
    .expect("engine");
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    lapse::monitor::schedule::run_queued_scans(&engine, &app.clock, &stop).await
}

async fn request(app: &TestApp, body: Value) -> Reply {
    let reply = app
        .call("POST", "/api/v1/scans", Some("admin"), Some(body))
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json["state"], "queued");
    reply
}

fn scan_path(reply: &Reply) -> String {
    format!("/api/v1/scans/{}", reply.json["id"].as_i64().expect("id"))
}

#[tokio::test]
async fn requested_scans_keep_their_scope_and_visibility_once_the_engine_ran_them() {
    let app = TestApp::builder().fleet().api().rdap().build().await;
    pin_fleet_to_loopback(&app).await;
    let acme = app.ids["acme"];
    let fleet = request(&app, json!({"scope": "all"})).await;
    let client = request(&app, json!({"scope": "client", "client": "Acme"})).await;
    let domain = request(&app, json!({"scope": "domain", "domain": "acme.test"})).await;
    let domain_id = domain.json["scope"]["domain_id"].clone();
    let expected = [
        (&fleet, json!({"kind": "all"})),
        (
            &client,
            json!({"kind": "client", "client_id": acme, "client": "Acme"}),
        ),
        (
            &domain,
            json!({"kind": "domain", "domain_id": domain_id, "domain": "acme.test", "client_id": acme}),
        ),
    ];
    for (queued, scope) in &expected {
        assert_eq!(&queued.json["scope"], scope, "as requested: {queued:?}");
    }

    assert_eq!(run_queued_scans(&app).await, 3);

    for (queued, scope) in &expected {
        let path = scan_path(queued);
        let admin = app.get(&path, "admin").await;
        assert_eq!(admin.status, 200, "{admin:?}");
        assert_eq!(admin.json["state"], "finished", "{admin:?}");
        assert!(admin.json["items_total"].as_i64() > Some(0), "{admin:?}");
        assert_eq!(admin.json["items_done"], admin.json["items_total"]);
        assert_eq!(
            &admin.json["scope"], scope,
            "after the engine ran it: {admin:?}"
        );
    }
    // The whole fleet's scan is staff business; a client's scans are its client's.
    assert_eq!(app.get(&scan_path(&fleet), "acme").await.status, 404);
    for queued in [&client, &domain] {
        let path = scan_path(queued);
        let admin = app.get(&path, "admin").await;
        let own = app.get(&path, "acme").await;
        assert_eq!(own.status, 200, "the client's own scan: {own:?}");
        assert_eq!(own.json, admin.json, "the client sees what the admin sees");
        let other = app.get(&path, "globex").await;
        assert_eq!(other.status, 404, "another client's scan: {other:?}");
    }
    let listed = app.get("/api/v1/scans", "acme").await;
    let ids: Vec<&Value> = listed.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&domain.json["id"], &client.json["id"]], "{listed:?}");
    app.stop().await;
}
