//! Staff accounts of the web pages as a use case of the CLI and the pages:
//! adding one (with its one-time set-password link), a new link, removal;
//! the Argon2id password hashing and the secrets of links and sessions.
//!
//! Secrets (session cookies, one-time links, portal links) are 32 random
//! bytes, URL-safe base64; the store keeps their SHA-256 only
//! ([`hash_secret`]). Passwords are kept as Argon2id PHC strings (the
//! crate's defaults: 19 MiB, 2 passes).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};

use crate::domain::access::Role;
use crate::domain::names::parse_email;
use crate::store::{NewLink, Store, StoreError, WebUser};

/// How long a set-password link works.
pub const SET_PASSWORD_LINK_HOURS: i64 = 72;

/// Shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Longest password accepted, in bytes (hashing is the cost, not the length,
/// but a limit keeps a form from posting megabytes into Argon2).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Why an account could not be added, changed or removed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("`{0}` is not an email address")]
    Email(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UserError {
    /// True when the input was at fault rather than lapse.
    pub fn is_input_error(&self) -> bool {
        match self {
            Self::Email(_) => true,
            Self::Store(e) => e.is_input_error(),
        }
    }
}

/// An account just added (or given a new link): the link's secret is
/// shown once.
#[derive(Debug, Clone)]
pub struct UserLink {
    pub user: WebUser,
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

impl UserLink {
    /// The link to print: `<public_url>/set-password/<secret>`.
    pub fn url(&self, public_url: &str) -> String {
        format!("{public_url}/set-password/{}", self.secret)
    }
}

/// Adds a staff account (admin, staff or viewer) without a password and
/// returns its set-password link.
pub async fn add_user(
    store: &Store,
    email: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<UserLink, UserError> {
    let email = parse_email(email).map_err(|_| UserError::Email(email.trim().to_owned()))?;
    let (secret, link) = new_link(now);
    let user = store.create_web_user(&email, role, &link, now).await?;
    Ok(UserLink {
        user,
        secret,
        expires_at: link.expires_at,
    })
}

/// A new set-password link for an account (a forgotten password, or a
/// link that ran out); its earlier unused links stop working.
pub async fn new_password_link(
    store: &Store,
    email: &str,
    now: DateTime<Utc>,
) -> Result<UserLink, UserError> {
    let (secret, link) = new_link(now);
    let user = store
        .reissue_set_password_link(email.trim(), &link, now)
        .await?;
    Ok(UserLink {
        user,
        secret,
        expires_at: link.expires_at,
    })
}

/// Removes an account: its sessions end at once.
pub async fn remove_user(
    store: &Store,
    email: &str,
    now: DateTime<Utc>,
) -> Result<WebUser, UserError> {
    Ok(store.remove_web_user(email.trim(), now).await?)
}

fn new_link(now: DateTime<Utc>) -> (String, NewLink) {
    let secret = new_secret();
    let link = NewLink {
        token_hash: hash_secret(&secret),
        expires_at: now + Duration::hours(SET_PASSWORD_LINK_HOURS),
    };
    (secret, link)
}

/// A new secret: 32 random bytes, URL-safe base64 (43 characters).
pub fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a secret: SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    crate::inventory::tokens::hash_token(secret)
}

/// Whether a new password may be used; the reason when not.
pub fn check_new_password(password: &str, again: &str) -> Result<(), String> {
    if password != again {
        return Err("the two passwords differ".to_owned());
    }
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(format!(
            "a password needs at least {PASSWORD_MIN_CHARS} characters"
        ));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(format!("a password has at most {PASSWORD_MAX_BYTES} bytes"));
    }
    Ok(())
}

/// Argon2id hash of a password, as a PHC string. `None` only if the
/// hasher refuses its input (it does not for passwords within the limits).
pub fn hash_password(password: &str) -> Option<String> {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).ok()?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .ok()
        .map(|h| h.to_string())
}

/// Whether `password` matches the stored hash. With no hash (no account,
/// or no password set yet) a hash is still checked, so the answer takes
/// as long either way and does not tell which addresses have accounts.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    static DECOY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash_password("not the password of any account"));
    let (hash, real) = match stored {
        Some(hash) => (Some(hash), true),
        None => (decoy.as_deref(), false),
    };
    let Some(parsed) = hash.and_then(|h| PasswordHash::new(h).ok()) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(Some(&hash), "correct horse battery"));
        assert!(!verify_password(Some(&hash), "correct horse batterY"));
        assert!(!verify_password(None, "correct horse battery"));
        assert!(!verify_password(Some("not a hash"), "x"));
    }

    #[test]
    fn new_passwords_are_checked_for_length_and_typing() {
        assert!(check_new_password("long enough pw", "long enough pw").is_ok());
        assert!(check_new_password("short", "short").is_err());
        assert!(check_new_password("long enough pw", "long enough pW").is_err());
        let huge = "x".repeat(PASSWORD_MAX_BYTES + 1);
        assert!(check_new_password(&huge, &huge).is_err());
    }

    #[test]
    fn secrets_are_random_and_hash_to_hex() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
