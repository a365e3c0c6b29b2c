//! A real browser for the web pages' tests: Debian's `chromium`, headless,
//! driven over WebDriver by fantoccini through Debian's `chromedriver` on
//! a free loopback port, against the pages a [`TestApp`] serves.
//!
//! [`Browser::start`] waits for a turn (one browser at a time: chromium is
//! heavy and CI has 2 cores; `LAPSE_BROWSERS=N` allows more), starts
//! `chromedriver`, which starts chromium with a temporary profile. Chromium
//! resolves no name (the app is reached as 127.0.0.1), sends anything not
//! on loopback to a proxy on a closed loopback port, and runs its
//! background services off, so nothing leaves loopback. Dropping the
//! `Browser` ends the session and the driver's process group; when the test
//! is failing (a panic), it first saves a screenshot and the page's HTML to
//! `target/web-screenshots/TEST.png` and `.html`.
//!
//! Finding elements waits for them (up to [`WAIT`]), never sleeps:
//! [`Browser::find`], [`Browser::click_and_load`] (a click that loads
//! another page), [`Browser::wait_for_text`]; opening a page waits until it
//! has loaded and passed through any page that forwards at once
//! ([`Browser::settle`]).
//! [`Browser::readme_screenshot`] keeps README's pictures in
//! `tests/web_screenshots/` current when `LAPSE_UPDATE_SCREENSHOTS=1`.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::app::TestApp;
use super::cli::free_port;

/// How long a page element is waited for.
pub const WAIT: Duration = Duration::from_secs(15);

/// Browsers running at once across the test binary.
static TURNS: Semaphore = Semaphore::const_new(1);

const MISSING: &str = "the browser tests need Chromium and its WebDriver: on Debian \
    `apt-get install chromium chromium-driver` (.ci/run installs both), or point \
    LAPSE_CHROMIUM and LAPSE_CHROMEDRIVER at a chromium and a matching chromedriver";

/// A headless chromium session on the pages of one [`TestApp`].
pub struct Browser {
    client: Client,
    base: String,
    session: String,
    driver: Driver,
    _turn: SemaphorePermit<'static>,
}

