//! `targets.allow_ranges` applied to the registration servers lapse discovers: a WHOIS referral,
//! an IANA answer, an RDAP bootstrap entry, the registrar's RDAP link and every HTTP redirect hop
//! are contacted only at an address the policy allows; servers named in configuration are
//! trusted as configured. Names resolve through a loopback DNS server (`dns.nameservers`), so a
//! test can make `whois.evil.test` resolve anywhere without any traffic leaving loopback.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::harness::cli::TestEnv;
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::registry::*;
use lapse::domain::registration::Source;
use lapse::probe::rdap::{RdapClient, RdapSettings};
use lapse::probe::registration::{lookup, Exchange, LookupFailure, RegistrationClients};
use lapse::probe::whois::{WhoisClient, WhoisSettings};
use lapse::probe::ParseOutcome;
use lapse::ratelimit::RateLimiters;

const LOOPBACK: &str = "127.0.0.0/8";

fn ranges(list: &[&str]) -> Vec<ipnet::IpNet> {
    list.iter().map(|r| r.parse().expect("range")).collect()
}

fn refusal(exchange: &Exchange) -> String {
    match exchange.failure() {
        Some(failure @ LookupFailure::Refused(_)) => failure.to_string(),
        other => panic!(
            "expected {} to be refused, got {other:?} ({:?})",
            exchange.server, exchange.outcome
        ),
    }
}

fn expiry_of(exchange: &Exchange) -> String {
    let facts = exchange.facts().unwrap_or_else(|| {
        panic!(
            "expected an answer from {}, got {:?}",
            exchange.server, exchange.outcome
        )
    });
    assert_eq!(facts.outcome, ParseOutcome::Found, "{facts:?}");
    format!("{:?}", facts.expires)
}

fn expiry_text(rfc3339: &str) -> String {
    format!(
        "{:?}",
        Some(lapse::probe::DateValue::Instant(
            chrono::DateTime::parse_from_rfc3339(rfc3339)
                .expect("instant")
                .with_timezone(&chrono::Utc)
        ))
    )
}

// ---------------------------------------------------------------------------------------------
// WHOIS: referrals and IANA answers
// ---------------------------------------------------------------------------------------------

mod whois {
    use super::*;

    /// `.test` on a configured registry server whose replies refer to `whois.evil.test`; the
    /// registrar's server listens on loopback at `referral_port`.
    struct Referral {
        registry: WhoisServer,
        registrar: WhoisServer,
        dns: DnsServer,
    }

    impl Referral {
        async fn start(evil: &[&str]) -> Self {
            let registry = WhoisServer::start(|q: &str| {
                WhoisReply::Text(registry_whois_reply(
                    q,
                    REGISTRY_EXPIRY,
                    Some("whois.evil.test"),
                ))
            })
            .await;
            // The registrar names itself, as registrars do: no further hop.
            let registrar = WhoisServer::start(|q: &str| {
                WhoisReply::Text(
                    registrar_whois_reply(q, REGISTRAR_EXPIRY)
                        .replace("whois.registrar.test", "whois.evil.test"),
                )
            })
            .await;
            let addresses: Vec<_> = evil.iter().map(|a| ip(a)).collect();
            let dns = DnsServer::start(
                Zone::new()
                    .host("whois.evil.test", &addresses)
                    .host("whois.nic.wtest", &[ip("127.0.0.1")]),
            )
            .await;
            Referral {
                registry,
                registrar,
                dns,
            }
        }

        fn settings(&self, allow: &[&str]) -> WhoisSettings {
            WhoisSettings {
                servers: HashMap::from([("test".to_owned(), self.registry.host_port())]),
                iana_server: "127.0.0.1:9".to_owned(),
                timeout: Duration::from_millis(800),
                deadline: Duration::from_millis(1500),
                allow_ranges: ranges(allow),
                nameservers: vec![self.dns.addr],
                referral_port: self.registrar.addr.port(),
                ..WhoisSettings::default()
            }
        }

