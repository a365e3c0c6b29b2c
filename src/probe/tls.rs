//! The TLS probe: resolve an endpoint, handshake with every address, read
//! what each one serves.
//!
//! For an endpoint (host, port, [`TlsMode`], optional pinned address) the
//! probe resolves A and AAAA (unless pinned), refuses reserved addresses that
//! configuration does not allow (`target_policy`), then connects to every
//! address concurrently, runs the STARTTLS prelude if any, and does a rustls
//! handshake with SNI. Each step has a timeout and the whole check has a
//! deadline, so a stalled server costs at most the configured time.
//!
//! The chain is captured even when it does not validate: the `RecordingVerifier`
//! (`tls/verifier.rs`) wraps rustls's WebPKI verifier, records the served certificates and the
//! verdict, and lets the handshake go on. Trust is Mozilla's root program
//! (webpki-roots, compiled in: the same answer on every machine, independent
//! of what the host OS ships) plus the PEM certificates of
//! `tls.extra_ca_file` for private CAs.
//!
//! What the probe saw becomes findings through
//! `domain::certificate::assess_chain`; the probe itself decides nothing about
//! dates or names. Everything a target does wrong is a [`Finding`] in the
//! [`EndpointReport`]; only a probe that cannot be built is an `Err`.
//!
//! Types: [`TlsProbeSettings`] (from config), [`TlsTarget`] (what to check),
//! [`TlsProbe`] (built once, shared), [`EndpointReport`] / [`AddressResult`]
//! (what was found, `Serialize`).

mod bounded_stream;
mod verifier;

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use ipnet::IpNet;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    AlertDescription, ClientConfig, ConfigBuilder, InvalidMessage, RootCertStore, WantsVerifier,
};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use self::bounded_stream::{BoundedStream, ReadLimitExceeded};
use self::verifier::{snake_case, take_record, Recorded, RecordingVerifier};

pub use crate::domain::certificate::TlsMode;
use crate::domain::certificate::{
    assess_chain, AddressFingerprint, CertificateInfo, DnsFailureKind, ExpiryWindow, Finding,
    HandshakeFailure, Severity, Stage, TrustVerdict,
};
use crate::domain::observation::{stable_hash, CertObservation};
use crate::probe::dns::{DnsResolver, DnsSetupError, Resolution};
use crate::probe::{starttls, target_policy, x509};

/// Handshake bytes read beyond the chain limit (ServerHello, extensions,
/// key exchange, STARTTLS chatter) before the probe gives up.
pub const HANDSHAKE_OVERHEAD_BYTES: usize = 32 * 1024;
/// Addresses of one endpoint handshaken at the same time.
pub const ADDRESS_CONCURRENCY: usize = 8;
/// Most certificates accepted in one served chain.
pub const MAX_CHAIN_CERTIFICATES: usize = 16;
/// The largest handshake message rustls reads (a longer certificate chain is refused unread).
pub const MAX_HANDSHAKE_MESSAGE_BYTES: usize = 0xffff;

/// How the probe behaves; the main crate's config maps onto this.
#[derive(Debug, Clone)]
pub struct TlsProbeSettings {
    /// TCP connect, per address.
    pub connect_timeout: Duration,
    /// STARTTLS prelude plus TLS handshake, per address.
    pub handshake_timeout: Duration,
    /// The whole endpoint check, DNS included.
    pub deadline: Duration,
    /// Private resolvers (`127.0.0.1:5353`); empty = system resolver.
    pub nameservers: Vec<SocketAddr>,
    /// Reserved ranges that may be contacted anyway (`targets.allow_ranges`).
    pub allow_ranges: Vec<IpNet>,
    /// PEM certificates trusted in addition to Mozilla's roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// A leaf with fewer days left than this is "expiring".
    pub expiring_within_days: u32,
    /// An expiring leaf with this many whole days left or fewer is
    /// critical (`lapse check --critical`); `None`: expiring is a warning.
    pub critical_within_days: Option<u32>,
    /// Largest served chain accepted, summed DER bytes.
    pub max_chain_bytes: usize,
    /// Handshakes in flight to one IP address at once, across every check
    /// this probe runs (agencies host many sites on one server); 0 = no cap.
    /// Waiting for a slot does not count against the deadline.
    pub per_address_concurrency: usize,
}

