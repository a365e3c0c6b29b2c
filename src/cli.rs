//! The command line: clap types and dispatch. Each command parses its
//! arguments, calls use cases (inventory, store, app), prints a result a
//! person can read (or JSON with `--json`) and returns an exit code.
//!
//! Exit codes (also in README):
//! - 0 success
//! - 1 lapse itself failed (database, I/O, server)
//! - 2 the input was refused (bad name, unknown client, bad CSV rows, usage)
//! - 3 the configuration is invalid
//!
//! `lapse check` has its own codes, like monitoring plugins: 0 ok, 1 warning,
//! 2 critical, 3 could not check.

pub mod check_report;
pub mod whois_report;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use crate::app::{self, App};
use crate::config::{Config, LoadOptions};
use crate::domain::certificate::TlsMode;
use crate::domain::names::{parse_email, parse_target, to_unicode};
use crate::inventory::{self, ImportRowResult, TargetError};
use crate::monitor::engine::{Clock, ProgressFn, SystemClock};
use crate::monitor::registration::RegistrationChecker;
use crate::probe::tls::{TlsProbe, TlsTarget};
use crate::store::ScanScope;
use crate::store::{AddedTarget, Store, StoreError};
use std::sync::Arc;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_INPUT: u8 = 2;
pub const EXIT_CONFIG: u8 = 3;

