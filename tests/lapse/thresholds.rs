//! Thresholds mean what staff set (issue 14 item 2), end to end: the real
//! scan engine under the test clock, loopback TLS sites, mail in memory.
//! Explicit thresholds (per client, per domain, or `[alerts]
//! certificate_days` set in the config file) fire exactly as configured;
//! the lifetime rule ("late only when less than a third of the lifetime is
//! left") adapts only the built-in default thresholds to short-lived
//! certificates.

use chrono::Duration;
use lapse::domain::alert_policy::Thresholds;
use lapse::store::{ThresholdKind, ThresholdOwner};

use crate::harness::app::TestApp;
use crate::harness::pki::Validity;
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};

async fn lab(extra: &str) -> TestApp {
    TestApp::builder()
        .client(CLIENT, &CONTACTS)
        .rdap()
        .memory_mail()
        .config(&format!("[alerts]\nstaff = [\"{STAFF}\"]\n{extra}"))
        .build()
        .await
}

/// Serves a leaf for `host` valid from `issued_hours` to `left_hours`
/// around now, scans once and returns the subjects of the mail sent.
async fn first_scan(
    lab: &mut TestApp,
    host: &str,
    issued_hours: i64,
    left_hours: i64,
) -> Vec<String> {
    let leaf = lab.pki.leaf(
        &[host],
        Validity::around(
            lab.now(),
            Duration::hours(issued_hours),
            Duration::hours(left_hours),
        ),
    );
    lab.site(host, &leaf).await;
    let before = lab.mailbox().sent().len();
    lab.scan(lab.now()).await;
    lab.deliver(lab.now()).await;
    // What the client receives (staff get their own copy of each).
    lab.mailbox()
        .sent()
        .split_off(before)
        .into_iter()
        .filter(|m| !m.to.iter().any(|to| to == STAFF))
        .map(|m| m.subject)
        .collect()
}

const DAY: i64 = 24;

/// Whole hours that keep an expiry on the same calendar day (UTC) as now.
fn hours(lab: &TestApp) -> i64 {
    crate::harness::pki::within_the_day(lab.now()).num_hours()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_thresholds_fire_as_set_on_a_90_day_certificate() {
    let mut lab = lab("").await;
    lab.store
        .set_thresholds(
            &ThresholdOwner::Client(CLIENT.to_owned()),
            ThresholdKind::Certificate,
            Thresholds::new(vec![45, 21, 7, 1, 0]).as_ref(),
        )
        .await
        .expect("thresholds");
    // A 90-day certificate with 40 days (and a few hours) left.
    let extra = hours(&lab);
    let sent = first_scan(&mut lab, "shop.lapse.test", -50 * DAY, 40 * DAY + extra).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("expires in 40 days"), "{sent:?}");
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].events, vec!["threshold:45"]);
    // A second scan the same day sends nothing more (one client mail and
    // staff's own copy so far).
    lab.scan(lab.later(1)).await;
    lab.deliver(lab.later(1)).await;
    assert_eq!(lab.mailbox().sent().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_set_in_the_config_file_fire_as_set_too() {
    let mut lab = lab("certificate_days = [45, 21, 7, 1, 0]\n").await;
    let extra = hours(&lab);
    let sent = first_scan(&mut lab, "shop.lapse.test", -50 * DAY, 40 * DAY + extra).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("expires in 40 days"), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_thresholds_follow_a_6_day_certificates_lifetime() {
    let mut lab = lab("").await;
    // 4 of 6 days left: on schedule, quiet.
    let sent = first_scan(&mut lab, "four.lapse.test", -2 * DAY, 4 * DAY).await;
    assert_eq!(sent, Vec::<String>::new());
    // 1.5 of 6 days left: late, one mail.
    let sent = first_scan(&mut lab, "late.lapse.test", -(4 * DAY + 12), DAY + 12).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with("Certificate for late.lapse.test"),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_thresholds_follow_a_47_day_certificates_lifetime() {
    let mut lab = lab("").await;
    // 20 of 47 days left: quiet (the 30-day default does not apply).
    let sent = first_scan(&mut lab, "twenty.lapse.test", -27 * DAY, 20 * DAY).await;
    assert_eq!(sent, Vec::<String>::new());
    // 14 of 47 days left: less than a third, one mail.
    let sent = first_scan(&mut lab, "late.lapse.test", -33 * DAY, 14 * DAY).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with("Certificate for late.lapse.test"),
        "{sent:?}"
    );
}
