//! RDAP: the IANA bootstrap registry for DNS and the HTTP client that asks registries and
//! registrars about a domain.
//!
//! Types:
//! - [`RdapSettings`]: bootstrap URL, per-TLD overrides, timeouts, size and redirect bounds;
//! - [`BootstrapRegistry`]: TLD -> RDAP base URLs (https first), from the bootstrap file (RFC 9224
//!   `services: [[[tlds], [urls]], ...]`) plus the overrides from config; it remembers when it was
//!   fetched so the caller can refresh it weekly ([`BootstrapRegistry::is_stale`]). The store keeps
//!   the raw body and its fetch time; [`BootstrapRegistry::from_json`] reloads it;
//! - [`RdapClient`]: `GET {base}domain/{name}` with `Accept: application/rdap+json`, connect and
//!   total timeouts, at most `max_redirects` redirects, the body read as a stream and cut at
//!   `max_bytes`; then one hop to the registrar's RDAP when the registry reply links to it
//!   (`rel: "related"`). Each request becomes an [`Exchange`]: parsed facts, or a failure as data
//!   (404 is an answer: not found; 429 is rate limited with its `Retry-After`; 5xx, timeouts and
//!   oversize bodies are failures with a reason).
//!
//! Trust, as for the certificate probe: Mozilla's roots plus `tls.extra_ca_file`
//! ([`RdapSettings::extra_ca_pem`]), for registries behind a private CA.
//!
//! Pacing is by server: every request first takes a [`RateLimiters`] permit for its URL's host,
//! and a 429 pauses that host only.
//!
//! Which servers may be contacted: an origin named in configuration (`bootstrap_url`, an
//! override) is trusted as configured. Any other URL (a bootstrap entry, a redirect target, the
//! registrar link) goes through a second HTTP client whose resolver keeps only the addresses
//! `targets.allow_ranges` permits ([`ServerGuard`]), and an IP-literal URL is checked before the
//! request. Redirects are followed here, hop by hop, so every hop is judged by its own origin.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use ipnet::IpNet;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use url::{Origin, Url};

use super::dns::DnsSetupError;
use super::lookup::{Exchange, ExchangeOutcome, LookupFailure};
use super::rdap_parse::{parse_rdap, rdap_related_links};
use super::target_policy::{screen_addresses, RefusedServer, Screening, ServerGuard};
use crate::domain::registration::{ParseOutcome, RegistrationFacts, Source};
use crate::ratelimit::{server_key_for_url, RateLimiters, DEFAULT_BACKOFF};

/// Where IANA publishes the DNS bootstrap file.
pub const DEFAULT_BOOTSTRAP_URL: &str = "https://data.iana.org/rdap/dns.json";
/// How often the bootstrap file is fetched again.
pub const BOOTSTRAP_REFRESH_AFTER: TimeDelta = TimeDelta::days(7);
/// The bootstrap file is about 40 KB today; allow it to grow.
pub const BOOTSTRAP_MAX_BYTES: usize = 4 * 1024 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Domain replies are a few KB; 1 MiB leaves room for registries that embed every notice.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_REDIRECTS: usize = 3;

const RDAP_MEDIA_TYPE: &str = "application/rdap+json";

/// How RDAP is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdapSettings {
    pub bootstrap_url: String,
    /// TLD (lower case, no dot) -> RDAP base URL, for TLDs missing from the bootstrap file or
    /// served elsewhere. Wins over the bootstrap file.
    pub overrides: BTreeMap<String, String>,
    /// Total time for one request, body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The largest reply body accepted; a bigger one is cut there and reported.
    pub max_bytes: usize,
    pub max_redirects: usize,
    /// Reserved ranges a discovered server may be in (`targets.allow_ranges`).
    pub allow_ranges: Vec<IpNet>,
    /// Resolves discovered servers' names (`dns.nameservers`; empty: the system resolver).
    pub nameservers: Vec<SocketAddr>,
    /// PEM certificates trusted besides Mozilla's roots (`tls.extra_ca_file`), as the
    /// certificate probe trusts them.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl Default for RdapSettings {
    fn default() -> Self {
        RdapSettings {
            bootstrap_url: DEFAULT_BOOTSTRAP_URL.to_owned(),
            overrides: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            allow_ranges: Vec::new(),
            nameservers: Vec::new(),
            extra_ca_pem: None,
        }
    }
}

