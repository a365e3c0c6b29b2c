//! Issue 17 item 3: `lapse db copy --to postgres://...` moves a SQLite
//! database into PostgreSQL with every row, id and history kept.
//!
//! A fleet is built in SQLite through the CLI (clients with contacts and
//! settings, domains and endpoints of every watch mode, thresholds, tokens,
//! a staff account, a maintenance window; the newest client removed, so
//! SQLite's `sqlite_sequence` is above `max(id)`), with history written as
//! the scan engine writes it (observations, registration facts, a finished
//! scan, the RDAP bootstrap) and alerts, ledger and outbox messages made by
//! `lapse alerts evaluate`. It is copied by the real binary into a fresh
//! database of the test cluster; then every table is compared row by row,
//! lapse's listings read the same on both, a new row on PostgreSQL gets an
//! id above every id SQLite ever handed out, a second copy is refused
//! unless told to replace the target's data, and bad targets give a clear
//! error.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection, Row};

use crate::harness::cli::{free_port, Run, TestEnv};
use crate::harness::postgres;

fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{run:?}");
    run
}

/// The fleet, through the CLI.
fn build_fleet(env: &TestEnv) {
    for args in [
        &[
            "clients",
            "add",
            "Acme Ltd",
            "--contact",
            "ops@acme.example",
            "--contact",
            "cto@acme.example",
        ][..],
        &[
            "clients",
            "add",
            "Beta GmbH",
            "--contact",
            "it@beta.example",
        ],
        &["clients", "add", "Gamma AG", "--contact", "x@gamma.example"],
        &[
            "clients",
            "set",
            "Beta GmbH",
            "--delivery",
            "weekly",
            "--weekday",
            "tue",
            "--hour",
            "9",
            "--timezone",
            "Europe/Berlin",
        ],
        &[
            "domains",
            "add",
            "shop.acme.test",
            "www.acme.test",
            "mail.acme.test:587",
            "--client",
            "Acme Ltd",
        ],
        &[
            "domains",
            "add",
            "beta.test",
            "--registration-only",
            "--client",
            "Beta GmbH",
        ],
        &[
            "domains",
            "add",
            "staging.agency.test",
            "--watch",
            "tls",
            "--owner",
            "agency",
        ],
        &["domains", "add", "parked.test"],
        &["domains", "remove", "parked.test"],
        &[
            "thresholds",
            "set",
            "--client",
            "Acme Ltd",
            "--certificate",
            "45,21,7",
        ],
        &[
            "tokens",
            "create",
            "--role",
            "staff",
            "--name",
            "ops laptop",
        ],
        &[
            "tokens",
            "create",
            "--role",
            "client",
            "--client",
            "Acme Ltd",
            "--name",
            "acme dashboard",
        ],
        &["users", "add", "ops@agency.example", "--role", "admin"],
        &[
            "domains",
            "mute",
            "beta.test",
            "--until",
            "2099-01-01",
            "--reason",
            "registrar transfer",
        ],
        // The newest client goes: its id must never come back.
        &["clients", "remove", "Gamma AG"],
    ] {
        ok(env.run(args));
    }
}

/// History as the scan engine leaves it, then alerts by `lapse alerts
/// evaluate` (ledger rows, outbox messages).
async fn add_history(env: &TestEnv) {
    let mut db = sqlite(env).await;
    let now = Utc::now();
    let t = |days: i64| {
        (now + Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let soon = t(10);
    let sql = format!(
        "INSERT INTO cert_observations (endpoint_id, address, first_seen_at, last_seen_at, current,
             result_hash, outcome, leaf_fingerprint, leaf_not_after, chain_not_after, details)
         SELECT id, '192.0.2.1', '{old}', '{old2}', 0, 'h-old', 'ok', 'aa', '{old2}', '{old2}', '{{}}'
         FROM endpoints WHERE host = 'shop.acme.test';
         INSERT INTO cert_observations (endpoint_id, address, first_seen_at, last_seen_at, current,
             result_hash, outcome, leaf_fingerprint, leaf_not_after, chain_not_after, details)
         SELECT id, '192.0.2.1', '{old2}', '{now}', 1, 'h-new', 'warning', 'bb', '{soon}', '{soon}',
                '{{\"names\":[\"shop.acme.test\"],\"note\":\"Grüße\"}}'
         FROM endpoints WHERE host = 'shop.acme.test';
         UPDATE domains SET cert_not_after = '{soon}', cert_outcome = 'warning'
         WHERE name = 'acme.test';
         UPDATE domains SET expires_at = '{year}', expires_source = 'registry_rdap',
                registrar = 'Registrar A', registration_outcome = 'found'
         WHERE name = 'acme.test';
         INSERT INTO registration_facts (domain_id, source, server, outcome, expires_at, fetched_at)
         SELECT id, 'registry_rdap', 'https://rdap.example/', 'found', '{year}', '{now}'
         FROM domains WHERE name = 'acme.test';
         INSERT INTO scans (scope, state, started_at, finished_at, items_total, items_done, count_ok)
         VALUES ('{{\"scope\":\"all\"}}', 'finished', '{old2}', '{old2}', 1, 1, 1);
         INSERT INTO scan_items (scan_id, item_kind, item_id, done_at, outcome)
         SELECT s.id, 'endpoint', e.id, '{old2}', 'ok' FROM scans s, endpoints e
         WHERE e.host = 'shop.acme.test';
         INSERT INTO rdap_bootstrap (id, url, body, fetched_at)
         VALUES (1, 'https://data.iana.org/rdap/dns.json', X'00FF7B7D0A', '{now}');",
        old = t(-200),
        old2 = t(-30),
        now = t(0),
        year = t(365),
    );
    sqlx::raw_sql(&sql).execute(&mut db).await.expect("history");
    db.close().await.expect("close");
    let run = ok(env.run(&["alerts", "evaluate"]));
    assert!(!run.stdout.contains("alerts opened 0"), "{run:?}");
}

async fn sqlite(env: &TestEnv) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(env.path("lapse.db"))
        .foreign_keys(true)
        .connect()
        .await
        .expect("open SQLite")
}

