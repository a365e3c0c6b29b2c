//! The JSON API over real HTTP on 127.0.0.1:0 against a real SQLite file:
//! roles on every route, client isolation on every route, validation
//! errors and their codes, paging, rate limits, the OpenAPI document,
//! metrics, readiness, the calendar and the token commands.

use std::collections::HashSet;

use chrono::Utc;
use lapse::store::ScanScope;
use serde_json::{json, Value};

use crate::harness::app::{observation, Reply, TestApp};

const ROLES: [&str; 4] = ["viewer", "acme", "staff", "admin"];
const EVERYONE: &[&str] = &["viewer", "acme", "staff", "admin"];
const WRITERS: &[&str] = &["staff", "admin"];
const ADMINS: &[&str] = &["admin"];
const FLEET_READERS: &[&str] = &["viewer", "staff", "admin"];

/// One route of the API: method, documented path, a concrete request, and
/// the token roles allowed to use it.
struct Route {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Option<Value>,
    allowed: &'static [&'static str],
}

fn route(
    method: &'static str,
    template: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    allowed: &'static [&'static str],
) -> Route {
    Route {
        method,
        template,
        path: path.into(),
        body,
        allowed,
    }
}

/// Every route that needs a token, with requests that make sense on the fleet.
async fn token_routes(app: &TestApp) -> Vec<Route> {
    let now = Utc::now();
    let acme = app.ids["acme"];
    app.store
        .add_client("Hooli", &[], now)
        .await
        .expect("hooli");
    let hooli = app
        .store
        .resolve_client(lapse::domain::access::Visibility::All, "Hooli")
        .await
        .expect("resolve")
        .expect("hooli exists")
        .id;
    let (scan, _) = app
        .store
        .request_scan(&ScanScope::Client { client_id: acme }, now)
        .await
        .expect("scan");
    let throwaway = app
        .store
        .create_api_token(
            &lapse::store::NewToken {
                name: "throwaway".into(),
                role: lapse::domain::access::Role::Viewer,
                client: None,
                token_hash: "0".repeat(64),
            },
            now,
        )
        .await
        .expect("token")
        .id;
    let www = app.ids["www.acme.test"];
    let mail = app.ids["mail.acme.test"];
    let fleet = crate::api_fleet::routes(app).await.into_iter();
    let handling = crate::alert_handling::api_routes(app).await.into_iter();
    let mut routes = vec![
        route("GET", "/api/v1/me", "/api/v1/me", None, EVERYONE),
        // No channel is configured here: writers get 404, the others 403.
        route(
            "GET",
            "/api/v1/channels",
            "/api/v1/channels",
            None,
            FLEET_READERS,
        ),
        route(
            "PUT",
            "/api/v1/channels/{name}/staff",
            "/api/v1/channels/ops/staff",
            Some(json!({})),
            WRITERS,
        ),
        route(
            "DELETE",
            "/api/v1/channels/{name}/staff",
            "/api/v1/channels/ops/staff",
            None,
            WRITERS,
        ),
        route(
            "PUT",
            "/api/v1/channels/{name}/clients/{id}",
            format!("/api/v1/channels/ops/clients/{acme}"),
            Some(json!({"min_severity": "warning"})),
            WRITERS,
        ),
        route(
            "DELETE",
            "/api/v1/channels/{name}/clients/{id}",
            format!("/api/v1/channels/ops/clients/{acme}"),
            None,
            WRITERS,
        ),
        route("GET", "/api/v1/clients", "/api/v1/clients", None, EVERYONE),
        route(
            "POST",
            "/api/v1/clients",
            "/api/v1/clients",
            Some(json!({"name": "Initech"})),
            WRITERS,
        ),
        route(
            "GET",
            "/api/v1/clients/{id}",
            format!("/api/v1/clients/{acme}"),
            None,
            EVERYONE,
        ),
        route(
            "PATCH",
            "/api/v1/clients/{id}",
            format!("/api/v1/clients/{acme}"),
            Some(json!({"name": "Acme"})),
            WRITERS,
        ),
        route(
            "DELETE",
            "/api/v1/clients/{id}",
            format!("/api/v1/clients/{hooli}"),
            None,
            WRITERS,
        ),
        route(
            "GET",
            "/api/v1/clients/{id}/delivery",
            format!("/api/v1/clients/{acme}/delivery"),
            None,
            EVERYONE,
        ),
        route(
            "PATCH",
            "/api/v1/clients/{id}/delivery",
            format!("/api/v1/clients/{acme}/delivery"),
            Some(json!({"delivery": "daily", "digest_hour": 9, "timezone": "Europe/Berlin"})),
            WRITERS,
        ),
        route(
            "GET",
            "/api/v1/clients/{id}/contacts",
            format!("/api/v1/clients/{acme}/contacts"),
            None,
            EVERYONE,
        ),
        route(
            "POST",
            "/api/v1/clients/{id}/contacts",
            format!("/api/v1/clients/{acme}/contacts"),
            Some(json!({"email": "new@acme.example"})),
            WRITERS,
        ),
        route(
            "DELETE",
            "/api/v1/clients/{id}/contacts/{contact_id}",
            format!("/api/v1/clients/{acme}/contacts/999999"),
            None,
            WRITERS,
        ),
        route("GET", "/api/v1/domains", "/api/v1/domains", None, EVERYONE),
        route(
            "POST",
            "/api/v1/domains",
            "/api/v1/domains",
            Some(json!({"name": "new.test"})),
            WRITERS,
        ),
        route(
            "GET",
            "/api/v1/domains/{name}",
            "/api/v1/domains/acme.test",
            None,
            EVERYONE,
        ),
        route(
            "DELETE",
            "/api/v1/domains/{name}",
            "/api/v1/domains/orphan.test",
            None,
            WRITERS,
        ),
        route(
            "GET",
            "/api/v1/domains/{name}/endpoints",
            "/api/v1/domains/acme.test/endpoints",
            None,
            EVERYONE,
        ),
        route(
            "GET",
            "/api/v1/domains/{name}/observations",
            "/api/v1/domains/acme.test/observations",
            None,
            EVERYONE,
        ),
        route(
            "POST",
            "/api/v1/endpoints",
            "/api/v1/endpoints",
            Some(json!({"target": "api.acme.test:8443", "tls_mode": "direct"})),
            WRITERS,
        ),
        route(
            "GET",
            "/api/v1/endpoints/{id}",
            format!("/api/v1/endpoints/{www}"),
            None,
            EVERYONE,
        ),
        route(
            "PATCH",
            "/api/v1/endpoints/{id}",
            format!("/api/v1/endpoints/{www}"),
            Some(json!({"pinned_address": "127.0.0.1"})),
            WRITERS,
        ),
        route(
            "DELETE",
            "/api/v1/endpoints/{id}",
            format!("/api/v1/endpoints/{mail}"),
            None,
            WRITERS,
        ),
        route(
            "GET",
            "/api/v1/endpoints/{id}/observations",
            format!("/api/v1/endpoints/{www}/observations"),
            None,
            EVERYONE,
        ),
        route(
            "POST",
            "/api/v1/imports",
            "/api/v1/imports",
            Some(json!([{"host": "imported.test"}])),
            WRITERS,
        ),
        route("GET", "/api/v1/alerts", "/api/v1/alerts", None, EVERYONE),
        route(
            "POST",
            "/api/v1/scans",
            "/api/v1/scans",
            Some(json!({"scope": "all"})),
            WRITERS,
        ),
        route("GET", "/api/v1/scans", "/api/v1/scans", None, EVERYONE),
        route(
            "GET",
            "/api/v1/scans/{id}",
            format!("/api/v1/scans/{}", scan.id),
            None,
            EVERYONE,
        ),
        route("GET", "/api/v1/summary", "/api/v1/summary", None, EVERYONE),
        route("GET", "/api/v1/tokens", "/api/v1/tokens", None, ADMINS),
        route(
            "POST",
            "/api/v1/tokens",
            "/api/v1/tokens",
            Some(json!({"name": "ci", "role": "viewer"})),
            ADMINS,
        ),
        route(
            "DELETE",
            "/api/v1/tokens/{id}",
            format!("/api/v1/tokens/{throwaway}"),
            None,
            ADMINS,
        ),
        route(
            "GET",
            "/api/v1/calendar.ics",
            "/api/v1/calendar.ics",
            None,
            EVERYONE,
        ),
        route("GET", "/metrics", "/metrics", None, FLEET_READERS),
    ];
    routes.extend(fleet.map(|(m, t, p, b, a)| route(m, t, p, b, a)));
    routes.extend(handling.map(|(m, t, p, b, a)| route(m, t, p, b, a)));
    routes
}

