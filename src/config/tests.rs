use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

fn load(file: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_sources(Some((Path::new("test.toml"), file)), &env(vars))
}

#[test]
fn shipped_file_loads_and_equals_the_built_in_defaults() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/lapse.toml"))
            .expect("config/lapse.toml is shipped");
    let from_file = load(&shipped, &[]).expect("shipped config is valid");
    let built_in = Config::from_sources(None, &[]).expect("defaults are valid");
    assert_eq!(from_file.to_redacted_toml(), built_in.to_redacted_toml());
    assert_eq!(built_in.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(built_in.log.format, LogFormat::Human);
    assert!(built_in.smtp.host.is_none());
}

#[test]
fn misspelled_key_is_named_with_its_section() {
    let err = load("[server]\nlisen = \"127.0.0.1:9\"\n", &[]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::UnknownKey { .. }), "{msg}");
    assert!(msg.contains("`server.lisen`"), "{msg}");
    assert!(msg.contains("listen"), "{msg}");
    assert!(msg.contains("test.toml"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg:?}");
}

#[test]
fn unknown_section_is_named() {
    let msg = load("[sever]\nlisten = \"127.0.0.1:9\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`sever`"), "{msg}");
}

#[test]
fn wrong_type_names_key_value_and_expectation() {
    let msg = load("[database]\nmax_connections = \"many\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`database.max_connections`"), "{msg}");
    assert!(msg.contains("many"), "{msg}");
    assert!(msg.contains("expected"), "{msg}");
}

#[test]
fn bad_listen_address_is_rejected_with_an_example() {
    let msg = load("[server]\nlisten = \"localhost\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`server.listen`")
            && msg.contains("\"localhost\"")
            && msg.contains("127.0.0.1:8080"),
        "{msg}"
    );
}

#[test]
fn bad_enum_value_lists_the_choices() {
    let msg = load("[log]\nformat = \"xml\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`log.format`") && msg.contains("human") && msg.contains("json"),
        "{msg}"
    );
}

#[test]
fn environment_overrides_keys_with_their_types() {
    let config = load(
        "",
        &[
            ("LAPSE_SERVER__LISTEN", "0.0.0.0:9000"),
            ("LAPSE_DATABASE__MAX_CONNECTIONS", "3"),
            ("LAPSE_NAMES__PRIVATE_TLDS", "[\"test\", \"Internal\"]"),
            ("LAPSE_LOG__FORMAT", "json"),
        ],
    )
    .unwrap();
    assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(config.database.max_connections, 3);
    assert_eq!(config.names.private_tlds, vec!["test", "internal"]);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.origin.env_overrides.len(), 4);
}

