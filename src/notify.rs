//! Delivery: the only module that speaks SMTP or HTTP outwards.
//!
//! - [`Sender`]: the outbox's consumer. Claims due messages (a lease per
//!   message), hands each to its transport, records the outcome: `sent`,
//!   `pending` again after a transient failure with exponential backoff
//!   (capped), or `failed` after a permanent one or too many attempts.
//! - [`MailTransport`]: `Smtp` (lettre), `Log` (no SMTP configured: the
//!   message is written to the log and kept in the outbox as `logged`) or
//!   `Memory` (tests read what was sent).
//! - `email.rs` (lettre), `channels.rs` (+ `channels/`: Teams, Telegram,
//!   ntfy, PagerDuty, Slack, Discord, the signed webhook), `webhook.rs`
//!   (the signature and the channels' HTTP client),
//!   `templates.rs` (minijinja: subjects, text and HTML bodies, digests).
//!
//! Delivery is at-least-once. The ledger and the outbox are written with the
//! alert change in one transaction, so nothing is lost before delivery; a
//! message is marked `sent` only after the server accepted it, so a crash
//! during delivery leaves it `sending` until its lease runs out and it is
//! sent again. Losing an expiry warning costs a client its site; a duplicate
//! costs one extra email, which carries the same `Message-ID` (and webhooks
//! the same `X-Lapse-Message-Id`) so that receivers can drop it.
//!
//! `Sender` reads and writes the outbox through `store`: the one edge from
//! an adapter to another, because the outbox *is* the sender's input.

pub mod channels;
pub mod email;
pub mod templates;
pub mod webhook;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::OutboxConfig;
use crate::store::{Channel, OutboxMessage, Store, StoreError};
use channels::{ChannelAnswer, ChannelClient};
pub use email::{send_test_email, TestEmailError, TestEmailSent};
use email::{OutgoingEmail, SmtpMailer};

/// Why one delivery attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    retryable: bool,
    /// How long the server asked us to wait (`Retry-After`).
    retry_after: Option<Duration>,
    /// A channel's answer, when it answered.
    pub answer: Option<ChannelAnswer>,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: None,
            answer: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
            answer: None,
        }
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// The server's `Retry-After`, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// A 4xx reply, a refused connection or a timeout may pass; a 5xx reply
    /// or a malformed address will not.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// The longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Where email goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp(Box<SmtpMailer>),
    /// No SMTP configured: write to the log, keep in the outbox.
    Log,
    /// Tests: keep what was sent.
    Memory(Mailbox),
}

/// Emails "sent" through [`MailTransport::Memory`].
#[derive(Debug, Clone, Default)]
pub struct Mailbox(Arc<Mutex<Vec<OutgoingEmail>>>);

impl Mailbox {
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn push(&self, email: OutgoingEmail) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(email);
    }
}

/// A test-only pause: with `LAPSE_TEST_PAUSE=<point>` the process prints
/// `lapse: paused at <point>` to stderr and waits forever there, so a test
/// can kill it at that exact point. Points: `after-evaluate` (alert changes
/// committed, nothing delivered), `after-claim` (a message is `sending`, not
/// yet handed to SMTP), `after-send` (the server accepted it, `sent` not yet
/// written). Unset: no effect.
#[derive(Debug, Clone, Default)]
pub struct Pause(Option<String>);

impl Pause {
    pub const ENV: &'static str = crate::config::environment::TEST_PAUSE_ENV;

    pub fn new(point: Option<String>) -> Self {
        Self(point.filter(|p| !p.is_empty()))
    }

    pub fn from_env() -> Self {
        Self::new(crate::config::environment::test_pause())
    }

    pub async fn at(&self, point: &str) {
        if self.0.as_deref() == Some(point) {
            eprintln!("lapse: paused at {point} ({})", Self::ENV);
            std::future::pending::<()>().await;
        }
    }
}

/// Retry behaviour, from `[outbox]`.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub max_attempts: u32,
    pub lease: Duration,
    pub poll: Duration,
    /// Messages claimed per round.
    pub batch: u32,
}

impl From<&OutboxConfig> for SenderSettings {
    fn from(config: &OutboxConfig) -> Self {
        Self {
            retry_base: config.retry_base,
            retry_max: config.retry_max,
            max_attempts: config.max_attempts,
            lease: config.sending_lease,
            poll: config.poll,
            batch: 20,
        }
    }
}

impl SenderSettings {
    /// Delay before the next attempt after `attempts` failed ones:
    /// base, 2 x base, 4 x base ... capped at `retry_max`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.retry_base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.retry_max)
            .min(self.retry_max)
    }
}

/// What one `deliver_due` round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    pub sent: Vec<String>,
    pub logged: Vec<String>,
    pub retrying: Vec<String>,
    pub failed: Vec<String>,
    /// `sending` rows of a dead sender put back to `pending`.
    pub reclaimed: u64,
}

/// The outbox's consumer.
#[derive(Debug, Clone)]
pub struct Sender {
    store: Store,
    mail: MailTransport,
    channels: Option<ChannelClient>,
    settings: SenderSettings,
    pause: Pause,
}

impl Sender {
    pub fn new(
        store: Store,
        mail: MailTransport,
        channels: Option<ChannelClient>,
        settings: SenderSettings,
    ) -> Self {
        Self {
            store,
            mail,
            channels,
            settings,
            pause: Pause::default(),
        }
    }

    pub fn with_pause(mut self, pause: Pause) -> Self {
        self.pause = pause;
        self
    }

