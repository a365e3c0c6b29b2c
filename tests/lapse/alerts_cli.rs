//! Alert commands of the real binary (thresholds, email test, outbox,
//! digest) and the registration alerts' wiring to the domain's assessed
//! state.

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use lapse::monitor::alerts::{evaluate_domain, FailureMode};
use lapse::store::format_time;

use crate::harness::app::TestApp;
use crate::harness::sites::{smtp_config, CLIENT, CONTACTS, STAFF};
use crate::harness::smtp::{Received, SmtpSink};

fn run_ok(lab: &TestApp, args: &[&str]) -> String {
    let run = lab.env.run(args);
    assert_eq!(run.code, 0, "{args:?}: {run:?}");
    run.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_threshold_override_wins_and_clearing_it_restores_the_default() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), "")).await;
    let leaf = lab.leaf("www.lapse.test", -80, 10);
    lab.site("www.lapse.test", &leaf).await;

    run_ok(
        &lab,
        &[
            "thresholds",
            "set",
            "--client",
            "Acme",
            "--certificate",
            "21,2",
        ],
    );
    let out = run_ok(
        &lab,
        &[
            "thresholds",
            "set",
            "--domain",
            "https://www.lapse.test/",
            "--certificate",
            "5,0",
        ],
    );
    assert!(
        out.contains("certificate thresholds for domain lapse.test: 5, 0 days"),
        "{out}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&run_ok(&lab, &["thresholds", "list", "--json"])).expect("JSON");
    assert_eq!(
        listed["overrides"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );

    // 10 days left: the domain's [5, 0] applies, not the client's [21, 2].
    assert!(lab.scan(lab.now()).await.queued.is_empty());
    run_ok(&lab, &["thresholds", "clear", "--domain", "lapse.test"]);
    // Now the client's [21, 2]: 10 days left crosses 21 (the client's mail
    // and staff's own).
    assert_eq!(lab.scan(lab.later(1)).await.queued.len(), 2);
    run_ok(
        &lab,
        &["thresholds", "clear", "--client", "Acme", "--certificate"],
    );

    let refused = lab.env.run(&[
        "thresholds",
        "set",
        "--client",
        "Nobody",
        "--certificate",
        "3",
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    let refused = lab.env.run(&["thresholds", "set", "--client", "Acme"]);
    assert_eq!(refused.code, 2, "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_test_sends_through_the_configured_server_now() {
    let sink = SmtpSink::plain().await;
    let lab = TestApp::lab(&smtp_config(sink.port(), "")).await;
    let out = run_ok(&lab, &["email", "test", "Someone@Example.test"]);
    assert!(out.contains("sent test email test."), "{out}");
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].rcpt_to, vec!["Someone@example.test"]);
    assert_eq!(mail[0].subject(), "lapse test email");
    assert!(mail[0].message_id().starts_with("test."));
    assert!(mail[0]
        .part("text/plain")
        .expect("text")
        .contains("test email"));

    // Without SMTP it says so, and exits 2.
    let bare = TestApp::lab("").await;
    let run = bare.env.run(&["email", "test", "a@example.test"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("smtp.host"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_list_and_retry_show_and_requeue_messages() {
    let mut lab = TestApp::lab("").await;
    let leaf = lab.leaf("www.lapse.test", -80, 7);
    lab.site("www.lapse.test", &leaf).await;
    lab.record(lab.now()).await;
    let out = run_ok(&lab, &["alerts", "evaluate", "--deliver"]);
    assert!(out.contains("messages queued 1"), "{out}");
    assert!(out.contains("logged    1.threshold-7.email."), "{out}");

    let listed: serde_json::Value =
        serde_json::from_str(&run_ok(&lab, &["outbox", "list", "--json"])).expect("JSON");
    let message = &listed[0];
    assert_eq!(message["state"], "logged");
    assert_eq!(message["recipient"], CONTACTS.join(", "));
    let id = message["message_id"].as_str().expect("id").to_owned();
    let out = run_ok(&lab, &["outbox", "list", "--state", "logged"]);
    assert!(
        out.contains(&id)
            && out.contains(&format!(
                "Certificate for {} expires in 7 days",
                lab.sites[0].name()
            )),
        "{out}"
    );

    let out = run_ok(&lab, &["outbox", "retry", &id]);
    assert!(out.contains(&format!("queued again {id}")), "{out}");
    let unknown = lab.env.run(&["outbox", "retry", "nope@x"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    let nothing = lab.env.run(&["outbox", "retry"]);
    assert_eq!(nothing.code, 2, "{nothing:?}");
    let alerts = run_ok(&lab, &["alerts", "list"]);
    assert!(
        alerts.contains("firing") && alerts.contains("cert_expiry"),
        "{alerts}"
    );
    assert!(alerts.contains("threshold:7"), "{alerts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_on_the_digest_get_one_email_grouped_by_client_instead_of_copies() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), "staff_delivery = \"digest\"\n")).await;
    for (host, days) in [("a.lapse.test", 10), ("b.lapse.test", 3)] {
        let leaf = lab.leaf(host, -80, days);
        lab.site(host, &leaf).await;
    }
    lab.scan(lab.now()).await;
    lab.deliver(lab.now()).await;
    let mail = sink.wait_for(2).await;
    assert_eq!(mail.len(), 2);
    assert!(mail.iter().all(|m| m.header("Cc").is_none()), "no copies");

    let out = run_ok(&lab, &["alerts", "digest"]);
    assert!(out.contains("queued digest."), "{out}");
    run_ok(&lab, &["outbox", "deliver"]);
    let mail = sink.wait_for(3).await;
    let digest = mail
        .iter()
        .find(|m| m.subject().starts_with("lapse digest"))
        .expect("digest");
    assert_eq!(digest.subject(), "lapse digest: 2 alert events");
    assert_eq!(digest.rcpt_to, vec![STAFF]);
    let text = digest.part("text/plain").expect("text");
    assert!(text.contains("Acme\n- Certificate for"), "{text}");
    // Nothing new: the next digest (a later second: digests are keyed by
    // their due time) has nothing to send.
    let next = Utc::now() + Duration::seconds(2);
    let queued = lapse::monitor::digest::send_digest(&lab.store, &lab.settings(), next, next)
        .await
        .expect("digest");
    assert_eq!(queued, Some(Vec::new()), "nothing for the digest");
}

/// What the scripted registry answers for `lapse.test`.
#[derive(Clone)]
enum Registry {
    Found(String),
    Broken,
    Missing,
}

/// A loopback RDAP registry for `.test` that answers as the test says.
async fn scripted_registry(answer: Arc<Mutex<Registry>>) -> crate::harness::registry::RdapServer {
    use crate::harness::registry::{rdap_behaviour, rdap_domain, HttpReply, RdapServer};
    RdapServer::start(move |path, own| {
        let Some(name) = path.strip_prefix("/rdap/domain/") else {
            return rdap_behaviour(path, own);
        };
        match answer.lock().expect("lock").clone() {
            Registry::Found(expires) => {
                HttpReply::json(200, rdap_domain(name, Some(&expires), None))
            }
            Registry::Broken => HttpReply::json(500, "{}".to_owned()),
            Registry::Missing => HttpReply::json(
                404,
                r#"{"errorCode": 404, "title": "Not Found"}"#.to_owned(),
            ),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_alerts_use_fresh_data_only_and_stale_data_has_its_own_alert() {
    let sink = SmtpSink::plain().await;
    let answer = Arc::new(Mutex::new(Registry::Broken));
    let registry = scripted_registry(answer.clone()).await;
    // The registration checker looks `lapse.test` up at the scripted
    // registry (unpaced: it is no public server) and writes what it finds.
    let mut lab = TestApp::builder()
        .client(CLIENT, &CONTACTS)
        .config(&smtp_config(
            sink.port(),
            &format!(
                "\n[rdap]\nbootstrap_url = \"{}\"\n\n[ratelimit]\nper_second = 1000.0\nburst = 100\n",
                registry.url("/bootstrap.json")
            ),
        ))
        .build()
        .await;
    let leaf = lab.leaf("www.lapse.test", -30, 300);
    lab.site("www.lapse.test", &leaf).await;
    let settings = lab.settings();
    let (_, domains) = lab.store.alert_subject_ids().await.expect("ids");
    let id = domains[0];
    let now = lab.now();
    let checker =
        lapse::monitor::registration::RegistrationChecker::build(&lab.app.config, &lab.store, now)
            .await
            .expect("checker")
            .with_policy(lab.app.config.schedule.recheck_policy());
    let expires = now + Duration::days(20) + crate::harness::pki::within_the_day(now);
    // The registry answers `registry`; the checker looks up at `at`, then
    // the domain's alerts are evaluated at `at`.
    let check_then_evaluate = |registry: Registry, at| {
        let store = lab.store.clone();
        let settings = settings.clone();
        let answer = answer.clone();
        let checker = &checker;
        async move {
            *answer.lock().expect("lock") = registry;
            checker
                .check_and_record(&store, id, at)
                .await
                .expect("lookup recorded");
            evaluate_domain(&store, &settings, id, FailureMode::Immediate, at)
                .await
                .expect("evaluate")
        }
    };

    // Found, 20 days left: the 30-day registration threshold.
    // The client's mail and staff's own.
    let found = check_then_evaluate(Registry::Found(format_time(expires)), now).await;
    assert_eq!(found.queued.len(), 2);

    // Lookups fail for 25 days: the date is past, but unknown is never
    // "expired"; one "no fresh data" alert instead, to staff alone.
    let later = now + Duration::days(25);
    assert_eq!(
        check_then_evaluate(Registry::Broken, later)
            .await
            .queued
            .len(),
        1
    );
    let again = evaluate_domain(&lab.store, &settings, id, FailureMode::Immediate, later)
        .await
        .expect("evaluate");
    assert!(again.queued.is_empty(), "once");

    // The registry answers again: not found. Fresh data resolves "stale";
    // the problem alerts on the second consecutive "not found" (the
    // client hears of it, staff too; "fresh again" is staff's alone).
    for (hours, expected) in [(1, 1), (2, 2), (3, 0)] {
        let at = later + Duration::hours(hours);
        let applied = check_then_evaluate(Registry::Missing, at).await;
        assert_eq!(applied.queued.len(), expected, "{hours} h");
    }
    lab.deliver(later + Duration::hours(3)).await;
    let mail = sink.wait_for(6).await;
    let subjects_to = |to: &str| -> Vec<String> {
        mail.iter()
            .filter(|m| m.header("To").as_deref() == Some(to))
            .map(Received::subject)
            .collect()
    };
    let expiry = format!(
        "Domain lapse.test registration expires in 20 days ({})",
        expires.format("%Y-%m-%d")
    );
    let not_found = "Domain lapse.test: not found in the registry: the registration may have lapsed or been deleted".to_owned();
    assert_eq!(
        subjects_to(STAFF),
        vec![
            expiry.clone(),
            "No fresh registration data for lapse.test for 25 days".to_owned(),
            "Registration data for lapse.test is fresh again".to_owned(),
            not_found.clone(),
        ]
    );
    // lapse's own trouble (stale data) is staff's alone.
    assert_eq!(subjects_to(&CONTACTS.join(", ")), vec![expiry, not_found]);
}
