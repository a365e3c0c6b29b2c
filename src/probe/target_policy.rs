//! Which addresses the probe may contact.
//!
//! A monitored name can resolve anywhere, including to the machine lapse runs
//! on, the office network or a cloud metadata service. Addresses in those
//! ranges are not contacted unless configuration (`targets.allow_ranges`)
//! lists a range that contains them; the refusal is a finding, not an error.
//! The ranges and the rule are `domain::address` (pure, so input surfaces
//! refuse a reserved pinned address with the same words); IPv6 addresses
//! that carry an IPv4 address are judged as the IPv4 address they carry.
//!
//! The same rule covers the registration servers lapse *discovers* (an RDAP
//! bootstrap entry, a redirect, a registrar link, a WHOIS referral, an IANA
//! answer): [`ServerGuard`] resolves such a server's name and keeps only the
//! addresses the policy allows, so the connection goes to an address that was
//! checked. Servers named in configuration are trusted as configured and do
//! not come here.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use super::dns::{DnsResolver, DnsSetupError, Resolution};
use crate::domain::certificate::{DnsFailureKind, ReservedRange};

pub use crate::domain::address::{refusal, reserved_range};

/// One address of a server that was not contacted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedAddress {
    pub address: IpAddr,
    pub range: IpNet,
    pub reserved: ReservedRange,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.address, self.reserved, self.range)
    }
}

/// A discovered registration server that was not contacted: every address it
/// has is in a reserved range that `targets.allow_ranges` does not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedServer {
    /// How lapse came to it: `WHOIS referral`, `RDAP redirect`, ...
    pub via: String,
    /// The host (with its port, when one was given) as it was named.
    pub server: String,
    /// The server was named by an IP address, not resolved from a name.
    pub literal: bool,
    pub addresses: Vec<RefusedAddress>,
}

impl fmt::Display for RefusedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.literal, self.addresses.as_slice()) {
            (true, [only]) => format!("is {} ({})", only.reserved, only.range),
            _ => {
                let addresses: Vec<String> =
                    self.addresses.iter().map(ToString::to_string).collect();
                format!("resolves to {}", addresses.join(", "))
            }
        };
        write!(
            f,
            "not contacted: {} {} {what}; allow it in targets.allow_ranges",
            self.via, self.server
        )
    }
}

/// Why [`ServerGuard::screen`] gave no address to connect to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Screening {
    /// Every address is reserved and not allowed.
    #[error("every address of {host} is in a reserved range")]
    Refused {
        host: String,
        addresses: Vec<RefusedAddress>,
    },
    #[error("cannot resolve {host}: {}", dns_text(failure))]
    Unresolved {
        host: String,
        failure: DnsFailureKind,
    },
}

fn dns_text(failure: &DnsFailureKind) -> String {
    match failure {
        DnsFailureKind::NxDomain => "no such name (NXDOMAIN)".to_owned(),
        DnsFailureKind::ServFail => "server failure (SERVFAIL)".to_owned(),
        DnsFailureKind::Timeout => "no answer in time".to_owned(),
        DnsFailureKind::NoAddresses => "no A or AAAA records".to_owned(),
        DnsFailureKind::Other(other) => other.clone(),
    }
}

/// The addresses of `candidates` that may be contacted, in order; when there
/// are none, every refused address with its range.
pub fn screen_addresses(
    candidates: &[IpAddr],
    allow_ranges: &[IpNet],
) -> Result<Vec<IpAddr>, Vec<RefusedAddress>> {
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    for &address in candidates {
        match refusal(address, allow_ranges) {
            None => allowed.push(address),
            Some((range, reserved)) => refused.push(RefusedAddress {
                address,
                range,
                reserved,
            }),
        }
    }
    if allowed.is_empty() && !refused.is_empty() {
        Err(refused)
    } else {
        Ok(allowed)
    }
}

