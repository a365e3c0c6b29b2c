//! The test PKI: a root, an intermediate and leaves made with rcgen, with
//! the validity each case needs ([`TestPki`], [`Issued`], [`Validity`]);
//! [`openssl_leaf`] for what rcgen/ring cannot make (RSA-1024 keys, SHA-1
//! signatures).

use std::path::Path;

use chrono::{DateTime, Datelike, SubsecRound, Timelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

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

    /// Valid from `from_days` to `to_days` (relative to `now`), with part
    /// of a day added to the end ([`within_the_day`]) so that "days left"
    /// is `to_days` both in whole 24-hour days and in calendar days (UTC),
    /// whatever the time of day the tests run at.
    pub fn days(now: DateTime<Utc>, from_days: i64, to_days: i64) -> Self {
        Self::around(
            now,
            chrono::Duration::days(from_days),
            chrono::Duration::days(to_days) + within_the_day(now),
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

/// Half the time from `now` to the next UTC midnight (whole seconds): added
/// to whole days, an expiry that many days ahead by either count, whole
/// 24-hour days or calendar days.
pub fn within_the_day(now: DateTime<Utc>) -> chrono::Duration {
    let midnight = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    chrono::Duration::seconds((midnight - now).num_seconds() / 2)
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
