//! Registries that push back, on loopback (issue 15, "Registries" and item 6): a WHOIS reply
//! over `whois.max_bytes` is read up to the cap and said to be cut; a partial last line never
//! becomes a date or a "no match".

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::harness::cli::TestEnv;
use crate::harness::registry::*;
use lapse::probe::registration::Exchange;
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
