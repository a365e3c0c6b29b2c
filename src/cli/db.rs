//! `lapse db copy`: the configured SQLite database copied into PostgreSQL
//! (the copy itself is `store::copy`); the password never printed.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{print_json, CliError};
use crate::config::environment::database_password;
use crate::config::{Config, DatabaseConfig, PostgresLocation, Secret};
use crate::store::{CopyError, CopyReport, Store};

const COPY_ABOUT: &str = "\
Copy the configured SQLite database ([database] in the configuration) into
the PostgreSQL database named by --to: every table, every row, ids and
history kept.

The PostgreSQL database is migrated first; both must then be at the same
migration (run `lapse migrate` on the SQLite one, or upgrade lapse, when
they are not). The SQLite file is opened read-only and read in one
transaction: stop `lapse serve` first so that nothing written after the
copy is left behind. The copy is one transaction on PostgreSQL: all of it
or nothing. After copying, each table's row count is compared (and printed)
and every id sequence is set past the greatest id SQLite ever handed out,
so ids are never reused.

A PostgreSQL database that already holds lapse data is refused, unless
--replace-target-data is given: then every row it holds is deleted first,
in the same transaction.

The password comes from the URL, else --password-file, else
LAPSE_DATABASE__PASSWORD; it is never printed.

Exit codes: 0 copied; 1 lapse failed (PostgreSQL unreachable, a database
error; nothing was written); 2 refused (the configured database is not
SQLite, a bad URL, a non-empty target, different migrations).";

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy the configured SQLite database into PostgreSQL (ids and history kept).
    #[command(long_about = COPY_ABOUT)]
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The PostgreSQL database to copy into: postgres://USER@HOST:PORT/DATABASE?sslmode=MODE
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// A file holding the PostgreSQL password (when the URL has none; else LAPSE_DATABASE__PASSWORD).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// The target already holds lapse data: delete all of it first (same transaction), then copy.
    #[arg(long)]
    pub replace_target_data: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: &Config, command: DbCommand) -> Result<(), CliError> {
    match command {
        DbCommand::Copy(args) => copy(config, args).await,
    }
}

async fn copy(config: &Config, args: CopyArgs) -> Result<(), CliError> {
    if let Some(pg) = &config.database.postgres {
        return Err(CliError::input(format!(
            "`lapse db copy` copies a SQLite database, but the configured database is \
             PostgreSQL ({}); point [database] at the SQLite file (url = \"sqlite://PATH\") \
             to copy it",
            pg.url
        )));
    }
    let password_file = match &args.password_file {
        Some(path) => Some(read_password(path)?),
        None => None,
    };
    let location = target_location(&args.to, password_file, database_password)?;
    let target_config = DatabaseConfig {
        path: PathBuf::new(),
        postgres: Some(location.clone()),
        max_connections: 2,
        busy_timeout: config.database.busy_timeout,
    };
    if !args.json {
        eprintln!(
            "copying {} into {}",
            config.database.path.display(),
            location.url
        );
    }
    let source = Store::open_copy_source(&config.database)
        .await
        .map_err(refused)?;
    let target = match Store::open_copy_target(&target_config).await {
        Ok(target) => target,
        Err(e) => {
            source.close().await;
            return Err(refused(e));
        }
    };
    let result = source.copy_into(&target, args.replace_target_data).await;
    source.close().await;
    target.close().await;
    let report = result.map_err(refused)?;
    if args.json {
        return print_json(&report);
    }
    print!(
        "{}",
        render(
            &report,
            &config.database.path.display().to_string(),
            &location.url
        )
    );
    Ok(())
}

fn refused(e: CopyError) -> CliError {
    CliError::of(&e, e.is_input_error())
}

