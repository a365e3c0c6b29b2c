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

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use crate::app::{self, App};
use crate::config::{Config, LoadOptions};
use crate::domain::access::Role;
use crate::domain::certificate::TlsMode;
use crate::domain::names::{parse_email, parse_target, to_unicode};
use crate::inventory::{self, ImportRowResult, TargetError};
use crate::probe::tls::{TlsProbe, TlsTarget};
use crate::store::api::NewToken;
use crate::store::{AddedTarget, Store, StoreError};

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
    /// Run the HTTP server (JSON API, /healthz, /readyz, /metrics) until SIGINT/SIGTERM.
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
    /// Manage clients (agency customers) and their contacts.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage watched domains and endpoints.
    #[command(subcommand)]
    Domains(DomainsCommand),
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
        Command::Serve => serve(app).await,
        Command::Clients(cmd) => clients(&app, cmd).await,
        Command::Domains(cmd) => domains(&app, cmd).await,
        Command::Tokens(cmd) => tokens(&app, cmd).await,
        Command::Bench(cmd) => bench(&app, cmd).await,
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

async fn serve(app: App) -> Result<(), CliError> {
    let listen = app.config.server.listen;
    let grace = app.config.server.shutdown_grace;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CliError::failure(format!("cannot listen on {listen} (server.listen): {e}"))
    })?;
    tracing::info!(server.listen = %listen, db.path = %app.store.path().display(), "lapse serving");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(app::serve(app, listener, async {
        let _ = stop_rx.await;
    }));
    tokio::select! {
        () = app::shutdown_signal() => {}
        result = &mut server => return finish_server(result),
    }
    let _ = stop_tx.send(());
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