impl Default for TlsProbeSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            nameservers: Vec::new(),
            allow_ranges: Vec::new(),
            extra_ca_pem: None,
            expiring_within_days: 30,
            critical_within_days: None,
            max_chain_bytes: 64 * 1024,
            per_address_concurrency: 0,
        }
    }
}

/// What to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// Host name (ASCII, IDNA already applied) or IP address literal.
    pub host: String,
    pub port: u16,
    pub mode: TlsMode,
    /// Connect here instead of resolving `host` (SNI still names `host`).
    pub pinned_address: Option<IpAddr>,
}

impl TlsTarget {
    /// A target with the mode its port implies.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            mode: TlsMode::default_for_port(port),
            pinned_address: None,
        }
    }

    pub fn with_mode(mut self, mode: TlsMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn with_pinned_address(mut self, address: IpAddr) -> Self {
        self.pinned_address = Some(address);
        self
    }
}

/// The result of checking one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub host: String,
    pub port: u16,
    pub mode: TlsMode,
    pub checked_at: DateTime<Utc>,
    /// Worst of the endpoint's and every address's findings.
    pub severity: Severity,
    /// One entry per address, in resolution order (IPv4 first).
    pub addresses: Vec<AddressResult>,
    /// Findings about the endpoint as a whole (DNS, addresses disagree).
    pub findings: Vec<Finding>,
}

impl EndpointReport {
    fn new(
        target: &TlsTarget,
        checked_at: DateTime<Utc>,
        addresses: Vec<AddressResult>,
        findings: Vec<Finding>,
    ) -> Self {
        let severity = addresses
            .iter()
            .map(|address| address.severity)
            .fold(Severity::of(&findings), Severity::worst);
        Self {
            host: target.host.clone(),
            port: target.port,
            mode: target.mode,
            checked_at,
            severity,
            addresses,
            findings,
        }
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }
}

/// What one address served.
#[derive(Debug, Clone, Serialize)]
pub struct AddressResult {
    pub address: IpAddr,
    pub severity: Severity,
    /// Negotiated version (`TLSv1.3`), when the handshake completed.
    pub tls_version: Option<String>,
    /// The trust store's verdict, when a chain was served.
    pub trust: Option<TrustVerdict>,
    /// The chain as served, leaf first; empty when none was received.
    pub chain: Vec<CertificateInfo>,
    pub leaf_expires_at: Option<DateTime<Utc>>,
    /// Earliest expiry on the chain that validates (served roots excluded).
    pub chain_expires_at: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
    pub duration_ms: u64,
}

impl AddressResult {
    fn failed(address: IpAddr, finding: Finding, started: Instant) -> Self {
        Self::new(
            address,
            None,
            None,
            Vec::new(),
            None,
            vec![finding],
            started,
        )
    }

