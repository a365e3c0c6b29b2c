use super::*;
use crate::config::Secret;

fn payload(resolved: bool) -> ChannelPayload {
    ChannelPayload {
        alert_kind: "cert_expiry".into(),
        event: if resolved { "resolved" } else { "threshold:7" }.into(),
        resolved,
        severity: if resolved {
            Severity::Info
        } else {
            Severity::Warning
        },
        subject: "shop.example.com".into(),
        client: Some("Acme (EU)".into()),
        title: "Certificate for shop.example.com expires in 7 days".into(),
        text: "[lapse warning] Certificate for shop.example.com expires in 7 days".into(),
        details: vec!["served by 192.0.2.1: chain ends 2026-12-12".into()],
        days_left: Some(7),
        expires_at: None,
        generic: serde_json::json!({ "kind": "cert_expiry" }),
    }
}

#[test]
fn markdown_v2_escapes_every_reserved_character_and_the_backslash() {
    assert_eq!(
        escape_markdown_v2("a_b*c[d]e(f)g~h`i>j#k+l-m=n|o{p}q.r!s\\t"),
        "a\\_b\\*c\\[d\\]e\\(f\\)g\\~h\\`i\\>j\\#k\\+l\\-m\\=n\\|o\\{p\\}q\\.r\\!s\\\\t"
    );
    assert_eq!(escape_markdown_v2("bücher.example"), "bücher\\.example");
    let text = telegram::text(&payload(false));
    assert!(text.starts_with("*Certificate for shop\\.example\\.com expires in 7 days*\n\\[warning\\] _Acme \\(EU\\)_"), "{text}");
}

#[test]
fn pagerduty_triggers_and_resolves_with_the_same_key() {
    let trigger = pagerduty::request(
        "https://pd.test/v2/enqueue",
        "rk",
        "alert-4@x",
        &payload(false),
    );
    let body: serde_json::Value = serde_json::from_slice(&trigger.body).expect("json");
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["dedup_key"], "alert-4@x");
    assert_eq!(body["routing_key"], "rk");
    assert_eq!(body["payload"]["severity"], "warning");
    assert_eq!(body["payload"]["source"], "shop.example.com");
    let resolve = pagerduty::request(
        "https://pd.test/v2/enqueue",
        "rk",
        "alert-4@x",
        &payload(true),
    );
    let body: serde_json::Value = serde_json::from_slice(&resolve.body).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"routing_key": "rk", "event_action": "resolve", "dedup_key": "alert-4@x"})
    );
}

#[test]
fn ntfy_headers_carry_title_priority_tags_and_the_token() {
    let request = ntfy::request("https://ntfy.test/lapse", Some("tk_1"), &payload(false));
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("Priority").as_deref(), Some("4"));
    assert_eq!(header("Tags").as_deref(), Some("warning,lapse"));
    assert_eq!(header("Authorization").as_deref(), Some("Bearer tk_1"));
    assert_eq!(ntfy::header_text("bücher"), "=?UTF-8?B?YsO8Y2hlcg==?=");
}

#[test]
fn answers_are_judged_transient_or_permanent_by_status() {
    let answer = |status| ChannelAnswer {
        channel: "ops".into(),
        kind: "teams",
        status,
        body: String::new(),
    };
    assert!(judge("x", answer(202), None, "").is_ok());
    for status in [408, 429, 500, 503] {
        let error = judge("x", answer(status), Some("7"), "").expect_err("fails");
        assert!(error.is_retryable(), "{status}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    }
    for status in [400, 401, 403, 404, 410] {
        let error = judge(
            "x",
            answer(status),
            None,
            r#"{"description":"Bad Request: chat not found"}"#,
        )
        .expect_err("fails");
        assert!(!error.is_retryable(), "{status}");
        assert!(
            error.message.ends_with(": Bad Request: chat not found"),
            "{}",
            error.message
        );
    }
    let telegram = judge(
        "x",
        answer(429),
        None,
        r#"{"ok":false,"parameters":{"retry_after":30}}"#,
    )
    .expect_err("fails");
    assert_eq!(telegram.retry_after(), Some(Duration::from_secs(30)));
}

#[test]
fn a_teams_card_is_an_adaptive_card_in_a_message() {
    let request = teams::request("https://teams.test/workflows", &payload(false));
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(
        attachment["content"]["body"][0]["text"],
        payload(false).title
    );
    let _ = Secret::new("unused");
}
