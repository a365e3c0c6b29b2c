//! Configuration: TOML file + environment -> [`RawConfig`] -> validated [`Config`].
//!
//! Layers, later wins: the built-in defaults (`config/lapse.toml`, compiled
//! in), the file given by `--config`/`LAPSE_CONFIG` (or `config/lapse.toml`
//! in the working directory when present), then `LAPSE_SECTION__KEY`
//! environment variables. Keys named in [`SECRET_KEYS`] may instead be given
//! as `KEY_file`, a path whose content becomes the value.
//!
//! Parsing rejects unknown keys and values of the wrong type; validation then
//! turns text into typed values (socket addresses, enums, TLD lists). Every
//! error names the key, where it came from, the value and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::domain::names::NamePolicy;

/// The shipped defaults; the file in the repository *is* the built-in default.
pub const DEFAULTS_TOML: &str = include_str!("../config/lapse.toml");

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "LAPSE_CONFIG";

/// Keys whose value may come from a file (`KEY_file`) and is never printed.
pub const SECRET_KEYS: &[&str] = &[
    "smtp.password",
    "webhooks.secret",
    "webhooks.slack_url",
    "webhooks.discord_url",
];

/// The effective, validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub log: LogConfig,
    pub names: NamesConfig,
    pub endpoints: EndpointsConfig,
    pub targets: TargetsConfig,
    pub dns: DnsConfig,
    pub tls: TlsConfig,
    pub rdap: RdapConfig,
    pub whois: WhoisConfig,
    pub ratelimit: RateLimitConfig,
    pub schedule: ScheduleConfig,
    pub scan: ScanConfig,
    pub alerts: AlertsConfig,
    pub smtp: SmtpConfig,
    pub api: ApiConfig,
    pub outbox: OutboxConfig,
    pub webhooks: WebhooksConfig,
    /// Where the configuration came from, for `lapse config check`.
    #[serde(skip)]
    pub origin: ConfigOrigin,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseConfig {
    pub path: PathBuf,
    pub max_connections: u32,
    #[serde(rename = "busy_timeout_ms", serialize_with = "as_millis")]
    pub busy_timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    #[serde(rename = "shutdown_grace_secs", serialize_with = "as_secs")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamesConfig {
    pub private_tlds: Vec<String>,
}

