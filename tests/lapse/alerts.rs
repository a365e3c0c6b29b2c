//! Alerts end to end: loopback TLS servers, the real scan engine under the
//! test clock (probe, store, alert hook), the outbox and a real SMTP server
//! receiving what lettre sends.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::{Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::harness::app::TestApp;
use crate::harness::sites::{smtp_config, CLIENT, CONTACTS, STAFF};
use crate::harness::smtp::{Received, SmtpSink};

/// The mail to the client's contacts (staff get their own mail of each event).
fn to_client(mail: &[Received]) -> Vec<Received> {
    mail.iter()
        .filter(|m| m.header("To").as_deref() == Some(&CONTACTS.join(", ")))
        .cloned()
        .collect()
}

fn by_subject(mail: &[Received]) -> Vec<String> {
    let mut subjects: Vec<String> = mail.iter().map(Received::subject).collect();
    subjects.sort();
    subjects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_at_10_3_and_minus_5_days_emails_each_once_and_a_second_scan_sends_none() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), "")).await;
    let ten = lab.leaf("ten.lapse.test", -80, 10);
    let three = lab.leaf("three.lapse.test", -87, 3);
    let expired = lab.pki.leaf(
        &["gone.lapse.test"],
        crate::harness::pki::Validity::around(
            lab.now(),
            Duration::days(-95),
            // Five calendar days ago, whatever the time of day.
            Duration::days(-5) + crate::harness::pki::within_the_day(lab.now()),
        ),
    );
    lab.site("ten.lapse.test", &ten).await;
    lab.site("three.lapse.test", &three).await;
    lab.site("gone.lapse.test", &expired).await;

    // Each event: the client's mail and staff's own.
    let applied = lab.scan(lab.now()).await;
    assert_eq!(applied.queued.len(), 6, "{applied:?}");
    let report = lab.deliver(lab.now()).await;
    assert_eq!(report.sent.len(), 6, "{report:?}");

    let all = sink.wait_for(6).await;
    let mail = to_client(&all);
    let staff: Vec<&Received> = all
        .iter()
        .filter(|m| m.header("To").as_deref() == Some(STAFF))
        .collect();
    assert_eq!(staff.len(), 3);
    for received in &staff {
        let text = received.part("text/plain").expect("text part");
        assert!(text.contains("Client: Acme"), "{text}");
        assert!(text.contains("Technical details"), "{text}");
    }
    assert_eq!(
        by_subject(&mail),
        vec![
            format!(
                "Certificate for {} expired 5 days ago ({})",
                lab.sites[2].name(),
                expired.validity.not_after.format("%Y-%m-%d")
            ),
            format!(
                "Certificate for {} expires in 10 days ({})",
                lab.sites[0].name(),
                ten.validity.not_after.format("%Y-%m-%d")
            ),
            format!(
                "Certificate for {} expires in 3 days ({})",
                lab.sites[1].name(),
                three.validity.not_after.format("%Y-%m-%d")
            ),
        ]
    );
    for received in &mail {
        // The client's contacts in To, no copy: staff have their own mail.
        assert_eq!(
            received.header("To").expect("To"),
            CONTACTS.join(", "),
            "{}",
            received.data
        );
        assert_eq!(received.header("Cc"), None);
        let mut envelope = received.rcpt_to.clone();
        envelope.sort();
        assert_eq!(envelope, vec!["cto@acme.test", "ops@acme.test"]);
        assert_eq!(received.mail_from, "lapse@agency.test");
        // Both parts, saying what to do.
        let text = received.part("text/plain").expect("text part");
        let html = received.part("text/html").expect("html part");
        assert!(text.contains("What to do"), "{text}");
        assert!(
            !text.contains("Acme"),
            "the client is not named to itself: {text}"
        );
        assert!(html.contains("<b>What to do</b>"), "{html}");
        // The stable id is the Message-ID.
        let id = received.message_id();
        assert!(id.ends_with("@agency.test"), "{id}");
        assert!(report.sent.contains(&id), "{id} in {:?}", report.sent);
    }

    // A second scan an hour later changes nothing and sends nothing.
    let applied = lab.scan(lab.later(1)).await;
    assert!(applied.queued.is_empty(), "{applied:?}");
    let report = lab.deliver(lab.later(1)).await;
    assert!(report.sent.is_empty(), "{report:?}");
    assert_eq!(sink.received().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_sends_one_renewed_notice_and_re_arms() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), "")).await;
    let old = lab.leaf("shop.lapse.test", -80, 10);
    let site = lab.site("shop.lapse.test", &old).await;
    lab.scan(lab.now()).await;
    lab.deliver(lab.now()).await;
    // The client's mail and staff's own.
    assert_eq!(sink.wait_for(2).await.len(), 2);

    let renewed = lab.leaf("shop.lapse.test", -1, 89);
    lab.serve(site, &renewed).await;
    let applied = lab.scan(lab.later(2)).await;
    assert_eq!(applied.resolved.len(), 1, "{applied:?}");
    assert_eq!(applied.queued.len(), 2, "{applied:?}");
    lab.deliver(lab.later(2)).await;
    let mail = to_client(&sink.wait_for(4).await);
    assert_eq!(mail.len(), 2);
    assert_eq!(
        mail[1].subject(),
        format!(
            "Certificate for {} renewed: valid until {}",
            lab.sites[site].name(),
            renewed.validity.not_after.format("%Y-%m-%d")
        )
    );
    // Renewed again and again: no more mail, and the alert stays resolved.
    lab.scan(lab.later(3)).await;
    lab.deliver(lab.later(3)).await;
    assert_eq!(sink.received().len(), 4);
    let alerts = lab.store.list_alerts(true).await.expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state, "resolved");
    assert_eq!(alerts[0].events, vec!["threshold:14", "resolved"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_scans_send_each_threshold_once_and_a_missed_night_still_sends_its_reminder() {
    // What was sent is what counts here, not how: mail stays in memory.
    let mut lab = TestApp::builder()
        .client(CLIENT, &CONTACTS)
        .rdap()
        .memory_mail()
        .config(&format!("[alerts]\nstaff = [\"{STAFF}\"]\n"))
        .build()
        .await;
    // 20 days left today, a 1-year certificate.
    let leaf = lab.leaf("www.lapse.test", -345, 20);
    lab.site("www.lapse.test", &leaf).await;
    // Nights 0..=20, a day apart; nights 13 and 14 (7 and 6 days left) fail to run.
    for night in 0..=20 {
        if night > 0 {
            lab.clock.advance(Duration::days(1));
        }
        if night == 13 || night == 14 {
            continue;
        }
        lab.scan(lab.now()).await;
        lab.deliver(lab.now()).await;
    }
    let subjects: Vec<String> = lab
        .mailbox()
        .sent()
        .into_iter()
        .filter(|m| m.to == CONTACTS)
        .map(|m| m.subject)
        .collect();
    let days: Vec<&str> = subjects
        .iter()
        .map(|s| {
            let when = s.split(" expires ").nth(1).unwrap_or(s);
            let when = when.split(" (").next().unwrap_or(when);
            when.strip_prefix("in ").unwrap_or(when)
        })
        .collect();
    assert_eq!(
        days,
        vec!["20 days", "14 days", "5 days", "3 days", "1 day", "today"],
        "the 7-day reminder missed on night 13 goes out on night 15: {subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_6_day_certificate_alerts_by_its_lifetime() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), "")).await;
    let leaf = lab.leaf("acme6.lapse.test", 0, 5);
    lab.site("acme6.lapse.test", &leaf).await;
    // Fresh (5.5 days left) and at half its life: no mail although 7 and 3 are thresholds.
    for hours in [0, 60] {
        lab.scan(lab.later(hours)).await;
        lab.deliver(lab.later(hours)).await;
    }
    assert!(
        sink.received().is_empty(),
        "{:?}",
        by_subject(&sink.received())
    );
    // Less than a third of 5.5 days (44 h) left: late. Days left are
    // calendar days (UTC): 1 or 2 by the time of day the test runs at.
    lab.scan(lab.later(90)).await;
    lab.deliver(lab.later(90)).await;
    let mail = to_client(&sink.wait_for(2).await);
    assert_eq!(mail.len(), 1);
    let days = (leaf.validity.not_after.date_naive() - lab.later(90).date_naive()).num_days();
    let when = if days == 1 {
        "in 1 day".to_owned()
    } else {
        format!("in {days} days")
    };
    assert!(
        mail[0].subject().starts_with(&format!(
            "Certificate for {} expires {when}",
            lab.sites[0].name()
        )),
        "{}",
        mail[0].subject()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_alerts_after_two_failed_checks_and_says_when_fixed() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), "outage_min_checks = 5\n")).await;
    let healthy = lab.leaf("up.lapse.test", -30, 300);
    let down = lab.leaf("down.lapse.test", -30, 300);
    lab.site("up.lapse.test", &healthy).await;
    let broken = lab.site("down.lapse.test", &down).await;
    // Reached once, so its failures are the client's (an endpoint never
    // reached is staff's: `fleet_alerts.rs`).
    assert!(lab.scan(lab.now()).await.queued.is_empty());
    lab.take_down(broken).await;

    let first = lab.scan(lab.later(1)).await;
    assert!(
        first.queued.is_empty(),
        "one failure is not enough: {first:?}"
    );
    // The same check evaluated again (a resumed scan) does not count twice.
    let settings = lab.settings();
    lapse::monitor::alerts::evaluate_endpoint(
        &lab.store,
        &settings,
        lab.sites[broken].endpoint_id,
        lapse::monitor::alerts::FailureMode::Immediate,
        lab.later(1),
    )
    .await
    .expect("evaluate");
    assert!(lab.outbox().await.is_empty());

    let second = lab.scan(lab.later(2)).await;
    assert_eq!(second.queued.len(), 1, "{second:?}");
    lab.deliver(lab.later(2)).await;
    let mail = sink.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].subject().starts_with(&format!(
            "Certificate check failing for {}: 127.0.0.1: connection refused",
            lab.sites[broken].name()
        )),
        "{}",
        mail[0].subject()
    );
    // A third failure sends nothing more.
    lab.scan(lab.later(3)).await;
    assert!(lab.deliver(lab.later(3)).await.sent.is_empty());

    // Back up: one "passing again" message.
    lab.serve(broken, &down).await;
    lab.scan(lab.later(4)).await;
    lab.deliver(lab.later(4)).await;
    let mail = sink.wait_for(2).await;
    assert_eq!(mail.len(), 2);
    assert_eq!(
        mail[1].subject(),
        format!(
            "Certificate check for {} is passing again",
            lab.sites[broken].name()
        )
    );
}