    fn new(
        address: IpAddr,
        tls_version: Option<String>,
        trust: Option<TrustVerdict>,
        chain: Vec<CertificateInfo>,
        expiries: Option<(DateTime<Utc>, DateTime<Utc>)>,
        findings: Vec<Finding>,
        started: Instant,
    ) -> Self {
        Self {
            address,
            severity: Severity::of(&findings),
            tls_version,
            trust,
            chain,
            leaf_expires_at: expiries.map(|(leaf, _)| leaf),
            chain_expires_at: expiries.map(|(_, chain)| chain),
            findings,
            duration_ms: millis(started.elapsed()),
        }
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The served leaf, if any.
    pub fn leaf(&self) -> Option<&CertificateInfo> {
        self.chain.first()
    }
}

/// The probe could not be built (bad configuration): lapse's own failure.
#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    #[error("extra CA file: {0}")]
    ExtraCa(String),
    #[error("extra CA file holds no PEM certificate")]
    ExtraCaEmpty,
    #[error(transparent)]
    Dns(#[from] DnsSetupError),
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// The TLS probe. Build once from settings; `check` may run concurrently.
pub struct TlsProbe {
    settings: TlsProbeSettings,
    resolver: DnsResolver,
    verifier: Arc<WebPkiServerVerifier>,
    /// SubjectPublicKeyInfo (value bytes) of every trust anchor, to tell which
    /// served certificates are anchors.
    anchor_keys: Arc<HashSet<Vec<u8>>>,
    config_builder: ConfigBuilder<ClientConfig, WantsVerifier>,
    address_slots: Mutex<std::collections::HashMap<IpAddr, Arc<tokio::sync::Semaphore>>>,
}

impl std::fmt::Debug for TlsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProbe")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TlsProbe {
    pub fn new(settings: TlsProbeSettings) -> Result<Self, ProbeSetupError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &settings.extra_ca_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|error| ProbeSetupError::ExtraCa(error.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|error| ProbeSetupError::ExtraCa(error.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(ProbeSetupError::ExtraCaEmpty);
            }
        }
        let anchor_keys = roots
            .roots
            .iter()
            .map(|anchor| anchor.subject_public_key_info.as_ref().to_vec())
            .collect();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|error| ProbeSetupError::Tls(error.to_string()))?;
        let config_builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| ProbeSetupError::Tls(error.to_string()))?;
        let resolver = DnsResolver::new(&settings.nameservers, settings.connect_timeout)?;
        Ok(Self {
            settings,
            resolver,
            verifier,
            anchor_keys: Arc::new(anchor_keys),
            config_builder,
            address_slots: Mutex::new(std::collections::HashMap::new()),
        })
    }

    pub fn settings(&self) -> &TlsProbeSettings {
        &self.settings
    }

    /// A slot for one handshake to `address`, under the per-address cap.
    async fn address_slot(&self, address: IpAddr) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if self.settings.per_address_concurrency == 0 {
            return None;
        }
        let semaphore = {
            let mut slots = self
                .address_slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            slots
                .entry(address)
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(
                        self.settings.per_address_concurrency,
                    ))
                })
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }

    /// Checks one endpoint. `now` is when the check counts as made: days left
    /// and expiry are judged against it.
    pub async fn check(&self, target: &TlsTarget, now: DateTime<Utc>) -> EndpointReport {
        let started = Instant::now();
        let deadline = started + self.settings.deadline;
        let host = target.host.trim_end_matches('.');

        let server_name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(error) => {
                let finding = Finding::Dns {
                    failure: DnsFailureKind::Other(format!("invalid host name: {error}")),
                };
                return EndpointReport::new(target, now, Vec::new(), vec![finding]);
            }
        };

        let addresses = match (target.pinned_address, &server_name) {
            (Some(address), _) => vec![address],
            (None, ServerName::IpAddress(ip)) => vec![IpAddr::from(*ip)],
            (None, _) => {
                match tokio::time::timeout_at(deadline, self.resolver.resolve(host)).await {
                    Ok(Resolution::Addresses(addresses)) => addresses,
                    Ok(Resolution::Failed(failure)) => {
                        tracing::debug!(endpoint.host = host, dns.failure = ?failure, "name did not resolve");
                        let findings = vec![Finding::Dns { failure }];
                        return EndpointReport::new(target, now, Vec::new(), findings);
                    }
                    Err(_) => {
                        let findings = vec![Finding::Timeout {
                            stage: Stage::Dns,
                            limit_ms: millis(self.settings.deadline),
                        }];
                        return EndpointReport::new(target, now, Vec::new(), findings);
                    }
                }
            }
        };

        let results: Vec<AddressResult> = futures::stream::iter(addresses)
            .map(|address| {
                let server_name = server_name.clone();
                async move {
                    // Waiting for a per-address slot is queueing, not the
                    // server being slow: the rest of the budget starts after it.
                    let budget = deadline.saturating_duration_since(Instant::now());
                    let _slot = self.address_slot(address).await;
                    let address_started = Instant::now();
                    match tokio::time::timeout_at(
                        address_started + budget,
                        self.check_address(target, host, server_name, address, now),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => AddressResult::failed(
                            address,
                            Finding::Timeout {
                                stage: Stage::Deadline,
                                limit_ms: millis(self.settings.deadline),
                            },
                            address_started,
                        ),
                    }
                }
            })
            .buffered(ADDRESS_CONCURRENCY)
            .collect()
            .await;

        let mut findings = Vec::new();
        if let Some(disagreement) = addresses_disagree(&results) {
            findings.push(disagreement);
        }
        let report = EndpointReport::new(target, now, results, findings);
        tracing::debug!(
            endpoint.host = host,
            endpoint.port = target.port,
            severity = report.severity.label(),
            duration_ms = millis(started.elapsed()),
            "endpoint checked"
        );
        report
    }

    async fn check_address(
        &self,
        target: &TlsTarget,
        host: &str,
        server_name: ServerName<'static>,
        address: IpAddr,
        now: DateTime<Utc>,
    ) -> AddressResult {
        let started = Instant::now();
        if let Some((range, reserved)) =
            target_policy::refusal(address, &self.settings.allow_ranges)
        {
            let finding = Finding::TargetRefused {
                address,
                range,
                reserved,
            };
            return AddressResult::failed(address, finding, started);
        }

        let read_limit = self.settings.max_chain_bytes + HANDSHAKE_OVERHEAD_BYTES;
        let (stream, handshake_deadline) = match self.open(target, address, read_limit).await {
            Ok(opened) => opened,
            Err(finding) => return AddressResult::failed(address, finding, started),
        };

        let record = Arc::new(Mutex::new(Recorded::default()));
        let verifier = RecordingVerifier {
            inner: self.verifier.clone(),
            max_chain_bytes: self.settings.max_chain_bytes,
            record: record.clone(),
        };
        let config = self
            .config_builder
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let connector = TlsConnector::from(Arc::new(config));
        let outcome =
            tokio::time::timeout_at(handshake_deadline, connector.connect(server_name, stream))
                .await;

        let mut failure = None;
        let mut tls_version = None;
        match outcome {
            Ok(Ok(mut tls)) => {
                tls_version = tls.get_ref().1.protocol_version().map(version_name);
                // Polite close; a server that does not read cannot stall us.
                let _ = tokio::time::timeout(Duration::from_millis(200), tls.shutdown()).await;
            }
            Ok(Err(error)) => failure = Some(error),
            Err(_) => {
                let finding = Finding::Timeout {
                    stage: Stage::Handshake,
                    limit_ms: millis(self.settings.handshake_timeout),
                };
                let recorded = take_record(&record);
                return self.finish(address, host, now, recorded, None, Some(finding), started);
            }
        }
        let recorded = take_record(&record);
        let failure_finding = failure.map(|error| handshake_failure(&error, &recorded, read_limit));
        self.finish(
            address,
            host,
            now,
            recorded,
            tls_version,
            failure_finding,
            started,
        )
    }

    /// TCP connect, then the STARTTLS prelude if the mode has one: a stream
    /// ready for the TLS handshake, and the handshake's deadline (the prelude
    /// counts against it). A failure is the finding for this address.
    async fn open(
        &self,
        target: &TlsTarget,
        address: IpAddr,
        read_limit: usize,
    ) -> Result<(BoundedStream<TcpStream>, Instant), Finding> {
        let socket = SocketAddr::new(address, target.port);
        let tcp =
            match tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(socket))
                .await
            {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(error)) => {
                    return Err(connect_failure(&error, self.settings.connect_timeout))
                }
                Err(_) => {
                    return Err(Finding::Timeout {
                        stage: Stage::Connect,
                        limit_ms: millis(self.settings.connect_timeout),
                    })
                }
            };
        let client_identity = tcp
            .local_addr()
            .map(|local| address_literal(local.ip()))
            .unwrap_or_else(|_| "[127.0.0.1]".to_owned());
        let mut stream = BoundedStream::new(tcp, read_limit);

        let handshake_deadline = Instant::now() + self.settings.handshake_timeout;
        match tokio::time::timeout_at(
            handshake_deadline,
            starttls::upgrade(&mut stream, target.mode, &client_identity),
        )
        .await
        {
            Ok(Ok(())) => Ok((stream, handshake_deadline)),
            Ok(Err(error)) => Err(starttls_failure(error, target.mode, read_limit)),
            Err(_) => Err(Finding::Timeout {
                stage: Stage::StartTls,
                limit_ms: millis(self.settings.handshake_timeout),
            }),
        }
    }

    /// Reads the recorded chain and turns it, and any failure, into an
    /// [`AddressResult`].
    #[expect(
        clippy::too_many_arguments,
        reason = "one private step of check_address"
    )]
    fn finish(
        &self,
        address: IpAddr,
        host: &str,
        now: DateTime<Utc>,
        recorded: Recorded,
        tls_version: Option<String>,
        failure: Option<Finding>,
        started: Instant,
    ) -> AddressResult {
        let mut findings = Vec::new();
        let mut chain = Vec::new();
        let mut leaf_unreadable = false;
        for (position, der) in recorded.chain.iter().enumerate() {
            match x509::read_certificate(der) {
                Ok(mut info) => {
                    info.is_trust_anchor = position > 0 && self.is_anchor(der);
                    chain.push(info);
                }
                Err(error) => {
                    leaf_unreadable |= position == 0;
                    findings.push(Finding::MalformedCertificate {
                        position,
                        reason: error.to_string(),
                    });
                }
            }
        }
        let trust = (!recorded.chain.is_empty())
            .then(|| recorded.trust.clone().unwrap_or(TrustVerdict::Undetermined));
        let mut expiries = None;
        if !leaf_unreadable {
            if let Some(assessment) = assess_chain(
                &chain,
                trust.as_ref().unwrap_or(&TrustVerdict::Undetermined),
                host,
                now,
                ExpiryWindow {
                    warning_days: self.settings.expiring_within_days,
                    critical_days: self.settings.critical_within_days,
                },
            ) {
                findings.splice(0..0, assessment.findings);
                expiries = Some((assessment.leaf_expires_at, assessment.chain_expires_at));
            }
        }
        findings.extend(failure);
        AddressResult::new(
            address,
            tls_version,
            trust,
            chain,
            expiries,
            findings,
            started,
        )
    }

    fn is_anchor(&self, der: &[u8]) -> bool {
        x509::spki_value(der).is_some_and(|spki| self.anchor_keys.contains(spki))
    }
}

