//! The web pages in a real browser: headless Debian chromium driven over
//! WebDriver ([`Browser`]) against the pages `lapse::app::serve` answers on
//! 127.0.0.1:0, written against the element contract of issue 16 (ids and
//! classes the pages promise). Staff sign in through the forms with an
//! account `lapse users add` made (its one-time link sets the password), as
//! README tells a person to; a client's contact signs in through the link
//! the loopback SMTP server received. Registries, TLS sites, DNS and mail
//! are the harness's loopback stand-ins; nothing leaves the machine.
//!
//! Every page a scenario opens is also checked for what the issue's
//! Content-Security-Policy forbids (inline script or style, handlers in
//! attributes) and for console errors (a blocked asset, a refused script).
//! With `LAPSE_UPDATE_SCREENSHOTS=1` the scenarios save README's pictures
//! in `tests/web_screenshots/`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::harness::app::TestApp;
use crate::harness::browser::{failure_dir, find_program, Browser};
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::sites::{smtp_config, CLIENT};
use crate::harness::smtp::SmtpSink;
use crate::harness::tls::{Prelude, TlsServer};
use crate::harness::AbortOnDrop;

const PASSWORD: &str = "correct horse battery staple";

/// The agency in README's pictures.
const AGENCY: &str = "[agency]\nname = \"Northwind Studio\"\n";

/// What every page must be answered with (the skeleton's policy).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `lapse users add EMAIL --role ROLE` (the real binary, on the app's
/// database), then the person opens the printed link, sets a password,
/// and signs in through the sign-in form (a wrong password first).
async fn staff_signs_in(app: &TestApp, browser: &Browser, email: &str, role: &str) {
    let run = app
        .env
        .run_async(&["users", "add", email, "--role", role])
        .await;
    assert_eq!(run.code, 0, "lapse users add: {run:?}");
    let link = path_after(&run.stdout, "/set-password/")
        .unwrap_or_else(|| panic!("`lapse users add` printed a set-password link: {run:?}"));
    browser.goto(&link).await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.fill("input[name=password_again]", PASSWORD).await;
    browser.click_and_load("#set-password-submit").await;
    if browser.has("#sign-out").await {
        browser.click_and_load("#sign-out").await;
    }
    browser.goto("/sign-in").await;
    browser.fill("form#sign-in input[name=email]", email).await;
    browser
        .fill("form#sign-in input[name=password]", "not the password")
        .await;
    browser.click_and_load("#sign-in-submit").await;
    browser.find("#sign-in-error").await;
    assert!(
        !browser.has("#sign-out").await,
        "a wrong password signs nobody in"
    );
    browser.fill("form#sign-in input[name=email]", email).await;
    browser
        .fill("form#sign-in input[name=password]", PASSWORD)
        .await;
    browser.click_and_load("#sign-in-submit").await;
    browser.find("#sign-out").await;
}

/// The path starting at `marker` in `text` (a link printed or mailed),
/// up to the first space, quote or angle bracket.
fn path_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)?;
    let path: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '<' | '>'))
        .collect();
    Some(path)
}

/// The page shown obeys the policy: no inline script, style or handler
/// attribute, nothing the console complains of; its response carries the
/// Content-Security-Policy and frame denial.
async fn page_is_clean(app: &TestApp, browser: &Browser) {
    let path = browser.path().await;
    let inline = browser.inline_code().await;
    assert!(inline.is_empty(), "{path} holds inline code: {inline:#?}");
    // A page answered with an error status (a refused sign-in's 401, a
    // 404) is logged as a failed load of itself: not a fault of the page.
    let errors: Vec<String> = browser
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("Failed to load resource") || e.contains("/assets/"))
        .collect();
    assert!(errors.is_empty(), "{path}: the console says {errors:#?}");
    let mut request = app.http().get(browser.url(&path));
    if let Some(session) = browser.cookie("lapse_session").await {
        request = request.header("cookie", format!("lapse_session={session}"));
    }
    let reply = app.raw(request).await;
    assert_eq!(reply.header("content-security-policy"), CSP, "{path}");
    assert_eq!(reply.header("x-frame-options"), "DENY", "{path}");
}

/// Opens `path` and checks it as [`page_is_clean`] does.
async fn visit(app: &TestApp, browser: &Browser, path: &str) {
    browser.goto(path).await;
    browser.find("main").await;
    page_is_clean(app, browser).await;
}

