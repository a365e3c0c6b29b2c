//! README's command examples, run as written and in order, against loopback
//! servers: every `lapse ...` line of its `sh` blocks (the CSV example is the
//! file `lapse domains import clients.csv` reads), the output README shows
//! under a command where it is not illustrative, then every `curl` example of
//! the JSON API section against `lapse serve` on the same fleet (a token made
//! for them, the server on a free port instead of 8080), each answering 2xx.
//!
//! How a README line becomes a command: the comment is cut, optional `[...]`
//! groups are left out, `a|b|c` takes its first word and a lone `|` ends the
//! command (its first form is run). The names resolve to 127.0.0.1 through a
//! loopback DNS server, registries answer on loopback, and TLS servers listen
//! on 127.0.0.1 at the ports the examples name (443, 587, 2143: binding 443
//! and 587 needs root or `net.ipv4.ip_unprivileged_port_start`, which CI has).
//! The few lines that cannot run exactly as written are in [`SUBSTITUTIONS`]
//! with the reason, and README says the same.

use std::net::SocketAddr;
use std::time::Duration;

use crate::harness::cli::{free_port, Run, TestEnv};
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::recorder::{Answer, Recorder};
use crate::harness::registry::{rdap_domain, HttpReply, RdapServer};
use crate::harness::smtp::SmtpSink;
use crate::harness::tls::{Prelude, TlsServer};

const README: &str = include_str!("../../README.md");

/// What a line runs instead of its README text, and why.
const SUBSTITUTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "lapse check www.example.com --address",
        "93.184.215.14",
        "127.0.0.1",
        "tests contact nothing beyond loopback",
    ),
    (
        "lapse bench seed",
        "--domains 100000",
        "--domains 1000",
        "the example's size takes minutes in a debug build; the command is the same",
    ),
];

/// Output lines README shows that depend on the fleet or the clock (ids,
/// counts, dates, a random token): the command runs, the line is not compared.
const ILLUSTRATIVE: &[&str] = &[
    "alerts opened 3, resolved 0, events 3, messages queued 3",
    "queued 1.threshold-14.email.5be1c0a9e2f4@agency.example",
    "sent     email    1.threshold-14.email.5be1c0a9e2f4@agency.example",
    "lapse_3q2...",
];

/// One example: the command (comment cut) and the output lines shown below it.
#[derive(Debug)]
struct Example {
    line: String,
    shown: Vec<String>,
}

/// Every `lapse` line of README's `sh` blocks, in order.
fn examples() -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_sh = false;
    for raw in README.lines() {
        if let Some(lang) = raw.strip_prefix("```") {
            in_sh = !in_sh && lang == "sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        if let Some(shown) = raw.strip_prefix("#   ") {
            if let Some(last) = out.last_mut() {
                last.shown.push(shown.trim().to_owned());
            }
        } else if raw.starts_with("lapse ") {
            out.push(Example {
                line: cut_comment(raw).trim().to_owned(),
                shown: Vec::new(),
            });
        }
    }
    out
}

/// Every `curl` line of README's `sh` blocks (continuations joined), in order.
fn curl_examples() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let (mut in_sh, mut continued) = (false, false);
    for raw in README.lines() {
        if let Some(lang) = raw.strip_prefix("```") {
            in_sh = !in_sh && lang == "sh";
            continue;
        }
        let text = raw.trim().trim_end_matches('\\').trim();
        if in_sh && continued {
            let last = out.last_mut().expect("a line to continue");
            last.push(' ');
            last.push_str(text);
        } else if in_sh && raw.starts_with("curl ") {
            out.push(text.to_owned());
        }
        continued = in_sh && raw.ends_with('\\') && (continued || raw.starts_with("curl "));
    }
    out
}

/// The text before a `#` that is outside quotes.
fn cut_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The first README block in `lang`.
fn block(lang: &str) -> String {
    let open = format!("```{lang}\n");
    let start = README.find(&open).expect("README has the block") + open.len();
    let len = README[start..].find("```").expect("block ends");
    README[start..start + len].to_owned()
}

/// A shell line's words: quotes removed, optional `[...]` groups left out.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quote, mut depth, mut quoted) = (None, 0, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) if depth == 0 => word.push(c),
            (Some(_), _) => {}
            (None, '"' | '\'') => (quote, quoted) = (Some(c), quoted || depth == 0),
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            (None, _) if depth > 0 => {}
            (None, ' ') => {
                if std::mem::take(&mut quoted) || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (None, _) => word.push(c),
        }
    }
    if !word.is_empty() || quoted {
        words.push(word);
    }
    words
}

