//! Acknowledge, snooze, mute (issue 18 item 3), end to end on a real
//! SQLite file with mail in memory and the clock moved day by day: two
//! clients, Acme's registration expiring in 47 days, Globex's in 90.
//! Acknowledging stops the daily reminders until the next threshold;
//! a snooze holds every notice until its date; a maintenance window holds
//! a domain's or an endpoint's alerts and lets them through after; an
//! expiry passing under a hold is told to staff alone.

use chrono::{DateTime, Duration, Utc};
use lapse::domain::names::HostName;
use lapse::notify::email::OutgoingEmail;
use lapse::store::{NewMute, ThresholdOwner};

use crate::harness::app::{observation, TestApp};
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};

pub const GLOBEX: &str = "Globex";
pub const GLOBEX_CONTACT: &str = "it@globex.test";

/// Two clients: `acme.test` (Acme) expires in 47 days, `globex.test`
/// (Globex) in 90; staff and an agency reply-to configured.
pub struct Fleet {
    pub lab: TestApp,
    pub start: DateTime<Utc>,
}

impl Fleet {
    pub async fn new() -> Self {
        let lab = TestApp::builder()
            .client(CLIENT, &CONTACTS)
            .memory_mail()
            .config(&format!(
                "[alerts]\nstaff = [\"{STAFF}\"]\nregistration_days = [30, 14, 7, 1, 0]\n\
                 certificate_days = [30, 14, 7, 1, 0]\n\n\
                 [agency]\nname = \"Web Agency\"\nreply_to = \"help@agency.test\"\n"
            ))
            .build()
            .await;
        // 01:00 UTC of the next day, whatever the hour the test runs at: each
        // day is evaluated at the start's hour and six hours later, and both
        // must fall on the same date (started after 18:00 UTC, the second
        // evaluation fell on the next date and a reminder day moved).
        let start = (lab.now().date_naive() + Duration::days(1))
            .and_hms_opt(1, 0, 0)
            .expect("01:00 exists")
            .and_utc();
        lab.store
            .add_client(GLOBEX, &[GLOBEX_CONTACT.to_owned()], start)
            .await
            .expect("globex");
        for (domain, client, days) in [("acme.test", CLIENT, 47), ("globex.test", GLOBEX, 90)] {
            lab.add_registration_only(domain, client).await;
            let date = (start + Duration::days(days)).date_naive();
            lab.store
                .set_manual_expiry(&HostName::from_canonical(domain), date, None, start)
                .await
                .expect("expiry");
        }
        Self { lab, start }
    }

    /// `day` days (and `hours` hours) after the start.
    pub fn at(&self, day: i64, hours: i64) -> DateTime<Utc> {
        self.start + Duration::days(day) + Duration::hours(hours)
    }

    /// Evaluates everything and delivers at `at`: the mail sent.
    pub async fn run(&self, at: DateTime<Utc>) -> Vec<OutgoingEmail> {
        let before = self.lab.mailbox().sent().len();
        lapse::monitor::alerts::evaluate_all(&self.lab.store, &self.lab.settings(), at)
            .await
            .expect("evaluate");
        self.lab.deliver(at).await;
        self.lab.mailbox().sent().split_off(before)
    }

    /// Days `days` (each evaluated twice, at the start's hour and six hours
    /// later): (day, subject) of each mail to `to`.
    pub async fn days(&self, days: std::ops::RangeInclusive<i64>, to: &str) -> Vec<(i64, String)> {
        let mut seen = Vec::new();
        for day in days {
            for hours in [0, 6] {
                for mail in self.run(self.at(day, hours)).await {
                    if mail.to.iter().any(|t| t == to) {
                        seen.push((day, mail.subject));
                    }
                }
            }
        }
        seen
    }

    /// The id of the firing alert about `subject` (its list name).
    pub async fn firing(&self, subject: &str) -> i64 {
        let alerts = self.lab.store.list_alerts(false).await.expect("alerts");
        alerts
            .iter()
            .find(|a| a.subject == subject)
            .unwrap_or_else(|| panic!("no firing alert about {subject}: {alerts:?}"))
            .id
    }

