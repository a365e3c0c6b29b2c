//! Configuration as the binary sees it: files, environment, errors, `config check`.

use crate::harness::cli::TestEnv;

#[test]
fn misspelled_key_stops_start_up_naming_the_key() {
    let env = TestEnv::with_config("[server]\nlisen = \"127.0.0.1:9\"\n");
    let run = env.run(&["domains", "list"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("unknown key `server.lisen`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("listen"), "{}", run.stderr);
    assert!(
        !env.path("lapse.db").exists(),
        "nothing is created on a bad config"
    );
}

#[test]
fn bad_value_names_key_value_and_expectation() {
    let env = TestEnv::with_config("[log]\nformat = \"xml\"\n");
    let run = env.run(&["config", "check"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("`log.format`") && run.stderr.contains("xml"),
        "{}",
        run.stderr
    );
}

#[test]
fn environment_variable_overrides_a_key() {
    let env = TestEnv::new();
    let run = env
        .command(&["config", "check"])
        .env("LAPSE_SERVER__LISTEN", "127.0.0.1:9999")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    assert!(stdout.contains("listen = \"127.0.0.1:9999\""), "{stdout}");
    assert!(
        stdout.contains("LAPSE_SERVER__LISTEN"),
        "origin is shown: {stdout}"
    );
}

#[test]
fn config_check_redacts_secrets() {
    let env = TestEnv::new();
    let secret = env.write("smtp-password", "correct horse\n");
    let env2 = TestEnv::with_config(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nusername = \"lapse\"\npassword_file = \"{}\"\n",
        secret.display()
    ));
    let run = env2.run(&["config", "check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("configuration is valid"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("password = \"[redacted]\""),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("correct horse"), "{}", run.stdout);
}

#[test]
fn runs_on_built_in_defaults_without_any_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_lapse"))
        .current_dir(dir.path())
        .env_remove("LAPSE_CONFIG")
        .args(["config", "check"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    assert!(stdout.contains("from the built-in defaults"), "{stdout}");
    assert!(stdout.contains("path = \"lapse.db\""), "{stdout}");
}

#[test]
fn migrate_applies_the_schema_once() {
    let env = TestEnv::on_sqlite("");
    let first = env.run(&["migrate"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stdout.contains("initial") && first.stdout.contains("applied now"),
        "{}",
        first.stdout
    );
    let second = env.run(&["migrate", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&second.stdout).expect("json");
    assert_eq!(status[0]["newly_applied"], false, "{status}");
}

#[tokio::test]
async fn database_uses_wal_and_enforces_foreign_keys() {
    use sqlx::ConnectOptions;
    let env = TestEnv::new();
    if env.database_url.is_some() {
        // SQLite's journal mode: nothing to check on PostgreSQL (the
        // cascade is checked there by the schema parity tests).
        return;
    }
    assert_eq!(
        env.run(&["domains", "add", "www.example.com", "api.example.com"])
            .code,
        0
    );
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(env.path("lapse.db"))
        .foreign_keys(true)
        .connect()
        .await
        .expect("open db");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    // Removing the domain removes its endpoints (ON DELETE CASCADE).
    drop(conn);
    assert_eq!(env.run(&["domains", "remove", "example.com"]).code, 0);
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = lapse::store::Store::open(&config.database)
        .await
        .expect("store");
    let (_, endpoints) = store.inventory_counts().await.expect("counts");
    assert_eq!(endpoints, 0);
}

/// Values that used to pass are refused, naming the key, the source and
/// the value: a log level that is no level (a bare word is a valid tracing
/// directive for a target, so it silently logged nothing useful), and a
/// WHOIS server override whose port does not exist.
#[test]
fn a_log_level_that_is_no_level_and_a_whois_port_out_of_range_are_refused() {
    for (config, key, value) in [
        ("[log]\nlevel = \"loud\"\n", "`log.level`", "\"loud\""),
        (
            "[log]\nlevel = \"info,lapse=noisy\"\n",
            "`log.level`",
            "lapse=noisy",
        ),
        (
            "[whois.servers]\ncom = \"whois.example.com:99999\"\n",
            "`whois.servers.com`",
            "whois.example.com:99999",
        ),
        (
            "[whois.servers]\nde = \"whois.denic.de:0\"\n",
            "`whois.servers.de`",
            "whois.denic.de:0",
        ),
    ] {
        let env = TestEnv::with_config(config);
        let run = env.run(&["config", "check"]);
        assert_eq!(run.code, 3, "{config}: {run:?}");
        assert!(
            run.stderr.contains(key)
                && run.stderr.contains(value)
                && run.stderr.contains("lapse.toml"),
            "{config}: {}",
            run.stderr
        );
    }
    for good in [
        "[log]\nlevel = \"warn\"\n",
        "[log]\nlevel = \"info,lapse::store=debug\"\n",
        "[whois.servers]\nde = \"whois.denic.de:43\"\n",
        "[whois.servers]\nde = \"[::1]:4343\"\n",
    ] {
        let run = TestEnv::with_config(good).run(&["config", "check"]);
        assert_eq!(run.code, 0, "{good}: {run:?}");
    }
}

#[test]
fn an_address_without_a_dotted_domain_says_so() {
    let env = TestEnv::new();
    let run = env.run(&["clients", "add", "Acme", "--contact", "ops@localhost"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("has no domain with a dot after the `@` (`localhost`)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("two dots in a row"), "{}", run.stderr);
}