impl NamesConfig {
    pub fn policy(&self) -> NamePolicy {
        NamePolicy::with_private_tlds(self.private_tlds.iter().cloned())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointsConfig {
    pub default_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetsConfig {
    pub allow_ranges: Vec<IpNet>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsConfig {
    pub nameservers: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsConfig {
    #[serde(rename = "connect_timeout_ms", serialize_with = "as_millis")]
    pub connect_timeout: Duration,
    #[serde(rename = "handshake_timeout_ms", serialize_with = "as_millis")]
    pub handshake_timeout: Duration,
    #[serde(rename = "deadline_ms", serialize_with = "as_millis")]
    pub deadline: Duration,
    pub extra_ca_file: Option<PathBuf>,
    /// The PEM content of `extra_ca_file`, read and checked at start-up.
    #[serde(skip)]
    pub extra_ca_pem: Option<Vec<u8>>,
    pub max_chain_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RdapConfig {
    pub bootstrap_url: String,
    pub bootstrap_refresh_days: u32,
    #[serde(rename = "timeout_ms", serialize_with = "as_millis")]
    pub timeout: Duration,
    #[serde(rename = "connect_timeout_ms", serialize_with = "as_millis")]
    pub connect_timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
    pub overrides: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WhoisConfig {
    pub iana_server: String,
    #[serde(rename = "timeout_ms", serialize_with = "as_millis")]
    pub timeout: Duration,
    #[serde(rename = "deadline_ms", serialize_with = "as_millis")]
    pub deadline: Duration,
    pub max_bytes: usize,
    pub max_referrals: u8,
    #[serde(rename = "rate_limit_backoff_secs", serialize_with = "as_secs")]
    pub rate_limit_backoff: Duration,
    pub servers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerPace {
    pub per_second: f64,
    pub burst: u32,
    pub max_concurrent: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimitConfig {
    #[serde(flatten)]
    pub default: ServerPace,
    #[serde(rename = "max_wait_secs", serialize_with = "as_secs")]
    pub max_wait: Duration,
    #[serde(rename = "max_backoff_secs", serialize_with = "as_secs")]
    pub max_backoff: Duration,
    pub servers: BTreeMap<String, ServerPace>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleConfig {
    /// The cron expression as written (validated).
    pub scan: String,
    #[serde(serialize_with = "as_display")]
    pub timezone: chrono_tz::Tz,
    #[serde(rename = "jitter_secs", serialize_with = "as_secs")]
    pub jitter: Duration,
    #[serde(rename = "due_poll_secs", serialize_with = "as_secs")]
    pub due_poll: Duration,
    pub registration_near_days: i64,
    pub registration_near_interval_hours: i64,
    pub registration_far_interval_hours: i64,
    pub retry_min_minutes: i64,
    pub retry_max_hours: i64,
}

impl ScheduleConfig {
    /// The parsed cron schedule (validated at load time).
    pub fn cron(&self) -> cron::Schedule {
        self.scan
            .parse()
            .unwrap_or_else(|_| cron::Schedule::from_str("0 0 2 * * *").expect("valid literal"))
    }

    pub fn recheck_policy(&self) -> crate::domain::registration::RecheckPolicy {
        crate::domain::registration::RecheckPolicy {
            near_days: self.registration_near_days,
            near_interval: chrono::TimeDelta::hours(self.registration_near_interval_hours),
            far_interval: chrono::TimeDelta::hours(self.registration_far_interval_hours),
            retry_base: chrono::TimeDelta::minutes(self.retry_min_minutes),
            retry_cap: chrono::TimeDelta::hours(self.retry_max_hours),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanConfig {
    pub concurrency: usize,
    pub per_address_concurrency: usize,
    pub registration_concurrency: usize,
    pub batch_size: usize,
    #[serde(rename = "shutdown_grace_secs", serialize_with = "as_secs")]
    pub shutdown_grace: Duration,
}

fn as_display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertsConfig {
    /// Thresholds in days, largest first.
    pub certificate_days: Vec<u32>,
    pub registration_days: Vec<u32>,
    /// Consecutive failed checks before a check failure alerts.
    pub failures_before_alert: u32,
    /// Days without a successful registration lookup before "no fresh data".
    pub registration_stale_days: u32,
    /// Staff addresses: every alert, in copy or in a daily digest.
    pub staff: Vec<String>,
    pub staff_delivery: StaffDelivery,
    /// When the staff digest goes out (6-field cron, UTC).
    pub digest_cron: String,
    /// Who hears about lapse's own trouble (outage); empty = `staff`.
    pub operator: Vec<String>,
    /// A scan with at least this many checks ...
    pub outage_min_checks: u32,
    /// ... more than this fraction of them failed, is lapse's own outage.
    pub outage_fraction: f64,
}

/// How staff receive alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffDelivery {
    /// In copy (Cc) of every client email.
    Copy,
    /// One digest a day, grouped by client.
    Digest,
}

/// Delivery queue behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxConfig {
    #[serde(rename = "retry_base_secs", serialize_with = "as_secs")]
    pub retry_base: Duration,
    #[serde(rename = "retry_max_secs", serialize_with = "as_secs")]
    pub retry_max: Duration,
    pub max_attempts: u32,
    #[serde(rename = "sending_lease_secs", serialize_with = "as_secs")]
    pub sending_lease: Duration,
    #[serde(rename = "poll_secs", serialize_with = "as_secs")]
    pub poll: Duration,
}

/// Webhook channels; each is off while its URL is empty.
#[derive(Debug, Clone, Serialize)]
pub struct WebhooksConfig {
    pub slack_url: Option<Secret>,
    pub discord_url: Option<Secret>,
    pub url: Option<String>,
    pub secret: Option<Secret>,
    #[serde(rename = "timeout_secs", serialize_with = "as_secs")]
    pub timeout: Duration,
}

impl AlertsConfig {
    /// Where a certificate starts counting as "expiring".
    pub fn certificate_warning_days(&self) -> u32 {
        self.certificate_days.first().copied().unwrap_or(0)
    }
}

/// The JSON API (`[api]`).
#[derive(Debug, Clone, Serialize)]
pub struct ApiConfig {
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub max_body_bytes: usize,
    pub cors_origins: Vec<String>,
    #[serde(rename = "summary_cache_secs", serialize_with = "as_secs")]
    pub summary_cache: Duration,
    pub metrics_require_token: bool,
    /// `None`: readiness does not depend on the scheduler.
    #[serde(
        rename = "scheduler_heartbeat_max_age_secs",
        serialize_with = "as_secs_or_zero"
    )]
    pub scheduler_heartbeat_max_age: Option<Duration>,
    pub calendar_horizon_days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct SmtpConfig {
    /// `None` when no SMTP server is configured (messages stay in the outbox).
    pub host: Option<String>,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    #[serde(rename = "timeout_secs", serialize_with = "as_secs")]
    pub timeout: Duration,
    /// Name the server's certificate must carry, when `host` is an address
    /// or another name; `None` = `host`.
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    None,
}

/// A value that must not reach logs or output: `Debug`, `Display` and
/// `Serialize` all print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

fn as_secs_or_zero<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.map_or(0, |d| d.as_secs()))
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where the configuration was read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigOrigin {
    /// The file layered over the built-in defaults, if any.
    pub file: Option<PathBuf>,
    /// Environment variables that overrode keys, as (variable, key).
    pub env_overrides: Vec<(String, String)>,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(path) => write!(f, "{} over the built-in defaults", path.display())?,
            None => f.write_str("the built-in defaults")?,
        }
        if !self.env_overrides.is_empty() {
            let vars: Vec<&str> = self.env_overrides.iter().map(|(v, _)| v.as_str()).collect();
            write!(f, ", with {}", vars.join(", "))?;
        }
        Ok(())
    }
}

/// Why the configuration cannot be used. Each names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("unknown key `{key}` ({origin}); expected one of: {expected}")]
    UnknownKey {
        key: String,
        origin: String,
        expected: String,
    },
    #[error("bad value for `{key}` ({origin}): {value}; expected {expected}")]
    BadValue {
        key: String,
        origin: String,
        value: String,
        expected: String,
    },
    #[error("missing required value `{key}`: {why}")]
    Missing { key: String, why: String },
    #[error("environment variable {var} does not name a config key: {why}")]
    BadEnvVar { var: String, why: String },
    #[error("cannot read the secret file {path} for `{key}`: {source}")]
    SecretFile {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

// ---------------------------------------------------------------------------
// Raw layer: exactly the TOML shape, unknown keys rejected.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: RawDatabase,
    server: RawServer,
    log: RawLog,
    names: RawNames,
    endpoints: RawEndpoints,
    targets: RawTargets,
    dns: RawDns,
    tls: RawTls,
    rdap: RawRdap,
    whois: RawWhois,
    ratelimit: RawRateLimit,
    schedule: RawSchedule,
    scan: RawScan,
    alerts: RawAlerts,
    smtp: RawSmtp,
    api: RawApi,
    outbox: RawOutbox,
    webhooks: RawWebhooks,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    rate_limit_per_second: u32,
    rate_limit_burst: u32,
    max_body_bytes: usize,
    cors_origins: Vec<String>,
    summary_cache_secs: u64,
    metrics_require_token: bool,
    scheduler_heartbeat_max_age_secs: u64,
    calendar_horizon_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    retry_base_secs: u64,
    retry_max_secs: u64,
    max_attempts: u32,
    sending_lease_secs: u64,
    poll_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhooks {
    #[serde(default)]
    slack_url: Option<Secret>,
    #[serde(default)]
    discord_url: Option<Secret>,
    url: String,
    #[serde(default)]
    secret: Option<Secret>,
    timeout_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    scan: String,
    timezone: String,
    jitter_secs: u64,
    due_poll_secs: u64,
    registration_near_days: i64,
    registration_near_interval_hours: i64,
    registration_far_interval_hours: i64,
    retry_min_minutes: i64,
    retry_max_hours: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScan {
    concurrency: usize,
    per_address_concurrency: usize,
    registration_concurrency: usize,
    batch_size: usize,
    shutdown_grace_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRdap {
    bootstrap_url: String,
    bootstrap_refresh_days: u32,
    timeout_ms: u64,
    connect_timeout_ms: u64,
    max_bytes: usize,
    max_redirects: usize,
    #[serde(default)]
    overrides: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhois {
    iana_server: String,
    timeout_ms: u64,
    deadline_ms: u64,
    max_bytes: usize,
    max_referrals: u8,
    rate_limit_backoff_secs: u64,
    #[serde(default)]
    servers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    per_second: f64,
    burst: u32,
    max_concurrent: usize,
    max_wait_secs: u64,
    max_backoff_secs: u64,
    #[serde(default)]
    servers: BTreeMap<String, ServerPace>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    allow_ranges: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    nameservers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    connect_timeout_ms: u64,
    handshake_timeout_ms: u64,
    deadline_ms: u64,
    extra_ca_file: String,
    max_chain_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    certificate_days: Vec<u32>,
    registration_days: Vec<u32>,
    failures_before_alert: u32,
    registration_stale_days: u32,
    staff: Vec<String>,
    staff_delivery: StaffDelivery,
    digest_cron: String,
    operator: Vec<String>,
    outage_min_checks: u32,
    outage_fraction: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    path: String,
    max_connections: u32,
    busy_timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
    shutdown_grace_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: String,
    format: LogFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNames {
    private_tlds: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    default_port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: u16,
    security: SmtpSecurity,
    username: String,
    #[serde(default)]
    password: Option<Secret>,
    from: String,
    timeout_secs: u64,
    tls_server_name: String,
}

// ---------------------------------------------------------------------------
// Loading

/// Where to look for a config file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config PATH`.
    pub explicit_path: Option<PathBuf>,
}

impl Config {
    /// Loads from the process environment: `--config`, else `LAPSE_CONFIG`,
    /// else `config/lapse.toml` when present, else the built-in defaults;
    /// then `LAPSE_*__*` overrides.
    pub fn load(options: &LoadOptions) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let path = options
            .explicit_path
            .clone()
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
            .or_else(|| {
                let local = PathBuf::from("config/lapse.toml");
                local.is_file().then_some(local)
            });
        let file = match &path {
            Some(p) => Some((
                p.clone(),
                std::fs::read_to_string(p).map_err(|source| ConfigError::ReadFile {
                    path: p.clone(),
                    source,
                })?,
            )),
            None => None,
        };
        Self::from_sources(file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())), &env)
    }

    /// Builds the configuration from an optional file text and an
    /// environment, without touching the process (for tests).
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut table = parse_toml(Path::new("<built-in defaults>"), DEFAULTS_TOML)?;
        let mut origin = ConfigOrigin::default();
        let mut key_origins: BTreeMap<String, String> = BTreeMap::new();
        if let Some((path, text)) = file {
            let overlay = parse_toml(path, text)?;
            record_origins(
                &overlay,
                "",
                &format!("in {}", path.display()),
                &mut key_origins,
            );
            merge(&mut table, overlay);
            origin.file = Some(path.to_path_buf());
        }
        for (var, key) in apply_env(&mut table, env)? {
            key_origins.insert(key.clone(), format!("set by {var}"));
            origin.env_overrides.push((var, key));
        }
        resolve_secret_files(&mut table, &key_origins)?;
        let origin_of = |key: &str| {
            key_origins
                .get(key)
                .cloned()
                .unwrap_or_else(|| "built-in default".to_owned())
        };
        let raw: RawConfig = deserialize_raw(table, &origin_of)?;
        validate(raw, origin, &origin_of)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn parse_toml(path: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_owned(),
        })
}

fn record_origins(
    table: &toml::Table,
    prefix: &str,
    origin: &str,
    out: &mut BTreeMap<String, String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => record_origins(inner, &path, origin, out),
            _ => {
                out.insert(path, origin.to_owned());
            }
        }
    }
}

/// Deep merge: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Applies `LAPSE_SECTION__KEY=value` variables; returns (variable, key) pairs.
fn apply_env(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut applied = Vec::new();
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("LAPSE_") && k.contains("__"))
        .collect();
    vars.sort();
    for (var, raw_value) in vars {
        let rest = &var["LAPSE_".len()..];
        let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if parts.len() != 2 || parts.iter().any(String::is_empty) {
            return Err(ConfigError::BadEnvVar {
                var: var.clone(),
                why: "expected LAPSE_<SECTION>__<KEY>, e.g. LAPSE_SERVER__LISTEN".into(),
            });
        }
        let (section, key) = (&parts[0], &parts[1]);
        let existing = table
            .get(section)
            .and_then(|s| s.as_table())
            .and_then(|s| s.get(key));
        let value = env_value(raw_value, existing);
        let section_table = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section_table {
            toml::Value::Table(t) => {
                t.insert(key.clone(), value);
            }
            _ => {
                return Err(ConfigError::BadEnvVar {
                    var: var.clone(),
                    why: format!("`{section}` is not a section"),
                })
            }
        }
        applied.push((var.clone(), format!("{section}.{key}")));
    }
    Ok(applied)
}

/// Types an environment value like the key it replaces: text stays text,
/// anything else is read as a TOML value (`8`, `true`, `["a", "b"]`).
fn env_value(raw: &str, existing: Option<&toml::Value>) -> toml::Value {
    if matches!(existing, Some(toml::Value::String(_))) {
        return toml::Value::String(raw.to_owned());
    }
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !matches!(v, toml::Value::Datetime(_)))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Replaces `KEY_file = "path"` of a secret key with the file's content.
fn resolve_secret_files(
    table: &mut toml::Table,
    origins: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for secret in SECRET_KEYS {
        let Some((section, key)) = secret.split_once('.') else {
            continue;
        };
        let Some(toml::Value::Table(section_table)) = table.get_mut(section) else {
            continue;
        };
        let file_key = format!("{key}_file");
        let Some(path_value) = section_table.remove(&file_key) else {
            continue;
        };
        let file_origin = origins
            .get(&format!("{section}.{file_key}"))
            .cloned()
            .unwrap_or_default();
        let path = match path_value {
            toml::Value::String(p) if !p.is_empty() => PathBuf::from(p),
            other => {
                return Err(ConfigError::BadValue {
                    key: format!("{section}.{file_key}"),
                    origin: file_origin,
                    value: other.to_string(),
                    expected: "the path of a file holding the secret".into(),
                })
            }
        };
        if section_table.contains_key(key) {
            return Err(ConfigError::BadValue {
                key: format!("{section}.{file_key}"),
                origin: file_origin,
                value: path.display().to_string(),
                expected: format!("either `{secret}` or `{secret}_file`, not both"),
            });
        }
        let content = std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
            key: (*secret).to_owned(),
            path: path.clone(),
            source,
        })?;
        let value = content.strip_suffix('\n').unwrap_or(&content);
        let value = value.strip_suffix('\r').unwrap_or(value);
        section_table.insert(key.to_owned(), toml::Value::String(value.to_owned()));
    }
    Ok(())
}

fn deserialize_raw(
    table: toml::Table,
    origin_of: &dyn Fn(&str) -> String,
) -> Result<RawConfig, ConfigError> {
    let value = toml::Value::Table(table.clone());
    serde_path_to_error::deserialize::<_, RawConfig>(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        classify_serde_error(&table, &path, &inner, origin_of)
    })
}

/// Turns serde's message into an error naming key, value and expectation.
fn classify_serde_error(
    table: &toml::Table,
    path: &str,
    message: &str,
    origin_of: &dyn Fn(&str) -> String,
) -> ConfigError {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let expected = rest
            .split_once("expected ")
            .map(|(_, e)| e.lines().next().unwrap_or_default().replace('`', ""))
            .unwrap_or_default();
        // serde_path_to_error reports the path of the table holding the key.
        let key = if path.is_empty() || path == "." || path.ends_with(field) {
            path.trim_start_matches('.').to_owned()
        } else {
            format!("{path}.{field}")
        };
        let key = if key.is_empty() {
            field.to_owned()
        } else {
            key
        };
        return ConfigError::UnknownKey {
            origin: origin_of(&key),
            key,
            expected,
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let key = if path.is_empty() || path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return ConfigError::Missing {
            key,
            why: "no value given and no default".into(),
        };
    }
    let value = lookup(table, path)
        .map(|v| v.to_string())
        .unwrap_or_else(|| "?".into());
    let expected = message
        .split_once("expected ")
        .map(|(_, e)| e.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| message.lines().next().unwrap_or_default().to_owned());
    ConfigError::BadValue {
        key: path.to_owned(),
        origin: origin_of(path),
        value,
        expected,
    }
}

fn lookup<'t>(table: &'t toml::Table, path: &str) -> Option<&'t toml::Value> {
    let mut parts = path.split('.');
    let mut current = table.get(parts.next()?)?;
    for part in parts {
        current = match current {
            toml::Value::Table(t) => t.get(part)?,
            toml::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

// ---------------------------------------------------------------------------
// Validation: raw text -> typed values.

fn validate(
    raw: RawConfig,
    origin: ConfigOrigin,
    origin_of: &dyn Fn(&str) -> String,
) -> Result<Config, ConfigError> {
    let bad = |key: &str, value: &dyn fmt::Display, expected: &str| ConfigError::BadValue {
        key: key.to_owned(),
        origin: origin_of(key),
        value: format!("\"{value}\""),
        expected: expected.to_owned(),
    };

    if raw.database.path.trim().is_empty() {
        return Err(bad(
            "database.path",
            &raw.database.path,
            "the path of the SQLite file",
        ));
    }
    if raw.database.max_connections == 0 {
        return Err(bad("database.max_connections", &0, "at least 1"));
    }
    let listen: SocketAddr = raw.server.listen.parse().map_err(|_| {
        bad(
            "server.listen",
            &raw.server.listen,
            "an IP address and port such as 127.0.0.1:8080",
        )
    })?;
    if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
        return Err(bad(
            "log.level",
            &raw.log.level,
            "trace, debug, info, warn, error or a tracing filter directive",
        ));
    }
    let mut private_tlds = Vec::new();
    for tld in &raw.names.private_tlds {
        let clean = tld.trim().trim_start_matches('.').to_ascii_lowercase();
        let valid = !clean.is_empty()
            && clean.len() <= 63
            && !clean.contains('.')
            && clean
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(bad(
                "names.private_tlds",
                tld,
                "single labels such as \"test\" or \"internal\"",
            ));
        }
        private_tlds.push(clean);
    }
    if raw.endpoints.default_port == 0 {
        return Err(bad("endpoints.default_port", &0, "a port from 1 to 65535"));
    }

    let mut allow_ranges = Vec::new();
    for range in &raw.targets.allow_ranges {
        let net: IpNet = range
            .trim()
            .parse()
            .or_else(|_| range.trim().parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                bad(
                    "targets.allow_ranges",
                    range,
                    "CIDR ranges such as \"127.0.0.0/8\" or \"::1/128\"",
                )
            })?;
        allow_ranges.push(net);
    }
    let mut nameservers = Vec::new();
    for server in &raw.dns.nameservers {
        let addr = server
            .trim()
            .parse::<SocketAddr>()
            .or_else(|_| {
                server
                    .trim()
                    .parse::<IpAddr>()
                    .map(|ip| SocketAddr::new(ip, 53))
            })
            .map_err(|_| {
                bad(
                    "dns.nameservers",
                    server,
                    "resolver addresses such as \"127.0.0.1:5353\" or \"9.9.9.9\"",
                )
            })?;
        nameservers.push(addr);
    }
    for (key, ms) in [
        ("tls.connect_timeout_ms", raw.tls.connect_timeout_ms),
        ("tls.handshake_timeout_ms", raw.tls.handshake_timeout_ms),
        ("tls.deadline_ms", raw.tls.deadline_ms),
    ] {
        if ms == 0 {
            return Err(bad(key, &0, "a positive number of milliseconds"));
        }
    }
    if raw.tls.max_chain_bytes < 1024 {
        return Err(bad(
            "tls.max_chain_bytes",
            &raw.tls.max_chain_bytes,
            "at least 1024 bytes",
        ));
    }
    let extra_ca_file = Some(raw.tls.extra_ca_file.trim().to_owned())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let extra_ca_pem = match &extra_ca_file {
        None => None,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| ConfigError::BadValue {
                key: "tls.extra_ca_file".into(),
                origin: origin_of("tls.extra_ca_file"),
                value: format!("\"{}\"", path.display()),
                expected: format!("a readable PEM file of CA certificates ({e})"),
            })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(bad(
                    "tls.extra_ca_file",
                    &path.display(),
                    "a PEM file holding at least one -----BEGIN CERTIFICATE----- block",
                ));
            }
            Some(pem)
        }
    };
    let certificate_days =
        thresholds("alerts.certificate_days", raw.alerts.certificate_days, &bad)?;
    let registration_days = thresholds(
        "alerts.registration_days",
        raw.alerts.registration_days,
        &bad,
    )?;

    let schedule = validate_schedule(raw.schedule, &bad)?;
    for (key, n) in [
        ("scan.concurrency", raw.scan.concurrency),
        (
            "scan.registration_concurrency",
            raw.scan.registration_concurrency,
        ),
        ("scan.batch_size", raw.scan.batch_size),
    ] {
        if n == 0 {
            return Err(bad(key, &0, "at least 1"));
        }
    }
    let scan = ScanConfig {
        concurrency: raw.scan.concurrency,
        per_address_concurrency: raw.scan.per_address_concurrency,
        registration_concurrency: raw.scan.registration_concurrency,
        batch_size: raw.scan.batch_size,
        shutdown_grace: Duration::from_secs(raw.scan.shutdown_grace_secs),
    };
    let rdap = validate_rdap(raw.rdap, &bad)?;
    let whois = validate_whois(raw.whois, &bad)?;
    let ratelimit = validate_ratelimit(raw.ratelimit, &bad)?;

    let api = validate_api(raw.api, &bad)?;

    let smtp_host = Some(raw.smtp.host.trim().to_owned()).filter(|h| !h.is_empty());
    let username = Some(raw.smtp.username.trim().to_owned()).filter(|u| !u.is_empty());
    if username.is_some() && raw.smtp.password.is_none() {
        return Err(ConfigError::Missing {
            key: "smtp.password".into(),
            why: "`smtp.username` is set; give the password with `smtp.password_file`, `smtp.password` or LAPSE_SMTP__PASSWORD".into(),
        });
    }
    if !raw.smtp.from.contains('@') {
        return Err(bad(
            "smtp.from",
            &raw.smtp.from,
            "a mailbox such as \"lapse <lapse@example.com>\"",
        ));
    }
    if raw.smtp.timeout_secs == 0 {
        return Err(bad("smtp.timeout_secs", &0, "at least 1 second"));
    }
    let tls_server_name =
        Some(raw.smtp.tls_server_name.trim().to_owned()).filter(|n| !n.is_empty());
    if let Some(name) = &tls_server_name {
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            return Err(bad(
                "smtp.tls_server_name",
                name,
                "a DNS name such as \"mail.example.com\" (or empty for `smtp.host`)",
            ));
        }
    }

    if raw.alerts.failures_before_alert == 0 || raw.alerts.failures_before_alert > 100 {
        return Err(bad(
            "alerts.failures_before_alert",
            &raw.alerts.failures_before_alert,
            "a number of consecutive failed checks from 1 to 100",
        ));
    }
    if raw.alerts.registration_stale_days == 0 || raw.alerts.registration_stale_days > 3650 {
        return Err(bad(
            "alerts.registration_stale_days",
            &raw.alerts.registration_stale_days,
            "days from 1 to 3650",
        ));
    }
    let addresses = |key: &str, list: &[String]| -> Result<Vec<String>, ConfigError> {
        list.iter()
            .map(|address| {
                crate::domain::names::parse_email(address).map_err(|_| {
                    bad(
                        key,
                        address,
                        "email addresses such as \"ops@agency.example\"",
                    )
                })
            })
            .collect()
    };
    let staff = addresses("alerts.staff", &raw.alerts.staff)?;
    let operator = addresses("alerts.operator", &raw.alerts.operator)?;
    if raw.alerts.staff_delivery == StaffDelivery::Digest && staff.is_empty() {
        return Err(bad(
            "alerts.staff_delivery",
            &"digest",
            "\"copy\" unless `alerts.staff` lists the addresses that get the digest",
        ));
    }
    if raw.alerts.digest_cron.parse::<cron::Schedule>().is_err() {
        return Err(bad(
            "alerts.digest_cron",
            &raw.alerts.digest_cron,
            "a cron expression with seconds, e.g. \"0 0 7 * * *\" (07:00 UTC daily)",
        ));
    }
    if raw.alerts.outage_min_checks == 0 {
        return Err(bad("alerts.outage_min_checks", &0, "at least 1 check"));
    }
    if !(raw.alerts.outage_fraction > 0.0 && raw.alerts.outage_fraction < 1.0) {
        return Err(bad(
            "alerts.outage_fraction",
            &raw.alerts.outage_fraction,
            "a fraction between 0 and 1, e.g. 0.5 (more than half failed)",
        ));
    }

    for (key, secs) in [
        ("outbox.retry_base_secs", raw.outbox.retry_base_secs),
        ("outbox.retry_max_secs", raw.outbox.retry_max_secs),
        ("outbox.sending_lease_secs", raw.outbox.sending_lease_secs),
        ("outbox.poll_secs", raw.outbox.poll_secs),
    ] {
        if secs == 0 {
            return Err(bad(key, &0, "at least 1 second"));
        }
    }
    if raw.outbox.retry_max_secs < raw.outbox.retry_base_secs {
        return Err(bad(
            "outbox.retry_max_secs",
            &raw.outbox.retry_max_secs,
            "at least `outbox.retry_base_secs`",
        ));
    }
    if raw.outbox.max_attempts == 0 {
        return Err(bad("outbox.max_attempts", &0, "at least 1 attempt"));
    }
    if raw.outbox.sending_lease_secs <= raw.smtp.timeout_secs.max(raw.webhooks.timeout_secs) {
        return Err(bad(
            "outbox.sending_lease_secs",
            &raw.outbox.sending_lease_secs,
            "longer than `smtp.timeout_secs` and `webhooks.timeout_secs`, so a live sender keeps its messages",
        ));
    }

    for (key, value) in [
        (
            "webhooks.slack_url",
            raw.webhooks.slack_url.as_ref().map(Secret::expose),
        ),
        (
            "webhooks.discord_url",
            raw.webhooks.discord_url.as_ref().map(Secret::expose),
        ),
        ("webhooks.url", Some(raw.webhooks.url.as_str())),
    ] {
        let value = value.unwrap_or_default().trim();
        let is_url = value.starts_with("https://") || value.starts_with("http://");
        if !value.is_empty() && !is_url {
            let shown = if key == "webhooks.url" {
                value
            } else {
                "[redacted]"
            };
            return Err(bad(
                key,
                &shown,
                "an http:// or https:// URL, or empty for none",
            ));
        }
    }
    let secret_or_empty = |s: Option<Secret>| s.filter(|s| !s.expose().trim().is_empty());
    let webhook_url = Some(raw.webhooks.url.trim().to_owned()).filter(|u| !u.is_empty());
    let webhook_secret = secret_or_empty(raw.webhooks.secret);
    if webhook_url.is_some() && webhook_secret.is_none() {
        return Err(ConfigError::Missing {
            key: "webhooks.secret".into(),
            why: "`webhooks.url` is set; its HMAC key comes from `webhooks.secret_file`, `webhooks.secret` or LAPSE_WEBHOOKS__SECRET".into(),
        });
    }
    if raw.webhooks.timeout_secs == 0 {
        return Err(bad("webhooks.timeout_secs", &0, "at least 1 second"));
    }

    Ok(Config {
        database: DatabaseConfig {
            path: PathBuf::from(raw.database.path),
            max_connections: raw.database.max_connections,
            busy_timeout: Duration::from_millis(raw.database.busy_timeout_ms),
        },
        server: ServerConfig {
            listen,
            shutdown_grace: Duration::from_secs(raw.server.shutdown_grace_secs),
        },
        log: LogConfig {
            level: raw.log.level,
            format: raw.log.format,
        },
        names: NamesConfig { private_tlds },
        endpoints: EndpointsConfig {
            default_port: raw.endpoints.default_port,
        },
        targets: TargetsConfig { allow_ranges },
        dns: DnsConfig { nameservers },
        tls: TlsConfig {
            connect_timeout: Duration::from_millis(raw.tls.connect_timeout_ms),
            handshake_timeout: Duration::from_millis(raw.tls.handshake_timeout_ms),
            deadline: Duration::from_millis(raw.tls.deadline_ms),
            extra_ca_file,
            extra_ca_pem,
            max_chain_bytes: raw.tls.max_chain_bytes,
        },
        rdap,
        whois,
        ratelimit,
        schedule,
        scan,
        alerts: AlertsConfig {
            certificate_days,
            registration_days,
            failures_before_alert: raw.alerts.failures_before_alert,
            registration_stale_days: raw.alerts.registration_stale_days,
            staff,
            staff_delivery: raw.alerts.staff_delivery,
            digest_cron: raw.alerts.digest_cron.trim().to_owned(),
            operator,
            outage_min_checks: raw.alerts.outage_min_checks,
            outage_fraction: raw.alerts.outage_fraction,
        },
        api,
        smtp: SmtpConfig {
            host: smtp_host,
            port: raw.smtp.port,
            security: raw.smtp.security,
            username,
            password: raw.smtp.password,
            from: raw.smtp.from,
            timeout: Duration::from_secs(raw.smtp.timeout_secs),
            tls_server_name,
        },
        outbox: OutboxConfig {
            retry_base: Duration::from_secs(raw.outbox.retry_base_secs),
            retry_max: Duration::from_secs(raw.outbox.retry_max_secs),
            max_attempts: raw.outbox.max_attempts,
            sending_lease: Duration::from_secs(raw.outbox.sending_lease_secs),
            poll: Duration::from_secs(raw.outbox.poll_secs),
        },
        webhooks: WebhooksConfig {
            slack_url: secret_or_empty(raw.webhooks.slack_url),
            discord_url: secret_or_empty(raw.webhooks.discord_url),
            url: webhook_url,
            secret: webhook_secret,
            timeout: Duration::from_secs(raw.webhooks.timeout_secs),
        },
        origin,
    })
}

