//! The OpenAPI document is honest (issue 15, items 16 and 17): Schemathesis,
//! a property-based API fuzzer from PyPI, reads the document `lapse serve`
//! publishes and sends what it generates from it to that server, on
//! loopback, with a fixed seed and a bounded number of examples per
//! operation. It must find no 5xx, no status the document does not list,
//! no response whose body, headers or content type break the document, and
//! no request that matches the document refused: never with 400, and with
//! 422 only where no schema can say what is valid (see [`fuzzer_config`]).
//!
//! The fuzzer is `$LAPSE_SCHEMATHESIS`, by default [`DEFAULT_FUZZER`], at
//! the version pinned in `tests/api_fuzz/requirements.txt`; `.ci/run`
//! installs it (see [`INSTALL`]). Without it this test fails, saying how to
//! install it: it is never skipped.
//!
//! Nothing leaves loopback: the fuzzer is given the server's 127.0.0.1 URL,
//! follows no redirect and no proxy; the server's registries and resolvers
//! are closed loopback ports (`TestEnv`) and its scheduler sleeps for a day,
//! so no endpoint the fuzzer stores (pinned addresses included) is checked:
//! the test ends by asserting that no scan ran and nothing was looked up.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::app::TestApp;
use crate::harness::cli::{db_count, free_port, TestEnv};

/// Where `.ci/run` puts the fuzzer.
const DEFAULT_FUZZER: &str = "/opt/lapse-fuzz/bin/st";
/// The pinned version, from `tests/api_fuzz/requirements.txt`.
fn pinned_version() -> &'static str {
    include_str!("../api_fuzz/requirements.txt")
        .lines()
        .find_map(|line| line.strip_prefix("schemathesis=="))
        .expect("tests/api_fuzz/requirements.txt pins schemathesis")
}
/// The one command that installs it (Debian: `apt-get install python3-venv` first).
const INSTALL: &str = "python3 -m venv /opt/lapse-fuzz && /opt/lapse-fuzz/bin/pip install -r tests/api_fuzz/requirements.txt";

/// Examples per operation with the admin token (a client token gets a
/// quarter), and the seed; `LAPSE_FUZZ_EXAMPLES` and `LAPSE_FUZZ_SEED`
/// change them to fuzz longer or elsewhere by hand.
const EXAMPLES: u32 = 60;
const SEED: u64 = 20261205;

fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The checks every response is held to.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,positive_data_acceptance";

/// The fuzzer's path, or a failure that says how to install it.
fn fuzzer() -> PathBuf {
    let path = std::env::var_os("LAPSE_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FUZZER));
    let pinned = pinned_version();
    let version = Command::new(&path).arg("--version").output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).ends_with(&format!(" {pinned}\n")) => path,
        Ok(out) => panic!(
            "{} is `{}`, not Schemathesis {pinned}; reinstall it from the repository root:\n  {INSTALL}\n(or point LAPSE_SCHEMATHESIS at an `st` of that version)",
            path.display(),
            String::from_utf8_lossy(&out.stdout).trim()
        ),
        Err(error) => panic!(
            "the API fuzzer is missing ({}: {error}). Install it from the repository root (Debian: apt-get install -y python3-venv first):\n  {INSTALL}\nor set LAPSE_SCHEMATHESIS to its `st`. `.ci/run` does both.",
            path.display()
        ),
    }
}

/// `lapse serve`, stopped (by its pid) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An installation whose server contacts nothing but the fuzzer: the
/// scheduler's first look for due or requested work is a day away and the
/// nightly scan never comes; the rate limit is out of the fuzzer's way.
fn installation(port: u16) -> TestEnv {
    TestEnv::with_config(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [log]\nlevel = \"error\"\n\n\
         [schedule]\nscan = \"0 0 0 1 1 * 2099\"\njitter_secs = 0\ndue_poll_secs = 86400\n\n\
         [api]\nrate_limit_per_second = 100000\nrate_limit_burst = 100000\n"
    ))
}

