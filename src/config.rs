//! Configuration: TOML file + environment -> `RawConfig` -> validated [`Config`].
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
//!
//! This file holds the validated types and [`Config::load`]; beside it:
//! `sources.rs` (defaults, file, environment, secret files -> one table),
//! `raw.rs` (the TOML shape, unknown keys rejected), `validate.rs` (one
//! function per section), `secret.rs` ([`Secret`]) and `environment.rs`
//! (the only reader of the process environment in lapse).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::domain::names::NamePolicy;

mod channels;
pub mod environment;
mod raw;
mod secret;
mod sources;
#[cfg(test)]
mod tests;
mod validate;

pub use channels::{ChannelConfig, ChannelTarget, CHANNEL_KINDS};
pub use secret::{Secret, SECRET_KEYS};

/// The shipped defaults; the file in the repository *is* the built-in default.
pub const DEFAULTS_TOML: &str = include_str!("../config/lapse.toml");

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "LAPSE_CONFIG";

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
    pub agency: AgencyConfig,
    pub web: WebConfig,
    /// Named channels (`[channels.NAME]`), by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Where the configuration came from, for `lapse config check`.
    #[serde(skip)]
    pub origin: ConfigOrigin,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseConfig {
    /// The SQLite file (`path`, or `url = "sqlite://PATH"`); unused when
    /// `postgres` is set.
    pub path: PathBuf,
    /// `url = "postgres://..."`: PostgreSQL instead of SQLite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresLocation>,
    pub max_connections: u32,
    #[serde(rename = "busy_timeout_ms", serialize_with = "as_millis")]
    pub busy_timeout: Duration,
}

/// A PostgreSQL database: its URL without the password (safe to print) and
/// the password, from the URL, `database.password(_file)` or the environment.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresLocation {
    pub url: String,
    #[serde(skip)]
    pub password: Option<Secret>,
}

impl DatabaseConfig {
    /// Where the data lives, for logs and messages: the SQLite file, or the
    /// PostgreSQL URL without its password.
    pub fn location(&self) -> String {
        match &self.postgres {
            Some(pg) => pg.url.clone(),
            None => self.path.display().to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    #[serde(rename = "shutdown_grace_secs", serialize_with = "as_secs")]
    pub shutdown_grace: Duration,
    /// This instance's name among the instances sharing the database: the
    /// `server.instance` key, else `hostname-pid`.
    pub instance: String,
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
    /// A first worrying registration status (redemption, pending delete,
    /// hold, not found) is looked up again this many minutes later to
    /// confirm it, until its alert opens.
    pub status_confirm_minutes: i64,
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
    /// How long claimed scan items stay an instance's without a renewal.
    #[serde(rename = "lease_secs", serialize_with = "as_secs")]
    pub lease: Duration,
}

fn as_display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertsConfig {
    /// Thresholds in days, largest first.
    pub certificate_days: Vec<u32>,
    pub registration_days: Vec<u32>,
    /// Whether `certificate_days` was set (in the config file or by an
    /// environment variable) rather than left at the built-in default: set
    /// thresholds fire exactly as set; the default ones adapt to short-lived
    /// certificates (the lifetime rule).
    #[serde(skip)]
    pub certificate_days_set: bool,
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
    /// ... more than this fraction of them failed in a way that says
    /// lapse's own path is broken (resolver SERVFAIL or timeout, connect
    /// timeouts, unreachable networks), is lapse's own outage. Not used when
    /// `canaries` are configured.
    pub outage_fraction: f64,
    /// `host:port` endpoints that must always answer, checked at the end of
    /// each full scan through lapse's own resolver and network: none
    /// answering is lapse's outage; one answering is lapse's health.
    pub canaries: Vec<String>,
    /// Failure alerts are held at most this long after an outage began.
    pub outage_max_hold_hours: u32,
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

/// The agency that client mail comes from (`[agency]`): its name on every
/// client mail, the address clients reply to, a footer and a logo.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgencyConfig {
    /// Empty: client mail says "your agency".
    pub name: String,
    /// The `Reply-To` of client mail, and the contact it names.
    pub reply_to: Option<String>,
    /// Lines at the foot of client mail (address, phone).
    pub footer: String,
    /// An https image shown at the top of client mail (HTML).
    pub logo_url: Option<String>,
}

/// The web pages (`[web]`): where they are reached, how long a session
/// lasts, how many sign-in attempts are allowed.
#[derive(Debug, Clone, Serialize)]
pub struct WebConfig {
    /// The base of the links lapse prints and mails (`https://lapse.agency.example`),
    /// without a trailing slash; from `server.listen` when not set.
    pub public_url: String,
    /// True when `public_url` is https: cookies are then always `Secure`.
    #[serde(skip)]
    pub public_url_is_https: bool,
    #[serde(rename = "session_hours", serialize_with = "as_hours")]
    pub session: Duration,
    pub sign_in_attempts_per_account: u32,
    pub sign_in_attempts_per_address: u32,
    #[serde(rename = "sign_in_window_mins", serialize_with = "as_mins")]
    pub sign_in_window: Duration,
}

fn as_hours<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs() / 3600)
}

fn as_mins<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs() / 60)
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

fn as_secs_or_zero<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.map_or(0, |d| d.as_secs()))
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The origin of a key nobody set (see `Config::from_sources`).
pub(crate) const BUILT_IN_DEFAULT: &str = "built-in default";

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
    #[error("unknown key `{key}` ({origin}); expected {expected}")]
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

/// Where to look for a config file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config PATH`.
    pub explicit_path: Option<PathBuf>,
}

impl Config {
    /// Every channel: the named ones, then those `[webhooks]` sets.
    pub fn all_channels(&self) -> Vec<ChannelConfig> {
        let mut all: Vec<ChannelConfig> = self.channels.values().cloned().collect();
        all.extend(ChannelConfig::from_webhooks(&self.webhooks));
        all
    }

    /// One channel by name.
    pub fn channel(&self, name: &str) -> Option<ChannelConfig> {
        self.all_channels().into_iter().find(|c| c.name == name)
    }

    /// Loads from the process environment: `--config`, else `LAPSE_CONFIG`,
    /// else `config/lapse.toml` when present, else the built-in defaults;
    /// then `LAPSE_*__*` overrides.
    pub fn load(options: &LoadOptions) -> Result<Self, ConfigError> {
        let env = environment::vars();
        let file = sources::read_config_file(options.explicit_path.as_deref())?;
        Self::from_sources(file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())), &env)
    }

    /// Builds the configuration from an optional file text and an
    /// environment, without touching the process (for tests).
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let sources::Layers {
            table,
            origin,
            key_origins,
        } = sources::layer(file, env)?;
        // A key's own origin, else that of a key under it (an unknown
        // section is named by its table, its values by their paths).
        let origin_of = |key: &str| {
            let under = format!("{key}.");
            key_origins
                .get(key)
                .or_else(|| {
                    key_origins
                        .range(under.clone()..)
                        .next()
                        .filter(|(k, _)| k.starts_with(&under))
                        .map(|(_, origin)| origin)
                })
                .cloned()
                .unwrap_or_else(|| BUILT_IN_DEFAULT.to_owned())
        };
        let raw = raw::deserialize(table, &origin_of)?;
        validate::validate(raw, origin, &origin_of)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// A canary entry `host:port` (IPv6 in brackets) as (host, port).
pub fn parse_canary(entry: &str) -> Option<(String, u16)> {
    let (host, port) = entry.trim().rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let valid = !host.is_empty() && !host.contains(char::is_whitespace);
    valid.then(|| (host.to_ascii_lowercase(), port))
}
