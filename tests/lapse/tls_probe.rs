//! The TLS probe against servers started here, on loopback only.
//!
//! Every case states a rule and asserts the exact findings. Certificates are
//! made in the test (rcgen; the openssl CLI for an RSA-1024 key and a SHA-1
//! signature). Names resolve through a test DNS server on 127.0.0.1; most
//! cases pin the address instead.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::{
    intermediate, openssl_leaf, root, self_signed_leaf, Issued, LeafKey, TestPki, Validity,
};
use crate::harness::tls::{free_port, Misbehaviour, OpensslServer, Prelude, RawServer, TlsServer};
use chrono::Utc;
use lapse::cli::check_report::render_human;
use lapse::domain::certificate::{
    AddressFingerprint, DnsFailureKind, Finding, HandshakeFailure, KeyType, ReservedRange,
    Severity, SignatureHash, Stage, TlsMode, TrustVerdict,
};
use lapse::probe::tls::{AddressResult, EndpointReport, TlsProbe, TlsProbeSettings, TlsTarget};

const HOST: &str = "www.lapse.test";

fn net(text: &str) -> ipnet::IpNet {
    text.parse().expect("test range")
}

/// Loopback allowed, the test root trusted, short timeouts.
fn settings(pki: &TestPki) -> TlsProbeSettings {
    TlsProbeSettings {
        connect_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(3),
        deadline: Duration::from_secs(10),
        nameservers: Vec::new(),
        allow_ranges: vec![net("127.0.0.0/8"), net("::1/128")],
        extra_ca_pem: Some(pki.root_pem()),
        expiring_within_days: 30,
        critical_within_days: None,
        max_chain_bytes: 64 * 1024,
        per_address_concurrency: 0,
    }
}

fn with_dns(mut settings: TlsProbeSettings, dns: &DnsServer) -> TlsProbeSettings {
    settings.nameservers = vec![dns.addr];
    settings
}

/// `HOST` on the server's port, pinned to the server's address.
fn pinned(addr: SocketAddr) -> TlsTarget {
    TlsTarget::new(HOST, addr.port()).with_pinned_address(addr.ip())
}

async fn check(settings: TlsProbeSettings, target: TlsTarget) -> EndpointReport {
    let probe = TlsProbe::new(settings).expect("probe builds");
    probe.check(&target, Utc::now()).await
}

async fn serve(chain: Vec<rustls::pki_types::CertificateDer<'static>>, leaf: &Issued) -> TlsServer {
    TlsServer::start(ip("127.0.0.1"), chain, leaf.key_der()).await
}

/// The one address of a report without endpoint-level findings.
fn single(report: &EndpointReport) -> &AddressResult {
    assert_eq!(report.findings, vec![], "{report:#?}");
    assert_eq!(report.addresses.len(), 1, "{report:#?}");
    &report.addresses[0]
}

fn fingerprints(result: &AddressResult) -> Vec<&str> {
    result
        .chain
        .iter()
        .map(|cert| cert.sha256_fingerprint_hex.as_str())
        .collect()
}

// ----------------------------------------------------- validity & trust ----

#[tokio::test]
async fn valid_chain_from_the_test_ca_has_no_findings_and_reads_every_field() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = serve(pki.served(&leaf), &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(result.findings, vec![]);
    assert_eq!(report.severity(), Severity::Ok);
    assert_eq!(result.address, ip("127.0.0.1"));
    assert_eq!(result.trust, Some(TrustVerdict::Trusted));
    assert_eq!(result.tls_version.as_deref(), Some("TLSv1.3"));
    assert_eq!(
        fingerprints(result),
        vec![leaf.fingerprint(), pki.intermediate.fingerprint()]
    );
    let served = &result.chain[0];
    assert_eq!(served.subject, "CN=www.lapse.test");
    assert_eq!(served.sans, vec![HOST.to_owned()]);
    assert_eq!(served.issuer, "CN=lapse test intermediate");
    assert_eq!(served.not_before, leaf.validity.not_before);
    assert_eq!(served.not_after, leaf.validity.not_after);
    assert_eq!(served.key_type, KeyType::Ecdsa);
    assert_eq!(served.key_bits, 256);
    assert_eq!(served.signature_algorithm, "ecdsa-with-SHA256");
    assert_eq!(served.signature_hash, SignatureHash::Sha256);
    assert!(!served.serial_hex.is_empty());
    assert!(!served.is_self_signed && !served.is_ca && !served.is_trust_anchor);
    assert!(result.chain[1].is_ca && !result.chain[1].is_self_signed);
    assert_eq!(result.leaf_expires_at, Some(leaf.validity.not_after));
    assert_eq!(result.chain_expires_at, Some(leaf.validity.not_after));
}