    pub async fn repeat(&self, domain: &str, days: u32) {
        self.lab
            .store
            .set_repeat_days(
                &ThresholdOwner::Domain(HostName::from_canonical(domain)),
                Some(days),
            )
            .await
            .expect("repeat");
    }
}

fn days_of(mail: &[(i64, String)]) -> Vec<i64> {
    mail.iter().map(|(day, _)| *day).collect()
}

#[tokio::test]
async fn acknowledging_stops_daily_reminders_until_the_next_threshold() {
    let fleet = Fleet::new().await;
    fleet.repeat("acme.test", 20).await;
    // 30 days left on day 17; the daily reminders start 20 days before.
    let before = fleet.days(0..=27, CONTACTS[0]).await;
    assert_eq!(days_of(&before), vec![17, 27], "{before:?}");
    assert!(before[1].1.starts_with("Reminder: "), "{before:?}");
    let id = fleet.firing("acme.test").await;
    fleet
        .lab
        .store
        .acknowledge_alert(id, "ann", fleet.at(28, -1))
        .await
        .expect("ack");
    // Acknowledged: nothing until the 14-day threshold (day 33), then
    // daily again.
    let after = fleet.days(28..=35, CONTACTS[0]).await;
    assert_eq!(days_of(&after), vec![33, 34, 35], "{after:?}");
    assert!(after[0].1.contains("expires in 14 days"), "{after:?}");
    // Who and when, in the list and the ledger.
    let alerts = fleet.lab.store.list_alerts(false).await.expect("alerts");
    let alert = alerts.iter().find(|a| a.id == id).expect("alert");
    assert_eq!(alert.acknowledged_by.as_deref(), Some("ann"));
    assert!(
        alert
            .events
            .iter()
            .any(|e| e.starts_with("acknowledged:") && e.ends_with(" by ann")),
        "{:?}",
        alert.events
    );
}

#[tokio::test]
async fn a_snooze_holds_every_reminder_until_its_date() {
    let fleet = Fleet::new().await;
    let first = fleet.days(0..=17, CONTACTS[0]).await;
    assert_eq!(days_of(&first), vec![17], "{first:?}");
    let id = fleet.firing("acme.test").await;
    fleet
        .lab
        .store
        .snooze_alert(id, Some(fleet.at(40, -2)), "bob", fleet.at(18, 0))
        .await
        .expect("snooze");
    // The 14-day threshold (day 33) is held; on day 40 the snooze is over
    // and the lowest threshold due (7) is told, once.
    let held = fleet.days(18..=41, CONTACTS[0]).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].0, 40, "{held:?}");
    assert!(held[0].1.contains("expires in 7 days"), "{held:?}");
    let staff = fleet.days(42..=42, STAFF).await;
    assert!(staff.is_empty(), "{staff:?}");
}

#[tokio::test]
async fn a_maintenance_window_holds_a_domains_alerts_and_lets_them_through_after() {
    let fleet = Fleet::new().await;
    // Globex's 30-day threshold falls on day 60, inside the window.
    let window = fleet
        .lab
        .store
        .add_mute(
            &NewMute {
                domain: HostName::from_canonical("globex.test"),
                endpoint: None,
                starts_at: fleet.at(55, 0),
                ends_at: fleet.at(64, 12),
                reason: "registrar transfer".into(),
                by: "carol".into(),
            },
            fleet.start,
        )
        .await
        .expect("mute");
    assert_eq!(window.created_by, "carol");
    let globex = fleet.days(50..=66, GLOBEX_CONTACT).await;
    assert_eq!(days_of(&globex), vec![65], "{globex:?}");
    assert!(globex[0].1.contains("expires in 25 days"), "{globex:?}");
    // Acme's own alerts were never held.
    let mutes = fleet
        .lab
        .store
        .list_mutes(true, fleet.at(70, 0))
        .await
        .expect("mutes");
    assert_eq!(mutes.len(), 1);
    assert_eq!(mutes[0].reason, "registrar transfer");
}

