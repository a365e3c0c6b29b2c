//! Which addresses lapse contacts: the reserved ranges (loopback, private,
//! link-local, CGNAT, cloud metadata, documentation, multicast, ...) and the
//! rule that refuses them unless `targets.allow_ranges` lists them.
//!
//! Pure, so the probe (`probe::target_policy`, at dial time) and the input
//! surfaces (a pinned address set through the CLI or the API) judge an
//! address the same way. IPv6 addresses that carry an IPv4 address
//! (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
//! are judged as the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::certificate::ReservedRange;

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
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        ReservedRange::Documentation,
    ),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        ReservedRange::Documentation,
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        ReservedRange::Documentation,
    ),
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
    (
        Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0),
        32,
        ReservedRange::Documentation,
    ),
    // Benchmarking (RFC 5180).
    (
        Ipv6Addr::new(0x2001, 0x0002, 0, 0, 0, 0, 0, 0),
        48,
        ReservedRange::Reserved,
    ),
    // NAT64 local-use prefix (RFC 8215): where the IPv4 sits depends on the
    // operator's prefix length, so it cannot be read back; refused whole.
    (
        Ipv6Addr::new(0x0064, 0xff9b, 0x0001, 0, 0, 0, 0, 0),
        48,
        ReservedRange::Reserved,
    ),
    // Site-local, deprecated but still routed inside some networks.
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        ReservedRange::Private,
    ),
];

/// The IPv4 address an IPv6 address carries, when it carries one in a
/// known place: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, deprecated), NAT64's well-known prefix
/// (`64:ff9b::a.b.c.d`, RFC 6052) and 6to4 (`2002:AABB:CCDD::/48`,
/// RFC 3056). A gateway translates such an address to the IPv4 one, so the
/// IPv4 address is what a connection reaches.
pub fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let last = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // `::` and `::1` are their own ranges, not IPv4 0.0.0.0 / 0.0.0.1.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(last(hi, lo)),
        [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(last(hi, lo)),
        [0x2002, hi, lo, ..] => Some(last(hi, lo)),
        _ => None,
    }
}

/// The reserved range an address falls in, if any. An IPv6 address that
/// carries an IPv4 address is judged as that IPv4 address too: a carried
/// reserved address is reported with the IPv4 range.
pub fn reserved_range(address: IpAddr) -> Option<(IpNet, ReservedRange)> {
    match address {
        IpAddr::V4(v4) => reserved_v4(v4),
        IpAddr::V6(v6) => embedded_ipv4(v6).and_then(reserved_v4).or_else(|| {
            RESERVED_V6.iter().find_map(|(network, prefix, kind)| {
                let net = Ipv6Net::new(*network, *prefix).ok()?.trunc();
                net.contains(&v6).then_some((IpNet::V6(net), *kind))
            })
        }),
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
        IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    let allowed = allow_ranges
        .iter()
        .any(|range| range.contains(&address) || mapped.is_some_and(|v4| range.contains(&v4)));
    (!allowed).then_some(reserved)
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
            (
                "192.0.2.7",
                Some(("192.0.2.0/24", ReservedRange::Documentation)),
            ),
            (
                "198.51.100.1",
                Some(("198.51.100.0/24", ReservedRange::Documentation)),
            ),
            (
                "203.0.113.9",
                Some(("203.0.113.0/24", ReservedRange::Documentation)),
            ),
            (
                "2001:db8::1",
                Some(("2001:db8::/32", ReservedRange::Documentation)),
            ),
            (
                "198.18.0.1",
                Some(("198.18.0.0/15", ReservedRange::Reserved)),
            ),
            ("2001:2::1", Some(("2001:2::/48", ReservedRange::Reserved))),
            // IPv4 carried in IPv6 is judged as the IPv4 address.
            (
                "64:ff9b::7f00:1",
                Some(("127.0.0.0/8", ReservedRange::Loopback)),
            ),
            (
                "64:ff9b::a9fe:a9fe",
                Some(("169.254.169.254/32", ReservedRange::CloudMetadata)),
            ),
            (
                "2002:0a00:0001::1",
                Some(("10.0.0.0/8", ReservedRange::Private)),
            ),
            (
                "2002:c0a8:0101::",
                Some(("192.168.0.0/16", ReservedRange::Private)),
            ),
            (
                "::127.0.0.1",
                Some(("127.0.0.0/8", ReservedRange::Loopback)),
            ),
            ("::10.1.2.3", Some(("10.0.0.0/8", ReservedRange::Private))),
            (
                "64:ff9b:1::a00:1",
                Some(("64:ff9b:1::/48", ReservedRange::Reserved)),
            ),
            // ...and a public IPv4 address carried is not refused.
            ("64:ff9b::5db8:d70e", None),
            ("2002:5db8:d70e::1", None),
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
        // Allowing the IPv4 range allows it however it is carried.
        assert_eq!(refusal(ip("64:ff9b::7f00:1"), &[net("127.0.0.0/8")]), None);
        assert_eq!(
            refusal(ip("2002:7f00:0001::1"), &[net("127.0.0.0/8")]),
            None
        );
        assert!(refusal(ip("64:ff9b::7f00:1"), &[]).is_some());
    }
}
