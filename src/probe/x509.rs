//! Reads the fields lapse keeps from a DER certificate, with x509-parser.
//!
//! Only reading happens here; what the fields mean is decided in
//! `domain::certificate`. `is_trust_anchor` is left `false`: only the probe,
//! which holds the trust store, can tell.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::domain::certificate::{CertificateInfo, KeyType, SignatureHash};

/// A served certificate that x509-parser cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509ReadError {
    #[error("not a DER X.509 certificate: {0}")]
    Parse(String),
    #[error("trailing bytes after the certificate")]
    TrailingBytes,
    #[error("validity date out of range")]
    Validity,
}

/// Reads one DER certificate.
pub fn read_certificate(der: &[u8]) -> Result<CertificateInfo, X509ReadError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|error| X509ReadError::Parse(error.to_string()))?;
    if !rest.is_empty() {
        return Err(X509ReadError::TrailingBytes);
    }

    let mut sans = Vec::new();
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(dns) => sans.push((*dns).to_owned()),
                        GeneralName::IPAddress(bytes) => {
                            if let Some(ip) = ip_from_bytes(bytes) {
                                sans.push(ip.to_string());
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(hex::encode(id.0)),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|id| hex::encode(id.0));
            }
            _ => {}
        }
    }

    let (key_type, key_bits) = key_type_and_bits(&cert);
    let signature_oid = cert.signature_algorithm.algorithm.to_id_string();
    let (signature_algorithm, signature_hash) = signature_name_and_hash(&signature_oid);

    let subject_raw = cert.subject().as_raw();
    let issuer_raw = cert.issuer().as_raw();
    let keys_agree = match (&authority_key_id, &subject_key_id) {
        (Some(aki), Some(ski)) => aki == ski,
        _ => true,
    };

    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        sans,
        issuer: cert.issuer().to_string(),
        serial_hex: hex::encode(cert.raw_serial()),
        sha256_fingerprint_hex: hex::encode(Sha256::digest(der)),
        not_before: to_utc(cert.validity().not_before.timestamp())?,
        not_after: to_utc(cert.validity().not_after.timestamp())?,
        key_type,
        key_bits,
        signature_algorithm,
        signature_hash,
        is_self_signed: subject_raw == issuer_raw && keys_agree,
        is_ca: cert.is_ca(),
        subject_key_id_hex: subject_key_id,
        authority_key_id_hex: authority_key_id,
        is_trust_anchor: false,
    })
}

/// The validity window of a DER certificate, for the verifier (which needs a
/// time inside it); `None` when it cannot be read.
pub fn validity(der: &[u8]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some((
        to_utc(cert.validity().not_before.timestamp()).ok()?,
        to_utc(cert.validity().not_after.timestamp()).ok()?,
    ))
}

/// The value bytes (without the outer SEQUENCE header) of a certificate's
/// SubjectPublicKeyInfo: the form rustls keeps for trust anchors.
pub fn spki_value(der: &[u8]) -> Option<&[u8]> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let raw: &[u8] = cert.tbs_certificate.subject_pki.raw;
    der_sequence_value(raw)
}

fn der_sequence_value(tlv: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = tlv.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, value) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (length_bytes, value) = rest.split_at(count);
        let length = length_bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
        (length, value)
    };
    (value.len() == length).then_some(value)
}

