//! Per-server pacing for registration lookups: one [`ServerPacer`] per server (an RDAP base URL's
//! host, a WHOIS host), each a governor quota (requests per second, with a burst) plus a semaphore
//! (how many requests may be in flight at once), built lazily from global defaults and per-server
//! overrides ([`RateLimitSettings`]).
//!
//! Types:
//! - [`ServerLimit`]: the quota and concurrency cap of one server;
//! - [`RateLimitSettings`]: the default limit, the overrides keyed by server, the back-off bounds;
//! - [`RateLimiters`]: the shared registry of pacers; [`RateLimiters::acquire`] waits for a turn and
//!   returns a [`Permit`] that holds a concurrency slot until dropped;
//!   [`RateLimiters::back_off`] pauses one server after it said "slow down" (HTTP 429, a WHOIS
//!   "limit exceeded" reply), leaving every other server alone.
//!
//! - [`SharedPacing`]: pacing shared with other processes (the instances of `lapse serve` on one
//!   database reserve each server's next request slot there), taken after the in-process quota, so
//!   several instances together keep a server's rate.
//!
//! Server keys are compared case-insensitively and are `host` or `host:port` (a port only when it is
//! not the protocol's default), so two loopback servers on different ports are paced apart.
//!
//! This module reads the monotonic clock (tokio's `Instant`): pacing is about elapsed time, not
//! about the calendar, and nothing here decides what a lookup means.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Defaults for a server without an override: one request every two seconds, bursts of two, one
/// connection at a time. Public WHOIS servers ban clients that go much faster.
pub const DEFAULT_PER_SECOND: f64 = 0.5;
pub const DEFAULT_BURST: u32 = 2;
pub const DEFAULT_MAX_CONCURRENT: usize = 1;
/// A server that asks us to pause longer than this is reported as busy instead of waited for.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);
/// No server may pause us longer than this, whatever its `Retry-After` says.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long to pause a WHOIS server that said "limit exceeded" without saying for how long.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

/// The pace one server gets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServerLimit {
    /// Sustained requests per second; fractions allowed (`0.5` = one every two seconds).
    pub per_second: f64,
    /// Requests allowed back to back before the sustained rate applies (at least 1).
    pub burst: u32,
    /// Requests in flight at once (at least 1).
    pub max_concurrent: usize,
}

impl Default for ServerLimit {
    fn default() -> Self {
        ServerLimit {
            per_second: DEFAULT_PER_SECOND,
            burst: DEFAULT_BURST,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
        }
    }
}

impl ServerLimit {
    /// Time between two requests at the sustained rate, in milliseconds (at least 1).
    pub fn interval_ms(&self) -> i64 {
        let per_second = if self.per_second.is_finite() && self.per_second > 0.0 {
            self.per_second
        } else {
            DEFAULT_PER_SECOND
        };
        ((1000.0 / per_second).ceil() as i64).max(1)
    }

    /// The governor quota: one cell every `1 / per_second` seconds, `burst` cells at most.
    fn quota(&self) -> Quota {
        // Rates that are not a positive finite number fall back to the default rather than to "no limit".
        let per_second = if self.per_second.is_finite() && self.per_second > 0.0 {
            self.per_second
        } else {
            DEFAULT_PER_SECOND
        };
        let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// Defaults, per-server overrides and back-off bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitSettings {
    pub default: ServerLimit,
    /// Keyed by server (`whois.verisign-grs.com`, `rdap.example.net`, `127.0.0.1:4343`).
    pub overrides: HashMap<String, ServerLimit>,
    /// A pause longer than this is reported ([`PacingError::BackingOff`]) instead of waited out.
    pub max_wait: Duration,
    /// The longest pause a server can impose (caps a hostile `Retry-After`).
    pub max_backoff: Duration,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            default: ServerLimit::default(),
            overrides: HashMap::new(),
            max_wait: DEFAULT_MAX_WAIT,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

/// Why no permit was handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacingError {
    /// The server asked us to pause, and the pause outlasts [`RateLimitSettings::max_wait`].
    #[error("{server} asked us to slow down; {} s of its pause left", retry_in.as_secs())]
    BackingOff { server: String, retry_in: Duration },
}

/// The pacing state of one server.
#[derive(Debug)]
struct ServerPacer {
    quota: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
    paused_until: Mutex<Option<Instant>>,
}

impl ServerPacer {
    fn new(limit: &ServerLimit) -> Self {
        ServerPacer {
            quota: RateLimiter::direct(limit.quota()),
            slots: Arc::new(Semaphore::new(limit.max_concurrent.max(1))),
            paused_until: Mutex::new(None),
        }
    }