/// A token made with the CLI: (id, secret).
fn token(env: &TestEnv, args: &[&str]) -> (i64, String) {
    let mut all = vec!["tokens", "create", "--json"];
    all.extend_from_slice(args);
    let run = env.run(&all);
    assert_eq!(run.code, 0, "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).expect("token JSON");
    (
        json["id"].as_i64().expect("id"),
        json["token"].as_str().expect("token").to_owned(),
    )
}

/// Tokens for the fuzzer: an admin's, a spare admin one for it to revoke,
/// and a client's; plus a small fleet, so that ids and names it tries exist.
struct Seeded {
    admin: String,
    spare_id: i64,
    client: String,
}

fn seed(env: &TestEnv) -> Seeded {
    for args in [
        &["clients", "add", "Acme Ltd", "--contact", "ops@acme.test"][..],
        &["clients", "add", "Beta GmbH"],
        &["domains", "add", "shop.acme.test", "--client", "Acme Ltd"],
        &["domains", "add", "beta.test:8443", "--client", "Beta GmbH"],
        &["domains", "add", "parked.test", "--registration-only"],
        &[
            "thresholds",
            "set",
            "--client",
            "Acme Ltd",
            "--certificate",
            "21,7",
        ],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }
    let (_, admin) = token(env, &["--role", "admin", "--name", "fuzzer"]);
    let (spare_id, _) = token(env, &["--role", "admin", "--name", "spare"]);
    let (_, client) = token(
        env,
        &["--role", "client", "--client", "Acme Ltd", "--name", "acme"],
    );
    Seeded {
        admin,
        spare_id,
        client,
    }
}

async fn serve(env: &TestEnv, port: u16) -> Server {
    let child = env
        .command(&["serve"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn lapse serve");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = reqwest::get(format!("{}/healthz", server.base)).await;
        if health.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        assert!(Instant::now() < deadline, "lapse serve did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `next_cursor`s the API hands out, for the `cursor` parameters.
async fn cursors(server: &Server, token: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for query in ["limit=1", "limit=1&sort=name"] {
        let page: Value = client
            .get(format!("{}/api/v1/domains?{query}", server.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/v1/domains")
            .json()
            .await
            .expect("a page");
        let cursor = page["next_cursor"].as_str().expect("a next page");
        out.push(format!("{cursor:?}"));
    }
    out
}

/// The fuzzer's settings for one run (`schemathesis.toml`).
///
/// Values the document cannot constrain (a registrable name under a known
/// suffix, an existing client, a cursor the API handed out) come from
/// dictionaries of real ones half of the time (cursors and the alerts'
/// `domain` filter always), so generated requests reach past validation.
/// A request that matches the document must be accepted
/// (`positive_data_acceptance`: 2xx, or 401/403/404/409 for who is asking
/// and what exists), except with 422 on the operations listed below, whose
/// 422s are about content no schema can say: a name the Public Suffix List
/// refuses, characters refused in names and addresses, a reference to a
/// client or domain that does not exist, a reserved pinned address, fields
/// that go together, a snooze or a maintenance window that ends in the
/// past or before it starts. `POST /api/v1/imports` may answer 400 for a CSV body
/// without a `host` column.
fn fuzzer_config(seeded: &Seeded, cursors: &[String]) -> String {
    let semantic = [
        "GET /api/v1/domains",
        "GET /api/v1/alerts",
        "POST /api/v1/domains",
        "POST /api/v1/endpoints",
        "PATCH /api/v1/endpoints/{id}",
        "PATCH /api/v1/domains/{name}",
        "POST /api/v1/scans",
        "POST /api/v1/tokens",
        "POST /api/v1/clients",
        "PATCH /api/v1/clients/{id}",
        "POST /api/v1/clients/{id}/contacts",
        "PUT /api/v1/alerts/{id}/snooze",
        "POST /api/v1/mutes",
    ];
    let accepted = r#"["2xx", "401", "403", "404", "409", "429"]"#;
    let mut config = format!(
        r#"# Written by tests/lapse/api_fuzz.rs.
max-redirects = 0
request-timeout = 20
# How fast examples are generated is not the API's business (and CI shares its cores).
suppress-health-check = ["too_slow"]

[checks.positive_data_acceptance]
expected-statuses = {accepted}

[dictionaries.domains]
values = ["acme.test", "beta.test", "parked.test", "xn--bcher-kva.test"]
[dictionaries.targets]
values = ["shop.acme.test", "https://www.acme.test:8443/x", "mail.beta.test:587", "parked.test", "new.test", "bücher.test"]
[dictionaries.clients]
values = ["Acme Ltd", "Beta GmbH"]
[dictionaries.emails]
values = ["ops@acme.test", "cto@beta.test"]
[dictionaries.cursors]
values = [{cursors}]

[parameters]
"path.name" = {{ dictionary = "domains", probability = 0.5 }}
"query.cursor" = {{ dictionary = "cursors", probability = 1.0 }}
"query.domain" = {{ dictionary = "domains", probability = 1.0 }}
"query.client" = {{ dictionary = "clients", probability = 0.5 }}
"body.client" = {{ dictionary = "clients", probability = 0.5 }}
"body.domain" = {{ dictionary = "domains", probability = 0.5 }}
"body.target" = {{ dictionary = "targets", probability = 0.5 }}
"body.email" = {{ dictionary = "emails", probability = 0.5 }}
"body.contacts[*]" = {{ dictionary = "emails", probability = 0.5 }}

[[operations]]
# The fuzzer's own token must outlive the run: it revokes a spare one.
include-name = "DELETE /api/v1/tokens/{{id}}"
parameters = {{ "path.id" = {spare} }}

[[operations]]
include-name = "POST /api/v1/domains"
parameters = {{ "body.name" = {{ dictionary = "targets", probability = 0.5 }} }}

[[operations]]
include-name = "POST /api/v1/imports"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "409", "429"]
"#,
        cursors = cursors.join(", "),
        spare = seeded.spare_id,
    );
    for name in semantic {
        config.push_str(&format!(
            "\n[[operations]]\ninclude-name = \"{name}\"\n\
             checks.positive_data_acceptance.expected-statuses = [\"2xx\", \"401\", \"403\", \"404\", \"409\", \"422\", \"429\"]\n"
        ));
    }
    config
}

/// One fuzzer run with `token`; its whole report.
fn fuzz(st: &PathBuf, env: &TestEnv, server: &Server, token: &str, examples: u32) -> Output {
    let mut command = Command::new(st);
    command
        .current_dir(env.dir.path())
        .args(["--config-file", "schemathesis.toml", "--no-color", "run"])
        .arg(format!("{}/api/v1/openapi.json", server.base))
        .args(["--url", &server.base])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &knob("LAPSE_FUZZ_SEED", SEED).to_string()])
        // One worker: with two, Debian's Python 3.11 once crashed inside the
        // fuzzer ("AST constructor recursion depth mismatch", CPython
        // gh-106905, threads compiling at once), failing the test for
        // nothing lapse did.
        .args(["--workers", "1"])
        .args(["--generation-database", "none"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"));
    // No proxy may carry a request anywhere: straight to 127.0.0.1.
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        command.env_remove(var).env_remove(var.to_ascii_lowercase());
    }
    command.env("NO_PROXY", "*").env("no_proxy", "*");
    command.output().expect("run the fuzzer")
}

fn assert_clean(who: &str, run: &Output) {
    assert!(
        run.status.success(),
        "the fuzzer found the document dishonest with the {who} token ({}):\n{}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_find_the_document_honest() {
    let st = fuzzer();
    let port = free_port();
    let env = installation(port);
    let seeded = seed(&env);
    let server = serve(&env, port).await;
    let cursors = cursors(&server, &seeded.admin).await;
    env.write("schemathesis.toml", &fuzzer_config(&seeded, &cursors));

    let examples = knob("LAPSE_FUZZ_EXAMPLES", EXAMPLES);
    let admin = tokio::task::block_in_place(|| fuzz(&st, &env, &server, &seeded.admin, examples));
    assert_clean("admin", &admin);
    let client = tokio::task::block_in_place(|| {
        fuzz(&st, &env, &server, &seeded.client, (examples / 4).max(1))
    });
    assert_clean("client", &client);

    let health = reqwest::get(format!("{}/healthz", server.base)).await;
    assert!(health.is_ok_and(|r| r.status() == 200), "still serving");
    drop(server);
    for (what, sql) in [
        (
            "no scan ran",
            "SELECT COUNT(*) FROM scans WHERE state <> 'queued'",
        ),
        (
            "no certificate was checked",
            "SELECT COUNT(*) FROM cert_observations",
        ),
        (
            "no registration was looked up",
            "SELECT COUNT(*) FROM registration_facts",
        ),
    ] {
        assert_eq!(db_count(&env, sql).await, 0, "{what}");
    }
}

// ---------------------------------------------------------------------------
// What the fuzzer found, pinned without it.

/// The operations of the served document: (label, operation).
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((format!("{} {path}", method.to_uppercase()), op));
        }
    }
    out
}

/// Every operation lists what its kind of request can be answered: a
/// token's 401, 429 and 500; a parameter's 400; a body's 400, 413, 415
/// and 422; each refusal with the error body (before: 401 on 25
/// operations, 415 on 11, 400 on 21 and more were missing).
#[tokio::test]
async fn every_operation_documents_the_refusals_of_its_kind() {
    let app = TestApp::new().await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .json;
    for (label, op) in operations(&doc) {
        let public = op["security"] == json!([{}]);
        let mut wanted: Vec<&str> = Vec::new();
        if !public {
            wanted.extend(["401", "429", "500"]);
        }
        if op["requestBody"].is_object() {
            wanted.extend(["400", "413", "415", "422"]);
        } else if op["parameters"].as_array().is_some_and(|p| !p.is_empty()) {
            wanted.push("400");
        }
        for status in wanted {
            let response = &op["responses"][status];
            assert!(response.is_object(), "{label} does not document {status}");
            let schema = match response["$ref"].as_str() {
                Some(reference) => {
                    let name = reference.rsplit('/').next().expect("name");
                    &doc["components"]["responses"][name]["content"]["application/json"]["schema"]
                }
                None => &response["content"]["application/json"]["schema"],
            };
            assert_eq!(
                schema["$ref"], "#/components/schemas/ErrorBody",
                "{label} {status}: {response}"
            );
        }
    }
    let headers = &doc["components"]["responses"];
    assert!(headers["RateLimited"]["headers"]["Retry-After"].is_object());
    assert!(headers["Unauthorized"]["headers"]["WWW-Authenticate"].is_object());
    app.stop().await;
}

/// Parameters and fields carry their values, ranges and lengths (before:
/// plain strings and integers, so `limit=501` or `status=x` matched the
/// document and were refused).
#[tokio::test]
async fn parameters_and_fields_carry_their_values_and_ranges() {
    let app = TestApp::new().await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .json;
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} {name}"))["schema"]
            .clone()
    };
    let limit = param("/api/v1/domains", "limit");
    assert_eq!(
        (limit["minimum"].clone(), limit["maximum"].clone()),
        (json!(1), json!(500))
    );
    let within = param("/api/v1/domains", "expiring_within_days");
    assert_eq!(
        (within["minimum"].clone(), within["maximum"].clone()),
        (json!(0), json!(3650))
    );
    let status = param("/api/v1/domains", "status")["enum"].clone();
    assert_eq!(status.as_array().map(Vec::len), Some(7), "{status}");
    assert_eq!(
        param("/api/v1/outbox", "state")["enum"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert_eq!(
        param("/api/v1/alerts", "state")["enum"],
        json!(["firing", "resolved"])
    );
    assert_eq!(param("/api/v1/clients/{id}", "id")["minimum"], 1);
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("NewDomain", "name"),
        ("NewEndpoint", "target"),
        ("NewClient", "name"),
        ("ClientChange", "name"),
        ("NewTokenRequest", "name"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["minLength"], 1,
            "{schema}.{field}"
        );
    }
    assert_eq!(
        schemas["WatchName"]["enum"],
        json!(["registration", "tls", "both"])
    );
    assert_eq!(
        schemas["ScanScopeName"]["enum"],
        json!(["all", "client", "domain"])
    );
    assert_eq!(
        schemas["RoleName"]["enum"],
        json!(["admin", "staff", "viewer", "client"])
    );
    // The read model's `RegistrationOwner` (an object) is not overwritten
    // by the request's value list, which has a name of its own.
    assert!(schemas["RegistrationOwner"]["oneOf"].is_array());
    assert_eq!(
        schemas["RegistrationOwnerName"]["enum"],
        json!(["client", "agency", "none"])
    );
    for schema in ["DomainPatch", "ThresholdsChange"] {
        assert_eq!(schemas[schema]["minProperties"], 1, "{schema}");
        assert!(schemas[schema]["maxProperties"].is_null(), "{schema}");
    }
    app.stop().await;
}

/// What the server did against the document: a path segment that is not
/// UTF-8 was answered in plain text; an array was read as an object; a
/// whole number written `7.0` (an integer to JSON Schema) was refused.
#[tokio::test]
async fn requests_the_document_describes_are_answered_as_it_says() {
    let app = TestApp::new().await;
    let bad_path = app.get("/api/v1/domains/%FF", "admin").await;
    assert_eq!(
        (bad_path.status, bad_path.code()),
        (400, "invalid_parameter"),
        "{bad_path:?}"
    );
    assert_eq!(bad_path.field(), Some("name"));
    let array = app
        .raw(
            app.http()
                .put(app.url("/api/v1/domains/acme.test/thresholds"))
                .bearer_auth(app.token("admin"))
                .header("content-type", "application/json")
                .body("[null, null]"),
        )
        .await;
    assert_eq!(
        (array.status, array.code()),
        (422, "invalid_body"),
        "{array:?}"
    );
    let days = json!({"certificate_days": [7.0, 1]});
    let set = app
        .call(
            "PUT",
            "/api/v1/domains/acme.test/thresholds",
            Some("admin"),
            Some(days),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json["certificate_days"], json!([7, 1]));
    let acme = app.ids["acme"] as f64;
    let body = json!({"name": "new.acme.test", "client": acme});
    let added = app
        .call("POST", "/api/v1/domains", Some("admin"), Some(body))
        .await;
    assert_eq!(added.status, 201, "{added:?}");
    assert_eq!(
        added.json["endpoint"]["client"]["name"], "Acme",
        "{added:?}"
    );
    app.stop().await;
}

/// The request-side string schemas of `doc` (parameters and request
/// bodies, through the component schemas they refer to): (where, schema).
fn request_strings(doc: &Value) -> Vec<(String, Value)> {
    fn walk(
        doc: &Value,
        schema: &Value,
        at: String,
        seen: &mut Vec<String>,
        out: &mut Vec<(String, Value)>,
    ) {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().expect("name").to_owned();
            if !seen.contains(&name) {
                seen.push(name.clone());
                let target = &doc["components"]["schemas"][&name];
                walk(doc, target, format!("{at}->{name}"), seen, out);
                seen.pop();
            }
            return;
        }
        let string = match &schema["type"] {
            Value::String(t) => t == "string",
            Value::Array(types) => types.iter().any(|t| t == "string"),
            _ => false,
        };
        if string {
            out.push((at.clone(), schema.clone()));
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            for (i, item) in schema[key].as_array().into_iter().flatten().enumerate() {
                walk(doc, item, format!("{at}/{key}{i}"), seen, out);
            }
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            walk(doc, property, format!("{at}.{name}"), seen, out);
        }
        for key in ["items", "additionalProperties"] {
            if schema[key].is_object() {
                walk(doc, &schema[key], format!("{at}[{key}]"), seen, out);
            }
        }
    }
    let mut out = Vec::new();
    for (label, op) in operations(doc) {
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            let at = format!("{label} {}.{}", parameter["in"], parameter["name"]);
            walk(doc, &parameter["schema"], at, &mut Vec::new(), &mut out);
        }
        let content = op["requestBody"]["content"].as_object();
        for (media, body) in content.into_iter().flatten() {
            let at = format!("{label} body {media}");
            walk(doc, &body["schema"], at, &mut Vec::new(), &mut out);
        }
    }
    out
}

