//! Tracing set-up: human-readable lines by default, JSON objects when
//! `log.format = "json"`. The level comes from `RUST_LOG` when set, else from
//! `log.level`. Logs go to stderr so that `--json` output on stdout stays
//! machine-readable.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call keeps the first subscriber), which keeps tests simple.
pub fn init(config: &LogConfig) {
    let filter = crate::config::environment::log_filter()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&config.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // PostgreSQL's notices ("relation _sqlx_migrations already exists,
    // skipping" on every start) are not lapse's news; warnings still show.
    let filter = match "sqlx::postgres::notice=warn".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    // Already installed (tests, or a second call): keep the first one.
    drop(result);
}
