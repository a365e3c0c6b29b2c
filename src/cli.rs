//! The command line: the top-level [`Command`], dispatch, [`CliError`] and
//! exit codes. Each command group lives in its own file under `cli/` with
//! its clap types and its human rendering: it parses its arguments, calls a
//! use case of `app`, `inventory`, `monitor` or the store, and prints a
//! result a person can read (or JSON with `--json`). `serve` hands the
//! process to [`crate::app::run`]; the CLI owns no lifecycle.
//!
//! Exit codes (also in README):
//! - 0 success
//! - 1 lapse itself failed (database, I/O, server)
//! - 2 the input was refused (bad name, unknown client, bad CSV rows, usage)
//! - 3 the configuration is invalid
//!
//! `lapse check` has its own codes, like monitoring plugins: 0 ok, 1 warning,
//! 2 critical, 3 could not check.

pub mod alert_handling;
pub mod alerts;
pub mod bench;
pub mod channels;
pub mod check;
pub mod check_report;
pub mod clients;
pub mod config;
pub mod db;
pub mod domains;
pub mod domains_fleet;
pub mod domains_report;
pub mod email;
pub mod migrate;
pub mod outbox;
pub mod scan;
pub mod serve;
pub mod thresholds;
pub mod tokens;
pub mod users;
pub mod whois;
pub mod whois_report;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{App, AppError};
use crate::config::{Config, LoadOptions};
use crate::inventory::TargetError;
use crate::monitor::alerts::AlertError;
use crate::monitor::digest::DigestError;
use crate::monitor::engine::EngineError;
use crate::monitor::registration::RegistrationSetupError;
use crate::notify::TestEmailError;
use crate::store::StoreError;

use self::alerts::AlertsCommand;
use self::bench::BenchCommand;
use self::channels::ChannelsCommand;
use self::check::CheckArgs;
use self::clients::ClientsCommand;
use self::config::ConfigCommand;
use self::db::DbCommand;
use self::domains::DomainsCommand;
use self::email::EmailCommand;
use self::outbox::OutboxCommand;
use self::scan::ScanArgs;
use self::thresholds::ThresholdsCommand;
use self::tokens::TokensCommand;
use self::users::UsersCommand;
use self::whois::{WhoisArgs, WhoisCommand};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_INPUT: u8 = 2;
pub const EXIT_CONFIG: u8 = 3;
/// A foreground scan was stopped by SIGINT or SIGTERM (128 + 2, what a
/// shell reports for a command ended by Ctrl-C); it resumes on the next run.
pub const EXIT_INTERRUPTED: u8 = 130;
/// The reader of stdout went away (`lapse domains list | head`): the exit
/// status a shell reports for a writer stopped by SIGPIPE (128 + 13), with
/// no message.
pub const EXIT_CLOSED_PIPE: u8 = 141;

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
    /// The database as a whole: copy a SQLite database into PostgreSQL.
    #[command(subcommand)]
    Db(DbCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Scan now in the foreground: every certificate in scope, registrations that are due.
    ///
    /// Resumes an interrupted scan of the same scope. Shows a progress bar on a
    /// terminal and a summary at the end. SIGINT/SIGTERM stops cleanly (resumable).
    Scan(ScanArgs),
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
    /// Channels (Teams, Telegram, ntfy, PagerDuty, Slack, Discord, webhook): list, attach, detach, test.
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Alert thresholds per client or per domain (overriding `[alerts]`).
    #[command(subcommand)]
    Thresholds(ThresholdsCommand),
    /// Manage API tokens (bearer tokens for /api/v1).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Staff accounts of the web pages: add (prints a set-password link), link, list, remove.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Benchmark helpers.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
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

    /// Exit 2 when the input was at fault, else 1.
    fn of(error: &impl std::fmt::Display, input_at_fault: bool) -> Self {
        if input_at_fault {
            Self::input(error.to_string())
        } else {
            Self::failure(error.to_string())
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        Self::of(&e, e.is_input_error())
    }
}

impl From<TargetError> for CliError {
    fn from(e: TargetError) -> Self {
        Self::of(&e, e.is_input_error())
    }
}

/// A store error keeps its meaning; the engine's own failure is lapse's.
impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Writer(_) => Self::of(&e, false),
        }
    }
}

