//! The client portal over real HTTP: a contact signs in through the link
//! mailed to it (the outbox, the real sender, a loopback SMTP server),
//! staff share and revoke portal links, and a client sees only its own
//! domains: another client's answers 404 exactly like a missing one.

use chrono::Utc;
use lapse::domain::access::Role;

use crate::harness::app::TestApp;
use crate::harness::sites::smtp_config_without_staff;
use crate::harness::smtp::SmtpSink;
use crate::harness::web_users::{
    form_token, get_page, hidden_csrf, post_form, set_cookie, set_cookie_line, sign_in,
    sign_in_client,
};

/// The fleet (Acme: `acme.test`, contact `ops@acme.example`; Globex:
/// `globex.test`, contact `it@globex.example`) served, mail to `sink`.
async fn portal_app(sink: &SmtpSink, extra: &str) -> TestApp {
    let config = smtp_config_without_staff(
        sink.port(),
        &format!(
            "[agency]\nname = \"Brightside Web\"\nreply_to = \"help@brightside.example\"\n{extra}"
        ),
    );
    TestApp::builder()
        .fleet()
        .api()
        .config(&config)
        .build()
        .await
}

/// Asks for a sign-in link for `email`: the page's answer.
async fn request_link(app: &TestApp, email: &str) -> (u16, String) {
    let (_, cookie, token) = form_token(app, "/sign-in/client").await;
    let response = post_form(
        app,
        "/sign-in/client",
        &cookie,
        &[("_csrf", &token), ("email", email)],
    )
    .await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The sign-in links (paths) in a mail's text.
fn links_in(mail: &str) -> Vec<String> {
    mail.match_indices("/sign-in/link/")
        .map(|(at, _)| {
            let rest = &mail[at..];
            let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
            rest[..end].to_owned()
        })
        .collect()
}

/// The domains a portal page lists.
fn listed_domains(page: &str) -> Vec<String> {
    page.match_indices("<tr data-domain=\"")
        .map(|(at, m)| {
            let rest = &page[at + m.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
        .collect()
}

async fn text(response: reqwest::Response) -> String {
    response.text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_signs_in_through_the_mailed_link_once_and_sees_only_its_clients_domains() {
    let sink = SmtpSink::plain().await;
    let app = portal_app(&sink, "").await;

    let (status, page) = request_link(&app, "OPS@acme.example").await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"client-link-sent\""), "{page}");
    app.deliver(Utc::now()).await;
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.rcpt_to, ["ops@acme.example"]);
    assert!(
        mail.subject().contains("Brightside Web"),
        "{}",
        mail.subject()
    );
    assert_eq!(
        mail.header("Reply-To").as_deref(),
        Some("help@brightside.example")
    );
    let body = mail.part("text/plain").unwrap_or_else(|| mail.data.clone());
    let links = links_in(&body);
    assert_eq!(links.len(), 1, "{body}");
    let link = &links[0];

    let opened = get_page(&app, link, "").await;
    assert_eq!(opened.status(), 200);
    let session = set_cookie(opened.headers(), "lapse_session").expect("session");
    let line = set_cookie_line(opened.headers(), "lapse_session").expect("cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    // A refresh from lapse's own page, so the strict cookie goes along.
    let opened = text(opened).await;
    assert!(opened.contains("http-equiv=\"refresh\""), "{opened}");
    assert!(opened.contains("id=\"continue\""), "{opened}");

    let portal = get_page(&app, "/portal", &session).await;
    assert_eq!(portal.status(), 200);
    let portal = text(portal).await;
    assert_eq!(listed_domains(&portal), ["acme.test"]);
    assert!(portal.contains("Brightside Web"), "the agency's name");
    assert!(portal.contains("ops@acme.example"), "who is signed in");
    assert!(
        !portal.contains("Your sign-in link"),
        "sign-in mail is never listed"
    );

    let own = get_page(&app, "/portal/domains/acme.test", &session).await;
    assert_eq!(own.status(), 200);
    let own = text(own).await;
    assert!(own.contains("data-endpoint=\"www.acme.test:443\""), "{own}");
    assert!(
        own.contains("data-endpoint=\"mail.acme.test:587\""),
        "{own}"
    );
    let other = get_page(&app, "/portal/domains/globex.test", &session).await;
    let missing = get_page(&app, "/portal/domains/missing.test", &session).await;
    assert_eq!(
        (other.status().as_u16(), missing.status().as_u16()),
        (404, 404)
    );
    assert_eq!(text(other).await, text(missing).await, "the same answer");

    // Used once.
    assert_eq!(get_page(&app, link, "").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_link_tells_nobody_whether_the_address_is_a_contact() {
    let sink = SmtpSink::plain().await;
    let app = portal_app(&sink, "").await;
    let (contact_status, contact) = request_link(&app, "ops@acme.example").await;
    let (stranger_status, stranger) = request_link(&app, "who@else.example").await;
    let (bad_status, bad) = request_link(&app, "not an address").await;
    assert_eq!(
        (contact_status, stranger_status, bad_status),
        (200, 200, 200)
    );
    // The same page but for the address typed and the form's own token.
    let same = |page: &str, typed: &str| {
        let page = page.replace(typed, "X");
        let token = hidden_csrf(&page).expect("token");
        page.replace(&token, "T")
    };
    let contact = same(&contact, "ops@acme.example");
    assert_eq!(contact, same(&stranger, "who@else.example"));
    assert_eq!(contact, same(&bad, "not an address"));
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "one mail, to the contact only");
    assert_eq!(outbox[0].recipient, "ops@acme.example");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_link_or_one_whose_contact_went_is_refused() {
    let sink = SmtpSink::plain().await;
    let app = portal_app(&sink, "").await;
    request_link(&app, "ops@acme.example").await;
    request_link(&app, "it@globex.example").await;
    app.deliver(Utc::now()).await;
    let mails = sink.wait_for(2).await;
    let link_for = |to: &str| {
        let mail = mails.iter().find(|m| m.rcpt_to == [to]).expect("mail");
        links_in(&mail.part("text/plain").unwrap_or_else(|| mail.data.clone())).remove(0)
    };
    let (acme, globex) = (link_for("ops@acme.example"), link_for("it@globex.example"));

    let pool = app.pool().await;
    sqlx::query("UPDATE web_links SET expires_at = '2000-01-01T00:00:00Z' WHERE contact = 'ops@acme.example'")
        .execute(&pool)
        .await
        .expect("expire");
    pool.close().await;
    assert_eq!(get_page(&app, &acme, "").await.status(), 404);

    // A session ends when its address stops being the client's contact.
    let opened = get_page(&app, &globex, "").await;
    let session = set_cookie(opened.headers(), "lapse_session").expect("session");
    assert_eq!(get_page(&app, "/portal", &session).await.status(), 200);
    let globex_id = app.ids["globex"];
    let client = app
        .store
        .visible_client(lapse::domain::access::Visibility::All, globex_id)
        .await
        .expect("client");
    app.store
        .remove_contact(globex_id, client.contacts[0].id)
        .await
        .expect("remove contact");
    assert_eq!(get_page(&app, "/portal", &session).await.status(), 303);
}

#[tokio::test]
async fn each_client_sees_only_its_own_domains_and_others_answer_404() {
    let app = TestApp::new().await;
    for (client, own, other) in [
        ("Acme", "acme.test", "globex.test"),
        ("Globex", "globex.test", "acme.test"),
    ] {
        let session = sign_in_client(&app, client).await;
        let portal = text(get_page(&app, "/portal", &session).await).await;
        assert_eq!(listed_domains(&portal), [own], "{client}");
        assert!(
            portal.contains(&format!("id=\"client-name\">{client}<")),
            "{portal}"
        );
        assert_eq!(
            get_page(&app, &format!("/portal/domains/{own}"), &session)
                .await
                .status(),
            200
        );
        for path in [
            format!("/portal/domains/{other}"),
            "/portal/domains/orphan.test".to_owned(),
            "/portal/domains/www.acme.test".to_owned(),
            "/portal/domains/not a name".to_owned(),
        ] {
            assert_eq!(
                get_page(&app, &path, &session).await.status(),
                404,
                "{client} {path}"
            );
        }
    }
}

#[tokio::test]
async fn staff_make_a_portal_link_and_revoking_it_ends_its_sessions() {
    let app = TestApp::new().await;
    let staff = sign_in(&app, Role::Staff).await;
    let path = format!("/clients/{}/portal-links", app.ids["acme"]);
    let csrf = hidden_csrf(&text(get_page(&app, &path, &staff).await).await).expect("token");
    let made = post_form(
        &app,
        &path,
        &staff,
        &[("_csrf", &csrf), ("label", "office <manager>")],
    )
    .await;
    assert_eq!(made.status(), 200);
    // Attribute values are escaped (`/` too); a browser reads them back.
    let made = text(made).await.replace("&#x2f;", "/");
    assert!(made.contains("office &lt;manager&gt;"), "labels are text");
    let at = made.find("/portal/link/").expect("the new link is shown");
    let link = &made[at..at + made[at..].find('"').expect("end")];

    let opened = get_page(&app, link, "").await;
    assert_eq!(opened.status(), 200);
    let client = set_cookie(opened.headers(), "lapse_session").expect("session");
    let portal = text(get_page(&app, "/portal", &client).await).await;
    assert_eq!(listed_domains(&portal), ["acme.test"]);
    // A portal link's session is read-only: no staff page, no form.
    assert_eq!(get_page(&app, &path, &client).await.status(), 404);

    let links = app
        .store
        .portal_links(app.ids["acme"])
        .await
        .expect("links");
    assert_eq!(links.len(), 1);
    let revoke = format!("{path}/{}/revoke", links[0].id);
    assert_eq!(
        post_form(&app, &revoke, &staff, &[]).await.status(),
        403,
        "no token"
    );
    let revoked = post_form(&app, &revoke, &staff, &[("_csrf", &csrf)]).await;
    assert_eq!(revoked.status(), 303);

    assert_eq!(get_page(&app, "/portal", &client).await.status(), 303);
    assert_eq!(get_page(&app, link, "").await.status(), 404);
    let page = text(get_page(&app, &path, &staff).await).await;
    assert!(page.contains("class=\"revoked\""), "{page}");
}

#[tokio::test]
async fn the_portal_lists_what_was_sent_to_the_client_and_nothing_of_others() {
    let app = TestApp::new().await;
    let pool = app.pool().await;
    for (id, to, subject) in [
        (
            "m1@x",
            "ops@acme.example",
            "Certificate for www.acme.test expires in 10 days",
        ),
        (
            "m2@x",
            "it@globex.example",
            "Certificate for www.globex.test expires in 5 days",
        ),
        ("m3@x", "staff@agency.example", "Staff: lookups failing"),
    ] {
        sqlx::query(
            "INSERT INTO outbox (message_id, channel, recipient, subject, body_text, state,
                                 next_attempt_at, created_at)
             VALUES ($1, 'email', $2, $3, 'body', 'sent', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .bind(id)
        .bind(to)
        .bind(subject)
        .execute(&pool)
        .await
        .expect("message");
    }
    pool.close().await;
    let session = sign_in_client(&app, "Acme").await;
    let portal = text(get_page(&app, "/portal", &session).await).await;
    assert!(
        portal.contains("www.acme.test expires in 10 days"),
        "{portal}"
    );
    assert!(!portal.contains("globex"), "{portal}");
    assert!(!portal.contains("lookups failing"), "{portal}");
}

#[tokio::test]
async fn a_client_signs_out_back_to_the_client_sign_in() {
    let app = TestApp::new().await;
    let session = sign_in_client(&app, "Acme").await;
    let portal = text(get_page(&app, "/portal", &session).await).await;
    let csrf = hidden_csrf(&portal).expect("sign-out form");
    let out = post_form(&app, "/sign-out", &session, &[("_csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/sign-in/client");
    assert_eq!(get_page(&app, "/portal", &session).await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_requests_are_limited_per_address() {
    let sink = SmtpSink::plain().await;
    let app = portal_app(&sink, "[web]\nsign_in_attempts_per_address = 2\n").await;
    assert_eq!(request_link(&app, "a@else.example").await.0, 200);
    assert_eq!(request_link(&app, "b@else.example").await.0, 200);
    let (status, page) = request_link(&app, "ops@acme.example").await;
    assert_eq!(status, 429);
    assert!(page.contains("id=\"client-link-error\""), "{page}");
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn a_client_name_with_markup_is_shown_as_text_on_the_portal() {
    let app = TestApp::builder()
        .api()
        .client("<script>alert(1)</script>", &["x@hostile.example"])
        .build()
        .await;
    let session = sign_in_client(&app, "<script>alert(1)</script>").await;
    let portal = text(get_page(&app, "/portal", &session).await).await;
    assert!(
        portal.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{portal}"
    );
    assert!(!portal.contains("<script>alert"), "{portal}");
}