fn to_utc(timestamp: i64) -> Result<DateTime<Utc>, X509ReadError> {
    DateTime::from_timestamp(timestamp, 0).ok_or(X509ReadError::Validity)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => {
            let octets: [u8; 4] = bytes.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

fn key_type_and_bits(cert: &X509Certificate<'_>) -> (KeyType, u32) {
    let spki = cert.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let parsed = spki.parsed().ok();
    match algorithm.as_str() {
        // rsaEncryption, RSASSA-PSS
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = match parsed {
                Some(PublicKey::RSA(rsa)) => significant_bits(rsa.modulus),
                _ => 0,
            };
            (KeyType::Rsa, bits)
        }
        // id-ecPublicKey: the size is the curve's
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|parameters| parameters.as_oid().ok())
                .map(|oid| oid.to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => 256,
                Some("1.3.132.0.34") => 384,
                Some("1.3.132.0.35") => 521,
                Some("1.3.132.0.33") => 224,
                Some("1.2.840.10045.3.1.1") => 192,
                _ => parsed
                    .map(|key| u32::try_from(key.key_size()).unwrap_or(0))
                    .unwrap_or(0),
            };
            (KeyType::Ecdsa, bits)
        }
        "1.3.101.112" => (KeyType::Ed25519, 256),
        "1.3.101.113" => (KeyType::Ed448, 456),
        "1.2.840.10040.4.1" => {
            let bits = parsed
                .map(|key| u32::try_from(key.key_size()).unwrap_or(0))
                .unwrap_or(0);
            (KeyType::Dsa, bits)
        }
        _ => (KeyType::Other, 0),
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes, as DER
/// adds them, do not count).
fn significant_bits(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|byte| *byte != 0) {
        Some(start) => &bytes[start..],
        None => return 0,
    };
    let whole_bytes = u32::try_from(trimmed.len() - 1).unwrap_or(u32::MAX / 8);
    whole_bytes * 8 + (8 - trimmed[0].leading_zeros())
}

/// Name and digest of a signature algorithm OID.
fn signature_name_and_hash(oid: &str) -> (String, SignatureHash) {
    let (name, hash) = match oid {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", SignatureHash::Md2),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", SignatureHash::Md5),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", SignatureHash::Sha1),
        "1.3.14.3.2.29" => ("sha1WithRSASignature", SignatureHash::Sha1),
        "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", SignatureHash::Sha224),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", SignatureHash::Sha256),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", SignatureHash::Sha384),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", SignatureHash::Sha512),
        "1.2.840.113549.1.1.10" => ("rsassaPss", SignatureHash::Unknown),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", SignatureHash::Sha1),
        "1.2.840.10045.4.3.1" => ("ecdsa-with-SHA224", SignatureHash::Sha224),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", SignatureHash::Sha256),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", SignatureHash::Sha384),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", SignatureHash::Sha512),
        "1.2.840.10040.4.3" => ("dsa-with-sha1", SignatureHash::Sha1),
        "2.16.840.1.101.3.4.3.2" => ("dsa-with-sha256", SignatureHash::Sha256),
        "1.3.101.112" => ("Ed25519", SignatureHash::Intrinsic),
        "1.3.101.113" => ("Ed448", SignatureHash::Intrinsic),
        other => return (other.to_owned(), SignatureHash::Unknown),
    };
    (name.to_owned(), hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_modulus_size_ignores_the_der_sign_byte() {
        let mut modulus = vec![0x00, 0x80];
        modulus.extend(std::iter::repeat_n(0xff, 127));
        assert_eq!(significant_bits(&modulus), 1024);
        assert_eq!(significant_bits(&[0x01, 0x00]), 9);
        assert_eq!(significant_bits(&[0x00]), 0);
    }

    #[test]
    fn sha1_and_md5_signatures_are_named_and_weak() {
        let (name, hash) = signature_name_and_hash("1.2.840.113549.1.1.5");
        assert_eq!(name, "sha1WithRSAEncryption");
        assert!(hash.is_weak());
        let (name, hash) = signature_name_and_hash("1.2.840.10045.4.3.2");
        assert_eq!(name, "ecdsa-with-SHA256");
        assert!(!hash.is_weak());
        assert_eq!(
            signature_name_and_hash("1.2.3.4"),
            ("1.2.3.4".to_owned(), SignatureHash::Unknown)
        );
    }

    #[test]
    fn sequence_value_strips_short_and_long_headers() {
        assert_eq!(der_sequence_value(&[0x30, 2, 7, 8]), Some(&[7u8, 8][..]));
        let mut long = vec![0x30, 0x81, 200];
        long.extend(std::iter::repeat_n(1, 200));
        assert_eq!(der_sequence_value(&long).map(<[u8]>::len), Some(200));
        assert_eq!(der_sequence_value(&[0x30, 3, 7, 8]), None);
        assert_eq!(der_sequence_value(&[0x31, 1, 7]), None);
    }

    #[test]
    fn garbage_is_an_unreadable_certificate() {
        assert!(matches!(
            read_certificate(b"not a certificate"),
            Err(X509ReadError::Parse(_))
        ));
    }
}
