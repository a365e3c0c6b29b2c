//! `lapse whois`: a one-shot registration lookup, or `whois parse` of a
//! saved reply. The human rendering is `whois_report.rs`.

use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::{Args, Subcommand};

use super::{print_json, whois_report, CliError};
use crate::app::App;
use crate::domain::names::parse_target;
use crate::monitor::registration::RegistrationChecker;
use crate::probe::ReplyFormat;

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

/// `lapse whois parse`: a saved reply in, one JSON object out.
pub fn parse(domain: &str, rdap: bool, file: Option<&Path>) -> Result<(), CliError> {
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
pub async fn look_up(app: &App, args: WhoisArgs) -> Result<(), CliError> {
    let input = args.domain.unwrap_or_default();
    let target = parse_target(&input, &app.config.names.policy())
        .map_err(|e| CliError::input(format!("`{input}`: {e}")))?;
    let now = Utc::now();
    let checker = RegistrationChecker::build(&app.config, &app.store, now).await?;
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
        print_json(&out)?;
    } else {
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
    }
    // The report is printed either way; a lookup that no source answered
    // is a failure for scripts (exit 1), not a report of facts.
    if check.assessment.stale {
        return Err(CliError::failure(format!(
            "no registration source answered for {}; the report above says why",
            target.registrable.to_unicode()
        )));
    }
    Ok(())
}
