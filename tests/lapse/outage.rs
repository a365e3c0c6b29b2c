//! The outage rule sees only lapse's own trouble (issue 14 item 1), end to
//! end on loopback: the real scan engine under the test clock, a loopback
//! registry and DNS server, mail kept in the outbox.
//!
//! - Targets' own answers (NXDOMAIN, refused, bad certificates) never hold
//!   anyone's alerts: four parked domains and two bad certificates send the
//!   two certificate alerts after `alerts.failures_before_alert` checks.
//! - The resolver timing out (the canary's name does not resolve) is lapse's
//!   outage: one operator alert, failure alerts held until the canary
//!   answers again, then the held alerts go out.
//! - A hold never lasts past `alerts.outage_max_hold_hours`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use lapse::domain::names::HostName;
use lapse::inventory::AddOptions;

use crate::harness::app::TestApp;
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::{self_signed_leaf, TestPki, Validity};
use crate::harness::registry::{registered_until, RdapServer};
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};
use crate::harness::tls::TlsServer;

const OPERATOR: &str = "noc@agency.test";
const OUTAGE: &str = "lapse: ";

struct Lab {
    lab: TestApp,
    dns: DnsServer,
    _rdap: RdapServer,
    _canary: TlsServer,
}

/// The zone of a working resolver: the canary and `dns.lapse.test` resolve
/// to 127.0.0.1, every other name is NXDOMAIN.
fn working() -> Zone {
    Zone::new()
        .host("canary.lapse.test", &[ip("127.0.0.1")])
        .host("dns.lapse.test", &[ip("127.0.0.1")])
}

/// A resolver that times out: no answer for any name lapse asks about.
fn timing_out() -> Zone {
    Zone::new()
        .silent("canary.lapse.test")
        .silent("dns.lapse.test")
}

/// A lab on a loopback resolver and registry, client Acme, staff and an
/// operator; `canary` adds `alerts.canaries` (a TLS server resolved through
/// that resolver); `extra` is more `[alerts]` lines.
async fn lab(canary: bool, extra: &str) -> Lab {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&["canary.lapse.test"]);
    let canary_server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let rdap = registered_until(pki.now + chrono::Duration::days(730)).await;
    let dns = DnsServer::start(working()).await;
    let canaries = if canary {
        format!(
            "canaries = [\"canary.lapse.test:{}\"]\n",
            canary_server.addr.port()
        )
    } else {
        String::new()
    };
    let config = format!(
        "[rdap]\nbootstrap_url = \"{}\"\n\n[ratelimit]\nper_second = 1000.0\nburst = 100\n\n\
         [dns]\nnameservers = [\"{}\"]\n\n\
         [alerts]\nstaff = [\"{STAFF}\"]\noperator = [\"{OPERATOR}\"]\n{canaries}{extra}",
        rdap.url("/bootstrap.json"),
        dns.addr
    );
    let lab = TestApp::builder()
        .pki(pki)
        .client(CLIENT, &CONTACTS)
        .memory_mail()
        .config(&config)
        .build()
        .await;
    Lab {
        lab,
        dns,
        _rdap: rdap,
        _canary: canary_server,
    }
}

/// `lapse domains add INPUT --client Acme`.
async fn add(lab: &TestApp, input: &str) {
    lapse::inventory::add_target(
        &lab.store,
        &lab.app.config.names.policy(),
        443,
        input,
        &AddOptions {
            client: Some(CLIENT.to_owned()),
            ..AddOptions::default()
        },
        lab.now(),
    )
    .await
    .expect("add");
}

/// A site served on loopback and found through the resolver (not pinned).
async fn site_through_dns(lab: &mut TestApp, host: &str) -> usize {
    let leaf = lab.pki.good_leaf(&[host]);
    let site = lab.site(host, &leaf).await;
    let port = lab.sites[site].port;
    lab.store
        .pin_endpoint(&HostName::from_canonical(host), port, None::<IpAddr>)
        .await
        .expect("unpin");
    site
}

/// Every email queued so far: (recipient, subject), oldest first.
async fn emails(lab: &TestApp) -> Vec<(String, String)> {
    let mut queued = lab.outbox().await;
    queued.sort_by_key(|m| m.id);
    queued
        .into_iter()
        .filter(|m| m.channel == "email")
        .map(|m| (m.recipient, m.subject))
        .collect()
}

/// A full scan at `at`: the subjects of the emails it queued, sorted.
async fn scan(lab: &TestApp, at: DateTime<Utc>) -> Vec<String> {
    let before = emails(lab).await.len();
    lab.scan(at).await;
    let mut subjects: Vec<String> = emails(lab)
        .await
        .split_off(before)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    subjects.sort();
    subjects.dedup();
    subjects
}