    fn pause_left(&self, now: Instant) -> Option<Duration> {
        let until = *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }
}

/// A turn at one server: the concurrency slot is released when this is dropped.
#[derive(Debug)]
pub struct Permit {
    server: String,
    _slot: OwnedSemaphorePermit,
}

impl Permit {
    pub fn server(&self) -> &str {
        &self.server
    }
}

/// A future as [`SharedPacing`] returns it.
pub type PacingFuture<'a> = Pin<Box<dyn Future<Output = Duration> + Send + 'a>>;

/// Pacing shared beyond this process: reserves the next request slot at `server` for `limit` and
/// answers how long to wait for it (zero: go now). An implementation that cannot reserve (its
/// database is away) answers zero and the in-process quota alone paces.
pub trait SharedPacing: Send + Sync + std::fmt::Debug {
    fn reserve<'a>(&'a self, server: &'a str, limit: ServerLimit) -> PacingFuture<'a>;
}

/// The pacers of every server seen so far, shared by all lookups of a process.
#[derive(Debug)]
pub struct RateLimiters {
    settings: RateLimitSettings,
    servers: Mutex<HashMap<String, Arc<ServerPacer>>>,
    shared: Option<Arc<dyn SharedPacing>>,
}

impl RateLimiters {
    pub fn new(settings: RateLimitSettings) -> Self {
        let overrides = settings
            .overrides
            .iter()
            .map(|(k, v)| (normalize(k), *v))
            .collect();
        RateLimiters {
            settings: RateLimitSettings {
                overrides,
                ..settings
            },
            servers: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Also reserves each request's slot through `shared` (after the in-process quota).
    pub fn with_shared(mut self, shared: Arc<dyn SharedPacing>) -> Self {
        self.shared = Some(shared);
        self
    }

    pub fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }

    /// The limit that applies to `server`: its override, or the default.
    pub fn limit_for(&self, server: &str) -> ServerLimit {
        self.settings
            .overrides
            .get(&normalize(server))
            .copied()
            .unwrap_or(self.settings.default)
    }

    fn pacer(&self, server: &str) -> Arc<ServerPacer> {
        let key = normalize(server);
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        let limit = self.limit_for(&key);
        servers
            .entry(key)
            .or_insert_with(|| Arc::new(ServerPacer::new(&limit)))
            .clone()
    }

    /// Waits for a turn at `server`: first any pause the server asked for (when it is short
    /// enough), then a concurrency slot, then the quota. The slot is taken before the quota so that
    /// tasks queued behind the cap do not use up the quota while they cannot run.
    pub async fn acquire(&self, server: &str) -> Result<Permit, PacingError> {
        let pacer = self.pacer(server);
        self.wait_out_pause(server, &pacer).await?;
        let slot = pacer
            .slots
            .clone()
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("pacer semaphores are never closed"));
        loop {
            match pacer.quota.check() {
                Ok(()) => break,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(pacer.quota.clock().now());
                    tokio::time::sleep(wait).await;
                }
            }
        }
        if let Some(shared) = &self.shared {
            let wait = shared
                .reserve(&normalize(server), self.limit_for(server))
                .await;
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        // A pause may have been imposed while we queued (another request got a 429).
        self.wait_out_pause(server, &pacer).await?;
        Ok(Permit {
            server: normalize(server),
            _slot: slot,
        })
    }

