//! Secrets: which keys hold one ([`SECRET_KEYS`]) and the [`Secret`] type
//! that keeps their values out of logs, `lapse config check` and errors.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Keys whose value may come from a file (`KEY_file`) and is never printed.
pub const SECRET_KEYS: &[&str] = &[
    "database.password",
    "smtp.password",
    "webhooks.secret",
    "webhooks.slack_url",
    "webhooks.discord_url",
];

/// A value that must not reach logs or output: `Debug`, `Display` and
/// `Serialize` all print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}