        async fn lookup(&self, domain: &str, allow: &[&str]) -> Vec<Exchange> {
            let client = WhoisClient::new(self.settings(allow)).expect("client");
            let limits = RateLimiters::new(unpaced());
            tokio::time::timeout(
                Duration::from_secs(5),
                client.lookup(domain, &limits, now()),
            )
            .await
            .expect("lookup ends")
            .exchanges
        }
    }

    #[tokio::test]
    async fn a_referral_to_a_loopback_name_is_refused_unless_allow_ranges_lists_it() {
        let servers = Referral::start(&["127.0.0.1"]).await;

        let refused = servers.lookup("example.test", &[]).await;
        assert_eq!(refused.len(), 2, "{refused:#?}");
        assert_eq!(
            expiry_of(&refused[0]),
            expiry_text(REGISTRY_EXPIRY),
            "the configured registry is asked as configured"
        );
        assert_eq!(refused[1].server, "whois.evil.test");
        assert_eq!(
            refusal(&refused[1]),
            "not contacted: WHOIS referral whois.evil.test resolves to 127.0.0.1 (loopback, 127.0.0.0/8); allow it in targets.allow_ranges"
        );
        assert!(
            !refused[1].failure().expect("failure").is_retryable(),
            "asking again changes nothing until the configuration does"
        );
        assert!(
            servers.registrar.journal.queries().is_empty(),
            "nothing reached the refused server"
        );

        let followed = servers.lookup("example.test", &[LOOPBACK]).await;
        assert_eq!(followed.len(), 2, "{followed:#?}");
        assert_eq!(followed[1].server, "whois.evil.test", "paced by its name");
        assert_eq!(expiry_of(&followed[1]), expiry_text(REGISTRAR_EXPIRY));
        assert_eq!(servers.registrar.journal.queries(), vec!["example.test"]);
    }

    #[tokio::test]
    async fn a_referral_to_a_private_or_metadata_address_is_refused_whatever_else_is_allowed() {
        for (address, said) in [
            ("10.0.0.5", "10.0.0.5 (private, 10.0.0.0/8)"),
            (
                "169.254.169.254",
                "169.254.169.254 (cloud metadata, 169.254.169.254/32)",
            ),
            (
                "fd00:ec2::254",
                "fd00:ec2::254 (cloud metadata, fd00:ec2::254/128)",
            ),
            ("192.168.1.20", "192.168.1.20 (private, 192.168.0.0/16)"),
        ] {
            let servers = Referral::start(&[address]).await;
            let exchanges = servers.lookup("example.test", &[LOOPBACK]).await;
            assert_eq!(exchanges.len(), 2, "{address}: {exchanges:#?}");
            assert_eq!(
                refusal(&exchanges[1]),
                format!("not contacted: WHOIS referral whois.evil.test resolves to {said}; allow it in targets.allow_ranges"),
                "{address}"
            );
            assert_eq!(exchanges[1].elapsed_ms, 0, "{address}: no connection tried");
        }
    }

    #[tokio::test]
    async fn only_the_allowed_addresses_of_a_referral_are_contacted() {
        // A private address first, then loopback: with loopback allowed, lapse connects to
        // loopback only (the private address would time out, not answer).
        let servers = Referral::start(&["10.0.0.5", "127.0.0.1"]).await;
        let exchanges = servers.lookup("example.test", &[LOOPBACK]).await;
        assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
        assert_eq!(expiry_of(&exchanges[1]), expiry_text(REGISTRAR_EXPIRY));
        assert_eq!(servers.registrar.journal.queries(), vec!["example.test"]);

        let refused = servers.lookup("example.test", &[]).await;
        assert_eq!(
            refusal(&refused[1]),
            "not contacted: WHOIS referral whois.evil.test resolves to 10.0.0.5 (private, 10.0.0.0/8), 127.0.0.1 (loopback, 127.0.0.0/8); allow it in targets.allow_ranges"
        );
    }

