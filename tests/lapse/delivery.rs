//! Delivery through trouble: an SMTP server that refuses (451) or is down
//! for a while, and a `lapse` process killed with SIGKILL between the alert
//! change and delivery, and during delivery. Every message arrives, once
//! (or, in the one at-least-once window, twice with the same Message-ID).
//!
//! A dead sender's lease runs out on the clock: the in-process sender is
//! handed a time past it; where the `lapse` binary must see it run out, the
//! lease is the shortest the config allows (2 s).

use std::process::Stdio;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::app::TestApp;
// Staff get their own mail of each client event; these tests are about
// delivery, so one mail per event: no staff.
use crate::harness::sites::smtp_config_without_staff as smtp_config;
use crate::harness::smtp::{Received, SmtpSink};

fn ids(mail: &[Received]) -> Vec<String> {
    let mut ids: Vec<String> = mail.iter().map(Received::message_id).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_451_and_a_server_down_for_a_while_delay_mail_and_lose_none() {
    let sink = SmtpSink::plain().await;
    let mut lab = TestApp::lab(&smtp_config(sink.port(), "")).await;
    for host in ["a.lapse.test", "b.lapse.test", "c.lapse.test"] {
        let leaf = lab.leaf(host, -80, 7);
        lab.site(host, &leaf).await;
    }
    let t0 = lab.now();
    assert_eq!(lab.scan(t0).await.queued.len(), 3);

    // The server answers 451 twice: one message goes through, two wait.
    sink.refuse_next(2);
    let report = lab.deliver(t0).await;
    assert_eq!(
        (report.sent.len(), report.retrying.len()),
        (1, 2),
        "{report:?}"
    );
    assert_eq!(sink.refused(), 2);
    // Not due yet (backoff 60 s) ...
    assert!(lab
        .deliver(t0 + Duration::seconds(30))
        .await
        .sent
        .is_empty());
    // ... then due.
    let report = lab.deliver(t0 + Duration::seconds(61)).await;
    assert_eq!(report.sent.len(), 2, "{report:?}");

    // The server is down for a while (connections refused), then back.
    let leaf = lab.leaf("d.lapse.test", -80, 3);
    lab.site("d.lapse.test", &leaf).await;
    let t1 = t0 + Duration::hours(1);
    assert_eq!(lab.scan(t1).await.queued.len(), 1);
    sink.go_down().await;
    let report = lab.deliver(t1).await;
    assert_eq!(report.retrying.len(), 1, "{report:?}");
    let report = lab.deliver(t1 + Duration::seconds(61)).await;
    assert_eq!(report.retrying.len(), 1, "still down: {report:?}");
    sink.come_back().await;
    // The second failure doubled the wait to 120 s.
    assert!(lab
        .deliver(t1 + Duration::seconds(150))
        .await
        .sent
        .is_empty());
    let report = lab.deliver(t1 + Duration::seconds(182)).await;
    assert_eq!(report.sent.len(), 1, "{report:?}");

    // Every message exactly once, with the id the outbox gave it.
    let mail = sink.wait_for(4).await;
    let outbox = lab.outbox().await;
    let mut queued: Vec<String> = outbox.iter().map(|m| m.message_id.clone()).collect();
    queued.sort();
    assert_eq!(ids(&mail), queued);
    assert!(outbox.iter().all(|m| m.state == "sent"), "{outbox:?}");
    let attempts: Vec<u32> = outbox.iter().map(|m| m.attempts).collect();
    assert_eq!(attempts.iter().sum::<u32>(), 1 + 2 + 2 + 3, "{attempts:?}");
}

/// A lab whose config lets a dead sender's lease run out quickly (the
/// shortest lease validation allows: longer than the SMTP and webhook
/// timeouts of 1 s), with one site whose certificate has 7 days left,
/// checked and recorded.
async fn crash_lab(sink: &SmtpSink) -> TestApp {
    crash_lab_with(sink, "").await
}

async fn crash_lab_with(sink: &SmtpSink, extra: &str) -> TestApp {
    let config = smtp_config(
        sink.port(),
        &format!("\n[outbox]\nsending_lease_secs = 2\n\n[webhooks]\ntimeout_secs = 1\n{extra}"),
    )
    .replace("timeout_secs = 5", "timeout_secs = 1");
    let mut lab = TestApp::lab(&config).await;
    let leaf = lab.leaf("crash.lapse.test", -80, 7);
    lab.site("crash.lapse.test", &leaf).await;
    lab.record(lab.now()).await;
    lab
}

/// Runs `lapse ARGS` with `LAPSE_TEST_PAUSE=point`, waits until it says it
/// paused there, and kills it with SIGKILL. Returns when it was seen
/// paused (the process got there no later than that).
async fn run_until_paused_then_kill(lab: &TestApp, args: &[&str], point: &str) -> DateTime<Utc> {
    let mut command = tokio::process::Command::from(lab.env.command(args));
    command
        .env("LAPSE_TEST_PAUSE", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn lapse");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let paused = tokio::time::timeout(StdDuration::from_secs(60), async {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(&format!("paused at {point}")) {
                return Ok(());
            }
            seen.push(line);
        }
        Err(seen)
    })
    .await
    .expect("lapse reached the pause point in time");
    let seen = Utc::now();
    assert!(paused.is_ok(), "lapse ended without pausing: {paused:?}");
    child.kill().await.expect("SIGKILL");
    let status = child.wait().await.expect("wait");
    assert!(!status.success(), "killed: {status:?}");
    seen
}

