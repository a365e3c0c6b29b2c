//! `lapse config check`: the configuration as lapse understood it.

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values (secrets redacted).
    Check,
}

/// Loading the configuration already validated it; this prints it.
pub fn check(config: &Config) {
    print!(
        "# configuration is valid; effective values from {}\n{}",
        config.origin,
        config.to_redacted_toml()
    );
}
