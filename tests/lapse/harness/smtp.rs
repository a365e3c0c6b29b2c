//! A real SMTP server for the tests, on 127.0.0.1:0: EHLO, optional
//! STARTTLS (with a certificate the test makes), MAIL, RCPT, DATA, QUIT.
//! It keeps every message it accepted (answered 250 to), and can refuse
//! DATA with 451 a number of times, or stop listening and come back on the
//! same port, to play an outage.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::AbortOnDrop;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The raw message (headers and body), dot-unstuffed.
    pub data: String,
    /// Whether the session was encrypted when DATA was sent.
    pub tls: bool,
}

impl Received {
    /// A header's value, unfolded (`None` when absent).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID")
            .unwrap_or_default()
            .trim_matches(|c| c == '<' || c == '>')
            .to_owned()
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The decoded body of the part with this content type (`text/plain`,
    /// `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        // Parts are separated by boundaries; each has its own headers.
        for chunk in self.data.split("\r\n--") {
            let Some((head, body)) = chunk.split_once("\r\n\r\n") else {
                continue;
            };
            let head_lower = head.to_ascii_lowercase().replace("\r\n ", " ");
            if !head_lower.contains(&format!("content-type: {content_type}")) {
                continue;
            }
            let body = body.trim_end_matches("\r\n");
            let decoded = if head_lower.contains("content-transfer-encoding: quoted-printable") {
                decode_quoted_printable(body)
            } else if head_lower.contains("content-transfer-encoding: base64") {
                decode_base64(body)
            } else {
                body.to_owned()
            };
            return Some(decoded.replace("\r\n", "\n"));
        }
        None
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1..i + 3) == Some(b"\r\n") {
                i += 3;
                continue;
            }
            if let Some(hex) = text.get(i + 1..i + 3) {
                if let Ok(byte) = u8::from_str_radix(hex, 16) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes() {
        let Some(value) = ALPHABET.iter().position(|b| *b == byte) else {
            continue;
        };
        bits = (bits << 6) | u32::try_from(value).unwrap_or(0);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).unwrap_or(0));
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the sink shares with its connections.
#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    /// DATA commands still to refuse with 451.
    refuse_data: AtomicUsize,
    /// DATA commands answered 451 so far.
    refused: AtomicUsize,
    /// How long an accepted message waits (received already) before its
    /// 250, in milliseconds: a sender killed meanwhile never hears it.
    delay_ms: std::sync::atomic::AtomicU64,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// The SMTP server. Dropping it stops it.
pub struct SmtpSink {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: Mutex<Option<AbortOnDrop>>,
}

impl SmtpSink {
    /// A plain server (no STARTTLS offered).
    pub async fn plain() -> Self {
        Self::start(None).await
    }

    /// A server offering STARTTLS with this chain.
    pub async fn starttls(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("sink certificate");
        Self::start(Some(Arc::new(config))).await
    }

    async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            tls,
            ..Shared::default()
        });
        let task = spawn_accept(listener, shared.clone());
        Self {
            addr,
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answer the next `n` DATA commands with `451 4.3.0 try again later`.
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse_data.store(n, Ordering::SeqCst);
    }

    /// Hold every accepted message's 250 for `delay` (it counts as
    /// received at once), so that messages are in flight for a while.
    pub fn delay_replies(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Stop listening (connections are refused) ...
    pub async fn go_down(&self) {
        self.task.lock().expect("lock").take();
        // The accept task is aborted; wait until its listener is gone.
        for _ in 0..250 {
            if std::net::TcpListener::bind(self.addr).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the sink on {} did not stop", self.addr);
    }

    /// ... and listen again on the same port.
    pub async fn come_back(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind sink");
        *self.task.lock().expect("lock") = Some(spawn_accept(listener, self.shared.clone()));
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Waits until at least `n` messages arrived (or 10 s passed).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }
}

fn spawn_accept(listener: TcpListener, shared: Arc<Shared>) -> AbortOnDrop {
    AbortOnDrop::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = session(stream, shared).await;
            });
        }
    })
}

/// Result of the plaintext part of a session.
enum Next {
    Done,
    StartTls,
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    reader
        .get_mut()
        .write_all(b"220 sink.lapse.test ESMTP\r\n")
        .await?;
    match commands(&mut reader, &shared, false).await? {
        Next::Done => Ok(()),
        Next::StartTls => {
            let Some(config) = shared.tls.clone() else {
                return Ok(());
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let tls = acceptor.accept(reader.into_inner()).await?;
            let mut reader = BufReader::new(tls);
            commands(&mut reader, &shared, true).await.map(|_| ())
        }
    }
}

async fn commands<S>(
    reader: &mut BufReader<S>,
    shared: &Shared,
    in_tls: bool,
) -> std::io::Result<Next>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(Next::Done);
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if shared.tls.is_some() && !in_tls {
                b"250-sink.lapse.test\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
            } else {
                b"250-sink.lapse.test\r\n250 8BITMIME\r\n"
            }
        } else if upper == "STARTTLS" && shared.tls.is_some() && !in_tls {
            reader
                .get_mut()
                .write_all(b"220 2.0.0 ready to start TLS\r\n")
                .await?;
            reader.get_mut().flush().await?;
            return Ok(Next::StartTls);
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = address(&command["MAIL FROM:".len()..]);
            rcpt_to.clear();
            b"250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            rcpt_to.push(address(&command["RCPT TO:".len()..]));
            b"250 2.1.5 ok\r\n"
        } else if upper == "DATA" {
            reader.get_mut().write_all(b"354 end with .\r\n").await?;
            let data = read_data(reader).await?;
            let refuse = shared
                .refuse_data
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refuse {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                b"451 4.3.0 try again later\r\n"
            } else {
                shared.received.lock().expect("lock").push(Received {
                    mail_from: mail_from.clone(),
                    rcpt_to: rcpt_to.clone(),
                    data,
                    tls: in_tls,
                });
                let delay = shared.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                b"250 2.0.0 queued\r\n"
            }
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 2.0.0 ok\r\n"
        } else if upper == "QUIT" {
            reader.get_mut().write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(Next::Done);
        } else {
            b"502 5.5.2 not implemented\r\n"
        };
        reader.get_mut().write_all(reply).await?;
        reader.get_mut().flush().await?;
    }
}

fn address(text: &str) -> String {
    let text = text.trim();
    let inner = text
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(text, |(inner, _)| inner);
    inner.to_owned()
}

async fn read_data<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> std::io::Result<String> {
    let mut data = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == ".\r\n" {
            return Ok(data);
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        data.push_str(line);
    }
}