/// A time past the lease of a message claimed no later than `claimed`
/// (leases are stored in whole seconds).
fn past_the_lease(lab: &TestApp, claimed: DateTime<Utc>) -> DateTime<Utc> {
    let lease = Duration::from_std(lab.app.config.outbox.sending_lease).expect("lease");
    claimed.trunc_subsecs(0) + lease + Duration::seconds(1)
}

fn run_ok(lab: &TestApp, args: &[&str]) -> String {
    let run = lab.env.run(args);
    assert_eq!(run.code, 0, "{args:?}: {run:?}");
    run.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_alert_change_and_delivery_nothing_is_lost_or_sent_twice() {
    let sink = SmtpSink::plain().await;
    let lab = crash_lab(&sink).await;

    run_until_paused_then_kill(&lab, &["alerts", "evaluate", "--deliver"], "after-evaluate").await;
    let outbox = lab.outbox().await;
    assert_eq!(
        outbox.len(),
        1,
        "the change and its message were committed together"
    );
    assert_eq!(outbox[0].state, "pending");
    assert!(sink.received().is_empty());
    let id = outbox[0].message_id.clone();
    println!("crash between transition and delivery: message id {id}");

    // After the restart: delivered once; evaluating again queues nothing.
    let out = run_ok(&lab, &["outbox", "deliver"]);
    assert!(out.contains(&format!("sent      {id}")), "{out}");
    let out = run_ok(&lab, &["alerts", "evaluate", "--deliver"]);
    assert!(out.contains("messages queued 0"), "{out}");
    let mail = sink.wait_for(1).await;
    assert_eq!(ids(&mail), vec![id]);
    assert_eq!(lab.outbox().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_delivery_the_message_is_sent_once_when_its_lease_runs_out() {
    let sink = SmtpSink::plain().await;
    let lab = crash_lab(&sink).await;
    run_ok(&lab, &["alerts", "evaluate"]);

    // Killed after claiming the message, before talking to the server.
    let claimed = run_until_paused_then_kill(&lab, &["outbox", "deliver"], "after-claim").await;
    let outbox = lab.outbox().await;
    assert_eq!(outbox[0].state, "sending");
    let id = outbox[0].message_id.clone();
    println!("crash during delivery (claimed, not sent): message id {id}");

    // A restart within the lease leaves it alone (its sender may be alive) ...
    let report = lab.deliver(claimed).await;
    assert_eq!(
        (report.reclaimed, report.sent.len(), report.retrying.len()),
        (0, 0, 0),
        "delivered 0: {report:?}"
    );
    assert!(sink.received().is_empty());
    // ... and takes it back once the lease ran out: the binary's clock is
    // the system's, so wait for the (2 s) lease to pass.
    let expired = past_the_lease(&lab, claimed);
    while Utc::now() < expired {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let out = run_ok(&lab, &["outbox", "deliver"]);
    assert!(
        out.contains("1 message(s) left by a stopped sender"),
        "{out}"
    );
    assert!(out.contains(&format!("sent      {id}")), "{out}");
    run_ok(&lab, &["outbox", "deliver"]);
    let mail = sink.wait_for(1).await;
    assert_eq!(ids(&mail), vec![id]);
    let outbox = lab.outbox().await;
    assert_eq!((outbox[0].state.as_str(), outbox[0].attempts), ("sent", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_server_accepted_the_resend_carries_the_same_message_id() {
    let sink = SmtpSink::plain().await;
    let lab = crash_lab(&sink).await;
    run_ok(&lab, &["alerts", "evaluate"]);

    // Killed after the server said 250, before `sent` was written: the one
    // window of at-least-once delivery.
    let claimed = run_until_paused_then_kill(&lab, &["outbox", "deliver"], "after-send").await;
    assert_eq!(sink.received().len(), 1);
    let id = lab.outbox().await[0].message_id.clone();
    println!("crash after the server accepted: message id {id}");

    // The restarted sender, once the dead one's lease ran out.
    let report = lab.deliver(past_the_lease(&lab, claimed)).await;
    assert_eq!(report.reclaimed, 1, "{report:?}");
    let mail = sink.wait_for(2).await;
    // Sent again, never lost; the same Message-ID lets the receiver drop it.
    assert_eq!(ids(&mail), vec![id.clone(), id]);
    let outbox = lab.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].state, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapse_serve_delivers_the_outbox_and_stops_cleanly_on_sigterm() {
    let sink = SmtpSink::plain().await;
    let port = crate::harness::cli::free_port();
    let lab = crash_lab_with(
        &sink,
        &format!("\n[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .await;
    let out = run_ok(&lab, &["alerts", "evaluate"]);
    assert!(out.contains("messages queued 1"), "{out}");

    let mut child = lab
        .env
        .command(&["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lapse serve");
    let mail = sink.wait_for(1).await;
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let mut exit = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("wait") {
            exit = Some(status);
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let exit = exit.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("lapse serve did not stop on SIGTERM");
    });
    assert_eq!(exit.code(), Some(0));
    assert_eq!(
        mail.len(),
        1,
        "the sender in `serve` delivered the queued message"
    );
    assert_eq!(lab.outbox().await[0].state, "sent");
}