#[tokio::test]
async fn an_expired_certificate_under_a_mute_still_reminds_staff_alone() {
    let fleet = Fleet::new().await;
    let store = &fleet.lab.store;
    let host = HostName::from_canonical("shop.acme-shop.test");
    store
        .add_endpoint(
            &host,
            443,
            &HostName::from_canonical("acme-shop.test"),
            Some(CLIENT),
            fleet.start,
        )
        .await
        .expect("endpoint");
    let id = store.endpoint_id(&host, 443).await.expect("id");
    store
        .record_cert_observations(
            id,
            &[observation("127.0.0.1", 47, fleet.start)],
            fleet.start,
        )
        .await
        .expect("observation");
    store
        .add_mute(
            &NewMute {
                domain: HostName::from_canonical("acme-shop.test"),
                endpoint: Some((host.clone(), 443)),
                starts_at: fleet.at(45, 0),
                ends_at: fleet.at(52, 0),
                reason: "datacenter move".into(),
                by: "dave".into(),
            },
            fleet.start,
        )
        .await
        .expect("mute");
    let mut client = Vec::new();
    let mut staff = Vec::new();
    for day in 40..=53 {
        for mail in fleet.run(fleet.at(day, 1)).await {
            if !mail.subject.contains("shop.acme-shop.test") {
                continue;
            }
            if mail.to.iter().any(|t| t == STAFF) {
                staff.push((day, mail));
            } else {
                client.push((day, mail.subject));
            }
        }
    }
    // The client: the 7-day threshold before the window, the expiry after it.
    assert_eq!(
        client.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        vec![40, 52],
        "{client:?}"
    );
    assert!(client[1].1.contains("expired"), "{client:?}");
    // Staff: told the day it expired, under the mute, alone.
    let held: Vec<&(i64, OutgoingEmail)> = staff
        .iter()
        .filter(|(_, m)| m.subject.starts_with("[staff only, held]"))
        .collect();
    assert_eq!(
        held.len(),
        1,
        "{:?}",
        staff
            .iter()
            .map(|(d, m)| (d, &m.subject))
            .collect::<Vec<_>>()
    );
    assert_eq!(held[0].0, 47);
    assert_eq!(held[0].1.to, vec![STAFF]);
    assert!(
        held[0].1.text.contains("muted by dave"),
        "{}",
        held[0].1.text
    );
    assert!(
        held[0].1.text.contains("datacenter move"),
        "{}",
        held[0].1.text
    );
}

/// `lapse` with the fleet's config and database: its output (exit 0).
fn lapse(fleet: &Fleet, args: &[&str]) -> String {
    let run = fleet.lab.env.run(args);
    assert_eq!(run.code, 0, "{args:?}: {run:?}");
    run.stdout
}