#[tokio::test]
async fn expired_leaf_reports_expired_and_still_reads_the_chain() {
    let pki = TestPki::new();
    let leaf = pki.leaf(&[HOST], Validity::days(pki.now, -90, -3));
    let server = serve(pki.served(&leaf), &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![Finding::Expired {
            not_after: leaf.validity.not_after,
            days_ago: 2,
        }]
    );
    assert_eq!(report.severity(), Severity::Critical);
    assert_eq!(
        fingerprints(result),
        vec![leaf.fingerprint(), pki.intermediate.fingerprint()]
    );
    // Expiry is a date question; the issuer is still the trusted test CA.
    assert_eq!(result.trust, Some(TrustVerdict::Trusted));
}

#[tokio::test]
async fn leaf_with_5_days_left_is_expiring_with_5_days_left() {
    let pki = TestPki::new();
    let leaf = pki.leaf(&[HOST], Validity::days(pki.now, -60, 5));
    let server = serve(pki.served(&leaf), &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::Expiring {
            not_after: leaf.validity.not_after,
            days_left: 5,
            critical: false,
        }]
    );
    assert_eq!(report.severity(), Severity::Warning);
}

#[tokio::test]
async fn not_yet_valid_leaf_reports_not_yet_valid() {
    let pki = TestPki::new();
    let leaf = pki.leaf(&[HOST], Validity::days(pki.now, 2, 90));
    let server = serve(pki.served(&leaf), &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![Finding::NotYetValid {
            not_before: leaf.validity.not_before,
        }]
    );
    assert_eq!(result.trust, Some(TrustVerdict::Trusted));
}

#[tokio::test]
async fn certificate_for_another_name_reports_name_mismatch() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&["other.lapse.test"]);
    let server = serve(pki.served(&leaf), &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::NameMismatch {
            host: HOST.to_owned(),
            names: vec!["other.lapse.test".to_owned()],
        }]
    );
}

#[tokio::test]
async fn self_signed_leaf_reports_self_signed() {
    let pki = TestPki::new();
    let leaf = self_signed_leaf(&[HOST], Validity::days(pki.now, -1, 300));
    let server = serve(vec![leaf.der.clone()], &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![Finding::SelfSigned {
            subject: "CN=www.lapse.test".to_owned(),
        }]
    );
    assert_eq!(result.trust, Some(TrustVerdict::UnknownIssuer));
    assert!(result.chain[0].is_self_signed);
}

#[tokio::test]
async fn self_signed_certificate_with_the_ca_flag_reports_self_signed() {
    let pki = TestPki::new();
    let leaf = crate::harness::pki::self_signed_ca_leaf(&[HOST], Validity::days(pki.now, -1, 300));
    let server = serve(vec![leaf.der.clone()], &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::SelfSigned {
            subject: "CN=www.lapse.test".to_owned(),
        }]
    );
}

