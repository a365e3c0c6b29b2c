//! A throwaway PostgreSQL cluster for tests: one per test process, started
//! on first use ([`cluster`]), on 127.0.0.1 and a free TCP port, no Unix
//! socket, durability off (fsync, synchronous_commit, full_page_writes), trust
//! authentication, 300 connections. Each test takes its own database
//! ([`PgCluster::fresh_database`]).
//!
//! The binaries (`initdb`, `pg_ctl`, `postgres`, `pg_isready`, `psql`) come
//! from PATH, or else from the highest `/usr/lib/postgresql/*/bin` (Debian's
//! `postgresql` package). As root (CI) the server runs as the `postgres` user
//! (or `nobody`): initdb refuses root.
//!
//! Teardown: statics never drop, so the cluster is watched by a small shell
//! script (running as the server's user) whose stdin is a pipe held by this
//! process. When the test process ends, however it ends, the pipe closes;
//! the script stops the server (`pg_ctl stop -m immediate`) and removes the
//! data directory. A cluster of a test's own ([`private_cluster`], for an
//! outage test: stopping the shared one would fail every other test of the
//! process) goes the same way when dropped.
//!
//! Until the store runs on PostgreSQL, only `schema_parity` uses this; the
//! items for the harness's database choice and for outage tests are marked
//! `allow(dead_code)`.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The database superuser the cluster is made with (trust: no password).
pub const USER: &str = "lapse";

const MISSING: &str = "PostgreSQL binaries (initdb, pg_ctl, postgres, pg_isready, psql) were \
    found neither on PATH nor in /usr/lib/postgresql/*/bin: install Debian's postgresql package \
    (`apt-get install postgresql`) to run the PostgreSQL tests";

/// A throwaway cluster: the process's shared one ([`cluster`]) or a
/// test's own ([`private_cluster`]). Its calls block (initdb, psql): from
/// async code, fine in a test; `spawn_blocking` where it matters.
pub struct PgCluster {
    bin: PathBuf,
    /// The temporary directory: `data/` (the cluster) and `log`.
    dir: PathBuf,
    port: u16,
    /// uid and gid the server runs as (`None`: this process's own).
    run_as: Option<(u32, u32)>,
    /// Serialises stop and start.
    control: Mutex<()>,
    next_database: AtomicU64,
    /// Held for the life of the process; closing it tears the cluster down.
    _watcher: Mutex<(Child, ChildStdin)>,
}

static CLUSTER: OnceLock<PgCluster> = OnceLock::new();

/// Whether the PostgreSQL binaries were found.
#[allow(dead_code)]
pub fn available() -> bool {
    bin_dir().is_some()
}

/// Whether the tests were asked to run on PostgreSQL
/// (`LAPSE_TEST_DATABASE=postgres`); panics, saying what to install, when
/// they were and the binaries are missing.
#[allow(dead_code)]
pub fn requested() -> bool {
    let wanted = std::env::var("LAPSE_TEST_DATABASE").is_ok_and(|v| v == "postgres");
    if wanted {
        assert!(available(), "LAPSE_TEST_DATABASE=postgres: {MISSING}");
    }
    wanted
}

/// The process's cluster, started on first use (the first caller waits for
/// it; the others wait for the first).
pub fn cluster() -> &'static PgCluster {
    CLUSTER.get_or_init(PgCluster::launch)
}

/// A cluster of the caller's own, started now (blocking: a second or two),
/// stopped and removed when dropped. For a test that stops its server.
pub fn private_cluster() -> std::sync::Arc<PgCluster> {
    std::sync::Arc::new(PgCluster::launch())
}

/// The directory holding the PostgreSQL server binaries.
fn bin_dir() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let complete = |dir: &Path| {
            ["initdb", "pg_ctl", "postgres", "pg_isready", "psql"]
                .iter()
                .all(|b| dir.join(b).is_file())
        };
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let initdb = dir.join("initdb");
                if initdb.is_file() {
                    // A symlink on PATH (/usr/local/bin/initdb) names the
                    // real directory, where its siblings are.
                    let real = std::fs::canonicalize(&initdb).ok()?;
                    let real_dir = real.parent()?.to_path_buf();
                    if complete(&real_dir) {
                        return Some(real_dir);
                    }
                    if complete(&dir) {
                        return Some(dir);
                    }
                }
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .filter(|(_, bin)| complete(bin))
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
    .clone()
}

