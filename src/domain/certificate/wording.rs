//! How findings read: the `Display` of [`Finding`], [`HandshakeFailure`] and
//! [`DnsFailureKind`], the words of reports, logs and messages.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{AddressFingerprint, DnsFailureKind, Finding, HandshakeFailure};

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired {
                not_after,
                days_ago,
            } => write!(
                f,
                "expired {} (not after {})",
                ago(*days_ago),
                minute(not_after)
            ),
            Self::Expiring {
                not_after,
                days_left,
                ..
            } => write!(
                f,
                "expires {} (not after {})",
                in_days(*days_left),
                minute(not_after)
            ),
            Self::NotYetValid { not_before } => {
                write!(f, "not valid before {}", minute(not_before))
            }
            Self::NameMismatch { host, names } if names.is_empty() => {
                write!(f, "name mismatch: {host} not covered (no subjectAltName)")
            }
            Self::NameMismatch { host, names } => {
                let names = names.join(", ");
                write!(f, "name mismatch: {host} not covered by {names}")
            }
            Self::UntrustedIssuer { issuer } => write!(f, "untrusted issuer: {issuer}"),
            Self::SelfSigned { subject } => write!(f, "self-signed: {subject}"),
            Self::IncompleteChain { missing_issuer } => write!(
                f,
                "incomplete chain: the server does not send the intermediate {missing_issuer}"
            ),
            Self::IntermediateExpired { subject, not_after } => {
                let not_after = minute(not_after);
                write!(f, "intermediate expired: {subject} (not after {not_after})")
            }
            Self::IntermediateExpiresBeforeLeaf {
                subject,
                not_after,
                days_left,
            } => write!(
                f,
                "intermediate expires before the leaf: {subject} {} (not after {})",
                in_days(*days_left),
                minute(not_after)
            ),
            Self::WeakKey {
                subject,
                key_type,
                key_bits,
            } => write!(f, "weak key: {key_type} {key_bits} bits ({subject})"),
            Self::WeakSignature { subject, algorithm } => {
                write!(f, "weak signature: {algorithm} ({subject})")
            }
            Self::ChainRejected { reason } => write!(f, "chain rejected: {reason}"),
            Self::MalformedCertificate { position, reason } => {
                write!(f, "certificate #{position} unreadable: {reason}")
            }
            Self::ChainTooLarge {
                certificates,
                bytes,
                limit_bytes,
            } => write!(
                f,
                "chain too large: {certificates} certificates, {bytes} bytes (limit {limit_bytes})"
            ),
            Self::ChainTooLong {
                certificates: n,
                limit_certificates: limit,
            } => {
                write!(
                    f,
                    "chain too long: {n} certificates (limit {limit} certificates)"
                )
            }
            Self::AddressesDisagree { by_address } => write!(
                f,
                "addresses serve different certificates: {}",
                describe_leaves_by_address(by_address)
            ),
            Self::HandshakeFailed { reason } => write!(f, "TLS handshake failed: {reason}"),
            Self::StartTlsFailed { reply } => write!(f, "STARTTLS failed: {reply}"),
            Self::ConnectRefused => write!(f, "connection refused"),
            Self::ConnectFailed { reason } => write!(f, "connect failed: {reason}"),
            Self::Timeout { stage, limit_ms } => {
                write!(f, "no answer in {stage} within {limit_ms} ms")
            }
            Self::Dns { failure } => write!(f, "DNS: {failure}"),
            Self::TargetRefused {
                address,
                range,
                reserved,
            } => write!(
                f,
                "not contacted: {address} is {reserved} ({range}); allow it in targets.allow_ranges"
            ),
        }
    }
}

/// The addresses grouped by the leaf they serve, in report order:
/// `192.0.2.1, 192.0.2.2 serve 0a1b.. (not after 2026-01-01); 192.0.2.3 serves ...`.
fn describe_leaves_by_address(by_address: &[AddressFingerprint]) -> String {
    let mut groups: Vec<(&AddressFingerprint, Vec<String>)> = Vec::new();
    for entry in by_address {
        let address = entry.address.to_string();
        match groups
            .iter_mut()
            .find(|(first, _)| first.sha256_fingerprint_hex == entry.sha256_fingerprint_hex)
        {
            Some((_, addresses)) => addresses.push(address),
            None => groups.push((entry, vec![address])),
        }
    }
    let described: Vec<String> = groups
        .iter()
        .map(|(leaf, addresses)| {
            format!(
                "{} {} {}.. (not after {})",
                addresses.join(", "),
                if addresses.len() == 1 {
                    "serves"
                } else {
                    "serve"
                },
                short_fingerprint(&leaf.sha256_fingerprint_hex),
                leaf.not_after.format("%Y-%m-%d")
            )
        })
        .collect();
    described.join("; ")
}

/// A finding's time, to the minute.
fn minute(at: &DateTime<Utc>) -> impl fmt::Display + '_ {
    at.format("%Y-%m-%d %H:%M UTC")
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCommonProtocol => write!(f, "no protocol version or cipher in common"),
            Self::Alert(alert) => write!(f, "server sent alert {alert}"),
            Self::Reset => write!(f, "connection reset by the server"),
            Self::Closed => write!(f, "server closed the connection"),
            Self::NotTls => write!(f, "the server does not speak TLS here"),
            Self::SignatureRejected => {
                write!(f, "server signature refused (key too weak or invalid)")
            }
            Self::TooManyBytes { limit_bytes } => {
                write!(f, "more than {limit_bytes} handshake bytes")
            }
            Self::MessageTooLarge { limit_bytes: n } => {
                write!(
                    f,
                    "certificate message over the {n} bytes a TLS client reads"
                )
            }
            Self::Other(other) => write!(f, "{other}"),
        }
    }
}

impl fmt::Display for DnsFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NxDomain => write!(f, "no such name (NXDOMAIN)"),
            Self::ServFail => write!(f, "server failure (SERVFAIL)"),
            Self::Timeout => write!(f, "no answer in time"),
            Self::NoAddresses => write!(f, "no A or AAAA records"),
            Self::Other(other) => write!(f, "{other}"),
        }
    }
}

fn ago(days: i64) -> String {
    match days {
        0 => "today".to_owned(),
        1 => "1 day ago".to_owned(),
        n => format!("{n} days ago"),
    }
}

fn in_days(days: i64) -> String {
    match days {
        0 => "today".to_owned(),
        1 => "in 1 day".to_owned(),
        n => format!("in {n} days"),
    }
}

fn short_fingerprint(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}
