//! The generic webhook's signature (a JSON POST signed with HMAC-SHA256),
//! and the HTTP client every channel posts through (`channels`).
//!
//! The generic request carries
//!
//! ```text
//! Content-Type: application/json
//! X-Lapse-Message-Id: <the outbox message id, stable across retries>
//! X-Lapse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//! ```
//!
//! A receiver recomputes the HMAC over the timestamp, a dot and the raw
//! body, compares in constant time, rejects timestamps too far from its
//! clock (replays), and drops message ids it has already seen (retries).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header with the timestamp and signature.
pub const SIGNATURE_HEADER: &str = "X-Lapse-Signature";
/// Header with the stable message id.
pub const MESSAGE_ID_HEADER: &str = "X-Lapse-Message-Id";

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(sign(secret, timestamp, body))
    )
}

fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = mac(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// What a receiver does: checks the header against the body, in constant
/// time, and the timestamp against `now` within `tolerance_secs`.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    if (now.timestamp() - timestamp).abs() > tolerance_secs {
        return false;
    }
    let mut mac = mac(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Why the channels' HTTP client could not be built (messages as before).
#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("tls.extra_ca_file: {0}")]
    ExtraCaPem(#[source] rustls::pki_types::pem::Error),
    #[error("tls.extra_ca_file: {0}")]
    ExtraCaCert(#[source] rustls::Error),
    #[error("{0}")]
    Tls(#[source] rustls::Error),
    #[error("{0}")]
    Client(#[source] reqwest::Error),
}

/// The one HTTP client every channel posts through: Mozilla's roots plus
/// `tls.extra_ca_file`, no redirects (a channel URL carries its token),
/// `timeout` for connecting and for the whole request.
pub(super) fn http_client(
    timeout: std::time::Duration,
    extra_ca_pem: Option<&[u8]>,
) -> Result<reqwest::Client, WebhookSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(WebhookSetupError::ExtraCaPem)?;
            roots.add(cert).map_err(WebhookSetupError::ExtraCaCert)?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(WebhookSetupError::Tls)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lapse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(WebhookSetupError::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_body_secret_and_time() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let header = signature_header(b"key", now.timestamp(), b"{\"a\":1}");
        assert!(header.starts_with("t=1800000000,v1="), "{header}");
        assert!(verify_signature(b"key", &header, b"{\"a\":1}", now, 300));
        assert!(!verify_signature(b"key", &header, b"{\"a\":2}", now, 300));
        assert!(!verify_signature(b"other", &header, b"{\"a\":1}", now, 300));
        let later = now + chrono::Duration::seconds(301);
        assert!(!verify_signature(b"key", &header, b"{\"a\":1}", later, 300));
    }
}
