//! The process environment: the one place in lapse that reads it, so that
//! every outside input the process takes is found in `config`.
//!
//! - all variables, for the `LAPSE_SECTION__KEY` overrides (see `sources`);
//! - [`CONFIG_ENV`](super::CONFIG_ENV), the config file to load;
//! - [`LOG_FILTER_ENV`] (`RUST_LOG`), a tracing filter that wins over `log.level`;
//! - [`TEST_PAUSE_ENV`] (`LAPSE_TEST_PAUSE`), a knob for tests only;
//! - [`DATABASE_PASSWORD_ENV`], read directly by `lapse db copy` (the
//!   configured database is SQLite there, so `[database]` keeps no password).

use std::path::PathBuf;

use super::CONFIG_ENV;

/// The tracing filter that overrides `log.level` when set.
pub const LOG_FILTER_ENV: &str = "RUST_LOG";

/// Test-only: the point where `notify::Pause` stops the process so a test
/// can kill it there. Not a setting; production never sets it.
pub const TEST_PAUSE_ENV: &str = "LAPSE_TEST_PAUSE";

/// Every variable of the process, for the `LAPSE_SECTION__KEY` overrides.
pub(super) fn vars() -> Vec<(String, String)> {
    std::env::vars().collect()
}

/// The config file named by `LAPSE_CONFIG`, if any.
pub(super) fn config_file() -> Option<PathBuf> {
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

/// `RUST_LOG` as given (unset or not Unicode: `None`); the caller decides
/// whether it is a valid filter.
pub fn log_filter() -> Option<String> {
    std::env::var(LOG_FILTER_ENV).ok()
}

/// Test-only: `LAPSE_TEST_PAUSE` as given (unset or not Unicode: `None`).
/// See `notify::Pause` for the points a test can stop the process at.
pub fn test_pause() -> Option<String> {
    std::env::var(TEST_PAUSE_ENV).ok()
}

/// This machine's host name (the default of `server.instance`, with the
/// process id): the kernel's, else `/etc/hostname`, else `lapse`.
pub(super) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "lapse".to_owned())
}

/// The PostgreSQL password when the URL gives none (also a
/// `LAPSE_SECTION__KEY` override of `database.password`).
pub const DATABASE_PASSWORD_ENV: &str = "LAPSE_DATABASE__PASSWORD";

/// `LAPSE_DATABASE__PASSWORD` as given (unset, empty or not Unicode: `None`),
/// for `lapse db copy`, whose target is not the configured database.
pub fn database_password() -> Option<super::Secret> {
    std::env::var(DATABASE_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(super::Secret::new)
}