#[tokio::test]
async fn chain_to_an_unknown_root_reports_untrusted_issuer() {
    let pki = TestPki::new();
    let rogue_root = root("rogue root", Validity::days(pki.now, -100, 1000));
    let rogue_intermediate = intermediate(
        "rogue intermediate",
        Validity::days(pki.now, -100, 900),
        &rogue_root,
    );
    let leaf = crate::harness::pki::leaf(
        &[HOST],
        Validity::days(pki.now, -1, 90),
        &rogue_intermediate,
    );
    let server = serve(
        vec![leaf.der.clone(), rogue_intermediate.der.clone()],
        &leaf,
    )
    .await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::UntrustedIssuer {
            issuer: "CN=rogue root".to_owned(),
        }]
    );
}

#[tokio::test]
async fn leaf_served_without_its_intermediate_reports_incomplete_chain() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = serve(vec![leaf.der.clone()], &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::IncompleteChain {
            missing_issuer: "CN=lapse test intermediate".to_owned(),
        }]
    );
}

#[tokio::test]
async fn expired_intermediate_is_reported_apart_from_a_valid_leaf() {
    let pki = TestPki::new();
    let old_intermediate = intermediate(
        "expired intermediate",
        Validity::days(pki.now, -400, -10),
        &pki.root,
    );
    let leaf = crate::harness::pki::leaf(
        &[HOST],
        Validity::days(pki.now, -30, 300),
        &old_intermediate,
    );
    let server = serve(vec![leaf.der.clone(), old_intermediate.der.clone()], &leaf).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![Finding::IntermediateExpired {
            subject: "CN=expired intermediate".to_owned(),
            not_after: old_intermediate.validity.not_after,
        }]
    );
    assert_eq!(result.leaf_expires_at, Some(leaf.validity.not_after));
    assert_eq!(
        result.chain_expires_at,
        Some(old_intermediate.validity.not_after)
    );
}

#[tokio::test]
async fn served_root_expiring_before_the_leaf_lowers_neither_expiry() {
    let pki = TestPki::new();
    let short_root = root("short-lived root", Validity::days(pki.now, -100, 20));
    let long_intermediate = intermediate(
        "long intermediate",
        Validity::days(pki.now, -50, 400),
        &short_root,
    );
    let leaf = crate::harness::pki::leaf(
        &[HOST],
        Validity::days(pki.now, -30, 300),
        &long_intermediate,
    );
    let served = vec![
        leaf.der.clone(),
        long_intermediate.der.clone(),
        short_root.der.clone(),
    ];
    let server = serve(served, &leaf).await;
    let mut settings = settings(&pki);
    settings.extra_ca_pem = Some(short_root.pem.clone().into_bytes());

    let report = check(settings, pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(result.findings, vec![]);
    assert!(result.chain[2].is_trust_anchor);
    assert_eq!(result.leaf_expires_at, Some(leaf.validity.not_after));
    assert_eq!(result.chain_expires_at, Some(leaf.validity.not_after));
}

// -------------------------------------------------------- weak crypto ----

#[tokio::test]
async fn rsa_1024_leaf_reports_weak_key_although_the_handshake_refuses_it() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_pem, key_pem) = openssl_leaf(
        dir.path(),
        &pki.intermediate,
        HOST,
        LeafKey::Rsa1024,
        "sha256",
        90,
    );
    let server = OpensslServer::start(
        ip("127.0.0.1"),
        &cert_pem,
        &key_pem,
        Some(&pki.intermediate.pem),
        &[],
    )
    .await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![
            Finding::WeakKey {
                subject: "CN=www.lapse.test".to_owned(),
                key_type: KeyType::Rsa,
                key_bits: 1024,
            },
            Finding::HandshakeFailed {
                reason: HandshakeFailure::SignatureRejected,
            },
        ]
    );
    // The chain was read before rustls refused the key.
    assert_eq!(result.chain.len(), 2);
    assert_eq!(result.trust, Some(TrustVerdict::Trusted));
    assert_eq!(result.tls_version, None);
}

