//! Registration lookups against loopback registries: RDAP (bootstrap, registry, registrar link,
//! 404, 429, no expiry, timeouts, size and redirect bounds), WHOIS (normal, referral, not found,
//! rate-limit text, 10 MB, never-ending, garbage, reset, IANA discovery), the RDAP-first / WHOIS
//! fallback order, and per-server pacing seen from the servers' side.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::harness::registry::*;
use lapse::domain::registration::{assess, Capability, Source};
use lapse::probe::registration::{lookup, Exchange, ExchangeOutcome, LookupFailure, LookupReport};
use lapse::probe::whois::WhoisSettings;
use lapse::probe::{DateValue, ParseOutcome};
use lapse::ratelimit::{RateLimitSettings, RateLimiters, ServerLimit};

fn instant(s: &str) -> DateValue {
    DateValue::Instant(
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&chrono::Utc),
    )
}

/// Runs one lookup with unpaced limits, failing the test if it outlives `bound`.
async fn lookup_within(
    registries: &TestRegistries,
    domain: &str,
    bound: Duration,
) -> (LookupReport, Duration) {
    let clients = registries.clients().await;
    let limits = RateLimiters::new(unpaced());
    let started = Instant::now();
    let report = tokio::time::timeout(bound, lookup(domain, &clients, &limits, now()))
        .await
        .unwrap_or_else(|_| panic!("lookup of {domain} outlived {bound:?}"));
    (report, started.elapsed())
}

fn by_source(report: &LookupReport, source: Source) -> Vec<&Exchange> {
    report
        .exchanges
        .iter()
        .filter(|e| e.source == source)
        .collect()
}

fn answered(exchange: &Exchange) -> &lapse::probe::RegistrationFacts {
    exchange.facts().unwrap_or_else(|| {
        panic!(
            "expected an answer from {}, got {:?}",
            exchange.server, exchange.outcome
        )
    })
}

fn failure(exchange: &Exchange) -> &LookupFailure {
    exchange.failure().unwrap_or_else(|| {
        panic!(
            "expected a failure from {}, got {:?}",
            exchange.server, exchange.outcome
        )
    })
}

// ---------------------------------------------------------------------------------------------
// RDAP
// ---------------------------------------------------------------------------------------------

mod rdap {
    use super::*;
    use lapse::probe::rdap::{BootstrapRegistry, RdapClient};

    #[tokio::test]
    async fn bootstrap_fetch_returns_the_body_to_cache_and_a_registry_that_reloads_from_it() {
        let registries = TestRegistries::start().await;
        let client = RdapClient::new(registries.rdap_settings()).expect("client");
        let fetched = client.fetch_bootstrap(now()).await.expect("bootstrap");
        let base = registries.rdap.url("/rdap/");
        assert_eq!(
            fetched
                .registry
                .base_url_for("example.test")
                .map(|u| u.to_string()),
            Some(base.clone())
        );
        assert_eq!(fetched.fetched_at, now());

        let reloaded = BootstrapRegistry::from_json(&fetched.body, fetched.fetched_at)
            .expect("cached body reloads");
        assert_eq!(
            reloaded.base_url_for("example.test").map(|u| u.to_string()),
            Some(base)
        );
        assert!(!reloaded.is_stale(now()));
    }

