//! Validation: raw text -> typed values, one function per section.
//!
//! [`validate`] composes them. Each section function takes its `Raw*` struct
//! and returns the typed section or the first error, which names the key,
//! where it was set, the value and what is expected. The sections that
//! talk to the outside world live beside this file: `probes.rs` (targets,
//! DNS, TLS, RDAP, WHOIS, rate limits) and `delivery.rs` (alerts, SMTP,
//! outbox, webhooks).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::raw::{
    RawApi, RawConfig, RawEndpoints, RawLog, RawNames, RawScan, RawSchedule, RawServer,
};
use super::{
    ApiConfig, Config, ConfigError, ConfigOrigin, EndpointsConfig, LogConfig, NamesConfig,
    ScanConfig, ScheduleConfig, ServerConfig,
};

mod agency;
mod channels;
mod database;
mod delivery;
mod probes;
mod web;

/// Builds the error for a bad value of `key`: `bad(key, value, expected)`.
/// The value is shown in double quotes.
type BadValue<'a> = &'a dyn Fn(&str, &dyn fmt::Display, &str) -> ConfigError;

/// Checks every section and builds the [`Config`]. `origin_of` says where a
/// key was set ("in FILE", "set by VARIABLE", "built-in default").
pub(super) fn validate(
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
    let bad: BadValue<'_> = &bad;
    // The lease must outlast the slower of the two senders; read before
    // `[smtp]` and `[webhooks]` are consumed.
    let slowest_sender_secs = raw.smtp.timeout_secs.max(raw.webhooks.timeout_secs);

    // The order decides which error is reported when several keys are
    // wrong; it is kept as users have seen it: the alert thresholds before
    // `[schedule]`, the rest of `[alerts]` after `[smtp]`.
    let database = database::database(raw.database, bad)?;
    let server = server(raw.server, bad)?;
    let log = log(raw.log, bad)?;
    let names = names(raw.names, bad)?;
    let endpoints = endpoints(raw.endpoints, bad)?;
    let targets = probes::targets(raw.targets, bad)?;
    let dns = probes::dns(raw.dns, bad)?;
    let tls = probes::tls(raw.tls, bad)?;
    let set = |key: &str| origin_of(key) != crate::config::BUILT_IN_DEFAULT;
    let thresholds = delivery::alert_thresholds(&raw.alerts, bad, &set)?;
    let schedule = schedule(raw.schedule, bad)?;
    let scan = scan(raw.scan, bad)?;
    let rdap = probes::rdap(raw.rdap, bad)?;
    let whois = probes::whois(raw.whois, bad)?;
    let ratelimit = probes::ratelimit(raw.ratelimit, bad)?;
    let api = api(raw.api, bad)?;
    let smtp = delivery::smtp(raw.smtp, bad)?;
    let alerts = delivery::alerts(raw.alerts, thresholds, bad)?;
    let outbox = delivery::outbox(raw.outbox, slowest_sender_secs, bad)?;
    let webhooks = delivery::webhooks(raw.webhooks, bad)?;
    let agency = agency::agency(raw.agency, bad)?;
    let web = web::web(raw.web, &server, bad)?;
    let legacy = crate::config::ChannelConfig::from_webhooks(&webhooks);
    let channels = channels::channels(raw.channels, &legacy, bad)?;

    Ok(Config {
        database,
        server,
        log,
        names,
        endpoints,
        targets,
        dns,
        tls,
        rdap,
        whois,
        ratelimit,
        schedule,
        scan,
        alerts,
        smtp,
        api,
        outbox,
        webhooks,
        agency,
        web,
        channels,
        origin,
    })
}

fn positive_ms(key: &str, ms: u64, bad: BadValue<'_>) -> Result<Duration, ConfigError> {
    if ms == 0 {
        return Err(bad(key, &0, "a positive number of milliseconds"));
    }
    Ok(Duration::from_millis(ms))
}

