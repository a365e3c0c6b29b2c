//! `lapse thresholds`: the days at which alerts fire, per client or per
//! domain, overriding `[alerts]`.

use clap::{Args, Subcommand};

use super::{print_json, CliError};
use crate::app::App;
use crate::domain::alert_policy::Thresholds;
use crate::domain::names::{parse_target, to_unicode};
use crate::store::{ThresholdKind, ThresholdOverride, ThresholdOwner};

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

pub async fn run(app: &App, cmd: ThresholdsCommand) -> Result<(), CliError> {
    match cmd {
        ThresholdsCommand::Set {
            owner,
            certificate,
            registration,
        } => set(app, owner, certificate, registration).await,
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
            print!("{}", render_list(app, &overrides));
            Ok(())
        }
    }
}

async fn set(
    app: &App,
    owner: ThresholdOwnerArgs,
    certificate: Option<Vec<u32>>,
    registration: Option<Vec<u32>>,
) -> Result<(), CliError> {
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

fn render_list(app: &App, overrides: &[ThresholdOverride]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let days = |d: &[u32]| d.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        "defaults: certificate {} / registration {} days",
        days(&app.config.alerts.certificate_days),
        days(&app.config.alerts.registration_days)
    );
    for o in overrides {
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
        let _ = writeln!(
            out,
            "{} {name}: certificate {} / registration {}",
            o.level,
            show(&o.certificate_days),
            show(&o.registration_days)
        );
    }
    out
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