    async fn wait_out_pause(&self, server: &str, pacer: &ServerPacer) -> Result<(), PacingError> {
        while let Some(left) = pacer.pause_left(Instant::now()) {
            if left > self.settings.max_wait {
                return Err(PacingError::BackingOff {
                    server: normalize(server),
                    retry_in: left,
                });
            }
            tokio::time::sleep(left).await;
        }
        Ok(())
    }

    /// Pauses `server` for `wait` (capped at [`RateLimitSettings::max_backoff`]) after it said
    /// "slow down". Only that server waits; an existing longer pause is kept.
    pub fn back_off(&self, server: &str, wait: Duration) {
        let wait = wait.min(self.settings.max_backoff);
        let until = Instant::now() + wait;
        let pacer = self.pacer(server);
        let mut paused = pacer
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
        tracing::info!(server.name = %normalize(server), wait_ms = wait.as_millis() as u64, "backing off server");
    }

    /// How much of a pause `server` has left, if any.
    pub fn pause_left(&self, server: &str) -> Option<Duration> {
        self.pacer(server).pause_left(Instant::now())
    }
}

fn normalize(server: &str) -> String {
    server.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The pacing key of an HTTP(S) URL: its host, plus the port when it is not the scheme's default.
pub fn server_key_for_url(url: &url::Url) -> String {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiters(default: ServerLimit) -> RateLimiters {
        RateLimiters::new(RateLimitSettings {
            default,
            ..RateLimitSettings::default()
        })
    }

    #[test]
    fn overrides_are_found_case_insensitively_and_others_get_the_default() {
        let fast = ServerLimit {
            per_second: 10.0,
            burst: 5,
            max_concurrent: 4,
        };
        let limits = RateLimiters::new(RateLimitSettings {
            overrides: HashMap::from([("Whois.Example.NET".to_owned(), fast)]),
            ..RateLimitSettings::default()
        });
        assert_eq!(limits.limit_for("whois.example.net"), fast);
        assert_eq!(limits.limit_for("whois.other.net"), ServerLimit::default());
    }

    #[test]
    fn url_keys_keep_only_non_default_ports() {
        let key = |s: &str| server_key_for_url(&url::Url::parse(s).expect("test URL"));
        assert_eq!(key("https://RDAP.Example.net/rdap/"), "rdap.example.net");
        assert_eq!(
            key("https://rdap.example.net:443/rdap/"),
            "rdap.example.net"
        );
        assert_eq!(key("http://127.0.0.1:8080/rdap/"), "127.0.0.1:8080");
    }

    #[tokio::test]
    async fn a_long_back_off_is_reported_not_waited_and_only_for_that_server() {
        let limits = limiters(ServerLimit {
            per_second: 100.0,
            burst: 10,
            max_concurrent: 2,
        });
        limits.back_off("busy.example", Duration::from_secs(600));
        let err = limits
            .acquire("busy.example")
            .await
            .expect_err("paused server");
        assert!(
            matches!(err, PacingError::BackingOff { ref server, retry_in }
            if server == "busy.example" && retry_in > Duration::from_secs(590))
        );
        assert!(limits.acquire("calm.example").await.is_ok());
    }

    #[tokio::test]
    async fn a_short_back_off_is_waited_out() {
        let limits = limiters(ServerLimit {
            per_second: 100.0,
            burst: 10,
            max_concurrent: 2,
        });
        limits.back_off("busy.example", Duration::from_millis(150));
        let started = std::time::Instant::now();
        limits
            .acquire("busy.example")
            .await
            .expect("short pause is waited out");
        assert!(started.elapsed() >= Duration::from_millis(140));
    }

    #[test]
    fn back_off_is_capped_by_max_backoff() {
        let limits = RateLimiters::new(RateLimitSettings {
            max_backoff: Duration::from_secs(5),
            ..RateLimitSettings::default()
        });
        limits.back_off("x.example", Duration::from_secs(86_400));
        let left = limits.pause_left("x.example").expect("paused");
        assert!(left <= Duration::from_secs(5));
    }
}
