//! WHOIS over port 43 (RFC 3912) through whois-rust: choosing the server for a TLD, following the
//! registry's referral to the registrar's server, and turning each reply into facts with the
//! WHOIS parser.
//!
//! Who does what:
//! - **whois-rust** holds the server list ([`whois_rust::WhoIs`], built from `whois.servers` in
//!   config, TLD -> `host[:port]`, matched on the domain's labels longest first) and validates the
//!   query target (IDN -> Punycode, one line).
//! - **`port43`** does each exchange: resolve, connect, send, read until the server closes, all
//!   within one timeout budget, reading at most `max_bytes` (a 10 MB reply is never buffered
//!   whole). A longer reply is kept up to the cap and parsed as cut ([`parse_cut_whois`]: only
//!   its whole lines, never "not published"), so the expiry in its first lines is not lost.
//! - **This module** follows referrals itself, one hop at a time, so that every hop is paced by its own server's [`RateLimiters`] permit, every reply is
//!   kept as a separate source (registry and registrar), and the whole lookup stays within
//!   `deadline` (each hop's budget is what is left of it). A TLD missing from the list is looked
//!   up at IANA (`whois.iana.org`, `refer:`), and the answer is remembered for the process.
//!   A referral to a host named in `whois.servers` goes where the map says (a registrar server
//!   that moved, or a loopback test server).
//! - **Discovered servers** (a referral or an IANA answer not mapped in `whois.servers`, and not
//!   a configured server) are resolved here first ([`ServerGuard`]) and contacted only at an
//!   address `targets.allow_ranges` permits, on `referral_port`; otherwise the hop is a
//!   [`LookupFailure::Refused`] that names the server, how it was found and what it resolved to.
//! - **The parser** ([`parse_whois`]) decodes the bytes (charset included) and tells found, not
//!   published, not found, rate limited and unparseable apart. A "limit exceeded" reply that
//!   names the queried domain (and not the client) refuses that domain only
//!   ([`LookupFailure::DomainRateLimited`]): nothing is paused. Any other pauses that server only
//!   ([`RateLimiters::back_off`]) for the wait it states (`try again in 20 seconds`), else
//!   `rate_limit_backoff`, never longer than `ratelimit.max_backoff`.

mod port43;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use whois_rust::{WhoIs, WhoIsLookupOptions, WhoIsServerValue};

use super::dns::DnsSetupError;
use super::lookup::{Exchange, ExchangeOutcome, LookupFailure};
use super::target_policy::{RefusedServer, Screening, ServerGuard};
use super::whois_parse::{parse_cut_whois, parse_whois, rate_limit_notice};
use crate::domain::registration::{ParseOutcome, Source};
use crate::ratelimit::RateLimiters;

pub const DEFAULT_IANA_SERVER: &str = "whois.iana.org";
/// One connection: connect, send, read the whole reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// All hops of one lookup together (IANA, registry, registrar).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// Real replies are under 20 KB; the largest in the corpus is about 60 KB.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;
pub const DEFAULT_MAX_REFERRALS: u8 = 2;
/// How long a server that said "limit exceeded" (about the client, without saying for how long)
/// is left alone.
pub const DEFAULT_RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(300);
/// RFC 3912.
pub const WHOIS_PORT: u16 = 43;

/// How lapse came to a WHOIS server it was not configured with.
const VIA_REFERRAL: &str = "WHOIS referral";
const VIA_IANA: &str = "IANA WHOIS answer";

/// How WHOIS is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoisSettings {
    /// TLD (or suffix such as `co.uk`, or a referral host name) -> `host[:port]`.
    pub servers: HashMap<String, String>,
    /// Asked `refer:` for TLDs missing from `servers`.
    pub iana_server: String,
    pub timeout: Duration,
    pub deadline: Duration,
    pub max_bytes: usize,
    /// Referrals followed after the registry's reply (registry -> registrar is one).
    pub max_referrals: u8,
    /// The pause of a server-wide "limit exceeded" that states no wait.
    pub rate_limit_backoff: Duration,
    /// Reserved ranges a discovered server may be in (`targets.allow_ranges`).
    pub allow_ranges: Vec<IpNet>,
    /// Resolves discovered servers' names (`dns.nameservers`; empty: the system resolver).
    pub nameservers: Vec<SocketAddr>,
    /// The port of a discovered server (referrals name hosts, not ports): 43, except in tests.
    pub referral_port: u16,
}