#[tokio::test]
async fn sha1_signed_leaf_reports_weak_signature() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let (cert_pem, _) = openssl_leaf(
        dir.path(),
        &pki.intermediate,
        HOST,
        LeafKey::Existing(&key),
        "sha1",
        90,
    );
    let chain = vec![
        crate::harness::pki::cert_from_pem(&cert_pem),
        pki.intermediate.der.clone(),
    ];
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let server = TlsServer::start(ip("127.0.0.1"), chain, key_der).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![Finding::WeakSignature {
            subject: "CN=www.lapse.test".to_owned(),
            algorithm: "ecdsa-with-SHA1".to_owned(),
        }]
    );
    assert_eq!(
        result.trust,
        Some(TrustVerdict::UnsupportedSignatureAlgorithm)
    );
    assert_eq!(result.tls_version.as_deref(), Some("TLSv1.3"));
}

#[tokio::test]
async fn oversized_chain_is_refused_before_it_is_read() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = serve(pki.served(&leaf), &leaf).await;
    let mut settings = settings(&pki);
    settings.max_chain_bytes = 300;

    let report = check(settings, pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::ChainTooLarge {
            certificates: 2,
            bytes: leaf.der.len() + pki.intermediate.der.len(),
            limit_bytes: 300,
        }]
    );
}

// ----------------------------------------------- addresses and names ----

/// Two TLS servers on 127.0.0.2 and 127.0.0.3, same port.
async fn two_servers(first: &Issued, second: &Issued, pki: &TestPki) -> (TlsServer, TlsServer) {
    let a = TlsServer::start_on(
        SocketAddr::new(ip("127.0.0.2"), 0),
        pki.served(first),
        first.key_der(),
        Prelude::None,
    )
    .await;
    let b = TlsServer::start_on(
        SocketAddr::new(ip("127.0.0.3"), a.addr.port()),
        pki.served(second),
        second.key_der(),
        Prelude::None,
    )
    .await;
    (a, b)
}

#[tokio::test]
async fn two_addresses_with_different_leaves_report_which_address_serves_which() {
    let pki = TestPki::new();
    let name = "multi.lapse.test";
    let first = pki.good_leaf(&[name]);
    let second = pki.leaf(&[name], Validity::days(pki.now, -10, 200));
    let (a, b) = two_servers(&first, &second, &pki).await;
    let dns = DnsServer::start(Zone::new().host(name, &[ip("127.0.0.2"), ip("127.0.0.3")])).await;

    let report = check(
        with_dns(settings(&pki), &dns),
        TlsTarget::new(name, a.addr.port()),
    )
    .await;

    let addresses: Vec<IpAddr> = report.addresses.iter().map(|r| r.address).collect();
    assert_eq!(addresses, vec![ip("127.0.0.2"), ip("127.0.0.3")]);
    for result in &report.addresses {
        assert_eq!(result.findings, vec![], "{}", result.address);
    }
    assert_eq!(
        report.findings,
        vec![Finding::AddressesDisagree {
            by_address: vec![
                AddressFingerprint {
                    address: ip("127.0.0.2"),
                    sha256_fingerprint_hex: first.fingerprint(),
                    not_after: first.validity.not_after,
                },
                AddressFingerprint {
                    address: ip("127.0.0.3"),
                    sha256_fingerprint_hex: second.fingerprint(),
                    not_after: second.validity.not_after,
                },
            ],
        }]
    );
    assert_eq!(report.severity(), Severity::Warning);
    assert_eq!((a.connections(), b.connections()), (1, 1));
}

#[tokio::test]
async fn two_addresses_serving_the_same_leaf_agree() {
    let pki = TestPki::new();
    let name = "same.lapse.test";
    let leaf = pki.good_leaf(&[name]);
    let (a, _b) = two_servers(&leaf, &leaf, &pki).await;
    let dns = DnsServer::start(Zone::new().host(name, &[ip("127.0.0.2"), ip("127.0.0.3")])).await;

    let report = check(
        with_dns(settings(&pki), &dns),
        TlsTarget::new(name, a.addr.port()),
    )
    .await;

    assert_eq!(report.findings, vec![]);
    assert_eq!(report.addresses.len(), 2);
    assert_eq!(report.severity(), Severity::Ok);
}

