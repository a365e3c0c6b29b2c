//! `lapse migrate`: apply pending migrations and list them all.

use super::{print_json, CliError, JsonFlag};
use crate::config::Config;
use crate::store::Store;

pub async fn run(config: &Config, flags: JsonFlag) -> Result<(), CliError> {
    let store = Store::open_without_migrating(&config.database).await?;
    let status = store.migrate().await?;
    if flags.json {
        return print_json(&status);
    }
    for m in &status {
        let state = if m.newly_applied {
            "applied now"
        } else {
            "already applied"
        };
        println!("{:>4}  {:<40} {state}", m.version, m.description);
    }
    println!("database {} is up to date", store.location());
    Ok(())
}
