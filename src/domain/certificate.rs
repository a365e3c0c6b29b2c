//! Certificates and what they mean: the vocabulary of the TLS check.
//!
//! Pure: no I/O, no async, and the clock is never read here (`now` is a
//! parameter). The probe (`probe::tls`) observes a server and hands over what
//! it saw; this module decides what that means.
//!
//! - [`CertificateInfo`]: the fields of one served certificate, already read.
//! - [`TrustVerdict`]: what the trust store said about the served chain,
//!   independent of time and of the host name (both are judged here).
//! - [`Finding`]: one thing wrong (or worth knowing) about an endpoint or one
//!   of its addresses. Each is a distinct value with data, never a string to
//!   grep. A failing target is a finding, not an `Err`.
//! - [`Severity`]: how bad a set of findings is, with the exit code of the
//!   one-shot check.
//! - [`assess_chain`]: the rules that turn a served chain into findings.
//!
//! Two expiries are kept apart: the leaf's own `not_after`, and the earliest
//! `not_after` on the chain that validates (leaf and intermediates up to, but
//! not including, the trust anchor). A root the server happens to send is a
//! trust anchor or an untrusted root; either way its expiry counts for neither.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

mod wording;

/// How a service is reached before TLS starts.
///
/// Kept with the certificate vocabulary because endpoints, observations and
/// reports all name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS from the first byte (HTTPS, SMTPS, IMAPS, ...).
    Direct,
    /// SMTP `EHLO` + `STARTTLS` (RFC 3207).
    StartTlsSmtp,
    /// IMAP `STARTTLS` (RFC 3501).
    StartTlsImap,
    /// POP3 `STLS` (RFC 2595).
    StartTlsPop3,
}

impl TlsMode {
    /// The mode a port implies when none is given: 25 and 587 speak SMTP,
    /// 143 IMAP, 110 POP3; every other port (443, 465, 993, 995, ...) is
    /// direct TLS.
    pub fn default_for_port(port: u16) -> Self {
        match port {
            25 | 587 => Self::StartTlsSmtp,
            143 => Self::StartTlsImap,
            110 => Self::StartTlsPop3,
            _ => Self::Direct,
        }
    }

    /// Short name as typed on the command line (`smtp`, `imap`, `pop3`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::StartTlsSmtp => "starttls smtp",
            Self::StartTlsImap => "starttls imap",
            Self::StartTlsPop3 => "starttls pop3",
        }
    }
}

/// Algorithm of a certificate's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    Rsa,
    Ecdsa,
    Ed25519,
    Ed448,
    Dsa,
    Other,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa => "RSA",
            Self::Ecdsa => "ECDSA",
            Self::Ed25519 => "Ed25519",
            Self::Ed448 => "Ed448",
            Self::Dsa => "DSA",
            Self::Other => "unknown key type",
        })
    }
}

/// The digest inside a certificate's signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureHash {
    Md2,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    /// EdDSA: the hash is part of the algorithm.
    Intrinsic,
    Unknown,
}

impl SignatureHash {
    /// MD2, MD5 and SHA-1 are broken for signatures: collisions can be bought.
    pub fn is_weak(self) -> bool {
        matches!(self, Self::Md2 | Self::Md5 | Self::Sha1)
    }
}

/// The fields of one certificate, as served. Read by the probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// Distinguished name, RFC 4514 style (`CN=example.com, O=Example`).
    pub subject: String,
    /// DNS names and IP addresses from subjectAltName, as written.
    pub sans: Vec<String>,
    pub issuer: String,
    /// Serial number, lowercase hex of its DER bytes.
    pub serial_hex: String,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256_fingerprint_hex: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub key_type: KeyType,
    /// Modulus size for RSA/DSA, field size for ECDSA; 0 when unknown.
    pub key_bits: u32,
    /// Name of the signature algorithm (`sha256WithRSAEncryption`, or the
    /// dotted OID when the name is unknown).
    pub signature_algorithm: String,
    pub signature_hash: SignatureHash,
    /// Issuer equals subject (and the key identifiers agree where present).
    pub is_self_signed: bool,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    pub subject_key_id_hex: Option<String>,
    pub authority_key_id_hex: Option<String>,
    /// The subject and key of this certificate are a trust anchor in the trust
    /// store the probe used (a served root, or a cross-signed copy of one).
    /// The probe sets it; validation ends here, so its expiry does not count.
    pub is_trust_anchor: bool,
}

impl CertificateInfo {
    /// Whether `issuer` plausibly issued `self`: names match and, where both
    /// key identifiers are present, they match too.
    fn is_issued_by(&self, issuer: &CertificateInfo) -> bool {
        if self.issuer != issuer.subject {
            return false;
        }
        match (&self.authority_key_id_hex, &issuer.subject_key_id_hex) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }

    fn has_weak_key(&self) -> bool {
        match self.key_type {
            KeyType::Rsa => self.key_bits < MIN_RSA_BITS,
            KeyType::Dsa => true,
            KeyType::Ecdsa => self.key_bits < MIN_EC_BITS,
            KeyType::Ed25519 | KeyType::Ed448 | KeyType::Other => false,
        }
    }
}