#[tokio::test]
async fn ipv6_address_on_loopback_is_checked() {
    let pki = TestPki::new();
    let name = "v6.lapse.test";
    let leaf = pki.good_leaf(&[name]);
    let server = TlsServer::start(ip("::1"), pki.served(&leaf), leaf.key_der()).await;
    let dns = DnsServer::start(Zone::new().host(name, &[ip("::1")])).await;

    let report = check(
        with_dns(settings(&pki), &dns),
        TlsTarget::new(name, server.addr.port()),
    )
    .await;

    let result = single(&report);
    assert_eq!(result.address, ip("::1"));
    assert_eq!(result.findings, vec![]);
    assert_eq!(fingerprints(result)[0], leaf.fingerprint());
}

#[tokio::test]
async fn nxdomain_is_a_dns_finding_without_addresses() {
    let pki = TestPki::new();
    let dns = DnsServer::start(Zone::new()).await;

    let report = check(
        with_dns(settings(&pki), &dns),
        TlsTarget::new("missing.lapse.test", 443),
    )
    .await;

    assert_eq!(report.addresses.len(), 0);
    assert_eq!(
        report.findings,
        vec![Finding::Dns {
            failure: DnsFailureKind::NxDomain,
        }]
    );
    assert_eq!(report.severity(), Severity::Unknown);
}

#[tokio::test]
async fn servfail_is_told_apart_from_nxdomain() {
    let pki = TestPki::new();
    let dns = DnsServer::start(Zone::new().servfail("broken.lapse.test")).await;

    let report = check(
        with_dns(settings(&pki), &dns),
        TlsTarget::new("broken.lapse.test", 443),
    )
    .await;

    assert_eq!(
        report.findings,
        vec![Finding::Dns {
            failure: DnsFailureKind::ServFail,
        }]
    );
}

