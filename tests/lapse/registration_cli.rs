//! Registration checks through lapse itself: `lapse whois`, manual dates,
//! recording with provenance and staleness, against loopback registries.

use crate::harness::cli::TestEnv;
use crate::harness::registry::{TestRegistries, REGISTRY_EXPIRY};

/// Config pointing lapse's RDAP bootstrap and WHOIS servers at the loopback registries.
pub(crate) fn registry_config(r: &TestRegistries) -> String {
    format!(
        "[rdap]\nbootstrap_url = \"{bootstrap}\"\ntimeout_ms = 1500\n\n\
         [whois]\niana_server = \"{iana}\"\ntimeout_ms = 1500\ndeadline_ms = 3000\n\n\
         [whois.servers]\ntest = \"{registry}\"\n\"whois.registrar.test\" = \"{registrar}\"\n\n\
         [ratelimit]\nper_second = 1000.0\nburst = 100\nmax_concurrent = 16\n",
        bootstrap = r.rdap.url("/bootstrap.json"),
        iana = r.iana.host_port(),
        registry = r.registry_whois.host_port(),
        registrar = r.registrar_whois.host_port(),
    )
}

async fn run(env: &TestEnv, args: &[&str]) -> crate::harness::cli::Run {
    env.run_async(args).await
}

#[tokio::test]
async fn whois_on_a_test_tld_prints_facts_with_sources_and_capability() {
    let registries = TestRegistries::start().await;
    let env = TestEnv::with_config(&registry_config(&registries));

    let out = run(&env, &["whois", "https://www.linked.test/x"]).await;

    assert_eq!(out.code, 0, "{out:?}");
    let text = &out.stdout;
    assert!(text.starts_with("linked.test\n"), "{text}");
    assert!(text.contains("capability    RDAP with expiry"), "{text}");
    assert!(
        text.contains(&format!(
            "expires       {REGISTRY_EXPIRY}  (registry RDAP, "
        )),
        "{text}"
    );
    assert!(
        text.contains("disagreement  "),
        "registry and registrar differ: {text}"
    );
    assert!(text.contains("registry RDAP   http://127.0.0.1:"), "{text}");
    assert!(text.contains("registrar RDAP  http://127.0.0.1:"), "{text}");

    let json = run(&env, &["whois", "linked.test", "--json"]).await;
    assert_eq!(json.code, 0, "{json:?}");
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["assessment"]["capability"], "rdap_with_expiry");
    assert_eq!(value["assessment"]["expires"]["source"], "registry_rdap");
}