/// RSA below 2048 bits is breakable, and rustls refuses it in the handshake.
pub const MIN_RSA_BITS: u32 = 2048;
/// Curves below P-224 (P-192 and smaller) are no longer considered safe.
pub const MIN_EC_BITS: u32 = 224;

/// What the trust store says about the served chain, judged at a time when the
/// chain is valid and without the host name: expiry and name are separate
/// findings, decided by [`assess_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum TrustVerdict {
    /// The chain leads to a trust anchor.
    Trusted,
    /// No path to a trust anchor: untrusted root, self-signed, or a missing
    /// intermediate ([`assess_chain`] tells which).
    UnknownIssuer,
    /// A signature on the path uses an algorithm the verifier refuses (SHA-1,
    /// MD5, ...).
    UnsupportedSignatureAlgorithm,
    /// Rejected for another reason (bad signature, wrong key usage, ...).
    Rejected(String),
    /// The verdict could not be reached, e.g. the certificates on the path were
    /// never valid at the same time.
    Undetermined,
}

/// Why a DNS lookup gave no address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "detail", rename_all = "snake_case")]
pub enum DnsFailureKind {
    /// The name does not exist.
    NxDomain,
    /// The resolver or the authority failed (SERVFAIL).
    ServFail,
    /// No answer in time.
    Timeout,
    /// The name exists but has neither A nor AAAA records.
    NoAddresses,
    Other(String),
}

/// Where a check ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Dns,
    Connect,
    StartTls,
    Handshake,
    /// The overall deadline of the endpoint check.
    Deadline,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns => "DNS lookup",
            Self::Connect => "connect",
            Self::StartTls => "STARTTLS",
            Self::Handshake => "TLS handshake",
            Self::Deadline => "overall deadline",
        })
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "detail", rename_all = "snake_case")]
pub enum HandshakeFailure {
    /// No protocol version or cipher suite both sides accept.
    NoCommonProtocol,
    /// The server sent a TLS alert (its name).
    Alert(String),
    /// The server reset the connection.
    Reset,
    /// The server closed the connection without a TLS answer.
    Closed,
    /// The server answered, but not in TLS (plain HTTP on a TLS port, ...).
    NotTls,
    /// The server's handshake signature was refused: its key is too weak for
    /// the client (RSA < 2048) or the signature does not verify.
    SignatureRejected,
    /// The server sent more handshake bytes than the probe reads.
    TooManyBytes {
        limit_bytes: usize,
    },
    /// One handshake message (in practice the certificates) larger than the client reads.
    MessageTooLarge {
        limit_bytes: usize,
    },
    Other(String),
}

/// Address ranges that are not contacted unless configuration allows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservedRange {
    Unspecified,
    Loopback,
    /// RFC 1918.
    Private,
    /// IPv6 unique local, fc00::/7.
    UniqueLocal,
    LinkLocal,
    /// Carrier-grade NAT, 100.64.0.0/10.
    SharedAddressSpace,
    /// Cloud instance metadata services (169.254.169.254, fd00:ec2::254).
    CloudMetadata,
    Multicast,
    Broadcast,
    /// Documentation examples (192.0.2.0/24, 198.51.100.0/24,
    /// 203.0.113.0/24, 2001:db8::/32): no real service lives there.
    Documentation,
    /// Reserved for future use or special purposes.
    Reserved,
}

impl fmt::Display for ReservedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::UniqueLocal => "unique local",
            Self::LinkLocal => "link-local",
            Self::SharedAddressSpace => "shared address space (CGNAT)",
            Self::CloudMetadata => "cloud metadata",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
        })
    }
}

/// Which leaf one address serves, for [`Finding::AddressesDisagree`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFingerprint {
    pub address: IpAddr,
    pub sha256_fingerprint_hex: String,
    pub not_after: DateTime<Utc>,
}

