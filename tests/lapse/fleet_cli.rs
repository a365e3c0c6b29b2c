//! The fleet model from the command line: registration-only domains, a
//! second client's endpoint under an owned domain, TLS modes set by flag
//! and by CSV (and used by the next scan), platform suffixes, watch modes.

use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::harness::cli::{db_count, TestEnv};
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::tls::{Prelude, TlsServer};

fn domain<'a>(domains: &'a Value, name: &str) -> &'a Value {
    domains
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {domains}"))
}

fn endpoint<'a>(domains: &'a Value, domain_name: &str, host: &str) -> &'a Value {
    domain(domains, domain_name)["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["host"] == host)
        .unwrap_or_else(|| panic!("{host} not under {domain_name}: {domains}"))
}

#[test]
fn a_registration_only_domain_has_no_endpoint_and_says_what_it_watches() {
    let env = TestEnv::new();
    let run = env.run(&["domains", "add", "parked-bakery.com", "--registration-only"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("stored domain parked-bakery.com (registration only)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("registration owner: agency"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(".com: what the registry publishes is not known yet"),
        "{}",
        run.stdout
    );
    let domains = env.domains();
    assert_eq!(
        domain(&domains, "parked-bakery.com")["watch"],
        "registration"
    );
    assert_eq!(
        domain(&domains, "parked-bakery.com")["endpoints"],
        serde_json::json!([])
    );

    // A port contradicts "registration only"; nothing is stored.
    let run = env.run(&[
        "domains",
        "add",
        "mail.other-site.org:587",
        "--registration-only",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("has no port"), "{}", run.stderr);
    assert_eq!(env.domains().as_array().map(Vec::len), Some(1));

    let run = env.run(&["domains", "list"]);
    assert!(
        run.stdout.contains(
            "parked-bakery.com  [registration]  registration: expiry not checked yet  owner: agency"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn adding_a_bare_domain_watches_both_and_says_how_to_watch_the_registration_alone() {
    let env = TestEnv::new();
    let run = env.run(&["domains", "add", "example.com"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("watching: registration and endpoints"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("lapse domains watch example.com registration"),
        "{}",
        run.stdout
    );
    // The command it names works and deletes nothing.
    let run = env.run(&["domains", "watch", "example.com", "registration"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("kept but no longer checked"),
        "{}",
        run.stdout
    );
    let domains = env.domains();
    assert_eq!(domain(&domains, "example.com")["watch"], "registration");
    assert_eq!(
        endpoint(&domains, "example.com", "example.com")["port"],
        443
    );
    // Adding an endpoint to a registration-only domain means checking it.
    let run = env.run(&["domains", "add", "www.example.com"]);
    assert!(
        run.stdout.contains("(was: registration only)"),
        "{}",
        run.stdout
    );
    assert_eq!(domain(&env.domains(), "example.com")["watch"], "both");
}

#[test]
fn two_clients_have_endpoints_under_one_registration_owned_by_the_first() {
    let env = TestEnv::new();
    env.run(&["clients", "add", "A", "--contact", "a@a.example"]);
    env.run(&["clients", "add", "B", "--contact", "b@b.example"]);
    assert_eq!(
        env.run(&["domains", "add", "agency-studio.net", "--client", "A"])
            .code,
        0
    );
    let run = env.run(&[
        "domains",
        "add",
        "client-b.agency-studio.net",
        "--client",
        "B",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("client B"), "{}", run.stdout);
    assert!(
        run.stdout.contains("registration owner: client A"),
        "{}",
        run.stdout
    );

    let domains = env.domains();
    assert_eq!(domain(&domains, "agency-studio.net")["client"], "A");
    assert_eq!(
        domain(&domains, "agency-studio.net")["registration_owner"],
        "client"
    );
    assert_eq!(
        endpoint(&domains, "agency-studio.net", "agency-studio.net")["client"],
        "A"
    );
    assert_eq!(
        endpoint(&domains, "agency-studio.net", "client-b.agency-studio.net")["client"],
        "B"
    );

    // B's list shows the domain with B's endpoint only.
    let run = env.run(&["domains", "list", "--client", "B", "--json"]);
    let only: Value = serde_json::from_str(&run.stdout).expect("json");
    let hosts: Vec<&str> = domain(&only, "agency-studio.net")["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter_map(|e| e["host"].as_str())
        .collect();
    assert_eq!(hosts, vec!["client-b.agency-studio.net"]);

    // Taking A's endpoint or A's registration is refused and changes nothing.
    let run = env.run(&["domains", "add", "agency-studio.net", "--client", "B"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("belongs to client `A`"),
        "{}",
        run.stderr
    );
    let run = env.run(&[
        "domains",
        "add",
        "agency-studio.net",
        "--registration-only",
        "--client",
        "B",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("lapse domains owner agency-studio.net --client NAME"),
        "{}",
        run.stderr
    );
    assert_eq!(domain(&env.domains(), "agency-studio.net")["client"], "A");

    // The explicit move works; then A's removal needs a release for its endpoint.
    let run = env.run(&["domains", "owner", "agency-studio.net", "--client", "B"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("owned by client B (was client A)"),
        "{}",
        run.stdout
    );
    let run = env.run(&["clients", "remove", "A"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("still owns 1 domain"), "{}", run.stderr);
    assert_eq!(
        env.run(&["clients", "remove", "A", "--release-domains"])
            .code,
        0
    );
    let domains = env.domains();
    assert_eq!(
        endpoint(&domains, "agency-studio.net", "agency-studio.net")["client"],
        Value::Null
    );
    assert_eq!(domain(&domains, "agency-studio.net")["client"], "B");
}

#[test]
fn hosts_on_a_platform_suffix_watch_the_endpoint_and_not_the_platform_registration() {
    let env = TestEnv::new();
    env.run(&["clients", "add", "A"]);
    env.run(&["clients", "add", "B"]);
    assert_eq!(
        env.run(&["domains", "add", "a-site.github.io", "--client", "A"])
            .code,
        0
    );
    let run = env.run(&["domains", "add", "b-site.github.io", "--client", "B"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("a platform's registration"),
        "{}",
        run.stdout
    );
    let domains = env.domains();
    let github = domain(&domains, "github.io");
    assert_eq!(github["watch"], "tls");
    assert_eq!(github["registration_owner"], "none");
    assert_eq!(
        endpoint(&domains, "github.io", "a-site.github.io")["client"],
        "A"
    );
    assert_eq!(
        endpoint(&domains, "github.io", "b-site.github.io")["client"],
        "B"
    );
}

#[test]
fn well_known_ports_pick_their_mode_and_tls_flags_are_stored_and_shown() {
    let env = TestEnv::new();
    let run = env.run(&[
        "domains",
        "add",
        "mail.example.com:587",
        "imap.example.com:993",
        "pop.example.com:110",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = env.run(&[
        "domains",
        "add",
        "smtp.example.com:2587",
        "--tls",
        "starttls-smtp",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("(TLS: starttls-smtp)"),
        "{}",
        run.stdout
    );
    let domains = env.domains();
    for (host, mode) in [
        ("mail.example.com", "starttls-smtp"),
        ("imap.example.com", "direct"),
        ("pop.example.com", "starttls-pop3"),
        ("smtp.example.com", "starttls-smtp"),
    ] {
        assert_eq!(
            endpoint(&domains, "example.com", host)["tls_mode"],
            mode,
            "{host}"
        );
    }
    let run = env.run(&["domains", "list"]);
    assert!(
        run.stdout
            .contains("smtp.example.com:2587  starttls-smtp  client: agency"),
        "{}",
        run.stdout
    );
    let run = env.run(&["domains", "add", "x.example.com:25", "--tls", "starttls"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("direct, starttls-smtp, starttls-imap, starttls-pop3"),
        "{}",
        run.stderr
    );
    // Changing a mode later: `domains endpoint`.
    let run = env.run(&[
        "domains",
        "endpoint",
        "smtp.example.com:2587",
        "--tls",
        "direct",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        endpoint(&env.domains(), "example.com", "smtp.example.com")["tls_mode"],
        "direct"
    );
}

#[test]
fn csv_columns_say_watch_tls_and_owner_per_row() {
    let env = TestEnv::new();
    let csv = "host,client,contacts,watch,tls,owner\n\
               parked-bakery.com,Acme,ops@acme.example,registration,,\n\
               smtp.acme-shop.com:2587,Acme,,,starttls-smtp,\n\
               staging.agency-studio.net,Acme,,tls,,agency\n\
               www.other-site.org,,,everything,,\n\
               mail.other-site.org:2525,,,,smtp-ish,\n";
    let file = env.write("fleet.csv", csv);
    let run = env.run(&["domains", "import", file.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains("imported 3 row(s), 2 failed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("line 5: `www.other-site.org`: `everything` is not a `watch` value"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 6:") && run.stderr.contains("`tls` value"),
        "{}",
        run.stderr
    );
    let domains = env.domains();
    assert_eq!(
        domain(&domains, "parked-bakery.com")["watch"],
        "registration"
    );
    assert_eq!(domain(&domains, "parked-bakery.com")["client"], "Acme");
    assert_eq!(
        endpoint(&domains, "acme-shop.com", "smtp.acme-shop.com")["tls_mode"],
        "starttls-smtp"
    );
    let agency = domain(&domains, "agency-studio.net");
    assert_eq!(agency["watch"], "tls");
    assert_eq!(agency["registration_owner"], "agency");
    assert_eq!(
        endpoint(&domains, "agency-studio.net", "staging.agency-studio.net")["client"],
        "Acme"
    );
    assert!(domains
        .as_array()
        .expect("array")
        .iter()
        .all(|d| d["name"] != "other-site.org"));
}

/// STARTTLS set from the CLI and from a CSV is what the next scan speaks;
/// the same server added without a mode (direct on an unknown port) fails,
/// so the mode is what made the difference.
#[tokio::test]
async fn starttls_from_the_cli_and_from_csv_is_used_by_the_next_scan() {
    let pki = TestPki::new();
    let names = ["smtp.mail.test", "relay.mail.test", "plain.mail.test"];
    let leaf = pki.good_leaf(&names);
    let server = TlsServer::start_on(
        std::net::SocketAddr::new(ip("127.0.0.1"), 0),
        pki.served(&leaf),
        leaf.key_der(),
        Prelude::Smtp,
    )
    .await;
    let mut zone = Zone::new();
    for name in names {
        zone = zone.host(name, &[ip("127.0.0.1")]);
    }
    let dns = DnsServer::start(zone).await;
    let env0 = TestEnv::new();
    let ca = env0.write("ca.pem", std::str::from_utf8(&pki.root_pem()).expect("pem"));
    let env = TestEnv::with_config(&format!(
        "[dns]\nnameservers = [\"{}\"]\n[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [tls]\nextra_ca_file = \"{}\"\nconnect_timeout_ms = 1000\nhandshake_timeout_ms = 1000\n",
        dns.addr,
        ca.display()
    ));
    let port = server.addr.port();
    let cli = format!("smtp.mail.test:{port}");
    assert_eq!(
        env.run_async(&["domains", "add", &cli, "--tls", "starttls-smtp"])
            .await
            .code,
        0
    );
    let csv = env.write(
        "mail.csv",
        &format!("host,tls\nrelay.mail.test:{port},starttls-smtp\n"),
    );
    assert_eq!(
        env.run_async(&["domains", "import", csv.to_str().expect("utf-8")])
            .await
            .code,
        0
    );
    let plain = format!("plain.mail.test:{port}");
    assert_eq!(env.run_async(&["domains", "add", &plain]).await.code, 0);

    let run = env.run_async(&["scan", "--json"]).await;
    let summary: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(summary["scan"]["summary"]["ok"], 2, "{summary}");
    let ok = db_count(
        &env,
        "SELECT COUNT(*) FROM cert_observations o JOIN endpoints e ON e.id = o.endpoint_id
         WHERE o.current = 1 AND o.outcome = 'ok' AND e.host IN ('smtp.mail.test', 'relay.mail.test')",
    )
    .await;
    assert_eq!(ok, 2);
    let plain_ok = db_count(
        &env,
        "SELECT COUNT(*) FROM cert_observations o JOIN endpoints e ON e.id = o.endpoint_id
         WHERE o.current = 1 AND o.outcome = 'ok' AND e.host = 'plain.mail.test'",
    )
    .await;
    assert_eq!(plain_ok, 0, "direct TLS against an SMTP server cannot pass");
    assert!(server.connections.load(Ordering::SeqCst) >= 3);
}

#[test]
fn removing_the_last_endpoint_keeps_the_domain_and_its_registration() {
    let env = TestEnv::new();
    env.run(&["domains", "add", "www.example.com"]);
    let run = env.run(&["domains", "remove", "www.example.com"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("its domain stays"), "{}", run.stdout);
    let domains = env.domains();
    assert_eq!(
        domain(&domains, "example.com")["endpoints"],
        serde_json::json!([])
    );
    assert_eq!(domain(&domains, "example.com")["watch"], "both");
    let run = env.run(&["domains", "remove", "example.com"]);
    assert!(
        run.stdout.contains("removed domain example.com"),
        "{}",
        run.stdout
    );
    assert_eq!(env.domains(), serde_json::json!([]));
}

/// A registry that publishes no expiry: the list asks for a date by hand
/// (with the command) until one is entered, and a later add under the same
/// TLD says what the registry publishes.
#[tokio::test]
async fn nothing_published_asks_for_a_date_until_one_is_entered() {
    let registries = crate::harness::registry::TestRegistries::start().await;
    let env = TestEnv::with_config(&crate::registration_cli::registry_config(&registries));
    let run = env
        .run_async(&["domains", "add", "unpublished.test", "--registration-only"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let scan = env.run_async(&["scan"]).await;
    assert_eq!(scan.code, 0, "{scan:?}");
    let list = env.run_async(&["domains", "list"]).await;
    assert!(
        list.stdout.contains(
            "registration: needs a date (the registry publishes none): lapse domains set-expiry unpublished.test YYYY-MM-DD"
        ),
        "{}",
        list.stdout
    );
    assert_eq!(
        domain(&env.domains(), "unpublished.test")["needs_date"],
        true
    );
    let run = env
        .run_async(&["domains", "add", "another.test", "--registration-only"])
        .await;
    assert!(
        run.stdout
            .contains(".test: nothing published: enter the date by hand"),
        "{}",
        run.stdout
    );

    let run = env
        .run_async(&["domains", "set-expiry", "unpublished.test", "2027-01-31"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let list = env.run_async(&["domains", "list"]).await;
    assert!(
        list.stdout
            .contains("unpublished.test  [registration]  registration: expires 2027-01-31"),
        "{}",
        list.stdout
    );
    assert_eq!(
        domain(&env.domains(), "unpublished.test")["needs_date"],
        false
    );
    // The entered date makes a lookup due at once: the next scan re-assesses
    // it (ending a "needs a date" alert) without waiting for the schedule.
    // Two registration items: another.test (new) and unpublished.test.
    let scan = env.run_async(&["scan", "--json"]).await;
    let summary: Value = serde_json::from_str(&scan.stdout).expect("json");
    assert_eq!(summary["scan"]["summary"]["items_total"], 2, "{summary}");
    let list = env.run_async(&["domains", "list"]).await;
    assert!(
        list.stdout
            .contains("unpublished.test  [registration]  registration: expires 2027-01-31"),
        "{}",
        list.stdout
    );
}
