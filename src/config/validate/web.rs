//! Validation of `[web]`: the public URL of the pages (links in mail and
//! in `lapse users add`), sessions and the sign-in limits.

use std::net::SocketAddr;
use std::time::Duration;

use super::BadValue;
use crate::config::raw::RawWeb;
use crate::config::{ConfigError, ServerConfig, WebConfig};

/// Longest session: a month.
const SESSION_HOURS_MAX: u32 = 24 * 31;

pub(super) fn web(
    raw: RawWeb,
    server: &ServerConfig,
    bad: BadValue<'_>,
) -> Result<WebConfig, ConfigError> {
    let public_url = match raw.public_url.trim() {
        "" => url_of_listen(server.listen),
        text => base_url(text).ok_or_else(|| {
            bad(
                "web.public_url",
                &text,
                "an http:// or https:// URL without credentials, query or fragment, \
                 like https://lapse.agency.example, or empty for http://<server.listen>",
            )
        })?,
    };
    if raw.session_hours == 0 || raw.session_hours > SESSION_HOURS_MAX {
        return Err(bad(
            "web.session_hours",
            &raw.session_hours,
            "1 to 744 hours",
        ));
    }
    for (key, value) in [
        (
            "web.sign_in_attempts_per_account",
            raw.sign_in_attempts_per_account,
        ),
        (
            "web.sign_in_attempts_per_address",
            raw.sign_in_attempts_per_address,
        ),
        ("web.sign_in_window_mins", raw.sign_in_window_mins),
    ] {
        if value == 0 {
            return Err(bad(key, &0, "a positive number"));
        }
    }
    Ok(WebConfig {
        public_url_is_https: public_url.starts_with("https://"),
        public_url,
        session: Duration::from_secs(u64::from(raw.session_hours) * 3600),
        sign_in_attempts_per_account: raw.sign_in_attempts_per_account,
        sign_in_attempts_per_address: raw.sign_in_attempts_per_address,
        sign_in_window: Duration::from_secs(u64::from(raw.sign_in_window_mins) * 60),
    })
}

/// `http://` and the listen address; an unspecified address (`0.0.0.0`,
/// `::`) becomes `localhost`.
fn url_of_listen(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("http://localhost:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

/// `text` as a base URL without the trailing slash, when it is one.
fn base_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    ok.then(|| url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn load(file: &str) -> Result<Config, ConfigError> {
        Config::from_sources(Some((Path::new("test.toml"), file)), &[])
    }

    #[test]
    fn the_public_url_defaults_to_the_listen_address() {
        let config = load("[server]\nlisten = \"0.0.0.0:9000\"\n").expect("config");
        assert_eq!(config.web.public_url, "http://localhost:9000");
        assert!(!config.web.public_url_is_https);
        let config = load("[server]\nlisten = \"127.0.0.1:8081\"\n").expect("config");
        assert_eq!(config.web.public_url, "http://127.0.0.1:8081");
    }

    #[test]
    fn a_public_url_is_kept_without_its_trailing_slash() {
        let config =
            load("[web]\npublic_url = \"https://lapse.agency.example/watch/\"\n").expect("config");
        assert_eq!(config.web.public_url, "https://lapse.agency.example/watch");
        assert!(config.web.public_url_is_https);
    }

    #[test]
    fn bad_web_values_are_refused_naming_the_key() {
        for (file, key) in [
            (
                "[web]\npublic_url = \"ftp://x.example\"\n",
                "web.public_url",
            ),
            (
                "[web]\npublic_url = \"https://u:p@x.example\"\n",
                "web.public_url",
            ),
            ("[web]\nsession_hours = 0\n", "web.session_hours"),
            (
                "[web]\nsign_in_attempts_per_account = 0\n",
                "web.sign_in_attempts_per_account",
            ),
        ] {
            let error = load(file).expect_err(file).to_string();
            assert!(error.contains(key), "{file}: {error}");
        }
    }
}
