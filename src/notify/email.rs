//! Email over SMTP with lettre: STARTTLS, implicit TLS, or plain for a local
//! relay; optional login; timeouts. Each message carries its outbox id as
//! `Message-ID`, so a receiver can drop the duplicate that at-least-once
//! delivery may produce after a crash. [`send_test_email`] is `lapse email
//! test`: one message now, outside the outbox.

use chrono::{DateTime, Utc};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{DeliveryError, MailTransport};
use crate::config::{SmtpConfig, SmtpSecurity};

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Without angle brackets.
    pub message_id: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// The `Reply-To` (client mail: `agency.reply_to`).
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// The SMTP client could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("smtp.from `{0}` is not a mailbox: {1}")]
    From(String, String),
    #[error("TLS for smtp.host: {0}")]
    Tls(String),
}

/// An SMTP client built from `[smtp]`.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port (security)`, for logs.
    pub server: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// `extra_ca_pem`: CA certificates trusted besides Mozilla's roots
    /// (`tls.extra_ca_file`), for a relay with a private CA.
    pub fn new(
        host: &str,
        config: &SmtpConfig,
        extra_ca_pem: Option<&[u8]>,
    ) -> Result<Self, SmtpSetupError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                SmtpSetupError::From(config.from.clone(), e.to_string())
            })?;
        let tls_name = config
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host.to_owned());
        let tls = || -> Result<TlsParameters, SmtpSetupError> {
            let mut builder = TlsParameters::builder(tls_name.clone());
            if let Some(pem) = extra_ca_pem {
                let cert =
                    Certificate::from_pem(pem).map_err(|e| SmtpSetupError::Tls(e.to_string()))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| SmtpSetupError::Tls(e.to_string()))
        };
        // Dial `host` as given (a name or an address); the certificate is
        // checked against `tls_name`.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port)
            .timeout(Some(config.timeout));
        builder = match config.security {
            SmtpSecurity::Starttls => builder.tls(Tls::Required(tls()?)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls()?)),
            SmtpSecurity::None => builder.tls(Tls::None),
        };
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let security = match config.security {
            SmtpSecurity::Starttls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        };
        Ok(Self {
            transport: builder.build(),
            from,
            server: format!("{host}:{} ({security})", config.port),
        })
    }

    /// Sends one email. Errors say whether a retry can help.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, email)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

/// A test email that the SMTP server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEmailSent {
    pub message_id: String,
    /// `host:port (security)`.
    pub server: String,
}

/// Why no test email went out.
#[derive(Debug, thiserror::Error)]
pub enum TestEmailError {
    /// The configuration asks for no SMTP: the input (the setup), not lapse.
    #[error("no SMTP server configured (smtp.host is empty): alert emails are written to the log and kept in the outbox")]
    NoSmtp,
    #[error("{server} refused the test email to {to}: {error}{}", retry_hint(.error))]
    Refused {
        server: String,
        to: String,
        error: DeliveryError,
    },
}

fn retry_hint(error: &DeliveryError) -> &'static str {
    if error.is_retryable() {
        " (temporary: try again later)"
    } else {
        ""
    }
}

/// Sends a test email to `to` through SMTP now, bypassing the outbox, so
/// that staff see at once what the server answers. Only an SMTP transport
/// can say anything; the log transport is refused.
pub async fn send_test_email(
    transport: &MailTransport,
    to: &str,
    message_id_domain: &str,
    now: DateTime<Utc>,
) -> Result<TestEmailSent, TestEmailError> {
    let MailTransport::Smtp(mailer) = transport else {
        return Err(TestEmailError::NoSmtp);
    };
    let message_id = format!("test.{}@{message_id_domain}", now.format("%Y%m%dT%H%M%S"));
    let text = format!(
        "This is a test email from lapse, sent {} through {}.\nIf you can read it, alert emails will reach you.\n",
        now.format("%Y-%m-%d %H:%M UTC"),
        mailer.server
    );
    let email = OutgoingEmail {
        message_id: message_id.clone(),
        to: vec![to.to_owned()],
        cc: Vec::new(),
        reply_to: None,
        subject: "lapse test email".to_owned(),
        html: Some(format!("<p>{}</p>", text.trim().replace('\n', "<br>"))),
        text,
    };
    mailer
        .send(&email)
        .await
        .map_err(|error| TestEmailError::Refused {
            server: mailer.server.clone(),
            to: to.to_owned(),
            error,
        })?;
    Ok(TestEmailSent {
        message_id,
        server: mailer.server.clone(),
    })
}

/// The lettre message: headers, and text + HTML as `multipart/alternative`.
pub fn build_message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, DeliveryError> {
    let mut builder = Message::builder()
        .message_id(Some(format!("<{}>", email.message_id)))
        .from(from.clone())
        .subject(email.subject.clone());
    let parse = |address: &str| -> Result<Mailbox, DeliveryError> {
        address
            .trim()
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                DeliveryError::permanent(format!("bad address `{address}`: {e}"))
            })
    };
    if email.to.is_empty() {
        return Err(DeliveryError::permanent("no recipient"));
    }
    for to in &email.to {
        builder = builder.to(parse(to)?);
    }
    for cc in &email.cc {
        builder = builder.cc(parse(cc)?);
    }
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(parse(reply_to)?);
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(email.text.clone());
    let built = match &email.html {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        ),
        None => builder.singlepart(text),
    };
    built.map_err(|e| DeliveryError::permanent(format!("cannot build the message: {e}")))
}

/// 5xx replies are permanent (a retry gets the same answer); everything
/// else (4xx such as 451, refused connections, timeouts, TLS trouble that a
/// server restart may fix) is retried.
fn classify(error: &lettre::transport::smtp::Error) -> DeliveryError {
    let message = match error.status() {
        Some(code) => format!("SMTP {code}: {error}"),
        None => format!("SMTP: {error}"),
    };
    if error.is_permanent() {
        DeliveryError::permanent(message)
    } else {
        DeliveryError::transient(message)
    }
}