type BadValue<'a> = &'a dyn Fn(&str, &dyn fmt::Display, &str) -> ConfigError;

fn positive_ms(key: &str, ms: u64, bad: BadValue<'_>) -> Result<Duration, ConfigError> {
    if ms == 0 {
        return Err(bad(key, &0, "a positive number of milliseconds"));
    }
    Ok(Duration::from_millis(ms))
}

fn validate_schedule(raw: RawSchedule, bad: BadValue<'_>) -> Result<ScheduleConfig, ConfigError> {
    if let Err(e) = cron::Schedule::from_str(&raw.scan) {
        return Err(bad(
            "schedule.scan",
            &raw.scan,
            &format!("a cron expression with seconds first, e.g. \"0 0 2 * * *\" for 02:00 every day ({e})"),
        ));
    }
    let timezone: chrono_tz::Tz = raw.timezone.parse().map_err(|_| {
        bad(
            "schedule.timezone",
            &raw.timezone,
            "an IANA time zone name such as \"UTC\" or \"Europe/Berlin\"",
        )
    })?;
    for (key, v) in [
        (
            "schedule.registration_near_days",
            raw.registration_near_days,
        ),
        (
            "schedule.registration_near_interval_hours",
            raw.registration_near_interval_hours,
        ),
        (
            "schedule.registration_far_interval_hours",
            raw.registration_far_interval_hours,
        ),
        ("schedule.retry_min_minutes", raw.retry_min_minutes),
        ("schedule.retry_max_hours", raw.retry_max_hours),
    ] {
        if !(1..=100_000).contains(&v) {
            return Err(bad(key, &v, "a positive number"));
        }
    }
    if raw.due_poll_secs == 0 {
        return Err(bad("schedule.due_poll_secs", &0, "at least 1 second"));
    }
    Ok(ScheduleConfig {
        scan: raw.scan,
        timezone,
        jitter: Duration::from_secs(raw.jitter_secs),
        due_poll: Duration::from_secs(raw.due_poll_secs),
        registration_near_days: raw.registration_near_days,
        registration_near_interval_hours: raw.registration_near_interval_hours,
        registration_far_interval_hours: raw.registration_far_interval_hours,
        retry_min_minutes: raw.retry_min_minutes,
        retry_max_hours: raw.retry_max_hours,
    })
}

