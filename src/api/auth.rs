//! Bearer tokens: how a request becomes a [`Caller`], and the per-token
//! rate limit.
//!
//! A token is `lapse_` followed by 43 URL-safe characters (32 random
//! bytes); the store keeps only its SHA-256. Every route that is not public
//! takes a `Caller` and states the [`Action`] it performs with
//! [`Caller::require`]; reads pass [`Caller::visibility`] to the store.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::ApiState;
use crate::config::ApiConfig;
use crate::domain::access::{Action, Role, Visibility};
use crate::store::StoredToken;

// Secrets are made and hashed by the inventory use case that the CLI
// shares; the API's token route reaches them from here.
use crate::inventory::tokens::hash_token;

/// Who is calling, from their token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub token_id: i64,
    pub role: Role,
    pub client_id: Option<i64>,
}

impl Caller {
    /// Refuses with 403 unless the role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.allows(action) {
            return Ok(());
        }
        let what = match action {
            Action::Read => "read",
            Action::ReadAll => "read fleet-wide data",
            Action::Write => "change clients, contacts, domains or endpoints",
            Action::Scan => "start scans",
            Action::ManageTokens => "manage API tokens",
        };
        let who = match self.role {
            Role::Viewer => "viewer tokens only read",
            Role::Client => "client tokens only read their client's data",
            Role::Staff => "staff tokens cannot do this",
            Role::Admin => "admin tokens cannot do this",
        };
        Err(ApiError::forbidden(format!(
            "this token may not {what} ({who}); ask an admin for a token with a suitable role"
        )))
    }

    /// The rows this caller may see.
    pub fn visibility(&self) -> Visibility {
        match (self.role, self.client_id) {
            (Role::Client, Some(id)) => Visibility::Client(id),
            // A client token without a client sees nothing: its client was
            // deleted (the token row cascades, so this is belt and braces).
            (Role::Client, None) => Visibility::Client(0),
            _ => Visibility::All,
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "send a token as `Authorization: Bearer <token>` (an admin makes one with `lapse tokens create`)",
                )
            })?
            .to_str()
            .unwrap_or("");
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        authenticate(state, token).await
    }
}

/// How long a resolved token is kept before it is resolved again by its
/// hash. Whatever its age, a kept token is confirmed against its rows
/// before each use ([`Store::api_token_stands`](crate::store::Store::api_token_stands)):
/// a token revoked, or whose client was removed, by another process
/// (`lapse tokens revoke`, `lapse clients remove`) is refused from the
/// next request on, and ids are never reused, so a principal never names
/// a row that came after it.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

/// Tokens kept; past this the cache starts again.
const TOKENS_KEPT: usize = 1024;

/// Resolved tokens by hash, each kept for [`TOKEN_CACHE_TTL`] and confirmed
/// by its id before each use (a primary-key lookup, cheaper than finding
/// the token by its hash again). Unknown and revoked tokens are never kept.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<TokenEntries>,
}

#[derive(Debug, Default)]
struct TokenEntries {
    by_hash: HashMap<String, (Instant, StoredToken)>,
    /// Moves on every [`TokenCache::clear`]: a lookup that started before
    /// a revocation does not put its (stale) answer back afterwards.
    epoch: u64,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, TokenEntries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh entry, or the epoch to pass to [`Self::put`] after asking
    /// the database.
    fn get(&self, hash: &str) -> Result<StoredToken, u64> {
        let entries = self.lock();
        entries
            .by_hash
            .get(hash)
            .filter(|(at, _)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(_, token)| token.clone())
            .ok_or(entries.epoch)
    }

    fn put(&self, hash: String, token: StoredToken, epoch: u64) {
        let mut entries = self.lock();
        if entries.epoch != epoch {
            return;
        }
        if entries.by_hash.len() >= TOKENS_KEPT && !entries.by_hash.contains_key(&hash) {
            entries.by_hash.clear();
        }
        entries.by_hash.insert(hash, (Instant::now(), token));
    }

    /// Drops one token: its rows no longer stand.
    fn forget(&self, hash: &str) {
        self.lock().by_hash.remove(hash);
    }

    /// Remembers a recorded use, so the next requests do not record it again.
    fn used(&self, hash: &str, at: chrono::DateTime<chrono::Utc>) {
        if let Some((_, token)) = self.lock().by_hash.get_mut(hash) {
            token.last_used_at = Some(at);
        }
    }

    /// Forgets every token: after a revocation or a deletion.
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.by_hash.clear();
        entries.epoch += 1;
    }
}

/// Resolves a token (from the header, or the calendar's `token` parameter)
/// into a caller, and charges the rate limit. Every request asks the
/// database once: a kept token is confirmed by id, another is found by hash.
pub async fn authenticate(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    let refused = || ApiError::unauthorized("the token is unknown or revoked");
    let hash = hash_token(token);
    let stored = match state.tokens.get(&hash) {
        Ok(stored) => {
            if !state.store.api_token_stands(&stored).await? {
                state.tokens.forget(&hash);
                return Err(refused());
            }
            stored
        }
        Err(epoch) => {
            let stored = state
                .store
                .api_token_by_hash(&hash)
                .await?
                .ok_or_else(refused)?;
            state.tokens.put(hash.clone(), stored.clone(), epoch);
            stored
        }
    };
    state.limiter.check(stored.id)?;
    let now = state.now();
    if stored
        .last_used_at
        .is_none_or(|t| now - t >= chrono::Duration::seconds(60))
    {
        state.tokens.used(&hash, now);
        // Recording the use must not slow down or fail the request.
        let store = state.store.clone();
        let token = stored.clone();
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_token(&token, now).await {
                tracing::warn!(%error, token.id = token.id, "cannot record token use");
            }
        });
    }
    Ok(Caller {
        token_id: stored.id,
        role: stored.role,
        client_id: stored.client_id,
    })
}

/// Per-token token buckets (governor), keyed by token id.
#[derive(Clone)]
pub struct TokenRateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<i64>>,
}

impl TokenRateLimiter {
    pub fn new(config: &ApiConfig) -> Self {
        let per_second = NonZeroU32::new(config.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
        }
    }

    /// Charges one request; 429 with the wait when the bucket is empty.
    pub fn check(&self, token_id: i64) -> Result<(), ApiError> {
        self.limiter.check_key(&token_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::rate_limited(wait.as_secs_f64().ceil().max(1.0) as u64)
        })
    }
}
