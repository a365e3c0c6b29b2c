//! The staff pages over HTTP, signed in through the real pages
//! (`harness::web_users`): each page answers staff with its data, a viewer
//! reads but cannot write, every form needs its CSRF token, a client's
//! session finds no staff page, and the changes made on the pages (pasted
//! lines, a CSV import, a scan, a manual expiry, an outbox retry) are the
//! CLI's and the API's use cases, with the CLI's words.

use lapse::domain::access::Role;

use super::harness::app::TestApp;
use super::harness::web_users::{
    browser, get_page, hidden_csrf, post_form, sign_in, sign_in_client,
};

/// A page's status and body.
async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let response = get_page(app, path, cookie).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The CSRF token of a signed-in session, as its pages carry it.
async fn csrf(app: &TestApp, cookie: &str) -> String {
    let (status, body) = page(app, "/domains/add", cookie).await;
    assert_eq!(status, 200, "{body}");
    hidden_csrf(&body).expect("the form carries _csrf")
}

/// Posts a form with the session's token; the status, `Location` and body.
async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let token = csrf(app, cookie).await;
    let mut all = vec![("_csrf", token.as_str())];
    all.extend_from_slice(fields);
    let response = post_form(app, path, cookie, &all).await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, response.text().await.expect("body"))
}

/// A `multipart/form-data` body written by hand (the test's reqwest has
/// no multipart feature): `(name, file name, bytes)` per part.
struct Form {
    parts: Vec<(String, Option<String>, Vec<u8>)>,
}

const BOUNDARY: &str = "lapse-test-boundary-7d1f";

impl Form {
    fn new() -> Self {
        Self { parts: Vec::new() }
    }

    fn text(mut self, name: &str, value: impl Into<String>) -> Self {
        self.parts
            .push((name.to_owned(), None, value.into().into_bytes()));
        self
    }

    fn file(mut self, name: &str, file_name: &str, bytes: &[u8]) -> Self {
        self.parts
            .push((name.to_owned(), Some(file_name.to_owned()), bytes.to_vec()));
        self
    }

    fn body(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file_name, bytes) in &self.parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match file_name {
                Some(file) => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }
}

/// Posts a multipart form to `/import` with `cookie`.
async fn post_import(app: &TestApp, cookie: &str, form: Form) -> reqwest::Response {
    browser()
        .post(app.url("/import"))
        .header("cookie", cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form.body())
        .send()
        .await
        .expect("import")
}

async fn fleet() -> TestApp {
    TestApp::builder().fleet().api().build().await
}

/// An outbox row about the firing alert of `domain`, in `state`.
async fn queue_message(app: &TestApp, domain: &str, state: &str) -> i64 {
    let pool = app.pool().await;
    let now = lapse::store::format_time(app.now());
    let id = sqlx::query_scalar(
        "INSERT INTO outbox (message_id, channel, recipient, subject, body_text, state, attempts,
                             next_attempt_at, last_error, created_at, alert_id)
         SELECT $1, 'email', 'ops@acme.example', 'Registration of ' || $2 || ' expires soon', 'body',
                $3, 3, $4, '550 no such user', $5, a.id
         FROM alerts a JOIN domains d ON d.id = a.domain_id WHERE d.name = $6
         RETURNING id",
    )
    .bind(format!("web-{domain}-{state}@lapse.test"))
    .bind(domain)
    .bind(state)
    .bind(&now)
    .bind(&now)
    .bind(domain)
    .fetch_one(&pool)
    .await
    .expect("outbox row");
    pool.close().await;
    id
}

