//! Numbers that agree (issue 14 item 3): `lapse check --warning DAYS
//! --critical DAYS` exits as a monitoring plugin does (0 ok, 1 warning,
//! 2 critical, 3 unknown), 3 days left being critical by default; against a
//! loopback TLS server with certificates made here.

use crate::harness::ip;
use crate::harness::pki::{TestPki, Validity};
use crate::harness::tls::TlsServer;

const HOST: &str = "check.lapse.test";

/// `lapse check HOST:PORT --address 127.0.0.1 ARGS` against a server whose
/// one-year leaf has `days_left` days (and 12 hours) left: the exit code.
async fn check_exit(days_left: i64, args: &[&str]) -> (i32, String) {
    let pki = TestPki::new();
    let leaf = pki.leaf(&[HOST], Validity::days(pki.now, days_left - 365, days_left));
    let server = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.root.pem).expect("write");
    let path = dir.path().join("lapse.toml");
    std::fs::write(
        &path,
        format!(
            "[names]\nprivate_tlds = [\"test\"]\n[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
             [tls]\nextra_ca_file = \"{}\"\n",
            ca_file.display()
        ),
    )
    .expect("write config");
    let endpoint = format!("{HOST}:{}", server.addr.port());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lapse"))
        .arg("check")
        .args([endpoint.as_str(), "--address", "127.0.0.1"])
        .args(args)
        .env("LAPSE_CONFIG", &path)
        .current_dir(dir.path())
        .output()
        .await
        .expect("run lapse check");
    (
        output.status.code().expect("exit code"),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[tokio::test]
async fn check_exit_codes_follow_warning_and_critical_days() {
    // (days left, arguments, exit code)
    let cases: [(i64, &[&str], i32); 9] = [
        (200, &[], 0),
        (20, &[], 1),
        // 3 days left is critical by default; so is less.
        (3, &[], 2),
        (2, &[], 2),
        (4, &[], 1),
        (20, &["--warning", "10"], 0),
        (20, &["--warning", "30", "--critical", "25"], 2),
        (40, &["--warning", "45"], 1),
        (8, &["--critical", "10"], 2),
    ];
    for (days_left, args, expected) in cases {
        let (code, output) = check_exit(days_left, args).await;
        assert_eq!(code, expected, "{days_left} days left, {args:?}: {output}");
    }
}

#[tokio::test]
async fn a_critical_window_wider_than_the_warning_one_is_refused() {
    let (code, output) = check_exit(20, &["--warning", "5", "--critical", "10"]).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("--critical"), "{output}");
}

/// The subject of the one mail a first scan at `now` sends about a 90-day
/// certificate expiring at `expires_at`, with `schedule.timezone = zone`.
async fn subject_in(zone: &str, now: &str, expires_at: &str) -> Vec<String> {
    subject_for(zone, None, now, expires_at).await
}

/// As [`subject_in`], the client counting in its own zone when given.
async fn subject_for(
    zone: &str,
    client_zone: Option<&str>,
    now: &str,
    expires_at: &str,
) -> Vec<String> {
    use crate::harness::app::TestApp;
    use crate::harness::sites::{CLIENT, CONTACTS, STAFF};
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&chrono::Utc)
    };
    let mut lab = TestApp::builder()
        .client(CLIENT, &CONTACTS)
        .rdap()
        .memory_mail()
        .config(&format!(
            "[schedule]\ntimezone = \"{zone}\"\n\n[alerts]\nstaff = [\"{STAFF}\"]\n"
        ))
        .build()
        .await;
    if let Some(client_zone) = client_zone {
        let change = lapse::store::DeliveryChange {
            timezone: Some(Some(client_zone.to_owned())),
            ..Default::default()
        };
        lab.store
            .set_client_delivery(CLIENT, &change)
            .await
            .expect("client zone");
    }
    let not_after = at(expires_at);
    let leaf = lab.pki.leaf(
        &["shop.lapse.test"],
        Validity {
            not_before: not_after - chrono::Duration::days(90),
            not_after,
        },
    );
    lab.site("shop.lapse.test", &leaf).await;
    lab.scan(at(now)).await;
    lab.deliver(at(now)).await;
    // What the client receives (staff get their own copy of each).
    lab.mailbox()
        .sent()
        .into_iter()
        .filter(|m| !m.to.iter().any(|to| to == crate::harness::sites::STAFF))
        .map(|m| m.subject.replace(&format!(":{}", lab.sites[0].port), ""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_number_and_the_date_in_a_subject_agree() {
    // Sent on 2026-12-04 (UTC) about 2026-12-14: 10 days, not 9.
    let sent = subject_in("UTC", "2026-12-04T23:30:00Z", "2026-12-14T01:00:00Z").await;
    assert_eq!(
        sent,
        vec!["Certificate for shop.lapse.test expires in 10 days (2026-12-14)"]
    );
    // In Berlin it is already 2026-12-05 00:30, and the expiry 2026-12-14
    // 02:00 there: 9 days.
    let sent = subject_in(
        "Europe/Berlin",
        "2026-12-04T23:30:00Z",
        "2026-12-14T01:00:00Z",
    )
    .await;
    assert_eq!(
        sent,
        vec!["Certificate for shop.lapse.test expires in 9 days (2026-12-14)"]
    );
}

/// The client's own zone (`lapse clients set --timezone`) wins over
/// `schedule.timezone`, for the number and for the date: in New York it is
/// still 2026-12-04 18:30, and the expiry reads 2026-12-13 20:00 there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_own_zone_counts_its_days_and_dates() {
    let sent = subject_for(
        "UTC",
        Some("America/New_York"),
        "2026-12-04T23:30:00Z",
        "2026-12-14T01:00:00Z",
    )
    .await;
    assert_eq!(
        sent,
        vec!["Certificate for shop.lapse.test expires in 9 days (2026-12-13)"]
    );
}
