//! `lapse serve`: bind `server.listen`, hand the process to
//! [`app::run`] until SIGINT/SIGTERM. The lifecycle (what starts, the order
//! it stops in) is the app's, not the CLI's.

use super::CliError;
use crate::app::{self, App};

pub async fn run(app: App) -> Result<(), CliError> {
    let listener = app::bind(&app).await?;
    app::run(app, listener, app::shutdown_signal()).await?;
    Ok(())
}