    #[tokio::test]
    async fn a_referral_that_does_not_resolve_is_a_connect_failure_naming_the_host() {
        let servers = Referral::start(&[]).await;
        let exchanges = servers.lookup("example.test", &[LOOPBACK]).await;
        assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
        match exchanges[1].failure() {
            Some(LookupFailure::Connect { reason }) => assert!(
                reason.starts_with("cannot resolve whois.evil.test"),
                "{reason}"
            ),
            other => panic!("expected a connect failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_iana_answer_naming_an_unconfigured_server_is_screened_too() {
        // IANA (configured) says `.wtest` is served by whois.nic.wtest, which is not mapped in
        // whois.servers and resolves to loopback.
        let servers = Referral::start(&["127.0.0.1"]).await;
        let iana = WhoisServer::start(iana_behaviour).await;
        let wtest_registry = WhoisServer::start(|q: &str| {
            WhoisReply::Text(registry_whois_reply(q, REGISTRY_EXPIRY, None))
        })
        .await;
        let settings = |allow: &[&str]| WhoisSettings {
            iana_server: iana.host_port(),
            referral_port: wtest_registry.addr.port(),
            ..servers.settings(allow)
        };
        let limits = RateLimiters::new(unpaced());

        let client = WhoisClient::new(settings(&[])).expect("client");
        let refused = client.lookup("example.wtest", &limits, now()).await;
        assert_eq!(refused.exchanges.len(), 1, "{refused:#?}");
        assert_eq!(
            refusal(&refused.exchanges[0]),
            "not contacted: IANA WHOIS answer whois.nic.wtest resolves to 127.0.0.1 (loopback, 127.0.0.0/8); allow it in targets.allow_ranges"
        );
        assert_eq!(iana.journal.queries(), vec!["wtest"], "IANA is configured");
        assert!(wtest_registry.journal.queries().is_empty());

        let client = WhoisClient::new(settings(&[LOOPBACK])).expect("client");
        let followed = client.lookup("example.wtest", &limits, now()).await;
        assert_eq!(followed.exchanges.len(), 1, "{followed:#?}");
        assert_eq!(
            expiry_of(&followed.exchanges[0]),
            expiry_text(REGISTRY_EXPIRY)
        );
        assert_eq!(wtest_registry.journal.queries(), vec!["example.wtest"]);
    }
}

// ---------------------------------------------------------------------------------------------
// RDAP: bootstrap entries, registrar links, redirects
// ---------------------------------------------------------------------------------------------

mod rdap {
    use super::*;

    fn bootstrap_to(base: &str) -> HttpReply {
        let body = serde_json::json!({
            "version": "1.0",
            "services": [[["test"], [base]]]
        });
        HttpReply::json(200, body.to_string())
    }

    fn redirect(location: &str) -> HttpReply {
        HttpReply::Response {
            status: 302,
            headers: vec![("Location".to_owned(), location.to_owned())],
            body: Vec::new(),
        }
    }

    fn settings(bootstrap_url: String, allow: &[&str], dns: Option<&DnsServer>) -> RdapSettings {
        RdapSettings {
            bootstrap_url,
            timeout: Duration::from_millis(1500),
            connect_timeout: Duration::from_millis(500),
            allow_ranges: ranges(allow),
            nameservers: dns.map(|d| vec![d.addr]).unwrap_or_default(),
            ..RdapSettings::default()
        }
    }

    /// WHOIS for `.test` on a closed port: a fallback that answers nothing.
    fn closed_whois() -> WhoisSettings {
        WhoisSettings {
            servers: HashMap::from([("test".to_owned(), "127.0.0.1:9".to_owned())]),
            iana_server: "127.0.0.1:9".to_owned(),
            timeout: Duration::from_millis(300),
            deadline: Duration::from_millis(600),
            ..WhoisSettings::default()
        }
    }

    async fn rdap_lookup(clients: &RegistrationClients, domain: &str) -> Vec<Exchange> {
        let report = tokio::time::timeout(
            Duration::from_secs(5),
            lookup(domain, clients, &RateLimiters::new(unpaced()), now()),
        )
        .await
        .expect("lookup ends");
        report
            .exchanges
            .into_iter()
            .filter(|e| e.source != Source::Whois)
            .collect()
    }

    #[tokio::test]
    async fn a_bootstrap_entry_for_an_unconfigured_loopback_server_is_refused_unless_allowed() {
        let registry = RdapServer::start(rdap_behaviour).await;
        let base = registry.url("/rdap/");
        let file = RdapServer::start(move |_: &str, _: SocketAddr| bootstrap_to(&base)).await;

        let refused = clients(
            settings(file.url("/bootstrap.json"), &[], None),
            closed_whois(),
        )
        .await;
        let exchanges = rdap_lookup(&refused, "example.test").await;
        assert_eq!(exchanges.len(), 1, "{exchanges:#?}");
        assert_eq!(
            refusal(&exchanges[0]),
            format!(
                "not contacted: RDAP bootstrap entry {} is loopback (127.0.0.0/8); allow it in targets.allow_ranges",
                registry.addr
            )
        );
        assert!(registry.journal.queries().is_empty());
        assert_eq!(
            file.journal.queries(),
            vec!["/bootstrap.json"],
            "the configured bootstrap URL itself is fetched"
        );

        let allowed = clients(
            settings(file.url("/bootstrap.json"), &[LOOPBACK], None),
            closed_whois(),
        )
        .await;
        let exchanges = rdap_lookup(&allowed, "example.test").await;
        assert_eq!(expiry_of(&exchanges[0]), expiry_text(REGISTRY_EXPIRY));
        assert_eq!(
            registry.journal.queries(),
            vec!["/rdap/domain/example.test"]
        );
    }

    #[tokio::test]
    async fn an_override_is_trusted_but_its_registrar_link_is_screened_by_name() {
        let registrar = RdapServer::start(rdap_behaviour).await;
        let link = format!(
            "http://rdap.registrar.test:{}/registrar/domain/linked.test",
            registrar.addr.port()
        );
        let registry = RdapServer::start(move |path: &str, own: SocketAddr| {
            if path == "/rdap/domain/linked.test" {
                HttpReply::json(
                    200,
                    rdap_domain("linked.test", Some(REGISTRY_EXPIRY), Some(&link)),
                )
            } else {
                rdap_behaviour(path, own)
            }
        })
        .await;
        let dns =
            DnsServer::start(Zone::new().host("rdap.registrar.test", &[ip("127.0.0.1")])).await;
        let with_override = |allow: &[&str]| {
            let mut s = settings(
                "http://127.0.0.1:9/bootstrap.json".to_owned(),
                allow,
                Some(&dns),
            );
            s.overrides
                .insert("test".to_owned(), registry.url("/rdap/"));
            s
        };
        let build = |rdap: RdapSettings| async move {
            let client = RdapClient::new(rdap.clone()).expect("client");
            RegistrationClients {
                bootstrap: lapse::probe::rdap::BootstrapRegistry::empty()
                    .with_overrides(&rdap.overrides)
                    .expect("override"),
                rdap: client,
                whois: WhoisClient::new(closed_whois()).expect("whois"),
            }
        };

        let refused = build(with_override(&[])).await;
        let exchanges = rdap_lookup(&refused, "linked.test").await;
        assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
        assert_eq!(
            expiry_of(&exchanges[0]),
            expiry_text(REGISTRY_EXPIRY),
            "the configured override on loopback is asked as configured"
        );
        assert_eq!(exchanges[1].source, Source::RegistrarRdap);
        assert_eq!(
            refusal(&exchanges[1]),
            format!(
                "not contacted: RDAP registrar link rdap.registrar.test:{} resolves to 127.0.0.1 (loopback, 127.0.0.0/8); allow it in targets.allow_ranges",
                registrar.addr.port()
            )
        );
        assert!(registrar.journal.queries().is_empty());

        let allowed = build(with_override(&[LOOPBACK])).await;
        let exchanges = rdap_lookup(&allowed, "linked.test").await;
        assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
        assert_eq!(expiry_of(&exchanges[1]), expiry_text(REGISTRAR_EXPIRY));
        assert_eq!(
            registrar.journal.queries(),
            vec!["/registrar/domain/linked.test"]
        );
    }

    #[tokio::test]
    async fn every_redirect_hop_is_screened_including_the_bootstrap_files() {
        let elsewhere = RdapServer::start(rdap_behaviour).await;
        let (port, other) = (elsewhere.addr.port(), elsewhere.addr);
        let origin = RdapServer::start(move |path: &str, own: SocketAddr| match path {
            "/bootstrap.json" => bootstrap_to(&format!("http://{own}/rdap/")),
            "/moved.json" => redirect(&format!("http://{other}/bootstrap.json")),
            "/rdap/domain/literal.test" => {
                redirect(&format!("http://{other}/rdap/domain/literal.test"))
            }
            "/rdap/domain/named.test" => redirect(&format!(
                "http://rdap.elsewhere.test:{port}/rdap/domain/named.test"
            )),
            "/rdap/domain/metadata.test" => redirect("http://169.254.169.254/latest/meta-data/"),
            "/rdap/domain/home.test" => redirect(&format!("http://{own}/rdap/domain/example.test")),
            _ => rdap_behaviour(path, own),
        })
        .await;
        let dns =
            DnsServer::start(Zone::new().host("rdap.elsewhere.test", &[ip("127.0.0.1")])).await;
        let bootstrap = origin.url("/bootstrap.json");

        let refused = clients(settings(bootstrap.clone(), &[], Some(&dns)), closed_whois()).await;
        let literal = rdap_lookup(&refused, "literal.test").await;
        assert_eq!(
            refusal(&literal[0]),
            format!("not contacted: RDAP redirect to {other} is loopback (127.0.0.0/8); allow it in targets.allow_ranges")
        );
        assert_eq!(literal[0].server, origin.url("/rdap/domain/literal.test"));
        let named = rdap_lookup(&refused, "named.test").await;
        assert_eq!(
            refusal(&named[0]),
            format!("not contacted: RDAP redirect to rdap.elsewhere.test:{port} resolves to 127.0.0.1 (loopback, 127.0.0.0/8); allow it in targets.allow_ranges")
        );
        let home = rdap_lookup(&refused, "home.test").await;
        assert_eq!(
            expiry_of(&home[0]),
            expiry_text(REGISTRY_EXPIRY),
            "a redirect back to the configured origin is followed"
        );
        assert!(elsewhere.journal.queries().is_empty());

        // The configured bootstrap URL is trusted; where it redirects to is not.
        let moved =
            RdapClient::new(settings(origin.url("/moved.json"), &[], None)).expect("client");
        match moved.fetch_bootstrap(now()).await {
            Err(lapse::probe::rdap::BootstrapFetchError::Fetch(failure)) => assert_eq!(
                failure.to_string(),
                format!("not contacted: RDAP redirect to {other} is loopback (127.0.0.0/8); allow it in targets.allow_ranges")
            ),
            other => panic!("expected a refused redirect, got {other:?}"),
        }
        assert!(elsewhere.journal.queries().is_empty());

        let allowed = clients(
            settings(bootstrap.clone(), &[LOOPBACK], Some(&dns)),
            closed_whois(),
        )
        .await;
        for domain in ["literal.test", "named.test"] {
            let exchanges = rdap_lookup(&allowed, domain).await;
            assert_eq!(
                expiry_of(&exchanges[0]),
                expiry_text(REGISTRY_EXPIRY),
                "{domain}"
            );
        }
        assert_eq!(
            elsewhere.journal.queries(),
            vec!["/rdap/domain/literal.test", "/rdap/domain/named.test"]
        );
        // Loopback allowed does not allow the metadata service.
        let metadata = rdap_lookup(&allowed, "metadata.test").await;
        assert_eq!(
            refusal(&metadata[0]),
            "not contacted: RDAP redirect to 169.254.169.254 is cloud metadata (169.254.169.254/32); allow it in targets.allow_ranges"
        );
        let moved = RdapClient::new(settings(origin.url("/moved.json"), &[LOOPBACK], None))
            .expect("client");
        let fetched = moved.fetch_bootstrap(now()).await.expect("followed");
        assert!(fetched.registry.base_url_for("x.test").is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// Recorded: a refusal is a failed lookup; the last facts stay
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refused_server_is_a_recorded_failure_and_the_last_facts_are_kept() {
    let registry = RdapServer::start(rdap_behaviour).await;
    let base = registry.url("/rdap/");
    let file = RdapServer::start(move |_: &str, _: SocketAddr| {
        HttpReply::json(
            200,
            serde_json::json!({"version": "1.0", "services": [[["test"], [base]]]}).to_string(),
        )
    })
    .await;
    let rdap = format!(
        "[rdap]\nbootstrap_url = \"{}\"\ntimeout_ms = 1500\n",
        file.url("/bootstrap.json")
    );
    let env = TestEnv::with_config(&format!(
        "[targets]\nallow_ranges = [\"{LOOPBACK}\"]\n{rdap}"
    ));
    assert_eq!(
        env.run_async(&["domains", "add", "www.example.test"])
            .await
            .code,
        0
    );
    let allowed = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = lapse::store::Store::open(&allowed.database)
        .await
        .expect("store");
    let id = store
        .domain_id(&lapse::domain::names::HostName::from_canonical(
            "example.test",
        ))
        .await
        .expect("tracked");
    let now = chrono::Utc::now();
    let checker = lapse::monitor::registration::RegistrationChecker::build(&allowed, &store, now)
        .await
        .expect("checker");
    let first = checker
        .check_and_record(&store, id, now)
        .await
        .expect("recorded");
    assert!(!first.assessment.stale, "{:?}", first.assessment);
    assert_eq!(env.domains()[0]["expires_at"], REGISTRY_EXPIRY);
    assert_eq!(registry.journal.queries().len(), 1);

    // The same registries, with loopback no longer allowed.
    let mut refused = allowed.clone();
    refused.targets.allow_ranges.clear();
    let later = now + chrono::TimeDelta::days(1);
    let checker = lapse::monitor::registration::RegistrationChecker::build(&refused, &store, later)
        .await
        .expect("checker");
    let second = tokio::time::timeout(
        Duration::from_secs(10),
        checker.check_and_record(&store, id, later),
    )
    .await
    .expect("no hang")
    .expect("recorded");
    let expected = format!(
        "not contacted: RDAP bootstrap entry {} is loopback (127.0.0.0/8); allow it in targets.allow_ranges",
        registry.addr
    );
    let failures: Vec<String> = second
        .report
        .failures()
        .map(|(_, f)| f.to_string())
        .collect();
    assert_eq!(failures.first(), Some(&expected), "{failures:?}");
    assert!(second.assessment.stale, "{:?}", second.assessment);
    assert_eq!(
        registry.journal.queries().len(),
        1,
        "the refused server was not contacted"
    );
    let listed = env.domains();
    assert_eq!(listed[0]["expires_at"], REGISTRY_EXPIRY, "last facts kept");
    let context = store.registration_context(id).await.expect("context");
    assert_eq!(context.failures, 1, "counted as a failed lookup");

    // `lapse whois` says the same, and what to change.
    let config = std::fs::read_to_string(env.config_path()).expect("config");
    env.write(
        "lapse.toml",
        &config.replace(
            &format!("allow_ranges = [\"{LOOPBACK}\"]"),
            "allow_ranges = []",
        ),
    );
    let out = env.run_async(&["whois", "example.test"]).await;
    assert!(
        out.stdout.contains(&expected),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}
