//! Registries that push back, on loopback (issue 15, "Registries" and item 6): a WHOIS reply
//! over `whois.max_bytes` is read up to the cap and said to be cut; a partial last line never
//! becomes a date or a "no match".

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::harness::cli::{db_count, TestEnv};
use crate::harness::registry::*;
use lapse::probe::registration::{Exchange, LookupFailure};
use lapse::probe::whois::{WhoisClient, WhoisSettings};
use lapse::probe::{DateValue, ParseOutcome, RegistrationFacts};
use lapse::ratelimit::RateLimiters;

fn instant(s: &str) -> DateValue {
    DateValue::Instant(
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&chrono::Utc),
    )
}

fn answered(exchange: &Exchange) -> &RegistrationFacts {
    exchange.facts().unwrap_or_else(|| {
        panic!(
            "expected an answer from {}, got {:?}",
            exchange.server, exchange.outcome
        )
    })
}

/// WHOIS settings with `.test` on `server` and replies capped at `max_bytes`.
fn whois_settings(server: &WhoisServer, max_bytes: usize) -> WhoisSettings {
    WhoisSettings {
        servers: HashMap::from([("test".to_owned(), server.host_port())]),
        iana_server: "127.0.0.1:9".to_owned(),
        timeout: Duration::from_millis(800),
        deadline: Duration::from_millis(1500),
        max_bytes,
        max_referrals: 2,
        rate_limit_backoff: Duration::from_secs(60),
        ..WhoisSettings::default()
    }
}

/// `lines` of legal text, CRLF-terminated, as registries print before or after the record.
fn legal_text(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("% Terms of use, paragraph {i:06}: lookups are for lawful purposes.\r\n"))
        .collect()
}

mod cut_whois_replies {
    use super::*;

    /// The record, then far more legal text than the cap.
    fn long_reply(domain: &str) -> Vec<u8> {
        let mut reply = registry_whois_reply(domain, REGISTRY_EXPIRY, None);
        reply.push_str(&legal_text(20_000));
        reply.into_bytes()
    }

    async fn ask(reply: Vec<u8>, domain: &str, max_bytes: usize) -> (Vec<Exchange>, Duration) {
        let server = WhoisServer::start(move |_| WhoisReply::Bytes(reply.clone())).await;
        let client = WhoisClient::new(whois_settings(&server, max_bytes)).expect("client");
        let limits = RateLimiters::new(unpaced());
        let started = Instant::now();
        let lookup = client.lookup(domain, &limits, now()).await;
        (lookup.exchanges, started.elapsed())
    }