/// No string the API reads may hold NUL (PostgreSQL's text cannot), and
/// the document says so: every string of a parameter or a request body
/// not already bound to its values carries a pattern excluding it (before:
/// `?q=<NUL>` matched the document and was a 500 on PostgreSQL, and
/// `\u0000` in a JSON string matched it and was refused with 422).
#[tokio::test]
async fn the_document_says_no_string_a_request_carries_holds_nul() {
    let app = TestApp::new().await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .json;
    let strings = request_strings(&doc);
    // Path and query parameters, JSON and CSV bodies: dozens of them.
    assert!(strings.len() > 50, "{}", strings.len());
    for kind in [
        "\"path\".",
        "\"query\".",
        "body application/json",
        "body text/csv",
    ] {
        assert!(
            strings.iter().any(|(at, _)| at.contains(kind)),
            "no request string in {kind}"
        );
    }
    for (at, schema) in &strings {
        if schema["enum"].is_array() {
            let values = schema["enum"].as_array().expect("enum");
            assert!(
                values
                    .iter()
                    .all(|v| !v.as_str().is_some_and(|v| v.contains('\0'))),
                "{at}"
            );
            continue;
        }
        assert_eq!(schema["pattern"], r"^[^\u0000]*$", "{at}: {schema}");
    }
    let q = doc["paths"]["/api/v1/domains"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "q")
        .expect("q")["schema"]
        .clone();
    assert_eq!(q["pattern"], r"^[^\u0000]*$", "{q}");
    // What only a response says is left as it was.
    let detail = &doc["components"]["schemas"]["DomainDetail"];
    assert!(detail["allOf"].is_array(), "{detail}");
    assert!(!detail.to_string().contains("u0000"), "{detail}");
    app.stop().await;
}

