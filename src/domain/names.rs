//! The one parser for everything staff paste as a target: CLI arguments, API
//! bodies and CSV cells all go through [`parse_target`].
//!
//! Input may carry a scheme and path (`https://www.Example.com/a?b`), a port
//! (`shop.example.com:8443`), mixed case, a trailing dot or Unicode labels
//! (`bücher.de`). The result is a [`Target`]: the host in ASCII (punycode,
//! lower case), an optional port, and the registrable domain found with the
//! Public Suffix List.
//!
//! # Private suffixes
//! The PSL has an ICANN section (registries: `com`, `co.uk`) and a private
//! section (`github.io`, `blogspot.com`: companies that hand out subdomains).
//! lapse watches *registrations*, and only ICANN suffixes are sold by a
//! registry, so the registrable domain is computed from the ICANN section
//! alone: `client.github.io` is the endpoint `client.github.io:443` under
//! the registration `github.io`, the name whose lapse would take the site
//! down. [`Target::platform`] says the host lies under a private suffix: the
//! platform renews that registration, so by default lapse watches the
//! endpoint and not the platform's registration (owner: nobody). A private
//! suffix can still be added as a domain of its own.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Longest name in octets (RFC 1035, without the trailing dot).
pub const MAX_NAME_OCTETS: usize = 253;
/// Longest label in octets (RFC 1035).
pub const MAX_LABEL_OCTETS: usize = 63;

/// What a name may end in besides the public TLDs of the PSL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamePolicy {
    /// TLDs accepted although the PSL does not know them (`test`, `internal`),
    /// lower-case ASCII.
    pub private_tlds: Vec<String>,
}

impl NamePolicy {
    pub fn with_private_tlds<I, S>(tlds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            private_tlds: tlds.into_iter().map(Into::into).collect(),
        }
    }
}

/// A host name in canonical form: ASCII, lower case, punycode, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct HostName(String);

impl HostName {
    /// Wraps a name already in canonical form (as stored in the database).
    pub fn from_canonical(ascii: impl Into<String>) -> Self {
        Self(ascii.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as people read it (`bücher.de` for `xn--bcher-kva.de`).
    pub fn to_unicode(&self) -> String {
        to_unicode(&self.0)
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ASCII name as people read it; names that do not decode stay ASCII.
pub fn to_unicode(ascii: &str) -> String {
    match idna::domain_to_unicode(ascii) {
        (unicode, Ok(())) => unicode,
        (_, Err(_)) => ascii.to_owned(),
    }
}

/// A parsed target: what to watch and under which registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: HostName,
    /// The port the input named, if any (`shop.example.com:8443`).
    pub port: Option<u16>,
    /// The registrable domain (`example.co.uk` for `a.b.example.co.uk`).
    pub registrable: HostName,
    /// The private PSL suffix (`github.io`, `herokuapp.com`) the host lies
    /// strictly under, if any: a platform hands the name out, and the
    /// registration is the platform's, not the client's.
    pub platform: Option<String>,
}

impl Target {
    /// True when the input was the registrable domain itself, without a port.
    pub fn is_bare_domain(&self) -> bool {
        self.port.is_none() && self.host == self.registrable
    }

    pub fn port_or(&self, default: u16) -> u16 {
        self.port.unwrap_or(default)
    }
}

/// Why an input is not a target. Each variant says what was wrong in words a
/// person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error(
        "`{0}` is an IP address; lapse watches names (add the name and pin the address instead)"
    )]
    IpLiteral(String),
    #[error("the label `{label}` is {octets} octets long; a label may have at most 63")]
    LabelTooLong { label: String, octets: usize },
    #[error("the name is {octets} octets long; a name may have at most 253")]
    NameTooLong { octets: usize },
    #[error("the name has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("`{ch}` is not allowed in a host name (letters, digits and `-` only)")]
    BadCharacter { ch: char },
    #[error("the label `{label}` starts or ends with `-`")]
    BadHyphen { label: String },
    #[error("`{name}` is not a valid internationalised name")]
    BadIdn { name: String },
    #[error(
        "`{suffix}` is a public suffix, not a domain anyone can register; add a domain under it"
    )]
    PublicSuffix { suffix: String },
    #[error(
        "wildcards are not targets; add the names the certificate serves (e.g. `www.example.com`)"
    )]
    Wildcard,
    #[error("`.{tld}` is not a known top-level domain (add it to `names.private_tlds` for an internal zone)")]
    UnknownTld { tld: String },
    #[error("`{port}` is not a port; use a number from 1 to 65535")]
    BadPort { port: String },
    #[error(
        "the scheme `{scheme}://` is not supported; use a host name, or an http:// or https:// URL"
    )]
    UnsupportedScheme { scheme: String },
}

