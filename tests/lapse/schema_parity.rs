//! The two schemas are one: `migrations/sqlite` applied to a fresh SQLite
//! file and `migrations/postgres` applied to a fresh PostgreSQL database
//! describe the same tables, columns (order, type class, NOT NULL, default,
//! collation, generated), keys, foreign keys, indexes, CHECK counts,
//! triggers and seed rows; and the triggers and the generated column behave
//! the same. Runs whatever `LAPSE_TEST_DATABASE` says: it needs both
//! engines (PostgreSQL from [`crate::harness::postgres`]).

use std::collections::{BTreeMap, BTreeSet};

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, Row, SqlitePool};

use crate::harness::postgres;

async fn sqlite_db(dir: &tempfile::TempDir) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("parity.db"))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open SQLite");
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .expect("SQLite migrations");
    pool
}

async fn postgres_db() -> PgPool {
    let url = postgres::cluster().fresh_database();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect PostgreSQL");
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .expect("PostgreSQL migrations");
    pool
}

/// Loose text of an SQL expression: lower case, no whitespace, no
/// parentheses, no PostgreSQL casts (`'x'::text`, `(0)::bigint`).
fn loose(sql: &str) -> String {
    let lower = sql.to_lowercase();
    let casts = regex::Regex::new(r"::[a-z_]+( precision| varying)?").expect("regex");
    casts
        .replace_all(&lower, "")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .collect()
}

/// Splits `text` at commas outside parentheses and quotes.
fn split_top(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut current) = (0i32, false, String::new());
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut current).trim().to_owned());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

