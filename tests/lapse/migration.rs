//! Existing data moves to the fleet model (migration 0300) with nothing
//! lost: a database is built with the schema as it was before (migrations
//! up to 0200), filled with sample rows of every kind, then migrated by
//! `lapse migrate`. Every column that existed keeps its value in every row
//! (except `endpoints.tls_mode = 'auto'`, which becomes what the port
//! implied), and the new columns say what the old model meant.

use std::collections::BTreeMap;

use sqlx::{Column, ConnectOptions, Row, SqliteConnection};

use crate::harness::cli::TestEnv;

const BEFORE_FLEET_MODEL: i64 = 200;

pub(crate) async fn open(env: &TestEnv) -> SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(env.path("lapse.db"))
        .create_if_missing(true)
        .foreign_keys(true)
        .connect()
        .await
        .expect("open db")
}

pub(crate) const SAMPLE: &str = "
INSERT INTO clients (id, name, created_at) VALUES
    (1, 'Acme Ltd', '2026-01-01T00:00:00Z'), (2, 'Bakery', '2026-01-02T00:00:00Z');
INSERT INTO contacts (id, client_id, email, created_at) VALUES
    (1, 1, 'ops@acme.example', '2026-01-01T00:00:00Z'),
    (2, 2, 'owner@bakery.example', '2026-01-02T00:00:00Z');
INSERT INTO domains (id, name, client_id, created_at, expires_at, expires_source, registrar,
                     registration_outcome, registration_capability, manual_expires_at,
                     certificate_days, registration_days, cert_not_after, cert_outcome)
VALUES
    (1, 'acme.com', 1, '2026-01-01T00:00:00Z', '2027-03-01T00:00:00Z', 'registry_rdap',
     'Registrar A', 'found', 'rdap_with_expiry', NULL, '[30,7]', NULL,
     '2026-12-20T00:00:00Z', 'warning'),
    (2, 'bakery.de', 2, '2026-01-02T00:00:00Z', '2027-05-01T00:00:00Z', 'manual',
     NULL, 'not_published', 'nothing_published', '2027-05-01T00:00:00Z', NULL, '[60]',
     NULL, NULL),
    (3, 'agency.net', NULL, '2026-01-03T00:00:00Z', NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL);
INSERT INTO registration_facts (domain_id, source, server, outcome, expires_at, fetched_at)
VALUES (1, 'registry_rdap', 'https://rdap.example/', 'found', '2027-03-01T00:00:00Z',
        '2026-11-30T00:00:00Z');
INSERT INTO endpoints (id, domain_id, host, port, tls_mode, pinned_address, created_at,
                       next_check_at, check_failures, cert_failures)
VALUES
    (1, 1, 'acme.com', 443, 'auto', NULL, '2026-01-01T00:00:00Z', '2026-12-05T00:00:00Z', 0, 0),
    (2, 1, 'mail.acme.com', 587, 'auto', '192.0.2.10', '2026-01-01T00:00:00Z', NULL, 0, 0),
    (3, 1, 'imap.acme.com', 143, 'auto', NULL, '2026-01-01T00:00:00Z', NULL, 0, 0),
    (4, 1, 'pop.acme.com', 110, 'auto', NULL, '2026-01-01T00:00:00Z', NULL, 0, 0),
    (5, 1, 'smtp.acme.com', 2525, 'smtp', NULL, '2026-01-01T00:00:00Z', NULL, 0, 0),
    (6, 2, 'shop.bakery.de', 443, 'direct', NULL, '2026-01-02T00:00:00Z', NULL, 3, 2),
    (7, 3, 'www.agency.net', 8443, 'auto', NULL, '2026-01-03T00:00:00Z', NULL, 0, 0);
INSERT INTO cert_observations (id, endpoint_id, address, first_seen_at, last_seen_at, current,
                               result_hash, outcome, leaf_fingerprint, leaf_not_after,
                               chain_not_after, details)
