//! A registration whose registry publishes no expiry, end to end on
//! loopback (the real scan engine under the test clock, loopback RDAP and
//! WHOIS servers that describe the domain without a date, mail kept in
//! memory): staff, and never the client, are asked once to enter the date
//! by hand, with the command; the alert ends without a message once a date
//! is known (entered, or published at last) or once the registration is no
//! longer watched. In digest mode the digest names the domain once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lapse::domain::fleet::Watch;
use lapse::domain::names::HostName;
use lapse::notify::email::OutgoingEmail;
use lapse::store::AlertListing;

use crate::harness::app::TestApp;
use crate::harness::registry::{
    iana_behaviour, rdap_behaviour, rdap_domain, HttpReply, RdapServer, WhoisReply, WhoisServer,
};
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};

/// The command every notice about `parked.test` must give.
const COMMAND: &str = "lapse domains set-expiry parked.test YYYY-MM-DD";

/// A lab whose `.test` registry describes every domain without an expiry
/// (RDAP without an expiration event, WHOIS without an expiry line) until
/// `publishing` is set, then publishes one two years away; client Acme
/// with [`CONTACTS`], staff [`STAFF`], mail in memory.
struct Registry {
    lab: TestApp,
    rdap: RdapServer,
    publishing: Arc<AtomicBool>,
    whois: WhoisServer,
    _iana: WhoisServer,
}

async fn registry(alerts: &str) -> Registry {
    let lab_now = crate::harness::pki::TestPki::new();
    let later = lapse::store::format_time(lab_now.now + Duration::days(730));
    let publishing = Arc::new(AtomicBool::new(false));
    let rdap = RdapServer::start({
        let publishing = publishing.clone();
        move |path, own| match path.strip_prefix("/rdap/domain/") {
            Some(name) => {
                let expires = publishing.load(Ordering::SeqCst).then_some(later.as_str());
                HttpReply::json(200, rdap_domain(name, expires, None))
            }
            None => rdap_behaviour(path, own),
        }
    })
    .await;
    let whois = WhoisServer::start(|query: &str| {
        WhoisReply::Text(format!(
            "Domain Name: {}\r\nRegistrar: Example Registrar, Inc.\r\n\
             Creation Date: 1995-08-14T04:00:00Z\r\nName Server: NS1.EXAMPLE.TEST\r\n",
            query.to_uppercase()
        ))
    })
    .await;
    let iana = WhoisServer::start(iana_behaviour).await;
    let config = format!(
        "[rdap]\nbootstrap_url = \"{}\"\n\n[ratelimit]\nper_second = 1000.0\nburst = 100\n\n\
         [whois]\niana_server = \"{}\"\n\n[whois.servers]\ntest = \"{}\"\n\n\
         [alerts]\nstaff = [\"{STAFF}\"]\n{alerts}\n",
        rdap.url("/bootstrap.json"),
        iana.host_port(),
        whois.host_port(),
    );
    let lab = TestApp::builder()
        .pki(lab_now)
        .client(CLIENT, &CONTACTS)
        .memory_mail()
        .config(&config)
        .build()
        .await;
    Registry {
        lab,
        rdap,
        publishing,
        whois,
        _iana: iana,
    }
}

/// `lapse domains add DOMAIN --client Acme --registration-only`: Acme owns
/// the registration.
async fn add_registration(lab: &TestApp, domain: &str) {
    lab.add_registration_only(domain, CLIENT).await;
}

/// Scans at `at` and delivers what it queued; returns the mail sent.
async fn scan_and_deliver(lab: &TestApp, at: DateTime<Utc>) -> Vec<OutgoingEmail> {
    let before = lab.mailbox().sent().len();
    lab.scan(at).await;
    lab.deliver(at).await;
    lab.mailbox().sent().split_off(before)
}

/// How many registration lookups of `domain` the RDAP server answered.
fn lookups(rdap: &RdapServer, domain: &str) -> usize {
    let path = format!("/rdap/domain/{domain}");
    rdap.journal
        .queries()
        .iter()
        .filter(|q| **q == path)
        .count()
}

