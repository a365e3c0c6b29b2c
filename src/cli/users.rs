//! `lapse users`: the web pages' staff accounts. `add` prints a one-time
//! link to set the password (the base is `web.public_url`); `link` prints a
//! new one; `list` shows accounts (never a hash); `remove` deletes one and
//! ends its sessions.

use chrono::Utc;
use clap::Subcommand;

use super::{print_json, CliError, JsonFlag};
use crate::app::App;
use crate::domain::access::Role;
use crate::inventory::web_users::{
    add_user, new_password_link, remove_user, UserError, UserLink, SET_PASSWORD_LINK_HOURS,
};
use crate::store::WebUser;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a staff account; prints a one-time link to set its password.
    Add {
        /// The person's email address (they sign in with it).
        email: String,
        /// admin (everything), staff (read and change, scans) or viewer (read).
        #[arg(long, value_parser = ["admin", "staff", "viewer"])]
        role: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a new set-password link for an account (its older unused links stop working).
    Link {
        email: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List staff accounts.
    List(JsonFlag),
    /// Remove a staff account; its sessions end at once.
    Remove { email: String },
}

impl From<UserError> for CliError {
    fn from(e: UserError) -> Self {
        Self::of(&e, e.is_input_error())
    }
}

pub async fn run(app: &App, cmd: UsersCommand) -> Result<(), CliError> {
    let now = Utc::now();
    let public_url = &app.config.web.public_url;
    match cmd {
        UsersCommand::Add { email, role, json } => {
            let role = Role::parse(&role)
                .ok_or_else(|| CliError::input(format!("`{role}` is not a role")))?;
            let added = add_user(&app.store, &email, role, now).await?;
            print_link(&added, public_url, json, "added")
        }
        UsersCommand::Link { email, json } => {
            let link = new_password_link(&app.store, &email, now).await?;
            print_link(&link, public_url, json, "new link for")
        }
        UsersCommand::List(flags) => {
            let users = app.store.list_web_users(now).await?;
            if flags.json {
                return print_json(&users);
            }
            print!("{}", render_list(&users));
            Ok(())
        }
        UsersCommand::Remove { email } => {
            let user = remove_user(&app.store, &email, now).await?;
            println!(
                "removed {} account {} ({} session(s) ended)",
                user.role, user.email, user.live_sessions
            );
            Ok(())
        }
    }
}

fn print_link(link: &UserLink, public_url: &str, json: bool, done: &str) -> Result<(), CliError> {
    let url = link.url(public_url);
    if json {
        return print_json(&serde_json::json!({
            "email": link.user.email,
            "role": link.user.role,
            "set_password_url": url,
            "expires_at": crate::store::format_time(link.expires_at),
        }));
    }
    println!("{done} {} account {}", link.user.role, link.user.email);
    println!("{url}");
    eprintln!(
        "give this link to {} only: it sets the password, works once, within {SET_PASSWORD_LINK_HOURS} hours",
        link.user.email
    );
    Ok(())
}

fn render_list(users: &[WebUser]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if users.is_empty() {
        out.push_str("no accounts yet (add one with `lapse users add EMAIL --role admin`)\n");
    }
    for u in users {
        let password = match &u.password_set_at {
            Some(at) => format!("password set {at}"),
            None => "no password yet".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<40} {:<7} created {}  {password}  {} live session(s)",
            u.email, u.role, u.created_at, u.live_sessions
        );
    }
    out
}
