//! The fleet model as the API, the calendar, the metrics and the staff
//! digest read it: `needs_date` until a date is entered by hand,
//! `not_found`, a domain shared by two clients seen by each through its own
//! endpoints, what the watch mode leaves out.

use chrono::{DateTime, Duration, Utc};
use lapse::domain::access::Visibility;
use lapse::domain::fleet::Watch;
use lapse::domain::names::HostName;
use lapse::domain::registration::{assess, RegistrationFacts, Source, SourcedFacts};
use lapse::domain::status::StatusWindows;
use lapse::probe::ParseOutcome;
use lapse::store::read_models::{DomainQuery, DomainSort, Totals};
use lapse::store::{NewTarget, Store};
use serde_json::{json, Value};

use crate::harness::app::{observation, TestApp};

const STAFF: &str = "staff@agency.example";

fn host(name: &str) -> HostName {
    HostName::from_canonical(name)
}

/// Stores a target through the store's one writer.
async fn add(
    store: &Store,
    name: &str,
    port: Option<u16>,
    registrable: &str,
    client: Option<&str>,
    watch: Option<Watch>,
    now: DateTime<Utc>,
) {
    let (name, registrable) = (host(name), host(registrable));
    store
        .add_target(
            &NewTarget {
                host: &name,
                port,
                registrable: &registrable,
                client,
                watch,
                tls: None,
                owner: None,
                platform: false,
            },
            now,
        )
        .await
        .expect("target");
}

/// Records a registry lookup that answered `outcome` without an expiry,
/// as the registration checker does: assessed, then recorded.
async fn registry_answers(store: &Store, domain: &str, outcome: ParseOutcome, now: DateTime<Utc>) {
    let answers = [SourcedFacts {
        source: Source::RegistryRdap,
        server: "https://rdap.example/".into(),
        fetched_at: now,
        facts: RegistrationFacts {
            outcome,
            ..RegistrationFacts::default()
        },
    }];
    let assessment = assess(&answers, None, None, now);
    let id = store.domain_id(&host(domain)).await.expect("domain id");
    store
        .record_registration(
            id,
            &answers,
            &assessment,
            None,
            now + Duration::days(1),
            now,
        )
        .await
        .expect("recorded");
}

fn names(reply: &Value) -> Vec<&str> {
    reply["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect()
}

fn hosts(endpoints: &Value) -> Vec<&str> {
    endpoints
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e["host"].as_str().expect("host"))
        .collect()
}

#[tokio::test]
async fn a_registration_with_nothing_published_needs_a_date_until_one_is_entered() {
    let app = TestApp::new().await;
    let now = app.now();
    add(
        &app.store,
        "parked.test",
        None,
        "parked.test",
        None,
        Some(Watch::Registration),
        now,
    )
    .await;
    registry_answers(&app.store, "parked.test", ParseOutcome::NotPublished, now).await;

    let listed = app.get("/api/v1/domains?status=needs_date", "viewer").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(names(&listed.json), ["parked.test"]);
    assert_eq!(listed.json["total"], 1);
    let detail = app.get("/api/v1/domains/parked.test", "viewer").await;
    assert_eq!(detail.json["status"], "needs_date", "{detail:?}");
    assert_eq!(detail.json["watch"], "registration");
    assert_eq!(detail.json["registration_owner"], json!({"kind": "agency"}));
    assert_eq!(detail.json["registration"]["outcome"], "not_published");
    assert_eq!(detail.json["endpoint_count"], 0);
    let summary = app.get("/api/v1/summary", "viewer").await;
    assert_eq!(summary.json["domains_by_status"]["needs_date"], 1);
    let metrics = app.get("/metrics", "viewer").await;
    assert!(
        metrics
            .text
            .contains("lapse_domains{status=\"needs_date\"} 1\n"),
        "{}",
        metrics.text
    );

    // A date entered by hand clears it.
    let date = (now + Duration::days(300)).date_naive();
    app.store
        .set_manual_expiry(&host("parked.test"), date, Some("invoice"), now)
        .await
        .expect("manual date");
    let listed = app.get("/api/v1/domains?status=needs_date", "viewer").await;
    assert_eq!(names(&listed.json), Vec::<&str>::new());
    assert_eq!(listed.json["total"], 0);
    let detail = app.get("/api/v1/domains/parked.test", "viewer").await;
    assert_eq!(detail.json["status"], "ok", "{detail:?}");
    assert_eq!(detail.json["registration"]["source"], "manual");
    app.stop().await;
}

