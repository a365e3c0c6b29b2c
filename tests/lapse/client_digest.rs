//! Per-client digests (issue 14 item 5), end to end on loopback: the real
//! scan engine under the test clock, mail kept in memory, the delivery
//! settings made with `lapse clients set`. A client on a weekly digest gets
//! one digest of what is not urgent, at its hour and weekday in its time
//! zone, once; an expiry within a day goes at once.

use chrono::{Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use lapse::notify::email::OutgoingEmail;

use crate::harness::app::TestApp;
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};

fn to_client(mail: &[OutgoingEmail]) -> Vec<OutgoingEmail> {
    mail.iter().filter(|m| m.to == CONTACTS).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_a_weekly_digest_gets_one_digest_and_an_expiry_within_a_day_at_once() {
    let mut lab = TestApp::builder()
        .client(CLIENT, &CONTACTS)
        .rdap()
        .memory_mail()
        .config(&format!(
            "[alerts]\nstaff = [\"{STAFF}\"]\n\n[agency]\nname = \"Northwind Web\"\n\
             reply_to = \"help@northwind.test\"\n"
        ))
        .build()
        .await;
    // Weekly, Mondays or whichever day is two days from now, 09:00 in Berlin.
    let berlin: Tz = "Europe/Berlin".parse().expect("tz");
    let day = lab.now().with_timezone(&berlin).date_naive() + Duration::days(2);
    let weekday = format!("{:?}", day.weekday()).to_ascii_lowercase();
    let run = lab.env.run(&[
        "clients",
        "set",
        CLIENT,
        "--delivery",
        "weekly",
        "--hour",
        "9",
        "--weekday",
        &weekday,
        "--timezone",
        "Europe/Berlin",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("weekly"), "{}", run.stdout);
    let slot = berlin
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("9:00")))
        .single()
        .expect("09:00 exists")
        .with_timezone(&Utc);

    let twenty = lab.leaf("slow.lapse.test", -80, 20);
    let hours = lab.leaf("soon.lapse.test", -89, 0);
    lab.site("slow.lapse.test", &twenty).await;
    lab.site("soon.lapse.test", &hours).await;
    let slow = lab.sites[0].name();
    let soon = lab.sites[1].name();

    // The scan: the expiry within a day goes to the client at once; the
    // 20-day one waits for the digest. Staff hear of both at once.
    lab.scan(lab.now()).await;
    lab.deliver(lab.now()).await;
    let sent = lab.mailbox().sent();
    let client = to_client(&sent);
    assert_eq!(
        client.len(),
        1,
        "{:?}",
        sent.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(client[0].subject.contains(&soon), "{}", client[0].subject);
    assert_eq!(sent.iter().filter(|m| m.to == [STAFF]).count(), 2);

    let settings = lab.settings();
    let tz = lab.app.config.schedule.timezone;
    let digests = |at| lapse::monitor::digest::send_client_digests(&lab.store, &settings, tz, at);
    // Nothing before the client's weekday and hour.
    for at in [lab.now(), lab.later(1), slot - Duration::minutes(1)] {
        assert!(digests(at).await.expect("digests").is_empty(), "{at}");
    }
    // At 09:00 Berlin on that day: one digest, once.
    let queued = digests(slot + Duration::minutes(1)).await.expect("digests");
    assert_eq!(queued.len(), 1);
    assert!(queued[0].starts_with("client-digest."), "{}", queued[0]);
    for at in [slot + Duration::minutes(2), slot + Duration::days(1)] {
        assert!(digests(at).await.expect("digests").is_empty(), "once: {at}");
    }
    lab.deliver(slot + Duration::minutes(1)).await;
    let sent = lab.mailbox().sent();
    let client = to_client(&sent);
    assert_eq!(client.len(), 2);
    let digest = &client[1];
    assert_eq!(digest.message_id, queued[0]);
    assert_eq!(digest.reply_to.as_deref(), Some("help@northwind.test"));
    assert!(
        digest.subject.starts_with("Northwind Web: 1 reminder"),
        "{}",
        digest.subject
    );
    assert!(digest.text.contains(&slow), "{}", digest.text);
    assert!(
        !digest.text.contains(&soon),
        "sent at once already: {}",
        digest.text
    );
    // A scan after that: the certificate that had hours left has expired,
    // which goes at once; the 20-day one says nothing more.
    lab.scan(slot + Duration::hours(1)).await;
    lab.deliver(slot + Duration::hours(1)).await;
    let client = to_client(&lab.mailbox().sent());
    assert_eq!(client.len(), 3);
    assert!(
        client[2]
            .subject
            .starts_with(&format!("Certificate for {soon} expired")),
        "{}",
        client[2].subject
    );
    assert!(digests(slot + Duration::hours(2))
        .await
        .expect("digests")
        .is_empty());
}
