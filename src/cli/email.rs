//! `lapse email test`: one email through the configured SMTP server now.

use chrono::Utc;
use clap::Subcommand;

use super::CliError;
use crate::app::{self, App};
use crate::domain::names::parse_email;
use crate::notify;

#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// Send a test email to ADDRESS through the configured SMTP server now
    /// (not queued) and say what the server answered.
    Test {
        #[arg(value_name = "ADDRESS")]
        address: String,
    },
}

pub async fn run(app: &App, cmd: EmailCommand) -> Result<(), CliError> {
    match cmd {
        EmailCommand::Test { address } => {
            let address = parse_email(&address).map_err(|e| CliError::input(e.to_string()))?;
            let transport = app::mail_transport(&app.config)?;
            let message_id_domain = app::alert_settings(&app.config).message_id_domain;
            let sent =
                notify::send_test_email(&transport, &address, &message_id_domain, Utc::now())
                    .await?;
            println!(
                "sent test email {} to {address} through {}",
                sent.message_id, sent.server
            );
            Ok(())
        }
    }
}
