//! Loopback fixtures for the TLS probe tests. Nothing here leaves the machine.
//!
//! - [`TestPki`] / [`Issued`]: a root, an intermediate and leaves made with
//!   rcgen, with the validity each case needs; [`openssl_leaf`] for what
//!   rcgen/ring cannot make (RSA-1024 keys, SHA-1 signatures).
//! - [`TlsServer`]: a rustls server (direct or STARTTLS SMTP) on a loopback
//!   address, counting connections.
//! - [`RawServer`]: servers that misbehave (silent, reset, plain HTTP).
//! - [`OpensslServer`]: `openssl s_server`, for an RSA-1024 key (ring refuses
//!   to sign with one) and for a TLS 1.1-only server.
//! - [`DnsServer`]: a tiny UDP DNS responder that answers A/AAAA for test
//!   names, NXDOMAIN for the rest, SERVFAIL or silence on request.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, SubsecRound, Timelike, Utc};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Aborts a background task when the fixture goes out of scope.
pub struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    pub fn spawn<F>(future: F) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Self(tokio::spawn(future))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

// ---------------------------------------------------------------- PKI ----

/// A validity window, in whole seconds (as X.509 stores it).
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

impl Validity {
    /// From `now + from` to `now + to`.
    pub fn around(now: DateTime<Utc>, from: chrono::Duration, to: chrono::Duration) -> Self {
        let now = now.trunc_subsecs(0);
        Self {
            not_before: now + from,
            not_after: now + to,
        }
    }

    /// Valid from `from_days` to `to_days` (relative to `now`), with half a
    /// day added to the end so that "days left" rounds down to `to_days`.
    pub fn days(now: DateTime<Utc>, from_days: i64, to_days: i64) -> Self {
        Self::around(
            now,
            chrono::Duration::days(from_days),
            chrono::Duration::days(to_days) + chrono::Duration::hours(12),
        )
    }

    fn apply(&self, params: &mut CertificateParams) {
        // rcgen wants `time::OffsetDateTime`; build it through rcgen's own
        // helper so that the tests need no `time` dependency.
        let convert = |at: DateTime<Utc>| {
            let month = u8::try_from(at.month()).expect("month");
            let day = u8::try_from(at.day()).expect("day");
            rcgen::date_time_ymd(at.year(), month, day)
                .replace_hour(u8::try_from(at.hour()).expect("hour"))
                .and_then(|t| t.replace_minute(u8::try_from(at.minute()).expect("minute")))
                .and_then(|t| t.replace_second(u8::try_from(at.second()).expect("second")))
                .expect("representable time")
        };
        params.not_before = convert(self.not_before);
        params.not_after = convert(self.not_after);
    }
}

/// A certificate with its key and parameters (so it can issue others).
pub struct Issued {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key: KeyPair,
    pub params: CertificateParams,
    pub validity: Validity,
}

impl Issued {
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }

    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.der.as_ref()))
    }
}

fn ca_params(cn: &str, validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = true;
    validity.apply(&mut params);
    params
}

fn finish(params: CertificateParams, key: KeyPair, issuer: Option<&Issued>) -> Issued {
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, &issuer.issuer()),
        None => params.self_signed(&key),
    }
    .expect("certificate");
    let validity = Validity {
        not_before: DateTime::from_timestamp(params.not_before.unix_timestamp(), 0)
            .expect("not_before"),
        not_after: DateTime::from_timestamp(params.not_after.unix_timestamp(), 0)
            .expect("not_after"),
    };
    Issued {
        der: cert.der().clone(),
        pem: cert.pem(),
        key,
        params,
        validity,
    }
}

pub fn root(cn: &str, validity: Validity) -> Issued {
    let params = ca_params(cn, validity);
    finish(params, KeyPair::generate().expect("key"), None)
}

pub fn intermediate(cn: &str, validity: Validity, issuer: &Issued) -> Issued {
    let params = ca_params(cn, validity);
    finish(params, KeyPair::generate().expect("key"), Some(issuer))
}

fn leaf_params(names: &[&str], validity: Validity) -> CertificateParams {
    let sans: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut params = CertificateParams::new(sans).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity.apply(&mut params);
    params
}

pub fn leaf(names: &[&str], validity: Validity, issuer: &Issued) -> Issued {
    let params = leaf_params(names, validity);
    finish(params, KeyPair::generate().expect("key"), Some(issuer))
}

pub fn self_signed_leaf(names: &[&str], validity: Validity) -> Issued {
    let mut params = leaf_params(names, validity);
    params.use_authority_key_identifier_extension = false;
    finish(params, KeyPair::generate().expect("key"), None)
}

/// Self-signed with the CA flag set, as `openssl req -x509` makes them.
pub fn self_signed_ca_leaf(names: &[&str], validity: Validity) -> Issued {
    let mut params = leaf_params(names, validity);
    params.use_authority_key_identifier_extension = false;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    finish(params, KeyPair::generate().expect("key"), None)
}

/// The test CA: a root (trusted through `extra_ca_pem`, never served) and an
/// intermediate, both valid for years around `now`.
pub struct TestPki {
    pub now: DateTime<Utc>,
    pub root: Issued,
    pub intermediate: Issued,
}

