//! Failure reasons say what happened (issue 15 item 7), against hostile servers started here on
//! `127.0.0.1:0` with certificates made in the test: a certificate message larger than rustls
//! accepts is not "does not speak TLS", a chain refused for its count names the count limit, and
//! an SMTP greeting that never ends is a STARTTLS failure, not a TLS handshake one.

use std::net::SocketAddr;
use std::time::Duration;

use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::tls::TlsServer;
use crate::harness::AbortOnDrop;
use chrono::Utc;
use lapse::domain::certificate::{Finding, HandshakeFailure, TlsMode};
use lapse::probe::tls::{EndpointReport, TlsProbe, TlsProbeSettings, TlsTarget};
use rcgen::CustomExtension;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const HOST: &str = "www.lapse.test";

/// Loopback allowed, the test root trusted, short timeouts, the default chain limit.
fn settings(pki: &TestPki) -> TlsProbeSettings {
    TlsProbeSettings {
        connect_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(3),
        deadline: Duration::from_secs(10),
        allow_ranges: vec!["127.0.0.0/8".parse().expect("range")],
        extra_ca_pem: Some(pki.root_pem()),
        ..TlsProbeSettings::default()
    }
}

async fn check(settings: TlsProbeSettings, addr: SocketAddr, mode: TlsMode) -> EndpointReport {
    let probe = TlsProbe::new(settings).expect("probe builds");
    let target = TlsTarget::new(HOST, addr.port())
        .with_mode(mode)
        .with_pinned_address(addr.ip());
    probe.check(&target, Utc::now()).await
}

fn findings(report: &EndpointReport) -> Vec<Finding> {
    assert_eq!(report.addresses.len(), 1, "{report:#?}");
    report.addresses[0].findings.clone()
}

/// A certificate from the test intermediate carrying `padding` bytes in a private extension
/// (one certificate stays under the 64 KiB a DER length can say in two bytes).
fn padded(pki: &TestPki, padding: usize) -> rustls::pki_types::CertificateDer<'static> {
    let leaf = pki.good_leaf(&[HOST]);
    let mut params = leaf.params.clone();
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 32473, 15, 7],
            vec![0x5a; padding],
        ));
    let cert = params
        .signed_by(&leaf.key, &pki.intermediate.issuer())
        .expect("padded certificate");
    cert.der().clone()
}

#[tokio::test]
async fn a_certificate_message_larger_than_rustls_accepts_is_not_called_not_tls() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    // About 75 KiB of certificates: over rustls's 64 KiB handshake message, under the probe's
    // read limit (max_chain_bytes + HANDSHAKE_OVERHEAD_BYTES = 96 KiB).
    let mut chain = vec![leaf.der.clone()];
    chain.extend((0..3).map(|_| padded(&pki, 25 * 1024)));
    let server = TlsServer::start(ip("127.0.0.1"), chain, leaf.key_der()).await;

    let report = check(settings(&pki), server.addr, TlsMode::Direct).await;

    let found = findings(&report);
    assert_eq!(
        found,
        vec![Finding::HandshakeFailed {
            reason: HandshakeFailure::MessageTooLarge { limit_bytes: 65535 },
        }],
        "{report:#?}"
    );
    let text = found[0].to_string();
    assert!(!text.contains("does not speak TLS"), "{text}");
    assert!(text.contains("65535 bytes"), "{text}");
}

#[tokio::test]
async fn a_chain_refused_for_its_count_names_the_count_limit() {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&[HOST]);
    let mut chain = vec![leaf.der.clone()];
    chain.extend(std::iter::repeat_n(pki.intermediate.der.clone(), 16));
    let server = TlsServer::start(ip("127.0.0.1"), chain, leaf.key_der()).await;

    let report = check(settings(&pki), server.addr, TlsMode::Direct).await;

    let found = findings(&report);
    assert_eq!(
        found,
        vec![Finding::ChainTooLong {
            certificates: 17,
            limit_certificates: 16,
        }],
        "{report:#?}"
    );
    assert_eq!(
        found[0].to_string(),
        "chain too long: 17 certificates (limit 16 certificates)"
    );
}

/// An SMTP server whose greeting goes on and on (`220-` lines, never a last `220 ` line).
async fn endless_greeting() -> (SocketAddr, AbortOnDrop) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = AbortOnDrop::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let line = format!("220-{}\r\n", "welcome ".repeat(250));
                for _ in 0..10_000 {
                    if stream.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let mut sink = [0u8; 64];
                let _ = stream.read(&mut sink).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn an_smtp_greeting_that_never_ends_is_a_starttls_failure_not_a_handshake_one() {
    let pki = TestPki::new();
    let (addr, _server) = endless_greeting().await;
    let settings = settings(&pki);
    let read_limit = settings.max_chain_bytes + lapse::probe::tls::HANDSHAKE_OVERHEAD_BYTES;

    let report = check(settings, addr, TlsMode::StartTlsSmtp).await;

    let found = findings(&report);
    assert_eq!(
        found,
        vec![Finding::StartTlsFailed {
            reply: format!("the SMTP server's reply did not end within {read_limit} bytes"),
        }],
        "{report:#?}"
    );
    assert!(
        !found[0].to_string().contains("TLS handshake"),
        "{}",
        found[0]
    );
}