#[tokio::test]
async fn every_staff_page_answers_staff_with_its_data() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let message = queue_message(&app, "acme.test", "failed").await;
    // orphan.test's registry publishes no expiry: it needs a date.
    let pool = app.pool().await;
    sqlx::query(
        "UPDATE domains SET registration_outcome = 'not_published' WHERE name = 'orphan.test'",
    )
    .execute(&pool)
    .await
    .expect("not published");
    pool.close().await;
    let acme = app.ids["acme"];
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "/".into(),
            vec![
                "id=\"counts\"".into(),
                "id=\"next-expiries\"".into(),
                "id=\"open-alerts\"".into(),
                "id=\"needs-date\"".into(),
                "id=\"failed-deliveries\"".into(),
                "550 no such user".into(),
                "<li data-domain=\"orphan.test\">".into(),
            ],
        ),
        (
            "/domains".into(),
            vec![
                "table id=\"domains\"".into(),
                "tr data-domain=\"acme.test\"".into(),
                "tr data-domain=\"globex.test\"".into(),
                "tr data-domain=\"orphan.test\"".into(),
                "class=\"badge ".into(),
                "<span class=\"badge needs_date\">needs date</span>".into(),
            ],
        ),
        (
            "/domains/acme.test".into(),
            vec![
                "id=\"registration-source\"".into(),
                "https:&#x2f;&#x2f;rdap.example&#x2f;domain&#x2f;".into(),
                "Example Registrar".into(),
                "table id=\"endpoints\"".into(),
                "tr data-address=\"127.0.0.1\" data-endpoint=\"www.acme.test:443\"".into(),
                "tr data-address=\"127.0.0.1\" data-endpoint=\"mail.acme.test:587\"".into(),
                "id=\"timeline\"".into(),
                "id=\"alerts\"".into(),
                "registration_expiry".into(),
                format!("tr data-message=\"{message}\""),
            ],
        ),
        (
            "/domains/add".into(),
            vec![
                "textarea id=\"lines\" name=\"lines\"".into(),
                "id=\"add-submit\"".into(),
            ],
        ),
        (
            "/import".into(),
            vec![
                "type=\"file\" id=\"file\" name=\"file\"".into(),
                "id=\"import-submit\"".into(),
            ],
        ),
        (
            "/clients".into(),
            vec![
                "table id=\"clients\"".into(),
                "Acme".into(),
                "Globex".into(),
            ],
        ),
        (
            format!("/clients/{acme}"),
            vec![
                "ops@acme.example".into(),
                "tr data-domain=\"acme.test\"".into(),
                format!("href=\"/clients/{acme}/portal-links\""),
            ],
        ),
        (
            "/thresholds".into(),
            vec!["id=\"default-thresholds\"".into()],
        ),
        (
            "/alerts".into(),
            vec!["table id=\"alerts\"".into(), "registration_expiry".into()],
        ),
        (
            "/outbox".into(),
            vec![
                format!("tr data-message=\"{message}\" data-state=\"failed\""),
                format!("action=\"/outbox/{message}/retry\""),
            ],
        ),
        ("/scans".into(), vec!["id=\"start-scan\"".into()]),
        (
            "/settings".into(),
            vec!["id=\"config\"".into(), "[database]".into()],
        ),
    ];
    for (path, expected) in cases {
        let response = get_page(&app, &path, &staff).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert!(
            response.headers().contains_key("server-timing"),
            "{path} says its server time"
        );
        let body = response.text().await.expect("body");
        for needle in expected {
            assert!(body.contains(&needle), "{path} shows {needle}:\n{body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_domain_list_filters_sorts_and_pages() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let (_, body) = page(&app, "/domains?client=Acme", &staff).await;
    assert!(body.contains("data-domain=\"acme.test\""), "{body}");
    assert!(!body.contains("data-domain=\"globex.test\""), "{body}");
    let (_, body) = page(&app, "/domains?q=glob&status=&within=", &staff).await;
    assert!(body.contains("data-domain=\"globex.test\""), "{body}");
    assert!(!body.contains("data-domain=\"acme.test\""), "{body}");
    let (_, body) = page(&app, "/domains?sort=name", &staff).await;
    let order: Vec<usize> = ["acme.test", "globex.test", "orphan.test"]
        .iter()
        .map(|d| body.find(&format!("tr data-domain=\"{d}\"")).expect(d))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "by name: {order:?}");
    let (_, body) = page(&app, "/domains?within=3650", &staff).await;
    assert!(body.contains("data-domain=\"acme.test\""), "{body}");
    let (_, body) = page(&app, "/domains?status=needs_date", &staff).await;
    assert!(body.contains("No domain matches."), "{body}");
    for bad in [
        "/domains?status=bogus",
        "/domains?within=-1",
        "/domains?client=Nobody",
        "/domains?page=xyz",
    ] {
        let (status, body) = page(&app, bad, &staff).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("id=\"error-message\""), "{bad}");
    }
    // Three domains, fifty a page: one page, no next link; the API's
    // cursor goes in `page`.
    let (_, body) = page(&app, "/domains", &staff).await;
    assert!(!body.contains("id=\"next-page\""), "{body}");
    assert!(body.contains("3 domains match."), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_reads_the_pages_but_cannot_write() {
    let app = fleet().await;
    let viewer = sign_in(&app, Role::Viewer).await;
    let message = queue_message(&app, "acme.test", "failed").await;
    let (status, body) = page(&app, "/domains", &viewer).await;
    assert_eq!(status, 200);
    assert!(body.contains("data-domain=\"acme.test\""));
    assert!(
        !body.contains("href=\"/domains/add\""),
        "no add link for a viewer"
    );
    let (_, body) = page(&app, "/outbox", &viewer).await;
    assert!(!body.contains("/retry"), "no retry button for a viewer");
    let (status, _) = page(&app, "/domains/add", &viewer).await;
    assert_eq!(status, 403, "the add form is for writers");
    // The viewer's own token, on a page it may open.
    let (_, body) = page(&app, "/domains", &viewer).await;
    let token = hidden_csrf(&body).expect("sign-out form carries _csrf");
    let acme = app.ids["acme"].to_string();
    let retry = format!("/outbox/{message}/retry");
    let contacts = format!("/clients/{acme}/contacts");
    let writes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/domains/add", vec![("lines", "viewer.test")]),
        (
            "/domains/acme.test/manual-expiry",
            vec![("expires_at", "2030-01-01")],
        ),
        ("/domains/acme.test/manual-expiry/clear", vec![]),
        (
            "/domains/acme.test/thresholds",
            vec![("certificate_days", "9")],
        ),
        ("/clients", vec![("name", "Viewer Co")]),
        (&contacts, vec![("email", "v@viewer.example")]),
        (&retry, vec![]),
        ("/scans", vec![("scope", "all")]),
    ];
    for (path, fields) in writes {
        let mut all = vec![("_csrf", token.as_str())];
        all.extend(fields);
        let response = post_form(&app, path, &viewer, &all).await;
        assert_eq!(response.status().as_u16(), 403, "{path}");
    }
    let import = Form::new()
        .text("_csrf", token.clone())
        .text("csv", "host\nviewer.test\n");
    let response = post_import(&app, &viewer, import).await;
    assert_eq!(response.status().as_u16(), 403, "import");
    let (_, body) = page(&app, "/domains?q=viewer", &staff_view(&app).await).await;
    assert!(
        body.contains("No domain matches."),
        "nothing was stored: {body}"
    );
    app.stop().await;
}

async fn staff_view(app: &TestApp) -> String {
    sign_in(app, Role::Staff).await
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let response = post_form(&app, "/domains/add", &staff, &[("lines", "nocsrf.test")]).await;
    assert_eq!(response.status().as_u16(), 403);
    let response = post_form(
        &app,
        "/domains/add",
        &staff,
        &[("_csrf", "not-the-token"), ("lines", "nocsrf.test")],
    )
    .await;
    assert_eq!(response.status().as_u16(), 403);
    let response = post_import(&app, &staff, Form::new().text("csv", "host\nnocsrf.test\n")).await;
    assert_eq!(response.status().as_u16(), 403, "multipart without _csrf");
    let (_, body) = page(&app, "/domains?q=nocsrf", &staff).await;
    assert!(body.contains("No domain matches."), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn pasted_lines_give_one_result_per_line_in_the_clis_words() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let lines = "new.test\n\nnot a name!\nwww.acme.test\n";
    let (status, _, body) = post(&app, "/domains/add", &staff, &[("lines", lines)]).await;
    assert_eq!(status, 200, "{body}");
    let results = &body[body.find("<ul id=\"results\"").expect("results")..];
    let results = &results[..results.find("</ul>").expect("end")];
    assert_eq!(
        results.matches("<li ").count(),
        3,
        "one per line: {results}"
    );
    assert!(
        results.contains("class=\"added\" data-line=\"1\"")
            && results.contains("stored endpoint new.test:443 under domain new.test (TLS: direct)"),
        "{results}"
    );
    assert!(
        results.contains("class=\"refused\" data-line=\"3\"")
            && results.contains("`not a name!`: "),
        "{results}"
    );
    assert!(
        results.contains("class=\"exists\" data-line=\"4\"")
            && results.contains("unchanged: endpoint www.acme.test:443 under domain acme.test, client Acme (already watched, TLS: direct)"),
        "{results}"
    );
    let (_, list) = page(&app, "/domains", &staff).await;
    assert!(list.contains("data-domain=\"new.test\""), "stored");
    app.stop().await;
}

#[tokio::test]
async fn a_csv_import_reports_each_row_and_refuses_the_bad_one() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let token = csrf(&app, &staff).await;
    let csv = "host,client,contacts\nshop.imported.test,Initech,ops@initech.example\nbad..name,,\nimported2.test,,\n";
    let form = Form::new()
        .text("_csrf", token)
        .file("file", "fleet.csv", csv.as_bytes())
        .text("csv", "");
    let response = post_import(&app, &staff, form).await;
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.expect("body");
    let table = &body[body.find("<table id=\"import-results\"").expect("results")..];
    let table = &table[..table.find("</table>").expect("end")];
    assert_eq!(
        table.matches("<tr class=").count(),
        3,
        "one per row: {table}"
    );
    assert!(
        table.contains("<tr class=\"refused\" data-line=\"3\""),
        "{table}"
    );
    assert!(table.contains("line 3: `bad..name"), "{table}");
    assert!(
        table.contains("line 2: stored endpoint shop.imported.test:443 under domain imported.test, client Initech"),
        "{table}"
    );
    assert!(body.contains("imported 2 row(s), 1 failed"), "{body}");
    // Pasted text goes the same way.
    let token = csrf(&app, &staff).await;
    let form = Form::new()
        .text("_csrf", token)
        .text("csv", "host\nimported2.test\n");
    let body = post_import(&app, &staff, form)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("<tr class=\"exists\" data-line=\"2\""),
        "{body}"
    );
    let (_, clients) = page(&app, "/clients", &staff).await;
    assert!(clients.contains("Initech") && clients.contains("ops@initech.example"));
    app.stop().await;
}