impl TestPki {
    pub fn new() -> Self {
        let now = Utc::now();
        let root = root("lapse test root", Validity::days(now, -3650, 3650));
        let intermediate = intermediate(
            "lapse test intermediate",
            Validity::days(now, -1000, 1000),
            &root,
        );
        Self {
            now,
            root,
            intermediate,
        }
    }

    pub fn root_pem(&self) -> Vec<u8> {
        self.root.pem.clone().into_bytes()
    }

    /// A leaf from the intermediate.
    pub fn leaf(&self, names: &[&str], validity: Validity) -> Issued {
        leaf(names, validity, &self.intermediate)
    }

    /// A leaf valid from 30 days ago for another 300 days.
    pub fn good_leaf(&self, names: &[&str]) -> Issued {
        self.leaf(names, Validity::days(self.now, -30, 300))
    }

    /// What a correctly configured server sends: leaf + intermediate.
    pub fn served(&self, leaf: &Issued) -> Vec<CertificateDer<'static>> {
        vec![leaf.der.clone(), self.intermediate.der.clone()]
    }
}

// ------------------------------------------------------------ openssl ----

/// What `openssl_leaf` should make.
pub enum LeafKey<'a> {
    /// A fresh RSA-1024 key (ring cannot make or use one).
    Rsa1024,
    /// An existing key.
    Existing(&'a KeyPair),
}

/// A leaf for `name` signed by `issuer` with the openssl CLI, for what rcgen
/// cannot do: `digest` may be `sha1`. Valid from now for `days`. Returns the
/// certificate PEM and the key PEM.
pub fn openssl_leaf(
    dir: &Path,
    issuer: &Issued,
    name: &str,
    key: LeafKey<'_>,
    digest: &str,
    days: u32,
) -> (String, String) {
    let write = |file: &str, text: &str| std::fs::write(dir.join(file), text).expect("write");
    write("ca.pem", &issuer.pem);
    write("ca.key", &issuer.key.serialize_pem());
    match key {
        LeafKey::Rsa1024 => openssl(dir, &["genrsa", "-out", "leaf.key", "1024"]),
        LeafKey::Existing(pair) => write("leaf.key", &pair.serialize_pem()),
    }
    write(
        "leaf.ext",
        &format!(
            "subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n\
             authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
        ),
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            &format!("/CN={name}"),
            "-out",
            "leaf.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "4242",
            "-days",
            &days.to_string(),
            &format!("-{digest}"),
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ],
    );
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).expect("read");
    (read("leaf.pem"), read("leaf.key"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed for these tests");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn cert_from_pem(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate")
}

/// `openssl s_server` on a loopback port, killed on drop.
pub struct OpensslServer {
    pub addr: SocketAddr,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl OpensslServer {
    /// Serves `cert_pem` (+ `chain_pem`) with `key_pem`; `extra` adds
    /// s_server options (e.g. `-tls1_1`). Security level 0 so that OpenSSL
    /// itself agrees to use weak keys and old protocols.
    pub async fn start(
        ip: IpAddr,
        cert_pem: &str,
        key_pem: &str,
        chain_pem: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cert.pem"), cert_pem).expect("write");
        std::fs::write(dir.path().join("key.pem"), key_pem).expect("write");
        let port = free_port(ip).await;
        let addr = SocketAddr::new(ip, port);
        let mut command = tokio::process::Command::new("openssl");
        command
            .current_dir(dir.path())
            .args(["s_server", "-www", "-cert", "cert.pem", "-key", "key.pem"])
            .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
            .arg("-accept")
            .arg(addr.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(chain) = chain_pem {
            std::fs::write(dir.path().join("chain.pem"), chain).expect("write");
            command.args(["-cert_chain", "chain.pem"]);
        }
        let mut child = command.spawn().expect("openssl s_server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("ACCEPT") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "openssl s_server did not start");
        // Keep draining stdout so that s_server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr,
            _child: child,
            _dir: dir,
        }
    }
}

// --------------------------------------------------------- TLS server ----

/// What a [`TlsServer`] says before TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prelude {
    None,
    Smtp,
}

/// A rustls server on a loopback address, serving one chain.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    /// Most connections open at the same time.
    pub max_in_flight: Arc<AtomicUsize>,
    _task: AbortOnDrop,
}

impl TlsServer {
    pub async fn start(
        ip: IpAddr,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        Self::start_on(SocketAddr::new(ip, 0), chain, key, Prelude::None).await
    }