#[tokio::test]
async fn a_domain_the_registry_does_not_know_is_not_found_while_its_registration_is_watched() {
    let app = TestApp::new().await;
    let now = app.now();
    add(
        &app.store,
        "gone.test",
        Some(443),
        "gone.test",
        None,
        None,
        now,
    )
    .await;
    let id = app
        .store
        .endpoint_id(&host("gone.test"), 443)
        .await
        .expect("endpoint");
    let mut unreachable = observation("127.0.0.1", 40, now);
    unreachable.outcome = lapse::domain::certificate::Severity::Unknown;
    unreachable.leaf_not_after = None;
    unreachable.chain_not_after = None;
    unreachable.leaf_fingerprint = None;
    app.store
        .record_cert_observations(id, &[unreachable], now)
        .await
        .expect("observation");
    registry_answers(&app.store, "gone.test", ParseOutcome::NotFound, now).await;

    let detail = app.get("/api/v1/domains/gone.test", "viewer").await;
    assert_eq!(detail.json["status"], "not_found", "{detail:?}");
    let listed = app.get("/api/v1/domains?status=not_found", "viewer").await;
    assert_eq!(names(&listed.json), ["gone.test"]);
    let failing = app.get("/api/v1/domains?status=failing", "viewer").await;
    assert_eq!(
        names(&failing.json),
        Vec::<&str>::new(),
        "not_found outranks"
    );
    let summary = app.get("/api/v1/summary", "viewer").await;
    assert_eq!(summary.json["domains_by_status"]["not_found"], 1);

    // Watched for its endpoint alone, the registry's answer no longer counts.
    app.store
        .set_watch(&host("gone.test"), Watch::Tls, now)
        .await
        .expect("watch");
    let detail = app.get("/api/v1/domains/gone.test", "viewer").await;
    assert_eq!(detail.json["status"], "failing", "{detail:?}");
    assert_eq!(detail.json["watch"], "tls");
    app.stop().await;
}

/// `shop.acme.test` belongs to Globex under Acme's `acme.test`; its
/// certificate expires in 10 days, Acme's in 40, the registration in 100.
async fn shared_fleet() -> TestApp {
    let app = TestApp::new().await;
    let now = app.now();
    add(
        &app.store,
        "shop.acme.test",
        Some(443),
        "acme.test",
        Some("Globex"),
        None,
        now,
    )
    .await;
    let shop = app
        .store
        .endpoint_id(&host("shop.acme.test"), 443)
        .await
        .expect("endpoint");
    app.store
        .record_cert_observations(shop, &[observation("127.0.0.1", 10, now)], now)
        .await
        .expect("observation");
    app.set_registration_expiry(
        "acme.test",
        &lapse::store::format_time(now + Duration::days(100)),
    )
    .await;
    app
}

