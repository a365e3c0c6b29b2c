//! Validation of `[agency]`: who client mail comes from.

use super::BadValue;
use crate::config::raw::RawAgency;
use crate::config::{AgencyConfig, ConfigError};

/// Longest agency name: it goes into every client mail's text.
const NAME_MAX: usize = 100;
/// Longest footer.
const FOOTER_MAX: usize = 1000;

pub(super) fn agency(raw: RawAgency, bad: BadValue<'_>) -> Result<AgencyConfig, ConfigError> {
    let name = raw.name.trim().to_owned();
    if name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(bad(
            "agency.name",
            &name,
            "the agency's name as clients know it: one line of at most 100 characters",
        ));
    }
    let reply_to = match raw.reply_to.trim() {
        "" => None,
        address => Some(crate::domain::names::parse_email(address).map_err(|_| {
            bad(
                "agency.reply_to",
                &address,
                "one email address, like help@agency.example, or empty for none",
            )
        })?),
    };
    let footer = raw.footer.trim().to_owned();
    let footer_ok = footer.chars().count() <= FOOTER_MAX
        && !footer.chars().any(|c| c.is_control() && c != '\n');
    if !footer_ok {
        return Err(bad(
            "agency.footer",
            &footer,
            "text of at most 1000 characters (new lines allowed, no other control characters)",
        ));
    }
    let logo_url = match raw.logo_url.trim() {
        "" => None,
        text => Some(https_url(text).ok_or_else(|| {
            bad(
                "agency.logo_url",
                &text,
                "an https:// URL of an image (http and other schemes are refused), or empty for none",
            )
        })?),
    };
    Ok(AgencyConfig {
        name,
        reply_to,
        footer,
        logo_url,
    })
}

/// `text` when it is an absolute https URL with a host and no credentials.
fn https_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    let ok = url.scheme() == "https"
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    ok.then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn load(file: &str) -> Result<Config, ConfigError> {
        Config::from_sources(Some((Path::new("test.toml"), file)), &[])
    }

    #[test]
    fn the_agency_keys_are_checked_naming_the_key() {
        let config = load(
            "[agency]\nname = \" Northwind Web \"\nreply_to = \"Help@Northwind.example\"\n\
             footer = \"1 Harbour Road\\nPort Town\"\nlogo_url = \"https://northwind.example/logo.png\"\n",
        )
        .expect("valid");
        assert_eq!(config.agency.name, "Northwind Web");
        assert_eq!(
            config.agency.reply_to.as_deref(),
            Some("Help@northwind.example")
        );
        assert_eq!(config.agency.footer, "1 Harbour Road\nPort Town");
        assert_eq!(
            config.agency.logo_url.as_deref(),
            Some("https://northwind.example/logo.png")
        );
        let defaults = load("").expect("defaults");
        assert_eq!(defaults.agency.reply_to, None);
        assert_eq!(defaults.agency.logo_url, None);
        for (toml, key, expected) in [
            (
                "reply_to = \"not an address\"",
                "agency.reply_to",
                "one email address",
            ),
            (
                "reply_to = \"a@b.example, c@d.example\"",
                "agency.reply_to",
                "one email address",
            ),
            (
                "logo_url = \"http://northwind.example/logo.png\"",
                "agency.logo_url",
                "https://",
            ),
            (
                "logo_url = \"javascript:alert(1)\"",
                "agency.logo_url",
                "https://",
            ),
            (
                "logo_url = \"https://user:pw@northwind.example/l.png\"",
                "agency.logo_url",
                "https://",
            ),
            ("name = \"two\\nlines\"", "agency.name", "one line"),
            (
                "footer = \"bell\\u0007\"",
                "agency.footer",
                "control characters",
            ),
        ] {
            let msg = load(&format!("[agency]\n{toml}\n"))
                .expect_err(toml)
                .to_string();
            assert!(msg.contains(&format!("`{key}`")), "{toml}: {msg}");
            assert!(msg.contains(expected), "{toml}: {msg}");
        }
        let msg = load("[agency]\nlogo = \"x\"\n")
            .expect_err("unknown")
            .to_string();
        assert!(msg.contains("logo"), "{msg}");
    }
}
