//! `[database]`: a SQLite file (`path`, or `url = "sqlite://PATH"`) or a
//! PostgreSQL URL, whose password never reaches what is printed.

use std::path::PathBuf;
use std::time::Duration;

use super::super::raw::RawDatabase;
use super::super::{ConfigError, DatabaseConfig, PostgresLocation, Secret};
use super::BadValue;

/// The `sslmode` values PostgreSQL's clients (and sqlx) know.
const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

pub(super) fn database(raw: RawDatabase, bad: BadValue<'_>) -> Result<DatabaseConfig, ConfigError> {
    if raw.max_connections == 0 {
        return Err(bad("database.max_connections", &0, "at least 1"));
    }
    let url = raw.url.trim();
    let (path, postgres) = if url.is_empty() {
        (sqlite_path(&raw.path, bad)?, None)
    } else if let Some(file) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        (sqlite_path(file, bad)?, None)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let location = postgres(url, raw.password, bad)?;
        (PathBuf::new(), Some(location))
    } else {
        return Err(bad(
            "database.url",
            &redacted(url),
            "\"sqlite://PATH\" or \"postgres://USER@HOST:PORT/DATABASE\"",
        ));
    };
    Ok(DatabaseConfig {
        path,
        postgres,
        max_connections: raw.max_connections,
        busy_timeout: Duration::from_millis(raw.busy_timeout_ms),
    })
}

fn sqlite_path(path: &str, bad: BadValue<'_>) -> Result<PathBuf, ConfigError> {
    if path.trim().is_empty() {
        return Err(bad("database.path", &path, "the path of the SQLite file"));
    }
    Ok(PathBuf::from(path))
}

/// Checks a PostgreSQL URL (host, database, `sslmode`) and takes its
/// password out, so the URL can be printed.
fn postgres(
    text: &str,
    password: Option<Secret>,
    bad: BadValue<'_>,
) -> Result<PostgresLocation, ConfigError> {
    const EXPECTED: &str = "postgres://USER@HOST:PORT/DATABASE?sslmode=MODE";
    let mut url = url::Url::parse(text).map_err(|e| {
        bad(
            "database.url",
            &redacted(text),
            &format!("a URL like {EXPECTED} ({e})"),
        )
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(
            "database.url",
            &redacted(text),
            &format!("a URL with a host, like {EXPECTED}"),
        ));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err(bad(
            "database.url",
            &redacted(text),
            &format!("a URL naming the database, like {EXPECTED}"),
        ));
    }
    for (key, value) in url.query_pairs() {
        if key == "sslmode" && !SSL_MODES.contains(&value.as_ref()) {
            return Err(bad(
                "database.url",
                &redacted(text),
                &format!("an sslmode among {}", SSL_MODES.join(", ")),
            ));
        }
    }
    let in_url = url.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let password = match (in_url, password) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "database.password",
                &"[redacted]",
                "given once: the URL already holds a password",
            ))
        }
        (Some(p), None) => Some(Secret::new(p)),
        (None, p) => p,
    };
    // Cannot fail: the URL has a host.
    let _ = url.set_password(None);
    Ok(PostgresLocation {
        url: url.to_string(),
        password,
    })
}

/// The URL as the user wrote it, its password hidden, for error messages.
fn redacted(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("[redacted]"));
            url.to_string()
        }
        Ok(_) => text.to_owned(),
        Err(_) => match text.rfind('@') {
            Some(at) => format!("[redacted]{}", &text[at..]),
            None => text.to_owned(),
        },
    }
}