/// Why a bootstrap file or override could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    #[error("the bootstrap file is not RDAP bootstrap JSON: {0}")]
    Json(String),
    #[error("the RDAP base URL {url:?} for .{tld} is not an http(s) URL")]
    BadUrl { tld: String, url: String },
}

/// TLD -> RDAP base URLs, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootstrapRegistry {
    services: HashMap<String, Vec<Url>>,
    /// One URL per TLD, as configured.
    overrides: HashMap<String, Vec<Url>>,
    publication: Option<String>,
    fetched_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawBootstrap {
    publication: Option<String>,
    services: Vec<Vec<Vec<String>>>,
}

impl BootstrapRegistry {
    /// A registry with no bootstrap file (not fetched yet, or the fetch failed): only overrides
    /// answer, and it is stale.
    pub fn empty() -> Self {
        BootstrapRegistry::default()
    }

    /// Reads a bootstrap file fetched at `fetched_at` (just now, or reloaded from the store).
    /// URLs that are not http(s) are skipped; of an entry's URLs the https ones come first
    /// (RFC 9224), each group in the file's order.
    pub fn from_json(bytes: &[u8], fetched_at: DateTime<Utc>) -> Result<Self, BootstrapError> {
        let raw: RawBootstrap =
            serde_json::from_slice(bytes).map_err(|e| BootstrapError::Json(e.to_string()))?;
        let mut services = HashMap::new();
        for service in &raw.services {
            let (Some(tlds), Some(urls)) = (service.first(), service.get(1)) else {
                continue;
            };
            let mut parsed: Vec<Url> = urls.iter().filter_map(|u| base_url(u).ok()).collect();
            if parsed.is_empty() {
                continue;
            }
            // Stable: https first, each group in the file's order.
            parsed.sort_by_key(|u| u.scheme() != "https");
            for tld in tlds {
                services.insert(normalize_tld(tld), parsed.clone());
            }
        }
        Ok(BootstrapRegistry {
            services,
            overrides: HashMap::new(),
            publication: raw.publication,
            fetched_at: Some(fetched_at),
        })
    }

    /// Adds the overrides from config (TLD -> base URL); they win over the file.
    pub fn with_overrides(
        mut self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, BootstrapError> {
        for (tld, url) in overrides {
            let tld = normalize_tld(tld);
            let parsed = base_url(url).map_err(|()| BootstrapError::BadUrl {
                tld: tld.clone(),
                url: url.clone(),
            })?;
            self.overrides.insert(tld, vec![parsed]);
        }
        Ok(self)
    }

    /// The RDAP base URL for `domain` (the first to try).
    pub fn base_url_for(&self, domain: &str) -> Option<&Url> {
        self.base_urls_for(domain).first()
    }

    /// Every RDAP base URL for `domain`, in the order to try them: the longest matching suffix,
    /// overrides first; empty when none.
    pub fn base_urls_for(&self, domain: &str) -> &[Url] {
        let domain = normalize_tld(domain);
        let labels: Vec<&str> = domain.split('.').collect();
        (0..labels.len())
            .find_map(|i| {
                let suffix = labels[i..].join(".");
                self.overrides
                    .get(&suffix)
                    .or_else(|| self.services.get(&suffix))
            })
            .map_or(&[], Vec::as_slice)
    }

    /// The file is a week old (or was never fetched): fetch it again.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        self.fetched_at
            .is_none_or(|at| now - at >= BOOTSTRAP_REFRESH_AFTER)
    }

    pub fn fetched_at(&self) -> Option<DateTime<Utc>> {
        self.fetched_at
    }

    pub fn publication(&self) -> Option<&str> {
        self.publication.as_deref()
    }

