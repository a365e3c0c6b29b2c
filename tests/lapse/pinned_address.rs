//! A pinned address is refused when it is set, not only when it is dialled:
//! an address in a reserved range (documentation ranges and IPv6 addresses
//! carrying a reserved IPv4 address included) answers 422 through the API
//! and exit 2 through the CLI, naming the range and the setting that allows
//! it, and stores nothing. The harness allows 127.0.0.0/8 (its servers live
//! there), so loopback pins stay accepted.

use serde_json::json;

use crate::harness::app::TestApp;
use crate::harness::cli::TestEnv;

const REFUSED: [(&str, &str); 6] = [
    ("192.0.2.10", "documentation range (192.0.2.0/24)"),
    ("2001:db8::5", "documentation range (2001:db8::/32)"),
    ("10.1.2.3", "private range (10.0.0.0/8)"),
    (
        "64:ff9b::a9fe:a9fe",
        "cloud metadata range (169.254.169.254/32)",
    ),
    ("2002:c0a8:0101::1", "private range (192.168.0.0/16)"),
    ("::10.0.0.1", "private range (10.0.0.0/8)"),
];

#[tokio::test]
async fn the_api_refuses_a_reserved_pinned_address_when_it_is_set() {
    let app = TestApp::new().await;
    for (address, range) in REFUSED {
        let created = app
            .call(
                "POST",
                "/api/v1/endpoints",
                Some("staff"),
                Some(json!({"target": "pin.acme.test", "pinned_address": address})),
            )
            .await;
        assert_eq!(
            (created.status, created.code(), created.field()),
            (422, "reserved_address", Some("pinned_address")),
            "{address}: {created:?}"
        );
        assert!(
            created.json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(range) && m.contains("targets.allow_ranges")),
            "{address}: {created:?}"
        );
    }
    // Nothing was stored by the refused requests.
    let listed = app
        .get("/api/v1/domains/acme.test/endpoints", "staff")
        .await;
    assert!(
        !listed.json.to_string().contains("pin.acme.test"),
        "{listed:?}"
    );

    // A public address, and loopback (allowed by this installation), are accepted.
    let created = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some("staff"),
            Some(json!({"target": "pin.acme.test", "pinned_address": "93.184.215.14"})),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["endpoint"]["id"].as_i64().expect("id");
    let path = format!("/api/v1/endpoints/{id}");
    let patched = app
        .call(
            "PATCH",
            &path,
            Some("staff"),
            Some(json!({"pinned_address": "64:ff9b::7f00:1"})),
        )
        .await;
    assert_eq!(
        patched.status, 200,
        "127.0.0.0/8 is allowed here: {patched:?}"
    );
    let refused = app
        .call(
            "PATCH",
            &path,
            Some("staff"),
            Some(json!({"pinned_address": "203.0.113.7"})),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (422, "reserved_address"));
    let kept = app.get(&path, "staff").await;
    assert_eq!(kept.json["pinned_address"], "64:ff9b::7f00:1", "{kept:?}");
    app.stop().await;
}

#[test]
fn the_cli_refuses_a_reserved_pinned_address_and_pins_a_public_one() {
    let env = TestEnv::new();
    assert_eq!(env.run(&["domains", "add", "shop.example.com"]).code, 0);
    for (address, range) in REFUSED {
        let run = env.run(&["domains", "endpoint", "shop.example.com", "--pin", address]);
        assert_eq!(run.code, 2, "{address}: {run:?}");
        assert!(
            run.stderr.contains(range) && run.stderr.contains("targets.allow_ranges"),
            "{address}: {}",
            run.stderr
        );
    }
    let domains = env.domains();
    assert_eq!(
        domains[0]["endpoints"][0]["pinned_address"],
        serde_json::Value::Null
    );

    let run = env.run(&[
        "domains",
        "endpoint",
        "shop.example.com",
        "--pin",
        "93.184.215.14",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        env.domains()[0]["endpoints"][0]["pinned_address"],
        "93.184.215.14"
    );
    let run = env.run(&["domains", "endpoint", "shop.example.com", "--unpin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        env.domains()[0]["endpoints"][0]["pinned_address"],
        serde_json::Value::Null
    );
}
