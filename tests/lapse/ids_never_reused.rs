//! Issue 15 item 1: ids are never given to a second row, and a token's
//! principal cannot outlive the rows it was resolved from.
//!
//! The leak: `clients.id` was `INTEGER PRIMARY KEY` without AUTOINCREMENT
//! (SQLite hands out `max(id) + 1`, so the id of the newest row comes back
//! after it is deleted), and `lapse serve` reused a resolved token for up
//! to a second without asking the database. A client removed by another
//! process (`lapse clients remove`) and a client added within that second
//! made the removed client's token read the new client, contacts included.
//!
//! Here: the real binary serves on loopback while the CLI, in other
//! processes, removes and adds clients; the same CLI shows that removed
//! clients, contacts, domains, endpoints and tokens leave their ids unused;
//! a database with rows of every kind keeps every row, index, trigger and
//! foreign key through migration 0302; and every table with an `id` hands
//! out ids that were never used (AUTOINCREMENT).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Row, SqliteConnection};

use crate::harness::cli::{db_count, free_port, TestEnv};
use crate::migration::{dump, open, SAMPLE};

/// `lapse serve` (the binary) on a loopback port; stopped when dropped.
struct Served {
    child: std::process::Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(env: &TestEnv, port: u16) -> Served {
    let child = env.command(&["serve"]).spawn().expect("spawn lapse serve");
    let served = Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = reqwest::get(format!("{}/healthz", served.base)).await;
        if up.is_ok_and(|r| r.status() == 200) {
            return served;
        }
        assert!(Instant::now() < deadline, "lapse serve did not answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client token made by `lapse tokens create`.
fn client_token(env: &TestEnv, client: &str) -> String {
    let run = env.run(&[
        "tokens", "create", "--role", "client", "--client", client, "--name", "portal", "--json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let created: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    created["token"].as_str().expect("token").to_owned()
}

fn cli(env: &TestEnv, args: &[&str]) {
    let run = env.run(args);
    assert_eq!(run.code, 0, "lapse {args:?}: {run:?}");
}

/// One trial: client `Acme n` with a token the server has resolved, then,
/// in other processes, the client removed and `Bakery n` added. The token
/// is refused from then on (for longer than any cache could keep it) and
/// never shows the new client; the new client's id is not the removed
/// one's. Returns how long the CLI took after the token was resolved.
async fn leak_trial(env: &TestEnv, served: &Served, n: usize) -> Duration {
    let (old, new) = (format!("Acme {n}"), format!("Bakery {n}"));
    cli(
        env,
        &["clients", "add", &old, "--contact", "ops@acme.example"],
    );
    let token = client_token(env, &old);
    let old_id = id(env, &format!("SELECT id FROM clients WHERE name = '{old}'")).await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{}{path}", served.base))
            .bearer_auth(&token)
            .send()
    };
    let own = get("/api/v1/clients".into()).await.expect("GET");
    assert_eq!(own.status(), 200);
    assert!(own.text().await.expect("body").contains("ops@acme.example"));
    let resolved = Instant::now();

    cli(env, &["clients", "remove", &old]);
    cli(
        env,
        &["clients", "add", &new, "--contact", "secret@bakery.example"],
    );
    let took = resolved.elapsed();
    let new_id = id(env, &format!("SELECT id FROM clients WHERE name = '{new}'")).await;
    assert!(
        new_id > old_id,
        "the next client got id {new_id}; the removed one had {old_id}"
    );
    let paths = [
        "/api/v1/me".to_owned(),
        "/api/v1/clients".to_owned(),
        format!("/api/v1/clients/{old_id}"),
        format!("/api/v1/clients/{old_id}/contacts"),
        format!("/api/v1/clients/{new_id}"),
        "/api/v1/domains".to_owned(),
    ];
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        for path in &paths {
            let reply = get(path.clone()).await.expect("GET");
            let status = reply.status().as_u16();
            let body = reply.text().await.expect("body");
            assert!(
                !body.to_lowercase().contains("bakery"),
                "{path} showed the next client to the removed client's token: {body}"
            );
            assert_eq!(status, 401, "{path}: {body}");
        }
    }
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_clients_token_is_refused_at_once_and_never_reads_the_next_client() {
    let port = free_port();
    let env = TestEnv::with_config(&format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let served = serve(&env, port).await;
    // The leak lived within the second a server kept a resolved token: a
    // trial the machine made slower than that is run again.
    let window = Duration::from_millis(900);
    let mut took = Vec::new();
    for n in 0..3 {
        took.push(leak_trial(&env, &served, n).await);
        if took.last().is_some_and(|t| *t < window) {
            break;
        }
    }
    assert!(
        took.iter().any(|t| *t < window),
        "no trial ran within the server's token cache: {took:?}"
    );
}

/// The id of the one row `sql` selects.
async fn id(env: &TestEnv, sql: &str) -> i64 {
    db_count(env, sql).await
}

#[tokio::test]
async fn removed_clients_contacts_domains_endpoints_and_tokens_leave_their_ids_unused() {
    let env = TestEnv::new();
    let ids = [
        ("clients", "SELECT MAX(id) FROM clients"),
        ("contacts", "SELECT MAX(id) FROM contacts"),
        ("domains", "SELECT MAX(id) FROM domains"),
        ("endpoints", "SELECT MAX(id) FROM endpoints"),
        ("api_tokens", "SELECT MAX(id) FROM api_tokens"),
    ];
    let mut before = Vec::new();
    for (client, contact, host) in [
        ("Acme Ltd", "ops@acme.example", "www.acme.test"),
        ("Bakery", "owner@bakery.example", "shop.bakery.test"),
    ] {
        cli(&env, &["clients", "add", client, "--contact", contact]);
        cli(&env, &["domains", "add", host, "--client", client]);
        client_token(&env, client);
        let mut row = Vec::new();
        for (table, sql) in ids {
            row.push((table, id(&env, sql).await));
        }
        before.push(row);
        // Everything of this client goes: the newest row of each table.
        let domain = host.split_once('.').expect("dotted").1;
        cli(&env, &["domains", "remove", domain]);
        cli(&env, &["clients", "remove", client]);
        for (table, _) in ids {
            let left = db_count(&env, &format!("SELECT COUNT(*) FROM {table}")).await;
            assert_eq!(left, 0, "{table} still has rows");
        }
    }
    for ((table, first), (_, second)) in before[0].iter().zip(&before[1]) {
        assert!(
            second > first,
            "{table}: the id {first} of a removed row was given again ({second})"
        );
    }
}

/// `CREATE TABLE` text compared without comments, case or layout, and
/// without `AUTOINCREMENT` and the columns 0302 adds (the only changes
/// 0302 may make to a table's definition).
fn normalized(sql: &str) -> String {
    let text: Vec<&str> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect();
    let mut text = text
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    for (from, to) in [
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (", ", ","),
        (" ,", ","),
    ] {
        text = text.replace(from, to);
    }
    for added in [
        " autoincrement",
        ",cert_checks integer not null default 0",
        ",cert_failures_counted_check integer",
        ",registration_checks integer not null default 0",
        ",registration_failures_counted_check integer",
    ] {
        text = text.replace(added, "");
    }
    text
}

/// The schema as SQLite holds it: each object's SQL (tables normalized),
/// and per table its columns, foreign keys and indexes as the pragmas
/// report them.
async fn schema(conn: &mut SqliteConnection) -> BTreeMap<String, String> {
    let rows = sqlx::query(
        "SELECT type, name, tbl_name, sql FROM sqlite_master
         WHERE tbl_name NOT IN ('_sqlx_migrations', 'sqlite_sequence')",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("sqlite_master");
    let mut out = BTreeMap::new();
    for row in rows {
        let (kind, name): (String, String) = (row.get("type"), row.get("name"));
        let sql: Option<String> = row.get("sql");
        let text = match kind.as_str() {
            "table" => normalized(sql.as_deref().unwrap_or("")),
            _ => format!("on {}: {sql:?}", row.get::<String, _>("tbl_name")),
        };
        out.insert(format!("{kind} {name}"), text);
        if kind != "table" {
            continue;
        }
        for (pragma, columns) in [
            ("foreign_key_list", "*"),
            ("index_list", "name, \"unique\", origin, partial"),
        ] {
            let listed = sqlx::query(&format!("SELECT {columns} FROM pragma_{pragma}('{name}')"))
                .fetch_all(&mut *conn)
                .await
                .expect("pragma");
            let text = listed
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.try_get::<Option<String>, _>(i)
                                .map(|v| format!("{v:?}"))
                                .or_else(|_| {
                                    r.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}"))
                                })
                                .expect("value")
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect::<Vec<_>>();
            let mut text = text;
            text.sort();
            out.insert(format!("{pragma} {name}"), text.join(" | "));
        }
    }
    out
}

/// Rows a delete left behind (ids above the newest row, or referenced by
/// rows that outlive theirs): an interrupted scan's items naming a removed
/// endpoint (12) and domain (9), a sent message whose ledger row (40) went
/// with its alert.
const HISTORY: &str = "
INSERT INTO scans (id, scope, state, started_at, items_total)
VALUES (2, '{\"scope\":\"all\"}', 'interrupted', '2026-12-04T01:00:00Z', 3);
INSERT INTO scan_items (scan_id, item_kind, item_id, done_at, outcome)
VALUES (2, 'endpoint', 12, NULL, NULL), (2, 'registration', 9, NULL, NULL),
       (2, 'endpoint', 6, '2026-12-04T01:00:05Z', 'critical');
INSERT INTO outbox (id, message_id, ledger_id, channel, recipient, subject, body_text, state,
                    attempts, next_attempt_at, created_at, alert_id)
VALUES (3, '40.threshold-7.email.0123456789ab@agency.example', NULL, 'email',
        'ops@acme.example', 'Certificate expires', 'body', 'sent', 1,
        '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z', NULL);
";

const BEFORE_IDS: i64 = 301;

#[tokio::test]
async fn migration_0302_keeps_every_row_index_trigger_and_foreign_key() {
    let env = TestEnv::on_sqlite("");
    let mut migrator = sqlx::migrate!("./migrations/sqlite");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= BEFORE_IDS)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut conn = open(&env).await;
    migrator.run(&mut conn).await.expect("schema before 0302");
    for sql in [SAMPLE, HISTORY] {
        sqlx::raw_sql(sql).execute(&mut conn).await.expect("rows");
    }
    let rows_before = dump(&mut conn).await;
    let schema_before = schema(&mut conn).await;
    drop(conn);

    let run = env.run_async(&["migrate"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("ids never reused") && l.ends_with("applied now")),
        "{}",
        run.stdout
    );

    let mut conn = open(&env).await;
    // `lapse migrate` also ran the migrations after 0302: their columns
    // are not 0302's to add, so they are taken out before comparing.
    for later in [
        "ALTER TABLE outbox DROP COLUMN reply_to",
        "DROP TABLE client_digest_entries",
        "ALTER TABLE clients DROP COLUMN timezone",
        "ALTER TABLE clients DROP COLUMN delivery",
        "ALTER TABLE clients DROP COLUMN digest_hour",
        "ALTER TABLE clients DROP COLUMN digest_weekday",
        // 0304: the web pages' tables.
        "DROP TABLE web_sessions",
        "DROP TABLE web_links",
        "DROP TABLE portal_links",
        "DROP TABLE web_users",
        "ALTER TABLE outbox DROP COLUMN payload",
        "DROP TABLE channel_routes",
        // 0306: alert handling.
        "DROP TABLE mutes",
        "ALTER TABLE alerts DROP COLUMN acknowledged_at",
        "ALTER TABLE alerts DROP COLUMN acknowledged_by",
        "ALTER TABLE alerts DROP COLUMN snoozed_until",
        "ALTER TABLE alerts DROP COLUMN snoozed_by",
        "ALTER TABLE alert_ledger DROP COLUMN actor",
        "ALTER TABLE alert_ledger DROP COLUMN note",
        "ALTER TABLE clients DROP COLUMN repeat_days",
        "ALTER TABLE domains DROP COLUMN repeat_days",
        "ALTER TABLE clients DROP COLUMN runbook_account",
        "ALTER TABLE clients DROP COLUMN runbook_renewer",
        "ALTER TABLE clients DROP COLUMN runbook_howto",
        "ALTER TABLE domains DROP COLUMN runbook_account",
        "ALTER TABLE domains DROP COLUMN runbook_renewer",
        "ALTER TABLE domains DROP COLUMN runbook_howto",
        // 0307: several instances.
        "DROP TABLE instances",
        "DROP TABLE cron_firings",
        "DROP TABLE server_pacing",
        "DROP INDEX scan_items_leased",
        "ALTER TABLE scan_items DROP COLUMN leased_by",
        "ALTER TABLE scan_items DROP COLUMN lease_until",
        "ALTER TABLE outbox DROP COLUMN leased_by",
        // 0308: observations carry their domain.
        "DROP INDEX cert_observations_domain_not_after",
        "DROP INDEX cert_observations_domain_outcome",
        "ALTER TABLE cert_observations DROP COLUMN domain_id",
        // 0401: the domain list's status indexes.
        "DROP INDEX domains_registration_outcome_by_expiry",
        "DROP INDEX domains_cert_outcome_by_expiry",
        // 0404: the expiry indexes end with the id, back to 0302's text.
        "DROP INDEX domains_by_expiry",
        "DROP INDEX domains_client_by_expiry",
        "CREATE INDEX domains_by_expiry
    ON domains (COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'))",
        "CREATE INDEX domains_client_by_expiry
    ON domains (client_id, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'))",
        // 0402: the list generation's triggers, back to 0302's text.
        "DROP TRIGGER api_generation_domain_update",
        "DROP TRIGGER api_generation_domain_model_update",
        r#"CREATE TRIGGER api_generation_domain_update
AFTER UPDATE OF name, client_id, expires_at, registration_outcome, cert_not_after, cert_outcome
ON domains
WHEN OLD.name IS NOT NEW.name
  OR OLD.client_id IS NOT NEW.client_id
  OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.registration_outcome IS NOT NEW.registration_outcome
  OR OLD.cert_not_after IS NOT NEW.cert_not_after
  OR OLD.cert_outcome IS NOT NEW.cert_outcome
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END"#,
        r#"CREATE TRIGGER api_generation_domain_model_update
AFTER UPDATE OF watch, registration_owner, registration_capability, manual_expires_at ON domains
WHEN OLD.watch IS NOT NEW.watch
  OR OLD.registration_owner IS NOT NEW.registration_owner
  OR OLD.registration_capability IS NOT NEW.registration_capability
  OR OLD.manual_expires_at IS NOT NEW.manual_expires_at
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END"#,
    ] {
        sqlx::raw_sql(later).execute(&mut conn).await.expect(later);
    }
    let rows_after = dump(&mut conn).await;
    // Every row of every table, every column it had, unchanged.
    assert_eq!(
        rows_before.keys().collect::<Vec<_>>(),
        rows_after.keys().collect::<Vec<_>>()
    );
    let mut compared = 0;
    for (table, rows) in &rows_before {
        assert_eq!(rows.len(), rows_after[table].len(), "{table}: row count");
        for (old, new) in rows.iter().zip(&rows_after[table]) {
            for (column, value) in old {
                assert_eq!(Some(value), new.get(column), "{table}.{column} in {old:?}");
                compared += 1;
            }
        }
    }
    assert!(compared > 250, "only {compared} values compared");

    // The same tables, columns, constraints, foreign keys and indexes; the
    // same index and trigger SQL, byte for byte; one index added.
    let mut schema_after = schema(&mut conn).await;
    assert_eq!(
        schema_after.remove("index outbox_ledger").as_deref(),
        Some("on outbox: Some(\"CREATE INDEX outbox_ledger ON outbox (ledger_id)\")")
    );
    let index_list = schema_after
        .get_mut("index_list outbox")
        .expect("outbox indexes");
    *index_list = index_list
        .split(" | ")
        .filter(|i| !i.contains("outbox_ledger"))
        .collect::<Vec<_>>()
        .join(" | ");
    for (object, text) in &schema_before {
        assert_eq!(Some(text), schema_after.get(object), "{object}");
    }
    assert_eq!(
        schema_before.keys().collect::<Vec<_>>(),
        schema_after.keys().collect::<Vec<_>>()
    );
    assert!(
        schema_before
            .keys()
            .filter(|k| k.starts_with("trigger "))
            .count()
            >= 8
    );

    // Foreign keys hold, and still act: removing a client cascades to its
    // contacts and token and leaves its domains to the agency.
    let broken = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .expect("foreign_key_check");
    assert!(
        broken.is_empty(),
        "{} rows break a foreign key",
        broken.len()
    );
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    sqlx::query("DELETE FROM clients WHERE id = 1")
        .execute(&mut conn)
        .await
        .expect("delete client");
    let left: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM contacts WHERE client_id = 1),
                (SELECT COUNT(*) FROM api_tokens WHERE client_id = 1),
                (SELECT COUNT(*) FROM domains WHERE client_id = 1)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counts");
    assert_eq!(left, (0, 0, 0));

    // Each table's next id is above every id it used that is still named
    // anywhere: its rows, a scan's items, a message id.
    let sequence: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT name, seq FROM sqlite_sequence")
            .fetch_all(&mut conn)
            .await
            .expect("sqlite_sequence")
            .into_iter()
            .collect();
    let expected = [
        ("clients", 2),
        ("contacts", 2),
        ("domains", 9),
        ("endpoints", 12),
        ("cert_observations", 3),
        ("alerts", 2),
        ("alert_ledger", 40),
        ("outbox", 3),
        ("digests", 1),
        ("digest_entries", 1),
        ("api_tokens", 1),
        ("scans", 2),
    ];
    for (table, seq) in expected {
        assert_eq!(sequence.get(table), Some(&seq), "{table}: {sequence:?}");
    }
    sqlx::query("INSERT INTO clients (name, created_at) VALUES ('Next', '2026-12-05T00:00:00Z')")
        .execute(&mut conn)
        .await
        .expect("insert");
    let next: i64 = sqlx::query_scalar("SELECT id FROM clients WHERE name = 'Next'")
        .fetch_one(&mut conn)
        .await
        .expect("id");
    assert_eq!(
        next, 3,
        "the removed client 1 and the kept 2 are not reused"
    );
}

#[tokio::test]
async fn every_table_with_an_id_hands_out_ids_never_used_before() {
    let env = TestEnv::new();
    if env.database_url.is_some() {
        // SQLite's AUTOINCREMENT, read from its schema; PostgreSQL's
        // identity columns are compared with it by `schema_parity`.
        return;
    }
    let run = env.run_async(&["migrate"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(env.path("lapse.db"))
        .read_only(true)
        .connect()
        .await
        .expect("open db");
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    let mut with_ids = Vec::new();
    for (name, sql) in &tables {
        let id_key: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT pk FROM pragma_table_info('{name}') WHERE name = 'id'"
        ))
        .fetch_optional(&mut conn)
        .await
        .expect("table_info");
        // One-row tables (`CHECK (id = 1)`) have no ids to hand out.
        if id_key != Some(1) || sql.contains("CHECK (id = 1)") {
            continue;
        }
        with_ids.push(name.as_str());
        assert!(
            sql.contains("INTEGER PRIMARY KEY AUTOINCREMENT"),
            "{name} can give a deleted row's id to a new row: {sql}"
        );
    }
    assert!(with_ids.len() >= 12, "{with_ids:?}");
}