impl Default for WhoisSettings {
    fn default() -> Self {
        WhoisSettings {
            servers: HashMap::new(),
            iana_server: DEFAULT_IANA_SERVER.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            max_bytes: DEFAULT_MAX_BYTES,
            max_referrals: DEFAULT_MAX_REFERRALS,
            rate_limit_backoff: DEFAULT_RATE_LIMIT_BACKOFF,
            allow_ranges: Vec::new(),
            nameservers: Vec::new(),
            referral_port: WHOIS_PORT,
        }
    }
}

/// A configured server that is not a `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("whois server {value:?} for {key:?} is not a host[:port]")]
pub struct WhoisConfigError {
    pub key: String,
    pub value: String,
}

/// lapse could not set up WHOIS lookups.
#[derive(Debug, thiserror::Error)]
pub enum WhoisSetupError {
    #[error(transparent)]
    Config(#[from] WhoisConfigError),
    #[error("cannot build the resolver for discovered WHOIS servers: {0}")]
    Dns(#[from] DnsSetupError),
}

/// What one WHOIS lookup produced.
#[derive(Debug, Clone)]
pub struct WhoisLookup {
    /// One per server asked, registry first (IANA discovery failures included).
    pub exchanges: Vec<Exchange>,
    /// No WHOIS server is known for the TLD (IANA lists none): nothing was asked.
    pub no_server: bool,
}

/// The port-43 side of registration lookups.
#[derive(Debug)]
pub struct WhoisClient {
    settings: WhoisSettings,
    list: WhoIs,
    iana: WhoIsServerValue,
    /// TLD -> server IANA named (`None`: IANA lists no WHOIS server), for this process.
    discovered: Mutex<HashMap<String, Option<String>>>,
    /// The pacing keys (`host[:port]`) of every server named in configuration.
    configured: Vec<String>,
    guard: ServerGuard,
}

/// The next server to ask, and how lapse came to it (`None`: named in configuration).
struct Hop {
    server: WhoIsServerValue,
    via: Option<&'static str>,
}

impl WhoisClient {
    pub fn new(settings: WhoisSettings) -> Result<Self, WhoisSetupError> {
        let bad = |key: &str, value: &str| WhoisConfigError {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        let mut map = serde_json::Map::new();
        for (key, value) in &settings.servers {
            WhoIsServerValue::from_string(value.trim()).map_err(|_| bad(key, value))?;
            map.insert(
                normalize(key),
                serde_json::Value::String(value.trim().to_owned()),
            );
        }
        // whois-rust wants a server for IP queries; lapse never asks about IPs.
        map.insert(
            "_".to_owned(),
            serde_json::json!({ "ip": settings.iana_server }),
        );
        let list = WhoIs::from_string(serde_json::Value::Object(map).to_string())
            .map_err(|_| bad("whois.iana_server", &settings.iana_server))?;
        let iana = WhoIsServerValue::from_string(&settings.iana_server)
            .map_err(|_| bad("whois.iana_server", &settings.iana_server))?;
        let mut configured = vec![host_key(&iana)];
        for value in settings.servers.values() {
            if let Ok(server) = WhoIsServerValue::from_string(value.trim()) {
                configured.push(host_key(&server));
            }
        }
        let guard = ServerGuard::new(
            &settings.allow_ranges,
            &settings.nameservers,
            settings.timeout,
        )?;
        Ok(WhoisClient {
            settings,
            list,
            iana,
            discovered: Mutex::new(HashMap::new()),
            configured,
            guard,
        })
    }

    pub fn settings(&self) -> &WhoisSettings {
        &self.settings
    }

    /// Asks the registry's WHOIS server about `domain`, then follows referrals (bounded).
    pub async fn lookup(
        &self,
        domain: &str,
        limits: &RateLimiters,
        now: DateTime<Utc>,
    ) -> WhoisLookup {
        let mut budget = Budget::new(self.settings.deadline);
        let mut exchanges = Vec::new();

        let start = match self.list.get_server_by_tld(&normalize(domain)) {
            Some(server) => Hop {
                server: server.clone(),
                via: None,
            },
            None => match self.discover(domain, limits, now, &mut budget).await {
                Discovery::Server(hop) => hop,
                Discovery::NoServer => {
                    return WhoisLookup {
                        exchanges,
                        no_server: true,
                    }
                }
                Discovery::Failed(exchange) => {
                    exchanges.push(*exchange);
                    return WhoisLookup {
                        exchanges,
                        no_server: false,
                    };
                }
            },
        };

        let mut hop = start;
        let mut visited = vec![host_key(&hop.server)];
        let mut referrals = 0;
        loop {
            let exchange = self
                .exchange(domain, &hop.server, hop.via, limits, now, &mut budget)
                .await;
            let next = match &exchange.outcome {
                // A reply cut before any expiry still points to the registrar, who may say it.
                ExchangeOutcome::Answered(facts)
                    if matches!(
                        facts.outcome,
                        ParseOutcome::Found | ParseOutcome::NotPublished
                    ) || (facts.cut_at_bytes.is_some()
                        && facts.outcome == ParseOutcome::Unparseable) =>
                {
                    facts.referral.clone()
                }
                _ => None,
            };
            exchanges.push(exchange);
            let Some(next) = next.and_then(|host| self.referral_server(&host, VIA_REFERRAL)) else {
                break;
            };
            if referrals >= self.settings.max_referrals || visited.contains(&host_key(&next.server))
            {
                break;
            }
            referrals += 1;
            visited.push(host_key(&next.server));
            hop = next;
        }
        WhoisLookup {
            exchanges,
            no_server: false,
        }
    }

    /// The server a referral names, or the one `whois.servers` maps that host to. A mapped host,
    /// or one that is itself a configured server, is trusted; any other is discovered `via`.
    fn referral_server(&self, host: &str, via: &'static str) -> Option<Hop> {
        let mapped = self
            .settings
            .servers
            .iter()
            .find(|(k, _)| normalize(k) == normalize(host))
            .map(|(_, v)| v.as_str());
        let server = WhoIsServerValue::from_string(mapped.unwrap_or(host).trim()).ok()?;
        let trusted = mapped.is_some() || self.configured.contains(&host_key(&server));
        Some(Hop {
            server,
            via: (!trusted).then_some(via),
        })
    }

    /// Finds the WHOIS server of `domain`'s TLD at IANA (once per TLD per process).
    async fn discover(
        &self,
        domain: &str,
        limits: &RateLimiters,
        now: DateTime<Utc>,
        budget: &mut Budget,
    ) -> Discovery {
        let tld = normalize(domain)
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let known = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tld)
            .cloned();
        let named = match known {
            Some(named) => named,
            None => {
                let exchange = self
                    .exchange(&tld, &self.iana, None, limits, now, budget)
                    .await;
                match &exchange.outcome {
                    ExchangeOutcome::Answered(facts) => {
                        let named = facts.referral.clone();
                        self.discovered
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(tld.clone(), named.clone());
                        named
                    }
                    ExchangeOutcome::Failed(_) => return Discovery::Failed(Box::new(exchange)),
                }
            }
        };
        match named.and_then(|host| self.referral_server(&host, VIA_IANA)) {
            Some(hop) => Discovery::Server(hop),
            None => Discovery::NoServer,
        }
    }

    /// Where to connect for a discovered server: one address of its name that the policy allows,
    /// on its port (or `referral_port`), with the server's query settings kept.
    async fn pin(
        &self,
        server: &WhoIsServerValue,
        via: &'static str,
        budget: &mut Budget,
    ) -> Result<WhoIsServerValue, LookupFailure> {
        let key = host_key(server);
        let (host, literal) = match server.host.host() {
            whois_rust::validators::models::Host::Domain(d) => (d.to_ascii_lowercase(), false),
            whois_rust::validators::models::Host::IPv4(ip) => (ip.to_string(), true),
            whois_rust::validators::models::Host::IPv6(ip) => (ip.to_string(), true),
        };
        let Some(left) = budget.left() else {
            return Err(LookupFailure::Timeout {
                after_ms: self.settings.deadline.as_millis() as u64,
            });
        };
        let limit = self.settings.timeout.min(left);
        let started = Instant::now();
        let screened = tokio::time::timeout(limit, self.guard.screen(&host)).await;
        budget.spend(started.elapsed());
        let address = match screened {
            Err(_) => {
                return Err(LookupFailure::Timeout {
                    after_ms: limit.as_millis() as u64,
                })
            }
            Ok(Err(Screening::Refused { addresses, .. })) => {
                return Err(LookupFailure::Refused(RefusedServer {
                    via: via.to_owned(),
                    server: key,
                    literal,
                    addresses,
                }))
            }
            Ok(Err(unresolved @ Screening::Unresolved { .. })) => {
                return Err(LookupFailure::Connect {
                    reason: unresolved.to_string(),
                })
            }
            Ok(Ok(addresses)) => addresses[0],
        };
        let port = server.host.port().unwrap_or(self.settings.referral_port);
        let target = match address {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        let mut pinned =
            WhoIsServerValue::from_string(&target).map_err(|_| LookupFailure::Protocol {
                reason: format!("cannot address {key} at {target}"),
            })?;
        pinned.query = server.query.clone();
        pinned.punycode = server.punycode;
        Ok(pinned)
    }

    /// One paced port-43 exchange, classified. `via` says how lapse came to a server it was not
    /// configured with; such a server is resolved and screened first.
    async fn exchange(
        &self,
        query: &str,
        server: &WhoIsServerValue,
        via: Option<&'static str>,
        limits: &RateLimiters,
        now: DateTime<Utc>,
        budget: &mut Budget,
    ) -> Exchange {
        let key = host_key(server);
        let failed = |failure| Exchange::failed(Source::Whois, &key, key.clone(), now, failure);
        // whois-rust validates the name (IDN -> Punycode, one line).
        let target = match WhoIsLookupOptions::from_str(query) {
            Ok(options) => match options.target.host() {
                whois_rust::validators::models::Host::Domain(d) => d.clone(),
                other => other.to_string(),
            },
            Err(e) => {
                return failed(LookupFailure::Protocol {
                    reason: format!("not a domain: {e}"),
                })
            }
        };
        // A refused server costs no pacing permit.
        let connect_to = match via {
            None => server.clone(),
            Some(via) => match self.pin(server, via, budget).await {
                Ok(pinned) => pinned,
                Err(failure) => {
                    tracing::info!(domain.name = query, whois.server = %key, %failure, "WHOIS server not contacted");
                    return failed(failure);
                }
            },
        };
        let _permit = match limits.acquire(&key).await {
            Ok(permit) => permit,
            Err(e) => return failed(LookupFailure::from(e)),
        };
        let Some(left) = budget.left() else {
            return failed(LookupFailure::Timeout {
                after_ms: self.settings.deadline.as_millis() as u64,
            });
        };
        let timeout = self.settings.timeout.min(left);
        let started = Instant::now();
        let result = port43::ask(&connect_to, &target, timeout, self.settings.max_bytes).await;
        let elapsed = started.elapsed();
        budget.spend(elapsed);

        let (outcome, raw) = match result {
            Ok(reply) => (
                self.classify(query, &reply, &key, limits),
                Some(reply.bytes),
            ),
            Err(e) => (ExchangeOutcome::Failed(failure(e, timeout)), None),
        };
        if let ExchangeOutcome::Failed(failure) = &outcome {
            tracing::info!(domain.name = query, whois.server = %key, %failure, "WHOIS lookup failed");
        }
        Exchange {
            source: Source::Whois,
            server: key.clone(),
            pacing_key: key,
            fetched_at: now,
            elapsed_ms: elapsed.as_millis() as u64,
            outcome,
            raw,
        }
    }

    /// A reply read: the facts, or "slow down" (which pauses this server).
    fn classify(
        &self,
        query: &str,
        reply: &port43::Reply,
        key: &str,
        limits: &RateLimiters,
    ) -> ExchangeOutcome {
        let facts = if reply.cut {
            parse_cut_whois(query, &reply.bytes)
        } else {
            parse_whois(query, &reply.bytes)
        };
        if facts.outcome != ParseOutcome::RateLimited {
            return ExchangeOutcome::Answered(facts);
        }
        // Waits are bounded as every pause is (`ratelimit.max_backoff`), and reported as kept.
        let notice = rate_limit_notice(query, &reply.bytes);
        let asked = notice
            .wait
            .map(|wait| wait.min(limits.settings().max_backoff));
        let retry_after_secs = asked.map(|wait| wait.as_secs());
        if notice.domain_only {
            // This domain only: the server goes on answering the others.
            return ExchangeOutcome::Failed(LookupFailure::DomainRateLimited { retry_after_secs });
        }
        limits.back_off(key, asked.unwrap_or(self.settings.rate_limit_backoff));
        ExchangeOutcome::Failed(LookupFailure::RateLimited { retry_after_secs })
    }
}

/// Why an exchange gave no reply, as a finding about the server.
fn failure(error: port43::Port43Error, timeout: Duration) -> LookupFailure {
    use std::io::ErrorKind;
    let after_ms = timeout.as_millis() as u64;
    let io = match error {
        port43::Port43Error::Timeout => return LookupFailure::Timeout { after_ms },
        port43::Port43Error::Io(io) => io,
    };
    match io.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => LookupFailure::Timeout { after_ms },
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => LookupFailure::Reset {
            reason: io.to_string(),
        },
        _ => LookupFailure::Connect {
            reason: io.to_string(),
        },
    }
}

enum Discovery {
    Server(Hop),
    NoServer,
    Failed(Box<Exchange>),
}

/// What is left of a lookup's deadline: time spent talking to servers, not time queued for a
/// pacing permit (pacing is deliberate and bounded by the rate limiter's own `max_wait`).
struct Budget {
    left: Duration,
}

impl Budget {
    fn new(deadline: Duration) -> Self {
        Budget { left: deadline }
    }

    fn left(&self) -> Option<Duration> {
        (!self.left.is_zero()).then_some(self.left)
    }

    fn spend(&mut self, elapsed: Duration) {
        self.left = self.left.saturating_sub(elapsed);
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_matches('.').to_ascii_lowercase()
}

/// The pacing key of a WHOIS server: `host`, or `host:port` for a port other than 43.
fn host_key(server: &WhoIsServerValue) -> String {
    let host = match server.host.host() {
        whois_rust::validators::models::Host::Domain(d) => d.to_ascii_lowercase(),
        whois_rust::validators::models::Host::IPv4(ip) => ip.to_string(),
        whois_rust::validators::models::Host::IPv6(ip) => format!("[{ip}]"),
    };
    match server.host.port() {
        Some(port) if port != 43 => format!("{host}:{port}"),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_is_not_a_host_is_rejected_naming_its_key() {
        let settings = WhoisSettings {
            servers: HashMap::from([("test".to_owned(), "not a host".to_owned())]),
            ..WhoisSettings::default()
        };
        let err = WhoisClient::new(settings).expect_err("bad server");
        let WhoisSetupError::Config(err) = err else {
            panic!("expected a config error, got {err:?}");
        };
        assert_eq!(err.key, "test");
    }

    #[test]
    fn configured_servers_match_the_longest_suffix_and_keep_their_port() {
        let settings = WhoisSettings {
            servers: HashMap::from([
                ("UK".to_owned(), "whois.nic.uk".to_owned()),
                ("co.uk".to_owned(), "127.0.0.1:4343".to_owned()),
            ]),
            ..WhoisSettings::default()
        };
        let client = WhoisClient::new(settings).expect("client");
        let key = |d: &str| client.list.get_server_by_tld(d).map(host_key);
        assert_eq!(key("shop.example.co.uk").as_deref(), Some("127.0.0.1:4343"));
        assert_eq!(key("example.org.uk").as_deref(), Some("whois.nic.uk"));
        assert_eq!(key("example.de"), None);
    }

    #[test]
    fn a_referral_to_a_mapped_host_goes_where_the_map_says() {
        let settings = WhoisSettings {
            servers: HashMap::from([(
                "whois.registrar.test".to_owned(),
                "127.0.0.1:4444".to_owned(),
            )]),
            ..WhoisSettings::default()
        };
        let client = WhoisClient::new(settings).expect("client");
        let mapped = client
            .referral_server("whois.registrar.test", VIA_REFERRAL)
            .expect("mapped");
        assert_eq!(host_key(&mapped.server), "127.0.0.1:4444");
        assert_eq!(mapped.via, None, "a mapped host is configured, so trusted");
        let other = client
            .referral_server("whois.other.test", VIA_REFERRAL)
            .expect("named");
        assert_eq!(host_key(&other.server), "whois.other.test");
        assert_eq!(
            other.via,
            Some(VIA_REFERRAL),
            "an unmapped host is screened"
        );
        let configured = client
            .referral_server("127.0.0.1:4444", VIA_REFERRAL)
            .expect("named");
        assert_eq!(configured.via, None, "a configured server is trusted");
    }
}
