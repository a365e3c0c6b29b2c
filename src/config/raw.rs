//! The raw layer: exactly the TOML shape of `config/lapse.toml`, one
//! `Raw*` struct per section, unknown keys rejected (`deny_unknown_fields`).
//! Values are still text and plain numbers here; `validate` types them.
//! [`deserialize`] turns the merged table into a [`RawConfig`] and serde's
//! messages into errors naming the key, where it was set and the value.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, LogFormat, Secret, ServerPace, SmtpSecurity, StaffDelivery};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) database: RawDatabase,
    pub(super) server: RawServer,
    pub(super) log: RawLog,
    pub(super) names: RawNames,
    pub(super) endpoints: RawEndpoints,
    pub(super) targets: RawTargets,
    pub(super) dns: RawDns,
    pub(super) tls: RawTls,
    pub(super) rdap: RawRdap,
    pub(super) whois: RawWhois,
    pub(super) ratelimit: RawRateLimit,
    pub(super) schedule: RawSchedule,
    pub(super) scan: RawScan,
    pub(super) alerts: RawAlerts,
    pub(super) smtp: RawSmtp,
    pub(super) api: RawApi,
    pub(super) outbox: RawOutbox,
    pub(super) webhooks: RawWebhooks,
    pub(super) agency: RawAgency,
    pub(super) web: RawWeb,
    #[serde(default)]
    pub(super) channels: BTreeMap<String, RawChannel>,
}

/// One `[channels.NAME]` table; which keys apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannel {
    pub(super) kind: String,
    #[serde(default)]
    pub(super) url: Option<Secret>,
    #[serde(default)]
    pub(super) bot_token: Option<Secret>,
    /// Telegram chat ids are numbers (`-1001234567890`) or `@channelname`.
    #[serde(default)]
    pub(super) chat_id: Option<toml::Value>,
    #[serde(default)]
    pub(super) api_url: Option<String>,
    #[serde(default)]
    pub(super) token: Option<Secret>,
    #[serde(default)]
    pub(super) routing_key: Option<Secret>,
    #[serde(default)]
    pub(super) events_url: Option<String>,
    #[serde(default)]
    pub(super) secret: Option<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub(super) rate_limit_per_second: u32,
    pub(super) rate_limit_burst: u32,
    pub(super) max_body_bytes: usize,
    pub(super) cors_origins: Vec<String>,
    pub(super) summary_cache_secs: u64,
    pub(super) metrics_require_token: bool,
    pub(super) scheduler_heartbeat_max_age_secs: u64,
    pub(super) calendar_horizon_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbox {
    pub(super) retry_base_secs: u64,
    pub(super) retry_max_secs: u64,
    pub(super) max_attempts: u32,
    pub(super) sending_lease_secs: u64,
    pub(super) poll_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgency {
    pub(super) name: String,
    pub(super) reply_to: String,
    pub(super) footer: String,
    pub(super) logo_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    pub(super) public_url: String,
    pub(super) session_hours: u32,
    pub(super) sign_in_attempts_per_account: u32,
    pub(super) sign_in_attempts_per_address: u32,
    pub(super) sign_in_window_mins: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhooks {
    #[serde(default)]
    pub(super) slack_url: Option<Secret>,
    #[serde(default)]
    pub(super) discord_url: Option<Secret>,
    pub(super) url: String,
    #[serde(default)]
    pub(super) secret: Option<Secret>,
    pub(super) timeout_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) scan: String,
    pub(super) timezone: String,
    pub(super) jitter_secs: u64,
    pub(super) due_poll_secs: u64,
    pub(super) registration_near_days: i64,
    pub(super) registration_near_interval_hours: i64,
    pub(super) registration_far_interval_hours: i64,
    pub(super) status_confirm_minutes: i64,
    pub(super) retry_min_minutes: i64,
    pub(super) retry_max_hours: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScan {
    pub(super) concurrency: usize,
    pub(super) per_address_concurrency: usize,
    pub(super) registration_concurrency: usize,
    pub(super) batch_size: usize,
    pub(super) shutdown_grace_secs: u64,
    pub(super) lease_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRdap {
    pub(super) bootstrap_url: String,
    pub(super) bootstrap_refresh_days: u32,
    pub(super) timeout_ms: u64,
    pub(super) connect_timeout_ms: u64,
    pub(super) max_bytes: usize,
    pub(super) max_redirects: usize,
    #[serde(default)]
    pub(super) overrides: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWhois {
    pub(super) iana_server: String,
    pub(super) timeout_ms: u64,
    pub(super) deadline_ms: u64,
    pub(super) max_bytes: usize,
    pub(super) max_referrals: u8,
    pub(super) rate_limit_backoff_secs: u64,
    #[serde(default)]
    pub(super) servers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    pub(super) per_second: f64,
    pub(super) burst: u32,
    pub(super) max_concurrent: usize,
    pub(super) max_wait_secs: u64,
    pub(super) max_backoff_secs: u64,
    #[serde(default)]
    pub(super) servers: BTreeMap<String, ServerPace>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTargets {
    pub(super) allow_ranges: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDns {
    pub(super) nameservers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) connect_timeout_ms: u64,
    pub(super) handshake_timeout_ms: u64,
    pub(super) deadline_ms: u64,
    pub(super) extra_ca_file: String,
    pub(super) max_chain_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub(super) certificate_days: Vec<u32>,
    pub(super) registration_days: Vec<u32>,
    pub(super) failures_before_alert: u32,
    pub(super) registration_stale_days: u32,
    pub(super) staff: Vec<String>,
    pub(super) staff_delivery: StaffDelivery,
    pub(super) digest_cron: String,
    pub(super) operator: Vec<String>,
    pub(super) outage_min_checks: u32,
    pub(super) outage_fraction: f64,
    pub(super) canaries: Vec<String>,
    pub(super) outage_max_hold_hours: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) path: String,
    pub(super) url: String,
    #[serde(default)]
    pub(super) password: Option<Secret>,
    pub(super) max_connections: u32,
    pub(super) busy_timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: String,
    pub(super) shutdown_grace_secs: u64,
    pub(super) instance: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) level: String,
    pub(super) format: LogFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNames {
    pub(super) private_tlds: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoints {
    pub(super) default_port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) security: SmtpSecurity,
    pub(super) username: String,
    #[serde(default)]
    pub(super) password: Option<Secret>,
    pub(super) from: String,
    pub(super) timeout_secs: u64,
    pub(super) tls_server_name: String,
}

pub(super) fn deserialize(
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
        .map(|(_, e)| in_words(e.lines().next().unwrap_or_default()))
        .unwrap_or_else(|| message.lines().next().unwrap_or_default().to_owned());
    ConfigError::BadValue {
        key: path.to_owned(),
        origin: origin_of(path),
        value,
        expected,
    }
}

/// serde's names of Rust types, as a person would say them.
fn in_words(expected: &str) -> String {
    match expected {
        "usize" | "u8" | "u16" | "u32" | "u64" | "i32" | "i64" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "bool" => "true or false".to_owned(),
        "a sequence" => "a list, such as [30, 14, 7]".to_owned(),
        other => other.to_owned(),
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
