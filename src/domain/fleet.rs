//! The fleet model: what is watched and who owns what.
//!
//! - A **domain** is a registrable domain. Its registration has an
//!   [`OwnerKind`]: a client (whose contacts receive registration alerts),
//!   the agency (staff receive them), or nobody (a platform's registration,
//!   such as `github.io`, which no one here renews).
//! - An **endpoint** is a TLS service under a domain, owned by one client or
//!   by the agency; certificate alerts go to the endpoint's client.
//! - [`Watch`] says what lapse checks for a domain: its registration, its
//!   endpoints (`tls`), or both. A domain watched for its registration alone
//!   (parked, email-only) has no certificate checks and no certificate mail.
//! - [`TlsMode`] names, as typed on every surface (`direct`,
//!   `starttls-smtp`, ...) and as stored (`direct`, `smtp`, ...).

use std::fmt;

use super::certificate::TlsMode;

/// What is watched for a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Watch {
    /// The registration alone: endpoints under the domain are kept but not checked.
    Registration,
    /// The endpoints alone: the registration is not looked up.
    Tls,
    /// Both.
    Both,
}

impl Watch {
    pub const ALL: [Watch; 3] = [Self::Registration, Self::Tls, Self::Both];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Tls => "tls",
            Self::Both => "both",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|w| w.as_str() == text)
    }

    /// The registration is looked up and alerted on.
    pub fn registration(self) -> bool {
        matches!(self, Self::Registration | Self::Both)
    }

    /// The endpoints are checked and alerted on.
    pub fn tls(self) -> bool {
        matches!(self, Self::Tls | Self::Both)
    }
}

impl fmt::Display for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who owns a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    /// A client: `domains.client_id` names it.
    Client,
    /// The agency itself: staff receive the registration's alerts.
    Agency,
    /// Nobody here renews it (a platform's registration).
    None,
}

impl OwnerKind {
    pub const ALL: [OwnerKind; 3] = [Self::Client, Self::Agency, Self::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Agency => "agency",
            Self::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl fmt::Display for OwnerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TLS mode names every surface accepts, for messages.
pub const TLS_MODE_NAMES: &str = "direct, starttls-smtp, starttls-imap, starttls-pop3";

impl TlsMode {
    /// The name shown in lists and accepted on every surface.
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::StartTlsSmtp => "starttls-smtp",
            Self::StartTlsImap => "starttls-imap",
            Self::StartTlsPop3 => "starttls-pop3",
        }
    }

    /// The value stored in `endpoints.tls_mode`.
    pub fn stored(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::StartTlsSmtp => "smtp",
            Self::StartTlsImap => "imap",
            Self::StartTlsPop3 => "pop3",
        }
    }

    /// A stored value; `auto` (rows from before the fleet model) and anything
    /// unknown fall back to what the port implies.
    pub fn from_stored(stored: &str, port: u16) -> Self {
        match stored {
            "direct" => Self::Direct,
            "smtp" => Self::StartTlsSmtp,
            "imap" => Self::StartTlsImap,
            "pop3" => Self::StartTlsPop3,
            _ => Self::default_for_port(port),
        }
    }

    /// What a person typed: the surface names, the stored names
    /// (`smtp`, ...) and `auto` (what the port implies) are accepted.
    pub fn parse_name(text: &str, port: u16) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "direct" | "tls" => Some(Self::Direct),
            "starttls-smtp" | "smtp" => Some(Self::StartTlsSmtp),
            "starttls-imap" | "imap" => Some(Self::StartTlsImap),
            "starttls-pop3" | "pop3" => Some(Self::StartTlsPop3),
            "auto" => Some(Self::default_for_port(port)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Watch::ALL {
            assert_eq!(Watch::parse(w.as_str()), Some(w));
        }
        for o in OwnerKind::ALL {
            assert_eq!(OwnerKind::parse(o.as_str()), Some(o));
        }
        for mode in [
            TlsMode::Direct,
            TlsMode::StartTlsSmtp,
            TlsMode::StartTlsImap,
            TlsMode::StartTlsPop3,
        ] {
            assert_eq!(TlsMode::parse_name(mode.name(), 443), Some(mode));
            assert_eq!(TlsMode::from_stored(mode.stored(), 443), mode);
        }
        assert_eq!(Watch::parse("everything"), None);
        assert_eq!(TlsMode::parse_name("starttls", 25), None);
    }

    #[test]
    fn well_known_ports_pick_their_mode() {
        assert_eq!(
            TlsMode::parse_name("auto", 587),
            Some(TlsMode::StartTlsSmtp)
        );
        assert_eq!(TlsMode::from_stored("auto", 993), TlsMode::Direct);
        assert_eq!(TlsMode::from_stored("auto", 110), TlsMode::StartTlsPop3);
        assert_eq!(TlsMode::from_stored("auto", 2587), TlsMode::Direct);
    }
}
