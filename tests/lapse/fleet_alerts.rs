//! Who hears of what under the fleet model, end to end on loopback (the real
//! scan engine under the test clock, a loopback RDAP registry and DNS, mail
//! kept in memory): certificate mail goes to the endpoint's client,
//! registration mail to the registration's owner, a domain's watch mode
//! silences what it leaves out, and an endpoint never reached is staff's
//! business ("is there a TLS service here?"), not the client's.

use chrono::{DateTime, Duration, Utc};
use lapse::domain::fleet::{OwnerKind, Watch};
use lapse::domain::names::HostName;
use lapse::inventory::AddOptions;
use lapse::notify::email::OutgoingEmail;
use lapse::store::{ThresholdKind, ThresholdOwner};

use crate::harness::app::TestApp;
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::pki::TestPki;
use crate::harness::registry::{rdap_behaviour, rdap_domain, HttpReply, RdapServer};
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};

/// A lab whose registry says each of `expiring` (domain, days) expires that
/// many days (and 12 hours) from now, every other `.test` domain in two
/// years; whose DNS knows no name (NXDOMAIN); client Acme with
/// [`CONTACTS`], staff [`STAFF`] in copy, mail in memory.
struct Fleet {
    lab: TestApp,
    _rdap: RdapServer,
    _dns: DnsServer,
}