/// A reply size cap: below 1 KiB no registry reply's first lines fit.
fn reply_cap(key: &str, bytes: usize, bad: BadValue<'_>) -> Result<usize, ConfigError> {
    if bytes < 1024 {
        return Err(bad(
            key,
            &bytes,
            "at least 1024 bytes (a reply is read up to this size)",
        ));
    }
    Ok(bytes)
}

fn server(raw: RawServer, bad: BadValue<'_>) -> Result<ServerConfig, ConfigError> {
    let listen = raw.listen.parse().map_err(|_| {
        bad(
            "server.listen",
            &raw.listen,
            "an IP address and port such as 127.0.0.1:8080",
        )
    })?;
    let instance = if raw.instance.is_empty() {
        format!("{}-{}", super::environment::hostname(), std::process::id())
    } else {
        let fits = raw.instance.len() <= 64
            && raw
                .instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !fits {
            return Err(bad(
                "server.instance",
                &raw.instance,
                "at most 64 letters, digits, `-`, `_` or `.` (empty: hostname-pid)",
            ));
        }
        raw.instance
    };
    Ok(ServerConfig {
        listen,
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
        instance,
    })
}

/// Every directive names a level: `info`, or `target=level`. A bare word
/// is a valid tracing directive (a target at every level), so `loud` would
/// pass the filter parser and log everything of a target that does not exist.
fn level_ok(text: &str) -> bool {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |l: &str| LEVELS.contains(&l.trim().to_ascii_lowercase().as_str());
    text.split(',')
        .all(|directive| match directive.rsplit_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(directive),
        })
}

fn log(raw: RawLog, bad: BadValue<'_>) -> Result<LogConfig, ConfigError> {
    if tracing_subscriber::EnvFilter::try_new(&raw.level).is_err() || !level_ok(&raw.level) {
        return Err(bad(
            "log.level",
            &raw.level,
            "trace, debug, info, warn, error or off, or directives such as \"info,lapse::store=debug\"",
        ));
    }
    Ok(LogConfig {
        level: raw.level,
        format: raw.format,
    })
}

fn names(raw: RawNames, bad: BadValue<'_>) -> Result<NamesConfig, ConfigError> {
    let mut private_tlds = Vec::new();
    for tld in &raw.private_tlds {
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
    Ok(NamesConfig { private_tlds })
}

fn endpoints(raw: RawEndpoints, bad: BadValue<'_>) -> Result<EndpointsConfig, ConfigError> {
    if raw.default_port == 0 {
        return Err(bad("endpoints.default_port", &0, "a port from 1 to 65535"));
    }
    Ok(EndpointsConfig {
        default_port: raw.default_port,
    })
}

fn schedule(raw: RawSchedule, bad: BadValue<'_>) -> Result<ScheduleConfig, ConfigError> {
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
        (
            "schedule.status_confirm_minutes",
            raw.status_confirm_minutes,
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
        status_confirm_minutes: raw.status_confirm_minutes,
        retry_min_minutes: raw.retry_min_minutes,
        retry_max_hours: raw.retry_max_hours,
    })
}

fn scan(raw: RawScan, bad: BadValue<'_>) -> Result<ScanConfig, ConfigError> {
    for (key, n) in [
        ("scan.concurrency", raw.concurrency),
        (
            "scan.registration_concurrency",
            raw.registration_concurrency,
        ),
        ("scan.batch_size", raw.batch_size),
        (
            "scan.lease_secs",
            usize::try_from(raw.lease_secs).unwrap_or(usize::MAX),
        ),
    ] {
        if n == 0 {
            return Err(bad(key, &0, "at least 1"));
        }
    }
    Ok(ScanConfig {
        concurrency: raw.concurrency,
        per_address_concurrency: raw.per_address_concurrency,
        registration_concurrency: raw.registration_concurrency,
        batch_size: raw.batch_size,
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
        lease: Duration::from_secs(raw.lease_secs),
    })
}

fn api(raw: RawApi, bad: BadValue<'_>) -> Result<ApiConfig, ConfigError> {
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