    #[tokio::test]
    async fn a_reply_over_max_bytes_is_read_up_to_the_cap_and_said_to_be_cut() {
        let (exchanges, elapsed) = ask(long_reply("big.test"), "big.test", 4096).await;
        let facts = answered(&exchanges[0]);
        assert_eq!(facts.outcome, ParseOutcome::Found, "{facts:?}");
        assert_eq!(facts.expires, Some(instant(REGISTRY_EXPIRY)));
        assert_eq!(facts.registrar.as_deref(), Some("Example Registrar, Inc."));
        assert_eq!(facts.cut_at_bytes, Some(4096), "{facts:?}");
        assert_eq!(exchanges[0].raw.as_ref().map(Vec::len), Some(4096));
        assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn a_cut_inside_the_expiry_line_never_reads_a_partial_date() {
        let mut reply = legal_text(40);
        reply.push_str("Domain Name: HALF.TEST\r\nRegistry Expiry Date: 2026-08-13T04:00:00Z\r\n");
        let cap = reply.find("2026-08-1").expect("date") + "2026-08-1".len();
        reply.push_str(&legal_text(200));
        let (exchanges, _) = ask(reply.into_bytes(), "half.test", cap).await;
        let facts = answered(&exchanges[0]);
        assert_eq!(facts.expires, None, "a cut date is no date: {facts:?}");
        assert_eq!(
            facts.outcome,
            ParseOutcome::Unparseable,
            "not 'not published' either: the expiry may lie past the cut"
        );
        assert_eq!(facts.cut_at_bytes, Some(cap));
    }

    #[tokio::test]
    async fn a_cut_reply_says_no_match_only_when_the_no_match_text_is_there() {
        let mut gone = "No match for \"GONE.TEST\".\r\n".to_owned();
        gone.push_str(&legal_text(200));
        let (exchanges, _) = ask(gone.into_bytes(), "gone.test", 4096).await;
        let facts = answered(&exchanges[0]);
        assert_eq!(facts.outcome, ParseOutcome::NotFound, "{facts:?}");
        assert_eq!(facts.cut_at_bytes, Some(4096));

        // `No match` is all that is left of `No matching ...` at the cut.
        let mut partial = legal_text(40);
        partial.push_str("No matching abuse contact is published for resellers.\r\n");
        let cap = partial.find("No match").expect("phrase") + "No match".len();
        partial
            .push_str("Domain Name: THERE.TEST\r\nRegistry Expiry Date: 2026-08-13T04:00:00Z\r\n");
        let (exchanges, _) = ask(partial.into_bytes(), "there.test", cap).await;
        let facts = answered(&exchanges[0]);
        assert_eq!(facts.outcome, ParseOutcome::Unparseable, "{facts:?}");
        assert_eq!(facts.cut_at_bytes, Some(cap));
    }

    #[tokio::test]
    async fn lapse_whois_reports_the_cut_and_the_expiry_read_before_it() {
        let reply = long_reply("big.test");
        let server = WhoisServer::start(move |_| WhoisReply::Bytes(reply.clone())).await;
        let env = TestEnv::with_config(&format!(
            "[whois]\niana_server = \"127.0.0.1:9\"\ntimeout_ms = 1500\nmax_bytes = 4096\n\n\
             [whois.servers]\ntest = \"{}\"\n",
            server.host_port()
        ));
        let out = env.run_async(&["whois", "big.test"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout
                .contains(&format!("expires       {REGISTRY_EXPIRY}  (WHOIS, ")),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("reply cut at 4096 bytes (whois.max_bytes)"),
            "{}",
            out.stdout
        );
        let json = env.run_async(&["whois", "big.test", "--json"]).await;
        let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
        assert_eq!(
            value["assessment"]["facts"][0]["facts"]["cut_at_bytes"],
            4096
        );
    }
}

/// A reply cut before any expiry is a lookup that learned nothing, and `domains list` says why.
#[tokio::test]
async fn a_reply_cut_before_its_expiry_is_recorded_as_the_reason_nothing_was_learned() {
    let mut reply = "Domain Name: LONGWINDED.TEST\r\n".to_owned();
    reply.push_str(&legal_text(400));
    reply.push_str("Registry Expiry Date: 2026-08-13T04:00:00Z\r\n");
    let server = WhoisServer::start(move |_| WhoisReply::Text(reply.clone())).await;
    let env = TestEnv::with_config(&format!(
        "[whois]\niana_server = \"127.0.0.1:9\"\ntimeout_ms = 1500\nmax_bytes = 4096\n\n\
         [whois.servers]\ntest = \"{}\"\n",
        server.host_port()
    ));
    let add = env
        .run_async(&["domains", "add", "longwinded.test", "--registration-only"])
        .await;
    assert_eq!(add.code, 0, "{add:?}");
    let scan = env.run_async(&["scan"]).await;
    assert_eq!(scan.code, 0, "{scan:?}");
    let list = env.run_async(&["domains", "list"]).await;
    let reason = format!(
        "WHOIS {}: reply cut at 4096 bytes (whois.max_bytes) before any expiry",
        server.host_port()
    );
    assert!(list.stdout.contains(&reason), "{}", list.stdout);
    assert!(
        !list.stdout.contains("needs a date"),
        "a cut reply never says the registry publishes nothing: {}",
        list.stdout
    );
}

/// A registry's text holding NUL (PostgreSQL refuses NUL in any text) is stored with U+FFFD in
/// its place: the scan records the lookup, and the other lookups of the same batch with it.
#[tokio::test]
async fn a_registrar_name_holding_nul_is_recorded_and_sinks_no_batch() {
    let server = WhoisServer::start(|query| match query {
        "nul.test" => WhoisReply::Text(
            "Domain Name: NUL.TEST\r\nRegistrar: Evil\0Registrar\r\n\
             Registry Expiry Date: 2031-08-13T04:00:00Z\r\n"
                .to_owned(),
        ),
        _ => WhoisReply::Text(
            "Domain Name: PLAIN.TEST\r\nRegistrar: Plain Registrar\r\n\
             Registry Expiry Date: 2030-02-01T04:00:00Z\r\n"
                .to_owned(),
        ),
    })
    .await;
    let env = TestEnv::with_config(&format!(
        "[whois]\niana_server = \"127.0.0.1:9\"\ntimeout_ms = 1500\n\n\
         [whois.servers]\ntest = \"{}\"\n",
        server.host_port()
    ));
    for name in ["nul.test", "plain.test"] {
        let add = env
            .run_async(&["domains", "add", name, "--registration-only"])
            .await;
        assert_eq!(add.code, 0, "{add:?}");
    }
    let scan = env.run_async(&["scan"]).await;
    assert_eq!(scan.code, 0, "{scan:?}");
    let listed = env.domains();
    let domain = |name: &str| {
        listed
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed: {listed}"))
    };
    let nul = domain("nul.test");
    assert!(
        nul["expires_at"]
            .as_str()
            .is_some_and(|e| e.starts_with("2031-08-13")),
        "{nul}"
    );
    let plain = domain("plain.test");
    assert!(
        plain["expires_at"]
            .as_str()
            .is_some_and(|e| e.starts_with("2030-02-01")),
        "{plain}"
    );
    assert_eq!(
        db_count(
            &env,
            "SELECT COUNT(*) FROM domains WHERE name = 'nul.test' \
             AND registrar = 'Evil\u{FFFD}Registrar'"
        )
        .await,
        1,
        "the domain's registrar, NUL replaced"
    );
    assert_eq!(
        db_count(
            &env,
            "SELECT COUNT(*) FROM registration_facts f JOIN domains d ON d.id = f.domain_id \
             WHERE d.name = 'nul.test' AND f.registrar = 'Evil\u{FFFD}Registrar'"
        )
        .await,
        1,
        "the WHOIS answer's registrar, NUL replaced"
    );
}

/// A domain removed while its lookup is in flight: the scan ends well, records the other
/// domains of the batch, and records nothing for the removed one.
#[tokio::test]
async fn a_domain_removed_during_its_lookup_fails_nothing_else() {
    let server = WhoisServer::start(|query| match query {
        "going.test" => WhoisReply::Slow {
            delay: Duration::from_millis(2500),
            text: "Domain Name: GOING.TEST\r\nRegistry Expiry Date: 2031-08-13T04:00:00Z\r\n"
                .to_owned(),
        },
        _ => WhoisReply::Text(
            "Domain Name: STAYING.TEST\r\nRegistry Expiry Date: 2030-02-01T04:00:00Z\r\n"
                .to_owned(),
        ),
    })
    .await;
    let env = TestEnv::with_config(&format!(
        "[whois]\niana_server = \"127.0.0.1:9\"\ntimeout_ms = 5000\n\n\
         [whois.servers]\ntest = \"{}\"\n",
        server.host_port()
    ));
    for name in ["going.test", "staying.test"] {
        let add = env
            .run_async(&["domains", "add", name, "--registration-only"])
            .await;
        assert_eq!(add.code, 0, "{add:?}");
    }
    let (scan, removed) = tokio::join!(env.run_async(&["scan"]), async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        env.run_async(&["domains", "remove", "going.test"]).await
    });
    assert_eq!(removed.code, 0, "{removed:?}");
    assert_eq!(scan.code, 0, "{scan:?}");
    assert!(
        !scan.stderr.contains("trying again"),
        "nothing was retried: {}",
        scan.stderr
    );
    assert_eq!(
        db_count(&env, "SELECT COUNT(*) FROM registration_facts").await,
        1,
        "only the domain still tracked has facts"
    );
    let listed = env.domains();
    let names: Vec<_> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|d| (d["name"].clone(), d["expires_at"].clone()))
        .collect();
    assert_eq!(
        names,
        vec![(
            serde_json::json!("staying.test"),
            serde_json::json!("2030-02-01T04:00:00Z")
        )],
        "{listed}"
    );
}

