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
use crate::domain::access::Role;
use crate::domain::alert_policy::Thresholds;
use crate::domain::certificate::TlsMode;
use crate::domain::names::{parse_email, parse_target, to_unicode};
use crate::inventory::{self, ImportRowResult, TargetError};
use crate::monitor::alerts::{self as alert_eval};
use crate::monitor::digest;
use crate::monitor::engine::{Clock, EngineError, ProgressFn, SystemClock};
use crate::monitor::registration::RegistrationChecker;
use crate::notify::email::OutgoingEmail;
use crate::notify::{MailTransport, Pause};
use crate::probe::tls::{TlsProbe, TlsTarget};
use crate::probe::ReplyFormat;
use crate::store::NewToken;
use crate::store::ScanScope;
use crate::store::{
    AddedTarget, OutboxState, RetrySelection, Store, StoreError, ThresholdKind, ThresholdOwner,
};
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
    /// Run the HTTP server (JSON API, /healthz, /readyz, /metrics) and the scheduler until SIGINT/SIGTERM.
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
    /// Alerts: list them, evaluate now, send the staff digest.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// The delivery queue: list, retry, deliver now.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Email: check the SMTP setup.
    #[command(subcommand)]
    Email(EmailCommand),
    /// Alert thresholds per client or per domain (overriding `[alerts]`).
    #[command(subcommand)]
    Thresholds(ThresholdsCommand),
    /// Manage API tokens (bearer tokens for /api/v1).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Benchmark helpers.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a token; its secret is printed once and stored only as a hash.
    Create {
        /// admin (everything, tokens), staff (read/write, scans), viewer (read), client (its client's data only).
        #[arg(long, value_parser = ["admin", "staff", "viewer", "client"])]
        role: String,
        /// The client a client token may see.
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// A label saying who or what uses the token.
        #[arg(long, value_name = "LABEL", default_value = "unnamed")]
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List(JsonFlag),
    /// Revoke a token by id; it stops working at once.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fill a fresh database with a fake fleet for load tests.
    Seed {
        /// Domains to create.
        #[arg(long, default_value_t = 100_000)]
        domains: u32,
        /// Endpoints per domain (1 to 8), each with one current observation.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
        endpoints_per_domain: u32,
        /// Clients the domains are spread over.
        #[arg(long, default_value_t = 1000)]
        clients: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List firing alerts (all with --all), with the events notified.
    List {
        /// Resolved alerts too.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate every endpoint and domain against the recorded results now,
    /// queueing the messages due (the scan engine does this after each check).
    Evaluate {
        /// Then deliver what is due, as `lapse outbox deliver` does.
        #[arg(long)]
        deliver: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Queue the staff digest now with the lines collected since the last one.
    Digest,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List messages, newest first.
    List {
        /// Only messages in this state.
        #[arg(long, value_enum)]
        state: Option<OutboxStateArg>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Queue messages for delivery again now: the ids given, or every failed one.
    Retry {
        /// Message ids (from `lapse outbox list`).
        #[arg(value_name = "MESSAGE_ID")]
        ids: Vec<String>,
        /// Every failed message.
        #[arg(long, conflicts_with = "ids")]
        failed: bool,
        /// Also messages written to the log while no SMTP was configured.
        #[arg(long, conflicts_with = "ids")]
        logged: bool,
    },
    /// Deliver every message that is due now, once, and report.
    Deliver {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutboxStateArg {
    Pending,
    Sending,
    Sent,
    Failed,
    Logged,
}

impl From<OutboxStateArg> for OutboxState {
    fn from(arg: OutboxStateArg) -> Self {
        match arg {
            OutboxStateArg::Pending => Self::Pending,
            OutboxStateArg::Sending => Self::Sending,
            OutboxStateArg::Sent => Self::Sent,
            OutboxStateArg::Failed => Self::Failed,
            OutboxStateArg::Logged => Self::Logged,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// Send a test email to ADDRESS through the configured SMTP server now
    /// (not queued) and say what the server answered.
    Test {
        #[arg(value_name = "ADDRESS")]
        address: String,
    },
}

#[derive(Debug, Args)]
pub struct ThresholdOwnerArgs {
    /// A client's override (all its domains).
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "domain",
        required_unless_present = "domain"
    )]
    pub client: Option<String>,
    /// A domain's override (wins over its client's).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ThresholdsCommand {
    /// Set the days at which alerts fire, e.g. `--certificate 21,7,2,0`.
    Set {
        #[command(flatten)]
        owner: ThresholdOwnerArgs,
        /// Certificate thresholds in days, comma-separated.
        #[arg(long, value_name = "DAYS", value_delimiter = ',')]
        certificate: Option<Vec<u32>>,
        /// Registration thresholds in days, comma-separated.
        #[arg(long, value_name = "DAYS", value_delimiter = ',')]
        registration: Option<Vec<u32>>,
    },
    /// Remove an override (both lists unless one is named).
    Clear {
        #[command(flatten)]
        owner: ThresholdOwnerArgs,
        #[arg(long)]
        certificate: bool,
        #[arg(long)]
        registration: bool,
    },
    /// Show the defaults and every override.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Writer(_) => Self::failure(e.to_string()),
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
        Command::Tokens(cmd) => tokens(&app, cmd).await,
        Command::Bench(cmd) => bench(&app, cmd).await,
        Command::Alerts(cmd) => alerts(&app, cmd).await,
        Command::Outbox(cmd) => outbox(&app, cmd).await,
        Command::Email(cmd) => email(&app, cmd).await,
        Command::Thresholds(cmd) => thresholds(&app, cmd).await,
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
    let format = if rdap {
        ReplyFormat::Rdap
    } else {
        ReplyFormat::Whois
    };
    let facts = crate::probe::parse_saved_reply(domain, format, &raw);
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
    let (quit_tx, quit_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let sender = app::sender(&app).map_err(CliError::failure)?;
    let delivery = tokio::spawn(sender.run(stopped(quit_rx.clone())));
    let digests =
        (app.config.alerts.staff_delivery == crate::config::StaffDelivery::Digest).then(|| {
            tokio::spawn(digest::run(
                app.store.clone(),
                app::alert_settings(&app.config),
                app.config.alerts.digest_cron.clone(),
                stopped(quit_rx.clone()),
            ))
        });
    let background = async move {
        let _ = quit_tx.send(true);
        let _ = delivery.await;
        if let Some(digests) = digests {
            let _ = digests.await;
        }
    };
    let mut server = tokio::spawn(app::serve(app, listener, async {
        let _ = stop_rx.await;
    }));
    tokio::select! {
        () = app::shutdown_signal() => {}
        result = &mut server => {
            background.await;
            return finish_server(result);
        }
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
    background.await;
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

async fn alerts(app: &App, cmd: AlertsCommand) -> Result<(), CliError> {
    let settings = app::alert_settings(&app.config);
    match cmd {
        AlertsCommand::List { all, json } => {
            let alerts = app.store.list_alerts(all).await?;
            if json {
                return print_json(&alerts);
            }
            if alerts.is_empty() {
                println!("no {}alerts", if all { "" } else { "firing " });
            }
            for a in &alerts {
                println!(
                    "#{}  {:<9} {:<21} {}  opened {}{}  events: {}",
                    a.id,
                    a.state,
                    a.kind,
                    to_unicode(&a.subject),
                    a.opened_at,
                    a.resolved_at
                        .as_deref()
                        .map(|r| format!(", resolved {r}"))
                        .unwrap_or_default(),
                    a.events.join(", ")
                );
            }
            Ok(())
        }
        AlertsCommand::Evaluate { deliver, json } => {
            let applied = alert_eval::evaluate_all(&app.store, &settings, Utc::now())
                .await
                .map_err(|e| CliError::failure(e.to_string()))?;
            // The test-only pause sits between the committed alert changes
            // and their delivery.
            let pause = Pause::from_env();
            pause.at("after-evaluate").await;
            let report = if deliver {
                let sender = app::sender(app)
                    .map_err(CliError::failure)?
                    .with_pause(pause);
                Some(sender.deliver_due(Utc::now()).await?)
            } else {
                None
            };
            if json {
                return print_json(
                    &serde_json::json!({ "evaluated": applied, "delivered": report }),
                );
            }
            println!(
                "alerts opened {}, resolved {}, events {}, messages queued {}",
                applied.opened.len(),
                applied.resolved.len(),
                applied.events.len(),
                applied.queued.len()
            );
            for id in &applied.queued {
                println!("  queued {id}");
            }
            if let Some(report) = report {
                print_delivery(&report);
            }
            Ok(())
        }
        AlertsCommand::Digest => {
            let now = Utc::now();
            match digest::send_digest(&app.store, &settings, now, now)
                .await
                .map_err(|e| CliError::failure(e.to_string()))?
            {
                Some(ids) if ids.is_empty() => println!("nothing for the digest"),
                Some(ids) => ids.iter().for_each(|id| println!("queued {id}")),
                None => println!("a digest for this second exists already"),
            }
            Ok(())
        }
    }
}

fn print_delivery(report: &crate::notify::DeliveryReport) {
    if report.reclaimed > 0 {
        println!(
            "{} message(s) left by a stopped sender queued again",
            report.reclaimed
        );
    }
    for id in &report.sent {
        println!("sent      {id}");
    }
    for id in &report.logged {
        println!("logged    {id}  (no SMTP configured: kept in the outbox)");
    }
    for id in &report.retrying {
        println!("retrying  {id}");
    }
    for id in &report.failed {
        println!("failed    {id}");
    }
    println!(
        "delivered {}, logged {}, retrying {}, failed {}",
        report.sent.len(),
        report.logged.len(),
        report.retrying.len(),
        report.failed.len()
    );
}

async fn outbox(app: &App, cmd: OutboxCommand) -> Result<(), CliError> {
    match cmd {
        OutboxCommand::List { state, limit, json } => {
            let messages = app.store.list_outbox(state.map(Into::into), limit).await?;
            if json {
                return print_json(&messages);
            }
            if messages.is_empty() {
                println!("the outbox is empty");
            }
            for m in &messages {
                let when = match m.state.as_str() {
                    "sent" | "logged" => m.sent_at.clone().unwrap_or_default(),
                    "pending" => format!("next attempt {}", m.next_attempt_at),
                    _ => String::new(),
                };
                println!(
                    "{:<8} {:<8} {}  to {}{}  \"{}\"  attempts {} {when}",
                    m.state,
                    m.channel,
                    m.message_id,
                    m.recipient,
                    m.cc.as_deref()
                        .map(|cc| format!(" cc {cc}"))
                        .unwrap_or_default(),
                    m.subject,
                    m.attempts,
                );
                if let Some(error) = &m.last_error {
                    println!("         last error: {error}");
                }
            }
            Ok(())
        }
        OutboxCommand::Retry {
            ids,
            failed,
            logged,
        } => {
            let selection = if ids.is_empty() {
                if !failed && !logged {
                    return Err(CliError::input(
                        "name message ids, or pass --failed (and/or --logged)",
                    ));
                }
                RetrySelection::Failed {
                    include_logged: logged,
                }
            } else {
                RetrySelection::Ids(ids)
            };
            let requeued = app.store.retry_messages(&selection, Utc::now()).await?;
            for id in &requeued {
                println!("queued again {id}");
            }
            println!("{} message(s) queued for delivery", requeued.len());
            Ok(())
        }
        OutboxCommand::Deliver { json } => {
            let sender = app::sender(app)
                .map_err(CliError::failure)?
                .with_pause(Pause::from_env());
            let report = sender.deliver_due(Utc::now()).await?;
            if json {
                return print_json(&report);
            }
            print_delivery(&report);
            Ok(())
        }
    }
}

async fn email(app: &App, cmd: EmailCommand) -> Result<(), CliError> {
    match cmd {
        EmailCommand::Test { address } => {
            let address = parse_email(&address).map_err(|e| CliError::input(e.to_string()))?;
            let transport = app::mail_transport(&app.config).map_err(CliError::failure)?;
            let MailTransport::Smtp(mailer) = transport else {
                return Err(CliError::input(
                    "no SMTP server configured (smtp.host is empty): alert emails are written to the log and kept in the outbox",
                ));
            };
            let now = Utc::now();
            let message_id = format!(
                "test.{}@{}",
                now.format("%Y%m%dT%H%M%S"),
                app::alert_settings(&app.config).message_id_domain
            );
            let text = format!(
                "This is a test email from lapse, sent {} through {}.\nIf you can read it, alert emails will reach you.\n",
                now.format("%Y-%m-%d %H:%M UTC"),
                mailer.server
            );
            let email = OutgoingEmail {
                message_id: message_id.clone(),
                to: vec![address.clone()],
                cc: Vec::new(),
                subject: "lapse test email".to_owned(),
                html: Some(format!("<p>{}</p>", text.trim().replace('\n', "<br>"))),
                text,
            };
            mailer.send(&email).await.map_err(|e| {
                CliError::failure(format!(
                    "{} refused the test email to {address}: {e}{}",
                    mailer.server,
                    if e.is_retryable() {
                        " (temporary: try again later)"
                    } else {
                        ""
                    }
                ))
            })?;
            println!(
                "sent test email {message_id} to {address} through {}",
                mailer.server
            );
            Ok(())
        }
    }
}

fn threshold_owner(app: &App, owner: ThresholdOwnerArgs) -> Result<ThresholdOwner, CliError> {
    match (owner.client, owner.domain) {
        (Some(client), _) => Ok(ThresholdOwner::Client(client)),
        (None, Some(domain)) => {
            let target = parse_target(&domain, &app.config.names.policy())
                .map_err(|e| CliError::input(format!("`{domain}`: {e}")))?;
            Ok(ThresholdOwner::Domain(target.registrable))
        }
        (None, None) => Err(CliError::input("name --client or --domain")),
    }
}

async fn thresholds(app: &App, cmd: ThresholdsCommand) -> Result<(), CliError> {
    match cmd {
        ThresholdsCommand::Set {
            owner,
            certificate,
            registration,
        } => {
            if certificate.is_none() && registration.is_none() {
                return Err(CliError::input(
                    "give --certificate DAYS and/or --registration DAYS, e.g. --certificate 21,7,2,0",
                ));
            }
            let owner = threshold_owner(app, owner)?;
            for (kind, days) in [
                (ThresholdKind::Certificate, certificate),
                (ThresholdKind::Registration, registration),
            ] {
                let Some(days) = days else { continue };
                if days.iter().any(|d| *d > 3650) {
                    return Err(CliError::input("days go from 0 to 3650"));
                }
                let list = Thresholds::new(days)
                    .ok_or_else(|| CliError::input("give at least one number of days"))?;
                app.store.set_thresholds(&owner, kind, Some(&list)).await?;
                println!(
                    "{} thresholds for {}: {list} days",
                    kind_label(kind),
                    owner_label(&owner)
                );
            }
            Ok(())
        }
        ThresholdsCommand::Clear {
            owner,
            certificate,
            registration,
        } => {
            let owner = threshold_owner(app, owner)?;
            let both = !certificate && !registration;
            for (kind, chosen) in [
                (ThresholdKind::Certificate, certificate),
                (ThresholdKind::Registration, registration),
            ] {
                if chosen || both {
                    app.store.set_thresholds(&owner, kind, None).await?;
                    println!(
                        "{} thresholds for {}: inherited again",
                        kind_label(kind),
                        owner_label(&owner)
                    );
                }
            }
            Ok(())
        }
        ThresholdsCommand::List { json } => {
            let overrides = app.store.threshold_overrides().await?;
            if json {
                return print_json(&serde_json::json!({
                    "defaults": {
                        "certificate_days": app.config.alerts.certificate_days,
                        "registration_days": app.config.alerts.registration_days,
                    },
                    "overrides": overrides,
                }));
            }
            let days = |d: &[u32]| d.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            println!(
                "defaults: certificate {} / registration {} days",
                days(&app.config.alerts.certificate_days),
                days(&app.config.alerts.registration_days)
            );
            for o in &overrides {
                let show = |d: &Option<Vec<u32>>| {
                    d.as_deref()
                        .map(days)
                        .unwrap_or_else(|| "inherited".to_owned())
                };
                let name = if o.level == "domain" {
                    to_unicode(&o.name)
                } else {
                    o.name.clone()
                };
                println!(
                    "{} {name}: certificate {} / registration {}",
                    o.level,
                    show(&o.certificate_days),
                    show(&o.registration_days)
                );
            }
            Ok(())
        }
    }
}

fn kind_label(kind: ThresholdKind) -> &'static str {
    match kind {
        ThresholdKind::Certificate => "certificate",
        ThresholdKind::Registration => "registration",
    }
}

fn owner_label(owner: &ThresholdOwner) -> String {
    match owner {
        ThresholdOwner::Client(name) => format!("client {}", name.trim()),
        ThresholdOwner::Domain(name) => format!("domain {}", name.to_unicode()),
    }
}

async fn tokens(app: &App, cmd: TokensCommand) -> Result<(), CliError> {
    let now = Utc::now();
    match cmd {
        TokensCommand::Create {
            role,
            client,
            name,
            json,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| CliError::input(format!("`{role}` is not a role")))?;
            let secret = crate::api::auth::generate_token();
            let info = app
                .store
                .create_api_token(
                    &NewToken {
                        name,
                        role,
                        client,
                        token_hash: crate::api::auth::hash_token(&secret),
                    },
                    now,
                )
                .await?;
            if json {
                return print_json(
                    &serde_json::json!({"token": secret, "id": info.id, "name": info.name, "role": info.role, "client": info.client}),
                );
            }
            let client = info
                .client
                .as_ref()
                .map(|c| format!(", client {}", c.name))
                .unwrap_or_default();
            println!(
                "created token {} ({}{client}, \"{}\")",
                info.id, info.role, info.name
            );
            println!("{secret}");
            eprintln!("store it now: only its hash is kept, it is not shown again");
            Ok(())
        }
        TokensCommand::List(flags) => {
            let tokens = app.store.list_api_tokens().await?;
            if flags.json {
                return print_json(&tokens);
            }
            if tokens.is_empty() {
                println!("no tokens yet (make one with `lapse tokens create --role viewer`)");
            }
            for t in &tokens {
                let client = t
                    .client
                    .as_ref()
                    .map(|c| format!(" client: {}", c.name))
                    .unwrap_or_default();
                let state = match &t.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => format!("last used {}", t.last_used_at.as_deref().unwrap_or("never")),
                };
                println!(
                    "{:>4}  {:<7} {:<20}{client}  created {}  {state}",
                    t.id, t.role, t.name, t.created_at
                );
            }
            Ok(())
        }
        TokensCommand::Revoke { id } => {
            let token = app.store.revoke_api_token(id, now).await?;
            println!(
                "revoked token {} ({}, \"{}\")",
                token.id, token.role, token.name
            );
            Ok(())
        }
    }
}

async fn bench(app: &App, cmd: BenchCommand) -> Result<(), CliError> {
    match cmd {
        BenchCommand::Seed {
            domains,
            endpoints_per_domain,
            clients,
        } => {
            let started = std::time::Instant::now();
            let report = app
                .store
                .seed_benchmark(clients, domains, endpoints_per_domain, Utc::now())
                .await?;
            println!(
                "seeded {} clients, {} domains, {} endpoints, {} observations into {} in {:.1} s",
                report.clients,
                report.domains,
                report.endpoints,
                report.observations,
                app.store.path().display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