#[tokio::test]
async fn unanswered_dns_query_is_a_dns_timeout() {
    let pki = TestPki::new();
    let dns = DnsServer::start(Zone::new().silent("slow.lapse.test")).await;
    let mut settings = with_dns(settings(&pki), &dns);
    settings.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();

    let report = check(settings, TlsTarget::new("slow.lapse.test", 443)).await;

    assert_eq!(
        report.findings,
        vec![Finding::Dns {
            failure: DnsFailureKind::Timeout,
        }]
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

// ------------------------------------------------------------- safety ----

#[tokio::test]
async fn name_resolving_to_loopback_is_refused_by_default_and_not_contacted() {
    let pki = TestPki::new();
    let name = "loopback.lapse.test";
    let leaf = pki.good_leaf(&[name]);
    let server = serve(pki.served(&leaf), &leaf).await;
    let dns = DnsServer::start(Zone::new().host(name, &[ip("127.0.0.1")])).await;
    let mut settings = with_dns(settings(&pki), &dns);
    settings.allow_ranges = Vec::new();

    let report = check(settings, TlsTarget::new(name, server.addr.port())).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::TargetRefused {
            address: ip("127.0.0.1"),
            range: net("127.0.0.0/8"),
            reserved: ReservedRange::Loopback,
        }]
    );
    assert_eq!(report.severity(), Severity::Unknown);
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn name_resolving_to_loopback_is_checked_when_allow_ranges_lists_127_0_0_0_8() {
    let pki = TestPki::new();
    let name = "loopback.lapse.test";
    let leaf = pki.good_leaf(&[name]);
    let server = serve(pki.served(&leaf), &leaf).await;
    let dns = DnsServer::start(Zone::new().host(name, &[ip("127.0.0.1")])).await;
    let mut settings = with_dns(settings(&pki), &dns);
    settings.allow_ranges = vec![net("127.0.0.0/8")];

    let report = check(settings, TlsTarget::new(name, server.addr.port())).await;

    assert_eq!(single(&report).findings, vec![]);
    assert_eq!(server.connections(), 1);
}

/// A name resolving to IPv6 addresses that carry reserved IPv4 ones
/// (NAT64, 6to4, IPv4-compatible), or to documentation ranges, is refused
/// with the range it reaches; nothing is dialled, even with loopback allowed
/// for IPv6 (`::1`) but not for IPv4.
#[tokio::test]
async fn addresses_carrying_reserved_ipv4_and_documentation_ranges_are_refused() {
    let pki = TestPki::new();
    let name = "carried.lapse.test";
    let leaf = pki.good_leaf(&[name]);
    let server = serve(pki.served(&leaf), &leaf).await;
    let carried = [
        ("64:ff9b::7f00:1", "127.0.0.0/8", ReservedRange::Loopback),
        (
            "2002:a9fe:a9fe::1",
            "169.254.169.254/32",
            ReservedRange::CloudMetadata,
        ),
        ("::10.0.0.1", "10.0.0.0/8", ReservedRange::Private),
        ("2001:db8::1", "2001:db8::/32", ReservedRange::Documentation),
        (
            "203.0.113.5",
            "203.0.113.0/24",
            ReservedRange::Documentation,
        ),
    ];
    let addresses: Vec<_> = carried.iter().map(|(a, _, _)| ip(a)).collect();
    let dns = DnsServer::start(Zone::new().host(name, &addresses)).await;
    let mut settings = with_dns(settings(&pki), &dns);
    settings.allow_ranges = vec![net("::1/128")];

    let report = check(settings, TlsTarget::new(name, server.addr.port())).await;

    assert_eq!(report.addresses.len(), carried.len(), "{report:#?}");
    for (address, range, reserved) in carried {
        let result = report
            .addresses
            .iter()
            .find(|r| r.address == ip(address))
            .unwrap_or_else(|| panic!("{address} not in {report:#?}"));
        assert_eq!(
            result.findings,
            vec![Finding::TargetRefused {
                address: ip(address),
                range: net(range),
                reserved,
            }],
            "{address}"
        );
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn pinned_address_is_subject_to_the_same_safety_rule() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = serve(pki.served(&leaf), &leaf).await;
    let mut settings = settings(&pki);
    settings.allow_ranges = vec![net("127.0.0.2/32")];

    let report = check(settings, pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::TargetRefused {
            address: ip("127.0.0.1"),
            range: net("127.0.0.0/8"),
            reserved: ReservedRange::Loopback,
        }]
    );
    assert_eq!(server.connections(), 0);
}

// ----------------------------------------------------------- STARTTLS ----

#[tokio::test]
async fn starttls_smtp_server_is_upgraded_and_checked() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = TlsServer::start_on(
        SocketAddr::new(ip("127.0.0.1"), 0),
        pki.served(&leaf),
        leaf.key_der(),
        Prelude::Smtp,
    )
    .await;

    let report = check(
        settings(&pki),
        pinned(server.addr).with_mode(TlsMode::StartTlsSmtp),
    )
    .await;

    let result = single(&report);
    assert_eq!(result.findings, vec![]);
    assert_eq!(report.mode, TlsMode::StartTlsSmtp);
    assert_eq!(fingerprints(result)[0], leaf.fingerprint());
    assert!(result.tls_version.is_some());
}

#[tokio::test]
async fn starttls_against_a_direct_tls_server_times_out_in_starttls_not_in_tls() {
    // A TLS server waits for a ClientHello; an SMTP client waits for "220".
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = serve(pki.served(&leaf), &leaf).await;
    let mut settings = settings(&pki);
    settings.handshake_timeout = Duration::from_millis(400);

    let report = check(
        settings,
        pinned(server.addr).with_mode(TlsMode::StartTlsSmtp),
    )
    .await;

    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![Finding::Timeout {
            stage: Stage::StartTls,
            limit_ms: 400,
        }]
    );
    assert!(result.duration_ms < 1400, "took {} ms", result.duration_ms);
}