fn failing(lab: &TestApp, site: usize) -> String {
    format!("Certificate check failing for {}", lab.sites[site].name())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_domains_never_hold_the_alerts_of_two_bad_certificates() {
    let Lab {
        mut lab,
        dns: _dns,
        _rdap,
        _canary,
    } = lab(false, "").await;
    // Four parked domains: their names do not exist (NXDOMAIN).
    for parked in [
        "parked1.test",
        "parked2.test",
        "parked3.test",
        "parked4.test",
    ] {
        add(&lab, parked).await;
    }
    let selfsigned = self_signed_leaf(
        &["selfsigned.lapse.test"],
        Validity::days(lab.pki.now, -30, 300),
    );
    let selfsigned = lab.site("selfsigned.lapse.test", &selfsigned).await;
    let wrong = lab.leaf("elsewhere.lapse.test", -30, 300);
    let wronghost = lab.site("wronghost.lapse.test", &wrong).await;

    let first = scan(&lab, lab.now()).await;
    assert!(
        !first
            .iter()
            .any(|s| s.contains(&lab.sites[selfsigned].name())),
        "one failed check is not an alert yet: {first:?}"
    );
    // `alerts.failures_before_alert` (2) checks: both alerts go out.
    let second = scan(&lab, lab.later(24)).await;
    for site in [selfsigned, wronghost] {
        assert!(
            second.iter().any(|s| s.starts_with(&failing(&lab, site))),
            "{} alerts on the second check: {second:?}",
            lab.sites[site].name()
        );
    }
    let all = emails(&lab).await;
    assert!(
        !all.iter().any(|(_, s)| s.starts_with(OUTAGE)),
        "the targets' own answers are no outage of lapse: {all:?}"
    );
    // A failing check is staff's to fix (issue 14 item 4): both alerts went
    // to staff, once each.
    let to_staff: Vec<_> = all
        .iter()
        .filter(|(to, s)| to.contains(STAFF) && s.starts_with("Certificate check failing"))
        .collect();
    assert_eq!(to_staff.len(), 2, "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_timing_out_holds_failure_alerts_with_one_operator_alert_until_it_is_back() {
    let Lab {
        mut lab,
        dns,
        _rdap,
        _canary,
    } = lab(true, "").await;
    let resolved = site_through_dns(&mut lab, "dns.lapse.test").await;
    let leaf = lab.leaf("down.lapse.test", -30, 300);
    let down = lab.site("down.lapse.test", &leaf).await;
    let good = scan(&lab, lab.now()).await;
    assert!(good.is_empty(), "a good night first: {good:?}");

    // The resolver stops answering, and one site really goes down.
    dns.set_zone(timing_out());
    lab.take_down(down).await;
    let first = scan(&lab, lab.later(1)).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with(OUTAGE), "{first:?}");
    let operator: Vec<_> = emails(&lab)
        .await
        .into_iter()
        .filter(|(_, s)| s.starts_with(OUTAGE))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(operator, vec![OPERATOR.to_owned()]);
    // Still out the next night: enough failed checks, but held; and no
    // second operator alert.
    assert_eq!(scan(&lab, lab.later(25)).await, Vec::<String>::new());

    // The resolver is back: the hold ends, the down site's alert goes out,
    // the site found through DNS passes again (never alerted).
    dns.set_zone(working());
    let back = scan(&lab, lab.later(49)).await;
    assert_eq!(
        back,
        vec![
            failing(&lab, down) + ": 127.0.0.1: connection refused",
            "lapse: checks are working again".to_owned(),
        ],
    );
    assert!(!back.iter().any(|s| s.contains(&lab.sites[resolved].name())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_never_lasts_past_the_configured_maximum() {
    let Lab {
        mut lab,
        dns,
        _rdap,
        _canary,
    } = lab(true, "outage_max_hold_hours = 30\n").await;
    let leaf = lab.leaf("down.lapse.test", -30, 300);
    let down = lab.site("down.lapse.test", &leaf).await;
    let good = scan(&lab, lab.now()).await;
    assert!(good.is_empty(), "a good night first: {good:?}");

    dns.set_zone(timing_out());
    lab.take_down(down).await;
    let first = scan(&lab, lab.later(1)).await;
    assert!(
        first.len() == 1 && first[0].starts_with(OUTAGE),
        "{first:?}"
    );
    assert_eq!(scan(&lab, lab.later(25)).await, Vec::<String>::new());
    // 48 hours into the outage, past the 30-hour maximum: the held alert
    // goes out although the resolver is still down; the operator is not
    // told again.
    let late = scan(&lab, lab.later(49)).await;
    assert_eq!(
        late,
        vec![failing(&lab, down) + ": 127.0.0.1: connection refused"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_canaries_the_resolver_failing_for_most_checks_is_the_outage() {
    let Lab {
        mut lab,
        dns,
        _rdap,
        _canary,
    } = lab(false, "").await;
    let hosts = ["s1", "s2", "s3", "s4", "s5"].map(|s| format!("{s}.lapse.test"));
    let zone = |servfail: bool| {
        hosts.iter().fold(Zone::new(), |zone, host| {
            if servfail {
                zone.servfail(host)
            } else {
                zone.host(host, &[ip("127.0.0.1")])
            }
        })
    };
    dns.set_zone(zone(false));
    for host in &hosts {
        site_through_dns(&mut lab, host).await;
    }
    let good = scan(&lab, lab.now()).await;
    assert!(good.is_empty(), "a good night first: {good:?}");

    // The resolver answers SERVFAIL for every name: lapse's own path.
    dns.set_zone(zone(true));
    let first = scan(&lab, lab.later(1)).await;
    assert_eq!(
        first,
        vec!["lapse: 5 of 5 checks failed at once; per-domain alerts held".to_owned()]
    );
    assert_eq!(scan(&lab, lab.later(25)).await, Vec::<String>::new());

    dns.set_zone(zone(false));
    assert_eq!(
        scan(&lab, lab.later(49)).await,
        vec!["lapse: checks are working again".to_owned()]
    );
}