/// NUL in a parameter is refused before any query reaches the database,
/// with a 400 naming the parameter, on every engine; in a JSON body, a
/// 422. What holds no NUL is answered as before.
#[tokio::test]
async fn a_nul_in_a_request_is_refused_with_the_status_the_document_lists() {
    let app = TestApp::new().await;
    for (path, field) in [
        ("/api/v1/domains?q=%00", "q"),
        ("/api/v1/domains?q=acme%00x", "q"),
        ("/api/v1/domains?client=%00", "client"),
        ("/api/v1/domains?cursor=a%00", "cursor"),
        ("/api/v1/alerts?domain=%00", "domain"),
        ("/api/v1/alerts?client=x%00", "client"),
        ("/api/v1/domains/acme%00.test", "name"),
        ("/api/v1/domains/%00/endpoints", "name"),
    ] {
        let reply = app.get(path, "admin").await;
        assert_eq!(
            (reply.status, reply.code(), reply.field()),
            (400, "invalid_parameter", Some(field)),
            "{path}: {reply:?}"
        );
        assert!(
            reply.json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("NUL character")),
            "{path}: {reply:?}"
        );
    }
    let nul_body = app
        .call(
            "PUT",
            "/api/v1/channels/ops/staff",
            Some("admin"),
            Some(json!({"events": ["a\u{0}"]})),
        )
        .await;
    assert_eq!(
        (nul_body.status, nul_body.code()),
        (422, "invalid_body"),
        "{nul_body:?}"
    );
    let added = app
        .call(
            "POST",
            "/api/v1/clients",
            Some("admin"),
            Some(json!({"name": "Nul\u{0}Corp"})),
        )
        .await;
    assert_eq!(
        (added.status, added.code()),
        (422, "invalid_body"),
        "{added:?}"
    );

    // Unchanged: a text without NUL, an escaped `%5Cu0000` that is not one,
    // and the other refusals of a parameter.
    let found = app.get("/api/v1/domains?q=acme", "admin").await;
    assert_eq!(found.status, 200, "{found:?}");
    assert!(
        found.json["total"].as_i64().is_some_and(|n| n > 0),
        "{found:?}"
    );
    let literal = app.get("/api/v1/domains?q=%5Cu0000", "admin").await;
    assert_eq!(
        (literal.status, literal.json["total"].clone()),
        (200, json!(0)),
        "{literal:?}"
    );
    let unknown = app.get("/api/v1/domains?nope=1", "admin").await;
    assert_eq!((unknown.status, unknown.code()), (400, "unknown_parameter"));
    let twice = app.get("/api/v1/domains?q=a&q=b", "admin").await;
    assert_eq!((twice.status, twice.code()), (400, "invalid_parameter"));
    let detail = app.get("/api/v1/domains/acme.test", "admin").await;
    assert_eq!(detail.status, 200, "{detail:?}");

    // Each of these statuses is one the operation documents.
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .json;
    for (path, method, status) in [
        ("/api/v1/domains", "get", "400"),
        ("/api/v1/domains/{name}", "get", "400"),
        ("/api/v1/channels/{name}/staff", "put", "422"),
        ("/api/v1/clients", "post", "422"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"][status].is_object(),
            "{method} {path} does not document {status}"
        );
    }
    app.stop().await;
}
