//! Status problems arrive within minutes (issue 14 item 6): a first
//! observation of a worrying registration status (redemptionPeriod,
//! pendingDelete, a hold, not found) is confirmed by a recheck within
//! minutes, paced like any lookup, then alerted once; the confirming lookup
//! does not wait for the next daily check. Loopback RDAP registry, the real
//! engine under the test clock, mail in memory.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lapse::store::ScanScope;

use crate::harness::app::TestApp;
use crate::harness::pki::TestPki;
use crate::harness::registry::{rdap_behaviour, rdap_domain, HttpReply, RdapServer};
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};

/// A registry answering `redemption period` for `lapsed.test`, and a lab
/// watching that domain's registration for client Acme.
async fn lab_with_lapsed_domain() -> (TestApp, RdapServer) {
    let pki = TestPki::new();
    let expires = lapse::store::format_time(pki.now + Duration::days(300));
    let rdap = RdapServer::start(move |path, own| match path.strip_prefix("/rdap/domain/") {
        Some(name) => {
            let body = rdap_domain(name, Some(&expires), None);
            let body = if name == "lapsed.test" {
                body.replace("\"client delete prohibited\"", "\"redemption period\"")
            } else {
                body
            };
            HttpReply::json(200, body)
        }
        None => rdap_behaviour(path, own),
    })
    .await;
    let config = format!(
        "[rdap]\nbootstrap_url = \"{}\"\n\n[ratelimit]\nper_second = 1000.0\nburst = 100\n\n\
         [alerts]\nstaff = [\"{STAFF}\"]\n",
        rdap.url("/bootstrap.json"),
    );
    let lab = TestApp::builder()
        .pki(pki)
        .client(CLIENT, &CONTACTS)
        .memory_mail()
        .config(&config)
        .build()
        .await;
    lab.add_registration_only("lapsed.test", CLIENT).await;
    (lab, rdap)
}

/// When the domain's registration is due for its next lookup.
async fn next_lookup_at(lab: &TestApp) -> DateTime<Utc> {
    let pool = lab.pool().await;
    let at: String = sqlx::query_scalar(
        "SELECT next_registration_check_at FROM domains WHERE name = 'lapsed.test'",
    )
    .fetch_one(&pool)
    .await
    .expect("domain");
    pool.close().await;
    lapse::store::parse_time(&at).expect("time")
}

/// The due-work run `serve` makes between full scans, at `now`.
async fn run_due(lab: &TestApp, now: DateTime<Utc>) {
    lab.clock.set(now);
    let engine = lapse::app::build_engine(
        &lab.app,
        Arc::new(lab.clock.clone()),
        lapse::app::Alerting::On,
    )
    .await
    .expect("engine");
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let outcome = engine
        .run(&ScanScope::Due, stop, None)
        .await
        .expect("due run");
    assert!(!outcome.interrupted, "{outcome:?}");
}

async fn subjects(lab: &TestApp) -> Vec<String> {
    lab.outbox()
        .await
        .into_iter()
        .filter(|m| m.channel == "email" && m.recipient != STAFF)
        .map(|m| m.subject)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemption_period_is_confirmed_within_minutes_then_alerted_once() {
    let (lab, _rdap) = lab_with_lapsed_domain().await;
    let start = lab.now();

    lab.scan(start).await;
    assert!(
        subjects(&lab).await.is_empty(),
        "one observation is not an alert"
    );
    let due = next_lookup_at(&lab).await;
    assert!(
        due <= start + Duration::minutes(10),
        "a first redemptionPeriod is confirmed within minutes, not at {due} (scan at {start})"
    );

    run_due(&lab, due).await;
    let after_recheck = subjects(&lab).await;
    assert_eq!(after_recheck.len(), 1, "{after_recheck:?}");
    assert!(
        after_recheck[0].contains("lapsed.test"),
        "{after_recheck:?}"
    );
    // Confirmed and alerted: back to the ordinary pace.
    let next = next_lookup_at(&lab).await;
    assert!(next >= due + Duration::hours(1), "{next} after {due}");

    // Later lookups still see the status: no second alert.
    run_due(&lab, due + Duration::minutes(5)).await;
    lab.scan(next).await;
    run_due(&lab, next + Duration::minutes(5)).await;
    assert_eq!(subjects(&lab).await, after_recheck);
}