#[tokio::test]
async fn a_scan_started_on_its_page_is_followed_to_the_end() {
    let app = TestApp::builder().api().build().await;
    let staff = sign_in(&app, Role::Staff).await;
    app.store
        .add_client("Quiet Ltd", &[], app.now())
        .await
        .expect("client");
    let (status, location, _) = post(
        &app,
        "/scans",
        &staff,
        &[("scope", "client"), ("client", "Quiet Ltd")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.starts_with("/scans/"), "{location}");
    let (_, body) = page(&app, &location, &staff).await;
    assert!(body.contains("data-refresh=\"2\""), "{body}");
    assert!(body.contains(">queued</strong>"), "{body}");
    // What the scheduler of `lapse serve` does with a queued scan.
    let (scan_id, scope) = app
        .store
        .claim_queued_scan(app.now())
        .await
        .expect("claim")
        .expect("a queued scan");
    assert_eq!(format!("/scans/{scan_id}"), location);
    let (_, body) = page(&app, &location, &staff).await;
    assert!(
        body.contains("id=\"scan-state\" class=\"badge running\">running<"),
        "{body}"
    );
    assert!(body.contains("data-refresh=\"2\""));
    let engine = lapse::app::build_engine(
        &app.app,
        std::sync::Arc::new(app.clock.clone()),
        lapse::app::Alerting::On,
    )
    .await
    .expect("engine");
    let (_stop, stop) = tokio::sync::watch::channel(false);
    engine
        .run_requested(scan_id, &scope, stop)
        .await
        .expect("scan");
    let (_, body) = page(&app, &location, &staff).await;
    assert!(
        body.contains("id=\"scan-state\" class=\"badge finished\">finished<"),
        "{body}"
    );
    assert!(
        !body.contains("data-refresh"),
        "a finished scan stays still"
    );
    let (status, _, body) = post(
        &app,
        "/scans",
        &staff,
        &[("scope", "domain"), ("domain", "nowhere.test")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_manual_expiry_is_set_and_cleared_on_the_domain_page() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let (status, location, _) = post(
        &app,
        "/domains/acme.test/manual-expiry",
        &staff,
        &[("expires_at", "2031-03-31"), ("note", "invoice <b>42</b>")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(location, "/domains/acme.test?done=expiry-set");
    let (_, body) = page(&app, &location, &staff).await;
    assert!(body.contains("id=\"done\""), "{body}");
    let manual = &body[body.find("id=\"manual-expiry\"").expect("section")..];
    assert!(manual.contains("2031-03-31"), "{manual}");
    assert!(
        manual.contains("invoice &lt;b&gt;42&lt;&#x2f;b&gt;"),
        "a note is text"
    );
    assert!(manual.contains("id=\"clear-expiry\""));
    let (status, _, body) = post(
        &app,
        "/domains/acme.test/manual-expiry",
        &staff,
        &[("expires_at", "31/03/2031")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("is not a date; use YYYY-MM-DD"), "{body}");
    let (status, location, _) =
        post(&app, "/domains/acme.test/manual-expiry/clear", &staff, &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/domains/acme.test?done=expiry-cleared")
    );
    let (_, body) = page(&app, "/domains/acme.test", &staff).await;
    let manual = &body[body.find("id=\"manual-expiry\"").expect("section")..];
    assert!(!manual.contains("2031-03-31"), "{manual}");
    assert!(!manual.contains("id=\"clear-expiry\""));
    let (status, _, _) = post(
        &app,
        "/domains/nowhere.test/manual-expiry",
        &staff,
        &[("expires_at", "2031-03-31")],
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn thresholds_and_contacts_are_changed_on_their_pages() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let acme = app.ids["acme"];
    let (status, _, _) = post(
        &app,
        &format!("/clients/{acme}/thresholds"),
        &staff,
        &[("certificate_days", "21, 7 2"), ("registration_days", "")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, _) = post(
        &app,
        "/domains/globex.test/thresholds",
        &staff,
        &[("registration_days", "90,30")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, body) = page(&app, "/thresholds", &staff).await;
    assert!(body.contains("21, 7, 2"), "{body}");
    assert!(body.contains("90, 30"), "{body}");
    let (status, _, _) = post(
        &app,
        "/domains/globex.test/thresholds",
        &staff,
        &[("registration_days", "soon")],
    )
    .await;
    assert_eq!(status, 400);
    let (status, location, _) = post(
        &app,
        &format!("/clients/{acme}/contacts"),
        &staff,
        &[("email", "cto@acme.example")],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    let (_, body) = page(&app, &format!("/clients/{acme}"), &staff).await;
    assert!(body.contains("cto@acme.example"), "{body}");
    let contact = app
        .store
        .visible_client(lapse::domain::access::Visibility::All, acme)
        .await
        .expect("client")
        .contacts
        .into_iter()
        .find(|c| c.email == "cto@acme.example")
        .expect("contact")
        .id;
    let (status, _, _) = post(
        &app,
        &format!("/clients/{acme}/contacts/{contact}/remove"),
        &staff,
        &[],
    )
    .await;
    assert_eq!(status, 303);
    let (_, body) = page(&app, &format!("/clients/{acme}"), &staff).await;
    assert!(!body.contains("cto@acme.example"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_failed_message_is_retried_from_the_outbox_page() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let failed = queue_message(&app, "acme.test", "failed").await;
    let sent = queue_message(&app, "globex.test", "sent").await;
    let (_, body) = page(&app, "/outbox?state=failed", &staff).await;
    assert!(body.contains(&format!("data-message=\"{failed}\"")));
    assert!(
        !body.contains(&format!("data-message=\"{sent}\"")),
        "filtered"
    );
    let (status, location, _) = post(&app, &format!("/outbox/{failed}/retry"), &staff, &[]).await;
    assert_eq!((status, location.as_str()), (303, "/outbox?done=retried"));
    let item = app
        .outbox()
        .await
        .into_iter()
        .find(|m| m.id == failed)
        .expect("message");
    assert_eq!((item.state.as_str(), item.attempts), ("pending", 0));
    let (status, _, body) = post(&app, &format!("/outbox/{sent}/retry"), &staff, &[]).await;
    assert_eq!(status, 400, "a sent message is not sent again: {body}");
    app.stop().await;
}

#[tokio::test]
async fn a_client_session_finds_no_staff_page() {
    let app = fleet().await;
    let client = sign_in_client(&app, "Acme").await;
    let acme = app.ids["acme"];
    for path in [
        "/".to_owned(),
        "/domains".to_owned(),
        "/domains/acme.test".to_owned(),
        "/domains/add".to_owned(),
        "/import".to_owned(),
        "/clients".to_owned(),
        format!("/clients/{acme}"),
        "/thresholds".to_owned(),
        "/alerts".to_owned(),
        "/outbox".to_owned(),
        "/scans".to_owned(),
        "/scans/1".to_owned(),
        "/settings".to_owned(),
    ] {
        let (status, body) = page(&app, &path, &client).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (_, portal) = page(&app, "/portal", &client).await;
    let token = hidden_csrf(&portal).expect("the portal's sign-out form carries _csrf");
    for path in ["/domains/add", "/scans", "/domains/acme.test/manual-expiry"] {
        let response = post_form(
            &app,
            path,
            &client,
            &[
                ("_csrf", &token),
                ("lines", "x.test"),
                ("scope", "all"),
                ("expires_at", "2030-01-01"),
            ],
        )
        .await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
    let response = post_import(
        &app,
        &client,
        Form::new()
            .text("_csrf", token.clone())
            .text("csv", "host\nx.test\n"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 404, "import");
    app.stop().await;
}

#[tokio::test]
async fn hostile_names_and_registry_fields_stay_text() {
    let app = fleet().await;
    let staff = sign_in(&app, Role::Staff).await;
    let pool = app.pool().await;
    sqlx::query("UPDATE registration_facts SET registrar = '<img src=x onerror=alert(1)>'")
        .execute(&pool)
        .await
        .expect("registrar");
    pool.close().await;
    let (status, _, _) = post(&app, "/clients", &staff, &[("name", "Evil <i>Corp</i>")]).await;
    assert_eq!(status, 303);
    let (_, body) = page(&app, "/clients", &staff).await;
    assert!(
        body.contains("Evil &lt;i&gt;Corp&lt;&#x2f;i&gt;")
            || body.contains("Evil &lt;i&gt;Corp&lt;/i&gt;"),
        "{body}"
    );
    assert!(!body.contains("<i>Corp</i>"));
    let (_, body) = page(&app, "/domains/acme.test", &staff).await;
    assert!(!body.contains("<img src=x"), "{body}");
    assert!(
        body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{body}"
    );
    app.stop().await;
}
