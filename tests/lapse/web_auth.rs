//! Signing in to the web pages, over real HTTP against `lapse serve`'s
//! router on loopback: staff accounts made by `lapse users add`, the
//! one-time set-password link, sign-in and sign-out, CSRF on every form,
//! the cookie's attributes, the sign-in limits.

use lapse::domain::access::Role;

use crate::harness::app::TestApp;
use crate::harness::web_users::{
    add_staff, form_token, get_page, post_form, set_cookie, set_cookie_line, set_password, sign_in,
    PASSWORD,
};

/// A page only a staff session opens (the portal links of the fleet's Acme).
fn staff_page(app: &TestApp) -> String {
    format!("/clients/{}/portal-links", app.ids["acme"])
}

/// Posts the sign-in form as a browser does: the form's token and cookie.
async fn post_sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let (status, cookie, token) = form_token(app, "/sign-in?next=/domains").await;
    assert_eq!(status, 200);
    post_form(
        app,
        "/sign-in",
        &cookie,
        &[
            ("_csrf", &token),
            ("email", email),
            ("password", password),
            ("next", "/domains"),
        ],
    )
    .await
}

/// A staff account with [`PASSWORD`] set (and the session that set it
/// discarded): its address.
async fn staff_with_password(app: &TestApp, role: Role) -> String {
    let (email, secret) = add_staff(app, role).await;
    assert_eq!(set_password(app, &secret, PASSWORD).await.status(), 303);
    email
}