/// Who is told to slow down: the server (every domain waits, as long as it asked, bounded by
/// `ratelimit.max_backoff`) or one domain (only its next lookup waits). An RDAP 429 is
/// server-wide; a WHOIS refusal that names the queried domain is about that domain only.
mod rate_limits {
    use super::*;
    use lapse::ratelimit::RateLimitSettings;

    fn failure(exchange: &Exchange) -> &LookupFailure {
        exchange.failure().unwrap_or_else(|| {
            panic!(
                "expected a failure from {}, got {:?}",
                exchange.server, exchange.outcome
            )
        })
    }

    /// The registry WHOIS server of `.test`, with two ways of saying "slow down".
    fn whois_that_limits(query: &str) -> WhoisReply {
        match query {
            "limited.test" => WhoisReply::Text(
                "% Query limit exceeded for LIMITED.TEST; try again in 30 minutes.\r\n".to_owned(),
            ),
            "flood.test" => WhoisReply::Text(
                "% Query rate limit exceeded. Please try again in 20 seconds.\r\n".to_owned(),
            ),
            other => whois_behaviour(other),
        }
    }

    #[tokio::test]
    async fn a_limit_that_names_the_domain_pauses_that_domain_only() {
        let server = WhoisServer::start(whois_that_limits).await;
        let client = WhoisClient::new(whois_settings(&server, 64 * 1024)).expect("client");
        let limits = RateLimiters::new(unpaced());

        let limited = client.lookup("limited.test", &limits, now()).await;
        assert_eq!(
            failure(&limited.exchanges[0]),
            &LookupFailure::DomainRateLimited {
                retry_after_secs: Some(1800)
            }
        );
        assert_eq!(
            limits.pause_left(&server.host_port()),
            None,
            "the server is not paused"
        );

        let other = client.lookup("example.test", &limits, now()).await;
        assert_eq!(answered(&other.exchanges[0]).outcome, ParseOutcome::Found);
        assert_eq!(server.journal.queries(), ["limited.test", "example.test"]);
    }

