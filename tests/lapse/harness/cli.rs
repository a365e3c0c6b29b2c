//! `TestEnv`: a temporary working directory with its own config and
//! database, and a runner for the real `lapse` binary, for tests whose
//! subject is the command line (and for the CLI steps of other tests).

use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh lapse installation in a temporary directory.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database of this installation when the tests run on
    /// PostgreSQL (`LAPSE_TEST_DATABASE=postgres`); `None`: `lapse.db` here.
    pub database_url: Option<String>,
}

impl TestEnv {
    /// Config with the database in the temp dir and `.test` as a private TLD.
    pub fn new() -> Self {
        Self::with_config("")
    }

    /// As [`TestEnv::new`], with extra TOML appended to the config file.
    pub fn with_config(extra: &str) -> Self {
        Self::in_dir(tempfile::tempdir().expect("temp dir"), extra)
    }

    /// As [`TestEnv::with_config`], in a directory the caller made (and
    /// may have put files in).
    pub fn in_dir(dir: tempfile::TempDir, extra: &str) -> Self {
        Self::in_dir_on(dir, extra, super::postgres::requested())
    }

    /// As [`TestEnv::with_config`], on SQLite whatever the tests run on:
    /// for tests of SQLite's own files (its migration history, its schema).
    pub fn on_sqlite(extra: &str) -> Self {
        Self::in_dir_on(tempfile::tempdir().expect("temp dir"), extra, false)
    }

    /// As [`TestEnv::with_config`], on the PostgreSQL database `url` (a
    /// [`super::postgres::private_cluster`]'s, for outage tests).
    pub fn on_postgres(url: String, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env = Self::in_dir_on(dir, extra, false);
        let config = std::fs::read_to_string(env.config_path()).expect("config");
        let path_line = format!("path = \"{}\"", env.path("lapse.db").display());
        let config = config.replacen(&path_line, &format!("url = \"{url}\""), 1);
        std::fs::write(env.config_path(), config).expect("write config");
        env.database_url = Some(url);
        env
    }

    fn in_dir_on(dir: tempfile::TempDir, extra: &str, postgres: bool) -> Self {
        // Registries on a closed loopback port unless the test brings its own:
        // no test may reach data.iana.org or whois.iana.org.
        let rdap = if extra.contains("[rdap]") {
            ""
        } else {
            "[rdap]\nbootstrap_url = \"http://127.0.0.1:9/bootstrap.json\"\n\n"
        };
        let whois = if extra.contains("[whois]") {
            ""
        } else {
            "[whois]\niana_server = \"127.0.0.1:9\"\ntimeout_ms = 500\n\n"
        };
        // ... and no name is looked up through the machine's resolver.
        let dns = if extra.contains("[dns]") {
            ""
        } else {
            "[dns]\nnameservers = [\"127.0.0.1:9\"]\n\n"
        };
        // On PostgreSQL every installation has a fresh database of the
        // process's throwaway cluster.
        let database_url = postgres.then(|| super::postgres::cluster().fresh_database());
        let database = match &database_url {
            Some(url) => format!("url = \"{url}\""),
            None => format!("path = \"{}\"", dir.path().join("lapse.db").display()),
        };
        let config = format!(
            "[database]\n{database}\n\n[names]\nprivate_tlds = [\"test\"]\n\n{rdap}{whois}{dns}{extra}"
        );
        std::fs::write(dir.path().join("lapse.toml"), config).expect("write config");
        Self { dir, database_url }
    }

    /// A second connection pool to this installation's database (the
    /// SQLite file or the PostgreSQL database), for arranging rows no use
    /// case writes and reading facts. SQL in tests is written for both
    /// engines (`$1` placeholders).
    pub async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.path("lapse.db").display()),
        };
        sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        sqlx::Executor::execute(&mut *conn, "PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .expect("open the test database")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("lapse.toml")
    }

    /// A `lapse` command with this env's config, run in its directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lapse"));
        cmd.current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("LAPSE_CONFIG")
            .env("LAPSE_CONFIG", self.config_path())
            .args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("LAPSE_") && key.contains("__") {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run lapse");
        Run::from(output)
    }

    /// As [`TestEnv::run`], without blocking the test's runtime (for tests
    /// whose loopback servers run on it).
    pub async fn run_async(&self, args: &[&str]) -> Run {
        let output = tokio::process::Command::from(self.command(args))
            .output()
            .await
            .expect("run lapse");
        Run::from(output)
    }

    /// `lapse domains list --json` parsed.
    pub fn domains(&self) -> serde_json::Value {
        let run = self.run(&["domains", "list", "--json"]);
        assert_eq!(run.code, 0, "{run:?}");
        serde_json::from_str(&run.stdout).expect("domains list --json is JSON")
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("write file");
        path
    }
}

/// A finished command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind port 0")
}

/// One number from the test database (either engine).
pub async fn db_count(env: &TestEnv, sql: &str) -> i64 {
    let pool = env.db().await;
    let n = sqlx::query_scalar(sql)
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    n
}
