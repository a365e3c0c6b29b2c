//! Validation of the sections that decide who hears about what and how it
//! reaches them: `[alerts]`, `[smtp]`, `[outbox]` and `[webhooks]`.

use std::time::Duration;

use super::BadValue;
use crate::config::raw::{RawAlerts, RawOutbox, RawSmtp, RawWebhooks};
use crate::config::{
    AlertsConfig, ConfigError, OutboxConfig, Secret, SmtpConfig, StaffDelivery, WebhooksConfig,
};

/// `alerts.certificate_days` and `alerts.registration_days`, checked apart
/// from the rest of `[alerts]` because they come first (see `validate`).
/// `set` says whether a key was set (file or environment) rather than left
/// at its built-in default.
pub(super) struct AlertThresholds {
    certificate_days: Vec<u32>,
    certificate_days_set: bool,
    registration_days: Vec<u32>,
}

pub(super) fn alert_thresholds(
    raw: &RawAlerts,
    bad: BadValue<'_>,
    set: &dyn Fn(&str) -> bool,
) -> Result<AlertThresholds, ConfigError> {
    Ok(AlertThresholds {
        certificate_days: thresholds("alerts.certificate_days", raw.certificate_days.clone(), bad)?,
        certificate_days_set: set("alerts.certificate_days"),
        registration_days: thresholds(
            "alerts.registration_days",
            raw.registration_days.clone(),
            bad,
        )?,
    })
}

