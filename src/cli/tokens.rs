//! `lapse tokens`: create (the secret is printed once), list, revoke API
//! tokens.

use chrono::Utc;
use clap::Subcommand;

use super::{print_json, CliError, JsonFlag};
use crate::app::App;
use crate::domain::access::Role;
use crate::inventory::tokens::create_token;
use crate::store::TokenView;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a token; its secret is printed once and stored only as a hash.
    Create {
        /// admin (everything, tokens), staff (read/write, scans), viewer (read), client (its client's data only).
        #[arg(long, value_parser = ["admin", "staff", "viewer", "client"])]
        role: String,
        /// The client a client token may see.
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// A label saying who or what uses the token.
        #[arg(long, value_name = "LABEL", default_value = "unnamed")]
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List(JsonFlag),
    /// Revoke a token by id; it stops working at once.
    Revoke { id: i64 },
}

pub async fn run(app: &App, cmd: TokensCommand) -> Result<(), CliError> {
    let now = Utc::now();
    match cmd {
        TokensCommand::Create {
            role,
            client,
            name,
            json,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| CliError::input(format!("`{role}` is not a role")))?;
            let created = create_token(&app.store, name, role, client, now).await?;
            let (secret, info) = (created.secret, created.info);
            if json {
                return print_json(
                    &serde_json::json!({"token": secret, "id": info.id, "name": info.name, "role": info.role, "client": info.client}),
                );
            }
            let client = info
                .client
                .as_ref()
                .map(|c| format!(", client {}", c.name))
                .unwrap_or_default();
            println!(
                "created token {} ({}{client}, \"{}\")",
                info.id, info.role, info.name
            );
            println!("{secret}");
            eprintln!("store it now: only its hash is kept, it is not shown again");
            Ok(())
        }
        TokensCommand::List(flags) => {
            let tokens = app.store.list_api_tokens().await?;
            if flags.json {
                return print_json(&tokens);
            }
            print!("{}", render_list(&tokens));
            Ok(())
        }
        TokensCommand::Revoke { id } => {
            let token = app.store.revoke_api_token(id, now).await?;
            println!(
                "revoked token {} ({}, \"{}\")",
                token.id, token.role, token.name
            );
            Ok(())
        }
    }
}

fn render_list(tokens: &[TokenView]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if tokens.is_empty() {
        out.push_str("no tokens yet (make one with `lapse tokens create --role viewer`)\n");
    }
    for t in tokens {
        let client = t
            .client
            .as_ref()
            .map(|c| format!(" client: {}", c.name))
            .unwrap_or_default();
        let state = match &t.revoked_at {
            Some(at) => format!("revoked {at}"),
            None => format!("last used {}", t.last_used_at.as_deref().unwrap_or("never")),
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<7} {:<20}{client}  created {}  {state}",
            t.id, t.role, t.name, t.created_at
        );
    }
    out
}