#[tokio::test]
async fn whois_falls_back_to_whois_and_says_so() {
    let registries = TestRegistries::start().await;
    let env = TestEnv::with_config(&registry_config(&registries));

    let out = run(&env, &["whois", "busy.test"]).await;

    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("capability    WHOIS only"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("failed: rate limited by the server; retry after 120 s"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("(WHOIS, 127.0.0.1:"), "{}", out.stdout);
}

#[tokio::test]
async fn a_domain_that_does_not_exist_is_never_given_an_expiry() {
    let registries = TestRegistries::start().await;
    let env = TestEnv::with_config(&registry_config(&registries));
    let out = run(&env, &["whois", "missing.test", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(value["assessment"]["not_found"], true);
    assert_eq!(value["assessment"]["expires"], serde_json::Value::Null);
}

#[tokio::test]
async fn recorded_lookup_keeps_provenance_and_a_failed_one_goes_stale_without_inventing_an_expiry()
{
    let registries = TestRegistries::start().await;
    let env = TestEnv::with_config(&registry_config(&registries));
    assert_eq!(
        run(&env, &["domains", "add", "www.linked.test"]).await.code,
        0
    );
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = lapse::store::Store::open(&config.database)
        .await
        .expect("store");
    let name = lapse::domain::names::HostName::from_canonical("linked.test");
    let id = store.domain_id(&name).await.expect("tracked");
    let now = chrono::Utc::now();
    let checker = lapse::monitor::registration::RegistrationChecker::build(&config, &store, now)
        .await
        .expect("checker");
    let check = checker
        .check_and_record(&store, id, now)
        .await
        .expect("recorded");
    assert!(!check.assessment.stale);

    let listed = env.domains();
    assert_eq!(listed[0]["expires_at"], REGISTRY_EXPIRY);
    assert_eq!(listed[0]["expires_source"], "registry_rdap");
    assert!(
        store.rdap_bootstrap().await.expect("read").is_some(),
        "bootstrap cached"
    );

    // The registries go away: the next lookup fails everywhere.
    drop(registries);
    let later = now + chrono::Duration::days(1);
    let dead = RegistriesGone::config(&env);
    let checker = lapse::monitor::registration::RegistrationChecker::build(&dead, &store, later)
        .await
        .expect("checker from the cached bootstrap");
    let check = checker
        .check_and_record(&store, id, later)
        .await
        .expect("recorded");
    assert!(check.assessment.stale, "{:?}", check.assessment);
    let listed = env.domains();
    assert_eq!(
        listed[0]["expires_at"], REGISTRY_EXPIRY,
        "last known date kept"
    );
    let context = store.registration_context(id).await.expect("context");
    assert_eq!(context.failures, 1);
}

#[tokio::test]
async fn manual_expiry_is_used_and_a_differing_published_date_is_reported() {
    let registries = TestRegistries::start().await;
    let env = TestEnv::with_config(&registry_config(&registries));
    assert_eq!(
        run(&env, &["domains", "add", "noexpiry.test"]).await.code,
        0
    );
    let bad = run(
        &env,
        &["domains", "set-expiry", "noexpiry.test", "31/03/2027"],
    )
    .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("use YYYY-MM-DD"), "{}", bad.stderr);
    let set = run(
        &env,
        &[
            "domains",
            "set-expiry",
            "noexpiry.test",
            "2027-03-31",
            "--note",
            "invoice 42",
        ],
    )
    .await;
    assert_eq!(set.code, 0, "{set:?}");
    assert_eq!(env.domains()[0]["expires_source"], "manual");
    assert_eq!(env.domains()[0]["expires_at"], "2027-03-31T00:00:00Z");

    // RDAP publishes no expiry here, but the registry's WHOIS does: lapse says they differ.
    let out = run(&env, &["whois", "noexpiry.test"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("manual date   2027-03-31 differs from the published"),
        "{}",
        out.stdout
    );
    let untracked = run(&env, &["domains", "set-expiry", "other.test", "2027-03-31"]).await;
    assert_eq!(untracked.code, 2, "{untracked:?}");
    assert!(
        untracked.stderr.contains("is not tracked"),
        "{}",
        untracked.stderr
    );
}

/// A configuration whose registries refuse every connection.
struct RegistriesGone;

impl RegistriesGone {
    fn config(env: &TestEnv) -> lapse::config::Config {
        let port = crate::harness::cli::free_port();
        let text = format!(
            "[database]\npath = \"{}\"\n[names]\nprivate_tlds = [\"test\"]\n\
             [rdap]\nbootstrap_url = \"http://127.0.0.1:{port}/bootstrap.json\"\ntimeout_ms = 500\n\
             [rdap.overrides]\ntest = \"http://127.0.0.1:{port}/rdap/\"\n\
             [whois]\niana_server = \"127.0.0.1:{port}\"\ntimeout_ms = 500\ndeadline_ms = 1000\n\
             [whois.servers]\ntest = \"127.0.0.1:{port}\"\n\
             [ratelimit]\nper_second = 1000.0\nburst = 100\nmax_concurrent = 16\n",
            env.path("lapse.db").display()
        );
        lapse::config::Config::from_sources(Some((std::path::Path::new("gone.toml"), &text)), &[])
            .expect("config")
    }
}

/// Every source failing is a failure for scripts: the report still prints
/// (JSON or text), and the exit code is 1, not 0.
#[tokio::test]
async fn whois_exits_1_when_no_source_answered() {
    // The test config points RDAP and WHOIS at a closed loopback port.
    let env = TestEnv::new();
    for args in [
        vec!["whois", "down.test"],
        vec!["whois", "down.test", "--json"],
    ] {
        let out = run(&env, &args).await;
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(!out.stdout.is_empty(), "the report is printed: {out:?}");
        assert!(
            out.stderr
                .contains("no registration source answered for down.test"),
            "{}",
            out.stderr
        );
    }
}

/// A lookup that no source answered is listed as failed, with each
/// source's reason, never as "not checked yet".
#[tokio::test]
async fn a_failed_lookup_is_listed_as_failed_with_its_reason() {
    // The test config points RDAP and WHOIS at a closed loopback port.
    let env = TestEnv::new();
    let added = run(
        &env,
        &["domains", "add", "down.test", "--registration-only"],
    )
    .await;
    assert_eq!(added.code, 0, "{added:?}");
    let scan = run(&env, &["scan"]).await;
    assert_eq!(scan.code, 0, "{scan:?}");
    let list = run(&env, &["domains", "list"]).await;
    assert!(
        list.stdout.contains(
            "down.test  [registration]  registration: expiry unknown: the last lookup failed"
        ),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("  last lookup failed (") && list.stdout.contains("127.0.0.1:9"),
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains("not checked yet"), "{}", list.stdout);
}