VALUES
    (1, 1, '203.0.113.1', '2026-02-01T00:00:00Z', '2026-06-01T00:00:00Z', 0, 'h1', 'ok',
     'aa', '2026-06-30T00:00:00Z', '2026-06-30T00:00:00Z', '{}'),
    (2, 1, '203.0.113.1', '2026-06-01T00:00:00Z', '2026-12-04T00:00:00Z', 1, 'h2', 'warning',
     'bb', '2026-12-20T00:00:00Z', '2026-12-20T00:00:00Z', '{}'),
    (3, 6, '', '2026-03-01T00:00:00Z', '2026-12-04T00:00:00Z', 1, 'h3', 'critical',
     NULL, NULL, NULL, '{\"failure\":\"nxdomain\"}');
INSERT INTO alerts (id, domain_id, endpoint_id, kind, subject_key, state, opened_at)
VALUES (1, 1, 1, 'cert_expiry', 'bb', 'firing', '2026-11-20T00:00:00Z'),
       (2, 2, NULL, 'registration_expiry', '2027-05-01', 'resolved', '2026-01-05T00:00:00Z');
INSERT INTO alert_ledger (id, alert_id, event, subject_key, created_at)
VALUES (1, 1, 'threshold:30', 'bb', '2026-11-20T00:00:00Z');
INSERT INTO outbox (id, message_id, ledger_id, channel, recipient, subject, body_text, state,
                    attempts, next_attempt_at, created_at, alert_id)
VALUES (1, '<m1@lapse>', 1, 'email', 'ops@acme.example', 'Certificate expires', 'body',
        'sent', 1, '2026-11-20T00:00:00Z', '2026-11-20T00:00:00Z', 1),
       (2, '<m2@lapse>', NULL, 'email', 'staff@agency.example', 'Digest', 'body',
        'failed', 5, '2026-11-21T00:00:00Z', '2026-11-21T00:00:00Z', NULL);
INSERT INTO digests (id, due_at, created_at, entries)
VALUES (1, '2026-11-21T08:00:00Z', '2026-11-21T08:00:00Z', 1);
INSERT INTO digest_entries (id, ledger_id, client, line, created_at, digest_id)
VALUES (1, 1, 'Acme Ltd', 'acme.com:443 expires in 30 days', '2026-11-20T00:00:00Z', 1);
INSERT INTO api_tokens (id, name, role, client_id, token_hash, created_at)
VALUES (1, 'acme portal', 'client', 1, 'hash-1', '2026-01-01T00:00:00Z');
INSERT INTO scans (id, scope, state, started_at, items_total)
VALUES (1, '{\"scope\":\"all\"}', 'finished', '2026-12-04T00:00:00Z', 9);
INSERT INTO scan_items (scan_id, item_kind, item_id, done_at, outcome)
VALUES (1, 'endpoint', 1, '2026-12-04T00:00:01Z', 'warning');
";

/// Every row of every table, keyed by table, as `column=value` text.
pub(crate) async fn dump(
    conn: &mut SqliteConnection,
) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("tables");
    let mut out = BTreeMap::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT * FROM {table} ORDER BY rowid"))
            .fetch_all(&mut *conn)
            .await
            .expect("rows");
        let rows = rows
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .map(|c| {
                        let i = c.ordinal();
                        let value = row
                            .try_get::<Option<i64>, _>(i)
                            .map(|v| format!("{v:?}"))
                            .or_else(|_| {
                                row.try_get::<Option<String>, _>(i)
                                    .map(|v| format!("{v:?}"))
                            })
                            .or_else(|_| {
                                row.try_get::<Option<Vec<u8>>, _>(i)
                                    .map(|v| format!("{v:?}"))
                            })
                            .expect("value");
                        (c.name().to_owned(), value)
                    })
                    .collect()
            })
            .collect();
        out.insert(table, rows);
    }
    out
}

