//! Name resolution for the TLS probe: A and AAAA through hickory-resolver.
//!
//! The system resolver (`/etc/resolv.conf`) by default, or the nameservers
//! from configuration (`dns.nameservers`, e.g. `127.0.0.1:5353`, plain UDP
//! with TCP fallback). A name that does not resolve is a
//! [`DnsFailureKind`] (NXDOMAIN, SERVFAIL, timeout, no addresses), data for a
//! finding; only a resolver that cannot be built is an `Err`.
//!
//! Names are looked up as absolute names (a trailing dot is added), so the
//! search domains of the machine lapse runs on never change what is checked.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::domain::certificate::DnsFailureKind;

/// The resolver could not be set up (lapse's problem, not the target's).
#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    #[error("cannot read the system resolver configuration: {0}")]
    SystemConfig(String),
    #[error("cannot build the resolver: {0}")]
    Build(String),
}

/// The outcome of resolving one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// IPv4 addresses first, then IPv6, each in answer order, no duplicates.
    Addresses(Vec<IpAddr>),
    Failed(DnsFailureKind),
}

/// A+AAAA resolver. Cheap to clone; build one and share it.
#[derive(Clone)]
pub struct DnsResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsResolver").finish_non_exhaustive()
    }
}

impl DnsResolver {
    /// The system resolver when `nameservers` is empty, else exactly those
    /// servers. `query_timeout` bounds each query to one server.
    pub fn new(nameservers: &[SocketAddr], query_timeout: Duration) -> Result<Self, DnsSetupError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if nameservers.is_empty() {
            TokioResolver::builder(provider)
                .map_err(|error| DnsSetupError::SystemConfig(error.to_string()))?
        } else {
            let servers = nameservers
                .iter()
                .map(|server| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = server.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = server.port();
                    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
                })
                .collect();
            let mut builder = TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                provider,
            );
            // Configured servers are the whole truth: no /etc/hosts.
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            builder
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = query_timeout;
        options.attempts = 1;
        let inner = builder
            .build()
            .map_err(|error| DnsSetupError::Build(error.to_string()))?;
        Ok(Self { inner })
    }

    /// Looks up A and AAAA for `host` concurrently. Addresses from either
    /// family make a success; otherwise the most telling failure wins
    /// (NXDOMAIN, then SERVFAIL, then timeout, then "no addresses").
    pub async fn resolve(&self, host: &str) -> Resolution {
        let name = if host.ends_with('.') {
            host.to_owned()
        } else {
            format!("{host}.")
        };
        let (v4, v6) = futures::join!(
            self.inner.ipv4_lookup(name.as_str()),
            self.inner.ipv6_lookup(name.as_str())
        );
        let mut addresses: Vec<IpAddr> = Vec::new();
        let mut failures: Vec<DnsFailureKind> = Vec::new();
        for answer in [v4, v6] {
            match answer {
                Ok(lookup) => {
                    for record in lookup.answers() {
                        let address = match &record.data {
                            RData::A(a) => IpAddr::V4(a.0),
                            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                            _ => continue,
                        };
                        if !addresses.contains(&address) {
                            addresses.push(address);
                        }
                    }
                }
                Err(error) => failures.push(classify(&error)),
            }
        }
        if !addresses.is_empty() {
            return Resolution::Addresses(addresses);
        }
        let most_telling = [
            DnsFailureKind::NxDomain,
            DnsFailureKind::ServFail,
            DnsFailureKind::Timeout,
        ]
        .into_iter()
        .find(|kind| failures.contains(kind))
        .or_else(|| {
            failures
                .iter()
                .find(|kind| matches!(kind, DnsFailureKind::Other(_)))
                .cloned()
        })
        .unwrap_or(DnsFailureKind::NoAddresses);
        Resolution::Failed(most_telling)
    }
}

/// Sorts a hickory error into the failures lapse tells apart.
fn classify(error: &NetError) -> DnsFailureKind {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => match no_records.response_code {
            ResponseCode::NXDomain => DnsFailureKind::NxDomain,
            ResponseCode::ServFail => DnsFailureKind::ServFail,
            _ => DnsFailureKind::NoAddresses,
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => DnsFailureKind::NxDomain,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => DnsFailureKind::ServFail,
        NetError::Timeout => DnsFailureKind::Timeout,
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => DnsFailureKind::Timeout,
        other => DnsFailureKind::Other(other.to_string()),
    }
}