impl NameError {
    /// A stable code for API clients and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_name",
            Self::IpLiteral(_) => "ip_literal",
            Self::LabelTooLong { .. } => "label_too_long",
            Self::NameTooLong { .. } => "name_too_long",
            Self::EmptyLabel => "empty_label",
            Self::BadCharacter { .. } => "bad_character",
            Self::BadHyphen { .. } => "bad_hyphen",
            Self::BadIdn { .. } => "bad_idn",
            Self::PublicSuffix { .. } => "public_suffix",
            Self::Wildcard => "wildcard",
            Self::UnknownTld { .. } => "unknown_tld",
            Self::BadPort { .. } => "bad_port",
            Self::UnsupportedScheme { .. } => "unsupported_scheme",
        }
    }
}

/// Parses what staff paste into a [`Target`].
pub fn parse_target(input: &str, policy: &NamePolicy) -> Result<Target, NameError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    let authority = strip_scheme_and_path(trimmed)?;
    if authority.is_empty() {
        return Err(NameError::Empty);
    }
    let (host_part, port) = split_port(authority)?;
    let host = canonical_host(host_part)?;
    let registrable = registrable_domain(&host, policy)?;
    let platform = private_suffix(&host);
    Ok(Target {
        host: HostName(host),
        port,
        registrable: HostName(registrable),
        platform,
    })
}

fn strip_scheme_and_path(input: &str) -> Result<&str, NameError> {
    let rest = match input.find("://") {
        Some(at) => {
            let scheme = &input[..at];
            if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
                return Err(NameError::UnsupportedScheme {
                    scheme: scheme.to_owned(),
                });
            }
            &input[at + 3..]
        }
        None => input,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Ok(&rest[..end])
}

fn split_port(authority: &str) -> Result<(&str, Option<u16>), NameError> {
    // `[::1]:443` and bare IPv6 literals.
    if authority.starts_with('[') {
        let inner = authority
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or_default();
        return Err(NameError::IpLiteral(inner.to_owned()));
    }
    if authority.matches(':').count() > 1 {
        if authority.parse::<IpAddr>().is_ok() {
            return Err(NameError::IpLiteral(authority.to_owned()));
        }
        return Err(NameError::BadCharacter { ch: ':' });
    }
    match authority.rsplit_once(':') {
        None => Ok((authority, None)),
        Some((host, port_text)) => {
            let port = port_text
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| NameError::BadPort {
                    port: port_text.to_owned(),
                })?;
            Ok((host, Some(port)))
        }
    }
}