fn validate_rdap(raw: RawRdap, bad: BadValue<'_>) -> Result<RdapConfig, ConfigError> {
    let url_ok = |u: &str| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !url_ok(&raw.bootstrap_url) {
        return Err(bad(
            "rdap.bootstrap_url",
            &raw.bootstrap_url,
            "an http(s) URL",
        ));
    }
    let mut overrides = BTreeMap::new();
    for (tld, base) in raw.overrides {
        if !url_ok(&base) {
            return Err(bad(
                &format!("rdap.overrides.{tld}"),
                &base,
                "an RDAP base URL such as \"https://rdap.example/\"",
            ));
        }
        overrides.insert(tld.trim_start_matches('.').to_ascii_lowercase(), base);
    }
    if raw.bootstrap_refresh_days == 0 {
        return Err(bad("rdap.bootstrap_refresh_days", &0, "at least 1 day"));
    }
    Ok(RdapConfig {
        bootstrap_url: raw.bootstrap_url,
        bootstrap_refresh_days: raw.bootstrap_refresh_days,
        timeout: positive_ms("rdap.timeout_ms", raw.timeout_ms, bad)?,
        connect_timeout: positive_ms("rdap.connect_timeout_ms", raw.connect_timeout_ms, bad)?,
        max_bytes: raw.max_bytes.max(1024),
        max_redirects: raw.max_redirects,
        overrides,
    })
}

