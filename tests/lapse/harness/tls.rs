//! Loopback TLS servers for the probe and the scan engine. Nothing here
//! leaves the machine.
//!
//! - [`TlsServer`]: a rustls server (direct or STARTTLS SMTP) on a loopback
//!   address, counting connections.
//! - [`RawServer`]: servers that misbehave (silent, reset, plain HTTP).
//! - [`OpensslServer`]: `openssl s_server`, for an RSA-1024 key (ring refuses
//!   to sign with one) and for a TLS 1.1-only server.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::AbortOnDrop;

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
    /// An IMAP greeting, then `a1 STARTTLS` answered with a go-ahead.
    Imap,
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
    if prelude == Prelude::Imap {
        stream
            .write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] test ready\r\n")
            .await?;
        let mut reader = BufReader::new(&mut stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let tag = line.split_whitespace().next().unwrap_or("*").to_owned();
        assert!(
            line.ends_with(" STARTTLS\r\n"),
            "expected STARTTLS, got {line:?}"
        );
        reader
            .get_mut()
            .write_all(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes())
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
