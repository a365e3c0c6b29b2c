//! Talking to the world: observe targets and return what was seen, never
//! decide what it means (that is `domain`).

pub mod dns;
pub mod rdap;
pub mod rdap_parse;
pub mod registration;
pub mod starttls;
pub mod target_policy;
pub mod tls;
pub mod whois;
pub mod whois_parse;
pub mod x509;
