//! Which addresses the probe may contact.
//!
//! A monitored name can resolve anywhere, including to the machine lapse runs
//! on, the office network or a cloud metadata service. Addresses in those
//! ranges are not contacted unless configuration (`targets.allow_ranges`)
//! lists a range that contains them; the refusal is a finding, not an error.
//! IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are judged as the IPv4
//! address they carry.
//!
//! The same rule covers the registration servers lapse *discovers* (an RDAP
//! bootstrap entry, a redirect, a registrar link, a WHOIS referral, an IANA
//! answer): [`ServerGuard`] resolves such a server's name and keeps only the
//! addresses the policy allows, so the connection goes to an address that was
//! checked. Servers named in configuration are trusted as configured and do
//! not come here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

use super::dns::{DnsResolver, DnsSetupError, Resolution};
use crate::domain::certificate::{DnsFailureKind, ReservedRange};

/// The first matching entry wins, so specific ranges come before the ranges
/// that contain them (metadata before link-local and unique local).
const RESERVED_V4: &[(Ipv4Addr, u8, ReservedRange)] = &[
    (
        Ipv4Addr::new(169, 254, 169, 254),
        32,
        ReservedRange::CloudMetadata,
    ),
    (Ipv4Addr::new(0, 0, 0, 0), 8, ReservedRange::Unspecified),
    (Ipv4Addr::new(10, 0, 0, 0), 8, ReservedRange::Private),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        ReservedRange::SharedAddressSpace,
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, ReservedRange::Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, ReservedRange::LinkLocal),
    (Ipv4Addr::new(172, 16, 0, 0), 12, ReservedRange::Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, ReservedRange::Reserved),
    (Ipv4Addr::new(192, 168, 0, 0), 16, ReservedRange::Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, ReservedRange::Reserved),
    (Ipv4Addr::new(224, 0, 0, 0), 4, ReservedRange::Multicast),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        ReservedRange::Broadcast,
    ),
    (Ipv4Addr::new(240, 0, 0, 0), 4, ReservedRange::Reserved),
];

const RESERVED_V6: &[(Ipv6Addr, u8, ReservedRange)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, ReservedRange::Unspecified),
    (Ipv6Addr::LOCALHOST, 128, ReservedRange::Loopback),
    (
        Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
        128,
        ReservedRange::CloudMetadata,
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        ReservedRange::UniqueLocal,
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        ReservedRange::LinkLocal,
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        ReservedRange::Multicast,
    ),
    // Site-local, deprecated but still routed inside some networks.
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        ReservedRange::Private,
    ),
];

/// The reserved range an address falls in, if any.
pub fn reserved_range(address: IpAddr) -> Option<(IpNet, ReservedRange)> {
    match address {
        IpAddr::V4(v4) => reserved_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => reserved_v4(v4),
            None => RESERVED_V6.iter().find_map(|(network, prefix, kind)| {
                let net = Ipv6Net::new(*network, *prefix).ok()?.trunc();
                net.contains(&v6).then_some((IpNet::V6(net), *kind))
            }),
        },
    }
}

fn reserved_v4(address: Ipv4Addr) -> Option<(IpNet, ReservedRange)> {
    RESERVED_V4.iter().find_map(|(network, prefix, kind)| {
        let net = Ipv4Net::new(*network, *prefix).ok()?.trunc();
        net.contains(&address).then_some((IpNet::V4(net), *kind))
    })
}

/// Why an address must not be contacted: the reserved range it is in, when no
/// allowed range contains it. `None` means go ahead.
pub fn refusal(address: IpAddr, allow_ranges: &[IpNet]) -> Option<(IpNet, ReservedRange)> {
    let reserved = reserved_range(address)?;
    let mapped = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    let allowed = allow_ranges
        .iter()
        .any(|range| range.contains(&address) || mapped.is_some_and(|v4| range.contains(&v4)));
    (!allowed).then_some(reserved)
}

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
    fn reserved_ranges_are_recognised() {
        let cases: &[(&str, Option<(&str, ReservedRange)>)] = &[
            ("127.0.0.1", Some(("127.0.0.0/8", ReservedRange::Loopback))),
            ("127.0.0.3", Some(("127.0.0.0/8", ReservedRange::Loopback))),
            ("10.1.2.3", Some(("10.0.0.0/8", ReservedRange::Private))),
            (
                "172.31.255.1",
                Some(("172.16.0.0/12", ReservedRange::Private)),
            ),
            (
                "192.168.1.1",
                Some(("192.168.0.0/16", ReservedRange::Private)),
            ),
            (
                "100.64.0.1",
                Some(("100.64.0.0/10", ReservedRange::SharedAddressSpace)),
            ),
            (
                "169.254.169.254",
                Some(("169.254.169.254/32", ReservedRange::CloudMetadata)),
            ),
            (
                "169.254.1.1",
                Some(("169.254.0.0/16", ReservedRange::LinkLocal)),
            ),
            ("0.0.0.0", Some(("0.0.0.0/8", ReservedRange::Unspecified))),
            ("224.0.0.1", Some(("224.0.0.0/4", ReservedRange::Multicast))),
            (
                "255.255.255.255",
                Some(("255.255.255.255/32", ReservedRange::Broadcast)),
            ),
            ("::1", Some(("::1/128", ReservedRange::Loopback))),
            ("::", Some(("::/128", ReservedRange::Unspecified))),
            (
                "fd12:3456::1",
                Some(("fc00::/7", ReservedRange::UniqueLocal)),
            ),
            (
                "fd00:ec2::254",
                Some(("fd00:ec2::254/128", ReservedRange::CloudMetadata)),
            ),
            ("fe80::1", Some(("fe80::/10", ReservedRange::LinkLocal))),
            (
                "::ffff:192.168.0.1",
                Some(("192.168.0.0/16", ReservedRange::Private)),
            ),
            ("93.184.215.14", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
        ];
        for (address, expected) in cases {
            let expected = expected.map(|(range, kind)| (net(range), kind));
            assert_eq!(reserved_range(ip(address)), expected, "{address}");
        }
    }

    #[test]
    fn a_reserved_address_is_refused_unless_an_allowed_range_contains_it() {
        assert_eq!(
            refusal(ip("127.0.0.1"), &[]),
            Some((net("127.0.0.0/8"), ReservedRange::Loopback))
        );
        assert_eq!(refusal(ip("127.0.0.1"), &[net("127.0.0.0/8")]), None);
        assert_eq!(
            refusal(ip("127.0.0.1"), &[net("127.0.0.2/32")]),
            Some((net("127.0.0.0/8"), ReservedRange::Loopback))
        );
        assert_eq!(refusal(ip("::ffff:127.0.0.1"), &[net("127.0.0.0/8")]), None);
        assert!(refusal(ip("::1"), &[net("127.0.0.0/8")]).is_some());
        assert_eq!(refusal(ip("93.184.215.14"), &[]), None);
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
