//! Runbooks (issue 18 item 5): per domain, each field defaulting to the
//! client's; staff mail carries it, client mail never does (it carries the
//! agency's contact instead).

use lapse::domain::alert_handling::Runbook;
use lapse::domain::names::HostName;
use lapse::store::ThresholdOwner;

use crate::alert_handling::{Fleet, GLOBEX_CONTACT};
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};

#[tokio::test]
async fn runbook_text_is_in_staff_mail_and_not_in_client_mail() {
    let fleet = Fleet::new().await;
    let store = &fleet.lab.store;
    store
        .set_runbook(
            &ThresholdOwner::Client(CLIENT.into()),
            &Runbook {
                account: Some("Gandi, account acme-web".into()),
                renewer: Some("agency ops".into()),
                howto: Some("ask Acme's CFO".into()),
            },
        )
        .await
        .expect("client runbook");
    store
        .set_runbook(
            &ThresholdOwner::Domain(HostName::from_canonical("acme.test")),
            &Runbook {
                howto: Some("renew for 2 years, card on file".into()),
                ..Runbook::default()
            },
        )
        .await
        .expect("domain runbook");
    // Acme's 30-day threshold (day 17), Globex's (day 60).
    let mut mail = fleet.run(fleet.at(17, 0)).await;
    mail.extend(fleet.run(fleet.at(60, 0)).await);
    let find = |to: &str, subject: &str| {
        mail.iter()
            .find(|m| m.to.iter().any(|t| t == to) && m.subject.contains(subject))
            .unwrap_or_else(|| panic!("no mail to {to} about {subject}"))
    };
    let staff = find(STAFF, "acme.test");
    for line in [
        "Runbook:",
        "- Account: Gandi, account acme-web",
        "- Who renews: agency ops",
        "- How: renew for 2 years, card on file",
    ] {
        assert!(staff.text.contains(line), "{line}: {}", staff.text);
    }
    assert!(
        staff
            .html
            .as_deref()
            .is_some_and(|h| h.contains("Gandi, account acme-web")),
        "{:?}",
        staff.html
    );
    let client = find(CONTACTS[0], "acme.test");
    for text in [client.text.as_str(), client.html.as_deref().unwrap_or("")] {
        assert!(!text.contains("Gandi"), "{text}");
        assert!(!text.contains("card on file"), "{text}");
        assert!(text.contains("help@agency.test"), "{text}");
    }
    // Globex has no runbook: none shown.
    let globex_staff = find(STAFF, "globex.test");
    assert!(
        !globex_staff.text.contains("Runbook"),
        "{}",
        globex_staff.text
    );
    let globex = find(GLOBEX_CONTACT, "globex.test");
    assert!(globex.text.contains("Web Agency"), "{}", globex.text);
}
