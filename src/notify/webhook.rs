//! Webhooks: Slack incoming webhooks, Discord webhooks, and a generic JSON
//! POST signed with HMAC-SHA256.
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

use super::DeliveryError;
use crate::config::{Secret, WebhooksConfig};
use crate::store::Channel;

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

/// The HTTP client and the configured targets.
#[derive(Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    slack_url: Option<Secret>,
    discord_url: Option<Secret>,
    url: Option<String>,
    secret: Option<Secret>,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("channels", &self.channels())
            .finish_non_exhaustive()
    }
}

/// Why the webhook client could not be built (messages as before).
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

impl WebhookClient {
    /// `None` when no webhook is configured.
    pub fn new(
        config: &WebhooksConfig,
        extra_ca_pem: Option<&[u8]>,
    ) -> Result<Option<Self>, WebhookSetupError> {
        if config.slack_url.is_none() && config.discord_url.is_none() && config.url.is_none() {
            return Ok(None);
        }
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
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lapse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebhookSetupError::Client)?;
        Ok(Some(Self {
            client,
            slack_url: config.slack_url.clone(),
            discord_url: config.discord_url.clone(),
            url: config.url.clone(),
            secret: config.secret.clone(),
        }))
    }

    /// The channels configured, in queueing order.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.slack_url.is_some() {
            channels.push(Channel::Slack);
        }
        if self.discord_url.is_some() {
            channels.push(Channel::Discord);
        }
        if self.url.is_some() {
            channels.push(Channel::Webhook);
        }
        channels
    }

    /// POSTs `body` (stored in the outbox) to the channel's URL.
    pub async fn send(
        &self,
        channel: Channel,
        message_id: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let not_configured = || {
            DeliveryError::permanent(format!(
                "webhook `{}` is no longer configured",
                channel.as_str()
            ))
        };
        let mut request = match channel {
            Channel::Slack => self
                .client
                .post(self.slack_url.as_ref().ok_or_else(not_configured)?.expose()),
            Channel::Discord => self.client.post(
                self.discord_url
                    .as_ref()
                    .ok_or_else(not_configured)?
                    .expose(),
            ),
            Channel::Webhook => {
                let url = self.url.as_ref().ok_or_else(not_configured)?;
                let secret = self.secret.as_ref().ok_or_else(not_configured)?;
                self.client.post(url).header(
                    SIGNATURE_HEADER,
                    signature_header(secret.expose().as_bytes(), now.timestamp(), body.as_bytes()),
                )
            }
            Channel::Email => return Err(DeliveryError::permanent("not a webhook channel")),
        };
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(MESSAGE_ID_HEADER, message_id)
            .body(body.to_owned());
        let response = request.send().await.map_err(|e| {
            // Never print the URL: Slack and Discord URLs hold their token.
            DeliveryError::transient(format!("{}: {}", webhook_label(channel), e.without_url()))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = format!("{} answered HTTP {status}", webhook_label(channel));
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(DeliveryError::transient(message))
        } else {
            Err(DeliveryError::permanent(message))
        }
    }
}

/// How a channel's endpoint is named in delivery errors: "Slack webhook",
/// not "slack webhook", and the generic one "webhook", not "webhook webhook".
fn webhook_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Slack => "Slack webhook",
        Channel::Discord => "Discord webhook",
        _ => "webhook",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_errors_name_the_webhook_once() {
        assert_eq!(webhook_label(Channel::Webhook), "webhook");
        assert_eq!(webhook_label(Channel::Slack), "Slack webhook");
        assert_eq!(webhook_label(Channel::Discord), "Discord webhook");
    }

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
