//! `lapse clients`: add clients and contacts, list, remove.

use chrono::Utc;
use clap::Subcommand;

use super::{print_json, CliError, JsonFlag};
use crate::app::App;
use crate::domain::names::parse_email;
use crate::store::{DeliveryChange, DeliveryMode, WEEKDAYS};

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
    /// How a client hears of its alerts: at once, or a daily or weekly
    /// digest at an hour (and weekday) of its time zone. Expired, a
    /// registration problem or one day or less left always go at once.
    Set {
        name: String,
        /// `immediate` (the default), `daily` or `weekly`.
        #[arg(long, value_name = "MODE")]
        delivery: Option<String>,
        /// The hour digests go out, 0-23, in the client's time zone (default 8).
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=23))]
        hour: Option<u8>,
        /// The day weekly digests go out: mon, tue, wed, thu, fri, sat, sun (default mon).
        #[arg(long)]
        weekday: Option<String>,
        /// The client's IANA time zone, e.g. Europe/Berlin; `default`: `schedule.timezone`.
        #[arg(long, value_name = "ZONE")]
        timezone: Option<String>,
    },
    /// Remove a client and its contacts.
    Remove {
        name: String,
        /// Keep watching the client's domains, without a client.
        #[arg(long)]
        release_domains: bool,
    },
}

pub async fn run(app: &App, cmd: ClientsCommand) -> Result<(), CliError> {
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
        ClientsCommand::Set {
            name,
            delivery,
            hour,
            weekday,
            timezone,
        } => {
            let change = delivery_change(delivery, hour, weekday, timezone)?;
            let set = app.store.set_client_delivery(&name, &change).await?;
            println!(
                "client {}: {} (hour {}, weekday {}, time zone {})",
                name.trim(),
                set.delivery.as_str(),
                set.digest_hour,
                set.digest_weekday,
                set.timezone.as_deref().unwrap_or("schedule.timezone")
            );
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

/// The `clients set` flags, checked: a known mode, weekday and time zone.
fn delivery_change(
    delivery: Option<String>,
    hour: Option<u8>,
    weekday: Option<String>,
    timezone: Option<String>,
) -> Result<DeliveryChange, CliError> {
    let delivery = delivery
        .map(|d| {
            DeliveryMode::parse(&d).ok_or_else(|| {
                CliError::input(format!(
                    "--delivery `{d}`: one of {}",
                    DeliveryMode::NAMES.join(", ")
                ))
            })
        })
        .transpose()?;
    let digest_weekday = weekday
        .map(|w| {
            let short: String = w.trim().to_ascii_lowercase().chars().take(3).collect();
            WEEKDAYS
                .contains(&short.as_str())
                .then_some(short)
                .ok_or_else(|| {
                    CliError::input(format!("--weekday `{w}`: one of {}", WEEKDAYS.join(", ")))
                })
        })
        .transpose()?;
    let timezone = timezone
        .map(|z| match z.trim() {
            "default" | "" => Ok(None),
            zone => zone
                .parse::<chrono_tz::Tz>()
                .map(|tz| Some(tz.name().to_owned()))
                .map_err(|_| {
                    CliError::input(format!(
                        "--timezone `{zone}`: an IANA time zone like Europe/Berlin, or `default`"
                    ))
                }),
        })
        .transpose()?;
    Ok(DeliveryChange {
        timezone,
        delivery,
        digest_hour: hour,
        digest_weekday,
    })
}