async fn pg(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .expect("connect PostgreSQL")
}

/// An installation whose `[database]` line is `database` (whatever
/// engine the other tests run on: the copy's source is always SQLite).
fn env_with_database(database: impl FnOnce(&TestEnv) -> String) -> TestEnv {
    let env = TestEnv::new();
    let config = std::fs::read_to_string(env.config_path()).expect("config");
    let mut lines: Vec<String> = config.lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "[database]", "{config}");
    lines[1] = database(&env);
    std::fs::write(env.config_path(), lines.join("\n") + "\n").expect("config");
    env
}

/// An installation on its own SQLite file (`lapse.db`).
fn sqlite_env() -> TestEnv {
    env_with_database(|env| format!("path = \"{}\"", env.path("lapse.db").display()))
}

/// An installation whose `[database]` is the PostgreSQL `url`.
fn pg_env(url: &str) -> TestEnv {
    env_with_database(|_| format!("url = \"{url}\""))
}

/// The user tables of the SQLite database (as `lapse db copy` finds them).
async fn sqlite_tables(db: &mut sqlx::SqliteConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(db)
    .await
    .expect("tables")
}

type Rows = Vec<Vec<Option<String>>>;

/// Every row of `table` as text, sorted; byte columns as hex.
async fn sqlite_rows(
    db: &mut sqlx::SqliteConnection,
    table: &str,
    columns: &[(String, bool)],
) -> Rows {
    let select = columns
        .iter()
        .map(|(c, bytes)| match bytes {
            true => format!("lower(hex(\"{c}\"))"),
            false => format!("CAST(\"{c}\" AS TEXT)"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!("SELECT {select} FROM \"{table}\""))
        .fetch_all(db)
        .await
        .expect("SQLite rows");
    let mut out: Rows = rows
        .iter()
        .map(|r| {
            (0..columns.len())
                .map(|i| r.get::<Option<String>, _>(i))
                .collect()
        })
        .collect();
    out.sort();
    out
}

async fn pg_rows(db: &mut PgConnection, table: &str, columns: &[(String, bool)]) -> Rows {
    let select = columns
        .iter()
        .map(|(c, bytes)| match bytes {
            true => format!("encode(\"{c}\", 'hex')"),
            false => format!("CAST(\"{c}\" AS TEXT)"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!("SELECT {select} FROM \"{table}\""))
        .fetch_all(db)
        .await
        .expect("PostgreSQL rows");
    let mut out: Rows = rows
        .iter()
        .map(|r| {
            (0..columns.len())
                .map(|i| r.get::<Option<String>, _>(i))
                .collect()
        })
        .collect();
    out.sort();
    out
}

/// Every table, every column (generated ones too) and every row of the
/// SQLite database is in PostgreSQL with the same values.
async fn assert_same_data(env: &TestEnv, url: &str) -> BTreeMap<String, usize> {
    let mut lite = sqlite(env).await;
    let mut pg = pg(url).await;
    let mut counts = BTreeMap::new();
    for table in sqlite_tables(&mut lite).await {
        let columns: Vec<(String, bool)> = sqlx::query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(&mut pg)
        .await
        .expect("columns")
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1) == "bytea"))
        .collect();
        assert!(!columns.is_empty(), "{table} is missing on PostgreSQL");
        let expected = sqlite_rows(&mut lite, &table, &columns).await;
        let got = pg_rows(&mut pg, &table, &columns).await;
        assert_eq!(expected, got, "{table}: rows differ");
        counts.insert(table, expected.len());
    }
    counts
}

/// The greatest id SQLite ever handed out for `table`.
async fn sqlite_high(env: &TestEnv, table: &str) -> i64 {
    let mut db = sqlite(env).await;
    sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
        .bind(table)
        .fetch_one(&mut db)
        .await
        .expect("sqlite_sequence")
}

#[tokio::test]
async fn a_sqlite_fleet_moves_to_postgresql_with_every_row_id_and_listing_kept() {
    let env = sqlite_env();
    build_fleet(&env);
    add_history(&env).await;
    let url = tokio::task::spawn_blocking(|| postgres::cluster().fresh_database())
        .await
        .expect("database");
    let password_file = env.write("pg-password", "not-needed-by-trust\n");

    let run = ok(env.run(&[
        "db",
        "copy",
        "--to",
        &url,
        "--password-file",
        password_file.to_str().unwrap(),
    ]));
    assert!(
        !run.stdout.contains("not-needed-by-trust") && !run.stderr.contains("not-needed-by-trust")
    );
    assert!(run.stdout.contains("every count equal"), "{}", run.stdout);

    // Every table and row, field by field; the printed counts say the same.
    let counts = assert_same_data(&env, &url).await;
    for table in [
        "clients",
        "contacts",
        "domains",
        "endpoints",
        "cert_observations",
        "alerts",
        "alert_ledger",
        "outbox",
        "api_tokens",
        "web_users",
        "mutes",
        "scans",
        "rdap_bootstrap",
        "registration_facts",
    ] {
        assert!(counts[table] > 0, "the fleet has no {table}: {counts:?}");
    }
    for (table, rows) in &counts {
        let line = run
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table.as_str()))
            .unwrap_or_else(|| panic!("no line for {table}:\n{}", run.stdout));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1..3], [rows.to_string(), rows.to_string()], "{line}");
    }

    // lapse reads the same fleet from both.
    let on_pg = pg_env(&url);
    for args in [
        &["domains", "list"][..],
        &["domains", "list", "--json"],
        &["clients", "list"],
        &["tokens", "list"],
        &["users", "list"],
        &["thresholds", "list"],
        &["alerts", "list", "--all"],
        &["outbox", "list"],
        &["domains", "mutes"],
    ] {
        let lite = ok(env.run(args));
        let pg = ok(on_pg.run(args));
        assert_eq!(lite.stdout, pg.stdout, "`lapse {}` differs", args.join(" "));
    }

    // Ids go on above every id SQLite handed out (the removed client's too).
    let removed = sqlite_high(&env, "clients").await;
    let mut db = pg(&url).await;
    let max: i64 = sqlx::query_scalar("SELECT MAX(id) FROM clients")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(
        removed > max,
        "the newest client was removed: {removed} > {max}"
    );
    ok(on_pg.run(&["clients", "add", "Delta SA", "--contact", "d@delta.example"]));
    let delta: i64 = sqlx::query_scalar("SELECT id FROM clients WHERE name = 'Delta SA'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(delta, removed + 1);
    let contact_high = sqlite_high(&env, "contacts").await;
    let contact: i64 =
        sqlx::query_scalar("SELECT id FROM contacts WHERE email = 'd@delta.example'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(contact > contact_high, "{contact} > {contact_high}");

    // A second copy into the now non-empty database is refused, and writes nothing.
    let again = env.run(&["db", "copy", "--to", &url]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("already holds lapse data")
            && again.stderr.contains("--replace-target-data"),
        "{}",
        again.stderr
    );
    let still: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients WHERE name = 'Delta SA'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(still, 1);

    // Told to, it replaces the target's rows; ids still never go back.
    let replaced = ok(env.run(&["db", "copy", "--to", &url, "--replace-target-data"]));
    assert!(
        replaced.stdout.contains("deleted first:"),
        "{}",
        replaced.stdout
    );
    assert_same_data(&env, &url).await;
    ok(on_pg.run(&[
        "clients",
        "add",
        "Epsilon",
        "--contact",
        "e@epsilon.example",
    ]));
    let epsilon: i64 = sqlx::query_scalar("SELECT id FROM clients WHERE name = 'Epsilon'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(
        epsilon > delta,
        "Delta's id is not handed out again: {epsilon} > {delta}"
    );
}

#[tokio::test]
async fn bad_targets_and_sources_are_refused_with_a_clear_message() {
    let env = sqlite_env();
    ok(env.run(&["clients", "add", "Acme Ltd"]));

    // Nothing listens there: lapse's failure (1), the password never shown.
    let port = free_port();
    let run = env.run(&[
        "db",
        "copy",
        "--to",
        &format!("postgres://lapse:hunter2@127.0.0.1:{port}/lapse?sslmode=disable"),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("postgres://lapse@127.0.0.1:{port}/lapse")),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("hunter2") && !run.stdout.contains("hunter2"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("is PostgreSQL running there"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    // The password from the environment is not shown either.
    let output = env
        .command(&[
            "db",
            "copy",
            "--to",
            &format!("postgres://lapse@127.0.0.1:{port}/lapse"),
        ])
        .env("LAPSE_DATABASE__PASSWORD", "hunter3")
        .output()
        .expect("run lapse");
    let run = Run::from(output);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        !run.stderr.contains("hunter3") && !run.stdout.contains("hunter3"),
        "{run:?}"
    );

    // Not a PostgreSQL URL, no database, a bad sslmode: input (2).
    for (to, why) in [
        ("mysql://root:hunter2@127.0.0.1/lapse", "not PostgreSQL"),
        ("postgres://lapse@127.0.0.1:5432", "no database"),
        ("postgres://lapse@127.0.0.1/lapse?sslmode=maybe", "sslmode"),
        ("127.0.0.1:5432", "expected a URL like"),
    ] {
        let run = env.run(&["db", "copy", "--to", to]);
        assert_eq!(run.code, 2, "{to}: {run:?}");
        assert!(run.stderr.contains(why), "{to}: {}", run.stderr);
        assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    }

    // The configured database must be SQLite.
    let url = tokio::task::spawn_blocking(|| postgres::cluster().fresh_database())
        .await
        .expect("database");
    let on_pg = pg_env(&url);
    let run = on_pg.run(&["db", "copy", "--to", &url]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("copies a SQLite database"),
        "{}",
        run.stderr
    );

    // A column the target lacks: refused, nothing written.
    let url = tokio::task::spawn_blocking(|| postgres::cluster().fresh_database())
        .await
        .expect("database");
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    ok(pg_env(&url).run(&["migrate"]));
    tokio::task::spawn_blocking(move || {
        postgres::cluster().psql(&name, "ALTER TABLE clients DROP COLUMN runbook_howto")
    })
    .await
    .expect("psql");
    let run = env.run(&["db", "copy", "--to", &url]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("column `clients.runbook_howto` is missing"),
        "{}",
        run.stderr
    );
    let mut db = pg(&url).await;
    let clients: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(clients, 0);

    // No SQLite file: refused, and none is created.
    let empty = sqlite_env();
    let run = empty.run(&["db", "copy", "--to", &url]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no SQLite database at"),
        "{}",
        run.stderr
    );
    assert!(!empty.path("lapse.db").exists());

    // --help says what happens.
    let help = ok(env.run(&["db", "copy", "--help"]));
    for words in [
        "--to",
        "--password-file",
        "--replace-target-data",
        "LAPSE_DATABASE__PASSWORD",
        "deleted first",
    ] {
        assert!(help.stdout.contains(words), "{words}: {}", help.stdout);
    }
}

#[tokio::test]
async fn a_fleet_of_thousands_goes_over_in_batches() {
    let env = sqlite_env();
    ok(env.run(&[
        "bench",
        "seed",
        "--domains",
        "1500",
        "--endpoints-per-domain",
        "2",
        "--clients",
        "30",
    ]));
    let url = tokio::task::spawn_blocking(|| postgres::cluster().fresh_database())
        .await
        .expect("database");
    let run = ok(env.run(&["db", "copy", "--to", &url, "--json"]));
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let endpoints = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == "endpoints")
        .expect("endpoints");
    assert_eq!(endpoints["source_rows"], 3000);
    assert_eq!(endpoints["target_rows"], 3000);
    let counts = assert_same_data(&env, &url).await;
    assert_eq!(counts["cert_observations"], 3000);
    assert_eq!(counts["domains"], 1500);
}

#[tokio::test]
async fn a_sqlite_database_behind_this_lapse_is_refused_and_left_as_it_was() {
    let env = sqlite_env();
    let mut migrator = sqlx::migrate!("./migrations/sqlite");
    let latest = migrator
        .iter()
        .map(|m| m.version)
        .max()
        .expect("migrations");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < latest)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(env.path("lapse.db"))
        .create_if_missing(true)
        .connect()
        .await
        .expect("create SQLite");
    migrator.run(&mut db).await.expect("older schema");
    db.close().await.expect("close");

    let url = tokio::task::spawn_blocking(|| postgres::cluster().fresh_database())
        .await
        .expect("database");
    let run = env.run(&["db", "copy", "--to", &url]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("run `lapse migrate`"), "{}", run.stderr);
    let mut db = sqlite(&env).await;
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut db)
        .await
        .expect("version");
    assert!(newest < latest, "the source was not migrated");
}
