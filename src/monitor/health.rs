//! lapse's own health, as a scan sees it (the outage rule's evidence):
//! configured canaries (endpoints that must always answer) checked through
//! lapse's own resolver and network at the end of a full scan; without
//! canaries, the scan's certificate checks that failed on lapse's side
//! (`alert_policy::says_own_path_broken`). Target answers (NXDOMAIN,
//! refused, bad certificates) never count.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};

use crate::domain::alert_policy::{canary_answered, says_own_path_broken, HealthEvidence};
use crate::probe::tls::{EndpointReport, TlsProbe, TlsTarget};

/// A scan's certificate checks, and those that failed on lapse's side.
/// Shared by the scan's checks; reset when a scan starts.
#[derive(Debug, Default)]
pub struct CheckCounts {
    total: AtomicU32,
    own_failures: AtomicU32,
}

impl CheckCounts {
    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.own_failures.store(0, Ordering::Relaxed);
    }

    /// Counts one certificate check.
    pub fn count(&self, report: &EndpointReport) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if own_path_broken(report) {
            self.own_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn evidence(&self) -> HealthEvidence {
        HealthEvidence::Checks {
            total: self.total.load(Ordering::Relaxed),
            own_failures: self.own_failures.load(Ordering::Relaxed),
        }
    }
}

/// Whether a check could not be made because lapse's own path is broken:
/// every finding of the endpoint and of each address is one of lapse's.
fn own_path_broken(report: &EndpointReport) -> bool {
    let findings = report
        .findings
        .iter()
        .chain(report.addresses.iter().flat_map(|a| a.findings.iter()));
    report.addresses.iter().all(|a| a.chain.is_empty()) && says_own_path_broken(findings)
}

/// Checks every canary (`host`, `port`) at once, with the scan probe's
/// settings (resolvers, allowed ranges, timeouts) but a resolver of its own
/// with an empty cache: an answer cached during the scan must not hide a
/// resolver that stopped answering. `None` without canaries.
pub async fn check_canaries(
    scan_probe: &TlsProbe,
    canaries: &[(String, u16)],
    now: DateTime<Utc>,
) -> Option<HealthEvidence> {
    if canaries.is_empty() {
        return None;
    }
    let probe = match TlsProbe::new(scan_probe.settings().clone()) {
        Ok(probe) => probe,
        Err(error) => {
            // Built once already with the same settings: not expected.
            tracing::error!(%error, "cannot build the canary probe; judging by the scan's checks");
            return None;
        }
    };
    let probe = &probe;
    let checks = canaries.iter().map(|(host, port)| async move {
        probe.check(&TlsTarget::new(host.clone(), *port), now).await
    });
    let reports = futures::future::join_all(checks).await;
    let answering = reports.iter().filter(|r| answered(r)).count();
    for (report, (host, port)) in reports.iter().zip(canaries) {
        if !answered(report) {
            tracing::warn!(canary = %format!("{host}:{port}"), findings = ?report.findings, "canary did not answer");
        }
    }
    Some(HealthEvidence::Canaries {
        total: u32::try_from(canaries.len()).unwrap_or(u32::MAX),
        answered: u32::try_from(answering).unwrap_or(u32::MAX),
    })
}

/// A canary answered when its name resolved and one address took the
/// connection (whatever TLS or certificate followed).
fn answered(report: &EndpointReport) -> bool {
    canary_answered(&report.findings)
        && report
            .addresses
            .iter()
            .any(|a| canary_answered(&a.findings))
}