// ---------------------------------------------------- broken servers ----

#[tokio::test]
async fn server_that_never_answers_ends_at_the_handshake_timeout() {
    let pki = TestPki::new();
    let server = RawServer::start(ip("127.0.0.1"), Misbehaviour::Silent).await;
    let mut settings = settings(&pki);
    settings.handshake_timeout = Duration::from_millis(500);
    let started = Instant::now();

    let report = check(settings, pinned(server.addr)).await;

    let elapsed = started.elapsed();
    let result = single(&report);
    assert_eq!(
        result.findings,
        vec![Finding::Timeout {
            stage: Stage::Handshake,
            limit_ms: 500,
        }]
    );
    assert!(
        (500..1500).contains(&result.duration_ms),
        "{} ms",
        result.duration_ms
    );
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert_eq!(report.severity(), Severity::Unknown);
}

#[tokio::test]
async fn overall_deadline_bounds_a_stalled_check() {
    let pki = TestPki::new();
    let server = RawServer::start(ip("127.0.0.1"), Misbehaviour::Silent).await;
    let mut settings = settings(&pki);
    settings.handshake_timeout = Duration::from_secs(30);
    settings.deadline = Duration::from_millis(600);
    let started = Instant::now();

    let report = check(settings, pinned(server.addr)).await;

    let elapsed = started.elapsed();
    assert_eq!(
        single(&report).findings,
        vec![Finding::Timeout {
            stage: Stage::Deadline,
            limit_ms: 600,
        }]
    );
    assert!(elapsed < Duration::from_millis(1600), "took {elapsed:?}");
}

#[tokio::test]
async fn server_that_resets_reports_reset() {
    let pki = TestPki::new();
    let server = RawServer::start(ip("127.0.0.1"), Misbehaviour::Reset).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::HandshakeFailed {
            reason: HandshakeFailure::Reset,
        }]
    );
}

#[tokio::test]
async fn plain_http_on_the_tls_port_reports_not_tls() {
    let pki = TestPki::new();
    let server = RawServer::start(ip("127.0.0.1"), Misbehaviour::PlainHttp).await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::HandshakeFailed {
            reason: HandshakeFailure::NotTls,
        }]
    );
}

#[tokio::test]
async fn refused_port_reports_connect_refused() {
    let pki = TestPki::new();
    let port = free_port(ip("127.0.0.1")).await;

    let report = check(
        settings(&pki),
        pinned(SocketAddr::new(ip("127.0.0.1"), port)),
    )
    .await;

    assert_eq!(single(&report).findings, vec![Finding::ConnectRefused]);
    assert_eq!(report.severity(), Severity::Unknown);
}

#[tokio::test]
async fn tls_1_1_only_server_reports_no_common_protocol() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let server = OpensslServer::start(
        ip("127.0.0.1"),
        &leaf.pem,
        &leaf.key.serialize_pem(),
        Some(&pki.intermediate.pem),
        &["-tls1_1"],
    )
    .await;

    let report = check(settings(&pki), pinned(server.addr)).await;

    assert_eq!(
        single(&report).findings,
        vec![Finding::HandshakeFailed {
            reason: HandshakeFailure::NoCommonProtocol,
        }]
    );
    assert_eq!(report.severity(), Severity::Critical);
}

// --------------------------------------------------------- the report ----