async fn fleet(expiring: &[(&str, i64)]) -> Fleet {
    let pki = TestPki::new();
    let now = pki.now;
    let dates: Vec<(String, String)> = expiring
        .iter()
        .map(|(name, days)| {
            let at = now + Duration::days(*days) + crate::harness::pki::within_the_day(now);
            ((*name).to_owned(), lapse::store::format_time(at))
        })
        .collect();
    let later = lapse::store::format_time(now + Duration::days(730));
    let rdap = RdapServer::start(move |path, own| match path.strip_prefix("/rdap/domain/") {
        Some(name) => {
            let expires = dates
                .iter()
                .find(|(domain, _)| domain == name)
                .map_or(later.as_str(), |(_, at)| at.as_str());
            HttpReply::json(200, rdap_domain(name, Some(expires), None))
        }
        None => rdap_behaviour(path, own),
    })
    .await;
    let dns = DnsServer::start(Zone::new()).await;
    let config = format!(
        "[rdap]\nbootstrap_url = \"{}\"\n\n[ratelimit]\nper_second = 1000.0\nburst = 100\n\n\
         [dns]\nnameservers = [\"{}\"]\n\n[alerts]\nstaff = [\"{STAFF}\"]\n",
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
    Fleet {
        lab,
        _rdap: rdap,
        _dns: dns,
    }
}

async fn add_client(lab: &TestApp, name: &str, contact: &str) {
    lab.store
        .add_client(name, &[contact.to_owned()], lab.now())
        .await
        .expect("client");
}

/// `lapse domains add INPUT --client CLIENT [--watch WATCH]`.
async fn add(lab: &TestApp, input: &str, client: &str, watch: Option<Watch>) {
    lapse::inventory::add_target(
        &lab.store,
        &lab.app.config.names.policy(),
        443,
        input,
        &AddOptions {
            client: Some(client.to_owned()),
            watch,
            ..AddOptions::default()
        },
        lab.now(),
    )
    .await
    .expect("add");
}

/// `lapse domains owner DOMAIN client CLIENT`.
async fn own_registration(lab: &TestApp, domain: &str, client: &str) {
    lab.store
        .set_registration_owner(
            &HostName::from_canonical(domain),
            OwnerKind::Client,
            Some(client),
        )
        .await
        .expect("owner");
}

/// `lapse domains endpoint HOST:PORT --client CLIENT`.
async fn give_endpoint(lab: &TestApp, host: &str, port: u16, client: &str) {
    lab.store
        .set_endpoint_client(&HostName::from_canonical(host), port, Some(client))
        .await
        .expect("endpoint client");
}

/// `lapse domains watch DOMAIN WATCH`.
async fn set_watch(lab: &TestApp, domain: &str, watch: Watch) {
    lab.store
        .set_watch(&HostName::from_canonical(domain), watch, lab.now())
        .await
        .expect("watch");
}

async fn first_handshake_at(lab: &TestApp, endpoint_id: i64) -> Option<String> {
    let pool = lab.pool().await;
    let at = sqlx::query_scalar("SELECT first_handshake_at FROM endpoints WHERE id = $1")
        .bind(endpoint_id)
        .fetch_one(&pool)
        .await
        .expect("endpoint");
    pool.close().await;
    at
}

/// Scans at `at` and delivers what it queued; returns the mail sent.
async fn scan_and_deliver(lab: &TestApp, at: DateTime<Utc>) -> Vec<OutgoingEmail> {
    let before = lab.mailbox().sent().len();
    lab.scan(at).await;
    lab.deliver(at).await;
    lab.mailbox().sent().split_off(before)
}

/// The mail to clients, apart from staff's own mail of the same events.
fn to_clients(mail: &[OutgoingEmail]) -> Vec<OutgoingEmail> {
    mail.iter().filter(|m| m.to != [STAFF]).cloned().collect()
}

/// Staff's own mail.
fn to_staff(mail: &[OutgoingEmail]) -> Vec<OutgoingEmail> {
    mail.iter().filter(|m| m.to == [STAFF]).cloned().collect()
}

fn subjects(mail: &[OutgoingEmail]) -> Vec<String> {
    let mut subjects: Vec<String> = mail.iter().map(|m| m.subject.clone()).collect();
    subjects.sort();
    subjects
}

fn find<'a>(mail: &'a [OutgoingEmail], subject_start: &str) -> &'a OutgoingEmail {
    mail.iter()
        .find(|m| m.subject.starts_with(subject_start))
        .unwrap_or_else(|| panic!("no mail `{subject_start}...` in {:?}", subjects(mail)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_registration_only_domain_sends_no_certificate_mail_and_its_owner_hears_of_the_expiry(
) {
    let Fleet { lab, _rdap, _dns } = fleet(&[("parked.test", 20), ("idle.test", 25)]).await;
    add_client(&lab, "Parker", "owner@parked.test").await;
    // `domains add parked.test --registration-only`: no endpoint at all.
    add(&lab, "parked.test", "Parker", Some(Watch::Registration)).await;
    // `domains add idle.test`, then `domains watch idle.test registration`:
    // its endpoint (a name nothing answers for: NXDOMAIN) is kept, unchecked.
    add(&lab, "idle.test", "Parker", None).await;
    set_watch(&lab, "idle.test", Watch::Registration).await;

    let mut mail = Vec::new();
    for hours in [0, 1, 2] {
        mail.extend(scan_and_deliver(&lab, lab.later(hours)).await);
    }
    let date = |days: i64| (lab.pki.now + Duration::days(days)).format("%Y-%m-%d");
    // Staff get their own mail of each, naming the client.
    let staff = to_staff(&mail);
    assert_eq!(subjects(&staff), subjects(&to_clients(&mail)));
    for message in &staff {
        assert!(message.text.contains("Client: Parker"), "{}", message.text);
    }
    let mail = to_clients(&mail);
    assert_eq!(
        subjects(&mail),
        vec![
            format!(
                "Domain idle.test registration expires in 25 days ({})",
                date(25)
            ),
            format!(
                "Domain parked.test registration expires in 20 days ({})",
                date(20)
            ),
        ]
    );
    for message in &mail {
        assert_eq!(message.to, vec!["owner@parked.test"]);
        assert!(message.cc.is_empty(), "{:?}", message.cc);
        assert!(!message.text.contains("Parker"), "{}", message.text);
    }
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    assert!(
        alerts.iter().all(|a| a.kind == "registration_expiry"),
        "{alerts:?}"
    );
    let idle = lab
        .store
        .endpoint_id(&HostName::from_canonical("idle.test"), 443)
        .await
        .expect("the endpoint is kept");
    assert_eq!(first_handshake_at(&lab, idle).await, None);
    assert!(
        lab.store
            .cert_observations(idle, false)
            .await
            .expect("observations")
            .is_empty(),
        "not checked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_reachable_alert_ends_without_mail_when_the_domain_becomes_registration_only() {
    let Fleet { lab, _rdap, _dns } = fleet(&[]).await;
    add(&lab, "parked.test", CLIENT, None).await;

    // Watched as today: after two checks answered NXDOMAIN, staff are asked
    // whether a TLS service belongs here; Acme hears nothing.
    let mut mail = scan_and_deliver(&lab, lab.later(0)).await;
    mail.extend(scan_and_deliver(&lab, lab.later(1)).await);
    assert_eq!(
        subjects(&mail),
        vec!["parked.test never reachable: is there a TLS service here?"]
    );
    assert_eq!(mail[0].to, vec![STAFF]);
    assert!(mail[0].cc.is_empty(), "{:?}", mail[0].cc);
    let text = &mail[0].text;
    assert!(text.contains("NXDOMAIN"), "{text}");
    assert!(
        text.contains("lapse domains watch parked.test registration"),
        "{text}"
    );

    // Done as the notice says: the alert ends, and nobody is mailed about it.
    set_watch(&lab, "parked.test", Watch::Registration).await;
    let mut mail = Vec::new();
    for hours in [2, 3, 4] {
        mail.extend(scan_and_deliver(&lab, lab.later(hours)).await);
    }
    assert!(mail.is_empty(), "{:?}", subjects(&mail));
    // `lapse alerts evaluate` (every subject, watched or not) says nothing either.
    let settings = lab.settings();
    let evaluated = lapse::monitor::alerts::evaluate_all(&lab.store, &settings, lab.later(4))
        .await
        .expect("evaluate");
    assert!(evaluated.queued.is_empty(), "{evaluated:?}");
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].kind, "cert_check_failure");
    assert_eq!(alerts[0].state, "resolved");
    assert_eq!(
        alerts[0].events,
        vec!["failing"],
        "resolved without a notice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_only_domain_sends_no_registration_mail_and_its_firing_registration_alert_ends_quietly(
) {
    let Fleet {
        mut lab,
        _rdap,
        _dns,
    } = fleet(&[("lapse.test", 20)]).await;
    let leaf = lab.leaf("www.lapse.test", -30, 300);
    lab.site("www.lapse.test", &leaf).await;
    let all = scan_and_deliver(&lab, lab.later(0)).await;
    assert_eq!(to_staff(&all).len(), 1, "{:?}", subjects(&all));
    let mail = to_clients(&all);
    assert_eq!(mail.len(), 1, "{:?}", subjects(&all));
    assert!(mail[0]
        .subject
        .starts_with("Domain lapse.test registration expires in 20 days"));

    set_watch(&lab, "lapse.test", Watch::Tls).await;
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (alerts[0].state.as_str(), alerts[0].events.clone()),
        ("resolved", vec!["threshold:30".to_owned()])
    );
    // A week on, days before the 14-day threshold, checks run and say nothing.
    let mut mail = Vec::new();
    for days in [7, 8, 9] {
        mail.extend(scan_and_deliver(&lab, lab.later(24 * days)).await);
    }
    assert!(mail.is_empty(), "{:?}", subjects(&mail));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_under_one_domain_each_hear_of_their_own_endpoints_and_the_owner_of_the_registration(
) {
    let Fleet {
        mut lab,
        _rdap,
        _dns,
    } = fleet(&[("shared.test", 20)]).await;
    add_client(&lab, "Globex", "it@globex.test").await;
    add_client(&lab, "Holding", "domains@holding.test").await;
    // Acme's endpoint expires in 40 days, past the default 30-day threshold
    // but inside Acme's own 45; Globex's in 10 days.
    let a = lab.leaf("a.shared.test", -200, 40);
    let b = lab.leaf("b.shared.test", -80, 10);
    let site_a = lab.site("a.shared.test", &a).await;
    let site_b = lab.site("b.shared.test", &b).await;
    give_endpoint(&lab, "b.shared.test", lab.sites[site_b].port, "Globex").await;
    own_registration(&lab, "shared.test", "Holding").await;
    // Thresholds follow the same owners: Acme's certificate days apply to
    // its endpoint; its registration days (10, which would keep quiet at 20
    // days left) do not apply to a registration Holding owns.
    for (kind, days) in [
        (ThresholdKind::Certificate, 45),
        (ThresholdKind::Registration, 10),
    ] {
        lab.store
            .set_thresholds(
                &ThresholdOwner::Client(CLIENT.to_owned()),
                kind,
                lapse::domain::alert_policy::Thresholds::new(vec![days]).as_ref(),
            )
            .await
            .expect("thresholds");
    }

    let all = scan_and_deliver(&lab, lab.now()).await;
    // Staff's own mail of each names the client.
    let staff = to_staff(&all);
    assert_eq!(staff.len(), 3, "{:?}", subjects(&all));
    for client in ["Acme", "Globex", "Holding"] {
        assert!(
            staff
                .iter()
                .any(|m| m.text.contains(&format!("Client: {client}"))),
            "{client}"
        );
    }
    let mail = to_clients(&all);
    assert_eq!(mail.len(), 3, "{:?}", subjects(&all));
    let to_acme = find(
        &mail,
        &format!(
            "Certificate for {} expires in 40 days",
            lab.sites[site_a].name()
        ),
    );
    assert_eq!(to_acme.to, CONTACTS.to_vec());
    assert!(to_acme.cc.is_empty(), "{:?}", to_acme.cc);
    assert!(!to_acme.text.contains("Acme"), "{}", to_acme.text);
    let to_globex = find(
        &mail,
        &format!(
            "Certificate for {} expires in 10 days",
            lab.sites[site_b].name()
        ),
    );
    assert_eq!(to_globex.to, vec!["it@globex.test"]);
    assert!(!to_globex.text.contains("Globex"), "{}", to_globex.text);
    let to_holding = find(&mail, "Domain shared.test registration expires in 20 days");
    assert_eq!(to_holding.to, vec!["domains@holding.test"]);
    assert!(!to_holding.text.contains("Holding"), "{}", to_holding.text);
    // Nobody else's contacts anywhere.
    for message in &mail {
        let everyone = [message.to.clone(), message.cc.clone()].concat();
        let clients = everyone.iter().filter(|r| *r != STAFF).count();
        assert_eq!(
            clients,
            message.to.len(),
            "{}: {everyone:?}",
            message.subject
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_never_reached_is_told_to_staff_and_its_client_hears_once_it_has_answered() {
    let Fleet {
        mut lab,
        _rdap,
        _dns,
    } = fleet(&[]).await;
    let leaf = lab.leaf("new.lapse.test", -30, 300);
    let site = lab.site("new.lapse.test", &leaf).await;
    let endpoint = lab.sites[site].endpoint_id;
    let name = lab.sites[site].name();
    lab.take_down(site).await;

    // Refused twice and never reached: staff alone, once.
    let mut mail = Vec::new();
    for hours in [0, 1, 2] {
        mail.extend(scan_and_deliver(&lab, lab.later(hours)).await);
    }
    assert_eq!(
        subjects(&mail),
        vec![format!(
            "{name} never reachable: is there a TLS service here?"
        )]
    );
    assert_eq!(
        (mail[0].to.clone(), mail[0].cc.len()),
        (vec![STAFF.to_owned()], 0)
    );
    for part in [&mail[0].text, mail[0].html.as_ref().expect("html")] {
        assert!(part.contains("127.0.0.1: connection refused"), "{part}");
        assert!(
            part.contains("lapse domains watch lapse.test registration"),
            "{part}"
        );
    }
    assert!(mail[0].text.contains("Client: Acme"), "{}", mail[0].text);
    assert_eq!(first_handshake_at(&lab, endpoint).await, None);

    // The service comes up: staff hear it answers; the first handshake is stamped.
    lab.serve(site, &leaf).await;
    let mail = scan_and_deliver(&lab, lab.later(3)).await;
    assert_eq!(
        subjects(&mail),
        vec![format!(
            "{name} is reachable now: its certificate check passes"
        )]
    );
    assert_eq!(mail[0].to, vec![STAFF]);
    let stamp = lapse::store::format_time(lab.later(3));
    assert_eq!(
        first_handshake_at(&lab, endpoint).await,
        Some(stamp.clone())
    );

    // Down again: a failure of a service that once answered is no longer
    // "never reachable", but a failing check is staff's (issue 14 item 4:
    // clients hear of expiries and registration problems only).
    lab.take_down(site).await;
    let mut mail = scan_and_deliver(&lab, lab.later(4)).await;
    mail.extend(scan_and_deliver(&lab, lab.later(5)).await);
    assert_eq!(
        subjects(&mail),
        vec![format!(
            "Certificate check failing for {name}: 127.0.0.1: connection refused"
        )]
    );
    assert_eq!(mail[0].to, vec![STAFF]);
    assert!(mail[0].cc.is_empty(), "{:?}", mail[0].cc);
    assert!(mail[0].text.contains("Client: Acme"), "{}", mail[0].text);
    assert_eq!(
        first_handshake_at(&lab, endpoint).await,
        Some(stamp),
        "written once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_ends_quietly_what_the_watch_mode_leaves_out_whoever_changed_it() {
    let Fleet {
        mut lab,
        _rdap,
        _dns,
    } = fleet(&[("lapse.test", 20)]).await;
    let leaf = lab.leaf("www.lapse.test", -80, 10);
    lab.site("www.lapse.test", &leaf).await;
    let mail = scan_and_deliver(&lab, lab.now()).await;
    assert_eq!(
        to_clients(&mail).len(),
        2,
        "certificate and registration: {:?}",
        subjects(&mail)
    );

    // The watch changed behind lapse's back (a restored backup, SQL by
    // hand): the next evaluation ends the certificate alert, without mail.
    let pool = lab.pool().await;
    sqlx::query("UPDATE domains SET watch = 'registration' WHERE name = 'lapse.test'")
        .execute(&pool)
        .await
        .expect("watch");
    pool.close().await;
    let settings = lab.settings();
    let evaluate = |at| lapse::monitor::alerts::evaluate_all(&lab.store, &settings, at);
    let applied = evaluate(lab.later(1)).await.expect("evaluate");
    assert_eq!(
        (applied.resolved.len(), applied.queued.len()),
        (1, 0),
        "{applied:?}"
    );
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    let kinds_and_states: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| (a.kind.as_str(), a.state.as_str()))
        .collect();
    assert_eq!(
        kinds_and_states,
        vec![
            ("registration_expiry", "firing"),
            ("cert_expiry", "resolved")
        ]
    );
    // The other way round: the registration alert ends quietly, and the
    // certificate's comes back without a second mail for the same crossing.
    let pool = lab.pool().await;
    sqlx::query("UPDATE domains SET watch = 'tls' WHERE name = 'lapse.test'")
        .execute(&pool)
        .await
        .expect("watch");
    pool.close().await;
    let applied = evaluate(lab.later(2)).await.expect("evaluate");
    assert_eq!(
        (
            applied.opened.len(),
            applied.resolved.len(),
            applied.queued.len()
        ),
        (1, 1, 0),
        "{applied:?}"
    );
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    let summary: Vec<(&str, &str, Vec<String>)> = alerts
        .iter()
        .map(|a| (a.kind.as_str(), a.state.as_str(), a.events.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("cert_expiry", "firing", vec![]),
            (
                "registration_expiry",
                "resolved",
                vec!["threshold:30".to_owned()]
            ),
            ("cert_expiry", "resolved", vec!["threshold:14".to_owned()]),
        ]
    );
}