/// Different leaves behind different addresses, listed per address.
fn addresses_disagree(results: &[AddressResult]) -> Option<Finding> {
    let served: Vec<AddressFingerprint> = results
        .iter()
        .filter_map(|result| {
            result.leaf().map(|leaf| AddressFingerprint {
                address: result.address,
                sha256_fingerprint_hex: leaf.sha256_fingerprint_hex.clone(),
                not_after: leaf.not_after,
            })
        })
        .collect();
    let distinct: HashSet<&str> = served
        .iter()
        .map(|entry| entry.sha256_fingerprint_hex.as_str())
        .collect();
    (distinct.len() > 1).then_some(Finding::AddressesDisagree { by_address: served })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => format!("{other:?}"),
    }
}

/// SMTP EHLO argument for our own address: `[192.0.2.1]` or `[IPv6:...]`.
fn address_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

fn connect_failure(error: &io::Error, connect_timeout: Duration) -> Finding {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Finding::ConnectRefused,
        io::ErrorKind::TimedOut => Finding::Timeout {
            stage: Stage::Connect,
            limit_ms: millis(connect_timeout),
        },
        _ => Finding::ConnectFailed {
            reason: error.to_string(),
        },
    }
}

/// A failed STARTTLS prelude. A reply that goes on past the read limit is the plaintext
/// protocol's failure (a greeting that never ends), not the TLS handshake's.
fn starttls_failure(error: starttls::StartTlsError, mode: TlsMode, read_limit: usize) -> Finding {
    use starttls::StartTlsError;
    match error {
        StartTlsError::Io(io_error) => match io_failure(&io_error, read_limit) {
            Some(HandshakeFailure::TooManyBytes { limit_bytes }) => Finding::StartTlsFailed {
                reply: format!(
                    "the {} server's reply did not end within {limit_bytes} bytes",
                    prelude_protocol(mode)
                ),
            },
            Some(reason) => Finding::HandshakeFailed { reason },
            None => Finding::StartTlsFailed {
                reply: io_error.to_string(),
            },
        },
        StartTlsError::Closed => Finding::HandshakeFailed {
            reason: HandshakeFailure::Closed,
        },
        StartTlsError::Refused { reply } => Finding::StartTlsFailed { reply },
        other => Finding::StartTlsFailed {
            reply: other.to_string(),
        },
    }
}