/// Threshold lists: not empty, sorted largest first, duplicates removed.
fn thresholds(key: &str, mut days: Vec<u32>, bad: BadValue<'_>) -> Result<Vec<u32>, ConfigError> {
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

/// The rest of `[alerts]`, once [`alert_thresholds`] has passed.
pub(super) fn alerts(
    raw: RawAlerts,
    thresholds: AlertThresholds,
    bad: BadValue<'_>,
) -> Result<AlertsConfig, ConfigError> {
    if raw.failures_before_alert == 0 || raw.failures_before_alert > 100 {
        return Err(bad(
            "alerts.failures_before_alert",
            &raw.failures_before_alert,
            "a number of consecutive failed checks from 1 to 100",
        ));
    }
    if raw.registration_stale_days == 0 || raw.registration_stale_days > 3650 {
        return Err(bad(
            "alerts.registration_stale_days",
            &raw.registration_stale_days,
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
    let staff = addresses("alerts.staff", &raw.staff)?;
    let operator = addresses("alerts.operator", &raw.operator)?;
    if raw.staff_delivery == StaffDelivery::Digest && staff.is_empty() {
        return Err(bad(
            "alerts.staff_delivery",
            &"digest",
            "\"copy\" unless `alerts.staff` lists the addresses that get the digest",
        ));
    }
    if raw.digest_cron.parse::<cron::Schedule>().is_err() {
        return Err(bad(
            "alerts.digest_cron",
            &raw.digest_cron,
            "a cron expression with seconds, e.g. \"0 0 7 * * *\" (07:00 UTC daily)",
        ));
    }
    if raw.outage_min_checks == 0 {
        return Err(bad("alerts.outage_min_checks", &0, "at least 1 check"));
    }
    if !(raw.outage_fraction > 0.0 && raw.outage_fraction < 1.0) {
        return Err(bad(
            "alerts.outage_fraction",
            &raw.outage_fraction,
            "a fraction between 0 and 1, e.g. 0.5 (more than half failed)",
        ));
    }
    for canary in &raw.canaries {
        if crate::config::parse_canary(canary).is_none() {
            return Err(bad(
                "alerts.canaries",
                canary,
                "\"host:port\" entries, e.g. \"www.example.com:443\" or \"[2001:db8::1]:443\"",
            ));
        }
    }
    if raw.outage_max_hold_hours == 0 {
        return Err(bad("alerts.outage_max_hold_hours", &0, "at least 1 hour"));
    }
    Ok(AlertsConfig {
        certificate_days: thresholds.certificate_days,
        registration_days: thresholds.registration_days,
        certificate_days_set: thresholds.certificate_days_set,
        failures_before_alert: raw.failures_before_alert,
        registration_stale_days: raw.registration_stale_days,
        staff,
        staff_delivery: raw.staff_delivery,
        digest_cron: raw.digest_cron.trim().to_owned(),
        operator,
        outage_min_checks: raw.outage_min_checks,
        outage_fraction: raw.outage_fraction,
        canaries: raw.canaries.iter().map(|c| c.trim().to_owned()).collect(),
        outage_max_hold_hours: raw.outage_max_hold_hours,
    })
}

pub(super) fn smtp(raw: RawSmtp, bad: BadValue<'_>) -> Result<SmtpConfig, ConfigError> {
    let host = Some(raw.host.trim().to_owned()).filter(|h| !h.is_empty());
    let username = Some(raw.username.trim().to_owned()).filter(|u| !u.is_empty());
    if username.is_some() && raw.password.is_none() {
        return Err(ConfigError::Missing {
            key: "smtp.password".into(),
            why: "`smtp.username` is set; give the password with `smtp.password_file`, `smtp.password` or LAPSE_SMTP__PASSWORD".into(),
        });
    }
    if !raw.from.contains('@') {
        return Err(bad(
            "smtp.from",
            &raw.from,
            "a mailbox such as \"lapse <lapse@example.com>\"",
        ));
    }
    if raw.timeout_secs == 0 {
        return Err(bad("smtp.timeout_secs", &0, "at least 1 second"));
    }
    let tls_server_name = Some(raw.tls_server_name.trim().to_owned()).filter(|n| !n.is_empty());
    if let Some(name) = &tls_server_name {
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            return Err(bad(
                "smtp.tls_server_name",
                name,
                "a DNS name such as \"mail.example.com\" (or empty for `smtp.host`)",
            ));
        }
    }
    Ok(SmtpConfig {
        host,
        port: raw.port,
        security: raw.security,
        username,
        password: raw.password,
        from: raw.from,
        timeout: Duration::from_secs(raw.timeout_secs),
        tls_server_name,
    })
}

/// `slowest_sender_secs`: the longer of `smtp.timeout_secs` and
/// `webhooks.timeout_secs`, which the sending lease must outlast.
pub(super) fn outbox(
    raw: RawOutbox,
    slowest_sender_secs: u64,
    bad: BadValue<'_>,
) -> Result<OutboxConfig, ConfigError> {
    for (key, secs) in [
        ("outbox.retry_base_secs", raw.retry_base_secs),
        ("outbox.retry_max_secs", raw.retry_max_secs),
        ("outbox.sending_lease_secs", raw.sending_lease_secs),
        ("outbox.poll_secs", raw.poll_secs),
    ] {
        if secs == 0 {
            return Err(bad(key, &0, "at least 1 second"));
        }
    }
    if raw.retry_max_secs < raw.retry_base_secs {
        return Err(bad(
            "outbox.retry_max_secs",
            &raw.retry_max_secs,
            "at least `outbox.retry_base_secs`",
        ));
    }
    if raw.max_attempts == 0 {
        return Err(bad("outbox.max_attempts", &0, "at least 1 attempt"));
    }
    if raw.sending_lease_secs <= slowest_sender_secs {
        return Err(bad(
            "outbox.sending_lease_secs",
            &raw.sending_lease_secs,
            "longer than `smtp.timeout_secs` and `webhooks.timeout_secs`, so a live sender keeps its messages",
        ));
    }
    Ok(OutboxConfig {
        retry_base: Duration::from_secs(raw.retry_base_secs),
        retry_max: Duration::from_secs(raw.retry_max_secs),
        max_attempts: raw.max_attempts,
        sending_lease: Duration::from_secs(raw.sending_lease_secs),
        poll: Duration::from_secs(raw.poll_secs),
    })
}

pub(super) fn webhooks(raw: RawWebhooks, bad: BadValue<'_>) -> Result<WebhooksConfig, ConfigError> {
    for (key, value) in [
        (
            "webhooks.slack_url",
            raw.slack_url.as_ref().map(Secret::expose),
        ),
        (
            "webhooks.discord_url",
            raw.discord_url.as_ref().map(Secret::expose),
        ),
        ("webhooks.url", Some(raw.url.as_str())),
    ] {
        let value = value.unwrap_or_default().trim();
        let is_url = value.starts_with("https://") || value.starts_with("http://");
        if !value.is_empty() && !is_url {
            // The channel URLs are secrets (they carry the token): never echo them.
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
    let url = Some(raw.url.trim().to_owned()).filter(|u| !u.is_empty());
    let secret = secret_or_empty(raw.secret);
    if url.is_some() && secret.is_none() {
        return Err(ConfigError::Missing {
            key: "webhooks.secret".into(),
            why: "`webhooks.url` is set; its HMAC key comes from `webhooks.secret_file`, `webhooks.secret` or LAPSE_WEBHOOKS__SECRET".into(),
        });
    }
    if raw.timeout_secs == 0 {
        return Err(bad("webhooks.timeout_secs", &0, "at least 1 second"));
    }
    Ok(WebhooksConfig {
        slack_url: secret_or_empty(raw.slack_url),
        discord_url: secret_or_empty(raw.discord_url),
        url,
        secret,
        timeout: Duration::from_secs(raw.timeout_secs),
    })
}
