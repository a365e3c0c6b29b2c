//! Signed-in browsers for the web page tests, through the real pages.
//!
//! [`sign_in`] adds a fresh staff account of a role (the use case behind
//! `lapse users add`), opens its set-password link and sets
//! [`PASSWORD`] through the form (pre-session CSRF token and all), which
//! signs it in: the answer's session cookie is returned as a `Cookie`
//! header value. [`sign_in_client`] makes a portal link for the client
//! (as staff do on `/clients/{id}/portal-links`) and opens it. Neither
//! spends the sign-in attempts of the address (`/sign-in` is tested in
//! `web_auth.rs`).
//!
//! [`browser`] is an HTTP client that does not follow redirects, so a
//! test sees each `303` and `Set-Cookie`; [`form_token`] and [`post_form`]
//! do what a browser does with a pre-session form.

use std::sync::atomic::{AtomicU32, Ordering};

use lapse::domain::access::Role;
use lapse::inventory::web_users::{add_user, hash_secret, new_secret};

use super::app::TestApp;

/// The password [`sign_in`] sets.
pub const PASSWORD: &str = "correct horse battery staple";

/// An HTTP client that leaves redirects and cookies to the test.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `name=value` of the `Set-Cookie` for `name` in a response's headers.
pub fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or(v).to_owned())
}

/// The whole `Set-Cookie` line for `name` (attributes included).
pub fn set_cookie_line(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Opens a pre-session form page (`/sign-in`, `/set-password/..`,
/// `/sign-in/client`): its status, the `lapse_form` cookie (`name=value`)
/// and the token its form carries.
pub async fn form_token(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = browser()
        .get(app.url(path))
        .send()
        .await
        .expect("form page");
    let status = response.status().as_u16();
    let cookie = set_cookie(response.headers(), "lapse_form").unwrap_or_default();
    let body = response.text().await.expect("body");
    (status, cookie, hidden_csrf(&body).unwrap_or_default())
}

/// The value of the page's first `_csrf` field.
pub fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Posts `fields` to `path` with `cookie` (a `Cookie` header value).
pub async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .form(fields)
        .send()
        .await
        .expect("post")
}

/// GETs `path` with `cookie`.
pub async fn get_page(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    browser()
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("get")
}

/// A fresh staff account of `role`: its address and set-password secret.
pub async fn add_staff(app: &TestApp, role: Role) -> (String, String) {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let email = format!(
        "{}-{}@staff.example",
        role.as_str(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let added = add_user(&app.store, &email, role, app.now())
        .await
        .expect("add user");
    (email, added.secret)
}

/// Sets `password` through the set-password link `secret`; the response.
pub async fn set_password(app: &TestApp, secret: &str, password: &str) -> reqwest::Response {
    let path = format!("/set-password/{secret}");
    let (status, cookie, token) = form_token(app, &path).await;
    assert_eq!(status, 200, "set-password page");
    post_form(
        app,
        &path,
        &cookie,
        &[
            ("_csrf", &token),
            ("password", password),
            ("password_again", password),
        ],
    )
    .await
}

/// The `Cookie` header value of a signed-in fresh staff user of `role`
/// (built with `.api()`).
pub async fn sign_in(app: &TestApp, role: Role) -> String {
    let (email, secret) = add_staff(app, role).await;
    let response = set_password(app, &secret, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303, "{email} set a password");
    set_cookie(response.headers(), "lapse_session").expect("session cookie")
}

/// The `Cookie` header value of a read-only session of the client named
/// `client_name`, through a portal link made for it.
pub async fn sign_in_client(app: &TestApp, client_name: &str) -> String {
    let client_id = app
        .store
        .client_id_by_name(client_name)
        .await
        .expect("client");
    let secret = new_secret();
    app.store
        .create_portal_link(
            client_id,
            "test",
            &hash_secret(&secret),
            "harness@staff.example",
            app.now(),
        )
        .await
        .expect("portal link");
    let response = get_page(app, &format!("/portal/link/{secret}"), "").await;
    assert_eq!(response.status().as_u16(), 200, "portal link opens");
    set_cookie(response.headers(), "lapse_session").expect("session cookie")
}
