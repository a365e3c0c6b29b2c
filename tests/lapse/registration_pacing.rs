//! Issue 6: per-server pacing holds under a busy scan. A full scan through the real engine (a
//! few hundred loopback TLS endpoints over about a hundred domains) whose registration lookups go
//! to two loopback registries: an RDAP server paced at 8 or 16 requests per second (burst 1, 2 at
//! once) and a WHOIS server with the loose default. The servers record when each request arrived: the
//! paced one never sees more than its quota in any one second, and the other is not held back by
//! it. The scenarios are sized so that each test takes about 2-3 s: the pacing itself is real time.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapse::monitor::engine::{Engine, EngineSettings, SystemClock};
use lapse::monitor::registration::RegistrationChecker;
use lapse::probe::tls::{TlsProbe, TlsProbeSettings};
use lapse::store::{ScanScope, Store};

use crate::harness::cli::TestEnv;
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::registry::{
    rdap_behaviour, registry_whois_reply, RdapServer, WhoisReply, WhoisServer, REGISTRY_EXPIRY,
};
use crate::harness::tls::TlsServer;

const PACED_BURST: usize = 1;
const PACED_IN_FLIGHT: usize = 2;

/// The most arrivals within any window of `window` starting at an arrival.
fn busiest_window(arrivals: &[Instant], window: Duration) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|t| **t >= *start && **t - *start < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// How many endpoints and domains one scan checks, how many of those domains the paced registry
/// answers for, and its pace.
struct Scenario {
    endpoints: usize,
    domains: usize,
    paced_domains: usize,
    paced_per_second: f64,
}

/// What one scan looked like from the servers.
struct Scan {
    started: Instant,
    paced: Vec<Instant>,
    paced_max_in_flight: usize,
    free: Vec<Instant>,
    /// When the TLS server had accepted every endpoint's handshake.
    certificates_done: Instant,
}

/// A full scan through the engine, configured as `lapse scan` would be (scan.concurrency 64,
/// scan.registration_concurrency 8): the scenario's endpoints spread over its domains; domains
/// `d{i}.paced.test` (i below `paced_domains`) are looked up at an RDAP server paced by
/// `[ratelimit.servers]`, the others, `d{i}.free.test`, at a WHOIS server under the loose default
/// pace.
async fn scan(scenario: Scenario) -> Scan {
    let Scenario {
        endpoints,
        domains,
        paced_domains,
        paced_per_second,
    } = scenario;
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&["*.paced.test", "*.free.test"]);
    let tls = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let paced = RdapServer::start(rdap_behaviour).await;
    let free = WhoisServer::start(|q: &str| {
        WhoisReply::Text(registry_whois_reply(q, REGISTRY_EXPIRY, None))
    })
    .await;
    let paced_key = paced.addr.to_string();
    let env = TestEnv::with_config(&format!(
        "[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [rdap]\nbootstrap_url = \"http://127.0.0.1:9/bootstrap.json\"\ntimeout_ms = 2000\n\
         [rdap.overrides]\n\"paced.test\" = \"{rdap}\"\n\
         [whois]\niana_server = \"127.0.0.1:9\"\ntimeout_ms = 2000\ndeadline_ms = 4000\n\
         [whois.servers]\n\"free.test\" = \"{whois}\"\n\
         [ratelimit]\nper_second = 1000.0\nburst = 100\nmax_concurrent = 16\nmax_wait_secs = 30\n\
         [ratelimit.servers]\n\"{paced_key}\" = {{ per_second = {paced_per_second:.1}, burst = {PACED_BURST}, max_concurrent = {PACED_IN_FLIGHT} }}\n",
        rdap = paced.url("/rdap/"),
        whois = free.host_port(),
    ));
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = Store::open(&config.database).await.expect("store");
    let now = chrono::Utc::now();
    for i in 0..endpoints {
        let d = i % domains;
        let parent = if d < paced_domains { "paced" } else { "free" };
        let host = lapse::domain::names::HostName::from_canonical(format!("e{i}.{parent}.test"));
        let domain = lapse::domain::names::HostName::from_canonical(format!("d{d}.{parent}.test"));
        store
            .add_endpoint(&host, tls.addr.port(), &domain, None, now)
            .await
            .expect("add");
        // DNS-free: every endpoint is checked on 127.0.0.1.
        store
            .pin_endpoint(&host, tls.addr.port(), Some(ip("127.0.0.1")))
            .await
            .expect("pin");
    }

    let probe = TlsProbe::new(TlsProbeSettings {
        allow_ranges: config.targets.allow_ranges.clone(),
        extra_ca_pem: Some(pki.root_pem()),
        per_address_concurrency: 16,
        ..TlsProbeSettings::default()
    })
    .expect("probe");
    let checker = RegistrationChecker::build(&config, &store, now)
        .await
        .expect("registration checker");
    let engine = Engine::new(
        store.clone(),
        probe,
        Some(checker),
        EngineSettings::from_config(&config),
        Arc::new(SystemClock),
    );
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let connections = tls.connections.clone();
    let watcher = tokio::spawn(async move {
        while connections.load(Ordering::SeqCst) < endpoints {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Instant::now()
    });
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        engine.run(&ScanScope::All, stop, None),
    )
    .await
    .expect("the scan ends")
    .expect("scan");
    let certificates_done = watcher.await.expect("watcher");

    assert_eq!(
        outcome.summary.items_total as usize,
        endpoints + domains,
        "{:?}",
        outcome.summary
    );
    assert_eq!(
        outcome.summary.items_done, outcome.summary.items_total,
        "{:?}",
        outcome.summary
    );
    assert_eq!(tls.connections.load(Ordering::SeqCst), endpoints);
    // Every registration was looked up once, at its own server, and recorded.
    assert_eq!(
        paced.journal.arrivals().len(),
        paced_domains,
        "{:?}",
        paced.journal.queries()
    );
    assert_eq!(free.journal.arrivals().len(), domains - paced_domains);
    let recorded = store
        .list_domains(None)
        .await
        .expect("domains")
        .iter()
        .filter(|d| d.expires_at.is_some())
        .count();
    assert_eq!(recorded, domains, "every lookup answered and was recorded");

    let scan = Scan {
        started,
        paced: paced.journal.arrivals().iter().map(|a| a.at).collect(),
        paced_max_in_flight: paced.journal.max_in_flight(),
        free: free.journal.arrivals().iter().map(|a| a.at).collect(),
        certificates_done,
    };
    eprintln!(
        "{endpoints} endpoints, {paced_domains} of {domains} domains paced: scan took {:?}; certificates done after {:?}; \
         paced {:?}..{:?} (busiest second {}); free {:?}..{:?} (busiest second {})",
        started.elapsed(),
        certificates_done - started,
        scan.first(&scan.paced),
        scan.last(&scan.paced),
        busiest_window(&scan.paced, Duration::from_secs(1)),
        scan.first(&scan.free),
        scan.last(&scan.free),
        busiest_window(&scan.free, Duration::from_secs(1)),
    );
    scan
}