/// One thing wrong with, or worth knowing about, an endpoint or an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The leaf is past its `not_after`.
    Expired {
        not_after: DateTime<Utc>,
        days_ago: i64,
    },
    /// The leaf expires within the threshold (or within the last third of its
    /// lifetime, for short-lived certificates).
    Expiring {
        not_after: DateTime<Utc>,
        days_left: i64,
        /// Within the critical window (`lapse check --critical`): whole
        /// days left at or under it. Absent (false) from scans' findings.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        critical: bool,
    },
    /// The leaf's `not_before` is still ahead.
    NotYetValid {
        not_before: DateTime<Utc>,
    },
    /// None of the leaf's names covers the host.
    NameMismatch {
        host: String,
        names: Vec<String>,
    },
    /// The chain leads to a root that is not trusted.
    UntrustedIssuer {
        issuer: String,
    },
    /// The leaf signed itself.
    SelfSigned {
        subject: String,
    },
    /// The server sent only the leaf and its issuer is unknown: most likely
    /// the intermediate is missing from the server's configuration.
    IncompleteChain {
        missing_issuer: String,
    },
    /// An intermediate on the validating chain has expired.
    IntermediateExpired {
        subject: String,
        not_after: DateTime<Utc>,
    },
    /// An intermediate on the validating chain expires before the leaf: the
    /// chain breaks earlier than the leaf's date says.
    IntermediateExpiresBeforeLeaf {
        subject: String,
        not_after: DateTime<Utc>,
        days_left: i64,
    },
    /// RSA below 2048 bits, DSA, or a curve below 224 bits.
    WeakKey {
        subject: String,
        key_type: KeyType,
        key_bits: u32,
    },
    /// Signed with SHA-1, MD5 or MD2.
    WeakSignature {
        subject: String,
        algorithm: String,
    },
    /// The trust store rejected the chain for a reason not named above.
    ChainRejected {
        reason: String,
    },
    /// A served certificate could not be read.
    MalformedCertificate {
        position: usize,
        reason: String,
    },
    /// The served chain is larger than the probe accepts.
    ChainTooLarge {
        certificates: usize,
        bytes: usize,
        limit_bytes: usize,
    },
    /// The served chain has more certificates than the probe accepts.
    ChainTooLong {
        certificates: usize,
        limit_certificates: usize,
    },
    /// Different leaves behind different addresses of one name.
    AddressesDisagree {
        by_address: Vec<AddressFingerprint>,
    },
    HandshakeFailed {
        reason: HandshakeFailure,
    },
    /// The plaintext protocol did not lead to TLS (STARTTLS not offered,
    /// refused, or an unexpected reply).
    StartTlsFailed {
        reply: String,
    },
    /// Nothing listens on the port.
    ConnectRefused,
    /// Connecting failed otherwise (unreachable, ...).
    ConnectFailed {
        reason: String,
    },
    /// A step did not finish within its limit. The limit, not the measured
    /// time, so that the same stall gives the same finding every time (the
    /// measured time is the address's `duration_ms`).
    Timeout {
        stage: Stage,
        limit_ms: u64,
    },
    /// The name did not resolve. (`failure`, not `kind`: `kind` is the tag.)
    Dns {
        failure: DnsFailureKind,
    },
    /// The address is in a range that is not contacted unless configuration
    /// allows it (`targets.allow_ranges`).
    TargetRefused {
        address: IpAddr,
        range: IpNet,
        reserved: ReservedRange,
    },
}

impl Finding {
    /// How bad this finding is on its own.
    pub fn severity(&self) -> Severity {
        match self {
            Self::Expired { .. }
            | Self::NotYetValid { .. }
            | Self::NameMismatch { .. }
            | Self::UntrustedIssuer { .. }
            | Self::SelfSigned { .. }
            | Self::IncompleteChain { .. }
            | Self::IntermediateExpired { .. }
            | Self::WeakKey { .. }
            | Self::WeakSignature { .. }
            | Self::ChainRejected { .. }
            | Self::MalformedCertificate { .. }
            | Self::Expiring { critical: true, .. } => Severity::Critical,
            Self::Expiring { .. }
            | Self::IntermediateExpiresBeforeLeaf { .. }
            | Self::AddressesDisagree { .. } => Severity::Warning,
            // A server no modern client can talk to is broken, not unknown.
            Self::HandshakeFailed {
                reason: HandshakeFailure::NoCommonProtocol | HandshakeFailure::SignatureRejected,
            } => Severity::Critical,
            Self::HandshakeFailed { .. }
            | Self::ChainTooLarge { .. }
            | Self::ChainTooLong { .. }
            | Self::StartTlsFailed { .. }
            | Self::ConnectRefused
            | Self::ConnectFailed { .. }
            | Self::Timeout { .. }
            | Self::Dns { .. }
            | Self::TargetRefused { .. } => Severity::Unknown,
        }
    }
}

/// How bad a result is. Order of badness: `Ok < Warning < Unknown < Critical`:
/// a check that could not reach one address cannot be called merely
/// "warning", but a broken certificate is worse than a missing answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warning,
    Critical,
    /// Could not check.
    Unknown,
}

impl Severity {
    /// Exit code of the one-shot check: 0 ok, 1 warning, 2 critical, 3 could
    /// not check (the monitoring-plugin convention).
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Critical => 2,
            Self::Unknown => 3,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Unknown => 2,
            Self::Critical => 3,
        }
    }

    /// The worse of two severities.
    pub fn worst(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// The worst severity among findings; `Ok` when there are none.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        findings
            .into_iter()
            .map(Finding::severity)
            .fold(Self::Ok, Self::worst)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Critical => "CRITICAL",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// What [`assess_chain`] concluded about one served chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainAssessment {
    pub findings: Vec<Finding>,
    /// The leaf's `not_after`.
    pub leaf_expires_at: DateTime<Utc>,
    /// The earliest `not_after` among the leaf and the intermediates that lead
    /// to the trust anchor; served roots and anchors do not count.
    pub chain_expires_at: DateTime<Utc>,
}

/// Whole days from `now` to `then`, rounded down (negative in the past).
pub fn days_until(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    (then - now).num_seconds().div_euclid(86_400)
}