    #[tokio::test]
    async fn a_server_wide_limit_pauses_the_server_as_long_as_it_asked() {
        let server = WhoisServer::start(whois_that_limits).await;
        let client = WhoisClient::new(whois_settings(&server, 64 * 1024)).expect("client");
        let limits = RateLimiters::new(unpaced());

        let flood = client.lookup("flood.test", &limits, now()).await;
        assert_eq!(
            failure(&flood.exchanges[0]),
            &LookupFailure::RateLimited {
                retry_after_secs: Some(20)
            }
        );
        let left = limits.pause_left(&server.host_port()).expect("paused");
        assert!(
            left <= Duration::from_secs(20) && left > Duration::from_secs(15),
            "paused {left:?}, not the 60 s of whois.rate_limit_backoff"
        );
    }

    #[tokio::test]
    async fn an_rdap_429_is_server_wide_and_its_retry_after_is_bounded_by_max_backoff() {
        let rdap = RdapServer::start(|path, own| match path {
            "/rdap/domain/flood.test" => HttpReply::json(429, r#"{"errorCode": 429}"#.to_owned())
                .with_header("Retry-After", "86400"),
            _ => rdap_behaviour(path, own),
        })
        .await;
        let client = lapse::probe::rdap::RdapClient::new(lapse::probe::rdap::RdapSettings {
            bootstrap_url: rdap.url("/bootstrap.json"),
            timeout: Duration::from_millis(800),
            ..lapse::probe::rdap::RdapSettings::default()
        })
        .expect("client");
        let limits = RateLimiters::new(RateLimitSettings {
            max_backoff: Duration::from_secs(600),
            ..unpaced()
        });
        let base = url::Url::parse(&rdap.url("/rdap/")).expect("base");

        let exchanges = client.lookup("flood.test", &base, &limits, now()).await;

        assert_eq!(
            failure(&exchanges[0]),
            &LookupFailure::RateLimited {
                retry_after_secs: Some(600)
            },
            "the wait reported is the wait kept"
        );
        let left = limits.pause_left(&rdap.addr.to_string()).expect("paused");
        assert!(left <= Duration::from_secs(600) && left > Duration::from_secs(590));
    }

    /// Through the registration checker: the limited domain is looked up again no sooner than
    /// the registry asked; the next domain of the same registry is looked up at once.
    #[tokio::test]
    async fn a_domain_limit_puts_off_that_domains_next_lookup_and_no_other() {
        let server = WhoisServer::start(whois_that_limits).await;
        let env = TestEnv::with_config(&format!(
            "[whois]\niana_server = \"127.0.0.1:9\"\ntimeout_ms = 1500\n\n\
             [whois.servers]\ntest = \"{}\"\n\n\
             [ratelimit]\nper_second = 1000.0\nburst = 100\nmax_concurrent = 4\n",
            server.host_port()
        ));
        for name in ["limited.test", "example.test"] {
            let add = env
                .run_async(&["domains", "add", name, "--registration-only"])
                .await;
            assert_eq!(add.code, 0, "{add:?}");
        }
        let config = lapse::config::Config::load(&lapse::config::LoadOptions {
            explicit_path: Some(env.config_path()),
        })
        .expect("config");
        let store = lapse::store::Store::open(&config.database)
            .await
            .expect("store");
        let now = chrono::Utc::now();
        let checker =
            lapse::monitor::registration::RegistrationChecker::build(&config, &store, now)
                .await
                .expect("checker");
        for name in ["limited.test", "example.test"] {
            let id = store
                .domain_id(&lapse::domain::names::HostName::from_canonical(name))
                .await
                .expect("tracked");
            checker
                .check_and_record(&store, id, now)
                .await
                .expect("recorded");
        }
        let limited = seconds_to_next_lookup(&env, "limited.test").await;
        assert!(
            (1800..=1860).contains(&limited),
            "looked up again after {limited} s, not the 30 minutes asked"
        );
        let listed = env.domains();
        let example = listed
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["name"] == "example.test")
            .expect("example.test listed")
            .clone();
        assert_eq!(example["expires_at"], REGISTRY_EXPIRY, "{example}");
    }
}