#[tokio::test]
async fn a_client_token_sees_a_shared_domain_with_only_its_own_endpoints() {
    let app = shared_fleet().await;
    let (acme, globex) = (app.ids["acme"], app.ids["globex"]);

    let listed = app.get("/api/v1/domains?sort=name", "globex").await;
    assert_eq!(names(&listed.json), ["acme.test", "globex.test"]);
    let item = &listed.json["items"][0];
    assert_eq!(item["client"], Value::Null, "another client's registration");
    assert_eq!(item["registration_owner"], json!({"kind": "client"}));
    assert_eq!(item["endpoint_count"], 1);
    // Certificates, status and order over its own endpoints.
    assert_eq!(item["certificate"]["days_left"], 9, "{item}");
    assert_eq!(item["status"], "expiring");

    let detail = app.get("/api/v1/domains/acme.test", "globex").await;
    assert_eq!(detail.status, 200, "{detail:?}");
    assert_eq!(hosts(&detail.json["endpoints"]), ["shop.acme.test"]);
    assert_eq!(
        detail.json["endpoints"][0]["client"],
        json!({"id": globex, "name": "Globex"})
    );
    assert_eq!(detail.json["endpoints"][0]["tls_mode"], "direct");
    assert_eq!(
        detail.json["open_alerts"],
        json!([]),
        "Acme's registration alert is Acme's"
    );
    let endpoints = app
        .get("/api/v1/domains/acme.test/endpoints", "globex")
        .await;
    assert_eq!(hosts(&endpoints.json), ["shop.acme.test"]);
    let observations = app
        .get("/api/v1/domains/acme.test/observations", "globex")
        .await;
    let observed: Vec<&str> = observations.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["host"].as_str().expect("host"))
        .collect();
    assert_eq!(observed, ["shop.acme.test"]);
    let www = app.ids["www.acme.test"];
    let other = app.get(&format!("/api/v1/endpoints/{www}"), "globex").await;
    assert_eq!(other.status, 404, "{other:?}");

    // The owner sees its registration and its endpoints, not Globex's.
    let own = app.get("/api/v1/domains/acme.test", "acme").await;
    assert_eq!(
        own.json["registration_owner"],
        json!({"kind": "client", "id": acme, "name": "Acme"})
    );
    assert_eq!(own.json["client"], json!({"id": acme, "name": "Acme"}));
    assert_eq!(
        hosts(&own.json["endpoints"]),
        ["mail.acme.test", "www.acme.test"]
    );
    assert_eq!(own.json["endpoint_count"], 2);
    assert_eq!(
        own.json["certificate"]["days_left"], 39,
        "Globex's is not Acme's"
    );
    assert_eq!(own.json["status"], "ok");
    let expiring = app.get("/api/v1/domains?status=expiring", "acme").await;
    assert_eq!(names(&expiring.json), Vec::<&str>::new());
    let expiring = app.get("/api/v1/domains?status=expiring", "globex").await;
    assert_eq!(names(&expiring.json), ["acme.test"]);
    // Staff see everything; the client filter follows endpoints too.
    let all = app.get("/api/v1/domains/acme.test", "viewer").await;
    assert_eq!(all.json["endpoint_count"], 3);
    assert_eq!(all.json["certificate"]["days_left"], 9);
    assert_eq!(all.json["status"], "expiring");
    let by_client = app
        .get("/api/v1/domains?client=Globex&sort=name", "viewer")
        .await;
    assert_eq!(names(&by_client.json), ["acme.test", "globex.test"]);
    let client = app
        .get(&format!("/api/v1/clients/{globex}"), "viewer")
        .await;
    assert_eq!(client.json["domains"], 2, "{client:?}");
    let summary = app.get("/api/v1/summary", "globex").await;
    assert_eq!(summary.json["domains"], 2);
    assert_eq!(summary.json["endpoints"], 2);
    app.stop().await;
}

#[tokio::test]
async fn calendar_entries_follow_their_owner_and_the_watch_mode() {
    let app = shared_fleet().await;
    let now = app.now();
    let feed = |who: &'static str| {
        let app = &app;
        async move {
            let reply = app.get("/api/v1/calendar.ics", who).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            reply.text.replace("\r\n ", "")
        }
    };
    let globex = feed("globex").await;
    assert!(
        globex.contains("SUMMARY:Certificate of shop.acme.test:443 expires"),
        "{globex}"
    );
    assert!(globex.contains("Client: Globex."), "{globex}");
    assert!(!globex.contains("www.acme.test"), "{globex}");
    assert!(
        !globex.contains("Registration of acme.test"),
        "Acme's registration: {globex}"
    );
    let acme = feed("acme").await;
    assert!(acme.contains("Registration of acme.test expires"), "{acme}");
    assert!(acme.contains("Certificate of www.acme.test:443"), "{acme}");
    assert!(!acme.contains("shop.acme.test"), "{acme}");

    // Registration only: no certificate events; endpoints alone: no registration event.
    app.store
        .set_watch(&host("acme.test"), Watch::Registration, now)
        .await
        .expect("watch");
    let staff = feed("viewer").await;
    assert!(staff.contains("Registration of acme.test"), "{staff}");
    assert!(!staff.contains("acme.test:"), "{staff}");
    app.store
        .set_watch(&host("acme.test"), Watch::Tls, now)
        .await
        .expect("watch");
    app.set_registration_expiry(
        "acme.test",
        &lapse::store::format_time(now + Duration::days(100)),
    )
    .await;
    let staff = feed("viewer").await;
    assert!(!staff.contains("Registration of acme.test"), "{staff}");
    let metrics = app.get("/metrics", "viewer").await;
    assert!(
        !metrics.text.contains("domain=\"acme.test\""),
        "{}",
        metrics.text
    );
    app.stop().await;
}

