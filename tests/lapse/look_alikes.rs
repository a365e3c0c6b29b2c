//! Names that read differently from what is stored are refused where they
//! come in (client names and contact addresses; CLI, CSV and API), with the
//! character named, and nothing is stored.

use serde_json::json;

use crate::harness::app::TestApp;
use crate::harness::cli::TestEnv;

const NAMES: [(&str, &str); 4] = [
    ("Acme\u{202E}dtL", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("Ac\u{200B}me", "U+200B ZERO WIDTH SPACE"),
    ("Acme \u{E000}", "U+E000 (a private-use character"),
    ("Acme\u{0378}", "U+0378 (an unassigned code point"),
];

#[test]
fn the_cli_refuses_look_alike_client_names_and_contacts() {
    let env = TestEnv::new();
    for (name, named) in NAMES {
        let run = env.run(&["clients", "add", name]);
        assert_eq!(run.code, 2, "{name:?}: {run:?}");
        assert!(run.stderr.contains(named), "{name:?}: {}", run.stderr);
    }
    let run = env.run(&[
        "clients",
        "add",
        "Acme",
        "--contact",
        "ops@acme\u{200D}.example",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("U+200D ZERO WIDTH JOINER"),
        "{}",
        run.stderr
    );
    let csv = env.write(
        "clients.csv",
        "host,client,contacts\nshop.example.com,Acme,\u{202D}ops@acme.example\n",
    );
    let run = env.run(&["domains", "import", csv.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("U+202D LEFT-TO-RIGHT OVERRIDE"),
        "{}",
        run.stderr
    );
    let clients = env.run(&["clients", "list", "--json"]);
    assert_eq!(clients.stdout.trim(), "[]", "nothing stored: {clients:?}");
    assert_eq!(env.domains(), json!([]));
}

#[tokio::test]
async fn the_api_refuses_look_alike_client_names_and_contacts_on_create_and_rename() {
    let app = TestApp::new().await;
    for (name, named) in NAMES {
        let created = app
            .call(
                "POST",
                "/api/v1/clients",
                Some("staff"),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(created.status, 422, "{name:?}: {created:?}");
        assert!(
            created.json.to_string().contains(named),
            "{name:?}: {created:?}"
        );
    }
    let clients = app.get("/api/v1/clients", "staff").await;
    let id = clients.json[0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a fleet client: {clients:?}"));
    let renamed = app
        .call(
            "PATCH",
            &format!("/api/v1/clients/{id}"),
            Some("staff"),
            Some(json!({"name": "Globex\u{2067}"})),
        )
        .await;
    assert_eq!(renamed.status, 422, "{renamed:?}");
    assert!(renamed.json.to_string().contains("U+2067"), "{renamed:?}");
    let contact = app
        .call(
            "POST",
            &format!("/api/v1/clients/{id}/contacts"),
            Some("staff"),
            Some(json!({"email": "ops\u{FEFF}@acme.test"})),
        )
        .await;
    assert_eq!(contact.status, 422, "{contact:?}");
    assert!(contact.json.to_string().contains("U+FEFF"), "{contact:?}");
    app.stop().await;
}