/// The password in a file: its first line (a trailing newline is not part
/// of it).
fn read_password(path: &Path) -> Result<Secret, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::input(format!(
            "cannot read the password file {}: {e}",
            path.display()
        ))
    })?;
    let password = text.lines().next().unwrap_or("");
    if password.is_empty() {
        return Err(CliError::input(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(password))
}

/// The sslmode values PostgreSQL's clients (and sqlx) know.
const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// `--to` checked (PostgreSQL, a host, a database, a known sslmode), its
/// password taken out: from the URL, else the file, else the environment.
fn target_location(
    text: &str,
    password_file: Option<Secret>,
    from_environment: impl FnOnce() -> Option<Secret>,
) -> Result<PostgresLocation, CliError> {
    const EXPECTED: &str = "postgres://USER@HOST:PORT/DATABASE?sslmode=MODE";
    let bad = |why: String| {
        CliError::input(format!(
            "--to {}: {why}; expected a URL like {EXPECTED}",
            redacted(text)
        ))
    };
    let mut url = url::Url::parse(text.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(bad(format!(
            "`{}` is not PostgreSQL (the copy goes from SQLite into PostgreSQL)",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err(bad("no database named".into()));
    }
    if let Some((_, mode)) = url
        .query_pairs()
        .find(|(k, v)| k == "sslmode" && !SSL_MODES.contains(&v.as_ref()))
    {
        return Err(bad(format!(
            "sslmode `{mode}` is none of {}",
            SSL_MODES.join(", ")
        )));
    }
    let in_url = url.password().map(|p| {
        Secret::new(
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned(),
        )
    });
    let password = match (in_url, password_file) {
        (Some(_), Some(_)) => {
            return Err(CliError::input(
                "the password is given twice: in --to and by --password-file; give it once",
            ))
        }
        (Some(p), None) | (None, Some(p)) => Some(p),
        (None, None) => from_environment(),
    };
    // Cannot fail: the URL has a host.
    let _ = url.set_password(None);
    Ok(PostgresLocation {
        url: url.to_string(),
        password,
    })
}

/// The URL as given, its password hidden, for messages.
fn redacted(text: &str) -> String {
    match url::Url::parse(text.trim()) {
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

/// The report: what went where, each table's rows on both sides, the next
/// id each identity hands out.
fn render(report: &CopyReport, from: &str, to: &str) -> String {
    let mut out = String::new();
    if !report.replaced.is_empty() {
        let deleted = report
            .replaced
            .iter()
            .map(|t| format!("{} rows in {}", t.rows, t.table))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!("deleted first: {deleted}\n"));
    }
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5)
        .max(5);
    out.push_str(&format!(
        "{:<width$}  {:>10}  {:>10}  {:>8}\n",
        "table", "sqlite", "postgres", "next id"
    ));
    for t in &report.tables {
        let next = t.next_id.map_or_else(|| "-".to_owned(), |n| n.to_string());
        out.push_str(&format!(
            "{:<width$}  {:>10}  {:>10}  {:>8}\n",
            t.table, t.source_rows, t.target_rows, next
        ));
    }
    let rows: i64 = report.tables.iter().map(|t| t.target_rows).sum();
    out.push_str(&format!(
        "copied {from} into {to}: {} tables, {rows} rows, every count equal (migration {})\n",
        report.tables.len(),
        report.migration
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(
        text: &str,
        file: Option<&str>,
        env: Option<&str>,
    ) -> Result<PostgresLocation, String> {
        target_location(text, file.map(Secret::new), || env.map(Secret::new))
            .map_err(|e| format!("{} {}", e.code, e.message))
    }

    #[test]
    fn the_password_leaves_the_url_and_comes_from_one_place() {
        let l = location(
            "postgres://lapse:s%40cret@db:5432/lapse?sslmode=disable",
            None,
            Some("env"),
        )
        .unwrap();
        assert_eq!(l.url, "postgres://lapse@db:5432/lapse?sslmode=disable");
        assert_eq!(l.password.as_ref().map(Secret::expose), Some("s@cret"));
        let l = location("postgres://lapse@db/lapse", Some("file"), Some("env")).unwrap();
        assert_eq!(l.password.as_ref().map(Secret::expose), Some("file"));
        let l = location("postgres://lapse@db/lapse", None, Some("env")).unwrap();
        assert_eq!(l.password.as_ref().map(Secret::expose), Some("env"));
        let e = location("postgres://lapse:x@db/lapse", Some("file"), None).unwrap_err();
        assert!(e.starts_with("2 ") && e.contains("twice"), "{e}");
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        for (url, why) in [
            ("sqlite:///tmp/x.db", "not PostgreSQL"),
            ("postgres://lapse:hunter2@db", "no database"),
            (
                "postgres://lapse:hunter2@db/lapse?sslmode=sometimes",
                "sslmode",
            ),
            ("not a url", "relative URL"),
        ] {
            let e = location(url, None, None).unwrap_err();
            assert!(e.starts_with("2 ") && e.contains(why), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