    #[tokio::test]
    async fn normal_reply_gives_registry_facts_with_expiry_and_skips_whois() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "example.test", Duration::from_secs(5)).await;

        assert_eq!(report.exchanges.len(), 1, "{report:#?}");
        let registry = &report.exchanges[0];
        assert_eq!(registry.source, Source::RegistryRdap);
        assert_eq!(
            registry.server,
            registries.rdap.url("/rdap/domain/example.test")
        );
        assert_eq!(registry.fetched_at, now());
        let facts = answered(registry);
        assert_eq!(facts.outcome, ParseOutcome::Found);
        assert_eq!(
            facts.expires,
            Some(instant(REGISTRY_EXPIRY)),
            "the domain's event, not the registrar entity's"
        );
        assert_eq!(facts.registrar.as_deref(), Some("Example Registrar, Inc."));
        assert_eq!(facts.registrar_iana_id, Some(9999));
        assert!(
            registries.registry_whois.journal.queries().is_empty(),
            "WHOIS is not asked when RDAP has the expiry"
        );

        let assessment = assess(&report.sourced_facts(), None, None, now());
        assert_eq!(assessment.capability, Capability::RdapWithExpiry);
    }

    #[tokio::test]
    async fn related_link_adds_the_registrar_as_a_second_source_and_the_disagreement_shows() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "linked.test", Duration::from_secs(5)).await;

        let sources: Vec<Source> = report.exchanges.iter().map(|e| e.source).collect();
        assert_eq!(sources, vec![Source::RegistryRdap, Source::RegistrarRdap]);
        assert_eq!(
            report.exchanges[1].server,
            registries.rdap.url("/registrar/domain/linked.test")
        );
        assert_eq!(
            answered(&report.exchanges[1]).expires,
            Some(instant(REGISTRAR_EXPIRY))
        );

        let assessment = assess(&report.sourced_facts(), None, None, now());
        let expires = assessment.expires.expect("expiry");
        assert_eq!(
            (expires.source, expires.date),
            (Source::RegistryRdap, instant(REGISTRY_EXPIRY)),
            "earliest wins"
        );
        assert!(
            assessment.disagreement.is_some(),
            "registry 2026 vs registrar 2027 is visible"
        );
        assert_eq!(assessment.expiry_dates.len(), 2);
    }

    #[tokio::test]
    async fn http_404_is_not_found_and_whois_is_not_asked() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "missing.test", Duration::from_secs(5)).await;

        assert_eq!(report.exchanges.len(), 1);
        assert_eq!(
            answered(&report.exchanges[0]).outcome,
            ParseOutcome::NotFound
        );
        assert!(registries.registry_whois.journal.queries().is_empty());
        let assessment = assess(&report.sourced_facts(), None, None, now());
        assert!(assessment.not_found);
        assert_eq!(assessment.expires, None);
    }

    #[tokio::test]
    async fn http_429_is_rate_limited_with_retry_after_and_pauses_that_server_only() {
        let registries = TestRegistries::start().await;
        let clients = registries.clients().await;
        let limits = RateLimiters::new(unpaced());

        let report = lookup("busy.test", &clients, &limits, now()).await;
        let rdap = by_source(&report, Source::RegistryRdap);
        assert_eq!(
            failure(rdap[0]),
            &LookupFailure::RateLimited {
                retry_after_secs: Some(120)
            }
        );
        assert_eq!(
            failure(rdap[0]).retry_after(),
            Some(Duration::from_secs(120))
        );
        assert!(failure(rdap[0]).is_retryable());

        let rdap_key = rdap[0].pacing_key.clone();
        let left = limits
            .pause_left(&rdap_key)
            .expect("the RDAP server is paused");
        assert!(
            left > Duration::from_secs(110) && left <= Duration::from_secs(120),
            "{left:?}"
        );
        assert_eq!(
            limits.pause_left(&registries.registry_whois.host_port()),
            None,
            "WHOIS is not paused"
        );

        // WHOIS, another server, still answered in the same lookup.
        let whois = by_source(&report, Source::Whois);
        assert_eq!(answered(whois[0]).outcome, ParseOutcome::Found);

        // The next RDAP request to that server is not sent at all.
        let arrivals_before = registries.rdap.journal.arrivals().len();
        let again = lookup("example.test", &clients, &limits, now()).await;
        assert!(
            matches!(failure(&again.exchanges[0]), LookupFailure::BackingOff { retry_in_secs } if *retry_in_secs > 100)
        );
        assert_eq!(registries.rdap.journal.arrivals().len(), arrivals_before);
    }

    #[tokio::test]
    async fn retry_after_as_an_http_date_is_read_against_the_injected_clock() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "busydate.test", Duration::from_secs(5)).await;
        // now() is 12:00:00, the date says 12:05:00.
        assert_eq!(
            failure(&report.exchanges[0]),
            &LookupFailure::RateLimited {
                retry_after_secs: Some(300)
            }
        );
    }

    #[tokio::test]
    async fn no_expiration_event_is_not_published_and_whois_is_asked() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "noexpiry.test", Duration::from_secs(5)).await;

        let rdap = answered(&report.exchanges[0]);
        assert_eq!(rdap.outcome, ParseOutcome::NotPublished);
        assert_eq!(
            rdap.expires, None,
            "the registrar entity's own event is not the domain's expiry"
        );
        let whois = by_source(&report, Source::Whois);
        assert_eq!(answered(whois[0]).expires, Some(instant(REGISTRY_EXPIRY)));
        let assessment = assess(&report.sourced_facts(), None, None, now());
        assert_eq!(assessment.capability, Capability::WhoisOnly);
    }

    #[tokio::test]
    async fn server_error_is_a_retryable_failure_and_whois_is_asked() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "broken.test", Duration::from_secs(5)).await;
        let rdap = failure(&report.exchanges[0]);
        assert_eq!(rdap, &LookupFailure::HttpStatus { status: 500 });
        assert!(rdap.is_retryable());
        assert_eq!(
            answered(by_source(&report, Source::Whois)[0]).outcome,
            ParseOutcome::Found
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_at_the_configured_timeout() {
        let registries = TestRegistries::start().await;
        let clients = registries.clients().await;
        let limits = RateLimiters::new(unpaced());
        let base = clients
            .bootstrap
            .base_url_for("slow.test")
            .expect("base")
            .clone();
        let started = Instant::now();
        let exchanges = clients
            .rdap
            .lookup("slow.test", &base, &limits, now())
            .await;
        let elapsed = started.elapsed();
        assert_eq!(
            failure(&exchanges[0]),
            &LookupFailure::Timeout { after_ms: 800 }
        );
        assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn an_oversize_body_is_cut_at_the_cap_while_streaming() {
        let registries = TestRegistries::start().await;
        let (report, elapsed) =
            lookup_within(&registries, "huge.test", Duration::from_secs(5)).await;
        assert_eq!(
            failure(&report.exchanges[0]),
            &LookupFailure::TooLarge {
                limit_bytes: 256 * 1024
            }
        );
        assert!(!failure(&report.exchanges[0]).is_retryable());
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn a_redirect_loop_stops_at_max_redirects() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "loop.test", Duration::from_secs(5)).await;
        assert_eq!(
            failure(&report.exchanges[0]),
            &LookupFailure::TooManyRedirects { max: 3 }
        );
        let requests = registries
            .rdap
            .journal
            .queries()
            .iter()
            .filter(|p| p.ends_with("loop.test"))
            .count();
        assert_eq!(requests, 4, "the first request and three redirects");
    }
}