/// Was "most checks failing at once is one operator alert": refused
/// connections counted as lapse's outage and held every failure alert.
/// Issue 14 item 1: a refused connection is the target's answer, never
/// lapse's outage (that is `outage.rs`: canaries, the resolver timing out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_refusing_is_the_targets_answer_not_an_outage_of_lapse() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(
        sink.port(),
        "operator = [\"noc@agency.test\"]\noutage_min_checks = 3\n",
    ))
    .await;
    for host in [
        "a.lapse.test",
        "b.lapse.test",
        "c.lapse.test",
        "d.lapse.test",
    ] {
        let leaf = lab.leaf(host, -30, 300);
        lab.site(host, &leaf).await;
    }
    // A good night first: the domain's registration is checked with it and
    // is not due again this week, so the nights below check the four
    // endpoints only.
    assert!(lab.scan(lab.now()).await.queued.is_empty());
    // Every server gone (connection refused), for two nightly scans.
    for site in 0..4 {
        lab.take_down(site).await;
    }
    let first = lab.scan(lab.later(1)).await;
    let second = lab.scan(lab.later(25)).await;
    lab.deliver(lab.later(25)).await;
    let mail = sink.wait_for(4).await;
    assert_eq!(
        (first.queued.len(), second.queued.len()),
        (0, 4),
        "no operator alert; each site's failure alert after two failed checks"
    );
    let mut expected: Vec<String> = (0..4)
        .map(|site| {
            format!(
                "Certificate check failing for {}: 127.0.0.1: connection refused",
                lab.sites[site].name()
            )
        })
        .collect();
    expected.sort();
    assert_eq!(by_subject(&mail), expected);
    assert!(mail.iter().all(|m| m.rcpt_to != vec!["noc@agency.test"]));
}