/// uid and gid of `name` in /etc/passwd.
fn passwd_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl PgCluster {
    fn launch() -> PgCluster {
        let bin = bin_dir().unwrap_or_else(|| panic!("{MISSING}"));
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("lapse-pg-{}-{stamp}", std::process::id()));
        std::fs::create_dir(&dir).expect("cluster directory");
        // The new directory's owner is this process's effective user.
        let root = std::fs::metadata(&dir).expect("cluster directory").uid() == 0;
        let run_as = if root {
            let ids = passwd_user("postgres")
                .or_else(|| passwd_user("nobody"))
                .expect("a `postgres` or `nobody` user to run PostgreSQL as (initdb refuses root)");
            std::os::unix::fs::chown(&dir, Some(ids.0), Some(ids.1))
                .expect("hand the cluster directory to the server's user");
            Some(ids)
        } else {
            None
        };
        let port = free_port();
        let make = |watcher: (Child, ChildStdin)| PgCluster {
            bin: bin.clone(),
            dir: dir.clone(),
            port,
            run_as,
            control: Mutex::new(()),
            next_database: AtomicU64::new(1),
            _watcher: Mutex::new(watcher),
        };

        // The watcher first, so the directory goes even if initdb fails.
        let script = r#"
trap '' INT TERM HUP
cat >/dev/null
"$1/pg_ctl" -D "$2/data" stop -m immediate >/dev/null 2>&1
rm -rf "$2"
"#;
        let mut watch = Command::new("sh");
        watch
            .arg("-c")
            .arg(script)
            .arg("lapse-pg-watcher")
            .arg(&bin)
            .arg(&dir)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the test's process group: a ^C to the tests does not
            // kill the watcher before it cleans up.
            .process_group(0);
        if let Some((uid, gid)) = run_as {
            watch.uid(uid).gid(gid);
        }
        let mut child = watch.spawn().expect("start the cluster's watcher (sh)");
        let stdin = child.stdin.take().expect("watcher stdin");
        let this = make((child, stdin));

        let initdb = this
            .command("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        // Settings in postgresql.conf (the last one wins), so a restart
        // needs no options. initdb's pg_hba.conf trusts 127.0.0.1/32.
        let settings = format!(
            "\n# lapse tests\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_connections = 300\n"
        );
        let conf = dir.join("data").join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf");
        this.start_server();
        this
    }

    /// A command for one of the server binaries, as the server's user.
    fn command(&self, name: &str) -> Command {
        let mut command = Command::new(self.bin.join(name));
        command.current_dir(&self.dir);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn start_server(&self) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        self.wait_ready(Duration::from_secs(60));
    }

    /// Waits until the server accepts a connection on its TCP port.
    fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-U", USER, "-d", "postgres"])
                .arg("-p")
                .arg(self.port.to_string())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL not ready on 127.0.0.1:{} within {within:?}\nserver log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// The server's log file (in the cluster's directory, removed with it).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    #[allow(dead_code)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://{USER}@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    /// Runs one SQL statement in database `database` through psql.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args(["-U", USER, "-d", database, "-p"])
            .arg(self.port.to_string())
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new, empty database (no migrations applied); its URL.
    pub fn fresh_database(&self) -> String {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("lapse_test_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Stops the server (`pg_ctl stop -m fast`): connections fail until
    /// [`Self::start`]. On the shared [`cluster`] this fails every other
    /// test of the process: use a [`private_cluster`].
    pub fn stop(&self) {
        let _guard = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "fast", "stop"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server again on the same data directory and port.
    pub fn start(&self) {
        let _guard = self.control.lock().unwrap_or_else(|e| e.into_inner());
        self.start_server();
    }

    /// Stops the server now and starts it again after `outage`, on a thread
    /// of its own (this call returns once the server is down).
    pub fn stop_for(self: &std::sync::Arc<Self>, outage: Duration) -> std::thread::JoinHandle<()> {
        self.stop();
        let cluster = std::sync::Arc::clone(self);
        std::thread::spawn(move || {
            std::thread::sleep(outage);
            cluster.start();
        })
    }
}