/// The `chromedriver` process (leader of its own process group, so that
/// the chromium it started goes with it) and the browser's profile.
struct Driver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group: chromedriver and any chromium it started (ours alone).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// A browser on `app`'s pages (built with `.api()`); waits for its turn.
    pub async fn start(app: &TestApp) -> Self {
        Self::start_with(app, &[]).await
    }

    /// As [`Browser::start`], with extra chromium switches (e.g.
    /// `--blink-settings=scriptEnabled=false`: JavaScript off).
    pub async fn start_with(app: &TestApp, switches: &[&str]) -> Self {
        let turn = turn().await;
        let chromium = program("LAPSE_CHROMIUM", &["chromium", "chromium-browser"]);
        let chromedriver = program("LAPSE_CHROMEDRIVER", &["chromedriver"]);
        let driver = Driver::start(&chromedriver).await;
        let capabilities = capabilities(&chromium, &driver.dir.path().join("profile"), switches);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromium did not start through chromedriver: {e}\n{}",
                    driver.log()
                )
            });
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        Self {
            client,
            base: app.url(""),
            session,
            driver,
            _turn: turn,
        }
    }

    /// The absolute URL of a path on the app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens a path of the app (passing through a page that forwards at
    /// once, as the one after signing in does).
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        self.settle().await;
    }

    /// Waits until the page has loaded and is not one that forwards at once
    /// (`<meta http-equiv="refresh" content="0; url=...">`).
    pub async fn settle(&self) {
        const SETTLED: &str = "return document.readyState === 'complete' && \
            !document.querySelector('meta[http-equiv=refresh][content^=\"0\"]')";
        let deadline = Instant::now() + WAIT;
        loop {
            // An error is a navigation under way: ask again.
            if let Ok(Value::Bool(true)) = self.client.execute(SETTLED, Vec::new()).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no page settled within {WAIT:?}: {}",
                self.where_().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens an absolute URL (a `data:` page in the harness's own test).
    pub async fn goto_url(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        format!("{}{query}", url.path())
    }

    /// The first element matching `css`, waited for.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "`{css}` not on {} within {WAIT:?}: {e}",
                self.where_().await
            ),
        }
    }

    /// Every element matching `css` now (no wait).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find `{css}`: {e}"))
    }

    /// Whether an element matches `css` now (no wait).
    pub async fn has(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The visible text of the first element matching `css`, waited for.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The texts of every element matching `css` now.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for element in self.find_all(css).await {
            out.push(element.text().await.expect("text"));
        }
        out
    }

    /// Waits until the text of `css` contains `wanted` (the page may reload
    /// meanwhile, as a running scan's does).
    pub async fn wait_for_text(&self, css: &str, wanted: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let mut last = String::new();
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if text.contains(wanted) {
                        return text;
                    }
                    last = text;
                }
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` did not read {wanted:?} within {within:?} on {} (last: {last:?})",
                self.where_().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field matching `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks `css` and waits until the next page has replaced this one.
    pub async fn click_and_load(&self, css: &str) {
        let old = self.find("html").await;
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
        let deadline = Instant::now() + WAIT;
        // The old document's root goes stale once the new page is in.
        while old.tag_name().await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "clicking `{css}` loaded no page within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.settle().await;
    }

    /// The text of an open `alert`/`confirm`/`prompt` dialog, if any.
    pub async fn dialog(&self) -> Option<String> {
        self.client.get_alert_text().await.ok()
    }

    /// Runs `script` in the page (WebDriver's channel, which the page's
    /// Content-Security-Policy does not govern).
    pub async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// The value of a cookie the browser holds for the app (HttpOnly too).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.client
            .get_named_cookie(name)
            .await
            .ok()
            .map(|c| c.value().to_owned())
    }

    /// What the page's console said at level SEVERE since the last call
    /// (a blocked inline script, a refused style, a failed asset).
    pub async fn console_errors(&self) -> Vec<String> {
        let logs = self.driver_call("POST", "/se/log", Some(json!({"type": "browser"})));
        logs.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    // The browser asks for /favicon.ico on its own; a page
                    // that names no icon is not at fault.
                    .filter(|e| !e["message"].as_str().unwrap_or("").contains("/favicon.ico"))
                    .filter_map(|e| e["message"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the page holds that a Content-Security-Policy without inline
    /// script or style would block: `<script>` without `src`, `on...`
    /// attributes, `javascript:` links, `style` attributes and elements.
    pub async fn inline_code(&self) -> Vec<String> {
        let found = self
            .script(
                r#"const out = [];
                for (const s of document.querySelectorAll("script:not([src])")) out.push("inline <script>: " + s.textContent.slice(0, 80));
                for (const s of document.querySelectorAll("style")) out.push("inline <style>");
                for (const el of document.querySelectorAll("*")) {
                  for (const a of el.attributes) {
                    if (a.name.startsWith("on")) out.push(el.tagName + " " + a.name + "=" + a.value.slice(0, 80));
                    if (a.name === "style") out.push(el.tagName + " style=" + a.value.slice(0, 80));
                    if (/^\s*javascript:/i.test(a.value)) out.push(el.tagName + " " + a.name + "=" + a.value.slice(0, 80));
                  }
                }
                return out;"#,
            )
            .await;
        serde_json::from_value(found).unwrap_or_default()
    }

    /// With `LAPSE_UPDATE_SCREENSHOTS=1`, saves the page as README's
    /// `tests/web_screenshots/NAME.png`; otherwise nothing.
    pub async fn readme_screenshot(&self, name: &str) {
        if std::env::var("LAPSE_UPDATE_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web_screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// "PATH (title TITLE)" of the page shown, for failure messages.
    async fn where_(&self) -> String {
        let path = self.path().await;
        let title = self.client.title().await.unwrap_or_default();
        format!("{path} (title {title:?})")
    }

    /// A WebDriver command on this session, sent without the async client
    /// (from `drop`, possibly while a test panics).
    fn driver_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        blocking_call(self.driver.port, method, &path, body).unwrap_or(Value::Null)
    }

    /// Saves the page as `target/web-screenshots/TEST.png` (and `.html`).
    fn save_failure(&self) {
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .rsplit("::")
            .next()
            .unwrap_or("unnamed")
            .to_owned();
        let dir = failure_dir();
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        let png = self.driver_call("GET", "/screenshot", None);
        if let Some(png) = png
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        {
            let path = dir.join(format!("{test}.png"));
            if std::fs::write(&path, png).is_ok() {
                eprintln!("screenshot of the failing page: {}", path.display());
            }
        }
        if let Some(html) = self.driver_call("GET", "/source", None).as_str() {
            let _ = std::fs::write(dir.join(format!("{test}.html")), html);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.save_failure();
        }
        // Ends chromium; the driver's process group is killed after.
        let _ = blocking_call(
            self.driver.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// `target/web-screenshots` of the build that runs the tests.
pub fn failure_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("web-screenshots")
}

async fn turn() -> SemaphorePermit<'static> {
    let allowed: usize = std::env::var("LAPSE_BROWSERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    static WIDENED: std::sync::Once = std::sync::Once::new();
    WIDENED.call_once(|| TURNS.add_permits(allowed.saturating_sub(1)));
    TURNS
        .acquire()
        .await
        .expect("the semaphore is never closed")
}

/// The program named by `variable`, else the first of `names` on `PATH`.
fn program(variable: &str, names: &[&str]) -> PathBuf {
    find_program(
        variable,
        std::env::var_os(variable),
        std::env::var_os("PATH"),
        names,
    )
    .unwrap_or_else(|missing| panic!("{missing}"))
}

/// [`program`] with the environment given: the path, or what to install.
pub fn find_program(
    variable: &str,
    named: Option<std::ffi::OsString>,
    search: Option<std::ffi::OsString>,
    names: &[&str],
) -> Result<PathBuf, String> {
    if let Some(path) = named {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{variable}={} is no file; {MISSING}",
                path.display()
            ))
        };
    }
    let dirs: Vec<PathBuf> = search
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("no {} on PATH: {MISSING}", names.join(" or ")))
}

impl Driver {
    /// chromedriver on a free loopback port, once it says it is ready.
    async fn start(program: &Path) -> Self {
        let mut last = String::new();
        // A free port may be taken between finding and binding it: retry.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("browser dir");
            let port = free_port();
            let child = Command::new(program)
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    dir.path().join("chromedriver.log").display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("run {}: {e}; {MISSING}", program.display()));
            let mut driver = Self { child, port, dir };
            if driver.ready().await {
                return driver;
            }
            last = driver.log();
        }
        panic!("chromedriver did not start:\n{last}");
    }

    async fn ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if let Ok(status) = blocking_call(self.port, "GET", "/status", None) {
                if status["ready"] == true {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// The end of chromedriver's log, for failure messages.
    fn log(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Headless chromium with a fresh profile, kept on loopback.
fn capabilities(
    chromium: &Path,
    profile: &Path,
    switches: &[&str],
) -> serde_json::Map<String, Value> {
    let mut args = vec![
        "--headless=new".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        "--window-size=1280,900".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-extensions".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-default-apps".to_owned(),
        "--disable-domain-reliability".to_owned(),
        "--disable-breakpad".to_owned(),
        "--metrics-recording-only".to_owned(),
        "--no-pings".to_owned(),
        "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater".to_owned(),
        // No name resolves (the app is reached as 127.0.0.1), and whatever
        // is not loopback goes to a proxy on a closed loopback port.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_owned(),
        "--proxy-server=http://127.0.0.1:9".to_owned(),
        "--lang=en-GB".to_owned(),
    ];
    if is_root() {
        // Chromium's sandbox refuses to run as root (CI's containers).
        args.push("--no-sandbox".to_owned());
    }
    args.extend(switches.iter().map(|s| (*s).to_owned()));
    let capabilities = json!({
        "browserName": "chrome",
        // A dialog stays open for the test to see (`Browser::dialog`).
        "unhandledPromptBehavior": "ignore",
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
        },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("an object"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One WebDriver command over a plain HTTP/1.1 connection to chromedriver
/// on loopback (closed after the reply): its `value`.
fn blocking_call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> std::io::Result<Value> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let reply = read_reply(&mut stream)?;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or_default();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let value: Value = serde_json::from_str(&body).map_err(std::io::Error::other)?;
    Ok(value["value"].clone())
}

/// Reads one HTTP reply: to its `Content-Length`, its last chunk, or the
/// end of the connection (chromedriver keeps it open).
fn read_reply(stream: &mut std::net::TcpStream) -> std::io::Result<String> {
    let mut reply = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buffer)?;
        reply.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&reply);
        if n == 0 {
            return Ok(text.into_owned());
        }
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let head = head.to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok());
        let complete = match length {
            Some(length) => body.len() >= length,
            None => head.contains("chunked") && body.ends_with("0\r\n\r\n"),
        };
        if complete {
            return Ok(text.into_owned());
        }
    }
}

/// A chunked body's content.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