/// The text between the parenthesis at byte `open` and its match.
fn parenthesised(text: &str, open: usize) -> &str {
    let mut depth = 0;
    let mut quoted = false;
    for (i, c) in text[open..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {text}")
}

/// SQL without `-- comments`.
fn uncommented(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A trigger's name, timing, event (with its columns), table and loose WHEN,
/// from SQLite's `CREATE TRIGGER` or PostgreSQL's `pg_get_triggerdef` (a
/// row trigger: SQLite has no other kind). `IS NOT` and `IS DISTINCT FROM`
/// read the same.
fn trigger_line(sql: &str) -> String {
    let head = regex::Regex::new(
        r"(?is)^\s*CREATE\s+TRIGGER\s+(\S+)\s+(BEFORE|AFTER|INSTEAD\s+OF)\s+(INSERT|DELETE|UPDATE(?:\s+OF\s+.*?)?)\s+ON\s+(?:public\.)?(\w+)\s+(.*)$",
    )
    .expect("regex");
    let caps = head
        .captures(sql)
        .unwrap_or_else(|| panic!("unreadable trigger: {sql}"));
    let rest = &caps[5];
    let upper = rest.to_uppercase();
    let when = match upper.find("WHEN") {
        Some(at) if upper[..at].trim().is_empty() || upper[..at].contains("FOR EACH ROW") => {
            let end = ["BEGIN", "EXECUTE"]
                .iter()
                .filter_map(|k| upper.find(k))
                .min()
                .unwrap_or(rest.len());
            loose(&rest[at + 4..end]).replace("isdistinctfrom", "isnot")
        }
        _ => "-".to_owned(),
    };
    format!(
        "trigger {} {} {} on {} when {when}",
        &caps[1],
        caps[2].to_lowercase(),
        loose(&caps[3])
            .replace("updateof", "update of ")
            .replace(',', ", "),
        &caps[4],
    )
}

/// One engine's schema as sorted, self-describing lines: two schemas are
/// the same when their lines are, and a difference reads as a diff.
#[derive(Default)]
struct Schema(BTreeSet<String>);

impl Schema {
    fn add(&mut self, line: String) {
        self.0.insert(line);
    }
}

fn type_class_sqlite(declared: &str) -> String {
    match declared.to_uppercase().as_str() {
        "INTEGER" => "integer".into(),
        "TEXT" => "text".into(),
        "REAL" => "real".into(),
        "BLOB" => "blob".into(),
        other => format!("other:{other}"),
    }
}

fn type_class_postgres(formatted: &str) -> String {
    match formatted {
        "bigint" => "integer".into(),
        "text" => "text".into(),
        "double precision" => "real".into(),
        "bytea" => "blob".into(),
        other => format!("other:{other}"),
    }
}

fn on_delete(action: &str) -> String {
    match action {
        "a" | "NO ACTION" => "no action",
        "r" | "RESTRICT" => "restrict",
        "c" | "CASCADE" => "cascade",
        "n" | "SET NULL" => "set null",
        "d" | "SET DEFAULT" => "set default",
        other => other,
    }
    .to_owned()
}

async fn sqlite_schema(pool: &SqlitePool) -> Schema {
    let mut schema = Schema::default();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let check = regex::Regex::new(r"(?i)\bCHECK\s*\(").expect("regex");
    for (table, sql) in &tables {
        schema.add(format!("table {table}"));
        let sql = uncommented(sql);
        // Column definitions, by name, for what the pragmas do not say
        // (collation, the generation expression).
        let body = parenthesised(&sql, sql.find('(').expect("column list"));
        let definitions: BTreeMap<String, String> = split_top(body)
            .into_iter()
            .filter_map(|d| {
                let name = d.split_whitespace().next()?.to_lowercase();
                Some((name, d))
            })
            .collect();
        let columns = sqlx::query(
            "SELECT cid, name, type, \"notnull\", dflt_value, pk, hidden
             FROM pragma_table_xinfo(?) ORDER BY cid",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("columns");
        let mut key: Vec<(i64, String)> = Vec::new();
        for c in &columns {
            let name: String = c.get("name");
            let pk: i64 = c.get("pk");
            let hidden: i64 = c.get("hidden");
            let definition = definitions
                .get(&name.to_lowercase())
                .cloned()
                .unwrap_or_default();
            let upper = definition.to_uppercase();
            let collation = if upper.contains("COLLATE NOCASE") {
                "nocase"
            } else {
                "-"
            };
            let generated = if hidden == 2 || hidden == 3 {
                let at = upper.find(" AS (").expect("generation expression") + 4;
                format!("generated {}", loose(parenthesised(&definition, at)))
            } else {
                "stored".to_owned()
            };
            let default = if hidden == 2 || hidden == 3 {
                "-".to_owned()
            } else {
                c.get::<Option<String>, _>("dflt_value")
                    .map(|d| loose(&d))
                    .unwrap_or_else(|| "-".into())
            };
            let not_null = c.get::<i64, _>("notnull") == 1 || pk > 0;
            let identity = pk > 0 && upper.contains("AUTOINCREMENT");
            schema.add(format!(
                "column {table}[{}] {name}: {} {} default={default} collate={collation} {generated}{}",
                c.get::<i64, _>("cid"),
                type_class_sqlite(c.get("type")),
                if not_null { "NOT NULL" } else { "null" },
                if identity { " identity" } else { "" },
            ));
            if pk > 0 {
                key.push((pk, name));
            }
        }
        key.sort();
        schema.add(format!(
            "primary key {table} ({})",
            key.into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let checks = check.find_iter(&sql).count();
        schema.add(format!("checks {table}: {checks}"));

        for fk in sqlx::query(
            "SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("foreign keys")
        {
            schema.add(format!(
                "foreign key {table}.{} -> {}.{} on delete {}",
                fk.get::<String, _>("from"),
                fk.get::<String, _>("table"),
                fk.get::<String, _>("to"),
                on_delete(fk.get("on_delete")),
            ));
        }

        for index in
            sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)")
                .bind(table)
                .fetch_all(pool)
                .await
                .expect("indexes")
        {
            let name: String = index.get("name");
            let origin: String = index.get("origin");
            match origin.as_str() {
                "pk" => {}
                "u" => {
                    let columns: Vec<String> =
                        sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                            .bind(&name)
                            .fetch_all(pool)
                            .await
                            .expect("unique columns");
                    schema.add(format!("unique {table} ({})", columns.join(", ")));
                }
                _ => {
                    let sql: String =
                        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = ?")
                            .bind(&name)
                            .fetch_one(pool)
                            .await
                            .expect("index sql");
                    let on = sql.to_uppercase().find(" ON ").expect("ON") + 4;
                    let open = on + sql[on..].find('(').expect("index columns");
                    let columns = parenthesised(&sql, open);
                    let rest = &sql[open + columns.len() + 2..];
                    let predicate = rest
                        .to_uppercase()
                        .find("WHERE")
                        .map(|w| loose(&rest[w + 5..]))
                        .unwrap_or_else(|| "-".into());
                    assert_eq!(
                        index.get::<i64, _>("partial") == 1,
                        predicate != "-",
                        "{sql}"
                    );
                    let columns: Vec<String> =
                        split_top(columns).iter().map(|c| loose(c)).collect();
                    schema.add(format!(
                        "index {name} on {table} ({}){} where {predicate}",
                        columns.join(", "),
                        if index.get::<i64, _>("unique") == 1 {
                            " unique"
                        } else {
                            ""
                        },
                    ));
                }
            }
        }
    }
    for (sql,) in
        sqlx::query_as::<_, (String,)>("SELECT sql FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(pool)
            .await
            .expect("triggers")
    {
        schema.add(trigger_line(&sql));
    }
    for (table, _) in &tables {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .expect("count");
        schema.add(format!("rows {table}: {rows}"));
    }
    schema
}

async fn postgres_schema(pool: &PgPool) -> Schema {
    let mut schema = Schema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND c.relname <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    for table in &tables {
        schema.add(format!("table {table}"));
        let columns = sqlx::query(
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type,
                    a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS expr,
                    a.attidentity::text AS identity, a.attgenerated::text AS generated,
                    co.collname::text AS collation,
                    (row_number() OVER (ORDER BY a.attnum) - 1)::bigint AS cid
             FROM pg_attribute a
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             LEFT JOIN pg_collation co ON co.oid = a.attcollation
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("columns");
        for c in &columns {
            let name: String = c.get("name");
            let expr: Option<String> = c.get("expr");
            let generated_kind: String = c.get("generated");
            let (default, generated) = if generated_kind.is_empty() {
                (
                    expr.map(|e| loose(&e)).unwrap_or_else(|| "-".into()),
                    "stored".to_owned(),
                )
            } else {
                (
                    "-".to_owned(),
                    format!("generated {}", loose(&expr.unwrap_or_default())),
                )
            };
            let collation = match c.get::<Option<String>, _>("collation").as_deref() {
                Some("nocase") => "nocase",
                _ => "-",
            };
            let identity: String = c.get("identity");
            schema.add(format!(
                "column {table}[{}] {name}: {} {} default={default} collate={collation} {generated}{}",
                c.get::<i64, _>("cid"),
                type_class_postgres(c.get("type")),
                if c.get::<bool, _>("not_null") {
                    "NOT NULL"
                } else {
                    "null"
                },
                if identity == "d" {
                    " identity"
                } else if identity == "a" {
                    " identity-always"
                } else {
                    ""
                },
            ));
        }
        let key: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("primary key");
        schema.add(format!("primary key {table} ({})", key.join(", ")));
        let checks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .expect("checks");
        schema.add(format!("checks {table}: {checks}"));

        for fk in sqlx::query(
            "SELECT a.attname::text AS from_column, f.relname::text AS to_table,
                    af.attname::text AS to_column, c.confdeltype::text AS on_delete,
                    cardinality(c.conkey) AS n
             FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             JOIN pg_class f ON f.oid = c.confrelid
             JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
             WHERE c.conrelid = $1::regclass AND c.contype = 'f'",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("foreign keys")
        {
            assert_eq!(
                fk.get::<i32, _>("n"),
                1,
                "{table}: a multi-column foreign key"
            );
            schema.add(format!(
                "foreign key {table}.{} -> {}.{} on delete {}",
                fk.get::<String, _>("from_column"),
                fk.get::<String, _>("to_table"),
                fk.get::<String, _>("to_column"),
                on_delete(fk.get("on_delete")),
            ));
        }

        for unique in sqlx::query_scalar::<_, Vec<String>>(
            "SELECT ARRAY(SELECT a.attname::text
                          FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                          ORDER BY k.ord)
             FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'u'",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("unique constraints")
        {
            schema.add(format!("unique {table} ({})", unique.join(", ")));
        }

        for index in sqlx::query(
            "SELECT ic.relname::text AS name, i.indisunique AS is_unique,
                    pg_get_expr(i.indpred, i.indrelid) AS predicate,
                    ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                          FROM generate_series(1, i.indnatts::int) AS k ORDER BY k) AS columns
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
             WHERE i.indrelid = $1::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                               WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                                 AND c.contype IN ('p', 'u'))",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("indexes")
        {
            let columns: Vec<String> = index.get("columns");
            let columns: Vec<String> = columns.iter().map(|c| loose(c)).collect();
            schema.add(format!(
                "index {} on {table} ({}){} where {}",
                index.get::<String, _>("name"),
                columns.join(", "),
                if index.get::<bool, _>("is_unique") {
                    " unique"
                } else {
                    ""
                },
                index
                    .get::<Option<String>, _>("predicate")
                    .map(|p| loose(&p))
                    .unwrap_or_else(|| "-".into()),
            ));
        }
    }
    for (sql,) in sqlx::query_as::<_, (String,)>(
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace",
    )
    .fetch_all(pool)
    .await
    .expect("triggers")
    {
        schema.add(trigger_line(&sql));
    }
    for table in &tables {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .expect("count");
        schema.add(format!("rows {table}: {rows}"));
    }
    schema
}

#[tokio::test]
async fn postgres_schema_is_sqlite_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_schema(&sqlite_db(&dir).await).await;
    let postgres = postgres_schema(&postgres_db().await).await;

    let only_sqlite: Vec<&String> = sqlite.0.difference(&postgres.0).collect();
    let only_postgres: Vec<&String> = postgres.0.difference(&sqlite.0).collect();
    if !only_sqlite.is_empty() || !only_postgres.is_empty() {
        let mut diff = String::from("schemas differ (- SQLite only, + PostgreSQL only):\n");
        for line in &only_sqlite {
            diff.push_str(&format!("- {line}\n"));
        }
        for line in &only_postgres {
            diff.push_str(&format!("+ {line}\n"));
        }
        panic!("{diff}");
    }
    // The comparison saw the schema, not two empty lists.
    assert!(sqlite.0.iter().filter(|l| l.starts_with("table ")).count() >= 20);
    assert!(sqlite.0.iter().any(|l| l.starts_with("trigger ")));
    assert!(sqlite.0.contains("rows api_generation: 1"));
}

/// The same statements, valid on both engines, run on both; after each,
/// `api_generation.domains`.
const GENERATION_STEPS: &[&str] = &[
    "INSERT INTO clients (name, created_at) VALUES ('Acme', '2026-01-01T00:00:00Z')",
    "INSERT INTO domains (name, created_at) VALUES ('a.example', '2026-01-01T00:00:00Z')",
    "INSERT INTO domains (name, created_at, expires_at)
     VALUES ('b.example', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z')",
    // A column no list filters on: nothing moves.
    "UPDATE domains SET registrar = 'Registrar' WHERE name = 'a.example'",
    "UPDATE domains SET expires_at = '2027-02-01T00:00:00Z' WHERE name = 'a.example'",
    // The same value again: nothing moves.
    "UPDATE domains SET expires_at = '2027-02-01T00:00:00Z' WHERE name = 'a.example'",
    "UPDATE domains SET client_id = (SELECT id FROM clients WHERE name = 'acme')",
    "UPDATE domains SET watch = 'tls' WHERE name = 'b.example'",
    "UPDATE domains SET watch = 'tls'",
    "UPDATE domains SET registration_capability = 'whois_only', manual_expires_at = NULL",
    "UPDATE domains SET registration_outcome = 'found', registration_checks = 1",
    "INSERT INTO endpoints (domain_id, host, port, created_at)
     SELECT id, 'a.example', 443, '2026-01-01T00:00:00Z' FROM domains WHERE name = 'a.example'",
    "INSERT INTO endpoints (domain_id, host, port, created_at)
     SELECT id, 'mail.a.example', 25, '2026-01-01T00:00:00Z' FROM domains WHERE name = 'a.example'",
    // Observations move nothing by themselves (0150); their writer
    // recomputes the domain's certificate columns.
    "INSERT INTO cert_observations (endpoint_id, address, first_seen_at, last_seen_at, current,
                                    result_hash, outcome, leaf_not_after, details)
     SELECT id, '192.0.2.1', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 1, 'h', 'warning',
            '2026-12-01T00:00:00Z', '{}' FROM endpoints WHERE port = 443",
    "UPDATE domains SET cert_not_after = '2026-12-01T00:00:00Z', cert_outcome = 'warning'
     WHERE name = 'a.example'",
    "UPDATE domains SET cert_not_after = '2026-12-01T00:00:00Z', cert_outcome = 'warning'
     WHERE name = 'a.example'",
    "UPDATE endpoints SET client_id = (SELECT id FROM clients WHERE name = 'acme') WHERE port = 25",
    "UPDATE endpoints SET client_id = (SELECT id FROM clients WHERE name = 'acme') WHERE port = 25",
    "UPDATE endpoints SET next_check_at = '2026-01-02T00:00:00Z'",
    // The endpoint with the observation goes: the trigger recomputes its
    // domain's certificate columns (now none), which moves the number again.
    "DELETE FROM endpoints WHERE port = 443",
    // ON DELETE SET NULL on domains and endpoints.
    "DELETE FROM clients",
    "DELETE FROM domains WHERE name = 'b.example'",
    // ON DELETE CASCADE to the endpoint.
    "DELETE FROM domains",
];

#[tokio::test]
async fn the_list_generation_moves_alike_on_both_engines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_db(&dir).await;
    let pg = postgres_db().await;
    let mut on_sqlite = Vec::new();
    let mut on_postgres = Vec::new();
    for step in GENERATION_STEPS {
        sqlx::query(step).execute(&sqlite).await.expect(step);
        sqlx::query(step).execute(&pg).await.expect(step);
        let s: i64 = sqlx::query_scalar("SELECT domains FROM api_generation WHERE id = 1")
            .fetch_one(&sqlite)
            .await
            .expect("generation");
        let p: i64 = sqlx::query_scalar("SELECT domains FROM api_generation WHERE id = 1")
            .fetch_one(&pg)
            .await
            .expect("generation");
        on_sqlite.push(s);
        on_postgres.push(p);
    }
    let steps: Vec<String> = GENERATION_STEPS
        .iter()
        .zip(on_sqlite.iter().zip(&on_postgres))
        .map(|(step, (s, p))| {
            format!(
                "{s:>3} {p:>3}{} {}",
                if s == p { "  " } else { " !" },
                step.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    assert_eq!(
        on_sqlite,
        on_postgres,
        "api_generation.domains after each step (SQLite, PostgreSQL):\n{}",
        steps.join("\n")
    );
    // The steps that must not move it did not, and the others did.
    let moved = |i: usize| on_sqlite[i] != if i == 0 { 0 } else { on_sqlite[i - 1] };
    assert!(!moved(3) && !moved(5) && !moved(13) && !moved(15) && !moved(17) && !moved(18));
    assert!(moved(1) && moved(4) && moved(6) && moved(19) && moved(21));
}

#[tokio::test]
async fn endpoint_deletion_recomputes_the_domain_alike_on_both_engines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_db(&dir).await;
    let pg = postgres_db().await;
    let setup = [
        "INSERT INTO domains (name, created_at) VALUES ('a.example', '2026-01-01T00:00:00Z')",
        "INSERT INTO endpoints (domain_id, host, port, created_at)
         SELECT id, 'a.example', 443, '2026-01-01T00:00:00Z' FROM domains",
        "INSERT INTO endpoints (domain_id, host, port, created_at)
         SELECT id, 'www.a.example', 443, '2026-01-01T00:00:00Z' FROM domains",
        "INSERT INTO endpoints (domain_id, host, port, created_at)
         SELECT id, 'mail.a.example', 25, '2026-01-01T00:00:00Z' FROM domains",
        "INSERT INTO cert_observations (endpoint_id, address, first_seen_at, last_seen_at, current,
                                        result_hash, outcome, leaf_not_after, details)
         SELECT id, '192.0.2.1', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 1, 'h',
                CASE host WHEN 'a.example' THEN 'critical' WHEN 'www.a.example' THEN 'ok'
                          ELSE 'warning' END,
                CASE host WHEN 'a.example' THEN '2026-02-01T00:00:00Z'
                          WHEN 'www.a.example' THEN '2026-03-01T00:00:00Z'
                          ELSE '2026-04-01T00:00:00Z' END, '{}'
         FROM endpoints",
        // An old observation (not current) never counts.
        "INSERT INTO cert_observations (endpoint_id, address, first_seen_at, last_seen_at, current,
                                        result_hash, outcome, leaf_not_after, details)
         SELECT id, '192.0.2.1', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 0, 'old',
                'critical', '2025-01-01T00:00:00Z', '{}'
         FROM endpoints WHERE host = 'www.a.example'",
    ];
    for step in setup {
        sqlx::query(step).execute(&sqlite).await.expect(step);
        sqlx::query(step).execute(&pg).await.expect(step);
    }
    let read = "SELECT cert_not_after, cert_outcome FROM domains WHERE name = 'a.example'";
    let mut on_sqlite = Vec::new();
    let mut on_postgres = Vec::new();
    for host in ["a.example", "mail.a.example", "www.a.example"] {
        let delete = format!("DELETE FROM endpoints WHERE host = '{host}'");
        sqlx::query(&delete).execute(&sqlite).await.expect("delete");
        sqlx::query(&delete).execute(&pg).await.expect("delete");
        let s: (Option<String>, Option<String>) =
            sqlx::query_as(read).fetch_one(&sqlite).await.expect("read");
        let p: (Option<String>, Option<String>) =
            sqlx::query_as(read).fetch_one(&pg).await.expect("read");
        on_sqlite.push(s);
        on_postgres.push(p);
    }
    assert_eq!(on_sqlite, on_postgres);
    assert_eq!(
        on_sqlite,
        vec![
            (
                Some("2026-03-01T00:00:00Z".to_owned()),
                Some("warning".to_owned())
            ),
            (
                Some("2026-03-01T00:00:00Z".to_owned()),
                Some("ok".to_owned())
            ),
            (None, None),
        ]
    );
}

#[tokio::test]
async fn next_expiry_is_computed_alike_on_both_engines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_db(&dir).await;
    let pg = postgres_db().await;
    let insert = "INSERT INTO domains (name, created_at, expires_at, cert_not_after) VALUES
        ('neither.example', '2026-01-01T00:00:00Z', NULL, NULL),
        ('registration.example', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', NULL),
        ('certificate.example', '2026-01-01T00:00:00Z', NULL, '2026-06-01T00:00:00Z'),
        ('cert-first.example', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', '2026-06-01T00:00:00Z'),
        ('reg-first.example', '2026-01-01T00:00:00Z', '2026-05-01T00:00:00Z', '2026-06-01T00:00:00Z'),
        ('same.example', '2026-01-01T00:00:00Z', '2026-07-01T00:00:00Z', '2026-07-01T00:00:00Z')";
    let update = "UPDATE domains SET cert_not_after = '2026-04-01T00:00:00Z'
                  WHERE name = 'registration.example'";
    let read = "SELECT name, next_expiry_at FROM domains
                ORDER BY COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'), name";
    for step in [insert, update] {
        sqlx::query(step).execute(&sqlite).await.expect(step);
        sqlx::query(step).execute(&pg).await.expect(step);
    }
    let s: Vec<(String, Option<String>)> =
        sqlx::query_as(read).fetch_all(&sqlite).await.expect("read");
    let p: Vec<(String, Option<String>)> = sqlx::query_as(read).fetch_all(&pg).await.expect("read");
    assert_eq!(s, p);
    let at = |t: &str| Some(t.to_owned());
    assert_eq!(
        s,
        vec![
            (
                "registration.example".to_owned(),
                at("2026-04-01T00:00:00Z")
            ),
            ("reg-first.example".to_owned(), at("2026-05-01T00:00:00Z")),
            ("cert-first.example".to_owned(), at("2026-06-01T00:00:00Z")),
            ("certificate.example".to_owned(), at("2026-06-01T00:00:00Z")),
            ("same.example".to_owned(), at("2026-07-01T00:00:00Z")),
            ("neither.example".to_owned(), None),
        ]
    );
}

/// The harness's outage helper: a private cluster goes down, refuses
/// connections, comes back on the same port with its data, and is removed
/// when dropped.
#[tokio::test]
async fn a_private_test_cluster_comes_back_after_an_outage() {
    let cluster = tokio::task::spawn_blocking(postgres::private_cluster)
        .await
        .expect("start a private cluster");
    let url = cluster.fresh_database();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect(&url)
        .await
        .expect("connect");
    sqlx::query("CREATE TABLE kept (n BIGINT)")
        .execute(&pool)
        .await
        .expect("create");
    sqlx::query("INSERT INTO kept VALUES (7)")
        .execute(&pool)
        .await
        .expect("insert");

    let restarted = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || cluster.stop_for(std::time::Duration::from_secs(2)))
            .await
            .expect("stop")
    };
    assert!(
        sqlx::query("SELECT 1").execute(&pool).await.is_err(),
        "the server answered during the outage"
    );
    tokio::task::spawn_blocking(move || restarted.join())
        .await
        .expect("join")
        .expect("restart");
    let n: i64 = sqlx::query_scalar("SELECT n FROM kept")
        .fetch_one(&pool)
        .await
        .expect("after the outage");
    assert_eq!(n, 7);
    pool.close().await;

    let log = cluster.log_path();
    drop(cluster);
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.exists() {
        assert!(
            std::time::Instant::now() < gone,
            "{} not removed",
            log.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Statements that each engine must accept or refuse alike: CHECKs, UNIQUE
/// (case-insensitive where SQLite says NOCASE), expression and partial
/// unique indexes, foreign keys, one-row tables; and ids never reused.
const CONSTRAINT_STEPS: &[(&str, bool)] = &[
    ("INSERT INTO clients (name, created_at) VALUES ('Acme', 't')", true),
    ("INSERT INTO clients (name, created_at) VALUES ('acme', 't')", false),
    ("INSERT INTO clients (name, created_at, delivery) VALUES ('B', 't', 'monthly')", false),
    ("INSERT INTO clients (name, created_at, digest_hour) VALUES ('B', 't', 24)", false),
    ("INSERT INTO clients (name, created_at, digest_weekday) VALUES ('B', 't', 'Mon')", false),
    ("INSERT INTO clients (name, created_at, repeat_days) VALUES ('B', 't', 0)", false),
    ("INSERT INTO clients (name, created_at, repeat_days) VALUES ('B', 't', 366)", true),
    ("INSERT INTO contacts (client_id, email, created_at) VALUES (1, 'Ops@Acme.example', 't')", true),
    ("INSERT INTO contacts (client_id, email, created_at) VALUES (1, 'ops@acme.EXAMPLE', 't')", false),
    ("INSERT INTO contacts (client_id, email, created_at) VALUES (999, 'x@y', 't')", false),
    ("INSERT INTO web_users (email, role, created_at) VALUES ('Admin@x', 'admin', 't')", true),
    ("INSERT INTO web_users (email, role, created_at) VALUES ('admin@X', 'staff', 't')", false),
    ("INSERT INTO web_users (email, role, created_at) VALUES ('root@x', 'root', 't')", false),
    ("INSERT INTO domains (name, created_at, registration_owner) VALUES ('a.example', 't', 'me')", false),
    ("INSERT INTO domains (name, created_at, watch) VALUES ('a.example', 't', 'all')", false),
    ("INSERT INTO domains (name, created_at) VALUES ('a.example', 't')", true),
    ("INSERT INTO domains (name, created_at) VALUES ('a.example', 't')", false),
    ("INSERT INTO endpoints (domain_id, host, port, created_at) VALUES ((SELECT id FROM domains), 'a.example', 0, 't')", false),
    ("INSERT INTO endpoints (domain_id, host, port, created_at) VALUES ((SELECT id FROM domains), 'a.example', 65536, 't')", false),
    ("INSERT INTO endpoints (domain_id, host, port, created_at) VALUES ((SELECT id FROM domains), 'a.example', 443, 't')", true),
    ("INSERT INTO endpoints (domain_id, host, port, created_at) VALUES ((SELECT id FROM domains), 'a.example', 443, 't')", false),
    ("INSERT INTO web_sessions (secret_hash, created_at, expires_at) VALUES ('s1', 't', 't')", false),
    ("INSERT INTO web_sessions (secret_hash, user_id, client_id, created_at, expires_at)
      VALUES ('s2', 1, 1, 't', 't')", false),
    ("INSERT INTO web_sessions (secret_hash, client_id, created_at, expires_at)
      VALUES ('s3', 1, 't', 't')", false),
    ("INSERT INTO web_sessions (secret_hash, client_id, contact, created_at, expires_at)
      VALUES ('s4', 1, 'ops@acme.example', 't', 't')", true),
    ("INSERT INTO web_links (token_hash, purpose, created_at, expires_at)
      VALUES ('l1', 'set_password', 't', 't')", false),
    ("INSERT INTO web_links (token_hash, purpose, user_id, created_at, expires_at)
      VALUES ('l2', 'set_password', 1, 't', 't')", true),
    ("INSERT INTO web_links (token_hash, purpose, client_id, created_at, expires_at)
      VALUES ('l3', 'client_sign_in', 1, 't', 't')", false),
    ("INSERT INTO channel_routes (channel, min_severity, events, created_at)
      VALUES ('ops', 'debug', 'expiry', 't')", false),
    ("INSERT INTO channel_routes (channel, events, created_at) VALUES ('ops', 'expiry', 't')", true),
    ("INSERT INTO channel_routes (channel, events, created_at) VALUES ('ops', 'status', 't')", false),
    ("INSERT INTO channel_routes (channel, client_id, events, created_at)
      VALUES ('ops', 1, 'status', 't')", true),
    ("INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at)
      VALUES ((SELECT id FROM domains), 'registration_expiry', 'k', 'firing', 't')", true),
    ("INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at)
      VALUES ((SELECT id FROM domains), 'registration_expiry', 'k2', 'firing', 't')", false),
    ("INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at)
      VALUES ((SELECT id FROM domains), 'registration_expiry', 'k3', 'resolved', 't')", true),
    ("INSERT INTO alerts (domain_id, kind, subject_key, state, opened_at)
      VALUES ((SELECT id FROM domains), 'registration_expiry', 'k4', 'resolved', 't')", true),
    ("INSERT INTO rdap_bootstrap (id, url, body, fetched_at) VALUES (2, 'u', 'b', 't')", false),
    ("INSERT INTO api_generation (id, domains) VALUES (2, 0)", false),
    ("INSERT INTO heartbeats (component, instance, beat_at) VALUES ('scheduler', 'h', 't')", true),
    ("INSERT INTO heartbeats (component, instance, beat_at) VALUES ('scheduler', 'h', 't')", false),
    // The newest client goes (`b`: NOCASE); the next gets a new id.
    ("DELETE FROM clients WHERE name = 'b'", true),
    ("INSERT INTO clients (name, created_at) VALUES ('C', 't')", true),
];

#[tokio::test]
async fn constraints_refuse_alike_on_both_engines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_db(&dir).await;
    let pg = postgres_db().await;
    let mut report = Vec::new();
    let mut alike = true;
    for (step, expected) in CONSTRAINT_STEPS {
        let s = sqlx::query(step).execute(&sqlite).await;
        let p = sqlx::query(step).execute(&pg).await;
        let ok = s.is_ok() == *expected && p.is_ok() == *expected;
        alike &= ok;
        report.push(format!(
            "{} sqlite={} postgres={} expected={} {}",
            if ok { " " } else { "!" },
            s.as_ref()
                .map(|_| "ok".to_owned())
                .unwrap_or_else(|e| e.to_string()),
            p.as_ref()
                .map(|_| "ok".to_owned())
                .unwrap_or_else(|e| e.to_string()),
            if *expected { "ok" } else { "refused" },
            step.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    assert!(alike, "\n{}", report.join("\n"));
    // Ids: never reused on either engine. PostgreSQL's identity also
    // spends an id on a refused insert (SQLite's AUTOINCREMENT does not),
    // so the numbers differ; the order and the rows do not.
    let read = "SELECT id, name FROM clients ORDER BY id";
    let s: Vec<(i64, String)> = sqlx::query_as(read)
        .fetch_all(&sqlite)
        .await
        .expect("clients");
    let p: Vec<(i64, String)> = sqlx::query_as(read).fetch_all(&pg).await.expect("clients");
    let names = |rows: &[(i64, String)]| rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>();
    assert_eq!(names(&s), ["Acme", "C"]);
    assert_eq!(names(&p), ["Acme", "C"]);
}
