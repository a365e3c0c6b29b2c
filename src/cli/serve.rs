//! `lapse serve`: hands the process to [`app::serve_until_signal`]
//! (bind `server.listen`, run until SIGINT/SIGTERM). The lifecycle (what starts, the order
//! it stops in) is the app's, not the CLI's.

use super::CliError;
use crate::app::{self, App};

pub async fn run(app: App) -> Result<(), CliError> {
    app::serve_until_signal(app).await?;
    Ok(())
}