/// RDAP over HTTPS from a private CA (`tls.extra_ca_file`), and a bootstrap entry whose first
/// base URL is dead: the next one is asked before RDAP is given up.
mod rdap_https {
    use super::*;
    use crate::harness::pki::TestPki;
    use crate::harness::AbortOnDrop;
    use std::net::SocketAddr;
    use std::sync::Arc;

    /// HTTPS on `127.0.0.1:0` with a certificate for `127.0.0.1` from the test CA, passed
    /// through to `backend` (a loopback RDAP server speaking plain HTTP).
    async fn https_front(pki: &TestPki, backend: SocketAddr) -> (SocketAddr, AbortOnDrop) {
        let leaf = pki.good_leaf(&["127.0.0.1"]);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(pki.served(&leaf), leaf.key_der())
        .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = AbortOnDrop::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        (addr, task)
    }

    /// A bootstrap file (served over plain HTTP: a configured URL) naming `urls` for `.test`.
    async fn bootstrap(urls: Vec<String>) -> RdapServer {
        RdapServer::start(move |_, _| {
            let body = serde_json::json!({
                "version": "1.0",
                "publication": "2025-05-30T00:00:00Z",
                "services": [[["test"], urls.clone()]]
            });
            HttpReply::json(200, body.to_string())
        })
        .await
    }

    /// Looks `domain` up through the registration checker built from `env`'s config.
    async fn look_up(env: &TestEnv, domain: &str) -> lapse::probe::registration::LookupReport {
        let config = lapse::config::Config::load(&lapse::config::LoadOptions {
            explicit_path: Some(env.config_path()),
        })
        .expect("config");
        let store = lapse::store::Store::open(&config.database)
            .await
            .expect("store");
        let now = chrono::Utc::now();
        let checker =
            lapse::monitor::registration::RegistrationChecker::build(&config, &store, now)
                .await
                .expect("checker");
        checker.look_up(domain, None, None, now).await.report
    }

