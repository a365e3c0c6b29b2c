//! API tokens as a use case of the CLI and the API: making a secret,
//! hashing it, storing a token. A token is `lapse_` followed by 43 URL-safe
//! characters (32 random bytes); the store keeps only its SHA-256, so the
//! secret is shown once, to whoever created it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::access::Role;
use crate::store::{NewToken, TokenView};
use crate::store::{Store, StoreError};

/// A token just made: its secret (shown once) and what was stored.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub secret: String,
    pub info: TokenView,
}

/// Makes a token for `role` (and `client`, for a client token) and stores
/// its hash. The store refuses a bad name or a missing or unknown client.
pub async fn create_token(
    store: &Store,
    name: String,
    role: Role,
    client: Option<String>,
    now: DateTime<Utc>,
) -> Result<CreatedToken, StoreError> {
    let secret = generate_token();
    let info = store
        .create_api_token(
            &NewToken {
                name,
                role,
                client,
                token_hash: hash_token(&secret),
            },
            now,
        )
        .await?;
    Ok(CreatedToken { secret, info })
}

/// A new token secret: `lapse_` + 32 random bytes, URL-safe base64.
pub fn generate_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "lapse_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What the store keeps of a token: SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_to_hex() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("lapse_") && a.len() == 6 + 43, "{a}");
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