fn canonical_host(raw: &str) -> Result<String, NameError> {
    let host = raw.strip_suffix('.').unwrap_or(raw);
    if host.is_empty() {
        return Err(NameError::Empty);
    }
    if host.contains('*') {
        return Err(NameError::Wildcard);
    }
    if host.parse::<Ipv4Addr>().is_ok() || looks_like_numeric_ipv4(host) {
        return Err(NameError::IpLiteral(host.to_owned()));
    }
    if let Some(ch) = host
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(NameError::BadCharacter { ch });
    }
    if let Some(ch) = host.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(NameError::BadCharacter { ch });
    }
    if host.split('.').any(str::is_empty) {
        return Err(NameError::EmptyLabel);
    }
    let lower = host.to_ascii_lowercase();
    let ascii = if host.is_ascii() && !lower.split('.').any(|l| l.starts_with("xn--")) {
        lower
    } else {
        // UTS-46 mapping, and validation of any A-label (`xn--...`) given.
        idna::domain_to_ascii_cow(host.as_bytes(), idna::AsciiDenyList::URL)
            .map_err(|_| NameError::BadIdn {
                name: host.to_owned(),
            })?
            .into_owned()
    };
    // Every rule runs on the mapped name: code points IDNA ignores
    // (U+FE0F, U+3164, ...) can leave an empty name or empty labels.
    if ascii.is_empty() {
        return Err(NameError::Empty);
    }
    if ascii.split('.').any(str::is_empty) {
        return Err(NameError::EmptyLabel);
    }
    check_idn_labels(&ascii)?;
    check_lengths(&ascii)?;
    for label in ascii.split('.') {
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::BadHyphen {
                label: label.to_owned(),
            });
        }
        if let Some(ch) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::BadCharacter { ch });
        }
    }
    Ok(ascii)
}

/// A-labels must decode, and their U-labels must not start or end with a
/// hyphen (UTS-46 CheckHyphens; the URL profile used for mapping skips it).
fn check_idn_labels(ascii: &str) -> Result<(), NameError> {
    for label in ascii.split('.').filter(|l| l.starts_with("xn--")) {
        let (unicode, result) = idna::domain_to_unicode(label);
        if result.is_err() || unicode.is_empty() || unicode == label {
            return Err(NameError::BadIdn {
                name: label.to_owned(),
            });
        }
        if unicode.starts_with('-') || unicode.ends_with('-') {
            return Err(NameError::BadHyphen { label: unicode });
        }
    }
    Ok(())
}

/// `10.1` or `127.1` are IPv4 to most resolvers; an all-numeric last label is
/// never a TLD.
fn looks_like_numeric_ipv4(host: &str) -> bool {
    host.rsplit('.')
        .next()
        .is_some_and(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()))
}

fn check_lengths(ascii: &str) -> Result<(), NameError> {
    if ascii.len() > MAX_NAME_OCTETS {
        return Err(NameError::NameTooLong {
            octets: ascii.len(),
        });
    }
    if let Some(label) = ascii.split('.').find(|l| l.len() > MAX_LABEL_OCTETS) {
        return Err(NameError::LabelTooLong {
            label: label.to_owned(),
            octets: label.len(),
        });
    }
    Ok(())
}

/// The registrable domain of a canonical host under the ICANN section of the
/// PSL, or under one of the policy's private TLDs.
fn registrable_domain(host: &str, policy: &NamePolicy) -> Result<String, NameError> {
    let tld = host.rsplit('.').next().unwrap_or(host);
    if policy.private_tlds.iter().any(|t| t == tld) {
        // Internal zones have no suffix list: the name right under the TLD is
        // the "registration".
        return one_label_above(host, tld).ok_or_else(|| NameError::PublicSuffix {
            suffix: tld.to_owned(),
        });
    }
    let suffix = icann_suffix(host).ok_or_else(|| NameError::UnknownTld {
        tld: tld.to_owned(),
    })?;
    one_label_above(host, &suffix).ok_or(NameError::PublicSuffix { suffix })
}

/// The longest ICANN public suffix of `host`, skipping private-section rules.
fn icann_suffix(host: &str) -> Option<String> {
    let mut candidate = host;
    loop {
        let suffix = psl::suffix(candidate.as_bytes())?;
        let text = std::str::from_utf8(suffix.as_bytes()).ok()?;
        match suffix.typ() {
            Some(psl::Type::Icann) => return Some(text.to_owned()),
            None => return None,
            Some(psl::Type::Private) => {
                // `github.io` is private: look at what is left above it (`io`).
                let (_, parent) = text.split_once('.')?;
                candidate = parent;
            }
        }
    }
}

/// The private-section PSL suffix `host` lies strictly under
/// (`client.github.io` -> `github.io`), or `None`.
fn private_suffix(host: &str) -> Option<String> {
    let suffix = psl::suffix(host.as_bytes())?;
    if suffix.typ() != Some(psl::Type::Private) {
        return None;
    }
    let text = std::str::from_utf8(suffix.as_bytes()).ok()?;
    (text != host).then(|| text.to_owned())
}