fn validate_whois(raw: RawWhois, bad: BadValue<'_>) -> Result<WhoisConfig, ConfigError> {
    let host_ok =
        |h: &str| !h.trim().is_empty() && !h.contains(char::is_whitespace) && !h.contains('/');
    if !host_ok(&raw.iana_server) {
        return Err(bad(
            "whois.iana_server",
            &raw.iana_server,
            "a host[:port] such as \"whois.iana.org\"",
        ));
    }
    let mut servers = BTreeMap::new();
    for (suffix, host) in raw.servers {
        if !host_ok(&host) {
            return Err(bad(
                &format!("whois.servers.{suffix}"),
                &host,
                "a host[:port] such as \"whois.denic.de\"",
            ));
        }
        servers.insert(suffix.trim_start_matches('.').to_ascii_lowercase(), host);
    }
    Ok(WhoisConfig {
        iana_server: raw.iana_server,
        timeout: positive_ms("whois.timeout_ms", raw.timeout_ms, bad)?,
        deadline: positive_ms("whois.deadline_ms", raw.deadline_ms, bad)?,
        max_bytes: raw.max_bytes.max(1024),
        max_referrals: raw.max_referrals,
        rate_limit_backoff: Duration::from_secs(raw.rate_limit_backoff_secs),
        servers,
    })
}