// ---------------------------------------------------------------------------------------------
// WHOIS
// ---------------------------------------------------------------------------------------------

mod whois {
    use super::*;
    use lapse::probe::whois::WhoisClient;

    async fn whois_lookup(registries: &TestRegistries, domain: &str) -> (Vec<Exchange>, Duration) {
        let client = WhoisClient::new(registries.whois_settings()).expect("client");
        let limits = RateLimiters::new(unpaced());
        let started = Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            client.lookup(domain, &limits, now()),
        )
        .await
        .unwrap_or_else(|_| panic!("WHOIS lookup of {domain} hung"));
        (result.exchanges, started.elapsed())
    }

    #[tokio::test]
    async fn normal_reply_is_found_with_expiry_registrar_status_and_nameservers() {
        let registries = TestRegistries::start().await;
        let (exchanges, _) = whois_lookup(&registries, "example.test").await;
        assert_eq!(exchanges.len(), 1);
        assert_eq!(exchanges[0].server, registries.registry_whois.host_port());
        let facts = answered(&exchanges[0]);
        assert_eq!(facts.outcome, ParseOutcome::Found);
        assert_eq!(facts.expires, Some(instant(REGISTRY_EXPIRY)));
        assert_eq!(facts.registrar.as_deref(), Some("Example Registrar, Inc."));
        assert_eq!(facts.status, vec!["clientDeleteProhibited".to_owned()]);
        assert_eq!(
            facts.nameservers,
            vec!["ns1.example.test".to_owned(), "ns2.example.test".to_owned()]
        );
        assert_eq!(
            registries.registry_whois.journal.queries(),
            vec!["example.test".to_owned()]
        );
    }

    #[tokio::test]
    async fn referral_is_followed_to_the_registrar_and_both_replies_are_kept() {
        let registries = TestRegistries::start().await;
        let (exchanges, _) = whois_lookup(&registries, "referral.test").await;
        let servers: Vec<&str> = exchanges.iter().map(|e| e.server.as_str()).collect();
        assert_eq!(
            servers,
            vec![
                registries.registry_whois.host_port(),
                registries.registrar_whois.host_port()
            ]
        );
        assert_eq!(
            answered(&exchanges[0]).expires,
            Some(instant(REGISTRY_EXPIRY))
        );
        assert_eq!(
            answered(&exchanges[1]).expires,
            Some(instant(REGISTRAR_EXPIRY))
        );
        assert_eq!(
            answered(&exchanges[1]).registrar.as_deref(),
            Some("Registrar Of Record LLC")
        );
        // The registrar names itself as referral: that is not followed again.
        assert_eq!(registries.registrar_whois.journal.queries().len(), 1);
    }

    #[tokio::test]
    async fn referrals_stop_at_max_referrals() {
        let registries = TestRegistries::start().await;
        let settings = WhoisSettings {
            max_referrals: 0,
            ..registries.whois_settings()
        };
        let client = WhoisClient::new(settings).expect("client");
        let result = client
            .lookup("referral.test", &RateLimiters::new(unpaced()), now())
            .await;
        assert_eq!(result.exchanges.len(), 1);
        assert!(registries.registrar_whois.journal.queries().is_empty());
    }

    #[tokio::test]
    async fn no_match_is_not_found() {
        let registries = TestRegistries::start().await;
        let (exchanges, _) = whois_lookup(&registries, "missing.test").await;
        assert_eq!(answered(&exchanges[0]).outcome, ParseOutcome::NotFound);
        assert_eq!(answered(&exchanges[0]).expires, None);
    }

    #[tokio::test]
    async fn limit_exceeded_text_is_rate_limited_and_pauses_that_server_only() {
        let registries = TestRegistries::start().await;
        let client = WhoisClient::new(registries.whois_settings()).expect("client");
        let limits = RateLimiters::new(unpaced());
        let result = client.lookup("ratelimited.test", &limits, now()).await;
        assert_eq!(
            failure(&result.exchanges[0]),
            &LookupFailure::RateLimited {
                retry_after_secs: None
            }
        );
        assert!(
            result.exchanges[0].raw.is_some(),
            "the reply is kept for the log"
        );

        let key = registries.registry_whois.host_port();
        assert!(limits
            .pause_left(&key)
            .is_some_and(|d| d > Duration::from_secs(50)));
        assert_eq!(
            limits.pause_left(&registries.registrar_whois.host_port()),
            None
        );
        let again = client.lookup("example.test", &limits, now()).await;
        assert!(matches!(
            failure(&again.exchanges[0]),
            LookupFailure::BackingOff { .. }
        ));
        assert_eq!(
            registries.registry_whois.journal.queries().len(),
            1,
            "nothing sent while paused"
        );
    }

    #[tokio::test]
    async fn a_10_mb_reply_is_cut_at_max_bytes_and_reported() {
        let registries = TestRegistries::start().await;
        let (exchanges, elapsed) = whois_lookup(&registries, "huge.test").await;
        // 10 MB of `x` without a line end: read up to the cap, kept, said to be cut, and with
        // no whole line before the cut it tells nothing (issue 15 item 6).
        let facts = answered(&exchanges[0]);
        assert_eq!(facts.cut_at_bytes, Some(256 * 1024));
        assert_eq!(facts.outcome, ParseOutcome::Unparseable);
        assert_eq!(facts.expires, None);
        assert_eq!(exchanges[0].raw.as_ref().map(Vec::len), Some(256 * 1024));
        assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn a_reply_that_never_ends_ends_at_the_timeout() {
        let registries = TestRegistries::start().await;
        let (exchanges, elapsed) = whois_lookup(&registries, "endless.test").await;
        assert_eq!(
            failure(&exchanges[0]),
            &LookupFailure::Timeout { after_ms: 800 }
        );
        assert!(
            elapsed >= Duration::from_millis(750) && elapsed < Duration::from_millis(1600),
            "took {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn the_deadline_bounds_all_hops_together() {
        let registries = TestRegistries::start().await;
        // The registrar never stops talking; the registry used part of the deadline already.
        let endless = WhoisServer::start(|_: &str| WhoisReply::Endless).await;
        let mut settings = registries.whois_settings();
        settings
            .servers
            .insert("whois.registrar.test".to_owned(), endless.host_port());
        settings.timeout = Duration::from_secs(5);
        settings.deadline = Duration::from_millis(600);
        let client = WhoisClient::new(settings).expect("client");
        let started = Instant::now();
        let result = client
            .lookup("referral.test", &RateLimiters::new(unpaced()), now())
            .await;
        let elapsed = started.elapsed();
        assert_eq!(
            answered(&result.exchanges[0]).outcome,
            ParseOutcome::Found,
            "the registry answer is kept"
        );
        assert!(matches!(
            failure(&result.exchanges[1]),
            LookupFailure::Timeout { .. }
        ));
        assert!(elapsed < Duration::from_millis(1200), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn garbage_bytes_are_unparseable_not_a_failure_and_not_an_expiry() {
        let registries = TestRegistries::start().await;
        let (exchanges, _) = whois_lookup(&registries, "garbage.test").await;
        let facts = answered(&exchanges[0]);
        assert_eq!(facts.outcome, ParseOutcome::Unparseable);
        assert_eq!(facts.expires, None);
        assert_eq!(
            exchanges[0].raw.as_deref(),
            Some(garbage().as_slice()),
            "raw kept for the log"
        );
    }

    #[tokio::test]
    async fn a_connection_reset_is_a_retryable_failure() {
        let registries = TestRegistries::start().await;
        let (exchanges, _) = whois_lookup(&registries, "reset.test").await;
        let failure = failure(&exchanges[0]);
        assert!(
            matches!(failure, LookupFailure::Reset { .. }),
            "{failure:?}"
        );
        assert!(failure.is_retryable());
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure() {
        let registries = TestRegistries::start().await;
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let mut settings = registries.whois_settings();
        settings
            .servers
            .insert("test".to_owned(), format!("127.0.0.1:{port}"));
        let client = WhoisClient::new(settings).expect("client");
        let result = client
            .lookup("example.test", &RateLimiters::new(unpaced()), now())
            .await;
        assert!(matches!(
            failure(&result.exchanges[0]),
            LookupFailure::Connect { .. }
        ));
    }

    #[tokio::test]
    async fn a_tld_missing_from_the_list_is_found_through_iana_once() {
        let registries = TestRegistries::start().await;
        let client = WhoisClient::new(registries.whois_settings()).expect("client");
        let limits = RateLimiters::new(unpaced());
        let first = client.lookup("example.wtest", &limits, now()).await;
        assert_eq!(answered(&first.exchanges[0]).outcome, ParseOutcome::Found);
        let second = client.lookup("other.wtest", &limits, now()).await;
        assert_eq!(answered(&second.exchanges[0]).outcome, ParseOutcome::Found);
        assert_eq!(
            registries.iana.journal.queries(),
            vec!["wtest".to_owned()],
            "IANA asked once per TLD"
        );
    }

    #[tokio::test]
    async fn a_tld_iana_lists_no_server_for_asks_nobody() {
        let registries = TestRegistries::start().await;
        let client = WhoisClient::new(registries.whois_settings()).expect("client");
        let result = client
            .lookup("example.nowhois", &RateLimiters::new(unpaced()), now())
            .await;
        assert!(result.no_server);
        assert!(result.exchanges.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// RDAP first, WHOIS fallback
// ---------------------------------------------------------------------------------------------

mod fallback {
    use super::*;

    #[tokio::test]
    async fn a_tld_without_rdap_is_looked_up_in_whois() {
        let registries = TestRegistries::start().await;
        let (report, _) = lookup_within(&registries, "example.wtest", Duration::from_secs(5)).await;
        assert_eq!(report.rdap_base, None);
        assert!(
            report.notes.iter().any(|n| n.contains("no RDAP server")),
            "{:?}",
            report.notes
        );
        let sources: Vec<Source> = report.exchanges.iter().map(|e| e.source).collect();
        assert_eq!(sources, vec![Source::Whois]);
        let assessment = assess(&report.sourced_facts(), None, None, now());
        assert_eq!(assessment.capability, Capability::WhoisOnly);
        assert_eq!(assessment.expires.map(|d| d.source), Some(Source::Whois));
    }

    #[tokio::test]
    async fn when_every_source_fails_the_assessment_is_stale_and_keeps_the_last_expiry() {
        let registries = TestRegistries::start().await;
        let (good, _) = lookup_within(&registries, "example.test", Duration::from_secs(5)).await;
        let before = assess(&good.sourced_facts(), None, None, now());

        // RDAP times out and WHOIS resets: nothing answered.
        let mut whois = registries.whois_settings();
        let reset = WhoisServer::start(|_: &str| WhoisReply::Reset).await;
        whois.servers.insert("test".to_owned(), reset.host_port());
        let clients = clients(registries.rdap_settings(), whois).await;
        let report = lookup("slow.test", &clients, &RateLimiters::new(unpaced()), now()).await;
        assert!(report.sourced_facts().is_empty(), "{report:#?}");
        assert_eq!(report.failures().count(), 2);

        let later = now() + chrono::TimeDelta::days(2);
        let after = assess(&report.sourced_facts(), None, Some(&before), later);
        assert!(after.stale);
        assert_eq!(
            after.expires, before.expires,
            "last known expiry kept, none invented"
        );
        assert_eq!(after.days_without_fresh_data(later), Some(2));
    }
}

// ---------------------------------------------------------------------------------------------
// Pacing, seen from the servers
// ---------------------------------------------------------------------------------------------

mod pacing {
    use super::*;

    /// Two WHOIS-only TLDs on two servers: `.slow` paced at 5 per second (burst 1), `.fast` at the
    /// default of 1000 per second.
    async fn two_servers(
        slow_limit: ServerLimit,
    ) -> (
        WhoisServer,
        WhoisServer,
        lapse::probe::whois::WhoisClient,
        RateLimiters,
    ) {
        let slow = WhoisServer::start(|q: &str| {
            WhoisReply::Text(registry_whois_reply(q, REGISTRY_EXPIRY, None))
        })
        .await;
        let fast = WhoisServer::start(|q: &str| {
            WhoisReply::Text(registry_whois_reply(q, REGISTRY_EXPIRY, None))
        })
        .await;
        let settings = WhoisSettings {
            servers: HashMap::from([
                ("slow".to_owned(), slow.host_port()),
                ("fast".to_owned(), fast.host_port()),
            ]),
            timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(3),
            ..WhoisSettings::default()
        };
        let client = lapse::probe::whois::WhoisClient::new(settings).expect("client");
        let limits = RateLimiters::new(RateLimitSettings {
            default: ServerLimit {
                per_second: 1000.0,
                burst: 100,
                max_concurrent: 16,
            },
            overrides: HashMap::from([(slow.host_port(), slow_limit)]),
            ..RateLimitSettings::default()
        });
        (slow, fast, client, limits)
    }

    #[tokio::test]
    async fn a_quota_of_5_per_second_holds_at_the_server_while_another_server_is_not_slowed() {
        let (slow, fast, client, limits) = two_servers(ServerLimit {
            per_second: 5.0,
            burst: 1,
            max_concurrent: 8,
        })
        .await;
        let started = Instant::now();
        let lookups = (0..8).flat_map(|i| [format!("d{i}.slow"), format!("d{i}.fast")]);
        let results = futures::future::join_all(lookups.map(|d| {
            let (client, limits) = (&client, &limits);
            async move { client.lookup(&d, limits, now()).await }
        }))
        .await;
        assert!(results
            .iter()
            .all(|r| r.exchanges.len() == 1 && r.exchanges[0].facts().is_some()));

        let slow_arrivals: Vec<Instant> = slow.journal.arrivals().iter().map(|a| a.at).collect();
        assert_eq!(slow_arrivals.len(), 8);
        // Eight requests at 5 per second with a burst of 1 span at least 7 x 200 ms.
        let span = slow_arrivals[7] - slow_arrivals[0];
        assert!(
            span >= Duration::from_millis(1300),
            "eight requests within {span:?}"
        );
        // In any one second the server sees at most burst + rate = 6 requests.
        for (i, first) in slow_arrivals.iter().enumerate() {
            let within = slow_arrivals[i..]
                .iter()
                .filter(|t| **t - *first < Duration::from_secs(1))
                .count();
            assert!(within <= 6, "{within} requests within one second");
        }

        let fast_arrivals: Vec<Instant> = fast.journal.arrivals().iter().map(|a| a.at).collect();
        assert_eq!(fast_arrivals.len(), 8);
        let fast_done = *fast_arrivals.iter().max().expect("fast arrivals") - started;
        assert!(
            fast_done < Duration::from_millis(600),
            "the other server waited {fast_done:?}"
        );
    }

    #[tokio::test]
    async fn the_concurrency_cap_bounds_requests_in_flight_per_server() {
        let held = WhoisServer::start(|q: &str| WhoisReply::Slow {
            delay: Duration::from_millis(200),
            text: registry_whois_reply(q, REGISTRY_EXPIRY, None),
        })
        .await;
        let settings = WhoisSettings {
            servers: HashMap::from([("held".to_owned(), held.host_port())]),
            timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(3),
            ..WhoisSettings::default()
        };
        let client = lapse::probe::whois::WhoisClient::new(settings).expect("client");
        let limits = RateLimiters::new(RateLimitSettings {
            default: ServerLimit {
                per_second: 1000.0,
                burst: 100,
                max_concurrent: 2,
            },
            ..RateLimitSettings::default()
        });
        let started = Instant::now();
        let results = futures::future::join_all((0..6).map(|i| {
            let (client, limits) = (&client, &limits);
            async move { client.lookup(&format!("d{i}.held"), limits, now()).await }
        }))
        .await;
        assert!(results.iter().all(|r| r.exchanges[0].facts().is_some()));
        assert_eq!(
            held.journal.max_in_flight(),
            2,
            "two at a time, and the cap was used"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(590),
            "three rounds of 200 ms"
        );
    }

    #[tokio::test]
    async fn rdap_requests_are_paced_per_server_too() {
        let registries = TestRegistries::start().await;
        let clients = registries.clients().await;
        let rdap_key = format!("{}", registries.rdap.addr);
        let limits = RateLimiters::new(RateLimitSettings {
            overrides: HashMap::from([(
                rdap_key,
                ServerLimit {
                    per_second: 10.0,
                    burst: 1,
                    max_concurrent: 4,
                },
            )]),
            ..unpaced()
        });
        let results = futures::future::join_all((0..4).map(|i| {
            let (clients, limits) = (&clients, &limits);
            async move { lookup(&format!("d{i}.test"), clients, limits, now()).await }
        }))
        .await;
        assert!(results
            .iter()
            .all(|r| matches!(r.exchanges[0].outcome, ExchangeOutcome::Answered(_))));
        let arrivals: Vec<Instant> = registries
            .rdap
            .journal
            .arrivals()
            .iter()
            .filter(|a| a.query.starts_with("/rdap/domain/"))
            .map(|a| a.at)
            .collect();
        assert_eq!(arrivals.len(), 4);
        let span = arrivals[3] - arrivals[0];
        assert!(
            span >= Duration::from_millis(250),
            "four requests at 10/s within {span:?}"
        );
    }
}
