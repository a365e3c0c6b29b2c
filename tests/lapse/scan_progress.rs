//! Issue 15 item 19: the scan's progress counts certificate checks and
//! registration lookups apart, so `lapse scan` shows a bar and a time left
//! for each. Certificate checks end in a fraction of a second; lookups at a
//! registry paced to 4 per second take about two seconds more. One rate over
//! both (the old single bar) promised the end once the certificates were
//! done; the registrations' own rate is the registry's pace.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapse::monitor::engine::{Engine, EngineSettings, ProgressFn, SystemClock};
use lapse::monitor::registration::RegistrationChecker;
use lapse::probe::tls::{TlsProbe, TlsProbeSettings};
use lapse::store::{KindProgress, ScanProgress, ScanScope, Store};

use crate::harness::cli::TestEnv;
use crate::harness::ip;
use crate::harness::pki::TestPki;
use crate::harness::registry::{rdap_behaviour, RdapServer};
use crate::harness::tls::TlsServer;

const ENDPOINTS: usize = 40;
const DOMAINS: usize = 8;
const PER_SECOND: f64 = 4.0;

/// A full scan through the engine with a progress callback; the snapshots it
/// was given, with when.
async fn scan_with_progress() -> Vec<(Instant, ScanProgress)> {
    let pki = TestPki::new();
    let leaf = pki.good_leaf(&["*.paced.test"]);
    let tls = TlsServer::start(ip("127.0.0.1"), pki.served(&leaf), leaf.key_der()).await;
    let rdap = RdapServer::start(rdap_behaviour).await;
    let env = TestEnv::with_config(&format!(
        "[targets]\nallow_ranges = [\"127.0.0.0/8\"]\n\
         [rdap]\nbootstrap_url = \"http://127.0.0.1:9/bootstrap.json\"\ntimeout_ms = 2000\n\
         [rdap.overrides]\n\"paced.test\" = \"{url}\"\n\
         [ratelimit]\nper_second = 1000.0\nburst = 100\nmax_concurrent = 16\nmax_wait_secs = 30\n\
         [ratelimit.servers]\n\"{key}\" = {{ per_second = {PER_SECOND:.1}, burst = 1, max_concurrent = 1 }}\n",
        url = rdap.url("/rdap/"),
        key = rdap.addr,
    ));
    let config = lapse::config::Config::load(&lapse::config::LoadOptions {
        explicit_path: Some(env.config_path()),
    })
    .expect("config");
    let store = Store::open(&config.database).await.expect("store");
    let now = chrono::Utc::now();
    for i in 0..ENDPOINTS {
        let host = lapse::domain::names::HostName::from_canonical(format!("e{i}.paced.test"));
        let domain =
            lapse::domain::names::HostName::from_canonical(format!("d{}.paced.test", i % DOMAINS));
        store
            .add_endpoint(&host, tls.addr.port(), &domain, None, now)
            .await
            .expect("add");
        store
            .pin_endpoint(&host, tls.addr.port(), Some(ip("127.0.0.1")))
            .await
            .expect("pin");
    }
    let probe = TlsProbe::new(TlsProbeSettings {
        allow_ranges: config.targets.allow_ranges.clone(),
        extra_ca_pem: Some(pki.root_pem()),
        ..TlsProbeSettings::default()
    })
    .expect("probe");
    let checker = RegistrationChecker::build(&config, &store, now)
        .await
        .expect("registration checker");
    let engine = Engine::new(
        store,
        probe,
        Some(checker),
        EngineSettings::from_config(&config),
        Arc::new(SystemClock),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress: ProgressFn = {
        let seen = seen.clone();
        Arc::new(move |p: &ScanProgress| {
            seen.lock()
                .expect("progress log")
                .push((Instant::now(), *p))
        })
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::time::timeout(
        Duration::from_secs(30),
        engine.run(&ScanScope::All, stop, Some(progress)),
    )
    .await
    .expect("the scan ends")
    .expect("scan");
    let snapshots = seen.lock().expect("progress log").clone();
    snapshots
}

#[tokio::test]
async fn progress_counts_certificate_checks_and_paced_lookups_apart() {
    let snapshots = scan_with_progress().await;

    let (_, last) = snapshots.last().expect("progress was reported");
    let all = |n: usize| KindProgress {
        done: n as i64,
        total: n as i64,
    };
    assert_eq!(last.certificates, all(ENDPOINTS), "{snapshots:?}");
    assert_eq!(last.registrations, all(DOMAINS), "{snapshots:?}");
    for (_, p) in &snapshots {
        assert_eq!(p.certificates.total, ENDPOINTS as i64);
        assert_eq!(p.registrations.total, DOMAINS as i64);
        assert!(p.certificates.done <= p.certificates.total);
        assert!(p.registrations.done <= p.registrations.total);
    }
    // The certificates were all done while paced lookups were still left:
    // the moment a single bar would have shown nearly done.
    let certificates_done = snapshots
        .iter()
        .find(|(_, p)| p.certificates.done == ENDPOINTS as i64)
        .expect("certificates finished");
    assert!(
        certificates_done.1.registrations.done < DOMAINS as i64 - 2,
        "lookups left when the certificates were done: {snapshots:?}"
    );
    // From then on, the registrations advance at the registry's pace: the
    // rate their bar sees, and so its time left, is the pace's.
    let finished = snapshots
        .iter()
        .find(|(_, p)| p.registrations.done == DOMAINS as i64)
        .expect("lookups finished");
    let lookups = (finished.1.registrations.done - certificates_done.1.registrations.done) as f64;
    let rate = lookups / (finished.0 - certificates_done.0).as_secs_f64();
    assert!(
        rate <= PER_SECOND * 1.5,
        "{lookups} lookups at {rate:.1}/s, paced at {PER_SECOND}/s"
    );
}
