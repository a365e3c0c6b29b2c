//! Issue 15 item 12: consecutive failures are counted per check, not per
//! second of wall clock.
//!
//! A failure streak remembers the check it counted last, so that the same
//! check evaluated again (the end of a scan, `lapse alerts evaluate`, a
//! retried evaluation) is not counted twice. That check used to be named
//! by its time, in whole seconds: two checks made within one second (two
//! scans, or two processes) looked like one and counted once. Here two
//! failing checks within the same second count two, and re-evaluating
//! either of them counts nothing.

use lapse::domain::registration::{assess, Assessment};
use lapse::monitor::alerts::{evaluate_domain, evaluate_endpoint, FailureMode};

use crate::harness::app::TestApp;
use crate::harness::cli::db_count;
use crate::harness::sites::{CLIENT, CONTACTS};

async fn number(lab: &TestApp, sql: &str) -> i64 {
    db_count(&lab.env, sql).await
}

async fn firing(lab: &TestApp, kind: &str) -> i64 {
    number(
        lab,
        &format!("SELECT COUNT(*) FROM alerts WHERE kind = '{kind}' AND state = 'firing'"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_failed_certificate_checks_within_one_second_count_two() {
    // `failures_before_alert` is 2 by default.
    let mut lab = TestApp::lab("").await;
    let leaf = lab.leaf("down.lapse.test", -30, 300);
    let site = lab.site("down.lapse.test", &leaf).await;
    // Reached once, so its failures are counted for the client.
    lab.scan(lab.now()).await;
    lab.take_down(site).await;
    let endpoint = lab.sites[site].endpoint_id;
    let streak = format!("SELECT cert_failures FROM endpoints WHERE id = {endpoint}");
    let settings = lab.settings();
    let reevaluate =
        |at| evaluate_endpoint(&lab.store, &settings, endpoint, FailureMode::Immediate, at);

    let at = lab.later(1);
    lab.scan(at).await;
    assert_eq!(number(&lab, &streak).await, 1);
    assert_eq!(firing(&lab, "cert_check_failure").await, 0);
    // The same check again: not counted twice.
    reevaluate(at).await.expect("evaluate");
    assert_eq!(number(&lab, &streak).await, 1);

    // Another check, within the same second: counted.
    lab.scan(at).await;
    assert_eq!(number(&lab, &streak).await, 2, "two checks, two failures");
    assert_eq!(firing(&lab, "cert_check_failure").await, 1);
    reevaluate(at).await.expect("evaluate");
    assert_eq!(number(&lab, &streak).await, 2);

    // Back up within that second too: the passing check resets the streak.
    lab.serve(site, &leaf).await;
    lab.scan(at).await;
    assert_eq!(number(&lab, &streak).await, 0);
    assert_eq!(firing(&lab, "cert_check_failure").await, 0);
}

#[tokio::test]
async fn two_failed_registration_lookups_within_one_second_count_two() {
    let lab = TestApp::builder().client(CLIENT, &CONTACTS).build().await;
    let at = lab.now();
    lapse::inventory::add_target(
        &lab.store,
        &lab.app.config.names.policy(),
        443,
        "gone.test",
        &lapse::inventory::AddOptions {
            client: Some(CLIENT.to_owned()),
            ..Default::default()
        },
        at,
    )
    .await
    .expect("add domain");
    let domain = number(&lab, "SELECT id FROM domains WHERE name = 'gone.test'").await;
    let streak = format!("SELECT registration_failures FROM domains WHERE id = {domain}");
    let settings = lab.settings();
    // What the registration checker records when the registry says the
    // domain does not exist.
    let not_found = Assessment {
        not_found: true,
        stale: false,
        confirmed_at: Some(at),
        ..assess(&[], None, None, at)
    };
    for lookup in 1..=2 {
        lab.store
            .record_registration(
                domain,
                &[],
                &not_found,
                None,
                at + chrono::Duration::days(1),
                at,
            )
            .await
            .expect("record lookup");
        // Evaluated twice, as a scan's batch and its end both may.
        for _ in 0..2 {
            evaluate_domain(&lab.store, &settings, domain, FailureMode::Immediate, at)
                .await
                .expect("evaluate");
            assert_eq!(number(&lab, &streak).await, lookup, "after lookup {lookup}");
        }
    }
    assert_eq!(firing(&lab, "registration_problem").await, 1);
}
