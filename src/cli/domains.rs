//! `lapse domains`: watch hosts, list them, stop watching, set a
//! registration expiry by hand, import a CSV; one function per command.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::{print_json, CliError, EXIT_INPUT};
use crate::app::App;
use crate::domain::names::{parse_target, to_unicode};
use crate::inventory::{self, ImportError, ImportRowResult};
use crate::store::AddedTarget;

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

pub async fn run(app: &App, cmd: DomainsCommand) -> Result<(), CliError> {
    let now = Utc::now();
    match cmd {
        DomainsCommand::Add {
            inputs,
            client,
            json,
        } => add(app, &inputs, client.as_deref(), json, now).await,
        DomainsCommand::List { client, json } => list(app, client.as_deref(), json).await,
        DomainsCommand::Remove { inputs } => remove(app, &inputs).await,
        DomainsCommand::SetExpiry { domain, date, note } => {
            set_expiry(app, &domain, &date, note.as_deref(), now).await
        }
        DomainsCommand::Import { file, json } => import(app, &file, json, now).await,
    }
}

/// Stores every input it can; says which failed, and fails with the first
/// failure's exit code.
async fn add(
    app: &App,
    inputs: &[String],
    client: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), CliError> {
    let policy = app.config.names.policy();
    let default_port = app.config.endpoints.default_port;
    let mut stored = Vec::new();
    let mut first_error: Option<CliError> = None;
    for input in inputs {
        match inventory::add_target(&app.store, &policy, default_port, input, client, now).await {
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

async fn list(app: &App, client: Option<&str>, json: bool) -> Result<(), CliError> {
    let domains = app.store.list_domains(client).await?;
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