/// The plaintext protocol of a STARTTLS mode, for messages.
fn prelude_protocol(mode: TlsMode) -> &'static str {
    match mode {
        TlsMode::StartTlsSmtp => "SMTP",
        TlsMode::StartTlsImap => "IMAP",
        TlsMode::StartTlsPop3 => "POP3",
        TlsMode::Direct => "TLS",
    }
}

/// Transport-level reasons shared by STARTTLS and TLS.
fn io_failure(error: &io::Error, read_limit: usize) -> Option<HandshakeFailure> {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<ReadLimitExceeded>())
    {
        return Some(HandshakeFailure::TooManyBytes {
            limit_bytes: read_limit,
        });
    }
    match error.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Some(HandshakeFailure::Reset),
        io::ErrorKind::UnexpectedEof => Some(HandshakeFailure::Closed),
        _ => None,
    }
}

fn handshake_failure(error: &io::Error, recorded: &Recorded, read_limit: usize) -> Finding {
    if let Some((certificates, bytes, limit_bytes)) = recorded.too_large {
        return Finding::ChainTooLarge {
            certificates,
            bytes,
            limit_bytes,
        };
    }
    if let Some(certificates) = recorded.too_long {
        return Finding::ChainTooLong {
            certificates,
            limit_certificates: MAX_CHAIN_CERTIFICATES,
        };
    }
    if recorded.signature_rejected {
        return Finding::HandshakeFailed {
            reason: HandshakeFailure::SignatureRejected,
        };
    }
    if let Some(reason) = io_failure(error, read_limit) {
        return Finding::HandshakeFailed { reason };
    }
    let reason = match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls_error) => tls_failure(tls_error),
        None => HandshakeFailure::Other(error.to_string()),
    };
    Finding::HandshakeFailed { reason }
}