/// Routes anyone may call.
const PUBLIC_ROUTES: [(&str, &str); 4] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
];

#[tokio::test]
async fn every_route_refuses_a_request_without_a_token_or_with_a_bad_one() {
    let app = TestApp::new().await;
    for r in token_routes(&app).await {
        let reply = app.call(r.method, &r.path, None, r.body.clone()).await;
        assert_eq!(reply.status, 401, "{} {}: {reply:?}", r.method, r.path);
        assert_eq!(reply.code(), "unauthorized", "{} {}", r.method, r.path);
        assert!(reply.header("www-authenticate").starts_with("Bearer"));
        let forged = app
            .raw(
                app.http()
                    .request(r.method.parse().unwrap(), app.url(&r.path))
                    .bearer_auth("lapse_not-a-real-token"),
            )
            .await;
        assert_eq!(forged.status, 401, "{} {}", r.method, r.path);
    }
    for (method, path) in PUBLIC_ROUTES {
        let reply = app.call(method, path, None, None).await;
        assert_ne!(reply.status, 401, "{method} {path} is public");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_route_allows_exactly_its_roles() {
    let app = TestApp::new().await;
    for r in token_routes(&app).await {
        // Refused roles first, so that allowed deletes run last.
        for who in ROLES {
            let reply = app.call(r.method, &r.path, Some(who), r.body.clone()).await;
            if r.allowed.contains(&who) {
                assert!(
                    ![401, 403].contains(&reply.status) && reply.status < 500,
                    "{who} may {} {}: {reply:?}",
                    r.method,
                    r.path
                );
            } else {
                assert_eq!(
                    reply.status, 403,
                    "{who} may not {} {}: {reply:?}",
                    r.method, r.path
                );
                assert_eq!(reply.code(), "forbidden");
                assert!(reply.json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("token"));
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_parses_and_lists_every_route() {
    let app = TestApp::new().await;
    let reply = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(reply.status, 200);
    let doc = &reply.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let mut listed = 0;
    for path in doc["paths"].as_object().unwrap().values() {
        listed += path.as_object().unwrap().len();
    }
    let routes = token_routes(&app).await;
    for r in &routes {
        let op = &doc["paths"][r.template][r.method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is not documented",
            r.method,
            r.template
        );
        assert!(op["responses"].is_object(), "{} {}", r.method, r.template);
    }
    for (method, path) in PUBLIC_ROUTES.iter().filter(|(_, p)| *p != "/api/v1/docs") {
        let op = &doc["paths"][*path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert_eq!(
            op["security"],
            json!([{}]),
            "{path} is documented as public"
        );
    }
    assert_eq!(
        listed,
        routes.len() + 3,
        "every documented route is tested, and vice versa"
    );
    // The schemas a dashboard needs are in the document.
    for schema in [
        "DomainItem",
        "DomainDetail",
        "ErrorBody",
        "Summary",
        "ScanView",
        "AlertView",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let page = app.call("GET", "/api/v1/docs", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("/api/v1/docs/docs.js"));
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "no CDN"
    );
    assert!(page
        .header("content-security-policy")
        .contains("script-src 'self'"));
    let script = app.call("GET", "/api/v1/docs/docs.js", None, None).await;
    assert_eq!(script.status, 200);
    assert!(script.text.contains("/api/v1/openapi.json"));
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Client isolation, route by route.

fn names(reply: &Reply, key: &str) -> Vec<String> {
    let items = reply.json.get("items").unwrap_or(&reply.json);
    items
        .as_array()
        .unwrap_or_else(|| panic!("a list: {reply:?}"))
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn client_token_sees_only_its_client_on_every_route() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let (acme, globex) = (app.ids["acme"], app.ids["globex"]);
    let globex_www = app.ids["www.globex.test"];
    let acme_www = app.ids["www.acme.test"];
    let (acme_scan, _) = app
        .store
        .request_scan(&ScanScope::Client { client_id: acme }, now)
        .await
        .unwrap();
    let (globex_scan, _) = app
        .store
        .request_scan(&ScanScope::Client { client_id: globex }, now)
        .await
        .unwrap();
    let (all_scan, _) = app.store.request_scan(&ScanScope::All, now).await.unwrap();

    // me
    let me = app.get("/api/v1/me", "acme").await;
    assert_eq!(me.json["role"], "client");
    assert_eq!(me.json["client"]["name"], "Acme");
    // clients
    assert_eq!(
        names(&app.get("/api/v1/clients", "acme").await, "name"),
        ["Acme"]
    );
    assert_eq!(
        app.get(&format!("/api/v1/clients/{acme}"), "acme")
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(&format!("/api/v1/clients/{globex}"), "acme")
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/clients/{globex}/contacts"), "acme")
            .await
            .status,
        404
    );
    let contacts = app
        .get(&format!("/api/v1/clients/{acme}/contacts"), "acme")
        .await;
    assert_eq!(names(&contacts, "email"), ["ops@acme.example"]);
    // domains
    let domains = app.get("/api/v1/domains", "acme").await;
    assert_eq!(names(&domains, "name"), ["acme.test"]);
    assert_eq!(domains.json["total"], 1);
    assert_eq!(
        names(
            &app.get("/api/v1/domains?sort=name", "viewer").await,
            "name"
        ),
        ["acme.test", "globex.test", "orphan.test"]
    );
    let other = app.get("/api/v1/domains?client=Globex", "acme").await;
    assert_eq!((other.status, other.code()), (422, "unknown_client"));
    for path in [
        "/api/v1/domains/globex.test",
        "/api/v1/domains/globex.test/endpoints",
        "/api/v1/domains/globex.test/observations",
        "/api/v1/domains/orphan.test",
    ] {
        let reply = app.get(path, "acme").await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.code(), "not_found");
    }
    assert_eq!(
        app.get("/api/v1/domains/acme.test", "acme").await.status,
        200
    );
    assert_eq!(
        names(
            &app.get("/api/v1/domains/acme.test/endpoints", "acme").await,
            "host"
        ),
        ["mail.acme.test", "www.acme.test"]
    );
    // endpoints and observations
    assert_eq!(
        app.get(&format!("/api/v1/endpoints/{globex_www}"), "acme")
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/endpoints/{globex_www}/observations"),
            "acme"
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/endpoints/{acme_www}/observations"),
            "acme"
        )
        .await
        .json["total"],
        1
    );
    let history = app
        .get("/api/v1/domains/acme.test/observations", "acme")
        .await;
    assert_eq!(names(&history, "host"), ["mail.acme.test", "www.acme.test"]);
    // alerts
    let alerts = app.get("/api/v1/alerts", "acme").await;
    assert_eq!(names(&alerts, "domain"), ["acme.test"]);
    assert_eq!(app.get("/api/v1/alerts", "viewer").await.json["total"], 2);
    // scans
    let scans = app.get("/api/v1/scans", "acme").await;
    let ids: Vec<i64> = scans.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [acme_scan.id]);
    assert_eq!(
        app.get(&format!("/api/v1/scans/{}", globex_scan.id), "acme")
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/scans/{}", all_scan.id), "acme")
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/scans/{}", all_scan.id), "viewer")
            .await
            .status,
        200
    );
    // summary
    let summary = app.get("/api/v1/summary", "acme").await;
    assert_eq!(
        (
            summary.json["domains"].as_i64(),
            summary.json["endpoints"].as_i64(),
            summary.json["clients"].as_i64()
        ),
        (Some(1), Some(2), Some(1))
    );
    assert_eq!(summary.json["alerts_firing"], 1);
    let everyone = app.get("/api/v1/summary", "viewer").await;
    assert_eq!(everyone.json["domains"], 3);
    // calendar
    let ics = app.get("/api/v1/calendar.ics", "acme").await;
    assert!(
        ics.text.contains("www.acme.test") && !ics.text.contains("globex"),
        "{}",
        ics.text
    );
    // fleet-wide and admin routes are refused outright
    assert_eq!(app.get("/metrics", "acme").await.status, 403);
    assert_eq!(app.get("/api/v1/tokens", "acme").await.status, 403);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Domains: create, detail, filters, paging.

#[tokio::test]
async fn creating_a_domain_uses_the_cli_parser_and_is_idempotent() {
    let app = TestApp::new().await;
    let body = json!({"name": "https://Shop.Bücher.TEST:8443/x", "client": "Acme"});
    let first = app
        .call("POST", "/api/v1/domains", Some("staff"), Some(body.clone()))
        .await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.json["domain"]["name"], "xn--bcher-kva.test");
    assert_eq!(first.json["domain"]["display_name"], "bücher.test");
    assert_eq!(first.json["endpoint"]["host"], "shop.xn--bcher-kva.test");
    assert_eq!(first.json["endpoint"]["port"], 8443);
    assert_eq!(first.json["domain"]["client"]["name"], "Acme");
    let again = app
        .call("POST", "/api/v1/domains", Some("staff"), Some(body))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["domain_created"], false);
    assert_eq!(
        app.get("/api/v1/domains/Bücher.test", "viewer")
            .await
            .status,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn refused_names_are_422_with_the_parser_code_and_the_field() {
    let app = TestApp::new().await;
    for (name, code) in [
        ("co.uk", "public_suffix"),
        ("192.0.2.1", "ip_literal"),
        ("*.example.com", "wildcard"),
        ("shop.example.invalidtld", "unknown_tld"),
        ("", "empty_name"),
        ("ftp://example.com", "unsupported_scheme"),
    ] {
        let reply = app
            .call(
                "POST",
                "/api/v1/domains",
                Some("staff"),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(reply.status, 422, "{name}: {reply:?}");
        assert_eq!(reply.code(), code, "{name}");
        assert_eq!(reply.field(), Some("name"));
        assert!(!reply.json["error"]["message"].as_str().unwrap().is_empty());
    }
    let reply = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some("staff"),
            Some(json!({"target": "co.uk"})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.code(), reply.field()),
        (422, "public_suffix", Some("target"))
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_invalid_requests_get_their_status_and_code() {
    let app = TestApp::builder()
        .fleet()
        .api()
        .config("[api]\nmax_body_bytes = 2048")
        .build()
        .await;
    let cases: Vec<ErrorCase> = vec![
        (
            "GET",
            "/api/v1/domains?limit=0",
            None,
            400,
            "invalid_parameter",
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/domains?limit=many",
            None,
            400,
            "invalid_parameter",
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/domains?status=bad",
            None,
            400,
            "invalid_parameter",
            Some("status"),
        ),
        (
            "GET",
            "/api/v1/domains?sort=size",
            None,
            400,
            "invalid_parameter",
            Some("sort"),
        ),
        (
            "GET",
            "/api/v1/domains?expiring_days=30",
            None,
            400,
            "unknown_parameter",
            Some("expiring_days"),
        ),
        (
            "GET",
            "/api/v1/domains?cursor=garbage!",
            None,
            400,
            "invalid_parameter",
            Some("cursor"),
        ),
        (
            "GET",
            "/api/v1/domains?client=Nobody",
            None,
            422,
            "unknown_client",
            Some("client"),
        ),
        (
            "GET",
            "/api/v1/alerts?state=open",
            None,
            400,
            "invalid_parameter",
            Some("state"),
        ),
        (
            "GET",
            "/api/v1/clients/abc",
            None,
            400,
            "invalid_parameter",
            Some("id"),
        ),
        ("GET", "/api/v1/clients/999", None, 404, "not_found", None),
        (
            "GET",
            "/api/v1/domains/nothere.test",
            None,
            404,
            "not_found",
            None,
        ),
        (
            "GET",
            "/api/v1/domains/www.acme.test",
            None,
            404,
            "not_found",
            None,
        ),
        ("GET", "/api/v1/nothing", None, 404, "not_found", None),
        (
            "PUT",
            "/api/v1/domains",
            None,
            405,
            "method_not_allowed",
            None,
        ),
        (
            "POST",
            "/api/v1/domains",
            Some(json!({})),
            422,
            "invalid_body",
            Some("name"),
        ),
        (
            "POST",
            "/api/v1/domains",
            Some(json!({"name": "a.test", "colour": "red"})),
            422,
            "invalid_body",
            Some("colour"),
        ),
        (
            "POST",
            "/api/v1/domains",
            Some(json!({"name": 5})),
            422,
            "invalid_body",
            Some("name"),
        ),
        (
            "POST",
            "/api/v1/domains",
            Some(json!({"name": "a.test", "client": "Nobody"})),
            422,
            "unknown_client",
            Some("client"),
        ),
        (
            "POST",
            "/api/v1/domains",
            Some(json!({"name": "www.globex.test", "client": "Acme"})),
            409,
            "endpoint_owned_by_another_client",
            Some("client"),
        ),
        (
            "POST",
            "/api/v1/clients",
            Some(json!({"name": "acme"})),
            409,
            "client_exists",
            Some("name"),
        ),
        (
            "POST",
            "/api/v1/clients",
            Some(json!({"name": "New", "contacts": ["ok@x.example", "not-an-address"]})),
            422,
            "invalid_email",
            Some("contacts[1]"),
        ),
        (
            "DELETE",
            "/api/v1/clients/1",
            None,
            409,
            "client_owns_domains",
            None,
        ),
        (
            "POST",
            "/api/v1/endpoints",
            Some(json!({"target": "x.acme.test", "tls_mode": "ssl"})),
            422,
            "invalid_tls_mode",
            Some("tls_mode"),
        ),
        (
            "POST",
            "/api/v1/endpoints",
            Some(json!({"target": "x.acme.test", "pinned_address": "localhost"})),
            422,
            "invalid_address",
            Some("pinned_address"),
        ),
        (
            "POST",
            "/api/v1/scans",
            Some(json!({"scope": "everything"})),
            422,
            "invalid_scope",
            Some("scope"),
        ),
        (
            "POST",
            "/api/v1/scans",
            Some(json!({"scope": "domain"})),
            422,
            "missing_field",
            Some("domain"),
        ),
        (
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": "x", "role": "root"})),
            422,
            "invalid_role",
            Some("role"),
        ),
        (
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": "x", "role": "client"})),
            422,
            "invalid",
            Some("client"),
        ),
    ];
    for (method, path, body, status, code, field) in cases {
        let reply = app.call(method, path, Some("admin"), body.clone()).await;
        assert_eq!(reply.status, status, "{method} {path} {body:?}: {reply:?}");
        assert_eq!(reply.code(), code, "{method} {path} {body:?}");
        assert_eq!(reply.field(), field, "{method} {path} {body:?}");
    }
    // Not JSON at all.
    let reply = app
        .raw(
            app.http()
                .post(app.url("/api/v1/domains"))
                .bearer_auth(app.token("staff"))
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (400, "malformed_json"));
    let reply = app
        .raw(
            app.http()
                .post(app.url("/api/v1/domains"))
                .bearer_auth(app.token("staff"))
                .header("content-type", "text/plain")
                .body("a.test"),
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (415, "unsupported_media_type")
    );
    // Too large, with and without a declared length.
    let big = json!([{"host": "x".repeat(4000)}]);
    let reply = app
        .call("POST", "/api/v1/imports", Some("staff"), Some(big))
        .await;
    assert_eq!((reply.status, reply.code()), (413, "body_too_large"));
    let status_line = chunked_post(
        &app,
        "/api/v1/imports",
        &format!("[{{\"host\": \"{}\"}}]", "y".repeat(4000)),
    )
    .await;
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    app.stop().await;
}

/// method, path, body, expected status, code and field.
type ErrorCase = (
    &'static str,
    &'static str,
    Option<Value>,
    u16,
    &'static str,
    Option<&'static str>,
);

/// POSTs a body with chunked transfer encoding (no declared length) and
/// returns the status line.
async fn chunked_post(app: &TestApp, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr())
        .await
        .expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        app.addr(),
        app.token("staff"),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn errors_never_leak_internals() {
    let app = TestApp::new().await;
    // Break the database under the server: every query now fails.
    let pool = app.pool().await;
    let drop = match app.env.database_url {
        Some(_) => "DROP TABLE alerts CASCADE",
        None => "DROP TABLE alerts",
    };
    sqlx::query(drop).execute(&pool).await.unwrap();
    pool.close().await;
    let reply = app.get("/api/v1/alerts", "viewer").await;
    assert_eq!((reply.status, reply.code()), (500, "internal"));
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("alerts") && !message.to_lowercase().contains("sql"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn domain_detail_has_endpoints_observations_registration_facts_and_open_alerts() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let www = app.ids["www.acme.test"];
    app.store
        .record_cert_observations(
            www,
            &[
                observation("127.0.0.1", 40, now),
                observation("::1", 12, now),
            ],
            now,
        )
        .await
        .unwrap();
    app.set_registration_expiry("acme.test", "2030-01-01T00:00:00Z")
        .await;
    let detail = app.get("/api/v1/domains/acme.test", "acme").await;
    assert_eq!(detail.status, 200, "{detail:?}");
    let d = &detail.json;
    assert_eq!(
        d["status"], "expiring",
        "a certificate expires in 12 days: {d}"
    );
    assert_eq!(d["certificate"]["days_left"], 11);
    assert_eq!(d["registration"]["expires_at"], "2030-01-01T00:00:00Z");
    assert_eq!(d["registration"]["source"], "registry_rdap");
    assert_eq!(d["registration_facts"][0]["registrar"], "Example Registrar");
    assert_eq!(
        d["registration_facts"][0]["status"],
        json!(["clientTransferProhibited"])
    );
    assert_eq!(d["registration_dates_disagree"], false);
    assert_eq!(d["open_alerts"][0]["kind"], "registration_expiry");
    let endpoints = d["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2);
    let www = endpoints
        .iter()
        .find(|e| e["host"] == "www.acme.test")
        .unwrap();
    let addresses: HashSet<&str> = www["current_observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, HashSet::from(["127.0.0.1", "::1"]));
    let history = app
        .get(
            &format!(
                "/api/v1/endpoints/{}/observations",
                app.ids["www.acme.test"]
            ),
            "acme",
        )
        .await;
    assert_eq!(
        history.json["total"], 2,
        "the first 127.0.0.1 result was unchanged: {history:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn list_filters_by_status_expiry_client_and_name() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let days = |d: i64| lapse::store::format_time(now + chrono::Duration::days(d));
    app.set_registration_expiry("acme.test", &days(400)).await;
    app.set_registration_expiry("globex.test", &days(-2)).await;
    app.set_registration_expiry("orphan.test", &days(20)).await;
    let list = |q: &str| {
        let path = format!("/api/v1/domains?{q}");
        let app = &app;
        async move { names(&app.get(&path, "viewer").await, "name") }
    };
    assert_eq!(list("status=expired").await, ["globex.test"]);
    assert_eq!(list("status=expiring").await, ["orphan.test"]);
    assert_eq!(list("status=ok").await, ["acme.test"]);
    assert_eq!(
        list("expiring_within_days=30").await,
        ["globex.test", "orphan.test"]
    );
    assert_eq!(
        list("expiring_within_days=50").await,
        ["globex.test", "orphan.test", "acme.test"],
        "certificates expire in 40 days"
    );
    assert_eq!(list("client=Acme").await, ["acme.test"]);
    assert_eq!(
        list(&format!("client={}", app.ids["globex"])).await,
        ["globex.test"]
    );
    assert_eq!(list("q=GLOB").await, ["globex.test"]);
    assert_eq!(
        list("sort=name").await,
        ["acme.test", "globex.test", "orphan.test"]
    );
    let summary = app.get("/api/v1/summary", "viewer").await;
    assert_eq!(
        summary.json["domains_by_status"],
        json!({"ok": 1, "expiring": 1, "expired": 1, "failing": 0, "unknown": 0, "needs_date": 0, "not_found": 0})
    );
    assert_eq!(summary.json["next_expiries"][0]["domain"], "orphan.test");
    assert_eq!(summary.json["next_expiries"][0]["kind"], "registration");
    app.stop().await;
}

#[tokio::test]
async fn pages_stay_stable_while_rows_are_added() {
    let app = TestApp::builder().api().build().await;
    let now = Utc::now();
    for i in 0..25 {
        app.call(
            "POST",
            "/api/v1/domains",
            Some("staff"),
            Some(json!({"name": format!("d{i:02}.test")})),
        )
        .await;
        app.set_registration_expiry(
            &format!("d{i:02}.test"),
            &lapse::store::format_time(now + chrono::Duration::days(10 + i * 2)),
        )
        .await;
    }
    for sort in ["expiry", "name"] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut added = 0;
        loop {
            let mut path = format!("/api/v1/domains?sort={sort}&limit=7");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = app.get(&path, "viewer").await;
            assert_eq!(page.status, 200, "{page:?}");
            seen.extend(names(&page, "name"));
            // Between pages, rows arrive before and after the cursor.
            for (name, days) in [
                (format!("a{sort}{added}.test"), 1),
                (format!("z{sort}{added}.test"), 500),
            ] {
                app.call(
                    "POST",
                    "/api/v1/domains",
                    Some("staff"),
                    Some(json!({"name": name})),
                )
                .await;
                app.set_registration_expiry(
                    &name,
                    &lapse::store::format_time(now + chrono::Duration::days(days)),
                )
                .await;
            }
            added += 1;
            match page.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no row twice ({sort}): {seen:?}");
        for i in 0..25 {
            assert!(
                seen.contains(&format!("d{i:02}.test")),
                "d{i:02}.test missed ({sort})"
            );
        }
        let mut sorted = seen.clone();
        if sort == "name" {
            sorted.sort();
            assert_eq!(seen, sorted);
        }
    }
    let total = app.get("/api/v1/domains?limit=1", "viewer").await.json["total"]
        .as_i64()
        .unwrap();
    assert!(total > 25, "total counts every match: {total}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Write routes.

#[tokio::test]
async fn clients_contacts_and_endpoints_round_trip() {
    let app = TestApp::new().await;
    let created = app
        .call(
            "POST",
            "/api/v1/clients",
            Some("staff"),
            Some(json!({"name": "Initech", "contacts": ["Bill@Initech.example"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_i64().unwrap();
    assert_eq!(
        created.json["contacts"][0]["email"], "Bill@initech.example",
        "the parser lower-cases the domain only"
    );
    let renamed = app
        .call(
            "PATCH",
            &format!("/api/v1/clients/{id}"),
            Some("staff"),
            Some(json!({"name": "Initech Corp"})),
        )
        .await;
    assert_eq!(renamed.json["name"], "Initech Corp");
    let contact = app
        .call(
            "POST",
            &format!("/api/v1/clients/{id}/contacts"),
            Some("staff"),
            Some(json!({"email": "peter@initech.example"})),
        )
        .await;
    assert_eq!(contact.status, 201);
    let again = app
        .call(
            "POST",
            &format!("/api/v1/clients/{id}/contacts"),
            Some("staff"),
            Some(json!({"email": "peter@initech.example"})),
        )
        .await;
    assert_eq!(again.status, 200);
    let contact_id = contact.json["id"].as_i64().unwrap();
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/clients/{id}/contacts/{contact_id}"),
            Some("staff"),
            None
        )
        .await
        .status,
        204
    );

    let endpoint = app.call("POST", "/api/v1/endpoints", Some("staff"), Some(json!({"target": "mail.initech.test:587", "client": id, "tls_mode": "smtp", "pinned_address": "127.0.0.1"}))).await;
    assert_eq!(endpoint.status, 201, "{endpoint:?}");
    assert_eq!(endpoint.json["endpoint"]["tls_mode"], "starttls-smtp");
    assert_eq!(endpoint.json["endpoint"]["pinned_address"], "127.0.0.1");
    let eid = endpoint.json["endpoint"]["id"].as_i64().unwrap();
    let cleared = app
        .call(
            "PATCH",
            &format!("/api/v1/endpoints/{eid}"),
            Some("staff"),
            Some(json!({"pinned_address": null})),
        )
        .await;
    assert_eq!(cleared.json["pinned_address"], Value::Null);
    assert_eq!(
        cleared.json["tls_mode"], "starttls-smtp",
        "absent fields stay"
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/clients/{id}?release_domains=true"),
            Some("staff"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.get("/api/v1/domains/initech.test", "viewer").await.json["client"],
        Value::Null
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/endpoints/{eid}"),
            Some("staff"),
            None
        )
        .await
        .status,
        204
    );
    // The domain stays: removing a domain is its own request.
    let kept = app.get("/api/v1/domains/initech.test", "viewer").await;
    assert_eq!(kept.status, 200, "{kept:?}");
    assert_eq!(
        app.get("/api/v1/domains/initech.test/endpoints", "viewer")
            .await
            .json,
        serde_json::json!([])
    );
    assert_eq!(
        app.call("DELETE", "/api/v1/domains/orphan.test", Some("staff"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.call("DELETE", "/api/v1/domains/orphan.test", Some("staff"), None)
            .await
            .status,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_import_reports_every_row_from_json_or_csv() {
    let app = TestApp::new().await;
    let reply = app.call("POST", "/api/v1/imports", Some("staff"), Some(json!([
        {"host": "a.imported.test", "client": "Imported", "contacts": ["x@imported.example"]},
        {"host": "co.uk"},
        {"host": "b.imported.test", "client": "Imported"},
    ]))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (reply.json["stored"].as_i64(), reply.json["failed"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(reply.json["rows"][1]["status"], "failed");
    assert_eq!(reply.json["rows"][1]["line"], 2);
    assert!(reply.json["rows"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("public suffix"));
    let csv = "host,client\nc.imported.test,Imported\n*.bad.test,\n";
    let reply = app
        .raw(
            app.http()
                .post(app.url("/api/v1/imports"))
                .bearer_auth(app.token("staff"))
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["rows"][0]["status"], "stored");
    assert_eq!(reply.json["rows"][1]["line"], 3);
    let reply = app
        .raw(
            app.http()
                .post(app.url("/api/v1/imports"))
                .bearer_auth(app.token("staff"))
                .header("content-type", "text/csv")
                .body("name\nx.test\n"),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (400, "invalid_csv"));
    app.stop().await;
}

#[tokio::test]
async fn scans_are_queued_once_and_picked_up_by_the_engine_hook() {
    let app = TestApp::new().await;
    let first = app
        .call(
            "POST",
            "/api/v1/scans",
            Some("staff"),
            Some(json!({"scope": "domain", "domain": "acme.test"})),
        )
        .await;
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.json["state"], "queued");
    assert_eq!(
        first.json["scope"],
        json!({"kind": "domain", "domain_id": first.json["scope"]["domain_id"], "domain": "acme.test", "client_id": app.ids["acme"]})
    );
    let again = app
        .call(
            "POST",
            "/api/v1/scans",
            Some("staff"),
            Some(json!({"scope": "domain", "domain": "acme.test"})),
        )
        .await;
    assert_eq!((again.status, &again.json["id"]), (200, &first.json["id"]));
    let client = app
        .call(
            "POST",
            "/api/v1/scans",
            Some("admin"),
            Some(json!({"scope": "client", "client": "Globex"})),
        )
        .await;
    assert_eq!(client.status, 202);
    let claimed = app
        .store
        .claim_queued_scan(Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        claimed.0,
        first.json["id"].as_i64().unwrap(),
        "oldest first"
    );
    let progress = app
        .get(&format!("/api/v1/scans/{}", claimed.0), "acme")
        .await;
    assert_eq!(progress.json["state"], "running");
    assert_eq!(progress.json["progress_percent"], 0.0);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Tokens, rate limits, headers.

#[tokio::test]
async fn tokens_made_over_the_api_work_until_revoked() {
    let app = TestApp::new().await;
    let made = app
        .call(
            "POST",
            "/api/v1/tokens",
            Some("admin"),
            Some(json!({"name": "dash", "role": "client", "client": "Globex"})),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let secret = made.json["token"].as_str().unwrap().to_owned();
    let me = app
        .raw(app.http().get(app.url("/api/v1/me")).bearer_auth(&secret))
        .await;
    assert_eq!(me.json["client"]["name"], "Globex");
    let listed = app.get("/api/v1/tokens", "admin").await;
    assert!(!listed.text.contains(&secret), "secrets are never listed");
    let id = made.json["id"].as_i64().unwrap();
    let revoked = app
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some("admin"),
            None,
        )
        .await;
    assert!(revoked.json["revoked_at"].is_string());
    let after = app
        .raw(app.http().get(app.url("/api/v1/me")).bearer_auth(&secret))
        .await;
    assert_eq!((after.status, after.code()), (401, "unauthorized"));
    app.stop().await;
}

#[tokio::test]
async fn each_token_has_its_own_rate_limit_with_retry_after() {
    let app = TestApp::builder()
        .fleet()
        .api()
        .config("[api]\nrate_limit_per_second = 1\nrate_limit_burst = 3")
        .build()
        .await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/me", "viewer").await.status, 200);
    }
    let limited = app.get("/api/v1/me", "viewer").await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    let retry: u64 = limited
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(
        app.get("/api/v1/me", "staff").await.status,
        200,
        "another token is not affected"
    );
    // The limiter runs on the system clock: wait for the refill it
    // announced, asking again until then.
    let refilled = std::time::Instant::now() + std::time::Duration::from_secs(retry);
    let status = loop {
        let asked_at = std::time::Instant::now();
        let status = app.get("/api/v1/me", "viewer").await.status;
        if status != 429 || asked_at >= refilled {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200, "the bucket refills within Retry-After");
    app.stop().await;
}

#[tokio::test]
async fn responses_carry_security_headers_and_cors_follows_config() {
    let app = TestApp::builder()
        .fleet()
        .api()
        .config("[api]\ncors_origins = [\"https://dash.example.com\"]")
        .build()
        .await;
    let reply = app.get("/api/v1/domains", "viewer").await;
    assert_eq!(reply.header("x-content-type-options"), "nosniff");
    assert_eq!(reply.header("x-frame-options"), "DENY");
    assert_eq!(reply.header("referrer-policy"), "no-referrer");
    assert!(reply
        .header("content-security-policy")
        .contains("default-src 'none'"));
    let preflight = app
        .raw(
            app.http()
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/domains"))
                .header("origin", "https://dash.example.com")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization"),
        )
        .await;
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        "https://dash.example.com"
    );
    let foreign = app
        .raw(
            app.http()
                .get(app.url("/api/v1/me"))
                .bearer_auth(app.token("viewer"))
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(foreign.header("access-control-allow-origin"), "");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Operations: metrics, readiness, calendar.

#[tokio::test]
async fn metrics_render_in_prometheus_text_format() {
    let app = TestApp::new().await;
    app.set_registration_expiry("acme.test", "2030-01-01T00:00:00Z")
        .await;
    assert_eq!(app.call("GET", "/metrics", None, None).await.status, 401);
    let reply = app.get("/metrics", "viewer").await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .starts_with("text/plain; version=0.0.4"));
    let text = &reply.text;
    assert!(text.contains("lapse_certificate_not_after_seconds{host=\"www.acme.test\",port=\"443\",address=\"127.0.0.1\"} "), "{text}");
    assert!(text.contains(
        "lapse_certificate_days_left{host=\"mail.acme.test\",port=\"587\",address=\"127.0.0.1\"} "
    ));
    assert!(text.contains(
        "lapse_domain_expiry_seconds{domain=\"acme.test\",source=\"registry_rdap\"} 1893456000"
    ));
    assert!(text.contains("lapse_domain_expiry_days_left{domain=\"acme.test\"} "));
    assert!(text.contains("# TYPE lapse_checks_total counter"));
    assert!(text.contains("lapse_scan_duration_seconds_bucket{le=\"+Inf\"} 0"));
    assert!(text.contains("lapse_outbox_depth 0"));
    assert!(text.contains("lapse_domains{status=\"ok\"} "));
    // Every sample line is `name{labels} value` or `name value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(line.starts_with("lapse_"), "{line}");
    }
    let open = TestApp::builder()
        .fleet()
        .api()
        .config("[api]\nmetrics_require_token = false")
        .build()
        .await;
    assert_eq!(open.call("GET", "/metrics", None, None).await.status, 200);
    open.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn readyz_needs_the_database_and_a_fresh_scheduler_heartbeat() {
    let app = TestApp::builder()
        .fleet()
        .api()
        .config("[api]\nscheduler_heartbeat_max_age_secs = 60")
        .build()
        .await;
    let missing = app.call("GET", "/readyz", None, None).await;
    assert_eq!(missing.status, 503);
    assert_eq!(missing.json["scheduler"]["state"], "missing");
    app.store
        .record_heartbeat(
            "scheduler",
            "test",
            Utc::now() - chrono::Duration::seconds(120),
        )
        .await
        .unwrap();
    let stale = app.call("GET", "/readyz", None, None).await;
    assert_eq!(
        (stale.status, &stale.json["scheduler"]["state"]),
        (503, &json!("stale"))
    );
    app.store
        .record_heartbeat("scheduler", "test", Utc::now())
        .await
        .unwrap();
    let ready = app.call("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json["database"], "ok");
    app.stop().await;
    let api_only = TestApp::builder()
        .fleet()
        .api()
        .config("[api]\nscheduler_heartbeat_max_age_secs = 0")
        .build()
        .await;
    let ready = api_only.call("GET", "/readyz", None, None).await;
    assert_eq!(
        (ready.status, &ready.json["scheduler"]["state"]),
        (200, &json!("not_required"))
    );
    api_only.stop().await;
}

#[tokio::test]
async fn calendar_feed_is_valid_icalendar_with_the_token_in_the_url() {
    let app = TestApp::new().await;
    app.set_registration_expiry(
        "acme.test",
        &lapse::store::format_time(Utc::now() + chrono::Duration::days(20)),
    )
    .await;
    let url = format!("/api/v1/calendar.ics?token={}", app.token("acme"));
    let reply = app.call("GET", &url, None, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "text/calendar; charset=utf-8");
    let ics = &reply.text;
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
    assert_eq!(
        ics.matches("BEGIN:VEVENT").count(),
        3,
        "one registration, two certificates: {ics}"
    );
    assert!(ics.contains("SUMMARY:Registration of acme.test expires\r\n"));
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "folded: {line}");
        assert!(!line.contains('\n'));
    }
    let wrong = app
        .call("GET", "/api/v1/calendar.ics?token=nope", None, None)
        .await;
    assert_eq!(wrong.status, 401);
    app.stop().await;
}

#[test]
fn token_commands_create_list_and_revoke() {
    let env = crate::harness::cli::TestEnv::new();
    assert_eq!(env.run(&["clients", "add", "Acme"]).code, 0);
    let made = env.run(&[
        "tokens",
        "create",
        "--role",
        "client",
        "--client",
        "Acme",
        "--name",
        "acme dash",
    ]);
    assert_eq!(made.code, 0, "{made:?}");
    let secret = made.stdout.lines().nth(1).unwrap().to_owned();
    assert!(secret.starts_with("lapse_"), "{made:?}");
    assert!(made.stderr.contains("not shown again"));
    let refused = env.run(&["tokens", "create", "--role", "client"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    let listed = env.run(&["tokens", "list", "--json"]);
    assert!(!listed.stdout.contains(&secret), "secrets are never listed");
    let tokens: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(tokens[0]["role"], "client");
    assert_eq!(tokens[0]["client"]["name"], "Acme");
    let id = tokens[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(env.run(&["tokens", "revoke", &id]).code, 0);
    let listed = env.run(&["tokens", "list"]);
    assert!(listed.stdout.contains("revoked"), "{listed:?}");
    assert_eq!(env.run(&["tokens", "revoke", "999"]).code, 2);
}

/// Registration days, registration outcome, certificate days, certificate outcome.
type StatusCase = (
    Option<i64>,
    Option<&'static str>,
    Option<i64>,
    Option<&'static str>,
);

/// Watch mode, registration capability, manual date (days).
type FleetCase = (&'static str, Option<&'static str>, Option<i64>);

const BOTH: FleetCase = ("both", None, None);

#[tokio::test]
async fn status_in_sql_matches_the_reference_rule_for_every_case() {
    use lapse::domain::status::{DomainStatus, StatusFacts, StatusWindows};
    let app = TestApp::builder().api().build().await;
    let now = Utc::now();
    let at = |d: i64| now + chrono::Duration::days(d);
    let nothing = Some("nothing_published");
    let cases: [(StatusCase, FleetCase); 20] = [
        ((None, None, None, None), BOTH),
        ((Some(400), Some("found"), None, None), BOTH),
        ((Some(59), Some("found"), Some(200), Some("ok")), BOTH),
        ((Some(400), Some("found"), Some(29), Some("warning")), BOTH),
        ((Some(-1), Some("found"), Some(200), Some("ok")), BOTH),
        ((Some(400), None, Some(-3), Some("critical")), BOTH),
        ((Some(400), None, Some(200), Some("critical")), BOTH),
        ((None, None, None, Some("unknown")), BOTH),
        ((None, Some("not_found"), Some(200), Some("ok")), BOTH),
        ((Some(31), Some("rate_limited"), Some(31), Some("ok")), BOTH),
        // The fleet model: not found, a date needed, what the watch mode hides.
        ((None, Some("not_found"), Some(200), Some("critical")), BOTH),
        (
            (None, Some("not_found"), Some(200), Some("critical")),
            ("tls", None, None),
        ),
        (
            (None, Some("not_found"), None, None),
            ("registration", None, None),
        ),
        (
            (None, Some("not_published"), None, None),
            ("both", nothing, None),
        ),
        (
            (None, Some("not_published"), Some(200), Some("ok")),
            ("both", nothing, None),
        ),
        (
            (None, Some("failed"), None, None),
            ("registration", nothing, None),
        ),
        (
            (None, Some("not_published"), Some(10), Some("warning")),
            ("both", nothing, None),
        ),
        (
            (None, Some("not_published"), Some(200), Some("ok")),
            ("tls", nothing, None),
        ),
        (
            (Some(300), Some("not_published"), None, None),
            ("both", nothing, Some(300)),
        ),
        (
            (None, Some("not_published"), None, None),
            ("both", nothing, Some(300)),
        ),
    ];
    let pool = app.pool().await;
    for (i, ((reg, reg_outcome, cert, cert_outcome), (watch, capability, manual))) in
        cases.iter().enumerate()
    {
        let name = format!("case{i}.test");
        app.call(
            "POST",
            "/api/v1/domains",
            Some("staff"),
            Some(json!({"name": name})),
        )
        .await;
        sqlx::query(
            "UPDATE domains SET expires_at = $1, registration_outcome = $2, watch = $3,
               registration_capability = $4, manual_expires_at = $5 WHERE name = $6",
        )
        .bind(reg.map(|d| lapse::store::format_time(at(d))))
        .bind(reg_outcome)
        .bind(watch)
        .bind(capability)
        .bind(manual.map(|d| at(d).format("%Y-%m-%d").to_string()))
        .bind(&name)
        .execute(&pool)
        .await
        .expect("registration");
        if let Some(outcome) = cert_outcome {
            let host = lapse::domain::names::HostName::from_canonical(name.clone());
            let id = app.store.endpoint_id(&host, 443).await.expect("endpoint");
            let mut obs = observation("127.0.0.1", cert.unwrap_or(0), now);
            obs.leaf_not_after = cert.map(at);
            obs.outcome = match *outcome {
                "ok" => lapse::domain::certificate::Severity::Ok,
                "warning" => lapse::domain::certificate::Severity::Warning,
                "critical" => lapse::domain::certificate::Severity::Critical,
                _ => lapse::domain::certificate::Severity::Unknown,
            };
            app.store
                .record_cert_observations(id, &[obs], now)
                .await
                .expect("observation");
        }
    }
    pool.close().await;
    let windows = StatusWindows::new(now, 60, 30);
    for (i, ((reg, reg_outcome, cert, cert_outcome), (watch, capability, manual))) in
        cases.iter().enumerate()
    {
        let facts = StatusFacts {
            registration_watched: *watch != "tls",
            registration_expires_at: reg.map(at),
            registration_outcome: reg_outcome.map(str::to_owned),
            registration_capability: capability.map(str::to_owned),
            manual_expires_at: manual.map(at),
            certificate_not_after: cert.filter(|_| cert_outcome.is_some()).map(at),
            certificate_outcome: cert_outcome.map(str::to_owned),
        };
        let expected = DomainStatus::of(&facts, &windows);
        let reply = app
            .get(&format!("/api/v1/domains/case{i}.test"), "viewer")
            .await;
        assert_eq!(
            reply.json["status"],
            json!(expected.as_str()),
            "case {i}: {facts:?}"
        );
        let listed = app
            .get(
                &format!("/api/v1/domains?status={}&q=case{i}.", expected.as_str()),
                "viewer",
            )
            .await;
        assert_eq!(
            names(&listed, "name"),
            [format!("case{i}.test")],
            "case {i} filter"
        );
    }
}

#[tokio::test]
async fn certificate_columns_follow_renewals_and_removed_endpoints() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let before = app.get("/api/v1/domains/acme.test", "viewer").await;
    assert_eq!(before.json["certificate"]["days_left"], 39);
    // mail.acme.test now serves a certificate expiring in 10 days; www still 40.
    let mail = app.ids["mail.acme.test"];
    app.store
        .record_cert_observations(mail, &[observation("127.0.0.1", 10, now)], now)
        .await
        .expect("renewal");
    let soon = app.get("/api/v1/domains/acme.test", "viewer").await;
    assert_eq!(soon.json["certificate"]["days_left"], 9, "{soon:?}");
    assert_eq!(soon.json["status"], "expiring");
    let removed = app
        .call(
            "DELETE",
            &format!("/api/v1/endpoints/{mail}"),
            Some("staff"),
            None,
        )
        .await;
    assert_eq!(removed.status, 204);
    let after = app.get("/api/v1/domains/acme.test", "viewer").await;
    assert_eq!(after.json["certificate"]["days_left"], 39, "{after:?}");
    assert_eq!(after.json["status"], "ok");
}

/// Every shape of data the domain list and detail can hold, read through
/// the SQL-rendered JSON (the API's hot path) and through the typed read
/// models (the reference, which the OpenAPI document describes): the two
/// must be the same JSON value, for every domain, filter, page and client.
#[tokio::test]
async fn sql_rendered_json_matches_the_typed_read_models() {
    use chrono::Timelike;
    use lapse::domain::access::Visibility;
    use lapse::domain::names::HostName;
    use lapse::domain::status::{DomainStatus, StatusWindows};
    use lapse::store::read_models::{DomainQuery, DomainSort, Totals};

    let app = TestApp::new().await;
    let now = Utc::now();
    let at = |secs: i64| lapse::store::format_time(now + chrono::Duration::seconds(secs));
    for name in ["bücher.test", "https://wörk.acme.test:8443/", "plain.test"] {
        let made = app
            .call(
                "POST",
                "/api/v1/domains",
                Some("staff"),
                Some(json!({"name": name})),
            )
            .await;
        assert!(made.status == 201, "{made:?}");
    }
    let pool = app.pool().await;
    let acme = app.ids["acme"];
    for sql in [
        // Boundaries of days_left: now itself, a second either side, whole days.
        format!("UPDATE domains SET expires_at = '{}', registration_stale = 1, registration_outcome = 'rate_limited' WHERE name = 'acme.test'", at(0)),
        format!("UPDATE domains SET expires_at = '{}', client_id = {acme} WHERE name = 'xn--bcher-kva.test'", at(-1)),
        format!("UPDATE domains SET expires_at = '{}', manual_expires_at = '{}', manual_note = 'invoice \"4711\"\ttab' WHERE name = 'orphan.test'", at(86_400 * 3), at(86_400 * 3)),
        format!("UPDATE domains SET expires_at = '{}', registration_outcome = 'not_found' WHERE name = 'globex.test'", at(-86_400 * 2 - 1)),
        format!("UPDATE domains SET expires_at = '{}' WHERE name = 'plain.test'", at(1)),
        // A second source that disagrees, with lists that are not lists of strings.
        format!("INSERT INTO registration_facts (domain_id, source, server, outcome, expires_at, registrar_iana_id, status, nameservers, fetched_at)
                 SELECT id, 'whois', 'whois.example', 'found', '2030-01-02T00:00:00Z', 1234, 'not json', '[1, 2]', '{}' FROM domains WHERE name = 'globex.test'", at(-86_400 * 5 - 7)),
        format!("INSERT INTO registration_facts (domain_id, source, server, outcome, status, fetched_at)
                 SELECT id, 'registrar_rdap', 'https://rdap.registrar.example/', 'not_published', '{{\"a\": 1}}', '{}' FROM domains WHERE name = 'globex.test'", at(0)),
        // Alerts on an endpoint, with odd details; a resolved one stays out.
        format!("INSERT INTO alerts (endpoint_id, kind, subject_key, state, opened_at, details)
                 VALUES ({}, 'cert_expiry', 'fp', 'firing', '{}', '{{\"b\": 1, \"a\": [1.5, \"x\\u00e9\"]}}')", app.ids["www.globex.test"], at(-60)),
        format!("INSERT INTO alerts (endpoint_id, kind, subject_key, state, opened_at, details)
                 VALUES ({}, 'check_failure', 'y', 'firing', '{}', 'oops')", app.ids["mail.acme.test"], at(-30)),
        format!("INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at, resolved_at)
                 SELECT id, 'registration_problem', 'z', 'resolved', '{}', '{}' FROM domains WHERE name = 'orphan.test'", at(-90), at(-10)),
        // Stored JSON that is valid but odd, on a domain with nothing
        // invalid (PostgreSQL renders it in SQL; text that is not JSON
        // sends the others through the typed path there).
        format!("INSERT INTO registration_facts (domain_id, source, server, outcome, expires_at, status, nameservers, fetched_at)
                 SELECT id, 'rdap', 'https://rdap.example/', 'found', '2030-01-02T00:00:00Z', '[\"client transfer prohibited\", \"ok\"]', '[1, 2]', '{}' FROM domains WHERE name = 'plain.test'", at(-86_400 - 1)),
        format!("INSERT INTO registration_facts (domain_id, source, server, outcome, status, nameservers, fetched_at)
                 SELECT id, 'whois', 'whois.example', 'found', '{{\"a\": 1}}', '\"ns1.example\"', '{}' FROM domains WHERE name = 'plain.test'", at(-30)),
        format!("INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at, details)
                 SELECT id, 'registration_expiry', 'p', 'firing', '{}', '{{\"b\": 1, \"a\": [1.5, \"x\\u00e9\"], \"c\": null}}' FROM domains WHERE name = 'plain.test'", at(-20)),
        // An observation whose details are not JSON, one that expired.
        format!("UPDATE cert_observations SET details = 'garbage' WHERE endpoint_id = {}", app.ids["orphan.test"]),
    ] {
        sqlx::query(&sql).execute(&pool).await.expect(&sql);
    }
    pool.close().await;
    app.store
        .record_cert_observations(
            app.ids["www.acme.test"],
            &[
                observation("127.0.0.1", -3, now),
                observation("::1", 12, now),
            ],
            now,
        )
        .await
        .expect("observations");

    let totals = Totals::default();
    let names = [
        "acme.test",
        "globex.test",
        "orphan.test",
        "xn--bcher-kva.test",
        "plain.test",
    ];
    let mut queries = vec![
        DomainQuery::default(),
        DomainQuery {
            expiring_before: Some(now + chrono::Duration::days(30)),
            ..DomainQuery::default()
        },
        DomainQuery {
            name_contains: Some("bcher".into()),
            ..DomainQuery::default()
        },
        DomainQuery {
            client_id: Some(acme),
            sort: DomainSort::Name,
            ..DomainQuery::default()
        },
    ];
    for status in DomainStatus::ALL {
        queries.push(DomainQuery {
            status: Some(status),
            ..DomainQuery::default()
        });
    }
    // Whole-second and fractional clocks take different roundings.
    for now in [now.with_nanosecond(0).unwrap(), now] {
        let windows = StatusWindows::new(now, 60, 30);
        for visibility in [Visibility::All, Visibility::Client(acme)] {
            for name in names {
                let host = HostName::from_canonical(name);
                let typed = app.store.domain_detail(visibility, &windows, &host).await;
                let sql = app
                    .store
                    .domain_detail_json(visibility, &windows, &host)
                    .await;
                match (typed, sql) {
                    (Ok(typed), Ok(sql)) => assert_eq!(
                        serde_json::from_str::<Value>(&sql).expect("JSON"),
                        serde_json::to_value(&typed).unwrap(),
                        "detail of {name} ({visibility:?})"
                    ),
                    (Err(typed), Err(sql)) => {
                        assert_eq!(typed.to_string(), sql.to_string(), "{name}")
                    }
                    (typed, sql) => panic!("{name}: {typed:?} vs {sql:?}"),
                }
            }
            for query in &queries {
                for sort in [DomainSort::Expiry, DomainSort::Name] {
                    // Walk every page of two: cursors and totals agree too.
                    let mut query = DomainQuery {
                        sort,
                        limit: 2,
                        ..query.clone()
                    };
                    let mut pages = 0;
                    loop {
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
                        let typed = serde_json::to_value(&typed).unwrap();
                        assert_eq!(
                            serde_json::from_str::<Value>(&sql).expect("JSON"),
                            typed,
                            "{query:?} {visibility:?}"
                        );
                        pages += 1;
                        match typed["next_cursor"].as_str() {
                            Some(c) => query.cursor = lapse::store::read_models::Cursor::decode(c),
                            None => break,
                        }
                    }
                    assert!(pages >= 1);
                }
            }
        }
    }
    // A stored time that is not a time: the page built by SQLite reads no
    // time from it, as the typed page does (PostgreSQL's list is the typed
    // page).
    let pool = app.pool().await;
    sqlx::query("UPDATE domains SET expires_at = 'not a time' WHERE name = 'plain.test'")
        .execute(&pool)
        .await
        .expect("odd time");
    pool.close().await;
    let windows = StatusWindows::new(now, 60, 30);
    let query = DomainQuery {
        limit: 100,
        ..DomainQuery::default()
    };
    let typed = app
        .store
        .domain_page(Visibility::All, &windows, &query)
        .await
        .expect("typed page");
    let sql = app
        .store
        .domain_page_json(Visibility::All, &windows, &query, &totals)
        .await
        .expect("SQL page");
    let sql: Value = serde_json::from_str(&sql).expect("JSON");
    assert_eq!(sql, serde_json::to_value(&typed).unwrap());
    assert!(sql["items"].as_array().unwrap().iter().any(|item| {
        item["name"] == "plain.test" && item["registration"]["expires_at"] == "not a time"
    }));
    // The SQL's list really holds Unicode names.
    let listed = app.get("/api/v1/domains?q=bcher", "viewer").await;
    assert_eq!(listed.json["items"][0]["display_name"], "bücher.test");
    let detail = app.get("/api/v1/domains/acme.test", "viewer").await;
    assert!(detail.text.contains("wörk.acme.test"), "{}", detail.text);
    app.stop().await;
}

/// Totals of filters that compare times (a status, an expiry bound) are
/// reused as the clock moves only while no domain crosses a compared time:
/// at each second either side of every stored date, forwards and back,
/// the kept total is the one counted afresh, for every status and bound.
#[tokio::test]
async fn list_totals_follow_the_clock_across_every_stored_date() {
    use lapse::domain::access::Visibility;
    use lapse::domain::status::{DomainStatus, StatusWindows};
    use lapse::store::read_models::{DomainQuery, Totals};

    let app = TestApp::new().await;
    let now = Utc::now();
    let at = |days: i64| now + chrono::Duration::days(days);
    app.set_registration_expiry("acme.test", &lapse::store::format_time(at(5)))
        .await;
    app.set_registration_expiry("globex.test", &lapse::store::format_time(at(70)))
        .await;
    // Certificates: www.acme.test's in 10 days, the others' in 40 (the fleet's).
    app.store
        .record_cert_observations(
            app.ids["www.acme.test"],
            &[observation("127.0.0.1", 10, now)],
            now,
        )
        .await
        .expect("observation");
    let pool = app.pool().await;
    let mut dates: Vec<chrono::DateTime<Utc>> = Vec::new();
    for (expires, cert) in sqlx::query_as::<_, (Option<String>, Option<String>)>(
        "SELECT expires_at, cert_not_after FROM domains",
    )
    .fetch_all(&pool)
    .await
    .expect("dates")
    {
        dates.extend(
            [expires, cert]
                .into_iter()
                .flatten()
                .filter_map(|t| lapse::store::parse_time(&t)),
        );
    }
    pool.close().await;
    assert!(dates.len() >= 4, "{dates:?}");
    // Clocks a second before, at and after each date, seen directly, through
    // the registration window (60 days), the certificate window (30) and a
    // 30-day expiry bound; then the same clocks backwards.
    let mut clocks = vec![now];
    for date in &dates {
        for shift in [0, 60, 30] {
            for second in [-1, 0, 1] {
                clocks.push(
                    *date - chrono::Duration::days(shift) + chrono::Duration::seconds(second),
                );
            }
        }
    }
    clocks.sort();
    let backwards: Vec<_> = clocks.iter().rev().copied().collect();
    clocks.extend(backwards);

    let totals = Totals::default();
    let mut queries = vec![DomainQuery {
        limit: 1,
        ..DomainQuery::default()
    }];
    for status in DomainStatus::ALL {
        for bound in [None, Some(30)] {
            queries.push(DomainQuery {
                status: Some(status),
                expiring_before: bound.map(|_| now),
                limit: 1,
                ..DomainQuery::default()
            });
        }
    }
    queries.push(DomainQuery {
        expiring_before: Some(now),
        limit: 1,
        ..DomainQuery::default()
    });
    for clock in clocks {
        let windows = StatusWindows::new(clock, 60, 30);
        for query in &queries {
            let query = DomainQuery {
                expiring_before: query
                    .expiring_before
                    .map(|_| clock + chrono::Duration::days(30)),
                ..query.clone()
            };
            let counted = app
                .store
                .domain_page(Visibility::All, &windows, &query)
                .await
                .expect("typed page")
                .total;
            let kept: Value = serde_json::from_str(
                &app.store
                    .domain_page_json(Visibility::All, &windows, &query, &totals)
                    .await
                    .expect("page"),
            )
            .expect("JSON");
            assert_eq!(kept["total"], counted, "{query:?} at {clock}");
        }
    }
    // A second request at the same time, and one a second later that
    // crosses no date, count nothing: each total is kept, bounds of 30
    // and 7 days each their own.
    for (pass, clock) in [now, now, now + chrono::Duration::seconds(1)]
        .into_iter()
        .enumerate()
    {
        let windows = StatusWindows::new(clock, 60, 30);
        let before = totals.counted();
        for query in &queries {
            for days in [30, 7] {
                let query = DomainQuery {
                    expiring_before: query
                        .expiring_before
                        .map(|_| clock + chrono::Duration::days(days)),
                    ..query.clone()
                };
                app.store
                    .domain_page_json(Visibility::All, &windows, &query, &totals)
                    .await
                    .expect("page");
            }
        }
        // The first pass counts what the walk back in time left.
        if pass > 0 {
            assert_eq!(totals.counted(), before, "at {clock}: every total kept");
        }
    }
    app.stop().await;
}

/// Totals are reused between requests only while no domain they could
/// count changed: every kind of write shows in the next total at once.
#[tokio::test]
async fn list_totals_follow_every_write_at_once() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let total = |q: &'static str| {
        let app = &app;
        async move {
            let reply = app.get(&format!("/api/v1/domains?{q}"), "viewer").await;
            assert_eq!(reply.status, 200, "{reply:?}");
            reply.json["total"].as_i64().expect("total")
        }
    };
    let window = "expiring_within_days=30&limit=1";
    assert_eq!(total(window).await, 0, "certificates expire in 40 days");
    assert_eq!(total(window).await, 0);
    assert_eq!(total("limit=1").await, 3);
    // Another connection writes a registration date into the window.
    app.set_registration_expiry(
        "acme.test",
        &lapse::store::format_time(now + chrono::Duration::days(5)),
    )
    .await;
    assert_eq!(total(window).await, 1);
    // An observation moves a certificate date (through the 0100 triggers).
    app.store
        .record_cert_observations(
            app.ids["orphan.test"],
            &[observation("127.0.0.1", 10, now)],
            now,
        )
        .await
        .expect("observation");
    assert_eq!(total(window).await, 2);
    assert_eq!(total("status=expiring&limit=1").await, 2);
    // Added and removed domains.
    app.call(
        "POST",
        "/api/v1/domains",
        Some("staff"),
        Some(json!({"name": "new.test"})),
    )
    .await;
    assert_eq!(total("limit=1").await, 4);
    let removed = app
        .call("DELETE", "/api/v1/domains/orphan.test", Some("staff"), None)
        .await;
    assert_eq!(removed.status, 204, "{removed:?}");
    assert_eq!(total(window).await, 1);
    assert_eq!(total("limit=1").await, 3);
    // A write that changes nothing the filters read moves nothing.
    let pool = app.pool().await;
    let before: i64 = sqlx::query_scalar("SELECT domains FROM api_generation")
        .fetch_one(&pool)
        .await
        .expect("generation");
    // The same certificate as the one the fleet was set up with (its expiry
    // to the second: the setup's clock may have read another second).
    let served: String = sqlx::query_scalar(
        "SELECT leaf_not_after FROM cert_observations WHERE endpoint_id = $1 AND current = 1",
    )
    .bind(app.ids["www.globex.test"])
    .fetch_one(&pool)
    .await
    .expect("the setup's observation");
    let served = lapse::store::parse_time(&served).expect("a stored time");
    let mut same = observation("::1", 40, now);
    same.leaf_not_after = Some(served);
    same.chain_not_after = Some(served);
    app.store
        .record_cert_observations(app.ids["www.globex.test"], &[same], now)
        .await
        .expect("another address, the same certificate");
    let after: i64 = sqlx::query_scalar("SELECT domains FROM api_generation")
        .fetch_one(&pool)
        .await
        .expect("generation");
    assert_eq!(
        before, after,
        "the domain's certificate columns kept their values: nothing to recount"
    );
    // A registration outcome moves it only when a list can see the change
    // (`not_found`, `not_published`: statuses); `found` to `failed` and
    // back does not (migration 0402).
    let generation = || async {
        sqlx::query_scalar::<_, i64>("SELECT domains FROM api_generation")
            .fetch_one(&pool)
            .await
            .expect("generation")
    };
    for (outcome, moves) in [
        ("failed", false),
        ("rate_limited", false),
        ("not_found", true),
        ("not_found", false),
        ("not_published", true),
        ("found", true),
        ("failed", false),
    ] {
        let before = generation().await;
        sqlx::query("UPDATE domains SET registration_outcome = $1 WHERE name = 'acme.test'")
            .bind(outcome)
            .execute(&pool)
            .await
            .expect("outcome");
        assert_eq!(generation().await != before, moves, "{outcome}");
        assert_eq!(
            total("status=not_found&limit=1").await,
            i64::from(outcome == "not_found"),
            "{outcome}"
        );
    }
    // The capability likewise: only `nothing_published` is read (`needs_date`).
    for (capability, moves) in [
        ("unknown", false),
        ("whois_only", false),
        ("nothing_published", true),
        ("unknown", true),
    ] {
        let before = generation().await;
        sqlx::query("UPDATE domains SET registration_capability = $1 WHERE name = 'acme.test'")
            .bind(capability)
            .execute(&pool)
            .await
            .expect("capability");
        assert_eq!(generation().await != before, moves, "{capability}");
    }
    pool.close().await;
    app.stop().await;
}
