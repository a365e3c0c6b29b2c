//! The API routes that give it parity with the CLI for the fleet model:
//! threshold overrides per client and per domain, a registration expiry
//! entered by hand, the outbox (list, retry), and the fleet fields (what is
//! watched, who owns a registration or an endpoint, the TLS mode). Every
//! route with every caller (admin, staff, viewer, the owning client, another
//! client, no token), the validation errors with their field, the 404s, and
//! the OpenAPI document.

use serde_json::{json, Value};

use crate::harness::app::{Reply, TestApp};

/// Callers in the order of [`Case::expect`].
const CALLERS: [Option<&str>; 6] = [
    Some("admin"),
    Some("staff"),
    Some("viewer"),
    Some("acme"),
    Some("globex"),
    None,
];

const EVERYONE: &[&str] = &["viewer", "acme", "staff", "admin"];
const WRITERS: &[&str] = &["staff", "admin"];
const FLEET_READERS: &[&str] = &["viewer", "staff", "admin"];

/// A documented route of this file: method, template, a concrete path, a
/// body, and the roles allowed (for the route table in `api.rs`).
pub type RouteRow = (
    &'static str,
    &'static str,
    String,
    Option<Value>,
    &'static [&'static str],
);

/// The routes added for the fleet model, on the Acme/Globex fleet, for
/// the whole-API checks in `api.rs` (401 without a token, 403 for roles
/// not allowed, documented in OpenAPI).
pub async fn routes(app: &TestApp) -> Vec<RouteRow> {
    let acme = app.ids["acme"];
    let message = seed_message(app, "failed").await;
    vec![
        (
            "GET",
            "/api/v1/clients/{id}/thresholds",
            format!("/api/v1/clients/{acme}/thresholds"),
            None,
            EVERYONE,
        ),
        (
            "PUT",
            "/api/v1/clients/{id}/thresholds",
            format!("/api/v1/clients/{acme}/thresholds"),
            Some(json!({"certificate_days": [21, 7]})),
            WRITERS,
        ),
        (
            "DELETE",
            "/api/v1/clients/{id}/thresholds",
            format!("/api/v1/clients/{acme}/thresholds"),
            None,
            WRITERS,
        ),
        (
            "GET",
            "/api/v1/domains/{name}/thresholds",
            "/api/v1/domains/acme.test/thresholds".into(),
            None,
            EVERYONE,
        ),
        (
            "PUT",
            "/api/v1/domains/{name}/thresholds",
            "/api/v1/domains/acme.test/thresholds".into(),
            Some(json!({"registration_days": [90, 30]})),
            WRITERS,
        ),
        (
            "DELETE",
            "/api/v1/domains/{name}/thresholds",
            "/api/v1/domains/acme.test/thresholds".into(),
            None,
            WRITERS,
        ),
        (
            "PATCH",
            "/api/v1/domains/{name}",
            "/api/v1/domains/acme.test".into(),
            Some(json!({"watch": "both"})),
            WRITERS,
        ),
        (
            "PUT",
            "/api/v1/domains/{name}/manual-expiry",
            "/api/v1/domains/acme.test/manual-expiry".into(),
            Some(json!({"expires_at": "2027-03-31"})),
            WRITERS,
        ),
        (
            "DELETE",
            "/api/v1/domains/{name}/manual-expiry",
            "/api/v1/domains/acme.test/manual-expiry".into(),
            None,
            WRITERS,
        ),
        (
            "GET",
            "/api/v1/outbox",
            "/api/v1/outbox".into(),
            None,
            FLEET_READERS,
        ),
        (
            "POST",
            "/api/v1/outbox/{id}/retry",
            format!("/api/v1/outbox/{message}/retry"),
            None,
            WRITERS,
        ),
    ]
}

/// A request and the status each of [`CALLERS`] gets.
struct Case {
    method: &'static str,
    path: String,
    body: Option<Value>,
    expect: [u16; 6],
}

fn case(
    method: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    expect: [u16; 6],
) -> Case {
    Case {
        method,
        path: path.into(),
        body,
        expect,
    }
}

/// An outbox row in `state`, as the alert evaluation would have queued it.
async fn seed_message(app: &TestApp, state: &str) -> i64 {
    let pool = app.pool().await;
    let now = lapse::store::format_time(app.now());
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .expect("count");
    let id = sqlx::query_scalar(
        "INSERT INTO outbox (message_id, channel, recipient, subject, body_text, state,
                             attempts, next_attempt_at, last_error, created_at, sent_at)
         VALUES ($1, 'email', 'ops@acme.example', 'Certificate for www.acme.test expires in 7 days',
                 'body', $2, 3, $3, CASE WHEN $4 = 'failed' THEN '550 no such user' END, $5,
                 CASE WHEN $6 = 'sent' THEN $7 END)
         RETURNING id",
    )
    .bind(format!("test-{count}.{state}@lapse.test"))
    .bind(state)
    .bind(&now)
    .bind(state)
    .bind(&now)
    .bind(state)
    .bind(&now)
    .fetch_one(&pool)
    .await
    .expect("outbox row");
    pool.close().await;
    id
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    who: Option<&str>,
    body: Option<Value>,
) -> Reply {
    app.call(method, path, who, body).await
}