fn validate_pace(
    key: &str,
    pace: ServerPace,
    bad: BadValue<'_>,
) -> Result<ServerPace, ConfigError> {
    if !(pace.per_second.is_finite() && pace.per_second > 0.0) {
        return Err(bad(
            &format!("{key}per_second"),
            &pace.per_second,
            "a positive number of requests per second (0.5 = one every two seconds)",
        ));
    }
    if pace.burst == 0 {
        return Err(bad(&format!("{key}burst"), &0, "at least 1"));
    }
    if pace.max_concurrent == 0 {
        return Err(bad(&format!("{key}max_concurrent"), &0, "at least 1"));
    }
    Ok(pace)
}

fn validate_ratelimit(
    raw: RawRateLimit,
    bad: BadValue<'_>,
) -> Result<RateLimitConfig, ConfigError> {
    let default = validate_pace(
        "ratelimit.",
        ServerPace {
            per_second: raw.per_second,
            burst: raw.burst,
            max_concurrent: raw.max_concurrent,
        },
        bad,
    )?;
    let mut servers = BTreeMap::new();
    for (server, pace) in raw.servers {
        let pace = validate_pace(&format!("ratelimit.servers.\"{server}\"."), pace, bad)?;
        servers.insert(server.to_ascii_lowercase(), pace);
    }
    Ok(RateLimitConfig {
        default,
        max_wait: Duration::from_secs(raw.max_wait_secs),
        max_backoff: Duration::from_secs(raw.max_backoff_secs),
        servers,
    })
}

fn validate_api(
    raw: RawApi,
    bad: &dyn Fn(&str, &dyn fmt::Display, &str) -> ConfigError,
) -> Result<ApiConfig, ConfigError> {
    if raw.rate_limit_per_second == 0 {
        return Err(bad(
            "api.rate_limit_per_second",
            &0,
            "at least 1 request per second",
        ));
    }
    if raw.rate_limit_burst == 0 {
        return Err(bad("api.rate_limit_burst", &0, "at least 1 request"));
    }
    if raw.max_body_bytes < 1024 {
        return Err(bad(
            "api.max_body_bytes",
            &raw.max_body_bytes,
            "at least 1024 bytes",
        ));
    }
    let mut cors_origins = Vec::new();
    for origin in &raw.cors_origins {
        let origin = origin.trim().trim_end_matches('/');
        let (scheme, host) = origin.split_once("://").unwrap_or(("", ""));
        let valid = matches!(scheme, "http" | "https")
            && !host.is_empty()
            && !host.contains(['/', ' ', '*'])
            && axum::http::HeaderValue::from_str(origin).is_ok();
        if !valid {
            return Err(bad(
                "api.cors_origins",
                &origin,
                "origins such as \"https://dashboard.example.com\" (scheme and host, no path, no wildcard)",
            ));
        }
        cors_origins.push(origin.to_owned());
    }
    if raw.calendar_horizon_days == 0 || raw.calendar_horizon_days > 3650 {
        return Err(bad(
            "api.calendar_horizon_days",
            &raw.calendar_horizon_days,
            "days from 1 to 3650",
        ));
    }
    Ok(ApiConfig {
        rate_limit_per_second: raw.rate_limit_per_second,
        rate_limit_burst: raw.rate_limit_burst,
        max_body_bytes: raw.max_body_bytes,
        cors_origins,
        summary_cache: Duration::from_secs(raw.summary_cache_secs),
        metrics_require_token: raw.metrics_require_token,
        scheduler_heartbeat_max_age: (raw.scheduler_heartbeat_max_age_secs > 0)
            .then(|| Duration::from_secs(raw.scheduler_heartbeat_max_age_secs)),
        calendar_horizon_days: raw.calendar_horizon_days,
    })
}