fn tls_failure(error: &rustls::Error) -> HandshakeFailure {
    use rustls::Error;
    match error {
        Error::PeerIncompatible(_)
        | Error::AlertReceived(AlertDescription::ProtocolVersion)
        | Error::AlertReceived(AlertDescription::InsufficientSecurity) => {
            HandshakeFailure::NoCommonProtocol
        }
        Error::AlertReceived(alert) => HandshakeFailure::Alert(snake_case(&format!("{alert:?}"))),
        // A TLS server, with a handshake message (its certificates) larger than rustls reads.
        Error::InvalidMessage(
            InvalidMessage::HandshakePayloadTooLarge | InvalidMessage::CertificatePayloadTooLarge,
        ) => HandshakeFailure::MessageTooLarge {
            limit_bytes: MAX_HANDSHAKE_MESSAGE_BYTES,
        },
        // The first bytes back are not a TLS record: something else listens.
        Error::InvalidMessage(_)
        | Error::InappropriateMessage { .. }
        | Error::PeerSentOversizedRecord => HandshakeFailure::NotTls,
        other => HandshakeFailure::Other(other.to_string()),
    }
}

impl EndpointReport {
    /// The report as rows for the store: one per address, plus one with
    /// address `""` when there are findings about the endpoint as a whole.
    pub fn observations(&self) -> Vec<CertObservation> {
        let mut rows: Vec<CertObservation> = self
            .addresses
            .iter()
            .map(|a| {
                let details = serde_json::to_value(a).unwrap_or(serde_json::Value::Null);
                CertObservation {
                    address: a.address.to_string(),
                    outcome: a.severity,
                    leaf_fingerprint: a.leaf().map(|leaf| leaf.sha256_fingerprint_hex.clone()),
                    leaf_not_after: a.leaf_expires_at,
                    chain_not_after: a.chain_expires_at,
                    result_hash: stable_hash(&details),
                    details,
                }
            })
            .collect();
        if !self.findings.is_empty() {
            let details = serde_json::json!({ "findings": self.findings });
            rows.push(CertObservation {
                address: String::new(),
                outcome: Severity::of(&self.findings),
                leaf_fingerprint: None,
                leaf_not_after: None,
                chain_not_after: None,
                result_hash: stable_hash(&details),
                details,
            });
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_alerts_mean_no_common_protocol() {
        assert_eq!(
            tls_failure(&rustls::Error::AlertReceived(
                AlertDescription::ProtocolVersion
            )),
            HandshakeFailure::NoCommonProtocol
        );
        assert_eq!(
            tls_failure(&rustls::Error::AlertReceived(
                AlertDescription::HandshakeFailure
            )),
            HandshakeFailure::Alert("handshake_failure".to_owned())
        );
    }

    #[test]
    fn an_oversized_handshake_message_is_a_tls_server_not_another_protocol() {
        let too_large = rustls::Error::InvalidMessage(InvalidMessage::HandshakePayloadTooLarge);
        assert_eq!(
            tls_failure(&too_large),
            HandshakeFailure::MessageTooLarge {
                limit_bytes: MAX_HANDSHAKE_MESSAGE_BYTES
            }
        );
        assert_eq!(
            tls_failure(&rustls::Error::PeerSentOversizedRecord),
            HandshakeFailure::NotTls
        );
    }

    #[test]
    fn default_settings_are_bounded() {
        let settings = TlsProbeSettings::default();
        assert!(settings.connect_timeout <= settings.deadline);
        assert!(settings.handshake_timeout <= settings.deadline);
        assert_eq!(settings.expiring_within_days, 30);
    }
}