    /// How many TLDs the file maps (overrides not counted).
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

fn normalize_tld(tld: &str) -> String {
    tld.trim().trim_matches('.').to_ascii_lowercase()
}

/// An http(s) URL ending in `/`, so that `domain/{name}` joins below it.
fn base_url(text: &str) -> Result<Url, ()> {
    let mut url = Url::parse(text.trim()).map_err(|_| ())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A freshly fetched bootstrap file: the body for the store's cache and the parsed registry.
#[derive(Debug, Clone)]
pub struct FetchedBootstrap {
    pub body: Vec<u8>,
    pub fetched_at: DateTime<Utc>,
    pub registry: BootstrapRegistry,
}

/// Why the bootstrap file could not be refreshed (keep using the cached one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapFetchError {
    #[error("bootstrap URL {0:?} is not an http(s) URL")]
    BadUrl(String),
    #[error("fetching the bootstrap file failed: {0}")]
    Fetch(LookupFailure),
    #[error(transparent)]
    Parse(#[from] BootstrapError),
}

/// lapse itself could not build its HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum RdapClientError {
    #[error("cannot build the RDAP HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("tls.extra_ca_file: {0}")]
    ExtraCa(#[source] reqwest::Error),
    #[error("cannot build the resolver for discovered RDAP servers: {0}")]
    Dns(#[from] DnsSetupError),
}

/// How lapse came to a URL it has not been configured with, for the refusal message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    BootstrapFile,
    BootstrapEntry,
    RegistrarLink,
    Redirect,
}

impl Via {
    fn label(self) -> &'static str {
        match self {
            Via::BootstrapFile => "RDAP bootstrap URL",
            Via::BootstrapEntry => "RDAP bootstrap entry",
            Via::RegistrarLink => "RDAP registrar link",
            Via::Redirect => "RDAP redirect to",
        }
    }
}

/// The HTTP side of RDAP.
#[derive(Debug, Clone)]
pub struct RdapClient {
    /// For configured origins.
    http: reqwest::Client,
    /// For everything else: its resolver only returns addresses the policy allows.
    guarded: reqwest::Client,
    guard: ServerGuard,
    /// Origins named in configuration (the bootstrap URL, the overrides).
    trusted: Vec<Origin>,
    settings: RdapSettings,
}

/// reqwest's resolver for discovered servers.
struct GuardedResolver(ServerGuard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = guard.screen(&host).await?;
            // reqwest puts the URL's port in.
            let addrs: reqwest::dns::Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|address| SocketAddr::new(address, 0)),
            );
            Ok(addrs)
        })
    }
}