#[test]
fn bad_environment_value_names_the_variable() {
    let msg = load("", &[("LAPSE_DATABASE__MAX_CONNECTIONS", "lots")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("LAPSE_DATABASE__MAX_CONNECTIONS") && msg.contains("lots"),
        "{msg}"
    );
    let msg = load("", &[("LAPSE_SERVER__LISTN", "x")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("server.listn") && msg.contains("LAPSE_SERVER__LISTN"),
        "{msg}"
    );
}

#[test]
fn file_values_override_defaults_key_by_key() {
    let config = load("[database]\npath = \"/tmp/x.db\"\n", &[]).unwrap();
    assert_eq!(config.database.path, PathBuf::from("/tmp/x.db"));
    assert_eq!(config.database.max_connections, 8);
}

#[test]
fn secret_is_read_from_file_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("smtp-password");
    std::fs::write(&secret_path, "hunter2\n").unwrap();
    let file = format!(
        "[smtp]\nhost = \"mail.example.com\"\nusername = \"lapse\"\npassword_file = \"{}\"\n",
        secret_path.display()
    );
    let config = load(&file, &[]).unwrap();
    assert_eq!(
        config.smtp.password.as_ref().map(Secret::expose),
        Some("hunter2")
    );
    let printed = config.to_redacted_toml();
    assert!(
        !printed.contains("hunter2") && printed.contains("[redacted]"),
        "{printed}"
    );
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn secret_file_from_environment_works_too() {
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("pw");
    std::fs::write(&secret_path, "s3cret").unwrap();
    let path = secret_path.display().to_string();
    let config = load(
        "[smtp]\nusername = \"u\"\n",
        &[("LAPSE_SMTP__PASSWORD_FILE", path.as_str())],
    )
    .unwrap();
    assert_eq!(
        config.smtp.password.as_ref().map(Secret::expose),
        Some("s3cret")
    );
}

#[test]
fn missing_secret_file_is_an_error_naming_the_path() {
    let msg = load("[smtp]\npassword_file = \"/nonexistent/pw\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/nonexistent/pw") && msg.contains("smtp.password"),
        "{msg}"
    );
}

#[test]
fn username_without_password_is_a_missing_value() {
    let err = load("[smtp]\nusername = \"u\"\n", &[]).unwrap_err();
    assert!(
        matches!(err, ConfigError::Missing { ref key, .. } if key == "smtp.password"),
        "{err}"
    );
}

#[test]
fn bad_private_tld_is_rejected() {
    let msg = load("[names]\nprivate_tlds = [\"a.b\"]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("names.private_tlds") && msg.contains("a.b"),
        "{msg}"
    );
}

#[test]
fn probe_keys_are_typed_and_validated() {
    let config = load(
        "[targets]\nallow_ranges = [\"127.0.0.0/8\", \"::1\"]\n[dns]\nnameservers = [\"127.0.0.1:5353\", \"9.9.9.9\"]\n[alerts]\ncertificate_days = [7, 30, 14, 7]\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.targets.allow_ranges.len(), 2);
    assert_eq!(config.dns.nameservers[1], "9.9.9.9:53".parse().unwrap());
    assert_eq!(config.alerts.certificate_days, vec![30, 14, 7]);
    assert_eq!(config.alerts.certificate_warning_days(), 30);
    let msg = load("[targets]\nallow_ranges = [\"10.0.0.0/33\"]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("targets.allow_ranges") && msg.contains("10.0.0.0/33"),
        "{msg}"
    );
    let msg = load("[tls]\nextra_ca_file = \"/nonexistent/ca.pem\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tls.extra_ca_file") && msg.contains("/nonexistent/ca.pem"),
        "{msg}"
    );
    let msg = load("[alerts]\nregistration_days = []\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("alerts.registration_days"), "{msg}");
}

#[test]
fn registration_keys_take_maps_and_validate_them() {
    let config = load(
        "[whois.servers]\ntest = \"127.0.0.1:4343\"\n[rdap.overrides]\ntest = \"http://127.0.0.1:8081/rdap/\"\n[ratelimit.servers]\n\"127.0.0.1:4343\" = { per_second = 5.0, burst = 1, max_concurrent = 2 }\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.whois.servers["test"], "127.0.0.1:4343");
    assert_eq!(config.rdap.overrides["test"], "http://127.0.0.1:8081/rdap/");
    assert_eq!(config.ratelimit.servers["127.0.0.1:4343"].max_concurrent, 2);
    let msg = load(
        "[ratelimit.servers]\nx = { per_second = 0.0, burst = 1, max_concurrent = 1 }\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("ratelimit.servers.\"x\".per_second"), "{msg}");
    let msg = load("[rdap.overrides]\nno = \"not a url\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("rdap.overrides.no"), "{msg}");
    let via_env = load(
        "",
        &[("LAPSE_WHOIS__SERVERS", "{ test = \"127.0.0.1:9\" }")],
    )
    .unwrap();
    assert_eq!(via_env.whois.servers["test"], "127.0.0.1:9");
}

#[test]
fn schedule_needs_a_valid_cron_and_time_zone() {
    let config = load(
        "[schedule]\nscan = \"0 */5 * * * *\"\ntimezone = \"Europe/Berlin\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.schedule.timezone, chrono_tz::Europe::Berlin);
    let msg = load("[schedule]\nscan = \"every night\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("schedule.scan") && msg.contains("every night") && msg.contains("cron"),
        "{msg}"
    );
    let msg = load("[schedule]\ntimezone = \"Mars/Olympus\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("schedule.timezone") && msg.contains("Mars/Olympus"),
        "{msg}"
    );
}

#[test]
fn alert_and_delivery_keys_have_working_defaults() {
    let config = Config::from_sources(None, &[]).expect("defaults are valid");
    assert_eq!(config.alerts.failures_before_alert, 2);
    assert_eq!(config.alerts.staff_delivery, StaffDelivery::Copy);
    assert!(config.alerts.staff.is_empty());
    assert_eq!(config.outbox.retry_base, Duration::from_secs(60));
    assert!(config.outbox.sending_lease > config.smtp.timeout);
    assert!(config.webhooks.url.is_none() && config.webhooks.slack_url.is_none());
    assert!(config.smtp.tls_server_name.is_none());
}

#[test]
fn alert_and_delivery_keys_are_validated_with_the_key_named() {
    let cases = [
        ("[alerts]\nstaff = [\"not-an-address\"]\n", "alerts.staff"),
        ("[alerts]\noperator = [\"x@\"]\n", "alerts.operator"),
        (
            "[alerts]\nstaff_delivery = \"digest\"\n",
            "alerts.staff_delivery",
        ),
        (
            "[alerts]\ndigest_cron = \"every morning\"\n",
            "alerts.digest_cron",
        ),
        (
            "[alerts]\nfailures_before_alert = 0\n",
            "alerts.failures_before_alert",
        ),
        (
            "[alerts]\noutage_fraction = 1.5\n",
            "alerts.outage_fraction",
        ),
        (
            "[alerts]\ncanaries = [\"no-port.example\"]\n",
            "alerts.canaries",
        ),
        (
            "[alerts]\noutage_max_hold_hours = 0\n",
            "alerts.outage_max_hold_hours",
        ),
        (
            "[schedule]\nstatus_confirm_minutes = 0\n",
            "schedule.status_confirm_minutes",
        ),
        (
            "[outbox]\nsending_lease_secs = 10\n",
            "outbox.sending_lease_secs",
        ),
        ("[outbox]\nretry_max_secs = 1\n", "outbox.retry_max_secs"),
        ("[webhooks]\nurl = \"ftp://x\"\n", "webhooks.url"),
        (
            "[webhooks]\nurl = \"https://hooks.example\"\n",
            "webhooks.secret",
        ),
        (
            "[smtp]\ntls_server_name = \"not a name\"\n",
            "smtp.tls_server_name",
        ),
    ];
    for (file, key) in cases {
        let msg = load(file, &[]).unwrap_err().to_string();
        assert!(msg.contains(key), "{file:?}: {msg}");
    }
}

#[test]
fn webhook_urls_and_secret_are_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmac");
    std::fs::write(&path, "hmac-key\n").unwrap();
    let config = load(
        &format!(
            "[webhooks]\nurl = \"https://hooks.example/lapse\"\nsecret_file = \"{}\"\n",
            path.display()
        ),
        &[(
            "LAPSE_WEBHOOKS__SLACK_URL",
            "https://hooks.slack.example/services/T0/B0/token",
        )],
    )
    .unwrap();
    assert_eq!(
        config.webhooks.secret.as_ref().map(Secret::expose),
        Some("hmac-key")
    );
    let printed = config.to_redacted_toml();
    assert!(
        !printed.contains("hmac-key") && !printed.contains("B0/token"),
        "{printed}"
    );
    assert!(printed.contains("https://hooks.example/lapse"), "{printed}");
}

#[test]
fn api_keys_are_typed_and_validated() {
    let built_in = Config::from_sources(None, &[]).unwrap();
    assert_eq!(built_in.api.rate_limit_per_second, 20);
    assert!(built_in.api.metrics_require_token);
    assert!(built_in.api.cors_origins.is_empty());
    assert_eq!(
        built_in.api.scheduler_heartbeat_max_age,
        Some(Duration::from_secs(300))
    );
    let config = load(
        "[api]\ncors_origins = [\"https://dash.example.com/\"]\nscheduler_heartbeat_max_age_secs = 0\n",
        &[("LAPSE_API__RATE_LIMIT_BURST", "7")],
    )
    .unwrap();
    assert_eq!(config.api.cors_origins, vec!["https://dash.example.com"]);
    assert_eq!(config.api.scheduler_heartbeat_max_age, None);
    assert_eq!(config.api.rate_limit_burst, 7);
    for (file, key) in [
        ("[api]\ncors_origins = [\"*\"]\n", "api.cors_origins"),
        (
            "[api]\ncors_origins = [\"https://a.example/path\"]\n",
            "api.cors_origins",
        ),
        (
            "[api]\nrate_limit_per_second = 0\n",
            "api.rate_limit_per_second",
        ),
        ("[api]\nmax_body_bytes = 10\n", "api.max_body_bytes"),
        (
            "[api]\ncalendar_horizon_days = 0\n",
            "api.calendar_horizon_days",
        ),
        (
            "[api]\nmetrics_require_token = \"no\"\n",
            "api.metrics_require_token",
        ),
        ("[api]\nrate_limit = 5\n", "api.rate_limit"),
    ] {
        let msg = load(file, &[]).unwrap_err().to_string();
        assert!(msg.contains(key), "{file}: {msg}");
    }
}

#[test]
fn syntax_error_names_the_file() {
    let msg = load("[server\n", &[]).unwrap_err().to_string();
    assert!(
        msg.contains("test.toml") && msg.contains("not valid TOML"),
        "{msg}"
    );
}

/// Issue 15 item 11: every message names the key, where it was set and the
/// value, in words a person reads ("one of: one of" and "usize" were not).
#[test]
fn messages_name_the_source_of_an_unknown_section_and_read_once() {
    let msg = load("[bogus]\nx = 1\n", &[]).unwrap_err().to_string();
    assert!(msg.contains("`bogus`"), "{msg}");
    assert!(
        msg.contains("(in test.toml)"),
        "the file, not the defaults: {msg}"
    );
    assert!(!msg.contains("one of: one of"), "{msg}");
    assert!(msg.contains("expected one of database, server"), "{msg}");

    let msg = load("[scan]\nbogus = 1\n", &[]).unwrap_err().to_string();
    assert!(!msg.contains("one of: one of"), "{msg}");
    assert!(msg.contains("expected one of concurrency"), "{msg}");

    let msg = load("", &[("LAPSE_SCAN__CONCURRENCY", "abc")])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("(set by LAPSE_SCAN__CONCURRENCY)"), "{msg}");
    assert!(msg.contains("\"abc\""), "{msg}");
    assert!(msg.ends_with("expected a whole number"), "{msg}");
    assert!(!msg.contains("usize"), "{msg}");

    let msg = load("[ratelimit]\nper_second = \"fast\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.ends_with("expected a number"), "{msg}");
}

/// A reply cap too small to hold a reply's first lines is refused, not
/// quietly raised.
#[test]
fn a_reply_cap_under_1024_bytes_is_refused_naming_the_key() {
    for key in ["whois", "rdap"] {
        let msg = load(&format!("[{key}]\nmax_bytes = 100\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&format!("`{key}.max_bytes`")), "{msg}");
        assert!(msg.contains("100"), "{msg}");
        assert!(msg.contains("at least 1024 bytes"), "{msg}");
    }
    assert!(load("[whois]\nmax_bytes = 1024\n", &[]).is_ok());
}

#[test]
fn channels_are_named_typed_and_their_secrets_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rk");
    std::fs::write(&path, "RK-from-file\n").unwrap();
    let config = load(
        &format!(
            "[channels.oncall]\nkind = \"pagerduty\"\nrouting_key_file = \"{}\"\n\n\
             [channels.tg]\nkind = \"telegram\"\nbot_token = \"1:AAsecret\"\nchat_id = -100123\n",
            path.display()
        ),
        &[
            ("LAPSE_CHANNELS__PHONES__KIND", "ntfy"),
            (
                "LAPSE_CHANNELS__PHONES__URL",
                "https://ntfy.example/secret-topic",
            ),
        ],
    )
    .unwrap();
    let names: Vec<&str> = config.channels.keys().map(String::as_str).collect();
    assert_eq!(names, ["oncall", "phones", "tg"]);
    match &config.channels["oncall"].target {
        ChannelTarget::PagerDuty {
            routing_key,
            events_url,
        } => {
            assert_eq!(routing_key.expose(), "RK-from-file");
            assert_eq!(events_url, "https://events.pagerduty.com/v2/enqueue");
        }
        other => panic!("{other:?}"),
    }
    match &config.channels["tg"].target {
        ChannelTarget::Telegram { chat_id, .. } => assert_eq!(chat_id, "-100123"),
        other => panic!("{other:?}"),
    }
    let printed = config.to_redacted_toml();
    for secret in ["RK-from-file", "1:AAsecret", "secret-topic"] {
        assert!(!printed.contains(secret), "{secret}: {printed}");
    }
}

#[test]
fn a_bad_channel_is_refused_naming_its_key() {
    for (file, key) in [
        ("[channels.x]\nkind = \"sms\"\n", "channels.x.kind"),
        ("[channels.x]\nkind = \"teams\"\n", "channels.x.url"),
        ("[channels.x]\nkind = \"teams\"\nurl = \"ftp://x\"\n", "channels.x.url"),
        ("[channels.x]\nkind = \"telegram\"\nbot_token = \"t\"\n", "channels.x.chat_id"),
        ("[channels.x]\nkind = \"webhook\"\nurl = \"https://x\"\n", "channels.x.secret"),
        ("[channels.Ops]\nkind = \"ntfy\"\nurl = \"https://x\"\n", "channels.Ops"),
        ("[channels.x]\nkind = \"ntfy\"\nurl = \"https://x\"\ncolour = 1\n", "colour"),
        (
            "[webhooks]\nslack_url = \"https://a\"\n\n[channels.slack]\nkind = \"slack\"\nurl = \"https://b\"\n",
            "channels.slack",
        ),
    ] {
        let msg = load(file, &[]).unwrap_err().to_string();
        assert!(msg.contains(key), "{file:?}: {msg}");
    }
    let config = load("[webhooks]\nslack_url = \"https://hooks.example/x\"\n", &[]).unwrap();
    let all = config.all_channels();
    assert_eq!(all.len(), 1);
    assert!(all[0].from_webhooks && all[0].name == "slack");
}

#[test]
fn instance_name_defaults_to_host_and_pid_and_is_validated() {
    let default = Config::from_sources(None, &[]).expect("defaults are valid");
    assert!(
        default
            .server
            .instance
            .ends_with(&format!("-{}", std::process::id())),
        "{}",
        default.server.instance
    );
    let named = load("[server]\ninstance = \"web-1\"\n", &[]).expect("a name");
    assert_eq!(named.server.instance, "web-1");
    let from_env = load("", &[("LAPSE_SERVER__INSTANCE", "web_2.eu")]).expect("env");
    assert_eq!(from_env.server.instance, "web_2.eu");
    for bad in ["web 1", "wéb", &"x".repeat(65)] {
        let err = load(&format!("[server]\ninstance = \"{bad}\"\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("server.instance"), "{err}");
    }
    let err = load("[scan]\nlease_secs = 0\n", &[]).unwrap_err();
    assert!(err.to_string().contains("scan.lease_secs"), "{err}");
}

#[test]
fn a_postgres_url_selects_postgresql_and_its_password_is_never_printed() {
    let config = load(
        "[database]\nurl = \"postgres://lapse:hunter2@db.internal:5432/lapse?sslmode=require\"\n",
        &[],
    )
    .unwrap();
    let pg = config.database.postgres.as_ref().expect("postgres");
    assert_eq!(pg.password.as_ref().map(Secret::expose), Some("hunter2"));
    assert!(!pg.url.contains("hunter2"), "{}", pg.url);
    assert_eq!(config.database.location(), pg.url);
    let printed = config.to_redacted_toml();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("db.internal"), "{printed}");
    assert!(!format!("{config:?}").contains("hunter2"));

    // From the environment, the URL without one.
    let config = load(
        "[database]\nurl = \"postgresql://lapse@db.internal/lapse\"\n",
        &[("LAPSE_DATABASE__PASSWORD", "s3cret")],
    )
    .unwrap();
    let pg = config.database.postgres.as_ref().expect("postgres");
    assert_eq!(pg.password.as_ref().map(Secret::expose), Some("s3cret"));
    assert!(!config.to_redacted_toml().contains("s3cret"));
}

#[test]
fn a_sqlite_url_or_the_old_path_selects_sqlite() {
    let config = load("[database]\nurl = \"sqlite:///var/lib/lapse/x.db\"\n", &[]).unwrap();
    assert!(config.database.postgres.is_none());
    assert_eq!(config.database.path, PathBuf::from("/var/lib/lapse/x.db"));
    let config = load("[database]\npath = \"old.db\"\n", &[]).unwrap();
    assert!(config.database.postgres.is_none());
    assert_eq!(config.database.path, PathBuf::from("old.db"));
}

#[test]
fn a_bad_database_url_names_the_key_and_hides_the_password() {
    for (url, expected) in [
        ("mysql://u:pw@h/db", "postgres://USER@HOST:PORT/DATABASE"),
        ("postgres://u:pw@h:5432/", "naming the database"),
        ("postgres://u:pw@h/db?sslmode=sometimes", "sslmode among"),
    ] {
        let msg = load(&format!("[database]\nurl = \"{url}\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("database.url"), "{msg}");
        assert!(msg.contains(expected), "{url}: {msg}");
        assert!(!msg.contains(":pw@"), "the password is hidden: {msg}");
    }
    let msg = load(
        "[database]\nurl = \"postgres://u:pw@h/db\"\npassword = \"again\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("database.password") && msg.contains("given once"),
        "{msg}"
    );
    assert!(!msg.contains("again") && !msg.contains(":pw@"), "{msg}");
}
