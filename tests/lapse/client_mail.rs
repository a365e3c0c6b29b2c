//! Who hears what (issue 14 item 4), end to end on loopback: the real scan
//! engine under the test clock, a loopback RDAP registry, mail kept in
//! memory or received by a real SMTP sink. Clients hear of their own
//! expiries and registration problems, in words for a non-technical reader,
//! from the agency; lapse's own trouble (a lookup that keeps failing) is
//! staff's alone; staff mail keeps the technical details and the command.

use chrono::{DateTime, Utc};
use lapse::notify::email::OutgoingEmail;

use crate::harness::app::TestApp;
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::pki::TestPki;
use crate::harness::registry::{rdap_behaviour, HttpReply, RdapServer};
use crate::harness::sites::{smtp_config, CLIENT, CONTACTS, STAFF};
use crate::harness::smtp::{Received, SmtpSink};

const AGENCY: &str = "\n[agency]\nname = \"Northwind Web\"\nreply_to = \"help@northwind.test\"\n\
                      footer = \"Northwind Web, 1 Harbour Road\"\n";

async fn scan_and_deliver(lab: &TestApp, at: DateTime<Utc>) -> Vec<OutgoingEmail> {
    let before = lab.mailbox().sent().len();
    lab.scan(at).await;
    lab.deliver(at).await;
    lab.mailbox().sent().split_off(before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_lookup_that_keeps_failing_reaches_staff_and_not_the_client() {
    let pki = TestPki::new();
    // The registry is down for `down.test`: every lookup fails.
    let rdap = RdapServer::start(|path, own| match path {
        "/rdap/domain/down.test" => HttpReply::json(503, r#"{"errorCode": 503}"#.to_owned()),
        _ => rdap_behaviour(path, own),
    })
    .await;
    let dns = DnsServer::start(Zone::new()).await;
    let config = format!(
        "[rdap]\nbootstrap_url = \"{}\"\n\n[ratelimit]\nper_second = 1000.0\nburst = 100\n\n\
         [dns]\nnameservers = [\"{}\"]\n\n[alerts]\nstaff = [\"{STAFF}\"]\n\
         registration_stale_days = 1\n{AGENCY}",
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
    lab.add_registration_only("down.test", CLIENT).await;

    let mut mail = Vec::new();
    for hours in [0, 26, 27, 50] {
        mail.extend(scan_and_deliver(&lab, lab.later(hours)).await);
    }
    let stale: Vec<&OutgoingEmail> = mail
        .iter()
        .filter(|m| {
            m.subject
                .starts_with("No fresh registration data for down.test")
        })
        .collect();
    assert_eq!(
        stale.len(),
        1,
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    // Staff alone, with the command that answers it.
    assert_eq!(stale[0].to, vec![STAFF]);
    assert!(stale[0].cc.is_empty(), "{:?}", stale[0].cc);
    assert!(
        stale[0].reply_to.is_none(),
        "staff mail: no agency reply-to"
    );
    assert!(
        stale[0].text.contains("lapse domains set-expiry down.test"),
        "{}",
        stale[0].text
    );
    // Nothing at all reached the client's contacts.
    for message in &mail {
        for contact in CONTACTS {
            assert!(
                !message.to.iter().chain(&message.cc).any(|a| a == contact),
                "{contact} got {:?}",
                message.subject
            );
        }
    }
    drop((rdap, dns));
}

fn parts(received: &Received) -> [String; 2] {
    [
        received.part("text/plain").expect("text part"),
        received.part("text/html").expect("html part"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_expiry_mail_comes_from_the_agency_in_plain_words_and_staff_get_the_details() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), AGENCY)).await;
    let leaf = lab.leaf("shop.lapse.test", -80, 10);
    lab.site("shop.lapse.test", &leaf).await;
    let scanned = lab.scan(lab.now()).await;
    let report = lab.deliver(lab.now()).await;
    let mail = sink.wait_for(2).await;
    // Said in full when it fails: the scan, the delivery and every mail's
    // recipients and subject (a failure seen once in CI left no message).
    let seen = format!(
        "scan {scanned:?}; delivery {report:?}; mail {:?}",
        mail.iter()
            .map(|m| (m.header("To"), m.subject()))
            .collect::<Vec<_>>()
    );
    assert_eq!(report.sent.len(), 2, "{seen}");
    assert_eq!(mail.len(), 2, "{seen}");
    let date = leaf.validity.not_after.format("%Y-%m-%d").to_string();

    let client = mail
        .iter()
        .find(|m| m.header("To").as_deref() == Some(&CONTACTS.join(", ")))
        .expect("a mail to the client's contacts");
    assert_eq!(
        client.header("Reply-To").as_deref(),
        Some("help@northwind.test")
    );
    assert!(client.header("Cc").is_none(), "staff get their own mail");
    assert!(client.subject().contains(&date), "{}", client.subject());
    for body in parts(client) {
        assert!(body.contains("Northwind Web"), "the agency's name: {body}");
        assert!(body.contains("1 Harbour Road"), "the footer: {body}");
        assert!(body.contains(&date), "{body}");
        assert!(
            body.contains("help@northwind.test"),
            "who to contact: {body}"
        );
        assert!(body.contains("If nothing is done"), "{body}");
        for technical in [
            ":443",
            "127.0.0.1",
            "CN=",
            "renewal job",
            "lapse check",
            "Acme",
        ] {
            assert!(
                !body.contains(technical),
                "`{technical}` in client mail: {body}"
            );
        }
    }

    let staff = mail
        .iter()
        .find(|m| m.header("To").as_deref() == Some(STAFF))
        .expect("a mail to staff");
    assert!(staff.header("Reply-To").is_none());
    assert!(staff.subject().contains(&date), "{}", staff.subject());
    let port = lab.sites[0].port;
    for body in parts(staff) {
        assert!(
            body.contains("Client: ") && body.contains("Acme"),
            "the client named: {body}"
        );
        assert!(body.contains("127.0.0.1"), "the address: {body}");
        assert!(body.contains("CN="), "the certificate's names: {body}");
        assert!(
            body.contains(&format!("lapse check shop.lapse.test:{port}")),
            "the command: {body}"
        );
    }
}