/// Building or running lapse's parts fails only through lapse's fault, but
/// for a store error met while scanning, which keeps its meaning.
impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Engine(e) => e.into(),
            e => Self::of(&e, false),
        }
    }
}

/// Evaluation works on what is stored: a failure is lapse's.
impl From<AlertError> for CliError {
    fn from(e: AlertError) -> Self {
        Self::of(&e, false)
    }
}

impl From<DigestError> for CliError {
    fn from(e: DigestError) -> Self {
        Self::of(&e, false)
    }
}

impl From<RegistrationSetupError> for CliError {
    fn from(e: RegistrationSetupError) -> Self {
        Self::of(&e, false)
    }
}

/// No SMTP configured is the setup's doing (exit 2); a refusal is the
/// server's answer, reported as a failure.
impl From<TestEmailError> for CliError {
    fn from(e: TestEmailError) -> Self {
        let input = matches!(e, TestEmailError::NoSmtp);
        Self::of(&e, input)
    }
}

/// Entry point used by `main`: parse, load config, init logs, run.
pub fn main() -> ExitCode {
    quiet_on_closed_stdout();
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

/// Runs one command. The first five need no opened (migrated) store.
pub async fn run(command: Command, config: Config) -> Result<(), CliError> {
    let command = match command {
        Command::Config(ConfigCommand::Check) => {
            config::check(&config);
            return Ok(());
        }
        Command::Check(args) => return check::run(&config, args).await,
        Command::Whois(WhoisArgs {
            command: Some(WhoisCommand::Parse { domain, rdap, file }),
            ..
        }) => return whois::parse(&domain, rdap, file.as_deref()),
        Command::Migrate(flags) => return migrate::run(&config, flags).await,
        Command::Db(cmd) => return db::run(&config, cmd).await,
        other => other,
    };
    let app = App::build(config).await?;
    match command {
        Command::Config(_) | Command::Migrate(_) | Command::Db(_) | Command::Check(_) => Ok(()),
        Command::Whois(args) => whois::look_up(&app, args).await,
        Command::Scan(args) => scan::run(&app, args).await,
        Command::Serve => serve::run(app).await,
        Command::Clients(cmd) => clients::run(&app, cmd).await,
        Command::Domains(cmd) => domains::run(&app, cmd).await,
        Command::Tokens(cmd) => tokens::run(&app, cmd).await,
        Command::Users(cmd) => users::run(&app, cmd).await,
        Command::Bench(cmd) => bench::run(&app, cmd).await,
        Command::Alerts(cmd) => alerts::run(&app, cmd).await,
        Command::Outbox(cmd) => outbox::run(&app, cmd).await,
        Command::Email(cmd) => email::run(&app, cmd).await,
        Command::Channels(cmd) => channels::run(&app, cmd).await,
        Command::Thresholds(cmd) => thresholds::run(&app, cmd).await,
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let closed = || CliError {
        code: EXIT_CLOSED_PIPE,
        message: String::new(),
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| {
        if e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) {
            closed()
        } else {
            CliError::failure(format!("cannot write JSON: {e}"))
        }
    })?;
    writeln!(out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            closed()
        } else {
            CliError::failure(format!("cannot write output: {e}"))
        }
    })
}

/// `print!` panics when stdout's reader has gone (Rust ignores SIGPIPE):
/// that one panic ends the process quietly with [`EXIT_CLOSED_PIPE`], as a
/// C tool killed by SIGPIPE would; every other panic is reported as usual.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(i32::from(EXIT_CLOSED_PIPE));
        }
        report(info);
    }));
}