#[tokio::test]
async fn every_new_route_answers_each_caller_as_its_role_allows() {
    let app = TestApp::new().await;
    let (acme, globex) = (app.ids["acme"], app.ids["globex"]);
    let failed = seed_message(&app, "failed").await;
    let thresholds = json!({"certificate_days": [21, 7, 0]});
    let expiry = json!({"expires_at": "2027-03-31", "note": "invoice"});
    // admin, staff, viewer, acme (own), globex (other), no token
    let cases = [
        case(
            "GET",
            format!("/api/v1/clients/{acme}/thresholds"),
            None,
            [200, 200, 200, 200, 404, 401],
        ),
        case(
            "GET",
            format!("/api/v1/clients/{globex}/thresholds"),
            None,
            [200, 200, 200, 404, 200, 401],
        ),
        case(
            "PUT",
            format!("/api/v1/clients/{acme}/thresholds"),
            Some(thresholds.clone()),
            [200, 200, 403, 403, 403, 401],
        ),
        case(
            "DELETE",
            format!("/api/v1/clients/{acme}/thresholds"),
            None,
            [204, 204, 403, 403, 403, 401],
        ),
        case(
            "GET",
            "/api/v1/domains/acme.test/thresholds",
            None,
            [200, 200, 200, 200, 404, 401],
        ),
        case(
            "GET",
            "/api/v1/domains/orphan.test/thresholds",
            None,
            [200, 200, 200, 404, 404, 401],
        ),
        case(
            "PUT",
            "/api/v1/domains/acme.test/thresholds",
            Some(thresholds.clone()),
            [200, 200, 403, 403, 403, 401],
        ),
        case(
            "DELETE",
            "/api/v1/domains/acme.test/thresholds",
            None,
            [204, 204, 403, 403, 403, 401],
        ),
        case(
            "PATCH",
            "/api/v1/domains/acme.test",
            Some(json!({"watch": "both", "registration_owner": "client", "client": "Acme"})),
            [200, 200, 403, 403, 403, 401],
        ),
        case(
            "PUT",
            "/api/v1/domains/acme.test/manual-expiry",
            Some(expiry.clone()),
            [200, 200, 403, 403, 403, 401],
        ),
        case(
            "DELETE",
            "/api/v1/domains/acme.test/manual-expiry",
            None,
            [204, 204, 403, 403, 403, 401],
        ),
        case(
            "GET",
            "/api/v1/outbox",
            None,
            [200, 200, 200, 403, 403, 401],
        ),
        case(
            "POST",
            format!("/api/v1/outbox/{failed}/retry"),
            None,
            [200, 200, 403, 403, 403, 401],
        ),
    ];
    for c in cases {
        for (who, expected) in CALLERS.iter().zip(c.expect) {
            let reply = send(&app, c.method, &c.path, *who, c.body.clone()).await;
            assert_eq!(
                reply.status, expected,
                "{who:?} {} {}: {reply:?}",
                c.method, c.path
            );
            let code = match expected {
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                _ => continue,
            };
            assert_eq!(reply.code(), code, "{who:?} {} {}", c.method, c.path);
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn client_thresholds_are_set_read_and_cleared_like_the_cli() {
    let app = TestApp::new().await;
    let acme = app.ids["acme"];
    let path = format!("/api/v1/clients/{acme}/thresholds");
    let fresh = app.get(&path, "acme").await;
    assert_eq!(fresh.status, 200, "{fresh:?}");
    assert_eq!(fresh.json["level"], "client");
    assert_eq!(fresh.json["name"], "Acme");
    assert_eq!(fresh.json["client_id"], acme);
    assert_eq!(fresh.json["certificate_days"], Value::Null);
    assert_eq!(fresh.json["registration_days"], Value::Null);
    assert_eq!(
        fresh.json["defaults"],
        json!({"certificate_days": [30, 14, 7, 3, 1, 0], "registration_days": [60, 30, 14, 7, 1, 0]})
    );

    // Sorted largest first and de-duplicated, as `lapse thresholds set`.
    let set = app
        .call(
            "PUT",
            &path,
            Some("staff"),
            Some(json!({"certificate_days": [7, 21, 7, 0]})),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json["certificate_days"], json!([21, 7, 0]));
    assert_eq!(set.json["registration_days"], Value::Null);
    // An absent list stays; a new one is added.
    let both = app
        .call(
            "PUT",
            &path,
            Some("admin"),
            Some(json!({"registration_days": [45]})),
        )
        .await;
    assert_eq!(both.json["certificate_days"], json!([21, 7, 0]));
    assert_eq!(both.json["registration_days"], json!([45]));
    // What the CLI lists is what the API wrote.
    let overrides = app.store.threshold_overrides().await.expect("overrides");
    let stored = overrides
        .iter()
        .find(|o| o.level == "client" && o.name == "Acme")
        .expect("acme's override");
    assert_eq!(stored.certificate_days, Some(vec![21, 7, 0]));
    assert_eq!(stored.registration_days, Some(vec![45]));
    // `null` clears one list only.
    let one = app
        .call(
            "PUT",
            &path,
            Some("staff"),
            Some(json!({"certificate_days": null})),
        )
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json["certificate_days"], Value::Null);
    assert_eq!(one.json["registration_days"], json!([45]));
    // The client reads its own override.
    assert_eq!(
        app.get(&path, "acme").await.json["registration_days"],
        json!([45])
    );
    // DELETE clears both.
    let cleared = app.call("DELETE", &path, Some("staff"), None).await;
    assert_eq!(cleared.status, 204);
    let after = app.get(&path, "viewer").await;
    assert_eq!(after.json["certificate_days"], Value::Null);
    assert_eq!(after.json["registration_days"], Value::Null);
    assert!(app
        .store
        .threshold_overrides()
        .await
        .unwrap()
        .iter()
        .all(|o| o.name != "Acme"));
    app.stop().await;
}

#[tokio::test]
async fn domain_thresholds_are_set_read_and_cleared_by_ascii_or_unicode_name() {
    let app = TestApp::new().await;
    let path = "/api/v1/domains/acme.test/thresholds";
    let set = app
        .call(
            "PUT",
            path,
            Some("staff"),
            Some(json!({"certificate_days": [10, 3], "registration_days": [90, 30]})),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json["level"], "domain");
    assert_eq!(set.json["name"], "acme.test");
    assert_eq!(set.json["client_id"], Value::Null);
    assert_eq!(set.json["certificate_days"], json!([10, 3]));
    assert_eq!(set.json["registration_days"], json!([90, 30]));
    // Any case reaches the same domain; the client reads its own domain's.
    let read = app
        .get("/api/v1/domains/ACME.test/thresholds", "acme")
        .await;
    assert_eq!(read.json["certificate_days"], json!([10, 3]));
    // Another domain's override is untouched.
    assert_eq!(
        app.get("/api/v1/domains/globex.test/thresholds", "viewer")
            .await
            .json["certificate_days"],
        Value::Null
    );
    assert_eq!(
        app.call("DELETE", path, Some("admin"), None).await.status,
        204
    );
    let after = app.get(path, "staff").await;
    assert_eq!(after.json["certificate_days"], Value::Null);
    assert_eq!(after.json["registration_days"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn refused_thresholds_are_422_with_the_cli_message_and_the_field_and_write_nothing() {
    let app = TestApp::new().await;
    let acme = app.ids["acme"];
    for path in [
        format!("/api/v1/clients/{acme}/thresholds"),
        "/api/v1/domains/acme.test/thresholds".to_owned(),
    ] {
        for (body, code, field, message) in [
            (
                json!({}),
                "missing_field",
                "certificate_days",
                "give certificate_days and/or registration_days",
            ),
            (
                json!({"certificate_days": []}),
                "invalid_days",
                "certificate_days",
                "give at least one number of days",
            ),
            (
                json!({"registration_days": [30, 4000]}),
                "invalid_days",
                "registration_days[1]",
                "days go from 0 to 3650",
            ),
            (
                json!({"certificate_days": [-1]}),
                "invalid_days",
                "certificate_days[0]",
                "days go from 0 to 3650",
            ),
            // Valid certificate days are not written when the rest is refused.
            (
                json!({"certificate_days": [9], "registration_days": []}),
                "invalid_days",
                "registration_days",
                "give at least one",
            ),
            (
                json!({"certificate_days": "7"}),
                "invalid_body",
                "certificate_days",
                "",
            ),
            (
                json!({"certificate_days": [1.5]}),
                "invalid_body",
                "certificate_days[0]",
                "",
            ),
            (
                json!({"days": [7]}),
                "invalid_body",
                "days",
                "unknown field",
            ),
        ] {
            let reply = app
                .call("PUT", &path, Some("staff"), Some(body.clone()))
                .await;
            assert_eq!(
                (reply.status, reply.code(), reply.field()),
                (422, code, Some(field)),
                "{path} {body}: {reply:?}"
            );
            assert!(
                reply.json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(message),
                "{body}: {reply:?}"
            );
        }
        let unchanged = app.get(&path, "staff").await;
        assert_eq!(unchanged.json["certificate_days"], Value::Null, "{path}");
    }
    assert!(app.store.threshold_overrides().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn thresholds_of_unknown_clients_and_domains_are_404() {
    let app = TestApp::new().await;
    for (method, path, body) in [
        ("GET", "/api/v1/clients/999999/thresholds", None),
        (
            "PUT",
            "/api/v1/clients/999999/thresholds",
            Some(json!({"certificate_days": [7]})),
        ),
        ("DELETE", "/api/v1/clients/999999/thresholds", None),
        ("GET", "/api/v1/domains/nowhere.test/thresholds", None),
        (
            "PUT",
            "/api/v1/domains/nowhere.test/thresholds",
            Some(json!({"certificate_days": [7]})),
        ),
        ("DELETE", "/api/v1/domains/nowhere.test/thresholds", None),
        // A host is not a registrable domain.
        ("GET", "/api/v1/domains/www.acme.test/thresholds", None),
        (
            "PUT",
            "/api/v1/domains/acme.test/manual-expiry/x",
            Some(json!({"expires_at": "2027-01-01"})),
        ),
        (
            "PUT",
            "/api/v1/domains/nowhere.test/manual-expiry",
            Some(json!({"expires_at": "2027-01-01"})),
        ),
        ("DELETE", "/api/v1/domains/nowhere.test/manual-expiry", None),
        ("POST", "/api/v1/outbox/999999/retry", None),
    ] {
        let reply = app.call(method, path, Some("admin"), body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (404, "not_found"),
            "{method} {path}: {reply:?}"
        );
    }
    let bad_id = app.get("/api/v1/clients/abc/thresholds", "admin").await;
    assert_eq!((bad_id.status, bad_id.field()), (400, Some("id")));
    app.stop().await;
}

#[tokio::test]
async fn a_manual_expiry_is_shown_at_once_and_can_be_removed() {
    let app = TestApp::new().await;
    let path = "/api/v1/domains/orphan.test/manual-expiry";
    let set = app
        .call(
            "PUT",
            path,
            Some("staff"),
            Some(json!({"expires_at": " 2027-03-31 ", "note": "registrar invoice"})),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json["name"], "orphan.test");
    assert_eq!(set.json["manual_expires_at"], "2027-03-31");
    assert_eq!(set.json["manual_note"], "registrar invoice");
    assert_eq!(
        set.json["registration"]["expires_at"],
        "2027-03-31T00:00:00Z"
    );
    assert_eq!(set.json["registration"]["source"], "manual");
    let detail = app.get("/api/v1/domains/orphan.test", "viewer").await;
    assert_eq!(detail.json["manual_expires_at"], "2027-03-31");

    // Not due for a lookup before the date is removed...
    let pool = app.pool().await;
    sqlx::query("UPDATE domains SET next_registration_check_at = '2099-01-01T00:00:00Z'")
        .execute(&pool)
        .await
        .expect("not due");
    pool.close().await;
    let soon = chrono::Utc::now() + chrono::Duration::minutes(1);
    assert!(app
        .store
        .due_registrations(soon, 100)
        .await
        .unwrap()
        .is_empty());
    let cleared = app.call("DELETE", path, Some("admin"), None).await;
    assert_eq!(cleared.status, 204, "{cleared:?}");
    let detail = app.get("/api/v1/domains/orphan.test", "viewer").await;
    assert_eq!(detail.json["manual_expires_at"], Value::Null);
    assert_eq!(detail.json["manual_note"], Value::Null);
    assert_eq!(detail.json["registration"]["expires_at"], Value::Null);
    assert_eq!(detail.json["registration"]["source"], Value::Null);
    // ... and due at once after.
    let due = app.store.due_registrations(soon, 100).await.unwrap();
    let names: Vec<&str> = due.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["orphan.test"]);
    app.stop().await;
}

#[tokio::test]
async fn a_published_expiry_is_kept_when_the_manual_date_is_removed() {
    let app = TestApp::new().await;
    app.set_registration_expiry("acme.test", "2028-05-01T00:00:00Z")
        .await;
    let path = "/api/v1/domains/acme.test/manual-expiry";
    let set = app
        .call(
            "PUT",
            path,
            Some("staff"),
            Some(json!({"expires_at": "2027-03-31"})),
        )
        .await;
    assert_eq!(set.json["manual_expires_at"], "2027-03-31");
    assert_eq!(
        set.json["registration"]["expires_at"],
        "2028-05-01T00:00:00Z"
    );
    assert_eq!(
        app.call("DELETE", path, Some("staff"), None).await.status,
        204
    );
    let detail = app.get("/api/v1/domains/acme.test", "staff").await;
    assert_eq!(detail.json["manual_expires_at"], Value::Null);
    assert_eq!(
        detail.json["registration"]["expires_at"],
        "2028-05-01T00:00:00Z"
    );
    assert_eq!(detail.json["registration"]["source"], "registry_rdap");
    app.stop().await;
}

#[tokio::test]
async fn refused_manual_expiries_are_422_with_the_field() {
    let app = TestApp::new().await;
    let path = "/api/v1/domains/acme.test/manual-expiry";
    for (body, code, field) in [
        (
            json!({"expires_at": "31/03/2027"}),
            "invalid_date",
            "expires_at",
        ),
        (
            json!({"expires_at": "2027-02-30"}),
            "invalid_date",
            "expires_at",
        ),
        (json!({"note": "invoice"}), "invalid_body", "expires_at"),
        (
            json!({"expires_at": "2027-03-31", "by": "me"}),
            "invalid_body",
            "by",
        ),
    ] {
        let reply = app
            .call("PUT", path, Some("staff"), Some(body.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code(), reply.field()),
            (422, code, Some(field)),
            "{body}: {reply:?}"
        );
    }
    let message = app
        .call(
            "PUT",
            path,
            Some("staff"),
            Some(json!({"expires_at": "31/03/2027"})),
        )
        .await;
    assert!(message.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("use YYYY-MM-DD, e.g. 2027-03-31"));
    let detail = app.get("/api/v1/domains/acme.test", "staff").await;
    assert_eq!(detail.json["manual_expires_at"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn the_outbox_lists_newest_first_by_state_in_pages() {
    let app = TestApp::new().await;
    let sent = seed_message(&app, "sent").await;
    let failed = seed_message(&app, "failed").await;
    let logged = seed_message(&app, "logged").await;
    let newest = seed_message(&app, "failed").await;

    let all = app.get("/api/v1/outbox", "viewer").await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.json["total"], 4);
    let ids: Vec<i64> = all.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![newest, logged, failed, sent]);
    let first = &all.json["items"][0];
    assert_eq!(first["state"], "failed");
    assert_eq!(first["channel"], "email");
    assert_eq!(first["recipient"], "ops@acme.example");
    assert_eq!(first["attempts"], 3);
    assert_eq!(first["last_error"], "550 no such user");
    assert!(first["message_id"]
        .as_str()
        .unwrap()
        .ends_with("@lapse.test"));
    assert!(first.get("body_text").is_none(), "no bodies in the list");

    let failed_only = app
        .get("/api/v1/outbox?state=failed&limit=1", "staff")
        .await;
    assert_eq!(failed_only.json["total"], 2);
    assert_eq!(failed_only.json["items"][0]["id"], newest);
    let cursor = failed_only.json["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = app
        .get(
            &format!("/api/v1/outbox?state=failed&limit=1&cursor={cursor}"),
            "staff",
        )
        .await;
    assert_eq!(next.json["items"][0]["id"], failed);
    assert_eq!(next.json["next_cursor"], Value::Null);

    for (path, code, field) in [
        ("/api/v1/outbox?state=lost", "invalid_parameter", "state"),
        ("/api/v1/outbox?limit=0", "invalid_parameter", "limit"),
        ("/api/v1/outbox?cursor=nope!", "invalid_parameter", "cursor"),
        ("/api/v1/outbox?client=Acme", "unknown_parameter", "client"),
    ] {
        let reply = app.get(path, "admin").await;
        assert_eq!(
            (reply.status, reply.code(), reply.field()),
            (400, code, Some(field)),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn retrying_a_message_queues_it_again_once_and_never_a_sent_one() {
    let app = TestApp::new().await;
    let failed = seed_message(&app, "failed").await;
    let logged = seed_message(&app, "logged").await;
    let sent = seed_message(&app, "sent").await;
    let before = lapse::store::format_time(chrono::Utc::now());

    let retried = app
        .call(
            "POST",
            &format!("/api/v1/outbox/{failed}/retry"),
            Some("staff"),
            None,
        )
        .await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.json["id"], failed);
    assert_eq!(retried.json["state"], "pending");
    assert_eq!(retried.json["attempts"], 0);
    // Due now (the API reads the system clock).
    let due = retried.json["next_attempt_at"].as_str().unwrap().to_owned();
    let after = lapse::store::format_time(chrono::Utc::now());
    assert!(
        before <= due && due <= after,
        "{before} <= {due} <= {after}"
    );
    let logged_again = app
        .call(
            "POST",
            &format!("/api/v1/outbox/{logged}/retry"),
            Some("admin"),
            None,
        )
        .await;
    assert_eq!(logged_again.json["state"], "pending");

    let refused = app
        .call(
            "POST",
            &format!("/api/v1/outbox/{sent}/retry"),
            Some("staff"),
            None,
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "not_retryable"),
        "{refused:?}"
    );
    assert!(refused.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is sent"));
    let states: Vec<(String, String)> = app
        .outbox()
        .await
        .into_iter()
        .map(|m| (m.message_id, m.state))
        .collect();
    assert_eq!(
        states.iter().filter(|(_, s)| s == "pending").count(),
        2,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|(_, s)| s == "sent").count(),
        1,
        "{states:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_new_route() {
    let app = TestApp::new().await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .json;
    for (method, template, _, _, _) in routes(&app).await {
        let op = &doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        assert!(op["responses"].is_object(), "{method} {template}");
    }
    for schema in [
        "ThresholdsView",
        "ThresholdsChange",
        "ManualExpiryChange",
        "OutboxItem",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The fleet fields: what is watched, who owns what, the TLS mode.

/// A domain as the CLI lists it (the store's listing, not the API's view).
async fn listed(app: &TestApp, name: &str) -> lapse::store::DomainListing {
    app.store
        .list_domains(None)
        .await
        .expect("list")
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("{name} is listed"))
}

async fn is_tracked(app: &TestApp, name: &str) -> bool {
    app.store
        .list_domains(None)
        .await
        .expect("list")
        .iter()
        .any(|d| d.name == name)
}

#[tokio::test]
async fn a_domain_can_be_watched_for_its_registration_alone() {
    let app = TestApp::new().await;
    let body = json!({"name": "parked.test", "watch": "registration", "client": "Acme"});
    let first = app
        .call("POST", "/api/v1/domains", Some("staff"), Some(body.clone()))
        .await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.json["endpoint"], Value::Null);
    assert_eq!(first.json["domain"]["name"], "parked.test");
    assert_eq!(first.json["domain"]["watch"], "registration");
    assert_eq!(
        first.json["domain"]["registration_owner"],
        json!({"kind": "client", "id": app.ids["acme"], "name": "Acme"})
    );
    assert_eq!(first.json["domain_created"], true);
    assert_eq!(first.json["endpoint_created"], false);
    let parked = listed(&app, "parked.test").await;
    assert_eq!(parked.watch.as_str(), "registration");
    assert_eq!(parked.registration_owner.as_str(), "client");
    assert_eq!(parked.client.as_deref(), Some("Acme"));
    assert!(parked.endpoints.is_empty(), "{parked:?}");
    let again = app
        .call("POST", "/api/v1/domains", Some("admin"), Some(body))
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.json["domain_created"], false);

    // Without `watch`: registration plus the endpoint, as before.
    let both = app
        .call(
            "POST",
            "/api/v1/domains",
            Some("staff"),
            Some(json!({"name": "shop.test"})),
        )
        .await;
    assert_eq!(both.status, 201);
    assert_eq!(both.json["endpoint"]["host"], "shop.test");
    assert_eq!(both.json["endpoint"]["port"], 443);
    assert_eq!(both.json["endpoint"]["tls_mode"], "direct");
    assert_eq!(both.json["domain"]["watch"], "both");
    assert_eq!(
        both.json["domain"]["registration_owner"],
        json!({"kind": "agency"})
    );
    let shop = listed(&app, "shop.test").await;
    assert_eq!(
        (shop.watch.as_str(), shop.registration_owner.as_str()),
        ("both", "agency")
    );
    // The endpoint alone.
    let tls = app
        .call(
            "POST",
            "/api/v1/domains",
            Some("staff"),
            Some(json!({"name": "www.tlsonly.test", "watch": "tls", "registration_owner": "none"})),
        )
        .await;
    assert_eq!(tls.status, 201, "{tls:?}");
    let tls_only = listed(&app, "tlsonly.test").await;
    assert_eq!(
        (
            tls_only.watch.as_str(),
            tls_only.registration_owner.as_str()
        ),
        ("tls", "none")
    );
    assert_eq!(tls_only.endpoints.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn refused_fleet_fields_are_422_with_the_field_and_store_nothing() {
    let app = TestApp::new().await;
    for (body, code, field) in [
        (
            json!({"name": "x.test:8443", "watch": "registration"}),
            "registration_only_endpoint",
            "name",
        ),
        (
            json!({"name": "x.test", "watch": "registration", "tls_mode": "direct"}),
            "registration_only_endpoint",
            "tls_mode",
        ),
        (
            json!({"name": "x.test", "watch": "sometimes"}),
            "invalid_watch",
            "watch",
        ),
        (
            json!({"name": "x.test", "registration_owner": "me"}),
            "invalid_owner",
            "registration_owner",
        ),
        (
            json!({"name": "x.test", "registration_owner": "client"}),
            "missing_field",
            "client",
        ),
        (
            json!({"name": "x.test:2525", "tls_mode": "ssl"}),
            "invalid_tls_mode",
            "tls_mode",
        ),
        (
            json!({"name": "x.test", "client": "Nobody"}),
            "unknown_client",
            "client",
        ),
        (
            json!({"name": "x.test", "watch": 3}),
            "invalid_body",
            "watch",
        ),
    ] {
        let reply = app
            .call("POST", "/api/v1/domains", Some("staff"), Some(body.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code(), reply.field()),
            (422, code, Some(field)),
            "{body}: {reply:?}"
        );
    }
    let reply = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some("staff"),
            Some(json!({"target": "x.test:2525", "tls_mode": "starttls"})),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (422, "invalid_tls_mode"));
    assert!(reply.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("direct, starttls-smtp, starttls-imap, starttls-pop3"));
    assert!(
        !is_tracked(&app, "x.test").await,
        "a refused request stores nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn tls_modes_take_the_surface_names_and_the_older_ones() {
    let app = TestApp::new().await;
    for (path, body, host, mode) in [
        (
            "/api/v1/endpoints",
            json!({"target": "smtp.acme.test:2587", "tls_mode": "starttls-smtp"}),
            "smtp.acme.test",
            "starttls-smtp",
        ),
        (
            "/api/v1/domains",
            json!({"name": "imap.acme.test:1143", "tls_mode": "imap"}),
            "imap.acme.test",
            "starttls-imap",
        ),
        (
            "/api/v1/endpoints",
            json!({"target": "pop.acme.test:1110", "tls_mode": "STARTTLS-POP3"}),
            "pop.acme.test",
            "starttls-pop3",
        ),
        // `auto`: what the port implies.
        (
            "/api/v1/endpoints",
            json!({"target": "sub.acme.test:587", "tls_mode": "auto"}),
            "sub.acme.test",
            "starttls-smtp",
        ),
        (
            "/api/v1/endpoints",
            json!({"target": "odd.acme.test:2525", "tls_mode": "auto"}),
            "odd.acme.test",
            "direct",
        ),
        // No mode: the port's.
        (
            "/api/v1/domains",
            json!({"name": "mx.acme.test:25"}),
            "mx.acme.test",
            "starttls-smtp",
        ),
        (
            "/api/v1/domains",
            json!({"name": "imaps.acme.test:993"}),
            "imaps.acme.test",
            "direct",
        ),
    ] {
        let reply = app
            .call("POST", path, Some("staff"), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 201, "{body}: {reply:?}");
        assert_eq!(reply.json["endpoint"]["tls_mode"], mode, "{body}");
        let domain = listed(&app, "acme.test").await;
        let endpoint = domain
            .endpoints
            .iter()
            .find(|e| e.host == host)
            .unwrap_or_else(|| panic!("{host} in {domain:?}"));
        assert_eq!(endpoint.tls_mode, mode, "{body}");
    }
    // An existing endpoint's mode changes through POST as through PATCH.
    let again = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some("staff"),
            Some(json!({"target": "odd.acme.test:2525", "tls_mode": "starttls-smtp"})),
        )
        .await;
    assert_eq!(again.status, 201, "a changed mode is a change: {again:?}");
    let id = again.json["endpoint"]["id"].as_i64().unwrap();
    let patched = app
        .call(
            "PATCH",
            &format!("/api/v1/endpoints/{id}"),
            Some("admin"),
            Some(json!({"tls_mode": "starttls-imap"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json["tls_mode"], "starttls-imap");
    let odd = listed(&app, "acme.test").await;
    let odd = odd
        .endpoints
        .iter()
        .find(|e| e.host == "odd.acme.test")
        .unwrap();
    assert_eq!(odd.tls_mode, "starttls-imap");
    let refused = app
        .call(
            "PATCH",
            &format!("/api/v1/endpoints/{id}"),
            Some("admin"),
            Some(json!({"tls_mode": "ssl"})),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code(), refused.field()),
        (422, "invalid_tls_mode", Some("tls_mode"))
    );
    app.stop().await;
}

#[tokio::test]
async fn endpoints_under_one_domain_belong_to_their_own_clients() {
    let app = TestApp::new().await;
    // Acme owns acme.test's registration; Globex gets an endpoint under it.
    let shop = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some("staff"),
            Some(json!({"target": "shop.acme.test", "client": "Globex"})),
        )
        .await;
    assert_eq!(shop.status, 201, "{shop:?}");
    assert_eq!(shop.json["endpoint"]["client"]["name"], "Globex");
    // Globex now sees acme.test and reads its thresholds, not orphan.test's.
    let globex_reads = |path: &'static str| app.get(path, "globex");
    assert_eq!(
        globex_reads("/api/v1/domains/acme.test/thresholds")
            .await
            .status,
        200
    );
    assert_eq!(
        globex_reads("/api/v1/domains/orphan.test/thresholds")
            .await
            .status,
        404
    );
    let id = shop.json["endpoint"]["id"].as_i64().unwrap();
    let acme = listed(&app, "acme.test").await;
    assert_eq!(
        acme.client.as_deref(),
        Some("Acme"),
        "the registration stays Acme's"
    );
    let owner = |d: &lapse::store::DomainListing, host: &str| {
        d.endpoints
            .iter()
            .find(|e| e.host == host)
            .unwrap_or_else(|| panic!("{host}"))
            .client
            .clone()
    };
    assert_eq!(owner(&acme, "shop.acme.test").as_deref(), Some("Globex"));
    assert_eq!(owner(&acme, "www.acme.test").as_deref(), Some("Acme"));

    // Acme cannot take it by adding it: 409 naming the owner and the move.
    let taken = app
        .call(
            "POST",
            "/api/v1/domains",
            Some("staff"),
            Some(json!({"name": "shop.acme.test", "client": "Acme"})),
        )
        .await;
    assert_eq!(
        (taken.status, taken.code(), taken.field()),
        (409, "endpoint_owned_by_another_client", Some("client")),
        "{taken:?}"
    );
    let message = taken.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("Globex"), "{message}");
    assert!(
        message.contains(&format!("PATCH /api/v1/endpoints/{id}")),
        "{message}"
    );
    // PATCH moves it, to a client or to the agency.
    let path = format!("/api/v1/endpoints/{id}");
    let moved = app
        .call(
            "PATCH",
            &path,
            Some("staff"),
            Some(json!({"client": app.ids["acme"]})),
        )
        .await;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.json["client"]["name"], "Acme");
    assert_eq!(
        owner(&listed(&app, "acme.test").await, "shop.acme.test").as_deref(),
        Some("Acme")
    );
    // Globex has no stake in acme.test any more.
    assert_eq!(
        globex_reads("/api/v1/domains/acme.test/thresholds")
            .await
            .status,
        404
    );
    let agency = app
        .call("PATCH", &path, Some("staff"), Some(json!({"client": null})))
        .await;
    assert_eq!(agency.status, 200, "{agency:?}");
    assert_eq!(agency.json["client"], Value::Null);
    assert_eq!(
        owner(&listed(&app, "acme.test").await, "shop.acme.test"),
        None
    );
    let unknown = app
        .call(
            "PATCH",
            &path,
            Some("staff"),
            Some(json!({"client": "Nobody"})),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code(), unknown.field()),
        (422, "unknown_client", Some("client"))
    );
    let missing = app
        .call(
            "PATCH",
            "/api/v1/endpoints/999999",
            Some("staff"),
            Some(json!({"client": "Acme"})),
        )
        .await;
    assert_eq!(missing.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn taking_a_registration_another_client_owns_is_a_409_that_says_how_to_move_it() {
    let app = TestApp::new().await;
    for (body, field, hint) in [
        (
            json!({"name": "acme.test", "watch": "registration", "client": "Globex"}),
            "client",
            "PATCH /api/v1/domains/acme.test with {\"registration_owner\": \"client\", \"client\": \"Globex\"}",
        ),
        (
            json!({"name": "acme.test", "registration_owner": "agency"}),
            "registration_owner",
            "PATCH /api/v1/domains/acme.test with {\"registration_owner\": \"agency\"}",
        ),
    ] {
        let reply = app
            .call("POST", "/api/v1/domains", Some("staff"), Some(body.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code(), reply.field()),
            (409, "registration_owned_by_another_client", Some(field)),
            "{body}: {reply:?}"
        );
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("belongs to client `Acme`"), "{message}");
        assert!(message.contains(hint), "{message}");
    }
    let acme = listed(&app, "acme.test").await;
    assert_eq!(
        (
            acme.registration_owner.as_str(),
            acme.client.as_deref(),
            acme.watch.as_str()
        ),
        ("client", Some("Acme"), "both"),
        "nothing changed"
    );

    // The move the message names works.
    let path = "/api/v1/domains/acme.test";
    let moved = app
        .call(
            "PATCH",
            path,
            Some("staff"),
            Some(json!({"registration_owner": "client", "client": "Globex"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.json["name"], "acme.test");
    assert_eq!(moved.json["registration_owner"]["name"], "Globex");
    let after = listed(&app, "acme.test").await;
    assert_eq!(
        (after.registration_owner.as_str(), after.client.as_deref()),
        ("client", Some("Globex"))
    );
    // The endpoints stay Acme's.
    assert!(after
        .endpoints
        .iter()
        .all(|e| e.client.as_deref() == Some("Acme")));
    let agency = app
        .call(
            "PATCH",
            path,
            Some("admin"),
            Some(json!({"registration_owner": "agency"})),
        )
        .await;
    assert_eq!(agency.status, 200);
    let after = listed(&app, "acme.test").await;
    assert_eq!(
        (after.registration_owner.as_str(), after.client.as_deref()),
        ("agency", None)
    );
    // `client` alone gives it to that client.
    let back = app
        .call(
            "PATCH",
            path,
            Some("staff"),
            Some(json!({"client": "Acme"})),
        )
        .await;
    assert_eq!(back.status, 200);
    let after = listed(&app, "acme.test").await;
    assert_eq!(
        (after.registration_owner.as_str(), after.client.as_deref()),
        ("client", Some("Acme"))
    );
    app.stop().await;
}

/// `domains.cert_not_after` of acme.test: what lists sort and filter on.
async fn cert_column(app: &TestApp) -> Option<String> {
    let pool = app.pool().await;
    let value = sqlx::query_scalar("SELECT cert_not_after FROM domains WHERE name = 'acme.test'")
        .fetch_one(&pool)
        .await
        .expect("domain");
    pool.close().await;
    value
}

#[tokio::test]
async fn patching_a_domain_changes_what_is_watched_and_keeps_its_endpoints() {
    let app = TestApp::new().await;
    let path = "/api/v1/domains/acme.test";
    assert!(cert_column(&app).await.is_some());
    let parked = app
        .call(
            "PATCH",
            path,
            Some("staff"),
            Some(json!({"watch": "registration"})),
        )
        .await;
    assert_eq!(parked.status, 200, "{parked:?}");
    assert_eq!(parked.json["watch"], "registration");
    let acme = listed(&app, "acme.test").await;
    assert_eq!(acme.watch.as_str(), "registration");
    assert_eq!(acme.endpoints.len(), 2, "endpoints are kept");
    assert_eq!(
        cert_column(&app).await,
        None,
        "certificates no longer count"
    );

    let both = app
        .call(
            "PATCH",
            "/api/v1/domains/ACME.test",
            Some("admin"),
            Some(json!({"watch": "both"})),
        )
        .await;
    assert_eq!(both.status, 200);
    assert_eq!(listed(&app, "acme.test").await.watch.as_str(), "both");
    assert!(
        cert_column(&app).await.is_some(),
        "what was last seen counts again"
    );
    app.stop().await;
}

#[tokio::test]
async fn refused_domain_patches_are_422_with_the_field_or_404() {
    let app = TestApp::new().await;
    let path = "/api/v1/domains/acme.test";
    for (body, code, field) in [
        (json!({}), "missing_field", "watch"),
        (json!({"watch": "all"}), "invalid_watch", "watch"),
        (
            json!({"registration_owner": "me"}),
            "invalid_owner",
            "registration_owner",
        ),
        (
            json!({"registration_owner": "client"}),
            "missing_field",
            "client",
        ),
        (
            json!({"registration_owner": "agency", "client": "Acme"}),
            "invalid",
            "client",
        ),
        (json!({"client": "Nobody"}), "unknown_client", "client"),
        (json!({"owner": "agency"}), "invalid_body", "owner"),
        // Refused as a whole: the valid watch is not applied either.
        (
            json!({"watch": "tls", "registration_owner": "nobody"}),
            "invalid_owner",
            "registration_owner",
        ),
    ] {
        let reply = app
            .call("PATCH", path, Some("staff"), Some(body.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code(), reply.field()),
            (422, code, Some(field)),
            "{body}: {reply:?}"
        );
    }
    let acme = listed(&app, "acme.test").await;
    assert_eq!(
        (
            acme.watch.as_str(),
            acme.registration_owner.as_str(),
            acme.client.as_deref()
        ),
        ("both", "client", Some("Acme"))
    );
    for path in [
        "/api/v1/domains/nowhere.test",
        "/api/v1/domains/www.acme.test",
    ] {
        let reply = app
            .call("PATCH", path, Some("staff"), Some(json!({"watch": "tls"})))
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (404, "not_found"),
            "{path}: {reply:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn bulk_import_items_take_watch_and_tls() {
    let app = TestApp::new().await;
    let items = json!([
        {"host": "parked.test", "watch": "registration", "client": "Acme"},
        {"host": "mx.acme.test:2525", "tls": "starttls-smtp"},
        {"host": "bad.test", "watch": "sometimes"},
        {"host": "bad.test:2525", "tls": "ssl"},
    ]);
    let reply = app
        .call("POST", "/api/v1/imports", Some("staff"), Some(items))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (reply.json["stored"].as_i64(), reply.json["failed"].as_i64()),
        (Some(2), Some(2))
    );
    let rows = reply.json["rows"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "stored");
    assert_eq!(rows[0]["watch"], "registration");
    assert_eq!(rows[0]["registration_owner"], "client");
    assert_eq!(rows[0]["endpoint"], Value::Null);
    assert_eq!(rows[1]["endpoint"], "mx.acme.test:2525");
    assert_eq!(rows[1]["tls_mode"], "starttls-smtp");
    assert_eq!(rows[1]["watch"], "both");
    assert_eq!(rows[2]["status"], "failed");
    assert!(
        rows[2]["reason"].as_str().unwrap().contains("watch"),
        "{rows:?}"
    );
    assert!(
        rows[3]["reason"].as_str().unwrap().contains("tls"),
        "{rows:?}"
    );
    assert_eq!(
        listed(&app, "parked.test").await.watch.as_str(),
        "registration"
    );
    assert!(!is_tracked(&app, "bad.test").await);

    let csv = "host,watch,tls\ncsvparked.test,registration,\nsmtp.acme.test:2587,,starttls-smtp\n";
    let reply = app
        .raw(
            app.http()
                .post(app.url("/api/v1/imports"))
                .bearer_auth(app.token("admin"))
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["stored"], 2, "{reply:?}");
    assert_eq!(reply.json["rows"][0]["watch"], "registration");
    assert_eq!(reply.json["rows"][1]["tls_mode"], "starttls-smtp");
    app.stop().await;
}

#[tokio::test]
async fn a_client_owning_only_an_endpoint_is_kept_unless_released_to_the_agency() {
    let app = TestApp::new().await;
    let created = app
        .call(
            "POST",
            "/api/v1/clients",
            Some("staff"),
            Some(json!({"name": "Hooli"})),
        )
        .await;
    let hooli = created.json["id"].as_i64().expect("client id");
    let stored = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some("staff"),
            Some(json!({"target": "hooli.acme.test:8443", "client": hooli})),
        )
        .await;
    assert_eq!(stored.status, 201, "{stored:?}");
    let path = format!("/api/v1/clients/{hooli}");
    let kept = app.call("DELETE", &path, Some("staff"), None).await;
    assert_eq!(
        (kept.status, kept.code()),
        (409, "client_owns_domains"),
        "{kept:?}"
    );
    let released = app
        .call(
            "DELETE",
            &format!("{path}?release_domains=true"),
            Some("staff"),
            None,
        )
        .await;
    assert_eq!(released.status, 204, "{released:?}");
    let acme = listed(&app, "acme.test").await;
    let endpoint = acme
        .endpoints
        .iter()
        .find(|e| e.host == "hooli.acme.test")
        .expect("the endpoint stays watched");
    assert_eq!(endpoint.client, None, "the agency's now");
    assert_eq!(acme.client.as_deref(), Some("Acme"));
    app.stop().await;
}