#[tokio::test]
async fn the_command_line_acknowledges_snoozes_mutes_and_keeps_runbooks() {
    let fleet = Fleet::new().await;
    fleet.run(fleet.at(17, 0)).await;
    let id = fleet.firing("acme.test").await.to_string();
    let out = lapse(&fleet, &["alerts", "ack", &id, "--by", "ann"]);
    assert!(out.contains("acknowledged by ann"), "{out}");
    lapse(
        &fleet,
        &[
            "alerts",
            "snooze",
            &id,
            "--until",
            "2099-01-01",
            "--by",
            "bob",
        ],
    );
    let list = lapse(&fleet, &["alerts", "list"]);
    assert!(list.contains(" by ann"), "{list}");
    assert!(
        list.contains("snoozed until 2099-01-01T00:00:00Z by bob"),
        "{list}"
    );
    lapse(&fleet, &["alerts", "unsnooze", &id, "--by", "bob"]);
    let json: serde_json::Value =
        serde_json::from_str(&lapse(&fleet, &["alerts", "list", "--json"])).expect("JSON");
    let alert = &json.as_array().expect("list")[0];
    assert_eq!(alert["acknowledged_by"], "ann", "{alert}");
    assert!(alert["snoozed_until"].is_null(), "{alert}");
    let events = alert["events"].to_string();
    assert!(
        events.contains("unsnoozed:") && events.contains(" by bob"),
        "{events}"
    );
    // A snooze refuses a past date, an unknown alert is an input error.
    assert_eq!(
        fleet
            .lab
            .env
            .run(&["alerts", "snooze", &id, "--until", "2001-01-01"])
            .code,
        2
    );
    assert_eq!(fleet.lab.env.run(&["alerts", "ack", "9999"]).code, 2);

    let out = lapse(
        &fleet,
        &[
            "domains",
            "mute",
            "globex.test",
            "--until",
            "2099-01-01",
            "--reason",
            "registrar transfer",
            "--by",
            "carol",
        ],
    );
    assert!(
        out.contains("globex.test") && out.contains("registrar transfer"),
        "{out}"
    );
    assert!(lapse(&fleet, &["domains", "mutes"]).contains("by carol"));
    let out = lapse(&fleet, &["domains", "unmute", "globex.test", "--by", "dan"]);
    assert!(
        out.starts_with("lifted #") && out.contains(" by dan"),
        "{out}"
    );
    assert!(lapse(&fleet, &["domains", "mutes"]).contains("no current maintenance windows"));

    lapse(
        &fleet,
        &[
            "alerts",
            "runbook",
            "--client",
            "Acme",
            "--account",
            "Gandi acme",
        ],
    );
    let out = lapse(
        &fleet,
        &[
            "alerts",
            "runbook",
            "--domain",
            "acme.test",
            "--howto",
            "renew 2 years",
        ],
    );
    assert!(out.contains("renew 2 years"), "{out}");
    let out = lapse(&fleet, &["alerts", "repeat", "--client", "Globex", "5"]);
    assert!(out.contains("last 5 days"), "{out}");
    assert_eq!(
        fleet
            .lab
            .env
            .run(&["alerts", "repeat", "--domain", "acme.test", "0"])
            .code,
        2
    );
}

const EVERYONE: &[&str] = &["viewer", "acme", "staff", "admin"];
const WRITERS: &[&str] = &["staff", "admin"];
const FLEET_READERS: &[&str] = &["viewer", "staff", "admin"];

/// The alert-handling routes on the Acme/Globex API fleet, for the
/// whole-API checks in `api.rs` (401 without a token, 403 for roles not
/// allowed, documented in OpenAPI).
pub async fn api_routes(app: &TestApp) -> Vec<crate::api_fleet::RouteRow> {
    let acme = app.ids["acme"];
    let alerts = app.store.list_alerts(false).await.expect("alerts");
    let alert = alerts
        .iter()
        .find(|a| a.subject == "acme.test")
        .expect("the fleet's acme.test alert")
        .id;
    let now = Utc::now();
    let window = app
        .store
        .add_mute(
            &NewMute {
                domain: HostName::from_canonical("globex.test"),
                endpoint: None,
                starts_at: now,
                ends_at: now + Duration::days(2),
                reason: "maintenance".into(),
                by: "test".into(),
            },
            now,
        )
        .await
        .expect("mute")
        .id;
    let until = lapse::store::format_time(now + Duration::days(3));
    vec![
        (
            "POST",
            "/api/v1/alerts/{id}/acknowledge",
            format!("/api/v1/alerts/{alert}/acknowledge"),
            None,
            WRITERS,
        ),
        (
            "PUT",
            "/api/v1/alerts/{id}/snooze",
            format!("/api/v1/alerts/{alert}/snooze"),
            Some(serde_json::json!({ "until": until })),
            WRITERS,
        ),
        (
            "DELETE",
            "/api/v1/alerts/{id}/snooze",
            format!("/api/v1/alerts/{alert}/snooze"),
            None,
            WRITERS,
        ),
        (
            "GET",
            "/api/v1/mutes",
            "/api/v1/mutes".into(),
            None,
            FLEET_READERS,
        ),
        (
            "POST",
            "/api/v1/mutes",
            "/api/v1/mutes".into(),
            Some(serde_json::json!({
                "domain": "acme.test", "ends_at": until, "reason": "deploy"
            })),
            WRITERS,
        ),
        (
            "DELETE",
            "/api/v1/mutes/{id}",
            format!("/api/v1/mutes/{window}"),
            None,
            WRITERS,
        ),
        (
            "GET",
            "/api/v1/domains/{name}/runbook",
            "/api/v1/domains/acme.test/runbook".into(),
            None,
            EVERYONE,
        ),
        (
            "PUT",
            "/api/v1/domains/{name}/runbook",
            "/api/v1/domains/acme.test/runbook".into(),
            Some(serde_json::json!({ "howto": "renew at Gandi", "repeat_days": 5 })),
            WRITERS,
        ),
        (
            "GET",
            "/api/v1/clients/{id}/runbook",
            format!("/api/v1/clients/{acme}/runbook"),
            None,
            EVERYONE,
        ),
        (
            "PUT",
            "/api/v1/clients/{id}/runbook",
            format!("/api/v1/clients/{acme}/runbook"),
            Some(serde_json::json!({ "account": "Gandi acme", "renewer": "agency ops" })),
            WRITERS,
        ),
    ]
}

