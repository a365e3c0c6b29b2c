//! Channels and routing (issue 18 items 1 and 2), end to end on loopback:
//! certificates served by loopback sites and scanned by the real engine
//! under the test clock, alerts queued in the outbox, delivered by the real
//! sender to a recorder per channel that checks each request against the
//! service's documented shape and answers as told (429 with Retry-After,
//! 500, 400).

use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::harness::app::TestApp;
use crate::harness::recorder::{Answer, Recorded, Recorder};
use crate::harness::sites::CLIENT;

const BOT_TOKEN: &str = "123456:ABC-test_token";
const ROUTING_KEY: &str = "R0UT1NGKEY0000000000000000000000";
const NTFY_TOKEN: &str = "tk_testtoken";

/// One recorder per service, each answering as that service does.
struct Services {
    teams: Recorder,
    telegram: Recorder,
    ntfy: Recorder,
    pagerduty: Recorder,
    chat: Recorder,
}

impl Services {
    async fn start() -> Self {
        Self {
            teams: Recorder::start(Answer::status(202)).await,
            telegram: Recorder::start(
                Answer::status(200).body(r#"{"ok":true,"result":{"message_id":7}}"#),
            )
            .await,
            ntfy: Recorder::start(Answer::status(200).body(r#"{"id":"x1","event":"message"}"#))
                .await,
            pagerduty: Recorder::start(
                Answer::status(202)
                    .body(r#"{"status":"success","message":"Event processed","dedup_key":"k"}"#),
            )
            .await,
            chat: Recorder::start(Answer::status(200).body("ok")).await,
        }
    }

    /// Every kind of channel, named.
    fn config(&self) -> String {
        format!(
            "[channels.ops-teams]\nkind = \"teams\"\nurl = \"{}\"\n\n\
             [channels.ops-telegram]\nkind = \"telegram\"\napi_url = \"{}\"\nbot_token = \"{BOT_TOKEN}\"\nchat_id = -1001234567890\n\n\
             [channels.ops-ntfy]\nkind = \"ntfy\"\nurl = \"{}\"\ntoken = \"{NTFY_TOKEN}\"\n\n\
             [channels.oncall]\nkind = \"pagerduty\"\nevents_url = \"{}\"\nrouting_key = \"{ROUTING_KEY}\"\n\n\
             [channels.ops-slack]\nkind = \"slack\"\nurl = \"{}\"\n\n\
             [channels.ops-discord]\nkind = \"discord\"\nurl = \"{}\"\n\n\
             [channels.ops-hook]\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"hook-key\"\n",
            self.teams.url("/workflows/abc/triggers/manual/paths/invoke"),
            self.telegram.url(""),
            self.ntfy.url("/lapse-alerts"),
            self.pagerduty.url("/v2/enqueue"),
            self.chat.url("/slack"),
            self.chat.url("/discord"),
            self.chat.url("/hook"),
        )
    }
}

const ALL_CHANNELS: [&str; 7] = [
    "ops-teams",
    "ops-telegram",
    "ops-ntfy",
    "oncall",
    "ops-slack",
    "ops-discord",
    "ops-hook",
];

async fn attach(lab: &TestApp, args: &[&str]) {
    let mut all = vec!["channels", "attach"];
    all.extend_from_slice(args);
    let run = lab.env.run_async(&all).await;
    assert_eq!(run.code, 0, "{run:?}");
}

fn one(requests: Vec<Recorded>, what: &str) -> Recorded {
    assert_eq!(requests.len(), 1, "{what}: {requests:?}");
    requests.into_iter().next().expect("one")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_posts_once_in_its_documented_shape() {
    let services = Services::start().await;
    let mut lab = TestApp::lab(&services.config()).await;
    for name in ALL_CHANNELS {
        attach(&lab, &[name, "--staff"]).await;
    }
    let leaf = lab.leaf("shop.lapse.test", -80, 7);
    lab.site("shop.lapse.test", &leaf).await;
    let site = lab.sites[0].name();
    lab.scan(lab.now()).await;
    let report = lab.deliver(lab.now()).await;
    assert_eq!(report.failed, Vec::<String>::new(), "{report:?}");
    let title = format!("Certificate for {site} expires in 7 days");

    let teams = one(services.teams.requests(), "teams");
    assert_eq!(teams.method, "POST");
    assert_eq!(teams.path, "/workflows/abc/triggers/manual/paths/invoke");
    assert_eq!(teams.header("content-type"), "application/json");
    let card = teams.json();
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    let card_title = attachment["content"]["body"][0]["text"]
        .as_str()
        .expect("title");
    assert!(card_title.starts_with(&title), "{card_title}");
    assert_eq!(
        attachment["content"]["body"][1]["facts"][1]["value"],
        CLIENT
    );

    let telegram = one(services.telegram.requests(), "telegram");
    assert_eq!(telegram.path, format!("/bot{BOT_TOKEN}/sendMessage"));
    let message = telegram.json();
    assert_eq!(message["chat_id"], -1_001_234_567_890_i64);
    assert_eq!(message["parse_mode"], "MarkdownV2");
    // MarkdownV2: every `.`, `(`, `)`, `-`, `[`, `]` outside the markup escaped.
    let port = lab.sites[0].port;
    let date = leaf.validity.not_after.format("%Y\\-%m\\-%d");
    assert_eq!(
        message["text"],
        format!(
            "*Certificate for shop\\.lapse\\.test:{port} expires in 7 days \\({date}\\)*\n\\[warning\\] _Acme_"
        )
    );

    let ntfy = one(services.ntfy.requests(), "ntfy");
    assert_eq!(
        (ntfy.method.as_str(), ntfy.path.as_str()),
        ("POST", "/lapse-alerts")
    );
    assert!(ntfy.header("title").starts_with(&title), "{ntfy:?}");
    assert_eq!(ntfy.header("priority"), "4");
    assert_eq!(ntfy.header("tags"), "warning,lapse");
    assert_eq!(ntfy.header("authorization"), format!("Bearer {NTFY_TOKEN}"));
    assert!(
        ntfy.text().starts_with(&format!("Client: {CLIENT}")),
        "{}",
        ntfy.text()
    );

    let page = one(services.pagerduty.requests(), "pagerduty").json();
    assert_eq!(page["routing_key"], ROUTING_KEY);
    assert_eq!(page["event_action"], "trigger");
    assert!(
        page["dedup_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("alert-")),
        "{page}"
    );
    assert!(
        page["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with(&title)),
        "{page}"
    );
    assert_eq!(page["payload"]["source"], site.as_str());
    assert_eq!(page["payload"]["severity"], "warning");

    let slack = one(services.chat.requests_to("/slack"), "slack").json();
    assert!(
        slack["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("[lapse warning] ")),
        "{slack}"
    );
    let discord = one(services.chat.requests_to("/discord"), "discord").json();
    assert!(
        discord["content"]
            .as_str()
            .is_some_and(|t| t.contains(&title)),
        "{discord}"
    );
    let hook = one(services.chat.requests_to("/hook"), "webhook");
    let signature = hook.header("x-lapse-signature").to_owned();
    let (t, v1) = signature
        .split_once(",v1=")
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, hex::decode(v).ok()?)))
        .expect("t=..,v1=..");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-key").expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&hook.body);
    assert!(mac.verify_slice(&v1).is_ok(), "the signature verifies");
    assert_eq!(hook.json()["kind"], "cert_expiry");

    // Once: another round, and another scan, post nothing more.
    lab.scan(lab.later(1)).await;
    lab.deliver(lab.later(1)).await;
    let total = services.teams.requests().len()
        + services.telegram.requests().len()
        + services.ntfy.requests().len()
        + services.pagerduty.requests().len()
        + services.chat.requests().len();
    assert_eq!(total, 7);
    // The outbox names each channel; no URL or token is stored.
    let outbox = lab.outbox().await;
    for name in ALL_CHANNELS {
        assert!(
            outbox
                .iter()
                .any(|m| m.recipient == name && m.state == "sent"),
            "{name}: {outbox:?}"
        );
    }
    let dump = lab
        .env
        .run_async(&["outbox", "list", "--json"])
        .await
        .stdout;
    for secret in [BOT_TOKEN, ROUTING_KEY, NTFY_TOKEN, "hook-key"] {
        assert!(!dump.contains(secret), "{secret} in the outbox");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_wait_for_retry_after_and_permanent_ones_give_up_with_the_reason() {
    let services = Services::start().await;
    let mut lab = TestApp::lab(&services.config()).await;
    attach(&lab, &["ops-teams", "--staff"]).await;
    attach(&lab, &["ops-telegram", "--staff"]).await;
    services
        .teams
        .answer_next(vec![Answer::too_many(120), Answer::status(500)]);
    services.telegram.answer_next(vec![Answer::status(400)
        .body(r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#)]);
    let leaf = lab.leaf("shop.lapse.test", -80, 7);
    lab.site("shop.lapse.test", &leaf).await;
    let start = lab.now();
    lab.scan(start).await;

    let report = lab.deliver(start).await;
    assert_eq!(
        (report.retrying.len(), report.failed.len()),
        (1, 1),
        "{report:?}"
    );
    let outbox = lab.outbox().await;
    let teams = outbox
        .iter()
        .find(|m| m.recipient == "ops-teams")
        .expect("teams row");
    assert_eq!(teams.state, "pending");
    assert_eq!(
        teams.next_attempt_at,
        lapse::store::format_time(start + Duration::seconds(120))
    );
    // Before Retry-After has passed, nothing is sent.
    lab.deliver(start + Duration::seconds(60)).await;
    assert_eq!(services.teams.requests().len(), 1);
    // Then a 500 without Retry-After: retried after lapse's own backoff
    // (the second attempt's: twice `outbox.retry_base_secs`); then delivered, once.
    let report = lab.deliver(start + Duration::seconds(121)).await;
    assert_eq!(report.retrying.len(), 1, "{report:?}");
    let report = lab.deliver(start + Duration::seconds(121 + 119)).await;
    assert!(report.sent.is_empty(), "{report:?}");
    let report = lab.deliver(start + Duration::seconds(121 + 120)).await;
    assert_eq!(report.sent.len(), 1, "{report:?}");
    assert_eq!(services.teams.requests().len(), 3);
    lab.deliver(start + Duration::hours(2)).await;
    assert_eq!(services.teams.requests().len(), 3);
    // The 400 was permanent: one request, and the reason in `lapse outbox list`.
    assert_eq!(services.telegram.requests().len(), 1);
    let run = lab
        .env
        .run_async(&["outbox", "list", "--state", "failed"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("ops-telegram"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "last error: Telegram `ops-telegram` answered HTTP 400 Bad Request: Bad Request: chat not found"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(BOT_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_gets_trigger_then_resolve_with_the_same_dedup_key() {
    let services = Services::start().await;
    let mut lab = TestApp::lab(&services.config()).await;
    attach(
        &lab,
        &[
            "oncall",
            "--staff",
            "--min-severity",
            "warning",
            "--events",
            "expiry",
        ],
    )
    .await;
    let leaf = lab.leaf("shop.lapse.test", -80, 7);
    let site = lab.site("shop.lapse.test", &leaf).await;
    lab.scan(lab.now()).await;
    lab.deliver(lab.now()).await;
    // Renewed: the alert resolves.
    let renewed = lab.leaf("shop.lapse.test", -1, 90);
    lab.serve(site, &renewed).await;
    lab.scan(lab.later(2)).await;
    lab.deliver(lab.later(2)).await;

    let events: Vec<serde_json::Value> = services
        .pagerduty
        .requests()
        .iter()
        .map(Recorded::json)
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event_action"], "trigger");
    assert_eq!(events[1]["event_action"], "resolve");
    assert_eq!(events[0]["dedup_key"], events[1]["dedup_key"]);
    assert_eq!(events[1]["routing_key"], ROUTING_KEY);
    assert!(
        events[1].get("payload").is_none(),
        "a resolve carries no payload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_channel_never_receives_another_clients_alert() {
    let services = Services::start().await;
    let mut lab = TestApp::lab(&services.config()).await;
    lab.store
        .add_client("Globex", &["it@globex.test".to_owned()], lab.now())
        .await
        .expect("client");
    attach(&lab, &["ops-slack", "--client", CLIENT]).await;
    attach(&lab, &["ops-telegram", "--client", "Globex"]).await;
    // Staff's pager: critical only.
    attach(&lab, &["oncall", "--staff", "--min-severity", "critical"]).await;
    let acme = lab.leaf("shop.lapse.test", -80, 7);
    lab.site("shop.lapse.test", &acme).await;
    let globex = lab.leaf("www.globex.test", -80, 2);
    lab.site_for("www.globex.test", &globex, "Globex").await;
    let (acme_site, globex_site) = (lab.sites[0].name(), lab.sites[1].name());
    lab.scan(lab.now()).await;
    lab.deliver(lab.now()).await;

    let slack = one(services.chat.requests_to("/slack"), "Acme's Slack").json();
    let text = slack["text"].as_str().expect("text");
    assert!(
        text.contains(&acme_site) && !text.contains("globex"),
        "{text}"
    );
    let telegram = one(services.telegram.requests(), "Globex's Telegram").json();
    let text = telegram["text"].as_str().expect("text");
    assert!(text.contains("globex") && !text.contains("shop"), "{text}");
    // Staff's critical route: the 2-day certificate only.
    let page = one(services.pagerduty.requests(), "staff pager").json();
    assert_eq!(page["payload"]["source"], globex_site.as_str());
    assert_eq!(page["payload"]["severity"], "critical");
    // Detached, the client's channel hears nothing more.
    let run = lab
        .env
        .run_async(&["channels", "detach", "ops-slack", "--client", CLIENT])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    // Eight days on, Acme's certificate has expired: its channel is no longer told.
    lab.scan(lab.later(24 * 8)).await;
    lab.deliver(lab.later(24 * 8)).await;
    assert_eq!(services.chat.requests_to("/slack").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_test_prints_the_answer_and_list_shows_routes_without_secrets() {
    let services = Services::start().await;
    let lab = TestApp::lab(&services.config()).await;
    let run = lab
        .env
        .run_async(&["channels", "test", "ops-telegram"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("ops-telegram (telegram) answered HTTP 200\n{\"ok\":true"),
        "{}",
        run.stdout
    );
    let sent = one(services.telegram.requests(), "test message").json();
    assert!(
        sent["text"]
            .as_str()
            .is_some_and(|t| t.contains("lapse test message")),
        "{sent}"
    );

    services.ntfy.answer_next(vec![
        Answer::status(403).body(r#"{"code":40301,"http":403,"error":"forbidden"}"#)
    ]);
    let run = lab.env.run_async(&["channels", "test", "ops-ntfy"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("answered HTTP 403"), "{run:?}");
    assert!(run.stdout.contains("forbidden"), "{run:?}");

    attach(
        &lab,
        &["ops-teams", "--client", CLIENT, "--min-severity", "warning"],
    )
    .await;
    let run = lab.env.run_async(&["channels", "list"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("ops-teams        teams\n  Acme: warning and above, events expiry,status\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("oncall           pagerduty\n  not attached"),
        "{}",
        run.stdout
    );
    let check = lab.env.run_async(&["config", "check"]).await;
    for secret in [BOT_TOKEN, ROUTING_KEY, NTFY_TOKEN, "hook-key"] {
        assert!(
            !run.stdout.contains(secret) && !check.stdout.contains(secret),
            "{secret} printed"
        );
    }
    let run = lab.env.run_async(&["channels", "test", "nowhere"]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_secrets_come_from_files_or_the_environment() {
    let services = Services::start().await;
    let lab = TestApp::lab("").await;
    let token_file = lab.env.write("bot-token", &format!("{BOT_TOKEN}\n"));
    std::fs::write(
        lab.env.config_path(),
        format!(
            "{}\n[channels.tg]\nkind = \"telegram\"\napi_url = \"{}\"\nbot_token_file = \"{}\"\nchat_id = \"@lapse_alerts\"\n",
            std::fs::read_to_string(lab.env.config_path()).expect("config"),
            services.telegram.url(""),
            token_file.display()
        ),
    )
    .expect("config");
    let run = lab.env.run_async(&["channels", "test", "tg"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let sent = one(services.telegram.requests(), "from the file");
    assert_eq!(sent.path, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(sent.json()["chat_id"], "@lapse_alerts");

    let mut cmd = lab.env.command(&["channels", "test", "pd"]);
    cmd.env("LAPSE_CHANNELS__PD__KIND", "pagerduty")
        .env(
            "LAPSE_CHANNELS__PD__EVENTS_URL",
            services.pagerduty.url("/v2/enqueue"),
        )
        .env("LAPSE_CHANNELS__PD__ROUTING_KEY", ROUTING_KEY);
    let output = tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        one(services.pagerduty.requests(), "from the environment").json()["routing_key"],
        ROUTING_KEY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_attaches_and_detaches_routes_for_staff_only() {
    let services = Services::start().await;
    let app = TestApp::builder()
        .fleet()
        .api()
        .config(&services.config())
        .build()
        .await;
    let acme = app.ids["acme"];
    let path = format!("/api/v1/channels/ops-teams/clients/{acme}");
    let body = serde_json::json!({ "min_severity": "warning", "events": ["expiry"] });
    let reply = app
        .call("PUT", &path, Some("staff"), Some(body.clone()))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["attached_to"], "Acme");
    assert_eq!(reply.json["events"], serde_json::json!(["expiry"]));
    let reply = app
        .call(
            "PUT",
            "/api/v1/channels/oncall/staff",
            Some("admin"),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["min_severity"], "info");

    let list = app.get("/api/v1/channels", "viewer").await;
    assert_eq!(list.status, 200, "{list:?}");
    let teams = list
        .json
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["name"] == "ops-teams")
        .cloned()
        .expect("ops-teams");
    assert_eq!(teams["kind"], "teams");
    assert_eq!(teams["routes"][0]["attached_to"], "Acme");
    for secret in [
        BOT_TOKEN,
        ROUTING_KEY,
        NTFY_TOKEN,
        "hook-key",
        "/workflows/",
    ] {
        assert!(!list.text.contains(secret), "{secret} in the API");
    }

    // Clients see no channels and change none.
    assert_eq!(app.get("/api/v1/channels", "acme").await.status, 403);
    assert_eq!(
        app.call("PUT", &path, Some("acme"), Some(body.clone()))
            .await
            .status,
        403
    );
    assert_eq!(
        app.call("PUT", &path, Some("viewer"), Some(body))
            .await
            .status,
        403
    );
    // Refusals name what is wrong.
    let reply = app
        .call(
            "PUT",
            &path,
            Some("staff"),
            Some(serde_json::json!({ "min_severity": "loud" })),
        )
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (422, Some("min_severity")),
        "{reply:?}"
    );
    let reply = app
        .call(
            "PUT",
            "/api/v1/channels/nowhere/staff",
            Some("staff"),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(reply.status, 404, "{reply:?}");

    assert_eq!(
        app.call("DELETE", &path, Some("staff"), None).await.status,
        204
    );
    assert_eq!(
        app.call("DELETE", &path, Some("staff"), None).await.status,
        404
    );
}