#[tokio::test]
async fn a_staff_member_signs_in_pastes_three_lines_and_sees_a_result_per_line() {
    let app = TestApp::builder()
        .fleet()
        .config(AGENCY)
        .api()
        .build()
        .await;
    app.set_registration_expiry("acme.test", "2027-03-02T00:00:00Z")
        .await;
    app.set_registration_expiry("globex.test", "2027-06-30T00:00:00Z")
        .await;
    let browser = Browser::start(&app).await;
    staff_signs_in(&app, &browser, "sam@agency.test", "staff").await;
    assert_eq!(
        browser.path().await,
        "/",
        "signing in lands on the overview"
    );
    for section in [
        "#counts",
        "#next-expiries",
        "#open-alerts",
        "#needs-date",
        "#failed-deliveries",
    ] {
        browser.find(section).await;
    }
    page_is_clean(&app, &browser).await;
    browser.readme_screenshot("overview").await;

    visit(&app, &browser, "/domains/add").await;
    browser
        .fill(
            "textarea[name=lines]",
            "shop.paste.test\nwww.acme.test:443\nnot a name!\n",
        )
        .await;
    browser.click_and_load("#add-submit").await;
    browser.find("ul#results").await;
    page_is_clean(&app, &browser).await;
    let results = browser.find_all("ul#results li").await;
    assert_eq!(results.len(), 3, "one result per line");
    let mut seen = Vec::new();
    for li in &results {
        let class = li.attr("class").await.expect("class").unwrap_or_default();
        seen.push((class, li.text().await.expect("text")));
    }
    assert!(seen[0].0.contains("added"), "a new name is added: {seen:?}");
    assert!(seen[0].1.contains("shop.paste.test"), "{seen:?}");
    assert!(
        seen[1].0.contains("exists"),
        "a watched endpoint exists: {seen:?}"
    );
    assert!(
        seen[2].0.contains("refused"),
        "a bad line is refused: {seen:?}"
    );
    assert!(
        seen[2].1.contains("not a name!"),
        "naming the line: {seen:?}"
    );
    let listed = app.env.run_async(&["domains", "list", "--json"]).await;
    assert!(listed.stdout.contains("paste.test"), "stored: {listed:?}");

    visit(&app, &browser, "/domains").await;
    for domain in ["acme.test", "globex.test", "orphan.test", "paste.test"] {
        browser
            .find(&format!(
                "table#domains tr[data-domain=\"{domain}\"] .badge"
            ))
            .await;
    }
    browser.readme_screenshot("domains").await;
}

/// `www.lapse.test` on two loopback addresses (a DNS server answers both),
/// each serving a certificate from the test PKI on the same port.
struct TwoAddressSite {
    _servers: [TlsServer; 2],
    _dns: DnsServer,
    port: u16,
}

impl TwoAddressSite {
    async fn start(app_pki: &crate::harness::pki::TestPki) -> (Self, String) {
        let leaf = app_pki.good_leaf(&["www.lapse.test"]);
        let first = TlsServer::start(ip("127.0.0.1"), app_pki.served(&leaf), leaf.key_der()).await;
        let port = first.addr.port();
        let second = TlsServer::start_on(
            SocketAddr::new(ip("127.0.0.2"), port),
            app_pki.served(&leaf),
            leaf.key_der(),
            Prelude::None,
        )
        .await;
        let zone = Zone::new().host("www.lapse.test", &[ip("127.0.0.1"), ip("127.0.0.2")]);
        let dns = DnsServer::start(zone).await;
        let config = format!("[dns]\nnameservers = [\"{}\"]\n", dns.addr);
        let site = Self {
            _servers: [first, second],
            _dns: dns,
            port,
        };
        (site, config)
    }
}