#[tokio::test]
async fn the_api_acknowledges_snoozes_and_mutes_recording_the_tokens_name() {
    let app = TestApp::new().await;
    let alerts = app.store.list_alerts(false).await.expect("alerts");
    let id = alerts
        .iter()
        .find(|a| a.subject == "acme.test")
        .expect("alert")
        .id;
    let reply = app
        .call(
            "POST",
            &format!("/api/v1/alerts/{id}/acknowledge"),
            Some("staff"),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["acknowledged_by"], "token staff", "{reply:?}");
    let path = format!("/api/v1/alerts/{id}/snooze");
    let past = app
        .call(
            "PUT",
            &path,
            Some("staff"),
            Some(serde_json::json!({"until": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(
        (past.status, past.field()),
        (422, Some("until")),
        "{past:?}"
    );
    let missing = app
        .call(
            "POST",
            "/api/v1/alerts/999999/acknowledge",
            Some("admin"),
            None,
        )
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
    // The alert list shows who acknowledged it.
    let list = app.get("/api/v1/alerts?state=firing", "viewer").await;
    let item = list.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .expect("listed");
    assert_eq!(item["acknowledged_by"], "token staff", "{item}");

    let created = app
        .call(
            "POST",
            "/api/v1/mutes",
            Some("admin"),
            Some(serde_json::json!({
                "domain": "globex.test", "ends_at": "2099-01-01T00:00:00Z", "reason": "move"
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["created_by"], "token admin");
    let backwards = app
        .call(
            "POST",
            "/api/v1/mutes",
            Some("admin"),
            Some(serde_json::json!({
                "domain": "globex.test", "starts_at": "2099-01-02T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z", "reason": "move"
            })),
        )
        .await;
    assert_eq!(backwards.status, 422, "{backwards:?}");
    let listed = app.get("/api/v1/mutes", "viewer").await;
    assert_eq!(listed.json.as_array().map(Vec::len), Some(1), "{listed:?}");
    let lifted = app
        .call(
            "DELETE",
            &format!("/api/v1/mutes/{}", created.json["id"]),
            Some("staff"),
            None,
        )
        .await;
    assert_eq!(lifted.json["lifted_by"], "token staff", "{lifted:?}");

    let bad = app
        .call(
            "PUT",
            "/api/v1/domains/acme.test/runbook",
            Some("staff"),
            Some(serde_json::json!({"repeat_days": 0})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (422, Some("repeat_days")),
        "{bad:?}"
    );
    app.stop().await;
}
