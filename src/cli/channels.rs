//! `lapse channels`: the configured channels and their routes; attach a
//! channel to staff or to a client, detach it, post a test message.

use std::fmt::Write as _;

use chrono::Utc;
use clap::{Args, Subcommand};

use super::{print_json, CliError};
use crate::app::App;
use crate::config::ChannelConfig;
use crate::domain::routing::{EventGroup, Severity};
use crate::notify::channels::{ChannelAnswer, ChannelClient, ChannelTestError};
use crate::store::{NewRoute, RouteListing};

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// List the configured channels (never their URLs or tokens) and where each is attached.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Attach a channel to staff (every subject) or to one client (its subjects only).
    ///
    /// Attaching again replaces the severity and events. To serve both, attach twice.
    Attach {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        target: RouteTargetArgs,
        /// The least severity posted: info, warning or critical (resolutions always follow).
        #[arg(long, default_value = "info", value_parser = parse_severity)]
        min_severity: Severity,
        /// Groups of events, comma-separated: expiry, status, failures, lapse
        /// (default: all for staff, `expiry,status` for a client).
        #[arg(long, value_name = "LIST")]
        events: Option<String>,
    },
    /// Detach a channel from staff or from a client.
    Detach {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        target: RouteTargetArgs,
    },
    /// Post a test message to a channel now (not queued) and print what it answered.
    Test {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RouteTargetArgs {
    /// Staff: every subject.
    #[arg(long)]
    staff: bool,
    /// One client: that client's subjects only.
    #[arg(long, value_name = "CLIENT")]
    client: Option<String>,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| "expected info, warning or critical".to_owned())
}

fn parse_events(text: &str) -> Result<Vec<EventGroup>, CliError> {
    EventGroup::parse_list(text).ok_or_else(|| {
        CliError::input(format!(
            "--events `{text}`: expected a comma-separated list of expiry, status, failures, lapse"
        ))
    })
}

pub async fn run(app: &App, cmd: ChannelsCommand) -> Result<(), CliError> {
    match cmd {
        ChannelsCommand::List { json } => {
            let channels = app.config.all_channels();
            let routes = app.store.channel_routes().await?;
            if json {
                let listed: Vec<serde_json::Value> = channels
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "name": c.name,
                            "kind": c.target.kind(),
                            "from_webhooks": c.from_webhooks,
                            "routes": routes.iter().filter(|r| r.channel == c.name).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                return print_json(&listed);
            }
            print!("{}", render_list(&channels, &routes));
            Ok(())
        }
        ChannelsCommand::Attach {
            name,
            target,
            min_severity,
            events,
        } => {
            let channel = configured(app, &name)?;
            if channel.from_webhooks {
                return Err(CliError::input(format!(
                    "channel `{name}` comes from `[webhooks]` and posts every event to staff; \
                     define it as `[channels.NAME]` to route it"
                )));
            }
            let groups = match (events, &target.client) {
                (Some(list), _) => parse_events(&list)?,
                (None, Some(_)) => vec![EventGroup::Expiry, EventGroup::Status],
                (None, None) => EventGroup::ALL.to_vec(),
            };
            let route = NewRoute {
                channel: name,
                client: target.client,
                min_severity,
                groups,
            };
            let stored = app.store.attach_channel(&route, Utc::now()).await?;
            println!(
                "attached {} to {}: {} and above, events {}",
                stored.channel,
                stored.attached_to,
                stored.min_severity,
                stored.events.join(",")
            );
            Ok(())
        }
        ChannelsCommand::Detach { name, target } => {
            app.store
                .detach_channel(&name, target.client.as_deref())
                .await?;
            let from = target
                .client
                .map_or("staff".to_owned(), |c| format!("client {c}"));
            println!("detached {name} from {from}");
            Ok(())
        }
        ChannelsCommand::Test { name } => {
            configured(app, &name)?;
            let answer = test(app, &name).await?;
            print!("{}", render_answer(&answer));
            if (200..300).contains(&answer.status) {
                Ok(())
            } else {
                Err(CliError::failure(format!(
                    "channel `{name}` refused the test message (HTTP {})",
                    answer.status
                )))
            }
        }
    }
}

fn configured(app: &App, name: &str) -> Result<ChannelConfig, CliError> {
    app.config.channel(name).ok_or_else(|| {
        CliError::input(format!(
            "no channel named `{name}`: define it as `[channels.{name}]` (see `lapse channels list`)"
        ))
    })
}

async fn test(app: &App, name: &str) -> Result<ChannelAnswer, CliError> {
    let failed = |e: ChannelTestError| CliError::failure(e.to_string());
    let client = ChannelClient::new(&app.config)
        .map_err(|e| failed(e.into()))?
        .ok_or_else(|| CliError::input(format!("no channel named `{name}`")))?;
    client.test(name, Utc::now()).await.map_err(failed)
}

fn render_answer(answer: &ChannelAnswer) -> String {
    let mut out = format!(
        "{} ({}) answered HTTP {}\n",
        answer.channel, answer.kind, answer.status
    );
    if !answer.body.is_empty() {
        let _ = writeln!(out, "{}", answer.body);
    }
    out
}

fn render_list(channels: &[ChannelConfig], routes: &[RouteListing]) -> String {
    if channels.is_empty() {
        return "no channels configured (add `[channels.NAME]` to the config file)\n".to_owned();
    }
    let mut out = String::new();
    for channel in channels {
        let _ = writeln!(out, "{:<16} {}", channel.name, channel.target.kind());
        if channel.from_webhooks {
            let _ = writeln!(out, "  staff: every event ([webhooks])");
            continue;
        }
        let mine: Vec<&RouteListing> = routes
            .iter()
            .filter(|r| r.channel == channel.name)
            .collect();
        if mine.is_empty() {
            let _ = writeln!(
                out,
                "  not attached (lapse channels attach {} --staff)",
                channel.name
            );
        }
        for route in mine {
            let _ = writeln!(
                out,
                "  {}: {} and above, events {}",
                route.attached_to,
                route.min_severity,
                route.events.join(",")
            );
        }
    }
    for route in routes
        .iter()
        .filter(|r| !channels.iter().any(|c| c.name == r.channel))
    {
        let _ = writeln!(
            out,
            "{:<16} not configured: its route to {} is ignored",
            route.channel, route.attached_to
        );
    }
    out
}