/// Resolves the names of discovered servers and applies the policy to what
/// they resolve to. Cheap to clone.
#[derive(Clone)]
pub struct ServerGuard {
    allow_ranges: Arc<[IpNet]>,
    resolver: DnsResolver,
}

impl fmt::Debug for ServerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerGuard")
            .field("allow_ranges", &self.allow_ranges)
            .finish_non_exhaustive()
    }
}

impl ServerGuard {
    /// `nameservers` as in `dns.nameservers` (empty: the system resolver);
    /// `query_timeout` bounds each DNS query.
    pub fn new(
        allow_ranges: &[IpNet],
        nameservers: &[SocketAddr],
        query_timeout: Duration,
    ) -> Result<Self, DnsSetupError> {
        Ok(ServerGuard {
            allow_ranges: allow_ranges.into(),
            resolver: DnsResolver::new(nameservers, query_timeout)?,
        })
    }

    pub fn allow_ranges(&self) -> &[IpNet] {
        &self.allow_ranges
    }

    /// The addresses of `host` (a name or an IP address, IPv6 with or without
    /// brackets) that may be contacted, IPv4 first; never empty on success.
    pub async fn screen(&self, host: &str) -> Result<Vec<IpAddr>, Screening> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let candidates = match bare.parse::<IpAddr>() {
            Ok(address) => vec![address],
            Err(_) => match self.resolver.resolve(bare).await {
                Resolution::Addresses(addresses) if !addresses.is_empty() => addresses,
                Resolution::Addresses(_) => {
                    return Err(Screening::Unresolved {
                        host: host.to_owned(),
                        failure: DnsFailureKind::NoAddresses,
                    })
                }
                Resolution::Failed(failure) => {
                    return Err(Screening::Unresolved {
                        host: host.to_owned(),
                        failure,
                    })
                }
            },
        };
        screen_addresses(&candidates, &self.allow_ranges).map_err(|addresses| Screening::Refused {
            host: host.to_owned(),
            addresses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn net(text: &str) -> IpNet {
        text.parse().expect("test range")
    }

    #[test]
    fn screening_keeps_allowed_addresses_and_refuses_only_when_none_is_left() {
        let public = ip("93.184.215.14");
        let private = ip("10.0.0.5");
        assert_eq!(
            screen_addresses(&[private, public], &[]),
            Ok(vec![public]),
            "the reserved address is dropped, the public one kept"
        );
        assert_eq!(
            screen_addresses(&[private], &[]),
            Err(vec![RefusedAddress {
                address: private,
                range: net("10.0.0.0/8"),
                reserved: ReservedRange::Private,
            }])
        );
        assert_eq!(
            screen_addresses(&[private], &[net("10.0.0.0/24")]),
            Ok(vec![private])
        );
    }

    #[test]
    fn a_refused_server_says_what_how_and_where_to_allow_it() {
        let refused = RefusedServer {
            via: "WHOIS referral".to_owned(),
            server: "whois.evil.test".to_owned(),
            literal: false,
            addresses: vec![RefusedAddress {
                address: ip("10.0.0.5"),
                range: net("10.0.0.0/8"),
                reserved: ReservedRange::Private,
            }],
        };
        assert_eq!(
            refused.to_string(),
            "not contacted: WHOIS referral whois.evil.test resolves to 10.0.0.5 (private, 10.0.0.0/8); allow it in targets.allow_ranges"
        );
        let literal = RefusedServer {
            via: "RDAP redirect".to_owned(),
            server: "169.254.169.254".to_owned(),
            literal: true,
            addresses: vec![RefusedAddress {
                address: ip("169.254.169.254"),
                range: net("169.254.169.254/32"),
                reserved: ReservedRange::CloudMetadata,
            }],
        };
        assert_eq!(
            literal.to_string(),
            "not contacted: RDAP redirect 169.254.169.254 is cloud metadata (169.254.169.254/32); allow it in targets.allow_ranges"
        );
    }
}