#[tokio::test]
async fn a_domain_shows_its_registration_source_and_its_endpoints_per_address() {
    let pki = crate::harness::pki::TestPki::new();
    let (site, dns) = TwoAddressSite::start(&pki).await;
    let app = TestApp::builder()
        .pki(pki)
        .rdap()
        .client(CLIENT, &["ops@acme.test"])
        .config(&dns)
        .config(AGENCY)
        .api()
        .build()
        .await;
    lapse::inventory::add_target(
        &app.store,
        &app.app.config.names.policy(),
        443,
        &format!("www.lapse.test:{}", site.port),
        &lapse::inventory::AddOptions {
            client: Some(CLIENT.to_owned()),
            ..Default::default()
        },
        app.now(),
    )
    .await
    .expect("add");
    app.scan(app.now()).await;
    let browser = Browser::start(&app).await;
    staff_signs_in(&app, &browser, "vi@agency.test", "viewer").await;
    visit(&app, &browser, "/domains").await;
    browser
        .click_and_load(
            "table#domains tr[data-domain=\"lapse.test\"] a[href=\"/domains/lapse.test\"]",
        )
        .await;
    assert_eq!(browser.path().await, "/domains/lapse.test");
    page_is_clean(&app, &browser).await;
    let source = browser.text("#registration-source").await.to_lowercase();
    assert!(source.contains("rdap"), "the source: {source:?}");
    assert!(source.contains("127.0.0.1"), "the server asked: {source:?}");
    for address in ["127.0.0.1", "127.0.0.2"] {
        let row = browser
            .text(&format!("table#endpoints tr[data-address=\"{address}\"]"))
            .await;
        assert!(row.contains("www.lapse.test"), "{address}: {row:?}");
    }
    browser.find("#timeline").await;
    browser.find("#alerts").await;
    let forms = browser.find_all("main form[method=post]").await;
    assert!(forms.is_empty(), "a viewer is offered no change");
    browser.readme_screenshot("domain").await;
}

