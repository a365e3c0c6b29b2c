//! Talking to the world: observe targets and return what was seen, never
//! decide what it means (that is `domain`).
//!
//! Registration lookups: `registration` (the orchestrator) calls `rdap` and
//! `whois`; all three speak the request vocabulary of `lookup`. The reply
//! parsers (`rdap_parse`, `whois_parse`) share the date reader in `dates` and
//! return the `domain::registration` facts; outside `probe` they are reached
//! through [`parse_saved_reply`].

#[cfg(test)]
mod corpus;
mod dates;
pub mod dns;
pub mod lookup;
pub mod rdap;
mod rdap_parse;
pub mod registration;
pub mod starttls;
pub mod target_policy;
pub mod tls;
pub mod whois;
mod whois_parse;
pub mod x509;

pub use crate::domain::registration::{DateValue, ParseOutcome, RegistrationFacts};

/// The protocol a saved registration reply was received over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyFormat {
    /// A WHOIS reply as printed by the server (or by the `whois` command).
    Whois,
    /// An RDAP domain object (RFC 9083 JSON).
    Rdap,
}

/// Reads a saved reply for `domain` the way a live lookup reads it (`lapse whois parse`): the same
/// parser, so a reply that misreads here misreads in a scan too.
pub fn parse_saved_reply(domain: &str, format: ReplyFormat, raw: &[u8]) -> RegistrationFacts {
    match format {
        ReplyFormat::Whois => whois_parse::parse_whois(domain, raw),
        ReplyFormat::Rdap => rdap_parse::parse_rdap(domain, raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_replies_are_read_by_the_parser_of_their_format() {
        let whois = b"Domain Name: EXAMPLE.COM\nRegistry Expiry Date: 2028-09-14T04:00:00Z\n";
        let facts = parse_saved_reply("example.com", ReplyFormat::Whois, whois);
        assert_eq!(facts, whois_parse::parse_whois("example.com", whois));
        assert_eq!(facts.outcome, ParseOutcome::Found);
        let as_rdap = parse_saved_reply("example.com", ReplyFormat::Rdap, whois);
        assert_eq!(as_rdap.outcome, ParseOutcome::Unparseable);

        let rdap = br#"{"errorCode": 404, "title": "Not Found"}"#;
        let facts = parse_saved_reply("example.com", ReplyFormat::Rdap, rdap);
        assert_eq!(facts, rdap_parse::parse_rdap("example.com", rdap));
        assert_eq!(facts.outcome, ParseOutcome::NotFound);
    }
}