/// `host` cut to one label more than `suffix`, or `None` when `host` is the
/// suffix itself.
fn one_label_above(host: &str, suffix: &str) -> Option<String> {
    if host == suffix {
        return None;
    }
    let head = host.strip_suffix(suffix)?.strip_suffix('.')?;
    let label = head.rsplit('.').next()?;
    Some(format!("{label}.{suffix}"))
}

/// A contact address as staff type it: trimmed, domain part lower-cased.
pub fn parse_email(input: &str) -> Result<String, EmailError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(EmailError::Empty);
    }
    if let Some(found) = super::text::look_alike(trimmed) {
        return Err(EmailError::LookAlike {
            input: trimmed.escape_default().to_string(),
            found: found.to_string(),
        });
    }
    let (local, domain) = trimmed.rsplit_once('@').ok_or_else(|| EmailError::NoAt {
        input: trimmed.to_owned(),
    })?;
    if local.is_empty()
        || local.len() > 64
        || local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c))
    {
        return Err(EmailError::BadLocalPart {
            input: trimmed.to_owned(),
        });
    }
    let domain = canonical_host(domain).map_err(|reason| EmailError::BadDomain {
        input: trimmed.to_owned(),
        reason,
    })?;
    if !domain.contains('.') {
        return Err(EmailError::DomainWithoutDot {
            input: trimmed.to_owned(),
            domain,
        });
    }
    Ok(format!("{local}@{domain}"))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("`{input}` is not an email address (no `@`)")]
    NoAt { input: String },
    #[error("`{input}` has an invalid part before the `@`")]
    BadLocalPart { input: String },
    #[error("`{input}` has no domain with a dot after the `@` (`{domain}`); use a full address such as ops@example.com")]
    DomainWithoutDot { input: String, domain: String },
    #[error("`{input}` contains {found}; remove it")]
    LookAlike { input: String, found: String },
    #[error("`{input}` has an invalid domain: {reason}")]
    BadDomain { input: String, reason: NameError },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> NamePolicy {
        NamePolicy::with_private_tlds(["test", "internal"])
    }

    /// (input, host, port, registrable)
    const ACCEPTED: &[(&str, &str, Option<u16>, &str)] = &[
        ("example.com", "example.com", None, "example.com"),
        ("Example.COM", "example.com", None, "example.com"),
        ("example.com.", "example.com", None, "example.com"),
        ("  example.com \n", "example.com", None, "example.com"),
        ("www.example.com", "www.example.com", None, "example.com"),
        (
            "a.b.example.co.uk",
            "a.b.example.co.uk",
            None,
            "example.co.uk",
        ),
        ("example.co.uk", "example.co.uk", None, "example.co.uk"),
        (
            "https://www.Example.com/a?b",
            "www.example.com",
            None,
            "example.com",
        ),
        ("http://example.com", "example.com", None, "example.com"),
        (
            "HTTPS://Shop.Example.co.uk:8443/x",
            "shop.example.co.uk",
            Some(8443),
            "example.co.uk",
        ),
        (
            "shop.example.com:8443",
            "shop.example.com",
            Some(8443),
            "example.com",
        ),
        ("example.com:443", "example.com", Some(443), "example.com"),
        ("example.com#frag", "example.com", None, "example.com"),
        ("example.com/", "example.com", None, "example.com"),
        ("bücher.de", "xn--bcher-kva.de", None, "xn--bcher-kva.de"),
        ("BÜCHER.de", "xn--bcher-kva.de", None, "xn--bcher-kva.de"),
        (
            "xn--bcher-kva.de",
            "xn--bcher-kva.de",
            None,
            "xn--bcher-kva.de",
        ),
        (
            "www.bücher.de:8443",
            "www.xn--bcher-kva.de",
            Some(8443),
            "xn--bcher-kva.de",
        ),
        (
            "mail.example.com:25",
            "mail.example.com",
            Some(25),
            "example.com",
        ),
        ("client.github.io", "client.github.io", None, "github.io"),
        ("github.io", "github.io", None, "github.io"),
        (
            "foo.blogspot.co.uk",
            "foo.blogspot.co.uk",
            None,
            "blogspot.co.uk",
        ),
        ("app.internal", "app.internal", None, "app.internal"),
        (
            "a.b.shop.test:8443",
            "a.b.shop.test",
            Some(8443),
            "shop.test",
        ),
        ("x-y.example.org", "x-y.example.org", None, "example.org"),
        ("1password.com", "1password.com", None, "1password.com"),
        (
            "example.xn--p1ai",
            "example.xn--p1ai",
            None,
            "example.xn--p1ai",
        ),
        (
            "пример.рф",
            "xn--e1afmkfd.xn--p1ai",
            None,
            "xn--e1afmkfd.xn--p1ai",
        ),
        ("example.com.au", "example.com.au", None, "example.com.au"),
        ("www.example.app", "www.example.app", None, "example.app"),
    ];

    #[test]
    fn accepted_inputs_parse_to_canonical_targets() {
        for (input, host, port, registrable) in ACCEPTED {
            let target = parse_target(input, &policy())
                .unwrap_or_else(|e| panic!("{input:?} was rejected: {e}"));
            assert_eq!(target.host.as_str(), *host, "host of {input:?}");
            assert_eq!(target.port, *port, "port of {input:?}");
            assert_eq!(
                target.registrable.as_str(),
                *registrable,
                "registrable of {input:?}"
            );
        }
    }

    /// (input, expected error code)
    const REJECTED: &[(&str, &str)] = &[
        ("", "empty_name"),
        ("   ", "empty_name"),
        ("https://", "empty_name"),
        (".", "empty_name"),
        ("10.0.0.1", "ip_literal"),
        ("127.0.0.1:443", "ip_literal"),
        ("https://192.168.1.1/admin", "ip_literal"),
        ("::1", "ip_literal"),
        ("[2001:db8::1]:443", "ip_literal"),
        ("2001:db8::1", "ip_literal"),
        ("co.uk", "public_suffix"),
        ("com", "public_suffix"),
        ("github.io.", "public_suffix_or_ok"),
        ("exa mple.com", "bad_character"),
        ("exa_mple.com", "bad_character"),
        ("example!.com", "bad_character"),
        ("user@example.com", "bad_character"),
        ("*.example.com", "wildcard"),
        ("https://*.example.com/", "wildcard"),
        ("example.invalidtld", "unknown_tld"),
        ("server.local", "unknown_tld"),
        ("example..com", "empty_label"),
        (".example.com", "empty_label"),
        ("-example.com", "bad_hyphen"),
        ("example-.com", "bad_hyphen"),
        ("example.com:0", "bad_port"),
        ("example.com:99999", "bad_port"),
        ("example.com:http", "bad_port"),
        ("example.com:", "bad_port"),
        ("ftp://example.com", "unsupported_scheme"),
        ("a:b:c", "bad_character"),
    ];

    #[test]
    fn rejected_inputs_name_their_problem() {
        for (input, code) in REJECTED {
            if *code == "public_suffix_or_ok" {
                // `github.io` is a private suffix but an ICANN registration.
                assert!(parse_target(input, &policy()).is_ok(), "{input:?}");
                continue;
            }
            let err = parse_target(input, &policy())
                .expect_err(&format!("{input:?} should be rejected with {code}"));
            assert_eq!(err.code(), *code, "{input:?} gave {err}");
        }
    }

    #[test]
    fn names_are_validated_after_idna_mapping() {
        let code = |input: &str| parse_target(input, &policy()).map_err(|e| e.code());
        // Only code points IDNA ignores: nothing (or an empty label) is left.
        assert_eq!(code("\u{FE0F}.co.uk"), Err("empty_label"));
        assert_eq!(code("\u{FE0F}"), Err("empty_name"));
        assert_eq!(code("x.\u{3164}.test"), Err("empty_label"));
        assert_eq!(code("\u{3164}\u{FE0F}.com"), Err("empty_label"));
        // Invalid A-labels, and U-labels with a leading or trailing hyphen.
        assert_eq!(code("xn--a.com"), Err("bad_idn"));
        assert_eq!(code("xn--0.com"), Err("bad_idn"));
        assert_eq!(code(&format!("xn--{}.com", "a".repeat(70))), Err("bad_idn"));
        assert_eq!(code("-bücher.de"), Err("bad_hyphen"));
        assert_eq!(code("bücher-.de"), Err("bad_hyphen"));
        // Valid ones still pass, given as U-label or A-label.
        let ok = |input: &str| parse_target(input, &policy()).map(|t| t.host.as_str().to_owned());
        assert_eq!(ok("bücher.de").as_deref(), Ok("xn--bcher-kva.de"));
        assert_eq!(ok("XN--BCHER-KVA.de").as_deref(), Ok("xn--bcher-kva.de"));
        assert_eq!(
            ok("shop.example.co.uk").as_deref(),
            Ok("shop.example.co.uk")
        );
    }

    #[test]
    fn hosts_under_a_private_suffix_name_their_platform() {
        let platform = |input: &str| parse_target(input, &policy()).unwrap().platform;
        assert_eq!(platform("client.github.io").as_deref(), Some("github.io"));
        assert_eq!(
            platform("a.b.client.github.io").as_deref(),
            Some("github.io")
        );
        assert_eq!(platform("github.io"), None);
        assert_eq!(platform("shop.example.co.uk"), None);
        assert_eq!(platform("api.internal.test"), None);
    }

    #[test]
    fn label_over_63_octets_is_rejected() {
        let label = "a".repeat(64);
        let err = parse_target(&format!("{label}.com"), &policy()).unwrap_err();
        assert!(
            matches!(err, NameError::LabelTooLong { octets: 64, .. }),
            "{err}"
        );
        assert!(parse_target(&format!("{}.com", "a".repeat(63)), &policy()).is_ok());
    }

    #[test]
    fn name_over_253_octets_is_rejected() {
        let long = format!("{}.example.com", vec!["a".repeat(60); 4].join("."));
        assert!(long.len() > 253);
        let err = parse_target(&long, &policy()).unwrap_err();
        assert!(matches!(err, NameError::NameTooLong { .. }), "{err}");
    }

    #[test]
    fn private_tlds_are_unknown_until_configured() {
        let err = parse_target("app.internal", &NamePolicy::default()).unwrap_err();
        assert_eq!(
            err,
            NameError::UnknownTld {
                tld: "internal".into()
            }
        );
        assert_eq!(
            parse_target("internal", &policy()).unwrap_err().code(),
            "public_suffix"
        );
    }

    #[test]
    fn idn_is_shown_back_in_unicode() {
        let target = parse_target("bücher.de", &policy()).unwrap();
        assert_eq!(target.host.to_unicode(), "bücher.de");
        assert_eq!(to_unicode("example.com"), "example.com");
    }

    #[test]
    fn every_rejection_message_is_specific() {
        let messages: std::collections::HashSet<String> =
            ["10.0.0.1", "co.uk", "exa mple.com", "*.example.com", ""]
                .iter()
                .map(|i| parse_target(i, &policy()).unwrap_err().to_string())
                .collect();
        assert_eq!(messages.len(), 5);
        assert!(messages
            .iter()
            .any(|m| m.contains("`10.0.0.1` is an IP address")));
        assert!(messages
            .iter()
            .any(|m| m.contains("`co.uk` is a public suffix")));
        assert!(messages.iter().any(|m| m.contains("` ` is not allowed")));
    }

    #[test]
    fn emails_are_validated_and_normalised() {
        assert_eq!(parse_email(" Ops@Example.COM ").unwrap(), "Ops@example.com");
        assert_eq!(
            parse_email("a.b+tag@bücher.de").unwrap(),
            "a.b+tag@xn--bcher-kva.de"
        );
        for bad in [
            "",
            "nobody",
            "@example.com",
            "a b@example.com",
            "ops@localhost",
            "ops@exa mple.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