async fn needs_date_alerts(lab: &TestApp) -> Vec<AlertListing> {
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    alerts
        .into_iter()
        .filter(|a| a.kind == "registration_needs_date")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_alone_are_asked_once_for_a_date_nobody_publishes_and_the_alert_ends_quietly_once_entered(
) {
    let Registry {
        lab,
        rdap,
        whois,
        _iana,
        ..
    } = registry("").await;
    add_registration(&lab, "parked.test").await;

    // The first lookup finds the domain described, without a date: one
    // mail, to staff alone, with the command; Acme (the registration's
    // owner) hears nothing.
    let mail = scan_and_deliver(&lab, lab.now()).await;
    assert_eq!(lookups(&rdap, "parked.test"), 1);
    assert_eq!(
        whois.journal.queries(),
        vec!["parked.test"],
        "WHOIS asked too"
    );
    assert_eq!(mail.len(), 1, "{mail:?}");
    let asked = &mail[0];
    assert_eq!(
        asked.subject,
        "Domain parked.test needs its registration expiry entered by hand"
    );
    assert_eq!(asked.to, vec![STAFF]);
    assert!(asked.cc.is_empty(), "{:?}", asked.cc);
    for body in [&asked.text, asked.html.as_ref().expect("html")] {
        assert!(body.contains(COMMAND), "{body}");
        assert!(body.contains("publishes no expiry date"), "{body}");
        assert!(body.contains("the client was not told"), "{body}");
    }
    assert!(asked.text.contains("Client: Acme"), "{}", asked.text);
    let alerts = needs_date_alerts(&lab).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (alerts[0].state.as_str(), alerts[0].events.clone()),
        ("firing", vec!["needs_date".to_owned()])
    );

    // A week on the registration is looked up again: still no date, no
    // second mail.
    let mail = scan_and_deliver(&lab, lab.later(24 * 8)).await;
    assert_eq!(lookups(&rdap, "parked.test"), 2, "looked up again");
    assert!(mail.is_empty(), "{mail:?}");

    // `lapse domains set-expiry parked.test ...`: the next lookup keeps the
    // date, the alert ends and nobody is mailed; the date is far away.
    let date = (lab.now() + Duration::days(300)).date_naive();
    lab.store
        .set_manual_expiry(
            &HostName::from_canonical("parked.test"),
            date,
            None,
            lab.later(24 * 9),
        )
        .await
        .expect("manual date");
    let mail = scan_and_deliver(&lab, lab.later(24 * 16)).await;
    assert_eq!(lookups(&rdap, "parked.test"), 3, "looked up again");
    assert!(mail.is_empty(), "{mail:?}");
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    assert_eq!(alerts.len(), 1, "no other alert: {alerts:?}");
    assert_eq!(alerts[0].kind, "registration_needs_date");
    assert_eq!(
        (alerts[0].state.as_str(), alerts[0].events.clone()),
        ("resolved", vec!["needs_date".to_owned()]),
        "resolved without a notice"
    );
    assert!(lab.outbox().await.iter().all(|m| m.recipient == STAFF));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_ends_quietly_when_the_registry_publishes_a_date_or_the_registration_is_no_longer_watched(
) {
    let Registry {
        lab,
        rdap,
        publishing,
        whois: _whois,
        _iana,
    } = registry("").await;
    add_registration(&lab, "parked.test").await;
    add_registration(&lab, "shop.test").await;
    let mail = scan_and_deliver(&lab, lab.now()).await;
    let mut subjects: Vec<&str> = mail.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        vec![
            "Domain parked.test needs its registration expiry entered by hand",
            "Domain shop.test needs its registration expiry entered by hand",
        ]
    );
    assert!(mail.iter().all(|m| m.to == [STAFF]), "{mail:?}");

    // `lapse domains watch shop.test tls`: its registration is none of
    // lapse's business any more; the alert ends at once, without mail.
    lab.store
        .set_watch(
            &HostName::from_canonical("shop.test"),
            Watch::Tls,
            lab.later(1),
        )
        .await
        .expect("watch");
    // The registry starts publishing: parked.test's next lookup finds the
    // date (two years away), its alert ends, nobody is mailed.
    publishing.store(true, Ordering::SeqCst);
    let mail = scan_and_deliver(&lab, lab.later(24 * 8)).await;
    assert_eq!(lookups(&rdap, "parked.test"), 2, "looked up again");
    assert_eq!(lookups(&rdap, "shop.test"), 1, "no longer looked up");
    assert!(mail.is_empty(), "{mail:?}");
    let alerts = needs_date_alerts(&lab).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    for alert in &alerts {
        assert_eq!(
            (alert.state.as_str(), alert.events.clone()),
            ("resolved", vec!["needs_date".to_owned()]),
            "{alert:?}"
        );
    }
    // `lapse alerts evaluate` (every subject) reopens nothing.
    let settings = lab.settings();
    let evaluated = lapse::monitor::alerts::evaluate_all(&lab.store, &settings, lab.later(24 * 8))
        .await
        .expect("evaluate");
    assert!(evaluated.opened.is_empty(), "{evaluated:?}");
    assert!(evaluated.queued.is_empty(), "{evaluated:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_digest_mode_the_digest_names_a_registration_needing_a_date_once_with_the_command() {
    // Every server is kept: one dropped would fail the lookups.
    let Registry {
        lab,
        rdap: _rdap,
        whois: _whois,
        _iana,
        ..
    } = registry("staff_delivery = \"digest\"").await;
    add_registration(&lab, "parked.test").await;
    // The alert opens; staff read about it in the digest, not in a mail now.
    let mail = scan_and_deliver(&lab, lab.now()).await;
    assert!(mail.is_empty(), "{mail:?}");
    assert_eq!(needs_date_alerts(&lab).await.len(), 1);

    let settings = lab.settings();
    let digest = |due: DateTime<Utc>| {
        let (lab, settings) = (&lab, &settings);
        async move {
            let before = lab.mailbox().sent().len();
            lapse::monitor::digest::send_digest(&lab.store, settings, due, due)
                .await
                .expect("digest")
                .expect("a new digest");
            lab.deliver(due).await;
            let mut sent = lab.mailbox().sent().split_off(before);
            assert_eq!(sent.len(), 1, "one digest at {due}");
            sent.remove(0)
        }
    };
    let naming = |mail: &OutgoingEmail| -> Vec<String> {
        mail.text
            .lines()
            .filter(|line| line.contains("parked.test"))
            .map(str::to_owned)
            .collect()
    };

    // The first digest carries the alert's own line, and the list of dates
    // to enter leaves the domain out: named once, with the command.
    let first = digest(lab.later(1)).await;
    assert_eq!(first.to, vec![STAFF]);
    assert_eq!(first.subject, "lapse digest: 1 alert event");
    let lines = naming(&first);
    assert_eq!(lines.len(), 1, "{}", first.text);
    assert_eq!(
        lines[0],
        format!(
            "- Domain parked.test needs its registration expiry entered by hand; \
             enter it with `{COMMAND}`"
        )
    );
    assert!(
        !first.text.contains("Registration dates to enter"),
        "{}",
        first.text
    );

    // The next digest has no alert event for it, and reminds staff once in
    // the list of dates to enter, until the date is set.
    let second = digest(lab.later(25)).await;
    assert_eq!(
        second.subject,
        "lapse digest: 0 alert events, 1 registration date to enter"
    );
    let lines = naming(&second);
    assert_eq!(lines.len(), 1, "{}", second.text);
    assert!(lines[0].contains(COMMAND), "{}", second.text);
    assert_eq!(needs_date_alerts(&lab).await[0].events, vec!["needs_date"]);
}
