//! The certificate verifier of one handshake: wraps rustls's WebPKI verifier, records the served
//! chain and the trust verdict ([`Recorded`]), and lets the handshake go on whatever the verdict,
//! so that an expired, untrusted or misnamed certificate is still read.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::MAX_CHAIN_CERTIFICATES;
use crate::domain::certificate::TrustVerdict;
use crate::probe::x509;

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
pub(super) struct Recorded {
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) trust: Option<TrustVerdict>,
    /// (certificates, bytes, limit) when the chain was refused for its size.
    pub(super) too_large: Option<(usize, usize, usize)>,
    /// The number of certificates, when the chain was refused for its count.
    pub(super) too_long: Option<usize>,
    pub(super) signature_rejected: bool,
}

pub(super) fn take_record(record: &Mutex<Recorded>) -> Recorded {
    std::mem::take(&mut *record.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Wraps rustls's WebPKI verifier: records the served chain and the verdict,
/// then lets the handshake continue whatever the verdict, so that an expired,
/// untrusted or misnamed certificate is still read. Only the handshake
/// signature is enforced (a probe that skipped it could be shown any chain by
/// anyone on the path); rustls refuses RSA keys under 2048 bits there, which
/// is why the chain is kept before that step.
#[derive(Debug)]
pub(super) struct RecordingVerifier {
    pub(super) inner: Arc<WebPkiServerVerifier>,
    pub(super) max_chain_bytes: usize,
    pub(super) record: Arc<Mutex<Recorded>>,
}

impl RecordingVerifier {
    fn with_record<T>(&self, update: impl FnOnce(&mut Recorded) -> T) -> T {
        update(&mut self.record.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The verdict without time: if the chain is rejected only for its dates,
    /// ask again at a time when every served certificate is valid.
    fn trust_verdict(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> TrustVerdict {
        let verify = |at: UnixTime| {
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, at)
        };
        let first = verify(now);
        if !is_time_error(&first) {
            return trust_from(first);
        }
        for at in reference_times(end_entity, intermediates) {
            let again = verify(at);
            if !is_time_error(&again) {
                return trust_from(again);
            }
        }
        TrustVerdict::Undetermined
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let certificates = 1 + intermediates.len();
        let bytes = end_entity.len() + intermediates.iter().map(|cert| cert.len()).sum::<usize>();
        if bytes > self.max_chain_bytes {
            self.with_record(|record| {
                record.too_large = Some((certificates, bytes, self.max_chain_bytes));
            });
            return Err(rustls::Error::General(
                "served certificate chain too large".to_owned(),
            ));
        }
        if certificates > MAX_CHAIN_CERTIFICATES {
            self.with_record(|record| record.too_long = Some(certificates));
            return Err(rustls::Error::General(
                "served certificate chain too long".to_owned(),
            ));
        }
        let trust = self.trust_verdict(end_entity, intermediates, server_name, ocsp_response, now);
        self.with_record(|record| {
            record.chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|cert| cert.clone().into_owned())
                .collect();
            record.trust = Some(trust);
        });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let result = self.inner.verify_tls12_signature(message, cert, dss);
        if result.is_err() {
            self.with_record(|record| record.signature_rejected = true);
        }
        result
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let result = self.inner.verify_tls13_signature(message, cert, dss);
        if result.is_err() {
            self.with_record(|record| record.signature_rejected = true);
        }
        result
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn is_time_error<T>(result: &Result<T, rustls::Error>) -> bool {
    matches!(
        result,
        Err(rustls::Error::InvalidCertificate(
            CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }
        ))
    )
}

fn trust_from<T>(result: Result<T, rustls::Error>) -> TrustVerdict {
    match result {
        Ok(_) => TrustVerdict::Trusted,
        Err(rustls::Error::InvalidCertificate(error)) => match error {
            // The chain validated; the name is judged by the domain rules.
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TrustVerdict::Trusted
            }
            CertificateError::UnknownIssuer => TrustVerdict::UnknownIssuer,
            CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                TrustVerdict::UnsupportedSignatureAlgorithm
            }
            other => TrustVerdict::Rejected(rejection_reason(&other)),
        },
        Err(other) => TrustVerdict::Rejected(other.to_string()),
    }
}

/// A certificate error in words: `Other(OtherError(CaUsedAsEndEntity))`
/// becomes "ca used as end entity".
fn rejection_reason(error: &CertificateError) -> String {
    match error {
        CertificateError::BadSignature => "bad signature".to_owned(),
        CertificateError::BadEncoding => "malformed certificate".to_owned(),
        CertificateError::Revoked => "revoked".to_owned(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "not valid for server authentication".to_owned()
        }
        CertificateError::UnhandledCriticalExtension => "unhandled critical extension".to_owned(),
        other => {
            let debug = format!("{other:?}");
            let innermost = debug
                .rsplit('(')
                .next()
                .unwrap_or(&debug)
                .trim_end_matches(')');
            snake_case(innermost).replace('_', " ")
        }
    }
}

/// Times at which every served certificate should be valid: just after the
/// latest `not_before`, then the middle of the leaf's validity.
fn reference_times(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Vec<UnixTime> {
    let mut times = Vec::new();
    let windows: Vec<_> = std::iter::once(end_entity)
        .chain(intermediates)
        .filter_map(|cert| x509::validity(cert))
        .collect();
    let latest_start = windows.iter().map(|(not_before, _)| *not_before).max();
    if let Some(start) = latest_start {
        times.push(start + chrono::Duration::seconds(1));
    }
    if let Some((not_before, not_after)) = x509::validity(end_entity) {
        times.push(not_before + (not_after - not_before) / 2);
    }
    times
        .into_iter()
        .filter_map(|time| u64::try_from(time.timestamp()).ok())
        .map(|seconds| UnixTime::since_unix_epoch(Duration::from_secs(seconds)))
        .collect()
}

/// `HandshakeFailure` -> `handshake_failure`, the alert's RFC name.
pub(super) fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (index, character) in camel.chars().enumerate() {
        if character.is_ascii_uppercase() {
            if index > 0 {
                out.push('_');
            }
            out.push(character.to_ascii_lowercase());
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_read_like_the_rfc() {
        assert_eq!(snake_case("HandshakeFailure"), "handshake_failure");
        assert_eq!(snake_case("UnrecognisedName"), "unrecognised_name");
    }

    #[test]
    fn certificate_errors_read_as_words() {
        assert_eq!(
            rejection_reason(&CertificateError::BadSignature),
            "bad signature"
        );
        assert_eq!(
            rejection_reason(&CertificateError::UnknownRevocationStatus),
            "unknown revocation status"
        );
    }
}