impl Scan {
    fn first(&self, arrivals: &[Instant]) -> Duration {
        *arrivals.iter().min().expect("arrivals") - self.started
    }

    fn last(&self, arrivals: &[Instant]) -> Duration {
        *arrivals.iter().max().expect("arrivals") - self.started
    }
}

/// The least time `requests` arrivals at the paced server can span: the burst goes at once, then
/// one request every 1/`per_second` s.
fn least_paced_span(requests: usize, per_second: f64) -> Duration {
    Duration::from_secs_f64((requests - PACED_BURST) as f64 / per_second)
}

/// The paced server (16 domains at 8 per second) is held to its quota while a scan keeps the
/// machine busy with handshakes (500 endpoints: about the first 0.7 s of the 2 s the pacing takes,
/// longer on a loaded machine); the WHOIS server (84 domains), with a looser quota, is not held
/// to it.
#[tokio::test]
async fn per_server_pacing_holds_under_a_busy_scan() {
    let paced_domains = 16;
    let per_second = 8.0;
    let scan = scan(Scenario {
        endpoints: 500,
        domains: 100,
        paced_domains,
        paced_per_second: per_second,
    })
    .await;

    // The paced server: never more than its quota in any one second (a burst of 1 plus 8 per
    // second), never more than 2 at once, and so its 16 requests span at least 15 x 125 ms.
    let quota = PACED_BURST + per_second as usize;
    let busiest = busiest_window(&scan.paced, Duration::from_secs(1));
    assert!(
        busiest <= quota,
        "{busiest} requests to the paced server within one second (quota {quota})"
    );
    assert!(scan.paced_max_in_flight <= PACED_IN_FLIGHT);
    let paced_span = scan.last(&scan.paced) - scan.first(&scan.paced);
    assert!(
        paced_span >= least_paced_span(paced_domains, per_second) - Duration::from_millis(100),
        "{paced_domains} requests at {per_second} per second within {paced_span:?}"
    );

    // The WHOIS server, configured differently, is held to its own pace, not the
    // paced server's: in its busiest second it answers more than twice the paced quota.
    let free_busiest = busiest_window(&scan.free, Duration::from_secs(1));
    assert!(
        free_busiest > 2 * quota,
        "the WHOIS server saw at most {free_busiest} requests in a second: held to the paced rate"
    );
}

/// A registry whose pacing queue is much longer than `scan.registration_concurrency` (40 domains
/// at 16 per second: at least 2.4 s, while the 150 certificate checks take 0.5-1 s here) must
/// hold back neither the other registry's lookups nor the certificate checks: both finish at
/// least 1 s before the paced queue drains.
///
/// Found by this test: the engine used to take a registration slot before the lookup waited for
/// its server's pacing permit, and the page loop awaited a free slot inline, so one paced
/// registry held back everything (certificate checks done after 7.4 s instead of 3.0 s, with 64
/// domains at 8 per second). The engine now dispatches lookups on their own, per server queue.
/// Had it not, the page loop would pass the last paced domain only when at most
/// `scan.registration_concurrency` (8) paced lookups were left, 8 x 62.5 ms = 0.5 s before the
/// queue drains; the 1 s margin is twice that.
#[tokio::test]
async fn a_long_pacing_queue_holds_back_neither_other_registries_nor_certificate_checks() {
    let paced_domains = 40;
    let per_second = 16.0;
    let scan = scan(Scenario {
        endpoints: 150,
        domains: 80,
        paced_domains,
        paced_per_second: per_second,
    })
    .await;
    let paced_done = scan.last(&scan.paced);
    assert!(
        paced_done >= least_paced_span(paced_domains, per_second) - Duration::from_millis(100),
        "{paced_domains} requests at {per_second} per second end after {paced_done:?}"
    );
    let margin = Duration::from_secs(1);
    assert!(
        scan.certificates_done - scan.started + margin <= paced_done,
        "certificate checks done after {:?}, the paced queue after {paced_done:?}",
        scan.certificates_done - scan.started
    );
    assert!(
        scan.last(&scan.free) + margin <= paced_done,
        "the other registry's lookups done after {:?}, the paced queue after {paced_done:?}",
        scan.last(&scan.free)
    );
}
