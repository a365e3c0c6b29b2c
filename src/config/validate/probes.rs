//! Validation of the sections that say what the probes may contact and how:
//! `[targets]`, `[dns]`, `[tls]`, `[rdap]`, `[whois]` and `[ratelimit]`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::{positive_ms, reply_cap, BadValue};
use crate::config::raw::{RawDns, RawRateLimit, RawRdap, RawTargets, RawTls, RawWhois};
use crate::config::{
    ConfigError, DnsConfig, RateLimitConfig, RdapConfig, ServerPace, TargetsConfig, TlsConfig,
    WhoisConfig,
};

pub(super) fn targets(raw: RawTargets, bad: BadValue<'_>) -> Result<TargetsConfig, ConfigError> {
    let mut allow_ranges = Vec::new();
    for range in &raw.allow_ranges {
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
    Ok(TargetsConfig { allow_ranges })
}

pub(super) fn dns(raw: RawDns, bad: BadValue<'_>) -> Result<DnsConfig, ConfigError> {
    let mut nameservers = Vec::new();
    for server in &raw.nameservers {
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
    Ok(DnsConfig { nameservers })
}

/// Also reads `tls.extra_ca_file`, so a missing or non-PEM file stops
/// start-up rather than the first handshake.
pub(super) fn tls(raw: RawTls, bad: BadValue<'_>) -> Result<TlsConfig, ConfigError> {
    let connect_timeout = positive_ms("tls.connect_timeout_ms", raw.connect_timeout_ms, bad)?;
    let handshake_timeout = positive_ms("tls.handshake_timeout_ms", raw.handshake_timeout_ms, bad)?;
    let deadline = positive_ms("tls.deadline_ms", raw.deadline_ms, bad)?;
    if raw.max_chain_bytes < 1024 {
        return Err(bad(
            "tls.max_chain_bytes",
            &raw.max_chain_bytes,
            "at least 1024 bytes",
        ));
    }
    let extra_ca_file = Some(raw.extra_ca_file.trim().to_owned())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let extra_ca_pem = match &extra_ca_file {
        None => None,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                bad(
                    "tls.extra_ca_file",
                    &path.display(),
                    &format!("a readable PEM file of CA certificates ({e})"),
                )
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
    Ok(TlsConfig {
        connect_timeout,
        handshake_timeout,
        deadline,
        extra_ca_file,
        extra_ca_pem,
        max_chain_bytes: raw.max_chain_bytes,
    })
}

pub(super) fn rdap(raw: RawRdap, bad: BadValue<'_>) -> Result<RdapConfig, ConfigError> {
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
        max_bytes: reply_cap("rdap.max_bytes", raw.max_bytes, bad)?,
        max_redirects: raw.max_redirects,
        overrides,
    })
}

/// A `host[:port]`'s port, when one is given, is a number from 1 to 65535
/// (`[v6]:port` and bare IPv6 addresses included).
fn port_ok(host: &str) -> bool {
    let port = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((_, "")) => return true,
            Some((_, tail)) => match tail.strip_prefix(':') {
                Some(port) => port,
                None => return false,
            },
            None => return false,
        }
    } else if host.matches(':').count() == 1 {
        host.rsplit_once(':').map_or("", |(_, port)| port)
    } else {
        return true;
    };
    port.parse::<u16>().is_ok_and(|p| p > 0)
}

pub(super) fn whois(raw: RawWhois, bad: BadValue<'_>) -> Result<WhoisConfig, ConfigError> {
    let host_ok = |h: &str| {
        !h.trim().is_empty() && !h.contains(char::is_whitespace) && !h.contains('/') && port_ok(h)
    };
    if !host_ok(&raw.iana_server) {
        return Err(bad(
            "whois.iana_server",
            &raw.iana_server,
            "a host[:port] (port 1 to 65535) such as \"whois.iana.org\"",
        ));
    }
    let mut servers = BTreeMap::new();
    for (suffix, host) in raw.servers {
        if !host_ok(&host) {
            return Err(bad(
                &format!("whois.servers.{suffix}"),
                &host,
                "a host[:port] (port 1 to 65535) such as \"whois.denic.de\"",
            ));
        }
        servers.insert(suffix.trim_start_matches('.').to_ascii_lowercase(), host);
    }
    Ok(WhoisConfig {
        iana_server: raw.iana_server,
        timeout: positive_ms("whois.timeout_ms", raw.timeout_ms, bad)?,
        deadline: positive_ms("whois.deadline_ms", raw.deadline_ms, bad)?,
        max_bytes: reply_cap("whois.max_bytes", raw.max_bytes, bad)?,
        max_referrals: raw.max_referrals,
        rate_limit_backoff: Duration::from_secs(raw.rate_limit_backoff_secs),
        servers,
    })
}

pub(super) fn ratelimit(
    raw: RawRateLimit,
    bad: BadValue<'_>,
) -> Result<RateLimitConfig, ConfigError> {
    let default = pace(
        "ratelimit.",
        ServerPace {
            per_second: raw.per_second,
            burst: raw.burst,
            max_concurrent: raw.max_concurrent,
        },
        bad,
    )?;
    let mut servers = BTreeMap::new();
    for (server, server_pace) in raw.servers {
        let server_pace = pace(
            &format!("ratelimit.servers.\"{server}\"."),
            server_pace,
            bad,
        )?;
        servers.insert(server.to_ascii_lowercase(), server_pace);
    }
    Ok(RateLimitConfig {
        default,
        max_wait: Duration::from_secs(raw.max_wait_secs),
        max_backoff: Duration::from_secs(raw.max_backoff_secs),
        servers,
    })
}

/// One pace, the default or a server's; `key` is the prefix of its keys
/// (`ratelimit.` or `ratelimit.servers."HOST".`).
fn pace(key: &str, pace: ServerPace, bad: BadValue<'_>) -> Result<ServerPace, ConfigError> {
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