#[tokio::test]
async fn human_report_has_one_line_per_address_with_verdict_days_issuer_and_date() {
    let pki = TestPki::new();
    let name = "mixed.lapse.test";
    let good = pki.good_leaf(&[name]);
    let expired = pki.leaf(&[name], Validity::days(pki.now, -90, -3));
    let (a, _b) = two_servers(&good, &expired, &pki).await;
    let dns = DnsServer::start(Zone::new().host(name, &[ip("127.0.0.2"), ip("127.0.0.3")])).await;
    let probe = TlsProbe::new(with_dns(settings(&pki), &dns)).expect("probe");
    let now = Utc::now();

    let report = probe.check(&TlsTarget::new(name, a.addr.port()), now).await;
    let text = render_human(&report, now);

    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(&format!("{name}:{} (direct)  CRITICAL", a.addr.port())));
    assert!(lines[1].starts_with(
        "  OK        127.0.0.2  300 days left  issuer CN=lapse test intermediate  not after "
    ));
    assert!(lines[2].starts_with(
        "  CRITICAL  127.0.0.3  expired 2 days ago  issuer CN=lapse test intermediate  not after "
    ));
    assert!(lines[3].trim_start().starts_with("- expired 2 days ago"));
    assert!(lines[4]
        .trim_start()
        .starts_with("WARNING   addresses serve different certificates"));
    assert_eq!(lines.len(), 5, "{text}");
}

/// Runs `lapse check` with a config file holding `config` (plus `.test` as
/// a private TLD) and returns (exit code, stdout).
async fn run_cli(config: &str, args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lapse.toml");
    std::fs::write(
        &path,
        format!("[names]\nprivate_tlds = [\"test\"]\n{config}"),
    )
    .expect("write config");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lapse"))
        .arg("check")
        .args(args)
        .env("LAPSE_CONFIG", &path)
        .current_dir(dir.path())
        .output()
        .await
        .expect("run lapse check");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn cli_json_carries_the_exact_findings_and_exits_2_for_an_expired_certificate() {
    let pki = TestPki::new();
    let leaf = pki.leaf(&[HOST], Validity::days(pki.now, -90, -3));
    let server = serve(pki.served(&leaf), &leaf).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.root.pem).expect("write");
    let endpoint = format!("{HOST}:{}", server.addr.port());
    let config = format!(
        "[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n[tls]\nextra_ca_file = \"{}\"\n",
        ca_file.display()
    );

    let (code, stdout) = run_cli(&config, &[&endpoint, "--address", "127.0.0.1", "--json"]).await;

    assert_eq!(code, 2, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(json["severity"], "critical");
    assert_eq!(
        json["addresses"][0]["findings"],
        serde_json::json!([{
            "kind": "expired",
            "not_after": leaf.validity.not_after,
            "days_ago": 2,
        }])
    );
    assert_eq!(
        json["addresses"][0]["chain"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn cli_refuses_a_name_on_loopback_by_default_and_checks_it_when_allowed() {
    let pki = TestPki::new();
    let name = "loopback.lapse.test";
    let leaf = pki.good_leaf(&[name]);
    let server = serve(pki.served(&leaf), &leaf).await;
    let dns = DnsServer::start(Zone::new().host(name, &[ip("127.0.0.1")])).await;
    let endpoint = format!("{name}:{}", server.addr.port());
    let dns_config = format!("[dns]\nnameservers = [\"{}\"]\n", dns.addr);

    let (code, stdout) = run_cli(&dns_config, &[&endpoint, "--json"]).await;

    assert_eq!(code, 3, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(
        json["addresses"][0]["findings"],
        serde_json::json!([{
            "kind": "target_refused",
            "address": "127.0.0.1",
            "range": "127.0.0.0/8",
            "reserved": "loopback",
        }])
    );
    assert_eq!(server.connections(), 0);

    // Allowed in config: checked, and the human report reads at a glance.
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.root.pem).expect("write");
    let allowed = format!(
        "{dns_config}[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n[tls]\nextra_ca_file = \"{}\"\n",
        ca_file.display()
    );
    let (code, stdout) = run_cli(&allowed, &[&endpoint]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("OK        127.0.0.1"), "{stdout}");
    assert!(
        stdout.contains("days left  issuer CN=lapse test intermediate"),
        "{stdout}"
    );
    assert_eq!(server.connections(), 1);
}