#[tokio::test]
async fn staff_sign_in_with_the_right_password_opens_a_session_and_goes_on_to_next() {
    let app = TestApp::new().await;
    let email = staff_with_password(&app, Role::Staff).await;

    let response = post_sign_in(&app, &email.to_uppercase(), PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/domains");
    let session = set_cookie(response.headers(), "lapse_session").expect("session cookie");

    let page = get_page(&app, &staff_page(&app), &session).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("body");
    assert!(body.contains(&email), "the layout names who is signed in");
    assert!(body.contains("id=\"sign-out\""));
}

#[tokio::test]
async fn a_wrong_password_or_unknown_address_is_refused_with_the_same_words() {
    let app = TestApp::new().await;
    let email = staff_with_password(&app, Role::Admin).await;

    let wrong = post_sign_in(&app, &email, "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    assert!(set_cookie(wrong.headers(), "lapse_session").is_none());
    let wrong = wrong.text().await.expect("body");
    assert!(wrong.contains("id=\"sign-in-error\""), "{wrong}");

    let unknown = post_sign_in(&app, "nobody@staff.example", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.expect("body");
    let error = |page: &str| {
        let at = page.find("id=\"sign-in-error\"").expect("error shown");
        page[at..at + 120].to_owned()
    };
    assert_eq!(error(&wrong), error(&unknown));
}

#[tokio::test]
async fn an_account_without_a_password_cannot_sign_in() {
    let app = TestApp::new().await;
    let (email, _link) = add_staff(&app, Role::Staff).await;
    let response = post_sign_in(&app, &email, "").await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_sign_in_with_next() {
    let app = TestApp::new().await;
    let path = staff_page(&app);
    let response = get_page(&app, &path, "").await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().expect("location");
    assert!(
        location.starts_with("/sign-in?next=%2Fclients%2F"),
        "{location}"
    );

    let forged = get_page(&app, &path, "lapse_session=made-up").await;
    assert_eq!(forged.status(), 303);
}

#[tokio::test]
async fn sign_out_ends_the_session_everywhere() {
    let app = TestApp::new().await;
    let session = sign_in(&app, Role::Viewer).await;
    let page = get_page(&app, &staff_page(&app), &session).await;
    let csrf = crate::harness::web_users::hidden_csrf(&page.text().await.expect("body"))
        .expect("the sign-out form carries the session's token");

    let out = post_form(&app, "/sign-out", &session, &[("_csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/sign-in");
    let cleared = set_cookie_line(out.headers(), "lapse_session").expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The old cookie, kept by someone, no longer opens anything.
    let after = get_page(&app, &staff_page(&app), &session).await;
    assert_eq!(after.status(), 303);
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_403() {
    let app = TestApp::new().await;
    let session = sign_in(&app, Role::Admin).await;
    let path = staff_page(&app);

    let none = post_form(&app, &path, &session, &[("label", "x")]).await;
    assert_eq!(none.status(), 403);
    let body = none.text().await.expect("body");
    assert!(body.contains("id=\"error-status\""), "{body}");
    let wrong = post_form(&app, "/sign-out", &session, &[("_csrf", "forged")]).await;
    assert_eq!(wrong.status(), 403);
    // Still signed in: the refused sign-out did nothing.
    assert_eq!(get_page(&app, &path, &session).await.status(), 200);
    assert!(app
        .store
        .portal_links(app.ids["acme"])
        .await
        .expect("links")
        .is_empty());

    // The sign-in form is protected before any session: no token, or a
    // token that is not the form cookie's, is refused.
    let email = staff_with_password(&app, Role::Staff).await;
    let (_, cookie, token) = form_token(&app, "/sign-in").await;
    let fields = [("email", email.as_str()), ("password", PASSWORD)];
    assert_eq!(
        post_form(&app, "/sign-in", &cookie, &fields).await.status(),
        403
    );
    let mut forged = fields.to_vec();
    forged.push(("_csrf", "a-token-of-another-browser"));
    assert_eq!(
        post_form(&app, "/sign-in", &cookie, &forged).await.status(),
        403
    );
    let mut no_cookie = fields.to_vec();
    no_cookie.push(("_csrf", &token));
    assert_eq!(
        post_form(&app, "/sign-in", "", &no_cookie).await.status(),
        403
    );
}

#[tokio::test]
async fn the_set_password_link_works_once() {
    let app = TestApp::new().await;
    let (email, secret) = add_staff(&app, Role::Staff).await;
    let path = format!("/set-password/{secret}");
    let page = get_page(&app, &path, "").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("body").contains(&email));

    let first = set_password(&app, &secret, PASSWORD).await;
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], "/");
    let session = set_cookie(first.headers(), "lapse_session").expect("signed in");
    assert_eq!(
        get_page(&app, &staff_page(&app), &session).await.status(),
        200
    );

    let again = get_page(&app, &path, "").await;
    assert_eq!(again.status(), 404);
    assert!(again
        .text()
        .await
        .expect("body")
        .contains("id=\"link-error\""));
    let (_, cookie, token) = form_token(&app, "/sign-in").await;
    let reuse = post_form(
        &app,
        &path,
        &cookie,
        &[
            ("_csrf", &token),
            ("password", "another password 1"),
            ("password_again", "another password 1"),
        ],
    )
    .await;
    assert_eq!(reuse.status(), 404);
    // The first password still signs in; the second was never set.
    assert_eq!(post_sign_in(&app, &email, PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn an_expired_set_password_link_is_refused() {
    let app = TestApp::new().await;
    let (_email, secret) = add_staff(&app, Role::Staff).await;
    let pool = app.pool().await;
    sqlx::query("UPDATE web_links SET expires_at = '2000-01-01T00:00:00Z'")
        .execute(&pool)
        .await
        .expect("expire");
    pool.close().await;
    let path = format!("/set-password/{secret}");
    assert_eq!(get_page(&app, &path, "").await.status(), 404);
}

#[tokio::test]
async fn a_short_or_mistyped_password_is_refused_and_the_link_still_works() {
    let app = TestApp::new().await;
    let (_email, secret) = add_staff(&app, Role::Staff).await;
    let path = format!("/set-password/{secret}");
    for (password, again) in [("short", "short"), ("long enough one", "long enough two")] {
        let (_, cookie, token) = form_token(&app, &path).await;
        let fields = [
            ("_csrf", token.as_str()),
            ("password", password),
            ("password_again", again),
        ];
        let response = post_form(&app, &path, &cookie, &fields).await;
        assert_eq!(response.status(), 400);
        let body = response.text().await.expect("body");
        assert!(body.contains("id=\"set-password-error\""), "{body}");
    }
    assert_eq!(set_password(&app, &secret, PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure_only_over_tls() {
    let app = TestApp::new().await;
    let email = staff_with_password(&app, Role::Staff).await;
    let response = post_sign_in(&app, &email, PASSWORD).await;
    let line = set_cookie_line(response.headers(), "lapse_session").expect("cookie");
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Strict"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
    assert!(!line.contains("Secure"), "plain http on loopback: {line}");
    let (_, form_cookie, _) = form_token(&app, "/sign-in").await;
    assert!(!form_cookie.is_empty());

    // Behind a TLS-terminating proxy.
    let (_, cookie, token) = form_token(&app, "/sign-in").await;
    let behind_proxy = crate::harness::web_users::browser()
        .post(app.url("/sign-in"))
        .header("cookie", &cookie)
        .header("x-forwarded-proto", "https")
        .form(&[
            ("_csrf", token.as_str()),
            ("email", &email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    let line = set_cookie_line(behind_proxy.headers(), "lapse_session").expect("cookie");
    assert!(line.ends_with("; Secure"), "{line}");
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let app = TestApp::builder()
        .fleet()
        .api()
        .config("[web]\npublic_url = \"https://lapse.agency.example\"\n")
        .build()
        .await;
    let session = sign_in(&app, Role::Staff).await;
    assert!(!session.is_empty());
    let response = crate::harness::web_users::browser()
        .get(app.url("/sign-in"))
        .send()
        .await
        .expect("get");
    let line = set_cookie_line(response.headers(), "lapse_form").expect("form cookie");
    assert!(
        line.contains("HttpOnly") && line.ends_with("; Secure"),
        "{line}"
    );
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_account_with_retry_after() {
    let app = TestApp::builder()
        .fleet()
        .api()
        .config("[web]\nsign_in_attempts_per_account = 3\nsign_in_attempts_per_address = 100\n")
        .build()
        .await;
    let email = staff_with_password(&app, Role::Staff).await;
    for _ in 0..3 {
        assert_eq!(
            post_sign_in(&app, &email, "wrong guess 123").await.status(),
            401
        );
    }
    // The right password is refused too, until the bucket refills.
    let limited = post_sign_in(&app, &email, PASSWORD).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=300).contains(&retry), "{retry}");
    assert!(set_cookie(limited.headers(), "lapse_session").is_none());
    let body = limited.text().await.expect("body");
    assert!(
        body.contains("id=\"sign-in-error\"") && body.contains("Too many"),
        "{body}"
    );

    // Another account from the same address is not held up.
    let other = staff_with_password(&app, Role::Viewer).await;
    assert_eq!(post_sign_in(&app, &other, PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_address() {
    let app = TestApp::builder()
        .fleet()
        .api()
        .config("[web]\nsign_in_attempts_per_account = 100\nsign_in_attempts_per_address = 4\n")
        .build()
        .await;
    for n in 0..4 {
        let email = format!("guess{n}@staff.example");
        assert_eq!(post_sign_in(&app, &email, "guess").await.status(), 401);
    }
    let limited = post_sign_in(&app, "guess9@staff.example", "guess").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn users_add_prints_a_link_that_sets_the_password_and_remove_ends_sessions() {
    let app = TestApp::new().await;
    let run = app
        .env
        .run_async(&["users", "add", "Ops@Agency.example", "--role", "admin"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("added admin account Ops@agency.example\n"),
        "{run:?}"
    );
    let link = run.stdout.lines().nth(1).expect("link line");
    // The default base: `server.listen`.
    let base = format!("http://{}/set-password/", app.app.config.server.listen);
    let secret = link
        .strip_prefix(&base)
        .expect("the link's base is the public URL");
    let again = app
        .env
        .run_async(&["users", "add", "ops@agency.example", "--role", "staff"])
        .await;
    assert_eq!(again.code, 2, "{again:?}");

    let session = set_cookie(
        set_password(&app, secret, PASSWORD).await.headers(),
        "lapse_session",
    )
    .expect("signed in");
    assert_eq!(
        get_page(&app, &staff_page(&app), &session).await.status(),
        200
    );

    let list = app.env.run_async(&["users", "list"]).await;
    assert!(list.stdout.contains("Ops@agency.example"), "{list:?}");
    assert!(list.stdout.contains("1 live session(s)"), "{list:?}");
    let removed = app
        .env
        .run_async(&["users", "remove", "ops@agency.example"])
        .await;
    assert_eq!(removed.code, 0, "{removed:?}");
    assert_eq!(
        get_page(&app, &staff_page(&app), &session).await.status(),
        303
    );
    let unknown = app
        .env
        .run_async(&["users", "remove", "ops@agency.example"])
        .await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
}

#[tokio::test]
async fn users_link_replaces_an_unused_link() {
    let app = TestApp::new().await;
    let (email, old) = add_staff(&app, Role::Staff).await;
    let run = app
        .env
        .run_async(&["users", "link", &email, "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let url = json["set_password_url"].as_str().expect("url");
    let new = url.rsplit('/').next().expect("secret");
    assert_eq!(
        get_page(&app, &format!("/set-password/{old}"), "")
            .await
            .status(),
        404
    );
    assert_eq!(
        get_page(&app, &format!("/set-password/{new}"), "")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_viewer_sees_portal_links_but_cannot_make_one() {
    let app = TestApp::new().await;
    let session = sign_in(&app, Role::Viewer).await;
    let path = staff_page(&app);
    let page = get_page(&app, &path, &session)
        .await
        .text()
        .await
        .expect("body");
    assert!(!page.contains("id=\"create-portal-link\""));
    let csrf = crate::harness::web_users::hidden_csrf(&page).expect("token");
    let refused = post_form(&app, &path, &session, &[("_csrf", &csrf), ("label", "x")]).await;
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn a_client_session_gets_404_from_staff_pages() {
    let app = TestApp::new().await;
    let session = crate::harness::web_users::sign_in_client(&app, "Acme").await;
    let response = get_page(&app, &staff_page(&app), &session).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_sign_in_pages_carry_the_elements_of_the_contract() {
    let app = TestApp::new().await;
    let (_, secret) = add_staff(&app, Role::Staff).await;
    for (path, elements) in [
        (
            "/sign-in".to_owned(),
            &[
                "<form id=\"sign-in\"",
                "name=\"email\"",
                "name=\"password\"",
                "id=\"sign-in-submit\"",
            ][..],
        ),
        (
            format!("/set-password/{secret}"),
            &[
                "name=\"password\"",
                "name=\"password_again\"",
                "id=\"set-password-submit\"",
            ][..],
        ),
        (
            "/sign-in/client".to_owned(),
            &["name=\"email\"", "id=\"client-link-submit\""][..],
        ),
    ] {
        let page = get_page(&app, &path, "").await;
        assert_eq!(page.status(), 200, "{path}");
        let page = page.text().await.expect("body");
        for element in elements {
            assert!(page.contains(element), "{path} lacks {element}");
        }
        assert!(page.contains("name=\"_csrf\""), "{path} has a CSRF field");
    }
}