/// A reply read within the bounds.
struct HttpReply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RdapClient {
    pub fn new(settings: RdapSettings) -> Result<Self, RdapClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(RDAP_MEDIA_TYPE));
        // Trusted like the certificate probe trusts: Mozilla's roots plus `tls.extra_ca_file`.
        let extra_roots = match &settings.extra_ca_pem {
            Some(pem) => {
                reqwest::Certificate::from_pem_bundle(pem).map_err(RdapClientError::ExtraCa)?
            }
            None => Vec::new(),
        };
        let builder = || {
            extra_roots.iter().cloned().fold(
                reqwest::Client::builder()
                    .user_agent(concat!("lapse/", env!("CARGO_PKG_VERSION")))
                    .default_headers(headers.clone())
                    .connect_timeout(settings.connect_timeout)
                    .timeout(settings.timeout)
                    // Followed in `get`, so that each hop is judged on its own.
                    .redirect(reqwest::redirect::Policy::none()),
                reqwest::ClientBuilder::add_root_certificate,
            )
        };
        let guard = ServerGuard::new(
            &settings.allow_ranges,
            &settings.nameservers,
            settings.connect_timeout,
        )?;
        let http = builder().build()?;
        let guarded = builder()
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .build()?;
        let trusted = std::iter::once(settings.bootstrap_url.as_str())
            .chain(settings.overrides.values().map(String::as_str))
            .filter_map(|text| Url::parse(text.trim()).ok())
            .map(|url| url.origin())
            .filter(Origin::is_tuple)
            .collect();
        Ok(RdapClient {
            http,
            guarded,
            guard,
            trusted,
            settings,
        })
    }

    pub fn settings(&self) -> &RdapSettings {
        &self.settings
    }

    /// Fetches the bootstrap file from `bootstrap_url` and applies the configured overrides.
    pub async fn fetch_bootstrap(
        &self,
        now: DateTime<Utc>,
    ) -> Result<FetchedBootstrap, BootstrapFetchError> {
        let url = Url::parse(&self.settings.bootstrap_url)
            .map_err(|_| BootstrapFetchError::BadUrl(self.settings.bootstrap_url.clone()))?;
        let reply = self
            .get(
                &url,
                BOOTSTRAP_MAX_BYTES.max(self.settings.max_bytes),
                Via::BootstrapFile,
            )
            .await
            .map_err(BootstrapFetchError::Fetch)?;
        if !reply.status.is_success() {
            return Err(BootstrapFetchError::Fetch(LookupFailure::HttpStatus {
                status: reply.status.as_u16(),
            }));
        }
        let registry = BootstrapRegistry::from_json(&reply.body, now)?
            .with_overrides(&self.settings.overrides)?;
        Ok(FetchedBootstrap {
            body: reply.body,
            fetched_at: now,
            registry,
        })
    }

    /// Asks the registry at `base` about `domain`, then the registrar it links to (one hop at
    /// most). Returns one exchange per request, registry first.
    pub async fn lookup(
        &self,
        domain: &str,
        base: &Url,
        limits: &RateLimiters,
        now: DateTime<Utc>,
    ) -> Vec<Exchange> {
        let url = match base.join(&format!("domain/{domain}")) {
            Ok(url) => url,
            Err(e) => {
                return vec![Exchange::failed(
                    Source::RegistryRdap,
                    base.as_str(),
                    server_key_for_url(base),
                    now,
                    LookupFailure::Protocol {
                        reason: format!("cannot build the query URL: {e}"),
                    },
                )]
            }
        };
        let registry = self
            .exchange(
                Source::RegistryRdap,
                domain,
                &url,
                Via::BootstrapEntry,
                limits,
                now,
            )
            .await;
        let registrar_url = match (&registry.outcome, &registry.raw) {
            (ExchangeOutcome::Answered(facts), Some(raw))
                if matches!(
                    facts.outcome,
                    ParseOutcome::Found | ParseOutcome::NotPublished
                ) =>
            {
                rdap_related_links(raw)
                    .iter()
                    .filter_map(|href| url.join(href).ok())
                    .find(|link| matches!(link.scheme(), "http" | "https") && *link != url)
            }
            _ => None,
        };
        let mut exchanges = vec![registry];
        if let Some(registrar_url) = registrar_url {
            exchanges.push(
                self.exchange(
                    Source::RegistrarRdap,
                    domain,
                    &registrar_url,
                    Via::RegistrarLink,
                    limits,
                    now,
                )
                .await,
            );
        }
        exchanges
    }

    /// One paced request, classified.
    async fn exchange(
        &self,
        source: Source,
        domain: &str,
        url: &Url,
        via: Via,
        limits: &RateLimiters,
        now: DateTime<Utc>,
    ) -> Exchange {
        let key = server_key_for_url(url);
        // An IP-literal URL that is refused costs no pacing permit.
        if let Err(failure) = self.client_for(url, via) {
            tracing::info!(domain.name = domain, rdap.url = %url, %failure, "RDAP server not contacted");
            return Exchange::failed(source, url.as_str(), key, now, failure);
        }
        let _permit = match limits.acquire(&key).await {
            Ok(permit) => permit,
            Err(e) => {
                return Exchange::failed(source, url.as_str(), key, now, LookupFailure::from(e))
            }
        };
        let started = Instant::now();
        let result = self.get(url, self.settings.max_bytes, via).await;
        let elapsed = started.elapsed();
        let (outcome, raw) = match result {
            Err(failure) => (ExchangeOutcome::Failed(failure), None),
            Ok(reply) => {
                let outcome = self.classify(domain, &reply, &key, limits, now);
                (outcome, Some(reply.body))
            }
        };
        if let ExchangeOutcome::Failed(failure) = &outcome {
            tracing::info!(domain.name = domain, rdap.url = %url, %failure, "RDAP lookup failed");
        }
        Exchange {
            source,
            server: url.to_string(),
            pacing_key: key,
            fetched_at: now,
            elapsed_ms: elapsed.as_millis() as u64,
            outcome,
            raw,
        }
    }

    fn classify(
        &self,
        domain: &str,
        reply: &HttpReply,
        key: &str,
        limits: &RateLimiters,
        now: DateTime<Utc>,
    ) -> ExchangeOutcome {
        match reply.status {
            status if status.is_success() => {
                let facts = parse_rdap(domain, &reply.body);
                if facts.outcome == ParseOutcome::RateLimited {
                    limits.back_off(key, DEFAULT_BACKOFF);
                    return ExchangeOutcome::Failed(LookupFailure::RateLimited {
                        retry_after_secs: None,
                    });
                }
                ExchangeOutcome::Answered(facts)
            }
            StatusCode::NOT_FOUND => ExchangeOutcome::Answered(RegistrationFacts {
                outcome: ParseOutcome::NotFound,
                ..RegistrationFacts::default()
            }),
            StatusCode::TOO_MANY_REQUESTS => {
                // Server-wide, for as long as it asked, bounded (and reported as kept).
                let retry_after = reply
                    .headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now))
                    .map(|wait| wait.min(limits.settings().max_backoff));
                limits.back_off(key, retry_after.unwrap_or(DEFAULT_BACKOFF));
                ExchangeOutcome::Failed(LookupFailure::RateLimited {
                    retry_after_secs: retry_after.map(|d| d.as_secs()),
                })
            }
            status => ExchangeOutcome::Failed(LookupFailure::HttpStatus {
                status: status.as_u16(),
            }),
        }
    }

    /// The client for `url`: the plain one for a configured origin, else the guarded one, after
    /// checking an IP-literal host (the resolver never sees those).
    fn client_for(&self, url: &Url, via: Via) -> Result<&reqwest::Client, LookupFailure> {
        if self.trusted.contains(&url.origin()) {
            return Ok(&self.http);
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(&self.guarded),
        };
        match screen_addresses(&[literal], self.guard.allow_ranges()) {
            Ok(_) => Ok(&self.guarded),
            Err(addresses) => Err(LookupFailure::Refused(RefusedServer {
                via: via.label().to_owned(),
                server: server_key_for_url(url),
                literal: true,
                addresses,
            })),
        }
    }

    /// GET with the client's bounds, following at most `max_redirects` redirects, each hop
    /// judged by its own origin; the whole exchange within `timeout`. The body is read as a
    /// stream and given up on past `max_bytes`.
    async fn get(&self, url: &Url, max_bytes: usize, via: Via) -> Result<HttpReply, LookupFailure> {
        match tokio::time::timeout(self.settings.timeout, self.get_hops(url, max_bytes, via)).await
        {
            Ok(result) => result,
            Err(_) => Err(LookupFailure::Timeout {
                after_ms: self.settings.timeout.as_millis() as u64,
            }),
        }
    }

    async fn get_hops(
        &self,
        url: &Url,
        max_bytes: usize,
        via: Via,
    ) -> Result<HttpReply, LookupFailure> {
        let mut url = url.clone();
        let mut via = via;
        let mut redirects = 0;
        loop {
            let client = self.client_for(&url, via)?;
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| self.failure(&e, &url, via))?;
            let status = response.status();
            let location = response.headers().get(LOCATION);
            if let (true, Some(location)) = (is_followed_redirect(status), location) {
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| url.join(l.trim()).ok())
                    .filter(|next| matches!(next.scheme(), "http" | "https"))
                    .ok_or_else(|| LookupFailure::Protocol {
                        reason: format!("redirect to an unusable location {location:?}"),
                    })?;
                if redirects >= self.settings.max_redirects {
                    return Err(LookupFailure::TooManyRedirects {
                        max: self.settings.max_redirects,
                    });
                }
                redirects += 1;
                url = next;
                via = Via::Redirect;
                continue;
            }
            return self.read(response, max_bytes, &url, via).await;
        }
    }

    async fn read(
        &self,
        response: reqwest::Response,
        max_bytes: usize,
        url: &Url,
        via: Via,
    ) -> Result<HttpReply, LookupFailure> {
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|len| len > max_bytes as u64)
        {
            return Err(LookupFailure::TooLarge {
                limit_bytes: max_bytes,
            });
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failure(&e, url, via))?;
            if body.len() + chunk.len() > max_bytes {
                return Err(LookupFailure::TooLarge {
                    limit_bytes: max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }

    fn failure(&self, error: &reqwest::Error, url: &Url, via: Via) -> LookupFailure {
        if let Some(screening) = find_cause::<Screening>(error) {
            return match screening {
                Screening::Refused { addresses, .. } => LookupFailure::Refused(RefusedServer {
                    via: via.label().to_owned(),
                    server: server_key_for_url(url),
                    literal: false,
                    addresses: addresses.clone(),
                }),
                unresolved @ Screening::Unresolved { .. } => LookupFailure::Connect {
                    reason: unresolved.to_string(),
                },
            };
        }
        let reason = error_chain(error);
        if error.is_timeout() {
            LookupFailure::Timeout {
                after_ms: self.settings.timeout.as_millis() as u64,
            }
        } else if error.is_connect() {
            LookupFailure::Connect { reason }
        } else if is_reset(error) {
            LookupFailure::Reset { reason }
        } else {
            LookupFailure::Protocol { reason }
        }
    }
}

/// The statuses reqwest would follow for a GET.
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// The first cause of type `T` in `error`'s chain.
fn find_cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        current = cause.source();
    }
    None
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn is_reset(error: &dyn std::error::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            );
        }
        source = cause.source();
    }
    false
}