/// The JSON SQLite renders equals the typed read models for the shapes the
/// fleet model adds: a shared domain seen by each client and by staff,
/// registration owners of every kind, watch modes.
#[tokio::test]
async fn sql_rendered_json_matches_the_typed_read_models_for_shared_domains() {
    let app = shared_fleet().await;
    let now = app.now();
    add(
        &app.store,
        "parked.test",
        None,
        "parked.test",
        None,
        Some(Watch::Registration),
        now,
    )
    .await;
    registry_answers(&app.store, "parked.test", ParseOutcome::NotPublished, now).await;
    app.store
        .set_registration_owner(
            &host("orphan.test"),
            lapse::domain::fleet::OwnerKind::None,
            None,
        )
        .await
        .expect("owner");
    let mut queries = vec![DomainQuery::default()];
    for client in ["acme", "globex"] {
        queries.push(DomainQuery {
            client_id: Some(app.ids[client]),
            ..DomainQuery::default()
        });
    }
    for status in lapse::domain::status::DomainStatus::ALL {
        queries.push(DomainQuery {
            status: Some(status),
            ..DomainQuery::default()
        });
    }
    let windows = StatusWindows::new(now, 60, 30);
    let totals = Totals::default();
    for visibility in [
        Visibility::All,
        Visibility::Client(app.ids["acme"]),
        Visibility::Client(app.ids["globex"]),
    ] {
        for name in ["acme.test", "globex.test", "orphan.test", "parked.test"] {
            let typed = app
                .store
                .domain_detail(visibility, &windows, &host(name))
                .await;
            let sql = app
                .store
                .domain_detail_json(visibility, &windows, &host(name))
                .await;
            match (typed, sql) {
                (Ok(typed), Ok(sql)) => assert_eq!(
                    serde_json::from_str::<Value>(&sql).expect("JSON"),
                    serde_json::to_value(&typed).expect("typed"),
                    "{name} {visibility:?}"
                ),
                (Err(typed), Err(sql)) => assert_eq!(typed.to_string(), sql.to_string()),
                (typed, sql) => panic!("{name} {visibility:?}: {typed:?} vs {sql:?}"),
            }
        }
        for query in &queries {
            let query = DomainQuery {
                sort: DomainSort::Name,
                limit: 10,
                ..query.clone()
            };
            let typed = app
                .store
                .domain_page(visibility, &windows, &query)
                .await
                .expect("typed page");
            let sql = app
                .store
                .domain_page_json(visibility, &windows, &query, &totals)
                .await
                .expect("SQL page");
            assert_eq!(
                serde_json::from_str::<Value>(&sql).expect("JSON"),
                serde_json::to_value(&typed).expect("typed"),
                "{query:?} {visibility:?}"
            );
        }
    }
    let orphan = app.get("/api/v1/domains/orphan.test", "viewer").await;
    assert_eq!(orphan.json["registration_owner"], json!({"kind": "none"}));
    app.stop().await;
}