#[tokio::test]
async fn a_database_from_before_the_fleet_model_migrates_with_every_row_kept() {
    let env = TestEnv::on_sqlite("");
    let mut migrator = sqlx::migrate!("./migrations/sqlite");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= BEFORE_FLEET_MODEL)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut conn = open(&env).await;
    migrator.run(&mut conn).await.expect("old schema");
    sqlx::raw_sql(SAMPLE)
        .execute(&mut conn)
        .await
        .expect("sample rows");
    let before = dump(&mut conn).await;
    drop(conn);

    let run = env.run_async(&["migrate"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("fleet model") && l.ends_with("applied now")),
        "{}",
        run.stdout
    );

    let mut conn = open(&env).await;
    let mut after = dump(&mut conn).await;
    // `lapse migrate` also ran the migrations after the fleet model; a
    // table one of them creates is not the fleet model's (0303: client
    // digests, empty here).
    let later = after
        .remove("client_digest_entries")
        .expect("0303 makes client_digest_entries");
    assert!(later.is_empty(), "{later:?}");
    // 0304: the web pages' accounts, sessions and links, empty here.
    for table in ["portal_links", "web_links", "web_sessions", "web_users"] {
        let rows = after.remove(table).expect("0304 makes the web tables");
        assert!(rows.is_empty(), "{table}: {rows:?}");
    }
    // 0305: channel routes, empty here.
    let routes = after
        .remove("channel_routes")
        .expect("0305 makes channel_routes");
    assert!(routes.is_empty(), "{routes:?}");
    // 0306: maintenance windows, none here.
    let mutes = after.remove("mutes").expect("0306 makes mutes");
    assert!(mutes.is_empty(), "{mutes:?}");
    // 0307: several instances, nothing recorded yet.
    for table in ["instances", "cron_firings", "server_pacing"] {
        let rows = after
            .remove(table)
            .expect("0307 makes the instances' tables");
        assert!(rows.is_empty(), "{table}: {rows:?}");
    }
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "no table appears or goes"
    );
    let mut compared = 0;
    for (table, rows) in &before {
        let new_rows = &after[table];
        assert_eq!(rows.len(), new_rows.len(), "{table}: row count");
        for (old, new) in rows.iter().zip(new_rows) {
            for (column, value) in old {
                if table == "endpoints" && column == "tls_mode" && value == "Some(\"auto\")" {
                    continue;
                }
                assert_eq!(Some(value), new.get(column), "{table}.{column} in {old:?}");
                compared += 1;
            }
        }
    }
    assert!(compared > 150, "only {compared} values compared");

    // What the old model meant, in the new columns.
    let endpoints = &after["endpoints"];
    let column = |row: &BTreeMap<String, String>, name: &str| row[name].clone();
    let modes: Vec<(String, String)> = endpoints
        .iter()
        .map(|e| (column(e, "host"), column(e, "tls_mode")))
        .collect();
    let expected_modes = [
        ("acme.com", "direct"),
        ("mail.acme.com", "smtp"),
        ("imap.acme.com", "imap"),
        ("pop.acme.com", "pop3"),
        ("smtp.acme.com", "smtp"),
        ("shop.bakery.de", "direct"),
        ("www.agency.net", "direct"),
    ];
    assert_eq!(
        modes,
        expected_modes
            .iter()
            .map(|(h, m)| (format!("Some({h:?})"), format!("Some({m:?})")))
            .collect::<Vec<_>>()
    );
    let clients: Vec<String> = endpoints.iter().map(|e| column(e, "client_id")).collect();
    assert_eq!(
        clients,
        ["Some(1)", "Some(1)", "Some(1)", "Some(1)", "Some(1)", "Some(2)", "None"]
    );
    let handshakes: Vec<String> = endpoints
        .iter()
        .map(|e| column(e, "first_handshake_at"))
        .collect();
    assert_eq!(
        handshakes[0], "Some(\"2026-02-01T00:00:00Z\")",
        "the first leaf seen"
    );
    assert_eq!(handshakes[5], "None", "only failures: never reached");
    let domains = &after["domains"];
    let owners: Vec<(String, String)> = domains
        .iter()
        .map(|d| (column(d, "registration_owner"), column(d, "watch")))
        .collect();
    let both = "Some(\"both\")".to_owned();
    assert_eq!(
        owners,
        vec![
            ("Some(\"client\")".to_owned(), both.clone()),
            ("Some(\"client\")".to_owned(), both.clone()),
            ("Some(\"agency\")".to_owned(), both),
        ]
    );
}
