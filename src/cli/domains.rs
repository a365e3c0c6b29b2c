//! `lapse domains`: watch hosts, list them, stop watching, choose what is
//! watched and who owns it, set a registration expiry by hand, import a
//! CSV; one function per command. `domains_fleet.rs`: watch, owner and
//! endpoint changes; `domains_report.rs`: the human renderings.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::domains_fleet as fleet;
use super::domains_report as report;
use super::{print_json, CliError, EXIT_INPUT};
use crate::app::App;
use crate::domain::certificate::TlsMode;
use crate::domain::fleet::{OwnerKind, Watch, TLS_MODE_NAMES};
use crate::domain::names::{parse_target, to_unicode};
use crate::inventory::{self, AddOptions, ImportError, ImportRowResult};

#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// Watch hosts: each endpoint (host, port; 443 by default) and its registrable domain's registration.
    ///
    /// `example.com` watches the registration and example.com:443; `--registration-only` the
    /// registration alone (parked and email-only domains). Well-known ports pick their TLS mode
    /// (25/587 starttls-smtp, 143 starttls-imap, 110 starttls-pop3, anything else direct).
    Add {
        /// What to watch: `example.com`, `shop.example.co.uk:8443`, `https://www.example.com/path`, `bücher.de`.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Client that owns the endpoints (and the registration, when the domain is new).
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// Watch the registration alone: no endpoint, no certificate checks.
        #[arg(long, conflicts_with_all = ["watch", "tls"])]
        registration_only: bool,
        /// What to watch: registration, tls (the endpoints alone) or both.
        #[arg(long, value_name = "WHAT", value_parser = parse_watch)]
        watch: Option<Watch>,
        /// TLS mode of the endpoints: direct, starttls-smtp, starttls-imap or starttls-pop3.
        #[arg(long, value_name = "MODE")]
        tls: Option<String>,
        /// Who owns the registration: client (the --client), agency or none.
        #[arg(long, value_name = "OWNER", value_parser = parse_owner)]
        owner: Option<OwnerKind>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List watched domains and their endpoints.
    List {
        /// Only this client's domains (its registrations, and domains where it has endpoints).
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop watching: a bare domain removes it with all its endpoints; `host[:port]` removes
    /// that endpoint and keeps the domain.
    Remove {
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
    },
    /// Choose what is watched for a domain: registration, tls or both. Nothing is deleted.
    Watch {
        /// The domain (`example.com`).
        domain: String,
        /// registration, tls or both.
        #[arg(value_parser = parse_watch)]
        what: Watch,
    },
    /// Give a domain's registration to a client, the agency or nobody.
    Owner {
        /// The domain (`example.com`).
        domain: String,
        /// The client that renews the registration (its contacts get the registration mail).
        #[arg(long, value_name = "NAME", conflicts_with_all = ["agency", "nobody"], required_unless_present_any = ["agency", "nobody"])]
        client: Option<String>,
        /// The agency renews it: staff get the registration mail.
        #[arg(long, conflicts_with = "nobody")]
        agency: bool,
        /// Nobody here renews it (a platform's registration).
        #[arg(long = "none")]
        nobody: bool,
    },
    /// Change an endpoint: its client and its TLS mode.
    Endpoint {
        /// The endpoint (`smtp.example.com:2587`; 443 when no port is given).
        endpoint: String,
        /// The client that owns the endpoint (its contacts get the certificate mail).
        #[arg(long, value_name = "NAME", conflicts_with = "agency")]
        client: Option<String>,
        /// The agency owns the endpoint: staff get its mail.
        #[arg(long)]
        agency: bool,
        /// direct, starttls-smtp, starttls-imap or starttls-pop3.
        #[arg(long, value_name = "MODE")]
        tls: Option<String>,
        /// Check this IP address instead of resolving the host (SNI still names the host).
        #[arg(long, value_name = "ADDRESS", conflicts_with = "unpin")]
        pin: Option<String>,
        /// Resolve the host again (remove the pinned address).
        #[arg(long)]
        unpin: bool,
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
    /// Mute a domain (or one endpoint) for a maintenance window: its alerts are held until the
    /// window ends, then told. An expiry passing meanwhile is told to staff alone.
    Mute(super::alert_handling::MuteArgs),
    /// Lift a domain's maintenance windows (its endpoints' too) now.
    Unmute {
        domain: String,
        /// Who lifts them (default: `cli`).
        #[arg(long)]
        by: Option<String>,
    },
    /// List maintenance windows not over yet (all with --all).
    Mutes {
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Import a CSV file with a header row and the columns host, client, contacts, watch, tls, owner.
    Import {
        /// The CSV file (`-` for stdin).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_watch(text: &str) -> Result<Watch, String> {
    Watch::parse(text)
        .ok_or_else(|| format!("`{text}` is not a watch mode; use registration, tls or both"))
}

fn parse_owner(text: &str) -> Result<OwnerKind, String> {
    OwnerKind::parse(text)
        .ok_or_else(|| format!("`{text}` is not an owner; use client, agency or none"))
}

pub async fn run(app: &App, cmd: DomainsCommand) -> Result<(), CliError> {
    let now = Utc::now();
    match cmd {
        DomainsCommand::Add {
            inputs,
            client,
            registration_only,
            watch,
            tls,
            owner,
            json,
        } => {
            let request = AddRequest {
                client,
                watch: if registration_only {
                    Some(Watch::Registration)
                } else {
                    watch
                },
                tls,
                owner,
            };
            add(app, &inputs, &request, json, now).await
        }
        DomainsCommand::List { client, json } => list(app, client.as_deref(), json).await,
        DomainsCommand::Remove { inputs } => remove(app, &inputs).await,
        DomainsCommand::Watch { domain, what } => fleet::watch(app, &domain, what, now).await,
        DomainsCommand::Owner {
            domain,
            client,
            agency,
            nobody: _,
        } => fleet::owner(app, &domain, client.as_deref(), agency).await,
        DomainsCommand::Endpoint {
            endpoint,
            client,
            agency,
            tls,
            pin,
            unpin,
        } => {
            let change = fleet::EndpointChange {
                client: client.as_deref(),
                agency,
                tls: tls.as_deref(),
                pin: pin.as_deref(),
                unpin,
            };
            fleet::endpoint(app, &endpoint, &change).await
        }
        DomainsCommand::SetExpiry { domain, date, note } => {
            set_expiry(app, &domain, &date, note.as_deref(), now).await
        }
        DomainsCommand::Import { file, json } => import(app, &file, json, now).await,
        DomainsCommand::Mute(args) => super::alert_handling::mute(app, args).await,
        DomainsCommand::Unmute { domain, by } => {
            super::alert_handling::unmute(app, &domain, by).await
        }
        DomainsCommand::Mutes { all, json } => {
            super::alert_handling::list_mutes(app, all, json).await
        }
    }
}

/// The `add` flags, before the TLS mode is read against each input's port.
struct AddRequest {
    client: Option<String>,
    watch: Option<Watch>,
    tls: Option<String>,
    owner: Option<OwnerKind>,
}

impl AddRequest {
    fn options(&self, input: &str, app: &App) -> Result<AddOptions, CliError> {
        let tls = match &self.tls {
            None => None,
            Some(text) => {
                let port = parse_target(input, &app.config.names.policy())
                    .ok()
                    .and_then(|t| t.port)
                    .unwrap_or(app.config.endpoints.default_port);
                Some(TlsMode::parse_name(text, port).ok_or_else(|| {
                    CliError::input(format!("`{text}` is not a TLS mode; use {TLS_MODE_NAMES}"))
                })?)
            }
        };
        Ok(AddOptions {
            client: self.client.clone(),
            watch: self.watch,
            tls,
            owner: self.owner,
        })
    }
}

/// Stores every input it can; says which failed, and fails with the first
/// failure's exit code.
async fn add(
    app: &App,
    inputs: &[String],
    request: &AddRequest,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), CliError> {
    let policy = app.config.names.policy();
    let default_port = app.config.endpoints.default_port;
    let mut stored = Vec::new();
    let mut first_error: Option<CliError> = None;
    for input in inputs {
        let added = match request.options(input, app) {
            Ok(options) => {
                inventory::add_target(&app.store, &policy, default_port, input, &options, now)
                    .await
                    .map_err(CliError::from)
            }
            Err(e) => Err(e),
        };
        match added {
            Ok(added) => {
                tracing::debug!(domain.name = %added.domain, host = %added.host, port = ?added.port, changed = added.changed(), "target stored");
                if !json {
                    let capability = app.store.tld_capability(&added.domain).await?;
                    println!("{}", report::describe_added(&added, capability.as_deref()));
                }
                stored.push(added);
            }
            Err(e) => {
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

async fn list(app: &App, client: Option<&str>, json: bool) -> Result<(), CliError> {
    let domains = app.store.list_domains(client).await?;
    if json {
        return print_json(&domains);
    }
    if domains.is_empty() {
        println!("no domains yet (add one with `lapse domains add example.com`)");
    }
    for d in &domains {
        print!("{}", report::describe_listing(d));
    }
    Ok(())
}

/// Removes what it can; a refused input is reported and counted, lapse
/// failing stops at once.
async fn remove(app: &App, inputs: &[String]) -> Result<(), CliError> {
    let policy = app.config.names.policy();
    let default_port = app.config.endpoints.default_port;
    let mut failed = 0;
    for input in inputs {
        match inventory::remove_target(&app.store, &policy, default_port, input).await {
            Ok(removed) => {
                for e in &removed.endpoints {
                    println!("removed endpoint {}", to_unicode(e));
                }
                match &removed.domain {
                    Some(d) => println!("removed domain {}", to_unicode(d)),
                    None => println!(
                        "  its domain stays watched as before; remove the domain itself with `lapse domains remove DOMAIN`"
                    ),
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

async fn set_expiry(
    app: &App,
    domain: &str,
    date: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), CliError> {
    let target = parse_target(domain, &app.config.names.policy())
        .map_err(|e| CliError::input(format!("`{domain}`: {e}")))?;
    let date = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
        CliError::input(format!(
            "`{date}` is not a date; use YYYY-MM-DD, e.g. 2027-03-31"
        ))
    })?;
    app.store
        .set_manual_expiry(&target.registrable, date, note, now)
        .await?;
    println!(
        "{}: registration expiry set by hand to {date}",
        target.registrable.to_unicode()
    );
    Ok(())
}

/// Imports every good row; the bad ones are listed and make the exit code 2.
async fn import(
    app: &App,
    file: &std::path::Path,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), CliError> {
    let reader: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(file)
                .map_err(|e| CliError::input(format!("cannot open {}: {e}", file.display())))?,
        )
    };
    let policy = app.config.names.policy();
    let default_port = app.config.endpoints.default_port;
    let report = inventory::import_csv(&app.store, &policy, default_port, reader, now)
        .await
        .map_err(|e| match e {
            ImportError::Store(s) => CliError::from(s),
            other => CliError::input(other.to_string()),
        })?;
    if json {
        print_json(&report)?;
    } else {
        for row in &report.rows {
            match &row.result {
                ImportRowResult::Stored(added) => {
                    let capability = app.store.tld_capability(&added.domain).await?;
                    println!(
                        "line {}: {}",
                        row.line,
                        report::describe_added(added, capability.as_deref())
                    )
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