#[tokio::test]
async fn the_staff_digest_lists_a_registration_that_needs_a_date_until_it_is_set() {
    let app = TestApp::builder()
        .memory_mail()
        .config(&format!(
            "[alerts]\nstaff = [\"{STAFF}\"]\nstaff_delivery = \"digest\"\n"
        ))
        .build()
        .await;
    let now = app.now();
    add(
        &app.store,
        "parked.test",
        None,
        "parked.test",
        None,
        Some(Watch::Registration),
        now,
    )
    .await;
    registry_answers(&app.store, "parked.test", ParseOutcome::NotPublished, now).await;
    let settings = app.settings();
    let digest = |due: DateTime<Utc>| {
        let (store, settings) = (&app.store, &settings);
        async move {
            lapse::monitor::digest::send_digest(store, settings, due, due)
                .await
                .expect("digest")
                .expect("a new digest")
        }
    };
    // Every digest repeats it, with the command, until the date is set.
    for day in 0..2 {
        let due = now + Duration::days(day);
        assert_eq!(digest(due).await.len(), 1, "day {day}");
        app.deliver(due).await;
    }
    let sent = app.mailbox().sent();
    assert_eq!(sent.len(), 2);
    for mail in &sent {
        assert_eq!(mail.to, [STAFF]);
        assert_eq!(
            mail.subject,
            "lapse digest: 0 alert events, 1 registration date to enter"
        );
        assert!(
            mail.text.contains(
                "- parked.test: the registry publishes no expiry date; enter it with `lapse domains set-expiry parked.test YYYY-MM-DD`"
            ),
            "{}",
            mail.text
        );
    }
    app.store
        .set_manual_expiry(
            &host("parked.test"),
            (now + Duration::days(300)).date_naive(),
            None,
            now,
        )
        .await
        .expect("manual date");
    assert_eq!(
        digest(now + Duration::days(2)).await,
        Vec::<String>::new(),
        "nothing left to tell"
    );
}

#[tokio::test]
async fn a_scan_of_a_shared_domain_is_seen_by_both_clients_without_the_other_owner() {
    let app = shared_fleet().await;
    let now = app.now();
    let acme = app.ids["acme"];
    let domain_id = app
        .store
        .domain_id(&host("acme.test"))
        .await
        .expect("domain id");
    let (scan, _) = app
        .store
        .request_scan(&lapse::store::ScanScope::Domain { domain_id }, now)
        .await
        .expect("scan");
    let path = format!("/api/v1/scans/{}", scan.id);
    let seen = app.get(&path, "globex").await;
    assert_eq!(seen.status, 200, "{seen:?}");
    assert_eq!(
        seen.json["scope"],
        json!({"kind": "domain", "domain_id": domain_id, "domain": "acme.test", "client_id": null})
    );
    let own = app.get(&path, "acme").await;
    assert_eq!(own.json["scope"]["client_id"], acme);
    let listed = app.get("/api/v1/scans", "globex").await;
    assert_eq!(listed.json["total"], 1, "{listed:?}");
    // Once Globex owns nothing under it, the scan is none of its business.
    app.store
        .set_endpoint_client(&host("shop.acme.test"), 443, Some("Acme"))
        .await
        .expect("endpoint client");
    assert_eq!(app.get(&path, "globex").await.status, 404);
    app.stop().await;
}

/// On a shared domain a client's figures follow its own endpoints, which
/// can change while the domain's row (and so the cached totals'
/// generation) does not: its filtered totals are counted afresh.
#[tokio::test]
async fn a_clients_filtered_totals_follow_its_own_endpoints_on_a_shared_domain() {
    let app = shared_fleet().await;
    let now = app.now();
    let expiring = || app.get("/api/v1/domains?status=expiring", "acme");
    let before = expiring().await;
    assert_eq!(before.json["total"], 0, "{before:?}");
    assert_eq!(expiring().await.json["total"], 0);
    // Acme's certificate now expires in 20 days; Globex's, in 10, is still
    // the domain's earliest, so the domain's row keeps its values.
    app.store
        .record_cert_observations(
            app.ids["www.acme.test"],
            &[observation("127.0.0.1", 20, now)],
            now,
        )
        .await
        .expect("observation");
    let after = expiring().await;
    assert_eq!(names(&after.json), ["acme.test"]);
    assert_eq!(after.json["total"], 1, "{after:?}");
    app.stop().await;
}
