//! `lapse clients`: add clients and contacts, list, remove.

use chrono::Utc;
use clap::Subcommand;

use super::{print_json, CliError, JsonFlag};
use crate::app::App;
use crate::domain::names::parse_email;

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