/// Threshold lists: not empty, sorted largest first, duplicates removed.
fn thresholds(
    key: &str,
    mut days: Vec<u32>,
    bad: &dyn Fn(&str, &dyn fmt::Display, &str) -> ConfigError,
) -> Result<Vec<u32>, ConfigError> {
    if days.is_empty() {
        return Err(bad(
            key,
            &"[]",
            "at least one number of days, e.g. [30, 14, 7, 3, 1, 0]",
        ));
    }
    if let Some(d) = days.iter().find(|d| **d > 3650) {
        return Err(bad(key, d, "days from 0 to 3650"));
    }
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn load(file: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(Some((Path::new("test.toml"), file)), &env(vars))
    }

    #[test]
    fn shipped_file_loads_and_equals_the_built_in_defaults() {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/lapse.toml"))
                .expect("config/lapse.toml is shipped");
        let from_file = load(&shipped, &[]).expect("shipped config is valid");
        let built_in = Config::from_sources(None, &[]).expect("defaults are valid");
        assert_eq!(from_file.to_redacted_toml(), built_in.to_redacted_toml());
        assert_eq!(built_in.server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(built_in.log.format, LogFormat::Human);
        assert!(built_in.smtp.host.is_none());
    }

    #[test]
    fn misspelled_key_is_named_with_its_section() {
        let err = load("[server]\nlisen = \"127.0.0.1:9\"\n", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::UnknownKey { .. }), "{msg}");
        assert!(msg.contains("`server.lisen`"), "{msg}");
        assert!(msg.contains("listen"), "{msg}");
        assert!(msg.contains("test.toml"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg:?}");
    }

    #[test]
    fn unknown_section_is_named() {
        let msg = load("[sever]\nlisten = \"127.0.0.1:9\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`sever`"), "{msg}");
    }

    #[test]
    fn wrong_type_names_key_value_and_expectation() {
        let msg = load("[database]\nmax_connections = \"many\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`database.max_connections`"), "{msg}");
        assert!(msg.contains("many"), "{msg}");
        assert!(msg.contains("expected"), "{msg}");
    }

    #[test]
    fn bad_listen_address_is_rejected_with_an_example() {
        let msg = load("[server]\nlisten = \"localhost\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`server.listen`")
                && msg.contains("\"localhost\"")
                && msg.contains("127.0.0.1:8080"),
            "{msg}"
        );
    }

    #[test]
    fn bad_enum_value_lists_the_choices() {
        let msg = load("[log]\nformat = \"xml\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`log.format`") && msg.contains("human") && msg.contains("json"),
            "{msg}"
        );
    }

    #[test]
    fn environment_overrides_keys_with_their_types() {
        let config = load(
            "",
            &[
                ("LAPSE_SERVER__LISTEN", "0.0.0.0:9000"),
                ("LAPSE_DATABASE__MAX_CONNECTIONS", "3"),
                ("LAPSE_NAMES__PRIVATE_TLDS", "[\"test\", \"Internal\"]"),
                ("LAPSE_LOG__FORMAT", "json"),
            ],
        )
        .unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.database.max_connections, 3);
        assert_eq!(config.names.private_tlds, vec!["test", "internal"]);
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.origin.env_overrides.len(), 4);
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let msg = load("", &[("LAPSE_DATABASE__MAX_CONNECTIONS", "lots")])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("LAPSE_DATABASE__MAX_CONNECTIONS") && msg.contains("lots"),
            "{msg}"
        );
        let msg = load("", &[("LAPSE_SERVER__LISTN", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("server.listn") && msg.contains("LAPSE_SERVER__LISTN"),
            "{msg}"
        );
    }

    #[test]
    fn file_values_override_defaults_key_by_key() {
        let config = load("[database]\npath = \"/tmp/x.db\"\n", &[]).unwrap();
        assert_eq!(config.database.path, PathBuf::from("/tmp/x.db"));
        assert_eq!(config.database.max_connections, 8);
    }

    #[test]
    fn secret_is_read_from_file_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join("smtp-password");
        std::fs::write(&secret_path, "hunter2\n").unwrap();
        let file = format!(
            "[smtp]\nhost = \"mail.example.com\"\nusername = \"lapse\"\npassword_file = \"{}\"\n",
            secret_path.display()
        );
        let config = load(&file, &[]).unwrap();
        assert_eq!(
            config.smtp.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        let printed = config.to_redacted_toml();
        assert!(
            !printed.contains("hunter2") && printed.contains("[redacted]"),
            "{printed}"
        );
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn secret_file_from_environment_works_too() {
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join("pw");
        std::fs::write(&secret_path, "s3cret").unwrap();
        let path = secret_path.display().to_string();
        let config = load(
            "[smtp]\nusername = \"u\"\n",
            &[("LAPSE_SMTP__PASSWORD_FILE", path.as_str())],
        )
        .unwrap();
        assert_eq!(
            config.smtp.password.as_ref().map(Secret::expose),
            Some("s3cret")
        );
    }

    #[test]
    fn missing_secret_file_is_an_error_naming_the_path() {
        let msg = load("[smtp]\npassword_file = \"/nonexistent/pw\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("/nonexistent/pw") && msg.contains("smtp.password"),
            "{msg}"
        );
    }

    #[test]
    fn username_without_password_is_a_missing_value() {
        let err = load("[smtp]\nusername = \"u\"\n", &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Missing { ref key, .. } if key == "smtp.password"),
            "{err}"
        );
    }

    #[test]
    fn bad_private_tld_is_rejected() {
        let msg = load("[names]\nprivate_tlds = [\"a.b\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("names.private_tlds") && msg.contains("a.b"),
            "{msg}"
        );
    }

    #[test]
    fn probe_keys_are_typed_and_validated() {
        let config = load(
            "[targets]\nallow_ranges = [\"127.0.0.0/8\", \"::1\"]\n[dns]\nnameservers = [\"127.0.0.1:5353\", \"9.9.9.9\"]\n[alerts]\ncertificate_days = [7, 30, 14, 7]\n",
            &[],
        )
        .unwrap();
        assert_eq!(config.targets.allow_ranges.len(), 2);
        assert_eq!(config.dns.nameservers[1], "9.9.9.9:53".parse().unwrap());
        assert_eq!(config.alerts.certificate_days, vec![30, 14, 7]);
        assert_eq!(config.alerts.certificate_warning_days(), 30);
        let msg = load("[targets]\nallow_ranges = [\"10.0.0.0/33\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("targets.allow_ranges") && msg.contains("10.0.0.0/33"),
            "{msg}"
        );
        let msg = load("[tls]\nextra_ca_file = \"/nonexistent/ca.pem\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("tls.extra_ca_file") && msg.contains("/nonexistent/ca.pem"),
            "{msg}"
        );
        let msg = load("[alerts]\nregistration_days = []\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("alerts.registration_days"), "{msg}");
    }

    #[test]
    fn registration_keys_take_maps_and_validate_them() {
        let config = load(
            "[whois.servers]\ntest = \"127.0.0.1:4343\"\n[rdap.overrides]\ntest = \"http://127.0.0.1:8081/rdap/\"\n[ratelimit.servers]\n\"127.0.0.1:4343\" = { per_second = 5.0, burst = 1, max_concurrent = 2 }\n",
            &[],
        )
        .unwrap();
        assert_eq!(config.whois.servers["test"], "127.0.0.1:4343");
        assert_eq!(config.rdap.overrides["test"], "http://127.0.0.1:8081/rdap/");
        assert_eq!(config.ratelimit.servers["127.0.0.1:4343"].max_concurrent, 2);
        let msg = load(
            "[ratelimit.servers]\nx = { per_second = 0.0, burst = 1, max_concurrent = 1 }\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("ratelimit.servers.\"x\".per_second"), "{msg}");
        let msg = load("[rdap.overrides]\nno = \"not a url\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("rdap.overrides.no"), "{msg}");
        let via_env = load(
            "",
            &[("LAPSE_WHOIS__SERVERS", "{ test = \"127.0.0.1:9\" }")],
        )
        .unwrap();
        assert_eq!(via_env.whois.servers["test"], "127.0.0.1:9");
    }

    #[test]
    fn schedule_needs_a_valid_cron_and_time_zone() {
        let config = load(
            "[schedule]\nscan = \"0 */5 * * * *\"\ntimezone = \"Europe/Berlin\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(config.schedule.timezone, chrono_tz::Europe::Berlin);
        let msg = load("[schedule]\nscan = \"every night\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("schedule.scan") && msg.contains("every night") && msg.contains("cron"),
            "{msg}"
        );
        let msg = load("[schedule]\ntimezone = \"Mars/Olympus\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("schedule.timezone") && msg.contains("Mars/Olympus"),
            "{msg}"
        );
    }

    #[test]
    fn alert_and_delivery_keys_have_working_defaults() {
        let config = Config::from_sources(None, &[]).expect("defaults are valid");
        assert_eq!(config.alerts.failures_before_alert, 2);
        assert_eq!(config.alerts.staff_delivery, StaffDelivery::Copy);
        assert!(config.alerts.staff.is_empty());
        assert_eq!(config.outbox.retry_base, Duration::from_secs(60));
        assert!(config.outbox.sending_lease > config.smtp.timeout);
        assert!(config.webhooks.url.is_none() && config.webhooks.slack_url.is_none());
        assert!(config.smtp.tls_server_name.is_none());
    }

    #[test]
    fn alert_and_delivery_keys_are_validated_with_the_key_named() {
        let cases = [
            ("[alerts]\nstaff = [\"not-an-address\"]\n", "alerts.staff"),
            ("[alerts]\noperator = [\"x@\"]\n", "alerts.operator"),
            (
                "[alerts]\nstaff_delivery = \"digest\"\n",
                "alerts.staff_delivery",
            ),
            (
                "[alerts]\ndigest_cron = \"every morning\"\n",
                "alerts.digest_cron",
            ),
            (
                "[alerts]\nfailures_before_alert = 0\n",
                "alerts.failures_before_alert",
            ),
            (
                "[alerts]\noutage_fraction = 1.5\n",
                "alerts.outage_fraction",
            ),
            (
                "[outbox]\nsending_lease_secs = 10\n",
                "outbox.sending_lease_secs",
            ),
            ("[outbox]\nretry_max_secs = 1\n", "outbox.retry_max_secs"),
            ("[webhooks]\nurl = \"ftp://x\"\n", "webhooks.url"),
            (
                "[webhooks]\nurl = \"https://hooks.example\"\n",
                "webhooks.secret",
            ),
            (
                "[smtp]\ntls_server_name = \"not a name\"\n",
                "smtp.tls_server_name",
            ),
        ];
        for (file, key) in cases {
            let msg = load(file, &[]).unwrap_err().to_string();
            assert!(msg.contains(key), "{file:?}: {msg}");
        }
    }

    #[test]
    fn webhook_urls_and_secret_are_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hmac");
        std::fs::write(&path, "hmac-key\n").unwrap();
        let config = load(
            &format!(
                "[webhooks]\nurl = \"https://hooks.example/lapse\"\nsecret_file = \"{}\"\n",
                path.display()
            ),
            &[(
                "LAPSE_WEBHOOKS__SLACK_URL",
                "https://hooks.slack.example/services/T0/B0/token",
            )],
        )
        .unwrap();
        assert_eq!(
            config.webhooks.secret.as_ref().map(Secret::expose),
            Some("hmac-key")
        );
        let printed = config.to_redacted_toml();
        assert!(
            !printed.contains("hmac-key") && !printed.contains("B0/token"),
            "{printed}"
        );
        assert!(printed.contains("https://hooks.example/lapse"), "{printed}");
    }

    #[test]
    fn api_keys_are_typed_and_validated() {
        let built_in = Config::from_sources(None, &[]).unwrap();
        assert_eq!(built_in.api.rate_limit_per_second, 20);
        assert!(built_in.api.metrics_require_token);
        assert!(built_in.api.cors_origins.is_empty());
        assert_eq!(
            built_in.api.scheduler_heartbeat_max_age,
            Some(Duration::from_secs(300))
        );
        let config = load(
            "[api]\ncors_origins = [\"https://dash.example.com/\"]\nscheduler_heartbeat_max_age_secs = 0\n",
            &[("LAPSE_API__RATE_LIMIT_BURST", "7")],
        )
        .unwrap();
        assert_eq!(config.api.cors_origins, vec!["https://dash.example.com"]);
        assert_eq!(config.api.scheduler_heartbeat_max_age, None);
        assert_eq!(config.api.rate_limit_burst, 7);
        for (file, key) in [
            ("[api]\ncors_origins = [\"*\"]\n", "api.cors_origins"),
            (
                "[api]\ncors_origins = [\"https://a.example/path\"]\n",
                "api.cors_origins",
            ),
            (
                "[api]\nrate_limit_per_second = 0\n",
                "api.rate_limit_per_second",
            ),
            ("[api]\nmax_body_bytes = 10\n", "api.max_body_bytes"),
            (
                "[api]\ncalendar_horizon_days = 0\n",
                "api.calendar_horizon_days",
            ),
            (
                "[api]\nmetrics_require_token = \"no\"\n",
                "api.metrics_require_token",
            ),
            ("[api]\nrate_limit = 5\n", "api.rate_limit"),
        ] {
            let msg = load(file, &[]).unwrap_err().to_string();
            assert!(msg.contains(key), "{file}: {msg}");
        }
    }

    #[test]
    fn syntax_error_names_the_file() {
        let msg = load("[server\n", &[]).unwrap_err().to_string();
        assert!(
            msg.contains("test.toml") && msg.contains("not valid TOML"),
            "{msg}"
        );
    }
}