/// The arguments a README line runs (after `lapse`), per the module's rules.
fn argv(line: &str) -> Vec<String> {
    let words = words(line);
    assert_eq!(words.first().map(String::as_str), Some("lapse"), "{line}");
    words
        .into_iter()
        .skip(1)
        .take_while(|w| w != "|")
        .map(|w| match w.split_once('|') {
            Some((first, _)) if !w.contains('@') => first.to_owned(),
            _ => w,
        })
        .collect()
}

#[test]
fn readme_lines_become_the_commands_described() {
    assert_eq!(
        argv(r#"lapse clients remove "Acme Ltd" [--release-domains]"#),
        ["clients", "remove", "Acme Ltd"]
    );
    assert_eq!(
        argv(r#"lapse domains owner example.com --client "Beta GmbH" | --agency | --none"#),
        ["domains", "owner", "example.com", "--client", "Beta GmbH"]
    );
    assert_eq!(
        argv("lapse domains watch example.com registration|tls|both"),
        ["domains", "watch", "example.com", "registration"]
    );
    assert_eq!(
        argv(r#"lapse scan [--client "Acme Ltd" | --domain example.com] [--json]"#),
        ["scan"]
    );
    assert_eq!(cut_comment(r#"lapse x "a # b" # c"#), r#"lapse x "a # b" "#);
}

/// The loopback world the examples run in.
struct World {
    env: TestEnv,
    _servers: Vec<TlsServer>,
    _dns: DnsServer,
    _rdap: RdapServer,
    /// Stands in for the Teams workflow README's channel examples post to.
    _teams: Recorder,
    smtp: SmtpSink,
    listen: SocketAddr,
}

const NAMES: &[&str] = &[
    "example.com",
    "shop.example.com",
    "www.example.com",
    "mail.example.com",
    "imap.example.com",
    "smtp.example.com",
    "client-b.example.com",
    "shop.example.co.uk",
    "staging.agency-studio.net",
    "xn--bcher-kva.de",
    "parked-bakery.com",
];

/// A TLS server on 127.0.0.1:`port`, or a message saying what the test needs.
async fn tls_on(port: u16, pki: &TestPki, prelude: Prelude) -> TlsServer {
    let addr = SocketAddr::new(ip("127.0.0.1"), port);
    if let Err(e) = std::net::TcpListener::bind(addr) {
        panic!(
            "README's examples use port {port}; binding 127.0.0.1:{port} failed ({e}): run the \
             tests as root or with net.ipv4.ip_unprivileged_port_start=0"
        );
    }
    let leaf = pki.good_leaf(&[
        "shop.example.com",
        "www.example.com",
        "mail.example.com",
        "imap.example.com",
    ]);
    TlsServer::start_on(addr, pki.served(&leaf), leaf.key_der(), prelude).await
}

/// RDAP for the examples' TLDs: `.de` publishes no expiry (as DENIC's does
/// not); `.com` registrations expire in 10 days (so the examples' scan queues
/// the 14-day reminder README shows), the others next year.
fn registry(path: &str, own: SocketAddr) -> HttpReply {
    if path == "/bootstrap.json" {
        let base = format!("http://{own}/rdap/");
        let body = serde_json::json!({
            "version": "1.0",
            "publication": "2026-11-30T00:00:00Z",
            "services": [[["com", "net", "uk", "de"], [base]]]
        });
        return HttpReply::json(200, body.to_string());
    }
    match path.strip_prefix("/rdap/domain/") {
        Some(name) if name.ends_with(".de") => HttpReply::json(200, rdap_domain(name, None, None)),
        Some(name) if name.ends_with(".com") => {
            let soon = lapse::store::format_time(chrono::Utc::now() + chrono::Duration::days(10));
            HttpReply::json(200, rdap_domain(name, Some(&soon), None))
        }
        Some(name) => HttpReply::json(200, rdap_domain(name, Some("2027-08-13T04:00:00Z"), None)),
        None => HttpReply::json(404, r#"{"errorCode": 404}"#.to_owned()),
    }
}

impl World {
    async fn start() -> Self {
        let pki = TestPki::new();
        let servers = vec![
            tls_on(443, &pki, Prelude::None).await,
            tls_on(587, &pki, Prelude::Smtp).await,
            tls_on(2143, &pki, Prelude::Imap).await,
        ];
        let zone = NAMES
            .iter()
            .fold(Zone::new(), |z, n| z.host(n, &[ip("127.0.0.1")]));
        let dns = DnsServer::start(zone).await;
        let rdap = RdapServer::start(registry).await;
        let smtp = SmtpSink::plain().await;
        let teams = Recorder::start(Answer::status(202)).await;
        let listen = SocketAddr::new(ip("127.0.0.1"), free_port());
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pki.root_pem()).expect("write CA");
        let env = TestEnv::in_dir(
            dir,
            &format!(
                "[server]\nlisten = \"{listen}\"\n\n\
                 [dns]\nnameservers = [\"{dns}\"]\n\n\
                 [targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\n\
                 [tls]\nextra_ca_file = \"{ca}\"\nconnect_timeout_ms = 1000\nhandshake_timeout_ms = 1000\n\n\
                 [rdap]\nbootstrap_url = \"{bootstrap}\"\ntimeout_ms = 1500\n\n\
                 [smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\nsecurity = \"none\"\nfrom = \"lapse <lapse@agency.example>\"\ntimeout_secs = 5\n\n\
                 [alerts]\nstaff = [\"staff@agency.example\"]\n\n\
                 [channels.ops-teams]\nkind = \"teams\"\nurl = \"{teams}\"\n",
                teams = teams.url("/workflows/lapse"),
                dns = dns.addr,
                ca = ca.display(),
                bootstrap = rdap.url("/bootstrap.json"),
                smtp = smtp.port(),
            ),
        );
        Self {
            env,
            _servers: servers,
            _dns: dns,
            _rdap: rdap,
            _teams: teams,
            smtp,
            listen,
        }
    }

    /// The files README's examples read, written where they run.
    fn write_inputs(&self) {
        self.env.write("clients.csv", &block("csv"));
        self.env.write(
            "reply.txt",
            "Domain: example.de\nNserver: ns1.example.de\nStatus: connect\nChanged: 2024-05-02T10:11:12+02:00\n",
        );
        self.env.write(
            "reply.json",
            &rdap_domain("example.com", Some("2027-08-13T04:00:00Z"), None),
        );
    }

    /// `lapse serve`, once its health check answers.
    async fn start_serve(&self, args: &[String]) -> tokio::process::Child {
        let mut child = tokio::process::Command::from(self.env.command(&strs(args)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn lapse serve");
        let url = format!("http://{}/healthz", self.listen);
        for _ in 0..100 {
            if let Ok(r) = reqwest::get(&url).await {
                assert!(r.status().is_success(), "healthz: {}", r.status());
                return child;
            }
            if let Some(exit) = child.try_wait().expect("wait") {
                panic!("lapse serve exited with {exit} before answering /healthz");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("lapse serve never answered /healthz");
    }

    /// SIGTERM, then what `lapse serve` printed and its exit code.
    async fn stop_serve(child: tokio::process::Child) -> Run {
        let pid = child.id().expect("pid").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .expect("lapse serve stops on SIGTERM")
            .expect("wait");
        Run::from(output)
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The line with its substitution applied, if it has one.
fn substituted(line: &str) -> String {
    SUBSTITUTIONS
        .iter()
        .find(|(prefix, ..)| line.starts_with(prefix))
        .map_or_else(
            || line.to_owned(),
            |(_, from, to, _)| line.replace(from, to),
        )
}

#[tokio::test]
async fn every_readme_command_example_runs_as_written_in_order() {
    let world = World::start().await;
    world.write_inputs();
    // The scan's reminders meet a busy mail server (451), so README's
    // `lapse outbox retry ID` has a message to retry.
    world.smtp.refuse_next(2);
    let examples = examples();
    assert!(
        examples.len() > 40,
        "README's examples were found: {examples:?}"
    );
    for (prefix, ..) in SUBSTITUTIONS {
        assert!(
            examples.iter().any(|e| e.line.starts_with(prefix)),
            "a substitution for a line README no longer has: {prefix}"
        );
    }
    for example in &examples {
        let mut args = argv(&substituted(&example.line));
        if args.starts_with(&["outbox".into(), "retry".into()]) && args[2].contains(".threshold-") {
            // README's id is an example: retry a message this fleet queued.
            args[2] = first_outbox_id(&world.env).await;
        }
        let run = if args[0] == "serve" {
            World::stop_serve(world.start_serve(&args).await).await
        } else if args.starts_with(&["bench".into(), "seed".into()]) {
            // "a fake fleet in a fresh database"
            TestEnv::new().run_async(&strs(&args)).await
        } else {
            world.env.run_async(&strs(&args)).await
        };
        assert_eq!(
            run.code, 0,
            "README: {}\nran: {args:?}\n{run:?}",
            example.line
        );
        for shown in &example.shown {
            if ILLUSTRATIVE.iter().any(|i| shown.starts_with(i)) {
                continue;
            }
            assert!(
                run.stdout.lines().any(|l| l.trim() == shown),
                "README shows {shown:?} under `{}`; it printed:\n{}",
                example.line,
                run.stdout
            );
        }
    }
    run_curl_examples(&world).await;
    assert!(
        !world.smtp.received().is_empty(),
        "`lapse email test` and `lapse outbox deliver` sent mail through the loopback server"
    );
}

/// A README `curl` line sent with reqwest: `-H`, `-d`, `--data-binary @FILE`
/// and the URL, with `$TOKEN` and the README's `127.0.0.1:8080` filled in.
async fn send_curl(world: &World, line: &str, token: &str) -> (u16, String) {
    let words = words(line);
    assert_eq!(words.first().map(String::as_str), Some("curl"), "{line}");
    let fill = |w: &str| {
        w.replace("$TOKEN", token)
            .replace("127.0.0.1:8080", &world.listen.to_string())
    };
    let (mut headers, mut body, mut url) = (Vec::new(), None, None);
    let mut rest = words[1..].iter();
    while let Some(word) = rest.next() {
        match word.as_str() {
            "-H" => headers.push(fill(rest.next().expect("-H value"))),
            "-d" => body = Some(rest.next().expect("-d value").clone().into_bytes()),
            "--data-binary" => {
                let file = rest.next().expect("--data-binary value");
                let path = world.env.path(file.strip_prefix('@').expect("@FILE"));
                body = Some(std::fs::read(path).expect("the file README sends"));
            }
            w if w.starts_with("http") => url = Some(fill(w)),
            other => panic!("README's curl uses {other:?}, which this test does not read: {line}"),
        }
    }
    let url = url.expect("a URL");
    let http = reqwest::Client::new();
    let mut request = match body {
        Some(body) => http.post(&url).body(body),
        None => http.get(&url),
    };
    for header in headers {
        let (name, value) = header.split_once(": ").expect("Name: value");
        request = request.header(name, value);
    }
    let reply = request.send().await.expect("lapse serve answers");
    let status = reply.status().as_u16();
    (status, reply.text().await.unwrap_or_default())
}

/// The JSON API section's examples, against `lapse serve` on this fleet.
async fn run_curl_examples(world: &World) {
    let curls = curl_examples();
    assert!(
        curls.len() >= 5,
        "README's curl examples were found: {curls:?}"
    );
    let made = world
        .env
        .run_async(&[
            "tokens",
            "create",
            "--role",
            "staff",
            "--name",
            "readme curl",
        ])
        .await;
    let token = made
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("lapse_"))
        .unwrap_or_else(|| panic!("a token: {made:?}"))
        .to_owned();
    let serve = world.start_serve(&["serve".to_owned()]).await;
    let mut failed = Vec::new();
    for line in &curls {
        let (status, body) = send_curl(world, line, &token).await;
        if !(200..300).contains(&status) {
            failed.push(format!("{line}\n  -> {status} {body}"));
        }
    }
    let run = World::stop_serve(serve).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        failed.is_empty(),
        "README's API examples failed:\n{}",
        failed.join("\n")
    );
}

async fn first_outbox_id(env: &TestEnv) -> String {
    let run = env.run_async(&["outbox", "list", "--json"]).await;
    let list: serde_json::Value = serde_json::from_str(&run.stdout).expect("outbox JSON");
    list.as_array()
        .and_then(|items| items.iter().find(|item| item["state"] == "pending"))
        .and_then(|item| item["message_id"].as_str())
        .expect("the fleet queued a message that the mail server deferred")
        .to_owned()
}