/// Stands in for `serve`'s scheduler: claims and runs requested scans
/// (the engine `serve` builds, on the test clock) every 200 ms.
fn scheduler(app: &TestApp) -> AbortOnDrop {
    let (lapse_app, clock) = (app.app.clone(), app.clock.clone());
    AbortOnDrop::spawn(async move {
        let engine = lapse::app::build_engine(
            &lapse_app,
            Arc::new(clock.clone()),
            lapse::app::Alerting::On,
        )
        .await
        .expect("engine");
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        loop {
            lapse::monitor::schedule::run_queued_scans(&engine, &clock, &stop).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

#[tokio::test]
async fn a_staff_member_starts_a_scan_and_watches_it_finish() {
    let mut app = TestApp::builder()
        .rdap()
        .client(CLIENT, &["ops@acme.test"])
        .api()
        .build()
        .await;
    let leaf = app.leaf("www.lapse.test", -10, 60);
    app.site("www.lapse.test", &leaf).await;
    let browser = Browser::start(&app).await;
    staff_signs_in(&app, &browser, "sam@agency.test", "staff").await;
    visit(&app, &browser, "/scans").await;
    browser.click_and_load("#start-scan").await;
    let scan_page = browser.path().await;
    assert!(
        scan_page.starts_with("/scans/"),
        "the scan's page: {scan_page}"
    );
    let state = browser.text("#scan-state").await;
    assert!(!state.contains("finished"), "no scheduler yet: {state:?}");
    assert!(
        browser.has("[data-refresh]").await,
        "an unfinished scan's page reloads itself"
    );
    page_is_clean(&app, &browser).await;
    // The scheduler claims the scan only now: what the page shows next
    // comes from its own reloading (lapse.js), not from the test.
    let _scheduler = scheduler(&app);
    let state = browser
        .wait_for_text("#scan-state", "finished", Duration::from_secs(60))
        .await;
    assert!(state.contains("finished"), "{state:?}");
    assert_eq!(browser.path().await, scan_page, "the same page, reloaded");
    assert!(
        !browser.has("[data-refresh]").await,
        "a finished scan's page stays"
    );
    page_is_clean(&app, &browser).await;
}

#[tokio::test]
async fn a_staff_member_imports_a_csv_and_sees_the_bad_row_refused() {
    let app = TestApp::builder().fleet().api().build().await;
    let csv = "host,client,contacts,watch,tls,owner\n\
               shop.import.test,Acme,,,,\n\
               not a name!,Acme,,,,\n\
               mail.import.test:587,Globex,,,starttls-smtp,\n";
    let file = app.env.path("fleet.csv");
    std::fs::write(&file, csv).expect("write CSV");
    let browser = Browser::start(&app).await;
    staff_signs_in(&app, &browser, "sam@agency.test", "staff").await;
    visit(&app, &browser, "/import").await;
    browser
        .find("input[type=file][name=file]")
        .await
        .send_keys(&file.display().to_string())
        .await
        .expect("choose the file");
    browser.click_and_load("#import-submit").await;
    browser.find("table#import-results").await;
    page_is_clean(&app, &browser).await;
    let rows = browser.texts("table#import-results tbody tr").await;
    assert_eq!(rows.len(), 3, "a result per CSV row: {rows:?}");
    let refused = browser.texts("table#import-results tr.refused").await;
    assert_eq!(refused.len(), 1, "the bad row alone is refused: {rows:?}");
    assert!(refused[0].contains("not a name!"), "{refused:?}");
    let listed = app.env.run_async(&["domains", "list", "--json"]).await;
    assert!(
        listed.stdout.contains("import.test"),
        "the good rows: {listed:?}"
    );
}

/// The link of the last mail the sink received for `to`.
fn mailed_link(sink: &SmtpSink, to: &str, marker: &str) -> String {
    let mail = sink
        .received()
        .into_iter()
        .rev()
        .find(|m| m.rcpt_to.iter().any(|r| r == to))
        .unwrap_or_else(|| panic!("a mail to {to}: {:?}", sink.received()));
    let body = mail.part("text/plain").unwrap_or_else(|| mail.data.clone());
    path_after(&body, marker).unwrap_or_else(|| panic!("a {marker} link in {body}"))
}

#[tokio::test]
async fn a_client_contact_signs_in_by_emailed_link_and_sees_only_their_domains() {
    let sink = SmtpSink::plain().await;
    let app = TestApp::builder()
        .fleet()
        .config(&smtp_config(sink.port(), ""))
        .config(AGENCY)
        .api()
        .build()
        .await;
    let browser = Browser::start(&app).await;
    browser.goto("/sign-in/client").await;
    page_is_clean(&app, &browser).await;
    browser.fill("input[name=email]", "ops@acme.example").await;
    browser.click_and_load("#client-link-submit").await;
    page_is_clean(&app, &browser).await;
    // The sender `serve` runs delivers the outbox.
    app.deliver(chrono::Utc::now() + chrono::Duration::minutes(1))
        .await;
    sink.wait_for(1).await;
    let link = mailed_link(&sink, "ops@acme.example", "/sign-in/link/");
    browser.goto(&link).await;
    browser.find("table#domains").await;
    assert_eq!(browser.path().await, "/portal", "the link opens the portal");
    page_is_clean(&app, &browser).await;
    browser.find("tr[data-domain=\"acme.test\"]").await;
    for other in ["globex.test", "orphan.test"] {
        assert!(
            !browser.has(&format!("tr[data-domain=\"{other}\"]")).await,
            "{other} is not Acme's"
        );
    }
    browser.readme_screenshot("portal").await;
    visit(&app, &browser, "/portal/domains/acme.test").await;
    let session = browser.cookie("lapse_session").await.expect("a session");
    for path in [
        "/portal/domains/globex.test",
        "/domains/acme.test",
        "/domains",
    ] {
        browser.goto(path).await;
        let status = browser.text("#error-status").await;
        assert!(status.starts_with("404"), "{path}: {status:?}");
        let reply = app
            .raw(
                app.http()
                    .get(app.url(path))
                    .header("cookie", format!("lapse_session={session}")),
            )
            .await;
        assert_eq!(reply.status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_client_named_like_a_script_renders_as_text_and_opens_no_dialog() {
    const HOSTILE: &str = "<script>alert(1)</script>";
    const HOSTILE_AGENCY: &str = "<img src=x onerror=alert(2)>";
    let app = TestApp::builder()
        .fleet()
        .client(HOSTILE, &["it@hostile.example"])
        .config(&format!("[agency]\nname = \"{HOSTILE_AGENCY}\"\n"))
        .api()
        .build()
        .await;
    app.add_registration_only("hostile.test", HOSTILE).await;
    let client_id = app.store.client_id_by_name(HOSTILE).await.expect("id");
    let browser = Browser::start(&app).await;
    staff_signs_in(&app, &browser, "sam@agency.test", "staff").await;
    for path in [
        "/clients".to_owned(),
        format!("/clients/{client_id}"),
        "/domains".to_owned(),
        "/domains/hostile.test".to_owned(),
    ] {
        visit(&app, &browser, &path).await;
        assert_eq!(browser.dialog().await, None, "{path} opened a dialog");
        let main = browser.text("main").await;
        assert!(
            main.contains(HOSTILE),
            "{path} shows the name as text: {main}"
        );
        let brand = browser.text("header").await;
        assert!(
            brand.contains(HOSTILE_AGENCY),
            "{path} shows the agency as text: {brand}"
        );
        let injected = browser
            .script("return document.querySelectorAll('main script, header img, main img[src=x]').length")
            .await;
        assert_eq!(injected, 0, "{path}: the markup became elements");
    }
    browser.goto("/clients").await;
    let row = browser.text("table#clients").await;
    assert!(row.contains(HOSTILE), "{row}");
    // Staff share a portal link; whoever opens it sees the client's
    // portal, where the name is text too.
    visit(&app, &browser, &format!("/clients/{client_id}")).await;
    browser.click_and_load("#portal-links").await;
    page_is_clean(&app, &browser).await;
    browser.fill("input[name=label]", HOSTILE).await;
    browser.click_and_load("#create-portal-link").await;
    let link = browser
        .find("#new-portal-link")
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    let link = path_after(&link, "/portal/link/").expect("a portal link");
    assert_eq!(browser.dialog().await, None, "the portal links page");
    browser.click_and_load("#sign-out").await;
    browser.goto(&link).await;
    browser.find("tr[data-domain=\"hostile.test\"]").await;
    page_is_clean(&app, &browser).await;
    assert_eq!(browser.dialog().await, None, "the portal opened a dialog");
    let main = browser.text("main").await;
    assert!(main.contains(HOSTILE), "the portal shows the name: {main}");
    for other in ["acme.test", "globex.test"] {
        let row = format!("tr[data-domain=\"{other}\"]");
        assert!(!browser.has(&row).await, "{other} is another client's");
    }
}

/// Removes every `_csrf` field of the page's forms; the count removed.
const STRIP_CSRF: &str = "const f = document.querySelectorAll('input[name=_csrf]'); \
    f.forEach(e => e.remove()); return f.length";

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    let app = TestApp::builder().fleet().api().build().await;
    let browser = Browser::start(&app).await;
    staff_signs_in(&app, &browser, "sam@agency.test", "staff").await;
    visit(&app, &browser, "/domains/add").await;
    let removed = browser.script(STRIP_CSRF).await;
    assert!(removed.as_u64() > Some(0), "the form carries _csrf");
    browser.fill("textarea[name=lines]", "forged.test").await;
    browser.click_and_load("#add-submit").await;
    let status = browser.text("#error-status").await;
    assert!(status.starts_with("403"), "{status:?}");
    page_is_clean(&app, &browser).await;
    // The CSV import's form is multipart: the same rule.
    visit(&app, &browser, "/import").await;
    browser.script(STRIP_CSRF).await;
    browser
        .fill(
            "textarea[name=csv]",
            "host,client\nforged-import.test,Acme\n",
        )
        .await;
    browser.click_and_load("#import-submit").await;
    let status = browser.text("#error-status").await;
    assert!(status.starts_with("403"), "import: {status:?}");
    // The same without a browser: the session's cookie, no token, 403.
    let session = browser.cookie("lapse_session").await.expect("a session");
    for body in ["lines=forged.test", "lines=forged.test&_csrf=not-the-token"] {
        let reply = app
            .raw(
                app.http()
                    .post(app.url("/domains/add"))
                    .header("cookie", format!("lapse_session={session}"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await;
        assert_eq!(reply.status, 403, "{body}: {reply:?}");
    }
    let listed = app.env.run_async(&["domains", "list", "--json"]).await;
    assert!(
        !listed.stdout.contains("forged"),
        "nothing was added: {listed:?}"
    );
}

#[tokio::test]
async fn every_staff_page_loads_under_the_policy_without_inline_script() {
    let app = TestApp::builder().fleet().api().build().await;
    let acme = app.ids["acme"];
    let browser = Browser::start(&app).await;
    staff_signs_in(&app, &browser, "ada@agency.test", "admin").await;
    for path in [
        "/".to_owned(),
        "/domains".to_owned(),
        "/domains?status=expiring&within=60&sort=name".to_owned(),
        "/domains/acme.test".to_owned(),
        "/domains/add".to_owned(),
        "/import".to_owned(),
        "/clients".to_owned(),
        format!("/clients/{acme}"),
        format!("/clients/{acme}/portal-links"),
        "/alerts".to_owned(),
        "/outbox".to_owned(),
        "/thresholds".to_owned(),
        "/scans".to_owned(),
        "/settings".to_owned(),
    ] {
        visit(&app, &browser, &path).await;
        let status = browser.find_all("#error-status").await;
        assert!(status.is_empty(), "{path} answers an error page");
    }
    browser.click_and_load("#sign-out").await;
    visit(&app, &browser, "/sign-in").await;
    browser.goto("/domains").await;
    browser.find("form#sign-in").await;
    assert!(browser.path().await.starts_with("/sign-in"), "signed out");
}

#[tokio::test]
async fn signing_in_and_adding_domains_work_with_javascript_off() {
    let app = TestApp::builder().fleet().api().build().await;
    let browser = Browser::start_with(&app, &["--blink-settings=scriptEnabled=false"]).await;
    staff_signs_in(&app, &browser, "sam@agency.test", "staff").await;
    browser.goto("/domains/add").await;
    browser.fill("textarea[name=lines]", "nojs.test\n").await;
    browser.click_and_load("#add-submit").await;
    let results = browser.texts("ul#results li").await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].contains("nojs.test"), "{results:?}");
    // A scan starts without JavaScript too (its page then offers a reload link).
    browser.goto("/scans").await;
    browser.click_and_load("#start-scan").await;
    browser.find("#scan-state").await;
    browser.click_and_load("#sign-out").await;
    assert!(!browser.has("#sign-out").await, "signed out");
}

#[tokio::test]
async fn a_failing_browser_test_leaves_a_screenshot_of_its_page() {
    let app = TestApp::builder().api().build().await;
    let shot = failure_dir().join("a_failing_browser_test_leaves_a_screenshot_of_its_page.png");
    let _ = std::fs::remove_file(&shot);
    // On the current-thread runtime the task runs on this test's thread,
    // whose name the screenshot takes.
    let failed = tokio::spawn(async move {
        let browser = Browser::start(&app).await;
        browser.goto("/healthz").await;
        panic!("deliberately, with the browser open");
    })
    .await;
    assert!(failed.is_err(), "the task failed");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
}

#[tokio::test]
async fn the_browser_sees_inline_code_and_console_errors() {
    let app = TestApp::builder().api().build().await;
    let browser = Browser::start(&app).await;
    browser
        .goto_url("data:text/html,<p onclick='f()' style='color:red'>x</p><script>console.error('boom')</script>")
        .await;
    let inline = browser.inline_code().await;
    assert_eq!(inline.len(), 3, "{inline:?}");
    let errors = browser.console_errors().await;
    assert!(errors.iter().any(|e| e.contains("boom")), "{errors:?}");
    assert!(browser.console_errors().await.is_empty(), "read once");
}

#[test]
fn without_chromium_the_browser_tests_fail_naming_the_debian_packages() {
    let empty = tempfile::tempdir().expect("dir");
    let path = Some(empty.path().as_os_str().to_owned());
    let missing = find_program("LAPSE_CHROMIUM", None, path, &["chromium"])
        .expect_err("no chromium in an empty directory");
    assert!(
        missing.contains("apt-get install chromium chromium-driver"),
        "{missing}"
    );
    let named = Some(empty.path().join("nothing").into_os_string());
    let missing =
        find_program("LAPSE_CHROMEDRIVER", named, None, &["chromedriver"]).expect_err("not a file");
    assert!(missing.contains("LAPSE_CHROMEDRIVER="), "{missing}");
    assert!(missing.contains("chromium-driver"), "{missing}");
}

/// README's pictures of the pages, kept by the scenarios above.
const SCREENSHOTS: [&str; 4] = ["overview", "domains", "domain", "portal"];

#[test]
fn readme_shows_the_screenshots_the_browser_tests_keep() {
    let readme = include_str!("../../README.md");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web_screenshots");
    for name in SCREENSHOTS {
        let path = format!("tests/web_screenshots/{name}.png");
        assert!(
            readme.contains(&format!("]({path})")),
            "README shows {path}"
        );
        let png = std::fs::read(dir.join(format!("{name}.png")))
            .unwrap_or_else(|e| panic!("{path}: {e}; LAPSE_UPDATE_SCREENSHOTS=1 makes it"));
        assert!(png.starts_with(b"\x89PNG"), "{path} is a PNG");
    }
    let kept = std::fs::read_dir(&dir)
        .expect("tests/web_screenshots")
        .count();
    assert_eq!(kept, SCREENSHOTS.len(), "no picture README does not show");
}