    /// Delivers every message due at `now`, one at a time.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport {
            reclaimed: self.store.reclaim_expired_leases(now).await?,
            ..DeliveryReport::default()
        };
        if report.reclaimed > 0 {
            tracing::warn!(
                messages = report.reclaimed,
                "messages left in delivery by a stopped sender are queued again"
            );
        }
        let lease_until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
        loop {
            let batch = self
                .store
                .claim_due_messages(now, self.settings.batch, lease_until)
                .await?;
            if batch.is_empty() {
                return Ok(report);
            }
            for message in batch {
                self.pause.at("after-claim").await;
                let outcome = self.deliver(&message, now).await;
                self.pause.at("after-send").await;
                self.record(&message, outcome, now, &mut report).await?;
            }
        }
    }

    async fn deliver(
        &self,
        message: &OutboxMessage,
        now: DateTime<Utc>,
    ) -> Result<Delivered, DeliveryError> {
        match message.channel {
            Some(Channel::Email) => {
                let email = OutgoingEmail {
                    message_id: message.message_id.clone(),
                    to: split_addresses(&message.recipient),
                    cc: message
                        .cc
                        .as_deref()
                        .map(split_addresses)
                        .unwrap_or_default(),
                    reply_to: message.reply_to.clone(),
                    subject: message.subject.clone(),
                    text: message.body_text.clone(),
                    html: message.body_html.clone(),
                };
                match &self.mail {
                    MailTransport::Smtp(mailer) => {
                        mailer.send(&email).await.map(|()| Delivered::Sent)
                    }
                    MailTransport::Log => {
                        tracing::info!(
                            message.id = %email.message_id,
                            mail.to = %email.to.join(", "),
                            mail.cc = %email.cc.join(", "),
                            mail.subject = %email.subject,
                            "no SMTP configured (smtp.host): email kept in the outbox\n{}",
                            email.text
                        );
                        Ok(Delivered::Logged)
                    }
                    MailTransport::Memory(mailbox) => {
                        mailbox.push(email);
                        Ok(Delivered::Sent)
                    }
                }
            }
            Some(_) => match &self.channels {
                Some(client) => client.deliver(message, now).await.map(|_| Delivered::Sent),
                None => Err(DeliveryError::permanent(format!(
                    "channel `{}` is no longer configured",
                    message.recipient
                ))),
            },
            None => Err(DeliveryError::permanent(format!(
                "unknown channel `{}`",
                message.channel_name
            ))),
        }
    }

    async fn record(
        &self,
        message: &OutboxMessage,
        outcome: Result<Delivered, DeliveryError>,
        now: DateTime<Utc>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let id = message.message_id.clone();
        match outcome {
            Ok(Delivered::Sent) => {
                if self.store.mark_message_sent(message.id, now).await? {
                    tracing::info!(message.id = %id, message.channel = %message.channel_name, message.recipient = %message.recipient, attempts = message.attempts, "message delivered");
                } else {
                    tracing::warn!(message.id = %id, "message delivered after its lease ran out; another sender may send it again");
                }
                report.sent.push(id);
            }
            Ok(Delivered::Logged) => {
                self.store.mark_message_logged(message.id, now).await?;
                report.logged.push(id);
            }
            Err(error) if error.is_retryable() && message.attempts < self.settings.max_attempts => {
                // The server's `Retry-After` when it gave one (a day at most),
                // else our own backoff.
                let delay = error.retry_after().map_or_else(
                    || self.settings.backoff(message.attempts),
                    |wait| wait.min(MAX_RETRY_AFTER),
                );
                let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                self.store
                    .mark_message_retry(message.id, &error.message, next)
                    .await?;
                tracing::warn!(message.id = %id, attempts = message.attempts, retry_in_secs = delay.as_secs(), error = %error, "delivery failed; will retry");
                report.retrying.push(id);
            }
            Err(error) => {
                let reason = if error.is_retryable() {
                    format!("{error} (gave up after {} attempts)", message.attempts)
                } else {
                    error.message.clone()
                };
                self.store.mark_message_failed(message.id, &reason).await?;
                tracing::error!(message.id = %id, attempts = message.attempts, error = %reason, "delivery failed for good; `lapse outbox retry` queues it again");
                report.failed.push(id);
            }
        }
        Ok(())
    }

    /// Delivers until `shutdown` resolves: a round every `poll` (sooner when
    /// the next retry is due sooner). A round in progress finishes its
    /// current message before stopping.
    pub async fn run<F>(self, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.deliver_due(Utc::now()).await {
                tracing::error!(%error, "delivery round failed; trying again later");
            }
            let wait = self.until_next_round().await;
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn until_next_round(&self) -> Duration {
        let next_due = self
            .store
            .next_message_due()
            .await
            .ok()
            .flatten()
            .and_then(|t| crate::store::parse_time(&t));
        match next_due {
            Some(due) => (due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(200))
                .min(self.settings.poll),
            None => self.settings.poll,
        }
    }
}

enum Delivered {
    Sent,
    Logged,
}

fn split_addresses(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = SenderSettings {
            retry_base: Duration::from_secs(60),
            retry_max: Duration::from_secs(600),
            max_attempts: 10,
            lease: Duration::from_secs(300),
            poll: Duration::from_secs(10),
            batch: 20,
        };
        let delays: Vec<u64> = (1..=6).map(|n| settings.backoff(n).as_secs()).collect();
        assert_eq!(delays, vec![60, 120, 240, 480, 600, 600]);
        assert_eq!(settings.backoff(200).as_secs(), 600);
    }
}