    pub async fn start_on(
        addr: SocketAddr,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        prelude: Prelude,
    ) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind test server");
        Self::serve(listener, chain, key, prelude, Duration::ZERO)
    }

    /// A server that waits `hold` before each handshake, so the client's
    /// concurrency shows in `max_in_flight`.
    pub async fn start_held(
        ip: IpAddr,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        hold: Duration,
    ) -> Self {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind test server");
        Self::serve(listener, chain, key, Prelude::None, hold)
    }

    fn serve(
        listener: TcpListener,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        prelude: Prelude,
        hold: Duration,
    ) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let connections = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let max = max_in_flight.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let now_open = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now_open, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let in_flight = in_flight.clone();
                tokio::spawn(async move {
                    // Holding before the handshake keeps the client waiting,
                    // so `in_flight` is what the client has open.
                    if !hold.is_zero() {
                        tokio::time::sleep(hold).await;
                    }
                    let _ = serve_one(stream, acceptor, prelude).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            addr,
            connections,
            max_in_flight,
            _task: AbortOnDrop(task),
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_one(
    mut stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    prelude: Prelude,
) -> std::io::Result<()> {
    if prelude == Prelude::Smtp {
        stream
            .write_all(b"220 mail.lapse.test ESMTP test\r\n")
            .await?;
        let mut reader = BufReader::new(&mut stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        assert!(line.starts_with("EHLO "), "expected EHLO, got {line:?}");
        reader
            .get_mut()
            .write_all(b"250-mail.lapse.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            .await?;
        line.clear();
        reader.read_line(&mut line).await?;
        assert_eq!(line, "STARTTLS\r\n");
        reader
            .get_mut()
            .write_all(b"220 2.0.0 go ahead\r\n")
            .await?;
    }
    let mut tls = acceptor.accept(stream).await?;
    let mut sink = [0u8; 1024];
    while tls.read(&mut sink).await? > 0 {}
    Ok(())
}

// ------------------------------------------------------- raw servers ----

/// How a [`RawServer`] misbehaves.
#[derive(Debug, Clone, Copy)]
pub enum Misbehaviour {
    /// Accepts and never says a word.
    Silent,
    /// Reads the ClientHello, then resets the connection.
    Reset,
    /// Answers in plain HTTP.
    PlainHttp,
}

pub struct RawServer {
    pub addr: SocketAddr,
    _task: AbortOnDrop,
}

impl RawServer {
    pub async fn start(ip: IpAddr, behaviour: Misbehaviour) -> Self {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind raw server");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            // Silent connections are held here until the server is dropped.
            let mut held = Vec::new();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                match behaviour {
                    Misbehaviour::Silent => held.push(stream),
                    Misbehaviour::Reset => {
                        let mut hello = [0u8; 512];
                        let _ = stream.read(&mut hello).await;
                        stream.set_zero_linger().expect("SO_LINGER");
                        drop(stream);
                    }
                    Misbehaviour::PlainHttp => {
                        let mut request = [0u8; 1024];
                        let _ = stream.read(&mut request).await;
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
                                  Content-Length: 11\r\nConnection: close\r\n\r\nbad request",
                            )
                            .await;
                        let _ = stream.shutdown().await;
                    }
                }
            }
        });
        Self {
            addr,
            _task: AbortOnDrop(task),
        }
    }
}

/// A port on `ip` that nothing listens on (bound, then released).
pub async fn free_port(ip: IpAddr) -> u16 {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .expect("bind");
    listener.local_addr().expect("local addr").port()
}

// ---------------------------------------------------------------- DNS ----

/// What the test DNS server knows.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    hosts: HashMap<String, Vec<IpAddr>>,
    servfail: Vec<String>,
    silent: Vec<String>,
}

fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

impl Zone {
    pub fn new() -> Self {
        Self::default()
    }

    /// A and AAAA records for `name`.
    pub fn host(mut self, name: &str, addresses: &[IpAddr]) -> Self {
        self.hosts.insert(absolute(name), addresses.to_vec());
        self
    }

    /// `name` answers SERVFAIL.
    pub fn servfail(mut self, name: &str) -> Self {
        self.servfail.push(absolute(name));
        self
    }

    /// Queries for `name` get no answer at all.
    pub fn silent(mut self, name: &str) -> Self {
        self.silent.push(absolute(name));
        self
    }

    fn answer(&self, query: &Message) -> Option<Message> {
        let question = query.queries.first()?;
        let name = absolute(&question.name().to_ascii());
        if self.silent.contains(&name) {
            return None;
        }
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        response.add_query(question.clone());
        if self.servfail.contains(&name) {
            response.metadata.response_code = ResponseCode::ServFail;
            return Some(response);
        }
        let Some(addresses) = self.hosts.get(&name) else {
            response.metadata.response_code = ResponseCode::NXDomain;
            return Some(response);
        };
        for address in addresses {
            let rdata = match (address, question.query_type()) {
                (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                _ => continue,
            };
            response.add_answer(Record::from_rdata(question.name().clone(), 60, rdata));
        }
        Some(response)
    }
}

/// A UDP DNS server on 127.0.0.1 answering from a [`Zone`].
pub struct DnsServer {
    pub addr: SocketAddr,
    _task: AbortOnDrop,
}

impl DnsServer {
    pub async fn start(zone: Zone) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let addr = socket.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buffer[..length]) else {
                    continue;
                };
                if let Some(response) = zone.answer(&query) {
                    if let Ok(bytes) = response.to_vec() {
                        let _ = socket.send_to(&bytes, peer).await;
                    }
                }
            }
        });
        Self {
            addr,
            _task: AbortOnDrop(task),
        }
    }
}
