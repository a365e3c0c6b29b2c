//! The one test harness. [`app::TestApp`] is the entry point: its builder
//! composes a temporary installation (config file, SQLite), a controllable
//! [`clock::TestClock`], the mail transport (in-memory, log, or a real SMTP
//! server from [`smtp`]), optionally the HTTP API in-process, and loopback
//! stand-ins for the world: TLS sites scanned by the real engine
//! ([`sites`], served by [`tls`] with certificates from [`pki`]), DNS
//! ([`dns`]) and registries ([`registry`]: RDAP and WHOIS), and an HTTP
//! recorder standing in for chat and paging services ([`recorder`]). [`cli`] runs the
//! real binary, for tests whose subject is the command line.
//!
//! Nothing here reaches beyond loopback: unless a test brings its own
//! registry, RDAP and WHOIS point at a closed loopback port.

use std::net::IpAddr;

use tokio::task::JoinHandle;

pub mod app;
pub mod browser;
pub mod cli;
pub mod clock;
pub mod dns;
pub mod pki;
pub mod postgres;
pub mod recorder;
pub mod registry;
pub mod sites;
pub mod smtp;
pub mod tls;
pub mod web_users;

/// Aborts a background task when the fixture goes out of scope.
pub struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    pub fn spawn<F>(future: F) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Self(tokio::spawn(future))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// Polls `done` every 50 ms until it holds; fails naming `what` after `within`.
pub async fn wait_until<F, Fut>(what: &str, within: std::time::Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