    fn config(bootstrap: &RdapServer, ca: &std::path::Path) -> String {
        format!(
            "[rdap]\nbootstrap_url = \"{}\"\ntimeout_ms = 1500\nconnect_timeout_ms = 500\n\n\
             [tls]\nextra_ca_file = \"{}\"\n\n\
             [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\n\
             [ratelimit]\nper_second = 1000.0\nburst = 100\n",
            bootstrap.url("/bootstrap.json"),
            ca.display()
        )
    }

    #[tokio::test]
    async fn the_rdap_client_trusts_tls_extra_ca_file() {
        let pki = TestPki::new();
        let registry = RdapServer::start(rdap_behaviour).await;
        let (front, _front) = https_front(&pki, registry.addr).await;
        let base = format!("https://{front}/rdap/");
        let bootstrap = bootstrap(vec![base.clone()]).await;
        let dir = tempfile::tempdir().expect("dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pki.root_pem()).expect("CA");
        let env = TestEnv::with_config(&config(&bootstrap, &ca));

        let report = look_up(&env, "example.test").await;

        let first = &report.exchanges[0];
        assert_eq!(first.server, format!("{base}domain/example.test"));
        let facts = answered(first);
        assert_eq!(facts.expires, Some(instant(REGISTRY_EXPIRY)), "{report:#?}");
    }

    #[tokio::test]
    async fn the_next_base_url_of_a_bootstrap_entry_is_tried_before_rdap_is_given_up() {
        let pki = TestPki::new();
        let registry = RdapServer::start(rdap_behaviour).await;
        let (front, _front) = https_front(&pki, registry.addr).await;
        let dead = crate::harness::cli::free_port();
        let dead_base = format!("https://127.0.0.1:{dead}/rdap/");
        let live_base = format!("https://{front}/rdap/");
        let bootstrap = bootstrap(vec![dead_base.clone(), live_base.clone()]).await;
        let dir = tempfile::tempdir().expect("dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pki.root_pem()).expect("CA");
        let env = TestEnv::with_config(&config(&bootstrap, &ca));

        let report = look_up(&env, "example.test").await;

        let servers: Vec<&str> = report.exchanges.iter().map(|e| e.server.as_str()).collect();
        assert_eq!(
            servers,
            [
                format!("{dead_base}domain/example.test"),
                format!("{live_base}domain/example.test")
            ],
            "{report:#?}"
        );
        assert!(matches!(
            report.exchanges[0].failure(),
            Some(LookupFailure::Connect { .. })
        ));
        assert_eq!(
            answered(&report.exchanges[1]).expires,
            Some(instant(REGISTRY_EXPIRY))
        );
        assert_eq!(report.rdap_base.as_deref(), Some(live_base.as_str()));
    }
}

/// Nothing beyond loopback: `lapse serve` asks for the RDAP bootstrap only when a lookup needs
/// it, and the API benchmark's server is pointed at loopback for everything it could contact.
mod loopback_only {
    use super::*;
    use crate::harness::wait_until;
    use lapse::app::{self, App};
    use lapse::config::{Config, LoadOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_fetches_the_rdap_bootstrap_on_first_use_not_at_start_up() {
        // A loopback registry that counts every request, the bootstrap file included.
        let registry = RdapServer::start(rdap_behaviour).await;
        let env = TestEnv::with_config(&format!(
            "[rdap]\nbootstrap_url = \"{}\"\ntimeout_ms = 1500\n\n\
             [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\n\
             [ratelimit]\nper_second = 1000.0\nburst = 100\n\n\
             [schedule]\ndue_poll_secs = 1\njitter_secs = 0\n\n\
             [scan]\nshutdown_grace_secs = 1\n",
            registry.url("/bootstrap.json")
        ));
        let config = Config::load(&LoadOptions {
            explicit_path: Some(env.config_path()),
        })
        .expect("config");
        let app = App::build(config).await.expect("app");
        let store = app.store.clone();
        let policy = app.config.names.policy();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(app::run(app, listener, async {
            let _ = stopped.await;
        }));

        // Started: HTTP answers and the scheduler (with its engine) beats.
        wait_until(
            "the scheduler's heartbeat",
            Duration::from_secs(10),
            || async {
                let ready = reqwest::get(format!("http://{addr}/readyz")).await;
                ready.is_ok_and(|r| r.status() == 200)
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            registry.journal.queries(),
            Vec::<String>::new(),
            "start-up asked the registry nothing"
        );

        // A domain whose registration is due: the next due-work scan needs the bootstrap.
        let options = lapse::inventory::AddOptions {
            watch: Some(lapse::domain::fleet::Watch::Registration),
            ..lapse::inventory::AddOptions::default()
        };
        lapse::inventory::add_target(
            &store,
            &policy,
            443,
            "example.test",
            &options,
            chrono::Utc::now(),
        )
        .await
        .expect("add");
        wait_until("the lookup", Duration::from_secs(10), || async {
            registry.journal.queries().len() >= 2
        })
        .await;
        assert_eq!(
            registry.journal.queries()[..2],
            ["/bootstrap.json", "/rdap/domain/example.test"]
        );

        stop.send(()).expect("stop");
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve stops")
            .expect("join")
            .expect("serve ends Ok");
    }

    #[test]
    fn the_api_benchmark_contacts_nothing_beyond_loopback() {
        let script = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/common.sh"),
        )
        .expect("benches/common.sh (the benchmarks' shared installation)");
        let start = script.find("<<TOML\n").expect("the config heredoc") + "<<TOML\n".len();
        let end = start + script[start..].find("\nTOML\n").expect("its end");
        let config: toml::Value = toml::from_str(
            &script[start..end]
                .replace("$DATABASE_LINE", "path = \"$WORK/bench.db\"")
                .replace("$WORK", "/tmp/work")
                .replace("$PORT", "18480")
                .replace("${API_TOML:-}", ""),
        )
        .expect("the benchmark's config is TOML");
        let loopback = |text: &str| {
            let host = text
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .split(['/', ':'])
                .next()
                .unwrap_or_default()
                .to_owned();
            host == "127.0.0.1" || host == "localhost"
        };
        let key = |path: &[&str]| {
            path.iter()
                .try_fold(&config, |value, part| value.get(*part))
                .and_then(toml::Value::as_str)
                .unwrap_or_else(|| panic!("benches/api.sh sets {}", path.join(".")))
                .to_owned()
        };
        for path in [
            &["server", "listen"][..],
            &["rdap", "bootstrap_url"],
            &["whois", "iana_server"],
        ] {
            let value = key(path);
            assert!(loopback(&value), "{} = {value:?}", path.join("."));
        }
        let nameservers = config["dns"]["nameservers"]
            .as_array()
            .expect("dns.nameservers");
        assert!(
            !nameservers.is_empty(),
            "empty would mean the system resolver"
        );
        for server in nameservers {
            assert!(loopback(server.as_str().unwrap_or_default()), "{server}");
        }
        assert!(config.get("whois").and_then(|w| w.get("servers")).is_none());
        assert!(config.get("smtp").is_none() && config.get("webhooks").is_none());
        for line in script.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(
                !line.contains("apt-get") && !line.contains("https://"),
                "the benchmark fetches nothing from the network: {line}"
            );
        }
    }
}

/// Seconds from a domain's last registration check to its next one.
async fn seconds_to_next_lookup(env: &crate::harness::cli::TestEnv, name: &str) -> i64 {
    let pool = env.db().await;
    let (next, checked): (String, String) = sqlx::query_as(
        "SELECT next_registration_check_at, registration_checked_at FROM domains WHERE name = $1",
    )
    .bind(name)
    .fetch_one(&pool)
    .await
    .expect("times");
    pool.close().await;
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).expect("RFC 3339");
    (at(&next) - at(&checked)).num_seconds()
}
