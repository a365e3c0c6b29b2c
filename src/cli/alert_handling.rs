//! What people do with alerts, on the command line: `lapse alerts
//! ack|snooze|unsnooze|repeat|runbook` and `lapse domains
//! mute|unmute|mutes`. Who did it is `--by` (else `cli`): recorded on the
//! alert (or the window) and in the alert ledger.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;

use super::{print_json, CliError};
use crate::app::App;
use crate::domain::alert_handling::Runbook;
use crate::domain::names::{parse_target, HostName};
use crate::store::{MuteView, NewMute, ThresholdOwner};

/// `lapse domains mute`.
#[derive(Debug, Args)]
pub struct MuteArgs {
    /// The domain (`example.com`): its registration and all its endpoints.
    pub domain: String,
    /// Only this endpoint of the domain (`HOST:PORT`).
    #[arg(long, value_name = "HOST:PORT")]
    pub endpoint: Option<String>,
    /// Start of the window: YYYY-MM-DD (midnight UTC) or an RFC 3339 time (default: now).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the window: YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
    #[arg(long)]
    pub until: String,
    /// Why (shown in lists and in staff mail).
    #[arg(long)]
    pub reason: String,
    /// Who mutes (default: `cli`).
    #[arg(long)]
    pub by: Option<String>,
}

/// Whose setting: `--domain` or `--client`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Owner {
    /// A domain's own setting (`example.com`).
    #[arg(long)]
    pub domain: Option<String>,
    /// A client's setting, the default of its domains.
    #[arg(long)]
    pub client: Option<String>,
}

/// `lapse alerts runbook`.
#[derive(Debug, Args)]
pub struct RunbookArgs {
    #[command(flatten)]
    pub owner: Owner,
    /// The registrar or DNS account.
    #[arg(long)]
    pub account: Option<String>,
    /// Who renews.
    #[arg(long)]
    pub renewer: Option<String>,
    /// How to renew, free text.
    #[arg(long)]
    pub howto: Option<String>,
    /// Remove the runbook (each field falls back to the client's again).
    #[arg(long, conflicts_with_all = ["account", "renewer", "howto"])]
    pub clear: bool,
}

/// Who acts: `--by`, else `cli`.
pub fn actor(by: Option<String>) -> String {
    by.map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "cli".to_owned())
}

/// `2026-12-20` (midnight UTC) or `2026-12-20T08:00:00Z`.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, CliError> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            CliError::input(format!(
                "`{text}` is not a date; use YYYY-MM-DD or an RFC 3339 time (2026-12-20T08:00:00Z)"
            ))
        })
}

fn domain(app: &App, text: &str) -> Result<HostName, CliError> {
    parse_target(text, &app.config.names.policy())
        .map(|t| t.registrable)
        .map_err(|e| CliError::input(format!("`{text}`: {e}")))
}

fn owner(app: &App, owner: Owner) -> Result<ThresholdOwner, CliError> {
    match (owner.domain, owner.client) {
        (Some(d), _) => Ok(ThresholdOwner::Domain(domain(app, &d)?)),
        (None, Some(c)) => Ok(ThresholdOwner::Client(c)),
        (None, None) => Err(CliError::input("name a --domain or a --client")),
    }
}

pub async fn acknowledge(app: &App, id: i64, by: Option<String>) -> Result<(), CliError> {
    let by = actor(by);
    app.store.acknowledge_alert(id, &by, Utc::now()).await?;
    println!("alert #{id} acknowledged by {by}: no reminders until its next threshold");
    Ok(())
}

pub async fn snooze(
    app: &App,
    id: i64,
    until: Option<&str>,
    by: Option<String>,
) -> Result<(), CliError> {
    let by = actor(by);
    let now = Utc::now();
    let until = until.map(parse_instant).transpose()?;
    if until.is_some_and(|u| u <= now) {
        return Err(CliError::input("--until must be in the future"));
    }
    app.store.snooze_alert(id, until, &by, now).await?;
    match until {
        Some(until) => println!(
            "alert #{id} snoozed by {by} until {}",
            crate::store::format_time(until)
        ),
        None => println!("alert #{id}: snooze ended by {by}"),
    }
    Ok(())
}

