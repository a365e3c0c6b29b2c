//! `lapse outbox`: list the delivery queue, queue messages again, deliver
//! now. [`render_delivery`] is shared with `lapse alerts evaluate --deliver`.

use std::fmt::Write as _;

use chrono::Utc;
use clap::Subcommand;

use super::{print_json, CliError};
use crate::app::{self, App};
use crate::notify::{DeliveryReport, Pause};
use crate::store::{OutboxItem, OutboxState, RetrySelection};

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

pub async fn run(app: &App, cmd: OutboxCommand) -> Result<(), CliError> {
    match cmd {
        OutboxCommand::List { state, limit, json } => {
            let messages = app.store.list_outbox(state.map(Into::into), limit).await?;
            if json {
                return print_json(&messages);
            }
            print!("{}", render_list(&messages));
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
            let sender = app::sender(app)?.with_pause(Pause::from_env());
            let report = sender.deliver_due(Utc::now()).await?;
            if json {
                return print_json(&report);
            }
            print!("{}", render_delivery(&report));
            Ok(())
        }
    }
}

fn render_list(messages: &[OutboxItem]) -> String {
    let mut out = String::new();
    if messages.is_empty() {
        out.push_str("the outbox is empty\n");
    }
    for m in messages {
        let when = match m.state.as_str() {
            "sent" | "logged" => m.sent_at.clone().unwrap_or_default(),
            "pending" => format!("next attempt {}", m.next_attempt_at),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
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
            let _ = writeln!(out, "         last error: {error}");
        }
    }
    out
}

/// One line per message delivered (or not), then the totals.
pub fn render_delivery(report: &DeliveryReport) -> String {
    let mut out = String::new();
    if report.reclaimed > 0 {
        let _ = writeln!(
            out,
            "{} message(s) left by a stopped sender queued again",
            report.reclaimed
        );
    }
    for id in &report.sent {
        let _ = writeln!(out, "sent      {id}");
    }
    for id in &report.logged {
        let _ = writeln!(
            out,
            "logged    {id}  (no SMTP configured: kept in the outbox)"
        );
    }
    for id in &report.retrying {
        let _ = writeln!(out, "retrying  {id}");
    }
    for id in &report.failed {
        let _ = writeln!(out, "failed    {id}");
    }
    let _ = writeln!(
        out,
        "delivered {}, logged {}, retrying {}, failed {}",
        report.sent.len(),
        report.logged.len(),
        report.retrying.len(),
        report.failed.len()
    );
    out
}
