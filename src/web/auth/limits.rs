//! Sign-in attempts allowed per account and per client address: two keyed
//! governor buckets. Each attempt (right or wrong, and each request for a
//! client's link) takes one token from both; a full bucket refills over
//! `web.sign_in_window_mins`. A refused attempt is answered before any
//! password is checked, so guessing costs the guesser, not lapse.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::WebConfig;

/// Keys kept before the limiters forget the ones that are full again.
const KEYS_KEPT: usize = 10_000;

/// The buckets of sign-in attempts.
#[derive(Clone)]
pub struct SignInLimits {
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
    per_address: Arc<DefaultKeyedRateLimiter<String>>,
}

impl SignInLimits {
    pub fn new(config: &WebConfig) -> Self {
        let quota = |attempts: u32| {
            let attempts = NonZeroU32::new(attempts).unwrap_or(NonZeroU32::MIN);
            let period = config.sign_in_window / attempts.get();
            Quota::with_period(period.max(Duration::from_millis(1)))
                .unwrap_or_else(|| Quota::per_minute(attempts))
                .allow_burst(attempts)
        };
        Self {
            per_account: Arc::new(RateLimiter::keyed(quota(
                config.sign_in_attempts_per_account,
            ))),
            per_address: Arc::new(RateLimiter::keyed(quota(
                config.sign_in_attempts_per_address,
            ))),
        }
    }

    /// Takes one attempt for `account` (lower-cased) from `address`; the
    /// seconds to wait when either bucket is empty.
    pub fn attempt(&self, address: &str, account: &str) -> Result<(), u64> {
        for limiter in [&self.per_address, &self.per_account] {
            if limiter.len() > KEYS_KEPT {
                limiter.retain_recent();
            }
        }
        let wait = |not_until: governor::NotUntil<_>| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        };
        self.per_address
            .check_key(&address.to_owned())
            .map_err(wait)?;
        self.per_account
            .check_key(&account.trim().to_lowercase())
            .map_err(wait)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_account: u32, per_address: u32) -> SignInLimits {
        SignInLimits::new(&WebConfig {
            public_url: "http://127.0.0.1:8080".into(),
            public_url_is_https: false,
            session: Duration::from_secs(3600),
            sign_in_attempts_per_account: per_account,
            sign_in_attempts_per_address: per_address,
            sign_in_window: Duration::from_secs(15 * 60),
        })
    }

    #[test]
    fn an_account_is_refused_after_its_attempts_whatever_the_address() {
        let limits = limits(3, 100);
        for n in 0..3 {
            assert!(limits
                .attempt(&format!("10.0.0.{n}"), "A@x.example")
                .is_ok());
        }
        let wait = limits
            .attempt("10.0.0.9", "a@x.example")
            .expect_err("limited");
        assert!((1..=300).contains(&wait), "{wait}");
        assert!(limits.attempt("10.0.0.9", "b@x.example").is_ok());
    }

    #[test]
    fn an_address_is_refused_after_its_attempts_whatever_the_account() {
        let limits = limits(100, 2);
        assert!(limits.attempt("10.0.0.1", "a@x.example").is_ok());
        assert!(limits.attempt("10.0.0.1", "b@x.example").is_ok());
        assert!(limits.attempt("10.0.0.1", "c@x.example").is_err());
        assert!(limits.attempt("10.0.0.2", "c@x.example").is_ok());
    }
}