pub async fn mute(app: &App, args: MuteArgs) -> Result<(), CliError> {
    let now = Utc::now();
    let endpoint = match &args.endpoint {
        Some(text) => {
            let target = parse_target(text, &app.config.names.policy())
                .map_err(|e| CliError::input(format!("`{text}`: {e}")))?;
            Some((target.host, target.port.unwrap_or(443)))
        }
        None => None,
    };
    let mute = NewMute {
        domain: domain(app, &args.domain)?,
        endpoint,
        starts_at: args
            .from
            .as_deref()
            .map(parse_instant)
            .transpose()?
            .unwrap_or(now),
        ends_at: parse_instant(&args.until)?,
        reason: args.reason,
        by: actor(args.by),
    };
    let view = app.store.add_mute(&mute, now).await?;
    println!("{}", render_mute(&view));
    Ok(())
}

pub async fn unmute(app: &App, text: &str, by: Option<String>) -> Result<(), CliError> {
    let lifted = app
        .store
        .lift_mutes(&domain(app, text)?, &actor(by), Utc::now())
        .await?;
    if lifted.is_empty() {
        println!("{text}: no maintenance window to lift");
    }
    for view in &lifted {
        println!("lifted {}", render_mute(view));
    }
    Ok(())
}

pub async fn list_mutes(app: &App, all: bool, json: bool) -> Result<(), CliError> {
    let mutes = app.store.list_mutes(all, Utc::now()).await?;
    if json {
        return print_json(&mutes);
    }
    if mutes.is_empty() {
        println!(
            "no {}maintenance windows",
            if all { "" } else { "current " }
        );
    }
    for view in &mutes {
        println!("{}", render_mute(view));
    }
    Ok(())
}

fn render_mute(view: &MuteView) -> String {
    let what = view.endpoint.clone().unwrap_or_else(|| view.domain.clone());
    let lifted = match (&view.lifted_at, &view.lifted_by) {
        (Some(at), Some(by)) => format!(", lifted {at} by {by}"),
        _ => String::new(),
    };
    format!(
        "#{}  {what}  muted {} .. {}  by {} ({}){lifted}",
        view.id, view.starts_at, view.ends_at, view.created_by, view.reason
    )
}

pub async fn repeat(app: &App, who: Owner, days: &str) -> Result<(), CliError> {
    let days = match days.trim() {
        "off" => None,
        text => Some(text.parse::<u32>().map_err(|_| {
            CliError::input(format!("`{text}` is not a number of days (or `off`)"))
        })?),
    };
    let who = owner(app, who)?;
    app.store.set_repeat_days(&who, days).await?;
    match days {
        Some(days) => println!(
            "{}: one reminder a day in the last {days} days, until renewed",
            name(&who)
        ),
        None => println!("{}: no daily reminders", name(&who)),
    }
    Ok(())
}

pub async fn runbook(app: &App, args: RunbookArgs) -> Result<(), CliError> {
    let who = owner(app, args.owner)?;
    let changes = args.account.is_some() || args.renewer.is_some() || args.howto.is_some();
    if changes || args.clear {
        let (mut runbook, _) = app.store.runbook(&who).await?;
        if args.clear {
            runbook = Runbook::default();
        }
        runbook.account = args.account.or(runbook.account);
        runbook.renewer = args.renewer.or(runbook.renewer);
        runbook.howto = args.howto.or(runbook.howto);
        app.store.set_runbook(&who, &runbook).await?;
    }
    let (runbook, days) = app.store.runbook(&who).await?;
    println!("{}", name(&who));
    let show = |label: &str, value: &Option<String>| {
        println!("  {label:<11} {}", value.as_deref().unwrap_or("-"));
    };
    show("account", &runbook.account);
    show("renews", &runbook.renewer);
    show("how", &runbook.howto);
    println!(
        "  repeat      {}",
        days.map_or("-".to_owned(), |d| format!("daily in the last {d} days"))
    );
    Ok(())
}

fn name(owner: &ThresholdOwner) -> String {
    match owner {
        ThresholdOwner::Client(name) => format!("client {name}"),
        ThresholdOwner::Domain(name) => name.to_unicode(),
    }
}