/// When a leaf counts as expiring: fewer than `warning_days` left (or less
/// than a third of its lifetime, for a short-lived certificate), and, with
/// `critical_days`, critically so at that many whole days left or fewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryWindow {
    pub warning_days: u32,
    pub critical_days: Option<u32>,
}

impl ExpiryWindow {
    /// A warning window alone (scans: expiring is a warning).
    pub fn warning(days: u32) -> Self {
        Self {
            warning_days: days,
            critical_days: None,
        }
    }
}

/// Judges a served chain (leaf first, as the server sent it).
///
/// `trust` is the trust store's verdict without time and name; time and name
/// are judged here against `now` and `host`. A leaf counts as expiring when
/// less than `expiring_within_days` are left, or, for a short-lived
/// certificate, less than a third of its lifetime: a 6-day certificate is not
/// "expiring" for its whole life.
///
/// Returns `None` for an empty chain (nothing to judge).
pub fn assess_chain(
    chain: &[CertificateInfo],
    trust: &TrustVerdict,
    host: &str,
    now: DateTime<Utc>,
    window: ExpiryWindow,
) -> Option<ChainAssessment> {
    let leaf = chain.first()?;
    let walk = ValidatingPath::walk(chain);
    let mut findings = Vec::new();
    findings.extend(leaf_validity(leaf, now, window));
    findings.extend(intermediate_expiries(&walk, leaf, now));
    if !name_matches(host, &leaf.sans) {
        findings.push(Finding::NameMismatch {
            host: host.to_owned(),
            names: leaf.sans.clone(),
        });
    }
    let weak_signatures: Vec<Finding> = walk
        .path
        .iter()
        .filter(|cert| !cert.is_self_signed && cert.signature_hash.is_weak())
        .map(|cert| Finding::WeakSignature {
            subject: cert.subject.clone(),
            algorithm: cert.signature_algorithm.clone(),
        })
        .collect();
    findings.extend(why_not_trusted(
        trust,
        leaf,
        &walk,
        !weak_signatures.is_empty(),
    ));
    findings.extend(
        walk.path
            .iter()
            .filter(|cert| cert.has_weak_key())
            .map(|cert| Finding::WeakKey {
                subject: cert.subject.clone(),
                key_type: cert.key_type,
                key_bits: cert.key_bits,
            }),
    );
    findings.extend(weak_signatures);

    let chain_expires_at = walk
        .path
        .iter()
        .map(|cert| cert.not_after)
        .min()
        .unwrap_or(leaf.not_after);
    Some(ChainAssessment {
        findings,
        leaf_expires_at: leaf.not_after,
        chain_expires_at,
    })
}

/// Not yet valid, expired, or expiring within the window; nothing otherwise.
fn leaf_validity(
    leaf: &CertificateInfo,
    now: DateTime<Utc>,
    window: ExpiryWindow,
) -> Option<Finding> {
    if now < leaf.not_before {
        Some(Finding::NotYetValid {
            not_before: leaf.not_before,
        })
    } else if now >= leaf.not_after {
        Some(Finding::Expired {
            not_after: leaf.not_after,
            days_ago: days_until(leaf.not_after, now),
        })
    } else if leaf.not_after - now <= expiring_window(leaf, window.warning_days) {
        let days_left = days_until(now, leaf.not_after);
        Some(Finding::Expiring {
            not_after: leaf.not_after,
            days_left,
            critical: window
                .critical_days
                .is_some_and(|days| days_left <= i64::from(days)),
        })
    } else {
        None
    }
}

/// Intermediates on the validating path that expired, or that expire before
/// the leaf (the chain breaks first).
fn intermediate_expiries<'a>(
    walk: &'a ValidatingPath<'_>,
    leaf: &'a CertificateInfo,
    now: DateTime<Utc>,
) -> impl Iterator<Item = Finding> + 'a {
    walk.path.iter().skip(1).filter_map(move |intermediate| {
        if now >= intermediate.not_after {
            Some(Finding::IntermediateExpired {
                subject: intermediate.subject.clone(),
                not_after: intermediate.not_after,
            })
        } else if intermediate.not_after < leaf.not_after {
            Some(Finding::IntermediateExpiresBeforeLeaf {
                subject: intermediate.subject.clone(),
                not_after: intermediate.not_after,
                days_left: days_until(now, intermediate.not_after),
            })
        } else {
            None
        }
    })
}

/// The finding that explains the trust store's rejection, if one is needed:
/// a weak signature found on the path already explains an unsupported
/// signature algorithm.
fn why_not_trusted(
    trust: &TrustVerdict,
    leaf: &CertificateInfo,
    walk: &ValidatingPath<'_>,
    weak_signature_found: bool,
) -> Option<Finding> {
    match trust {
        TrustVerdict::Trusted | TrustVerdict::Undetermined => None,
        // A self-signed leaf explains any rejection (webpki calls the usual
        // `openssl req -x509` certificate "a CA used as end entity").
        _ if leaf.is_self_signed => Some(Finding::SelfSigned {
            subject: leaf.subject.clone(),
        }),
        TrustVerdict::UnknownIssuer => Some(walk.why_untrusted()),
        TrustVerdict::UnsupportedSignatureAlgorithm if weak_signature_found => None,
        TrustVerdict::UnsupportedSignatureAlgorithm => Some(Finding::ChainRejected {
            reason: "unsupported signature algorithm".to_owned(),
        }),
        TrustVerdict::Rejected(reason) => Some(Finding::ChainRejected {
            reason: reason.clone(),
        }),
    }
}