/// `Retry-After` as seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`), as the
/// wait from `now`; a date in the past means "now".
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    const BOOTSTRAP: &str = r#"{
        "version": "1.0",
        "publication": "2025-01-01T00:00:00Z",
        "services": [
            [["com", "net"], ["http://rdap.verisign.example/com/v1", "https://rdap.verisign.example/com/v1/"]],
            [["uk"], ["https://rdap.nominet.example/uk/"]],
            [["co.uk"], ["https://rdap.co-uk.example/"]],
            [["bad"], ["ftp://nope.example/"]]
        ]
    }"#;

    #[test]
    fn bootstrap_maps_tlds_to_https_base_urls_ending_in_a_slash() {
        let registry =
            BootstrapRegistry::from_json(BOOTSTRAP.as_bytes(), at("2025-06-01T00:00:00Z"))
                .expect("bootstrap");
        let base = |d: &str| registry.base_url_for(d).map(Url::to_string);
        assert_eq!(
            base("example.com").as_deref(),
            Some("https://rdap.verisign.example/com/v1/")
        );
        assert_eq!(
            base("EXAMPLE.NET.").as_deref(),
            Some("https://rdap.verisign.example/com/v1/")
        );
        assert_eq!(
            base("example.co.uk").as_deref(),
            Some("https://rdap.co-uk.example/"),
            "longest suffix wins"
        );
        assert_eq!(
            base("example.org.uk").as_deref(),
            Some("https://rdap.nominet.example/uk/")
        );
        assert_eq!(base("example.bad"), None, "non-http URLs are skipped");
        assert_eq!(base("example.de"), None);
        assert_eq!(registry.len(), 4);
        assert_eq!(registry.publication(), Some("2025-01-01T00:00:00Z"));
    }

    #[test]
    fn every_base_url_of_an_entry_is_kept_https_first() {
        let registry =
            BootstrapRegistry::from_json(BOOTSTRAP.as_bytes(), at("2025-06-01T00:00:00Z"))
                .expect("bootstrap");
        let urls: Vec<&str> = registry
            .base_urls_for("example.com")
            .iter()
            .map(Url::as_str)
            .collect();
        assert_eq!(
            urls,
            [
                "https://rdap.verisign.example/com/v1/",
                "http://rdap.verisign.example/com/v1/"
            ]
        );
        assert!(registry.base_urls_for("example.de").is_empty());
    }

    #[test]
    fn overrides_win_over_the_bootstrap_file_and_fill_its_gaps() {
        let overrides = BTreeMap::from([
            ("de".to_owned(), "https://rdap.denic.example".to_owned()),
            (
                ".COM".to_owned(),
                "https://rdap.mirror.example/com/".to_owned(),
            ),
        ]);
        let registry =
            BootstrapRegistry::from_json(BOOTSTRAP.as_bytes(), at("2025-06-01T00:00:00Z"))
                .and_then(|r| r.with_overrides(&overrides))
                .expect("bootstrap");
        assert_eq!(
            registry.base_url_for("x.de").map(Url::as_str),
            Some("https://rdap.denic.example/")
        );
        assert_eq!(
            registry.base_url_for("x.com").map(Url::as_str),
            Some("https://rdap.mirror.example/com/")
        );
    }

    #[test]
    fn a_bad_override_is_rejected_naming_the_tld() {
        let overrides = BTreeMap::from([("de".to_owned(), "whois.denic.de".to_owned())]);
        let err = BootstrapRegistry::empty()
            .with_overrides(&overrides)
            .expect_err("bad URL");
        assert_eq!(
            err,
            BootstrapError::BadUrl {
                tld: "de".to_owned(),
                url: "whois.denic.de".to_owned()
            }
        );
    }

    #[test]
    fn malformed_bootstrap_is_an_error() {
        assert!(matches!(
            BootstrapRegistry::from_json(b"<html>", Utc::now()),
            Err(BootstrapError::Json(_))
        ));
    }

    #[test]
    fn bootstrap_is_refreshed_weekly() {
        let registry =
            BootstrapRegistry::from_json(BOOTSTRAP.as_bytes(), at("2025-06-01T00:00:00Z"))
                .expect("bootstrap");
        assert!(!registry.is_stale(at("2025-06-07T23:59:59Z")));
        assert!(registry.is_stale(at("2025-06-08T00:00:00Z")));
        assert!(
            BootstrapRegistry::empty().is_stale(at("2025-06-01T00:00:00Z")),
            "never fetched is stale"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = at("2015-10-21T07:27:00Z");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
