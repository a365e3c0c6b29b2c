//! `lapse alerts`: list alerts, evaluate now (and deliver), queue the staff
//! digest; acknowledge, snooze, repeat until renewed, runbooks
//! (`alert_handling`).

use chrono::Utc;
use clap::Subcommand;

use super::alert_handling::{self as handling, Owner, RunbookArgs};
use super::outbox::render_delivery;
use super::{print_json, CliError};
use crate::app::{self, App};
use crate::domain::names::to_unicode;
use crate::monitor::{alerts as alert_eval, digest};
use crate::notify::Pause;
use crate::store::AlertListing;

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
    /// Acknowledge a firing alert: no daily reminders until its next threshold (or a new subject).
    Ack {
        /// The alert's id (`lapse alerts list`).
        id: i64,
        /// Who acknowledges (default: `cli`).
        #[arg(long)]
        by: Option<String>,
    },
    /// Snooze a firing alert until a date: nothing is sent about it until then (an expiry passing
    /// meanwhile is told to staff alone).
    Snooze {
        id: i64,
        /// YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
        #[arg(long)]
        until: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// End a snooze now.
    Unsnooze {
        id: i64,
        #[arg(long)]
        by: Option<String>,
    },
    /// Repeat until renewed: one reminder a day in the last DAYS days before an expiry (and after
    /// it) until it is renewed; `off` to stop. A domain's setting wins over its client's.
    Repeat {
        #[command(flatten)]
        owner: Owner,
        /// Days, or `off`.
        days: String,
    },
    /// Show or set a runbook (registrar or DNS account, who renews, how): staff mail carries it.
    /// A domain's fields fall back to its client's.
    Runbook(RunbookArgs),
}

pub async fn run(app: &App, cmd: AlertsCommand) -> Result<(), CliError> {
    match cmd {
        AlertsCommand::List { all, json } => {
            let alerts = app.store.list_alerts(all).await?;
            if json {
                return print_json(&alerts);
            }
            print!("{}", render_list(&alerts, all));
            Ok(())
        }
        AlertsCommand::Evaluate { deliver, json } => evaluate(app, deliver, json).await,
        AlertsCommand::Ack { id, by } => handling::acknowledge(app, id, by).await,
        AlertsCommand::Snooze { id, until, by } => {
            handling::snooze(app, id, Some(&until), by).await
        }
        AlertsCommand::Unsnooze { id, by } => handling::snooze(app, id, None, by).await,
        AlertsCommand::Repeat { owner, days } => handling::repeat(app, owner, &days).await,
        AlertsCommand::Runbook(args) => handling::runbook(app, args).await,
        AlertsCommand::Digest => {
            let now = Utc::now();
            let settings = app::alert_settings(&app.config);
            match digest::send_digest(&app.store, &settings, now, now).await? {
                Some(ids) if ids.is_empty() => println!("nothing for the digest"),
                Some(ids) => ids.iter().for_each(|id| println!("queued {id}")),
                None => println!("a digest for this second exists already"),
            }
            Ok(())
        }
    }
}

fn render_list(alerts: &[AlertListing], all: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if alerts.is_empty() {
        let _ = writeln!(out, "no {}alerts", if all { "" } else { "firing " });
    }
    for a in alerts {
        let mut handled = String::new();
        if let (Some(at), Some(by)) = (&a.acknowledged_at, &a.acknowledged_by) {
            handled.push_str(&format!(", acknowledged {at} by {by}"));
        }
        if let (Some(until), Some(by)) = (&a.snoozed_until, &a.snoozed_by) {
            handled.push_str(&format!(", snoozed until {until} by {by}"));
        }
        let _ = writeln!(
            out,
            "#{}  {:<9} {:<21} {}  opened {}{}{handled}  events: {}",
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
    out
}

async fn evaluate(app: &App, deliver: bool, json: bool) -> Result<(), CliError> {
    let settings = app::alert_settings(&app.config);
    let applied = alert_eval::evaluate_all(&app.store, &settings, Utc::now()).await?;
    // The test-only pause sits between the committed alert changes and
    // their delivery.
    let pause = Pause::from_env();
    pause.at("after-evaluate").await;
    let report = if deliver {
        let sender = app::sender(app)?.with_pause(pause);
        Some(sender.deliver_due(Utc::now()).await?)
    } else {
        None
    };
    if json {
        return print_json(&serde_json::json!({ "evaluated": applied, "delivered": report }));
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
        print!("{}", render_delivery(&report));
    }
    Ok(())
}