/// The warning window for a leaf: the threshold, shortened to a third of the
/// certificate's lifetime for short-lived certificates.
fn expiring_window(leaf: &CertificateInfo, expiring_within_days: u32) -> Duration {
    let threshold = Duration::days(i64::from(expiring_within_days));
    let third_of_lifetime = (leaf.not_after - leaf.not_before) / 3;
    threshold.min(third_of_lifetime)
}

/// The leaf and the served intermediates that lead from it towards a trust
/// anchor, found by issuer links (not by the order the server used).
struct ValidatingPath<'a> {
    /// Leaf first; stops before a trust anchor or a self-signed root.
    path: Vec<&'a CertificateInfo>,
    /// The served certificate the walk stopped at (an anchor or a self-signed
    /// root), if it reached one.
    terminal: Option<&'a CertificateInfo>,
    leaf_is_self_signed: bool,
}

impl<'a> ValidatingPath<'a> {
    fn walk(chain: &'a [CertificateInfo]) -> Self {
        let mut path: Vec<&CertificateInfo> = Vec::new();
        let mut terminal = None;
        let Some(leaf) = chain.first() else {
            return Self {
                path,
                terminal,
                leaf_is_self_signed: false,
            };
        };
        path.push(leaf);
        if leaf.is_self_signed {
            return Self {
                path,
                terminal,
                leaf_is_self_signed: true,
            };
        }
        let mut used = vec![false; chain.len()];
        used[0] = true;
        let mut current = leaf;
        loop {
            let next = chain
                .iter()
                .enumerate()
                .find(|(index, candidate)| !used[*index] && current.is_issued_by(candidate));
            let Some((index, issuer)) = next else { break };
            used[index] = true;
            if issuer.is_trust_anchor || issuer.is_self_signed {
                terminal = Some(issuer);
                break;
            }
            path.push(issuer);
            current = issuer;
        }
        Self {
            path,
            terminal,
            leaf_is_self_signed: false,
        }
    }

    /// Names the reason for an "unknown issuer" verdict.
    ///
    /// A served self-signed root that is not trusted is an untrusted issuer. A
    /// lone leaf whose issuer is not served is almost always a server that
    /// forgot its intermediate (public CAs do not issue leaves from roots), so
    /// that is an incomplete chain; a chain with intermediates that ends at an
    /// unknown issuer leads to an untrusted root.
    fn why_untrusted(&self) -> Finding {
        let leaf = self.path[0];
        if self.leaf_is_self_signed {
            return Finding::SelfSigned {
                subject: leaf.subject.clone(),
            };
        }
        if let Some(root) = self.terminal.filter(|cert| !cert.is_trust_anchor) {
            return Finding::UntrustedIssuer {
                issuer: root.subject.clone(),
            };
        }
        let top = self.path[self.path.len() - 1];
        if self.path.len() == 1 && self.terminal.is_none() {
            Finding::IncompleteChain {
                missing_issuer: leaf.issuer.clone(),
            }
        } else {
            Finding::UntrustedIssuer {
                issuer: top.issuer.clone(),
            }
        }
    }
}