/// lapse: watches domain registrations and TLS certificates and tells the
/// right people before either lapses.
#[derive(Debug, Parser)]
#[command(name = "lapse", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: $LAPSE_CONFIG, else config/lapse.toml
    /// when present, else the built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (GET /healthz) until SIGINT/SIGTERM.
    Serve,
    /// Check one endpoint's certificates now, on every address (needs no database).
    ///
    /// Exits 0 ok, 1 warning, 2 critical, 3 could not check.
    Check(CheckArgs),
    /// Apply pending database migrations and list them.
    Migrate(JsonFlag),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Scan now in the foreground: every certificate in scope, registrations that are due.
    ///
    /// Resumes an interrupted scan of the same scope. Shows a progress bar on a
    /// terminal and a summary at the end. SIGINT/SIGTERM stops cleanly (resumable).
    Scan {
        /// Only this client's domains.
        #[arg(long, value_name = "NAME", conflicts_with = "domain")]
        client: Option<String>,
        /// Only this domain (its endpoints and its registration, due or not).
        #[arg(long, value_name = "INPUT")]
        domain: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Registration facts: look a domain up, or parse a saved reply.
    Whois(WhoisArgs),
    /// Manage clients (agency customers) and their contacts.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage watched domains and endpoints.
    #[command(subcommand)]
    Domains(DomainsCommand),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The endpoint: `shop.example.com`, `mail.example.com:587`, `https://www.example.com/`.
    pub target: String,
    /// Upgrade with STARTTLS first (default: from the port: 25/587 smtp, 143 imap, 110 pop3).
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    pub starttls: Option<StartTlsArg>,
    /// Connect to this address instead of resolving the name (SNI still names the host).
    #[arg(long, value_name = "IP")]
    pub address: Option<std::net::IpAddr>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StartTlsArg {
    Smtp,
    Imap,
    Pop3,
}

impl From<StartTlsArg> for TlsMode {
    fn from(arg: StartTlsArg) -> Self {
        match arg {
            StartTlsArg::Smtp => Self::StartTlsSmtp,
            StartTlsArg::Imap => Self::StartTlsImap,
            StartTlsArg::Pop3 => Self::StartTlsPop3,
        }
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WhoisArgs {
    #[command(subcommand)]
    pub command: Option<WhoisCommand>,
    /// The domain to look up (RDAP first, then WHOIS).
    #[arg(required = true, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also print the raw replies.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Subcommand)]
pub enum WhoisCommand {
    /// Parse a raw WHOIS reply (or an RDAP JSON reply with --rdap) from FILE or
    /// stdin and print one JSON object: expires, created, updated, registrar,
    /// status, nameservers, outcome.
    Parse {
        /// The domain the reply is about.
        #[arg(long, value_name = "NAME")]
        domain: String,
        /// The reply is RDAP JSON.
        #[arg(long)]
        rdap: bool,
        /// The reply file (default: stdin).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values (secrets redacted).
    Check,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Add a client, or add contacts to an existing one.
    Add {
        /// Client name, e.g. "Acme Ltd".
        name: String,
        /// Contact email address that receives this client's alerts (repeatable).
        #[arg(long = "contact", value_name = "EMAIL")]
        contacts: Vec<String>,
    },
    /// List clients with their contacts and domain counts.
    List(JsonFlag),
    /// Remove a client and its contacts.
    Remove {
        name: String,
        /// Keep watching the client's domains, without a client.
        #[arg(long)]
        release_domains: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// Watch hosts: stores each endpoint (host, port; 443 by default) and its registrable domain.
    Add {
        /// What to watch: `example.com`, `shop.example.co.uk:8443`, `https://www.example.com/path`, `bücher.de`.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Client that owns the domains.
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List watched domains and their endpoints.
    List {
        /// Only this client's domains.
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop watching: a bare domain removes it with all its endpoints; `host[:port]` removes that endpoint.
    Remove {
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
    },
    /// Enter a registration expiry by hand (e.g. from the registrar's invoice) for a TLD that publishes none.
    ///
    /// lapse keeps looking the domain up and says when the registry starts publishing a date that differs.
    SetExpiry {
        /// The domain (`example.de`).
        domain: String,
        /// The expiry date, YYYY-MM-DD.
        date: String,
        /// Where the date comes from.
        #[arg(long)]
        note: Option<String>,
    },
    /// Import a CSV file with a header row and the columns host, client, contacts.
    Import {
        /// The CSV file (`-` for stdin).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A command's failure: what to print and how to exit.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    fn input(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_INPUT,
            message: message.into(),
        }
    }

    fn failure(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        if e.is_input_error() {
            Self::input(e.to_string())
        } else {
            Self::failure(e.to_string())
        }
    }
}

impl From<TargetError> for CliError {
    fn from(e: TargetError) -> Self {
        if e.is_input_error() {
            Self::input(e.to_string())
        } else {
            Self::failure(e.to_string())
        }
    }
}

/// Entry point used by `main`: parse, load config, init logs, run.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&LoadOptions {
        explicit_path: cli.config.clone(),
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lapse: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::logging::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lapse: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("lapse: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> Result<(), CliError> {
    if let Command::Config(ConfigCommand::Check) = command {
        print!(
            "# configuration is valid; effective values from {}\n{}",
            config.origin,
            config.to_redacted_toml()
        );
        return Ok(());
    }
    if let Command::Check(args) = command {
        return check(&config, args).await;
    }
    if let Command::Whois(WhoisArgs {
        command: Some(WhoisCommand::Parse { domain, rdap, file }),
        ..
    }) = command
    {
        return whois_parse(&domain, rdap, file.as_deref());
    }
    if let Command::Migrate(flags) = command {
        let store = Store::open_without_migrating(&config.database).await?;
        let status = store.migrate().await?;
        if flags.json {
            return print_json(&status);
        }
        for m in &status {
            let state = if m.newly_applied {
                "applied now"
            } else {
                "already applied"
            };
            println!("{:>4}  {:<40} {state}", m.version, m.description);
        }
        println!("database {} is up to date", store.path().display());
        return Ok(());
    }
    let app = App::build(config).await?;
    match command {
        Command::Config(_) | Command::Migrate(_) | Command::Check(_) => Ok(()),
        Command::Whois(args) => whois(&app, args).await,
        Command::Scan {
            client,
            domain,
            json,
        } => scan(&app, client, domain, json).await,
        Command::Serve => serve(app).await,
        Command::Clients(cmd) => clients(&app, cmd).await,
        Command::Domains(cmd) => domains(&app, cmd).await,
    }
}

/// `lapse check`: one endpoint, every address, no database.
async fn check(config: &Config, args: CheckArgs) -> Result<(), CliError> {
    const COULD_NOT_CHECK: u8 = 3;
    let target = parse_target(&args.target, &config.names.policy()).map_err(|e| CliError {
        code: COULD_NOT_CHECK,
        message: format!("`{}`: {e}", args.target),
    })?;
    let port = target.port_or(config.endpoints.default_port);
    let mut tls_target = TlsTarget::new(target.host.as_str(), port);
    if let Some(mode) = args.starttls {
        tls_target = tls_target.with_mode(mode.into());
    }
    if let Some(address) = args.address {
        tls_target = tls_target.with_pinned_address(address);
    }
    let probe = TlsProbe::new(app::tls_probe_settings(config)).map_err(|e| CliError {
        code: COULD_NOT_CHECK,
        message: format!("cannot set up the TLS probe: {e}"),
    })?;
    let now = Utc::now();
    let report = probe.check(&tls_target, now).await;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", check_report::render_human(&report, now));
    }
    let code = u8::try_from(report.severity().exit_code()).unwrap_or(COULD_NOT_CHECK);
    if code == 0 {
        Ok(())
    } else {
        // The report says why; nothing more to print.
        Err(CliError {
            code,
            message: String::new(),
        })
    }
}

/// `lapse scan`: one scan in the foreground, then a summary.
async fn scan(
    app: &App,
    client: Option<String>,
    domain: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    use std::io::IsTerminal as _;
    let scope = match (&client, &domain) {
        (Some(name), _) => ScanScope::Client {
            client_id: app.store.client_id_by_name(name).await?,
        },
        (None, Some(input)) => {
            let target = parse_target(input, &app.config.names.policy())
                .map_err(|e| CliError::input(format!("`{input}`: {e}")))?;
            ScanScope::Domain {
                domain_id: app.store.domain_id(&target.registrable).await?,
            }
        }
        (None, None) => ScanScope::All,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = app::build_engine(app, clock)
        .await
        .map_err(CliError::failure)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        app::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let bar = if std::io::stderr().is_terminal() && !json {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} checks ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let progress: Option<ProgressFn> = match &bar {
        Some(bar) => {
            let bar = bar.clone();
            Some(Arc::new(move |done, total| {
                bar.set_length(u64::try_from(total).unwrap_or(0));
                bar.set_position(u64::try_from(done).unwrap_or(0));
            }))
        }
        None => Some(Arc::new(|done, total| {
            tracing::info!(items.done = done, items.total = total, "scan progress");
        })),
    };
    let outcome = engine.run(&scope, stop_rx, progress).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let nearest = app.store.nearest_expiries(10).await?;
    if json {
        return print_json(&serde_json::json!({ "scan": outcome, "nearest_expiries": nearest }));
    }
    let s = &outcome.summary;
    let state = if outcome.interrupted {
        "interrupted (run `lapse scan` again to resume)"
    } else {
        "finished"
    };
    println!(
        "scan #{} {state}: {} of {} checks done{}",
        s.scan_id,
        s.items_done,
        s.items_total,
        if outcome.resumed { " (resumed)" } else { "" }
    );
    println!("  {:<10} {:>7}", "ok", s.ok);
    println!("  {:<10} {:>7}", "warning", s.warning);
    println!("  {:<10} {:>7}", "critical", s.critical);
    println!("  {:<10} {:>7}", "unknown", s.unknown);
    if !nearest.is_empty() {
        println!("nearest expiries:");
        for e in &nearest {
            println!(
                "  {:<21} {:<13} {}",
                e.expires_at,
                e.kind,
                to_unicode(&e.subject)
            );
        }
    }
    Ok(())
}

/// `lapse whois parse`: a saved reply in, one JSON object out.
fn whois_parse(domain: &str, rdap: bool, file: Option<&std::path::Path>) -> Result<(), CliError> {
    use std::io::Read as _;
    let mut raw = Vec::new();
    match file {
        Some(path) => {
            raw = std::fs::read(path)
                .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut raw)
                .map_err(|e| CliError::failure(format!("cannot read stdin: {e}")))?;
        }
    }
    let facts = if rdap {
        crate::probe::rdap_parse::parse_rdap(domain, &raw)
    } else {
        crate::probe::whois_parse::parse_whois(domain, &raw)
    };
    let out = serde_json::json!({
        "expires": facts.expires,
        "created": facts.created,
        "updated": facts.updated,
        "registrar": facts.registrar,
        "status": facts.status,
        "nameservers": facts.nameservers,
        "outcome": facts.outcome,
    });
    println!("{out}");
    Ok(())
}

/// `lapse whois DOMAIN`: a one-shot lookup (RDAP, then WHOIS) with the
/// facts, their sources and the TLD's capability. Uses what the store knows
/// (previous facts, a manual date) when the domain is tracked; records nothing.
async fn whois(app: &App, args: WhoisArgs) -> Result<(), CliError> {
    let input = args.domain.unwrap_or_default();
    let target = parse_target(&input, &app.config.names.policy())
        .map_err(|e| CliError::input(format!("`{input}`: {e}")))?;
    let now = Utc::now();
    let checker = RegistrationChecker::build(&app.config, &app.store, now)
        .await
        .map_err(|e| CliError::failure(e.to_string()))?;
    let context = match app.store.domain_id(&target.registrable).await {
        Ok(id) => Some(app.store.registration_context(id).await?),
        Err(e) if e.is_input_error() => None,
        Err(e) => return Err(e.into()),
    };
    let check = checker
        .look_up(
            target.registrable.as_str(),
            context.as_ref().and_then(|c| c.previous.as_ref()),
            context.as_ref().and_then(|c| c.manual.as_ref()),
            now,
        )
        .await;
    if args.json {
        let mut out = serde_json::json!({ "report": check.report, "assessment": check.assessment });
        if args.raw {
            out["raw"] = check
                .report
                .exchanges
                .iter()
                .map(|e| serde_json::json!({ "server": e.server, "reply": e.raw.as_deref().map(String::from_utf8_lossy) }))
                .collect();
        }
        return print_json(&out);
    }
    print!(
        "{}",
        whois_report::render_human(
            &target.registrable.to_unicode(),
            &check.report,
            &check.assessment
        )
    );
    if args.raw {
        print!("{}", whois_report::render_raw(&check.report));
    }
    Ok(())
}

async fn serve(app: App) -> Result<(), CliError> {
    let listen = app.config.server.listen;
    let grace = app.config.server.shutdown_grace;
    let app_scan_grace = app.config.scan.shutdown_grace + std::time::Duration::from_secs(5);
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CliError::failure(format!("cannot listen on {listen} (server.listen): {e}"))
    })?;
    tracing::info!(server.listen = %listen, db.path = %app.store.path().display(), "lapse serving");
    let (scheduler_stop_tx, scheduler_stop) = tokio::sync::watch::channel(false);
    let scheduler = {
        let app = app.clone();
        tokio::spawn(async move {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            match app::build_engine(&app, clock.clone()).await {
                Ok(engine) => {
                    let settings = app::scheduler_settings(&app.config);
                    tracing::info!(schedule.scan = %app.config.schedule.scan, schedule.timezone = %app.config.schedule.timezone, "scheduler started");
                    crate::monitor::schedule::run_scheduler(
                        Arc::new(engine),
                        settings,
                        clock,
                        scheduler_stop,
                    )
                    .await;
                }
                Err(error) => tracing::error!(%error, "scheduler not started"),
            }
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(app::serve(app, listener, async {
        let _ = stop_rx.await;
    }));
    tokio::select! {
        () = app::shutdown_signal() => {}
        result = &mut server => return finish_server(result),
    }
    let _ = stop_tx.send(());
    let _ = scheduler_stop_tx.send(true);
    if tokio::time::timeout(app_scan_grace, scheduler)
        .await
        .is_err()
    {
        tracing::warn!(
            "scheduler still busy after the scan grace period; the scan resumes at the next start"
        );
    }
    match tokio::time::timeout(grace, server).await {
        Ok(result) => finish_server(result),
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "requests still in flight after the grace period; stopping anyway"
            );
            Ok(())
        }
    }
}

fn finish_server(
    result: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> Result<(), CliError> {
    match result {
        Ok(Ok(())) => {
            tracing::info!("lapse stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(CliError::failure(format!("server failed: {e}"))),
        Err(e) => Err(CliError::failure(format!("server task failed: {e}"))),
    }
}

async fn clients(app: &App, cmd: ClientsCommand) -> Result<(), CliError> {
    let now = Utc::now();
    match cmd {
        ClientsCommand::Add { name, contacts } => {
            let emails = contacts
                .iter()
                .map(|c| parse_email(c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CliError::input(e.to_string()))?;
            let added = app.store.add_client(&name, &emails, now).await?;
            let verb = if added.created {
                "added client"
            } else {
                "client exists:"
            };
            println!("{verb} {}", added.name);
            for email in &added.contacts_added {
                println!("  + contact {email}");
            }
            Ok(())
        }
        ClientsCommand::List(flags) => {
            let clients = app.store.list_clients().await?;
            if flags.json {
                return print_json(&clients);
            }
            if clients.is_empty() {
                println!("no clients yet (add one with `lapse clients add NAME`)");
            }
            for c in &clients {
                println!(
                    "{}  ({} domains)  {}",
                    c.name,
                    c.domains,
                    c.contacts.join(", ")
                );
            }
            Ok(())
        }
        ClientsCommand::Remove {
            name,
            release_domains,
        } => {
            let released = app.store.remove_client(&name, release_domains).await?;
            println!("removed client {}", name.trim());
            if released > 0 {
                println!("  {released} domain(s) are still watched, without a client");
            }
            Ok(())
        }
    }
}

async fn domains(app: &App, cmd: DomainsCommand) -> Result<(), CliError> {
    let now = Utc::now();
    let policy = app.config.names.policy();
    let default_port = app.config.endpoints.default_port;
    match cmd {
        DomainsCommand::Add {
            inputs,
            client,
            json,
        } => {
            let mut stored = Vec::new();
            let mut first_error: Option<CliError> = None;
            for input in &inputs {
                match inventory::add_target(
                    &app.store,
                    &policy,
                    default_port,
                    input,
                    client.as_deref(),
                    now,
                )
                .await
                {
                    Ok(added) => {
                        tracing::debug!(domain.name = %added.domain, endpoint = %format!("{}:{}", added.host, added.port), changed = added.changed(), "target stored");
                        if !json {
                            println!("{}", describe_added(&added));
                        }
                        stored.push(added);
                    }
                    Err(e) => {
                        let e = CliError::from(e);
                        eprintln!("lapse: `{input}`: {}", e.message);
                        if first_error.is_none() {
                            first_error = Some(e);
                        }
                    }
                }
            }
            if json {
                print_json(&stored)?;
            }
            match first_error {
                Some(e) => Err(CliError {
                    code: e.code,
                    message: format!(
                        "{} of {} input(s) not stored",
                        inputs.len() - stored.len(),
                        inputs.len()
                    ),
                }),
                None => Ok(()),
            }
        }
        DomainsCommand::List { client, json } => {
            let domains = app.store.list_domains(client.as_deref()).await?;
            if json {
                return print_json(&domains);
            }
            if domains.is_empty() {
                println!("no domains yet (add one with `lapse domains add example.com`)");
            }
            for d in &domains {
                let client = d.client.as_deref().unwrap_or("-");
                let expires = d.expires_at.as_deref().unwrap_or("expiry not checked yet");
                println!(
                    "{}  client: {client}  registration: {expires}",
                    d.display_name
                );
                for e in &d.endpoints {
                    println!("  {}:{}  ({})", e.display_host, e.port, e.tls_mode);
                }
            }
            Ok(())
        }
        DomainsCommand::Remove { inputs } => {
            let mut failed = 0;
            for input in &inputs {
                match inventory::remove_target(&app.store, &policy, default_port, input).await {
                    Ok(removed) => {
                        for e in &removed.endpoints {
                            println!("removed endpoint {}", to_unicode(e));
                        }
                        if let Some(d) = &removed.domain {
                            println!("removed domain {}", to_unicode(d));
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        let e = CliError::from(e);
                        if e.code != EXIT_INPUT {
                            return Err(e);
                        }
                        eprintln!("lapse: `{input}`: {}", e.message);
                    }
                }
            }
            if failed > 0 {
                return Err(CliError::input(format!(
                    "{failed} of {} input(s) not removed",
                    inputs.len()
                )));
            }
            Ok(())
        }
        DomainsCommand::SetExpiry { domain, date, note } => {
            let target = parse_target(&domain, &policy)
                .map_err(|e| CliError::input(format!("`{domain}`: {e}")))?;
            let date =
                chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
                    CliError::input(format!(
                        "`{date}` is not a date; use YYYY-MM-DD, e.g. 2027-03-31"
                    ))
                })?;
            app.store
                .set_manual_expiry(&target.registrable, date, note.as_deref(), now)
                .await?;
            println!(
                "{}: registration expiry set by hand to {date}",
                target.registrable.to_unicode()
            );
            Ok(())
        }
        DomainsCommand::Import { file, json } => {
            let reader: Box<dyn std::io::Read> =
                if file.as_os_str() == "-" {
                    Box::new(std::io::stdin())
                } else {
                    Box::new(std::fs::File::open(&file).map_err(|e| {
                        CliError::input(format!("cannot open {}: {e}", file.display()))
                    })?)
                };
            let report = inventory::import_csv(&app.store, &policy, default_port, reader, now)
                .await
                .map_err(|e| match e {
                    inventory::ImportError::Store(s) => CliError::from(s),
                    other => CliError::input(other.to_string()),
                })?;
            if json {
                print_json(&report)?;
            } else {
                for row in &report.rows {
                    match &row.result {
                        ImportRowResult::Stored(added) => {
                            println!("line {}: {}", row.line, describe_added(added))
                        }
                        ImportRowResult::Failed { reason } => {
                            eprintln!("line {}: `{}`: {reason}", row.line, row.input)
                        }
                    }
                }
            }
            let failed = report.failed().count();
            if !json {
                println!("imported {} row(s), {failed} failed", report.stored());
            }
            if failed > 0 {
                return Err(CliError::input(format!("{failed} row(s) failed; fix them and import again (good rows are already stored; importing them again changes nothing)")));
            }
            Ok(())
        }
    }
}

fn describe_added(added: &AddedTarget) -> String {
    let endpoint = format!("{}:{}", to_unicode(&added.host), added.port);
    let domain = to_unicode(&added.domain);
    let client = added
        .client
        .as_deref()
        .map(|c| format!(", client {c}"))
        .unwrap_or_default();
    if added.changed() {
        format!("stored endpoint {endpoint} under domain {domain}{client}")
    } else {
        format!("unchanged: endpoint {endpoint} under domain {domain}{client} (already watched)")
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| CliError::failure(format!("cannot write JSON: {e}")))?;
    writeln!(out).map_err(|e| CliError::failure(format!("cannot write output: {e}")))
}
