//! Repeat until renewed (issue 18 item 4): in the last N days, one reminder
//! a day, each saying how many came before, until the alert resolves; set
//! per domain or per client. The clock moves day by day (two evaluations
//! a day), mail in memory.

use chrono::Duration;
use lapse::domain::names::HostName;
use lapse::store::ThresholdOwner;

use crate::alert_handling::{Fleet, GLOBEX, GLOBEX_CONTACT};
use crate::harness::sites::CONTACTS;

#[tokio::test]
async fn repeat_until_renewed_sends_one_reminder_a_day_and_stops_at_renewal() {
    let fleet = Fleet::new().await;
    fleet.repeat("acme.test", 3).await;
    let seen = fleet.days(40..=48, CONTACTS[0]).await;
    let days: Vec<i64> = seen.iter().map(|(d, _)| *d).collect();
    // 7 days left on day 40 (threshold), reminders from 3 days left
    // (days 44, 45), 1 day left on day 46 (threshold), expired on day 47,
    // a reminder on day 48: one message a day at most.
    assert_eq!(days, vec![40, 44, 45, 46, 47, 48], "{seen:?}");
    let reminders: Vec<&String> = seen
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.starts_with("Reminder: "))
        .collect();
    assert_eq!(reminders.len(), 3, "{seen:?}");
    assert!(reminders[2].contains("expired"), "{seen:?}");
    // Each says how many were sent before.
    let texts: Vec<String> = fleet
        .lab
        .mailbox()
        .sent()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == CONTACTS[0]) && m.subject.starts_with("Reminder: "))
        .map(|m| m.text.clone())
        .collect();
    assert!(
        texts[0].contains("about this 1 time(s) before"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("about this 2 time(s) before"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("about this 5 time(s) before"),
        "{}",
        texts[2]
    );

    // Renewed: one "renewed" message, then nothing more.
    let renewed = (fleet.start + Duration::days(400)).date_naive();
    fleet
        .lab
        .store
        .set_manual_expiry(
            &HostName::from_canonical("acme.test"),
            renewed,
            None,
            fleet.at(48, 8),
        )
        .await
        .expect("renew");
    let after = fleet.days(49..=52, CONTACTS[0]).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].1.contains("renewed"), "{after:?}");
}

#[tokio::test]
async fn a_clients_repeat_setting_applies_to_its_domains() {
    let fleet = Fleet::new().await;
    fleet
        .lab
        .store
        .set_repeat_days(&ThresholdOwner::Client(GLOBEX.into()), Some(2))
        .await
        .expect("repeat");
    // Globex: 7 days left on day 83, 2 left on day 88 (reminder), 1 on 89.
    let seen = fleet.days(83..=89, GLOBEX_CONTACT).await;
    let days: Vec<i64> = seen.iter().map(|(d, _)| *d).collect();
    assert_eq!(days, vec![83, 88, 89], "{seen:?}");
    // Acme repeats nothing (no setting): its 7-day threshold, then quiet.
    let acme = fleet.days(40..=45, CONTACTS[0]).await;
    assert_eq!(acme.len(), 1, "{acme:?}");
}