/// Whether `host` is covered by one of `sans` (DNS names, possibly with a
/// left-most `*` label, or IP addresses). Case-insensitive; a wildcard covers
/// exactly one label and never a bare suffix. The subject CN is not consulted,
/// as in browsers and webpki.
pub fn name_matches(host: &str, sans: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return sans
            .iter()
            .any(|san| san.parse::<IpAddr>().is_ok_and(|san_ip| san_ip == ip));
    }
    sans.iter().any(|san| {
        let san = san.trim_end_matches('.').to_ascii_lowercase();
        match san.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => san == host,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn day(offset: i64) -> DateTime<Utc> {
        now() + Duration::days(offset)
    }

    fn cert(subject: &str, issuer: &str) -> CertificateInfo {
        CertificateInfo {
            subject: format!("CN={subject}"),
            sans: Vec::new(),
            issuer: format!("CN={issuer}"),
            serial_hex: "01".to_owned(),
            sha256_fingerprint_hex: format!("{subject:0>64}"),
            not_before: day(-30),
            not_after: day(300),
            key_type: KeyType::Ecdsa,
            key_bits: 256,
            signature_algorithm: "ecdsa-with-SHA256".to_owned(),
            signature_hash: SignatureHash::Sha256,
            is_self_signed: subject == issuer,
            is_ca: subject != "leaf",
            subject_key_id_hex: None,
            authority_key_id_hex: None,
            is_trust_anchor: false,
        }
    }

    fn leaf() -> CertificateInfo {
        let mut leaf = cert("leaf", "Intermediate");
        leaf.sans = vec!["www.example.com".to_owned()];
        leaf.not_after = day(60);
        leaf
    }

    fn intermediate() -> CertificateInfo {
        cert("Intermediate", "Root")
    }

    fn root() -> CertificateInfo {
        cert("Root", "Root")
    }

    fn assess(chain: &[CertificateInfo], trust: TrustVerdict) -> ChainAssessment {
        assess_chain(
            chain,
            &trust,
            "www.example.com",
            now(),
            ExpiryWindow::warning(30),
        )
        .expect("non-empty chain")
    }

    #[test]
    fn trusted_chain_with_time_left_has_no_findings() {
        let result = assess(&[leaf(), intermediate()], TrustVerdict::Trusted);
        assert_eq!(result.findings, vec![]);
        assert_eq!(result.leaf_expires_at, day(60));
        assert_eq!(result.chain_expires_at, day(60));
    }

    #[test]
    fn leaf_expiry_is_judged_on_the_leaf_dates() {
        let cases: &[(&str, i64, i64, Vec<Finding>)] = &[
            ("plenty left", -30, 60, vec![]),
            (
                "5 days left",
                -85,
                5,
                vec![Finding::Expiring {
                    not_after: day(5),
                    days_left: 5,
                    critical: false,
                }],
            ),
            (
                "exactly at the threshold",
                -300,
                30,
                vec![Finding::Expiring {
                    not_after: day(30),
                    days_left: 30,
                    critical: false,
                }],
            ),
            (
                "expired 3 days ago",
                -90,
                -3,
                vec![Finding::Expired {
                    not_after: day(-3),
                    days_ago: 3,
                }],
            ),
            (
                "not yet valid",
                2,
                92,
                vec![Finding::NotYetValid { not_before: day(2) }],
            ),
        ];
        for (case, not_before, not_after, expected) in cases {
            let mut leaf = leaf();
            leaf.not_before = day(*not_before);
            leaf.not_after = day(*not_after);
            let result = assess(&[leaf, intermediate()], TrustVerdict::Trusted);
            assert_eq!(&result.findings, expected, "{case}");
        }
    }

    #[test]
    fn expired_right_at_not_after_and_days_round_down() {
        let mut leaf = leaf();
        leaf.not_after = now();
        let result = assess(&[leaf.clone()], TrustVerdict::Trusted);
        assert_eq!(
            result.findings,
            vec![Finding::Expired {
                not_after: now(),
                days_ago: 0
            }]
        );
        leaf.not_after = now() + Duration::hours(5 * 24 + 23);
        assert_eq!(days_until(now(), leaf.not_after), 5);
        assert_eq!(days_until(leaf.not_after, now()), -6);
    }

    #[test]
    fn short_lived_certificate_is_expiring_only_in_its_last_third() {
        // A 6-day certificate with 3 days left has half its life ahead.
        let mut leaf = leaf();
        leaf.not_before = day(-3);
        leaf.not_after = day(3);
        assert_eq!(
            assess(&[leaf.clone()], TrustVerdict::Trusted).findings,
            vec![]
        );
        // With 1 day left (less than 2 days, a third of 6) it is late.
        leaf.not_before = day(-5);
        leaf.not_after = day(1);
        assert_eq!(
            assess(&[leaf], TrustVerdict::Trusted).findings,
            vec![Finding::Expiring {
                not_after: day(1),
                days_left: 1,
                critical: false,
            }]
        );
    }

    #[test]
    fn expired_intermediate_is_reported_apart_from_the_leaf() {
        let mut intermediate = intermediate();
        intermediate.not_after = day(-1);
        let result = assess(&[leaf(), intermediate], TrustVerdict::Trusted);
        assert_eq!(
            result.findings,
            vec![Finding::IntermediateExpired {
                subject: "CN=Intermediate".to_owned(),
                not_after: day(-1),
            }]
        );
        assert_eq!(result.leaf_expires_at, day(60));
        assert_eq!(result.chain_expires_at, day(-1));
    }

    #[test]
    fn intermediate_expiring_before_the_leaf_lowers_the_chain_expiry() {
        let mut intermediate = intermediate();
        intermediate.not_after = day(45);
        let result = assess(&[leaf(), intermediate], TrustVerdict::Trusted);
        assert_eq!(
            result.findings,
            vec![Finding::IntermediateExpiresBeforeLeaf {
                subject: "CN=Intermediate".to_owned(),
                not_after: day(45),
                days_left: 45,
            }]
        );
        assert_eq!(result.chain_expires_at, day(45));
    }

    #[test]
    fn a_served_root_does_not_lower_either_expiry() {
        let mut root = root();
        root.not_after = day(10);
        let result = assess(&[leaf(), intermediate(), root], TrustVerdict::Trusted);
        assert_eq!(result.findings, vec![]);
        assert_eq!(result.chain_expires_at, day(60));
    }

    #[test]
    fn a_served_cross_signed_anchor_does_not_lower_the_chain_expiry() {
        // The old cross-sign of a trusted root, signed by an expired root: the
        // chain validates at the anchor, so the cross-sign's date is moot.
        let mut cross_signed = cert("Root", "Old Root");
        cross_signed.is_trust_anchor = true;
        cross_signed.not_after = day(-400);
        let result = assess(
            &[leaf(), intermediate(), cross_signed],
            TrustVerdict::Trusted,
        );
        assert_eq!(result.findings, vec![]);
        assert_eq!(result.chain_expires_at, day(60));
    }

    #[test]
    fn path_follows_issuer_links_not_the_served_order() {
        let mut intermediate = intermediate();
        intermediate.not_after = day(20);
        let unrelated = {
            let mut other = cert("Unrelated", "Elsewhere");
            other.not_after = day(1);
            other
        };
        let result = assess(
            &[leaf(), unrelated, root(), intermediate],
            TrustVerdict::Trusted,
        );
        assert_eq!(result.chain_expires_at, day(20));
    }

    #[test]
    fn unknown_issuer_is_explained_by_the_shape_of_the_chain() {
        let mut self_signed = cert("www.example.com", "www.example.com");
        self_signed.sans = vec!["www.example.com".to_owned()];
        let cases: Vec<(&str, Vec<CertificateInfo>, Finding)> = vec![
            (
                "self-signed leaf",
                vec![self_signed],
                Finding::SelfSigned {
                    subject: "CN=www.example.com".to_owned(),
                },
            ),
            (
                "lone leaf: intermediate missing",
                vec![leaf()],
                Finding::IncompleteChain {
                    missing_issuer: "CN=Intermediate".to_owned(),
                },
            ),
            (
                "intermediate served, root unknown",
                vec![leaf(), intermediate()],
                Finding::UntrustedIssuer {
                    issuer: "CN=Root".to_owned(),
                },
            ),
            (
                "untrusted root served",
                vec![leaf(), intermediate(), root()],
                Finding::UntrustedIssuer {
                    issuer: "CN=Root".to_owned(),
                },
            ),
        ];
        for (case, chain, expected) in cases {
            let result = assess(&chain, TrustVerdict::UnknownIssuer);
            assert_eq!(result.findings, vec![expected], "{case}");
        }
    }

    #[test]
    fn self_signed_leaf_explains_any_rejection() {
        let mut self_signed = cert("www.example.com", "www.example.com");
        self_signed.sans = vec!["www.example.com".to_owned()];
        self_signed.is_ca = true;
        let result = assess(
            &[self_signed],
            TrustVerdict::Rejected("CA certificate used as end entity".to_owned()),
        );
        assert_eq!(
            result.findings,
            vec![Finding::SelfSigned {
                subject: "CN=www.example.com".to_owned(),
            }]
        );
    }

    #[test]
    fn name_must_be_covered_by_a_subject_alternative_name() {
        let mut leaf = leaf();
        leaf.sans = vec!["other.example.com".to_owned()];
        let result = assess(&[leaf], TrustVerdict::Trusted);
        assert_eq!(
            result.findings,
            vec![Finding::NameMismatch {
                host: "www.example.com".to_owned(),
                names: vec!["other.example.com".to_owned()],
            }]
        );
    }

    #[test]
    fn name_matching_rules() {
        let sans = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let cases: &[(&str, &[&str], bool)] = &[
            ("www.example.com", &["www.example.com"], true),
            ("WWW.Example.COM", &["www.example.com"], true),
            ("www.example.com.", &["www.example.com"], true),
            ("www.example.com", &["*.example.com"], true),
            ("example.com", &["*.example.com"], false),
            ("a.b.example.com", &["*.example.com"], false),
            ("www.example.com", &["example.com"], false),
            ("192.0.2.7", &["192.0.2.7"], true),
            ("192.0.2.7", &["192.0.2.8", "www.example.com"], false),
            ("2001:db8::1", &["2001:DB8:0::1"], true),
            ("www.example.com", &[], false),
        ];
        for (host, names, expected) in cases {
            assert_eq!(
                name_matches(host, &sans(names)),
                *expected,
                "{host} vs {names:?}"
            );
        }
    }

    #[test]
    fn weak_keys_and_signatures_on_the_path_are_reported_but_not_on_a_served_root() {
        let mut leaf = leaf();
        leaf.key_type = KeyType::Rsa;
        leaf.key_bits = 1024;
        let mut intermediate = intermediate();
        intermediate.signature_algorithm = "sha1WithRSAEncryption".to_owned();
        intermediate.signature_hash = SignatureHash::Sha1;
        let mut root = root();
        root.key_type = KeyType::Rsa;
        root.key_bits = 1024;
        root.signature_hash = SignatureHash::Md5;
        let result = assess(
            &[leaf, intermediate, root],
            TrustVerdict::UnsupportedSignatureAlgorithm,
        );
        assert_eq!(
            result.findings,
            vec![
                Finding::WeakKey {
                    subject: "CN=leaf".to_owned(),
                    key_type: KeyType::Rsa,
                    key_bits: 1024,
                },
                Finding::WeakSignature {
                    subject: "CN=Intermediate".to_owned(),
                    algorithm: "sha1WithRSAEncryption".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn weak_key_thresholds() {
        let cases: &[(KeyType, u32, bool)] = &[
            (KeyType::Rsa, 1024, true),
            (KeyType::Rsa, 2047, true),
            (KeyType::Rsa, 2048, false),
            (KeyType::Ecdsa, 192, true),
            (KeyType::Ecdsa, 256, false),
            (KeyType::Ed25519, 256, false),
            (KeyType::Dsa, 2048, true),
        ];
        for (key_type, key_bits, weak) in cases {
            let mut leaf = leaf();
            leaf.key_type = *key_type;
            leaf.key_bits = *key_bits;
            assert_eq!(leaf.has_weak_key(), *weak, "{key_type} {key_bits}");
        }
    }

    #[test]
    fn unsupported_algorithm_without_a_weak_hash_is_a_rejected_chain() {
        let result = assess(
            &[leaf(), intermediate()],
            TrustVerdict::UnsupportedSignatureAlgorithm,
        );
        assert_eq!(
            result.findings,
            vec![Finding::ChainRejected {
                reason: "unsupported signature algorithm".to_owned()
            }]
        );
    }

    #[test]
    fn several_problems_are_all_reported_in_a_stable_order() {
        let mut leaf = leaf();
        leaf.not_after = day(-1);
        leaf.sans = vec!["other.example.com".to_owned()];
        let result = assess(&[leaf], TrustVerdict::UnknownIssuer);
        assert_eq!(
            result.findings,
            vec![
                Finding::Expired {
                    not_after: day(-1),
                    days_ago: 1,
                },
                Finding::NameMismatch {
                    host: "www.example.com".to_owned(),
                    names: vec!["other.example.com".to_owned()],
                },
                Finding::IncompleteChain {
                    missing_issuer: "CN=Intermediate".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn empty_chain_has_nothing_to_assess() {
        assert_eq!(
            assess_chain(
                &[],
                &TrustVerdict::Trusted,
                "x.example",
                now(),
                ExpiryWindow::warning(30)
            ),
            None
        );
    }

    #[test]
    fn severity_is_the_worst_finding_and_maps_to_exit_codes() {
        let expiring = Finding::Expiring {
            not_after: day(3),
            days_left: 3,
            critical: false,
        };
        let timeout = Finding::Timeout {
            stage: Stage::Handshake,
            limit_ms: 100,
        };
        let expired = Finding::Expired {
            not_after: day(-1),
            days_ago: 1,
        };
        assert_eq!(Severity::of(&[]), Severity::Ok);
        assert_eq!(Severity::of([&expiring]), Severity::Warning);
        assert_eq!(Severity::of([&expiring, &timeout]), Severity::Unknown);
        assert_eq!(Severity::of([&timeout, &expired]), Severity::Critical);
        let codes: Vec<i32> = [
            Severity::Ok,
            Severity::Warning,
            Severity::Critical,
            Severity::Unknown,
        ]
        .iter()
        .map(|severity| severity.exit_code())
        .collect();
        assert_eq!(codes, vec![0, 1, 2, 3]);
    }

    #[test]
    fn findings_serialize_with_a_kind_tag() {
        let finding = Finding::Dns {
            failure: DnsFailureKind::NxDomain,
        };
        let json = serde_json::to_value(&finding).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"kind": "dns", "failure": {"type": "nx_domain"}})
        );
        let finding = Finding::HandshakeFailed {
            reason: HandshakeFailure::Alert("handshake_failure".to_owned()),
        };
        let json = serde_json::to_value(&finding).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "handshake_failed",
                "reason": {"type": "alert", "detail": "handshake_failure"}
            })
        );
        let back: Finding = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, finding);
    }

    #[test]
    fn disagreeing_addresses_are_grouped_by_the_leaf_they_serve() {
        let entry = |address: &str, fingerprint: &str| AddressFingerprint {
            address: address.parse().expect("address"),
            sha256_fingerprint_hex: fingerprint.repeat(64),
            not_after: day(10),
        };
        let finding = Finding::AddressesDisagree {
            by_address: vec![
                entry("192.0.2.1", "a"),
                entry("192.0.2.2", "b"),
                entry("2001:db8::1", "a"),
            ],
        };
        assert_eq!(
            finding.to_string(),
            "addresses serve different certificates: \
             192.0.2.1, 2001:db8::1 serve aaaaaaaaaaaaaaaa.. (not after 2026-05-11); \
             192.0.2.2 serves bbbbbbbbbbbbbbbb.. (not after 2026-05-11)"
        );
    }

    #[test]
    fn tls_mode_defaults_from_the_port() {
        let cases = [
            (25, TlsMode::StartTlsSmtp),
            (587, TlsMode::StartTlsSmtp),
            (143, TlsMode::StartTlsImap),
            (110, TlsMode::StartTlsPop3),
            (443, TlsMode::Direct),
            (465, TlsMode::Direct),
            (993, TlsMode::Direct),
        ];
        for (port, mode) in cases {
            assert_eq!(TlsMode::default_for_port(port), mode, "port {port}");
        }
    }
}