/// The alert installation on `pki`, which also issued the mail server's certificate.
async fn starttls_lab(pki: crate::harness::pki::TestPki, config: &str) -> TestApp {
    TestApp::builder()
        .client(CLIENT, &CONTACTS)
        .rdap()
        .pki(pki)
        .config(config)
        .build()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_delivery_checks_the_server_certificate_by_name() {
    let pki = crate::harness::pki::TestPki::new();
    let mail_leaf = pki.leaf(
        &["mail.lapse.test"],
        crate::harness::pki::Validity::days(pki.now, -1, 60),
    );
    let sink = SmtpSink::starttls(pki.served(&mail_leaf), mail_leaf.key_der()).await;
    // The installation trusts this PKI's root (`tls.extra_ca_file`), for
    // the sites and the mail server alike.
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\ntls_server_name = \"mail.lapse.test\"\nfrom = \"lapse <lapse@agency.test>\"\ntimeout_secs = 5\n",
        sink.port(),
    );
    let mut lab = starttls_lab(pki, &config).await;
    let leaf = lab.leaf("tls.lapse.test", -80, 7);
    lab.site("tls.lapse.test", &leaf).await;
    lab.scan(lab.now()).await;
    let report = lab.deliver(lab.now()).await;
    assert_eq!(report.sent.len(), 1, "{report:?}");
    let mail = sink.wait_for(1).await;
    assert!(mail[0].tls, "DATA went over TLS");
    assert_eq!(mail[0].header("To").expect("To"), CONTACTS.join(", "));
    assert!(mail[0].header("Cc").is_none(), "no staff configured");
    assert!(mail[0]
        .part("text/plain")
        .expect("text")
        .contains("tls.lapse.test"));
    assert!(mail[0]
        .part("text/html")
        .expect("html")
        .contains(&format!("<b>{}</b>", lab.sites[0].name())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_name_that_does_not_match_is_a_retried_failure_not_a_silent_send() {
    let pki = crate::harness::pki::TestPki::new();
    let mail_leaf = pki.leaf(
        &["other.lapse.test"],
        crate::harness::pki::Validity::days(pki.now, -1, 60),
    );
    let sink = SmtpSink::starttls(pki.served(&mail_leaf), mail_leaf.key_der()).await;
    // The installation trusts this PKI's root (`tls.extra_ca_file`), for
    // the sites and the mail server alike.
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\ntls_server_name = \"mail.lapse.test\"\nfrom = \"lapse <lapse@agency.test>\"\ntimeout_secs = 5\n",
        sink.port(),
    );
    let mut lab = starttls_lab(pki, &config).await;
    let leaf = lab.leaf("tls.lapse.test", -80, 7);
    lab.site("tls.lapse.test", &leaf).await;
    lab.scan(lab.now()).await;
    let report = lab.deliver(lab.now()).await;
    assert_eq!(report.retrying.len(), 1, "{report:?}");
    assert!(sink.received().is_empty());
    let outbox = lab.outbox().await;
    assert_eq!(outbox[0].state, "pending");
    assert!(outbox[0].last_error.is_some(), "{:?}", outbox[0]);
}

/// What the webhook receiver saw.
#[derive(Clone, Default)]
struct Hooks {
    verified: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    rejected: Arc<Mutex<usize>>,
    /// Slack and Discord posts: (path, body).
    chat: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

async fn chat(
    axum::extract::State((hooks, _)): axum::extract::State<(Hooks, String)>,
    uri: axum::http::Uri,
    body: Bytes,
) -> StatusCode {
    let json = serde_json::from_slice(&body).expect("JSON body");
    hooks
        .chat
        .lock()
        .expect("lock")
        .push((uri.path().to_owned(), json));
    StatusCode::OK
}

/// A receiver written from the README: recompute the HMAC over
/// "<t>.<body>" and compare.
async fn receive(
    axum::extract::State((hooks, secret)): axum::extract::State<(Hooks, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = headers
        .get("x-lapse-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        *hooks.rejected.lock().expect("lock") += 1;
        return StatusCode::UNAUTHORIZED;
    };
    let fresh = t
        .parse::<i64>()
        .is_ok_and(|t| (Utc::now().timestamp() - t).abs() < 300);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&body);
    if !fresh || mac.verify_slice(&v1).is_err() {
        *hooks.rejected.lock().expect("lock") += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers
        .get("x-lapse-message-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let json = serde_json::from_slice(&body).expect("JSON body");
    hooks.verified.lock().expect("lock").push((id, json));
    StatusCode::NO_CONTENT
}

async fn webhook_receiver(
    secret: &str,
) -> (Hooks, std::net::SocketAddr, crate::harness::AbortOnDrop) {
    let hooks = Hooks::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .route("/slack", axum::routing::post(chat))
        .route("/discord", axum::routing::post(chat))
        .with_state((hooks.clone(), secret.to_owned()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = crate::harness::AbortOnDrop::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (hooks, addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_webhook_is_signed_and_a_receiver_verifies_it() {
    let (hooks, addr, _server) = webhook_receiver("s3cret-key").await;
    let mut lab = TestApp::lab(&format!(
        "[webhooks]\nurl = \"http://{addr}/hook\"\nsecret = \"s3cret-key\"\nslack_url = \"http://{addr}/slack\"\ndiscord_url = \"http://{addr}/discord\"\n"
    ))
    .await;
    let leaf = lab.leaf("hook.lapse.test", -80, 7);
    lab.site("hook.lapse.test", &leaf).await;
    lab.scan(lab.now()).await;
    let report = lab.deliver(lab.now()).await;
    // Slack and Discord get their own message shapes on the same queue.
    let mut chat = hooks.chat.lock().expect("lock").clone();
    chat.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = format!(
        "[lapse warning] Certificate for {} expires in 7 days",
        lab.sites[0].name()
    );
    assert_eq!(chat.len(), 2, "{chat:?}");
    assert_eq!(chat[0].0, "/discord");
    assert!(
        chat[0].1["content"]
            .as_str()
            .is_some_and(|t| t.starts_with(&expected)),
        "{chat:?}"
    );
    assert_eq!(chat[1].0, "/slack");
    assert!(
        chat[1].1["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(&expected)),
        "{chat:?}"
    );
    let report = lapse::notify::DeliveryReport {
        sent: report
            .sent
            .into_iter()
            .filter(|id| id.contains(".webhook."))
            .collect(),
        ..report
    };
    // Email goes to the log (no SMTP configured), the webhook is delivered.
    assert_eq!(
        (report.sent.len(), report.logged.len()),
        (1, 1),
        "{report:?}"
    );
    let verified = hooks.verified.lock().expect("lock").clone();
    assert_eq!(*hooks.rejected.lock().expect("lock"), 0);
    assert_eq!(verified.len(), 1);
    let (id, body) = &verified[0];
    assert_eq!(&report.sent[0], id);
    assert!(id.contains(".webhook."), "{id}");
    assert_eq!(body["kind"], "cert_expiry");
    assert_eq!(body["event"], "threshold:7");
    assert_eq!(body["subject"], lab.sites[0].name().as_str());
    assert_eq!(body["client"], "Acme");
    assert_eq!(body["days_left"], 7);

    // A receiver with another key refuses it: the signature depends on the key.
    let (other, addr, _other_server) = webhook_receiver("wrong-key").await;
    let mut lab2 = TestApp::lab(&format!(
        "[webhooks]\nurl = \"http://{addr}/hook\"\nsecret = \"s3cret-key\"\n\n[outbox]\nmax_attempts = 1\n"
    ))
    .await;
    let leaf = lab2.leaf("hook.lapse.test", -80, 7);
    lab2.site("hook.lapse.test", &leaf).await;
    lab2.scan(lab2.now()).await;
    let report = lab2.deliver(lab2.now()).await;
    assert_eq!(report.failed.len(), 1, "401 is permanent: {report:?}");
    assert_eq!(*other.rejected.lock().expect("lock"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_messages_are_logged_and_kept_in_the_outbox() {
    let mut lab = TestApp::lab("[alerts]\nstaff = [\"staff@agency.test\"]\n").await;
    let leaf = lab.leaf("fresh.lapse.test", -80, 3);
    lab.site("fresh.lapse.test", &leaf).await;
    lab.scan(lab.now()).await;
    let report = lab.deliver(lab.now()).await;
    // The client's mail and staff's own.
    assert_eq!(report.logged.len(), 2, "{report:?}");
    let outbox = lab.outbox().await;
    assert_eq!(outbox.len(), 2);
    assert!(outbox.iter().all(|m| m.state == "logged" && m.cc.is_none()));
    let mut recipients: Vec<&str> = outbox.iter().map(|m| m.recipient.as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(recipients, vec![CONTACTS.join(", ").as_str(), STAFF]);
    // `lapse outbox retry --logged` queues it again (once SMTP is configured).
    let requeued = lab
        .store
        .retry_messages(
            &lapse::store::RetrySelection::Failed {
                include_logged: true,
            },
            lab.now(),
        )
        .await
        .expect("retry");
    let mut ids: Vec<String> = outbox.iter().map(|m| m.message_id.clone()).collect();
    let mut requeued = requeued;
    ids.sort();
    requeued.sort();
    assert_eq!(requeued, ids);
}
