//! What a subject's stored facts mean in the alert policy's terms: the
//! certificate or registration date an expiry alert speaks of, the problem
//! lines of a failing check, whether a lookup learned anything, the
//! thresholds that apply, and whether an endpoint was never reachable (its
//! failure alert is then staff's alone). Pure reading, shared by the
//! evaluation and the quiet-subject filter, so that both apply the same rules.

use chrono::{DateTime, Utc};

use super::AlertSettings;
use crate::domain::alert_policy::{
    adapts_to_lifetime, is_check_failure, problem_statuses, CheckState, ExpirySubject, Firing,
    ServedCert, Thresholds,
};
use crate::domain::certificate::{DnsFailureKind, Finding, HandshakeFailure};
use crate::domain::names::to_unicode;
use crate::notify::templates::StaffNotes;
use crate::store::{CurrentCert, DomainAlertFacts, EndpointAlertFacts};

/// How messages name an endpoint: the host, with the port unless it is 443.
pub(super) fn endpoint_name(facts: &EndpointAlertFacts) -> String {
    if facts.port == 443 {
        to_unicode(&facts.host)
    } else {
        format!("{}:{}", to_unicode(&facts.host), facts.port)
    }
}

/// What staff mail says about an endpoint beyond the client's words: the
/// endpoint, and for each address the certificate served (subject, issuer,
/// serial, expiry) or that none was; `lapse check HOST:PORT` confirms.
pub(super) fn endpoint_notes(facts: &EndpointAlertFacts) -> StaffNotes {
    let target = format!("{}:{}", facts.host, facts.port);
    let mut details = vec![format!("endpoint {target}")];
    for cert in &facts.current {
        let leaf = &cert.details["chain"][0];
        let address = if cert.address.is_empty() {
            "(no address)"
        } else {
            cert.address.as_str()
        };
        details.push(match (leaf["subject"].as_str(), leaf["issuer"].as_str()) {
            (Some(subject), Some(issuer)) => format!(
                "{address}: subject {subject}; issuer {issuer}; serial {}; not after {}",
                leaf["serial_hex"].as_str().unwrap_or("?"),
                leaf["not_after"].as_str().unwrap_or("?"),
            ),
            _ => format!("{address}: no certificate served ({})", cert.outcome),
        });
    }
    StaffNotes {
        details,
        check_target: Some(target),
        domain: None,
        runbook: Default::default(),
    }
}

/// What staff mail says about a registration: what the last lookup found,
/// where the date comes from, the statuses; `lapse whois DOMAIN` (and, for
/// stale data, `lapse domains set-expiry`) acts on the ASCII name.
pub(super) fn domain_notes(facts: &DomainAlertFacts) -> StaffNotes {
    let mut details = vec![format!(
        "last lookup: {} (checked {}){}",
        facts.outcome.as_deref().unwrap_or("none yet"),
        facts.checked_at.as_deref().unwrap_or("never"),
        if facts.stale { ", data stale" } else { "" }
    )];
    if let Some(at) = facts.expires_at {
        details.push(format!(
            "expiry {} (source: {})",
            crate::store::format_time(at),
            facts.expires_source.as_deref().unwrap_or("unknown")
        ));
    }
    if !facts.statuses.is_empty() {
        details.push(format!("statuses: {}", facts.statuses.join(", ")));
    }
    StaffNotes {
        details,
        check_target: None,
        domain: Some(facts.name.clone()),
        runbook: Default::default(),
    }
}

/// The certificate thresholds for an endpoint: its domain's, else its own
/// client's, else the configured ones; and whether the lifetime rule adapts
/// them (only the built-in defaults: `alert_policy::adapts_to_lifetime`).
pub(super) fn certificate_thresholds<'a>(
    settings: &'a AlertSettings,
    facts: &'a EndpointAlertFacts,
) -> (&'a Thresholds, bool) {
    let client = facts.client_certificate_days.as_ref();
    let domain = facts.domain_certificate_days.as_ref();
    (
        Thresholds::effective(&settings.certificate_days, client, domain),
        adapts_to_lifetime(settings.certificate_days_set, client, domain),
    )
}

/// [`certificate_thresholds`] for a domain's registration: the domain's,
/// else the registration owner's, else the configured ones. A registration
/// has no lifetime rule.
pub(super) fn registration_thresholds<'a>(
    settings: &'a AlertSettings,
    facts: &'a DomainAlertFacts,
) -> (&'a Thresholds, bool) {
    let thresholds = Thresholds::effective(
        &settings.registration_days,
        facts.client_registration_days.as_ref(),
        facts.domain_registration_days.as_ref(),
    );
    (thresholds, false)
}

/// The certificate that expires first among the addresses' current leaves
/// (the chain's date when an intermediate expires before the leaf).
pub(super) fn expiring_certificate(current: &[CurrentCert]) -> Option<ExpirySubject> {
    current
        .iter()
        .filter_map(|c| {
            let fingerprint = c.leaf_fingerprint.clone()?;
            let leaf = c.leaf_not_after?;
            let expires_at = c.chain_not_after.map_or(leaf, |chain| chain.min(leaf));
            let valid_from = c.details["chain"][0]["not_before"]
                .as_str()
                .and_then(crate::store::parse_time);
            Some(ExpirySubject {
                key: fingerprint,
                expires_at,
                valid_from,
            })
        })
        .min_by(|a, b| (a.expires_at, &a.key).cmp(&(b.expires_at, &b.key)))
}

/// Each observation's certificate, on its address, with the date
/// [`expiring_certificate`] uses: for the renewal rule.
pub(super) fn served_certificates(observations: &[CurrentCert]) -> Vec<ServedCert> {
    observations
        .iter()
        .filter_map(|c| {
            let leaf = c.leaf_not_after?;
            Some(ServedCert {
                address: c.address.clone(),
                key: c.leaf_fingerprint.clone()?,
                expires_at: c.chain_not_after.map_or(leaf, |chain| chain.min(leaf)),
            })
        })
        .collect()
}

/// One line per failure finding, `address: finding`, without repeats.
pub(super) fn failure_lines(current: &[CurrentCert]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for cert in current {
        let findings = cert.details["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for value in findings {
            let text = match serde_json::from_value::<Finding>(value.clone()) {
                Ok(finding) if !is_check_failure(&finding) => continue,
                Ok(finding) => finding.to_string(),
                // A finding this version cannot read: count it, show its kind.
                Err(_) => value["kind"]
                    .as_str()
                    .unwrap_or("unknown finding")
                    .to_owned(),
            };
            let line = if cert.address.is_empty() {
                text
            } else {
                format!("{}: {text}", cert.address)
            };
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    lines
}

/// The subject key of an endpoint's failure alert: the client's alert.
pub(super) const ENDPOINT_KEY: &str = "endpoint";
/// The subject key of an endpoint's failure alert while it was never
/// reached: staff's alone, saying "is there a TLS service here?".
pub(super) const NEVER_REACHABLE_KEY: &str = "never_reachable";

/// Whether a finding is the target's own answer that no TLS service is
/// there: the name does not exist or has no address, nothing listens on the
/// port, or something other than TLS answers. A timeout, a failing resolver
/// or an unreachable network may be lapse's own trouble: not one of these.
pub(super) fn is_target_side_answer(finding: &Finding) -> bool {
    matches!(
        finding,
        Finding::Dns {
            failure: DnsFailureKind::NxDomain | DnsFailureKind::NoAddresses,
        } | Finding::ConnectRefused
            | Finding::HandshakeFailed {
                reason: HandshakeFailure::NotTls,
            }
            | Finding::StartTlsFailed { .. }
    )
}

/// Whether a check says "no TLS service here": no address served a
/// certificate, and every address failed with target-side answers only.
pub(super) fn no_tls_service(current: &[CurrentCert]) -> bool {
    !current.is_empty()
        && current.iter().all(|cert| {
            let findings = cert.details["findings"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            cert.leaf_fingerprint.is_none()
                && !findings.is_empty()
                && findings.iter().all(|value| {
                    serde_json::from_value::<Finding>(value.clone())
                        .is_ok_and(|finding| is_target_side_answer(&finding))
                })
        })
}

/// The subject key of the endpoint's failure alert for this check. Never
/// reachable while no check ever completed a handshake and either this one
/// got target-side answers only, or the alert firing already says so (a
/// timeout in between does not make it the client's alert). Once a
/// handshake completes, a failure is the client's.
pub(super) fn failure_key(facts: &EndpointAlertFacts, firing: Option<&Firing>) -> &'static str {
    let never_reachable = facts.first_handshake_at.is_none()
        && (no_tls_service(&facts.current)
            || firing.is_some_and(|f| f.subject_key == NEVER_REACHABLE_KEY));
    if never_reachable {
        NEVER_REACHABLE_KEY
    } else {
        ENDPOINT_KEY
    }
}

/// The registration problems in words, for the message.
pub(super) fn registration_problems(outcome: Option<&str>, statuses: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    if outcome == Some("not_found") {
        lines.push(
            "not found in the registry: the registration may have lapsed or been deleted"
                .to_owned(),
        );
    }
    for status in problem_statuses(statuses) {
        lines.push(match status {
            "redemptionPeriod" => "status redemptionPeriod: the registration lapsed; it can still be restored, at a fee".to_owned(),
            "pendingDelete" => "status pendingDelete: the domain is about to be deleted and released".to_owned(),
            "clientHold" => "status clientHold: the registrar has suspended the domain; it does not resolve".to_owned(),
            "serverHold" => "status serverHold: the registry has suspended the domain; it does not resolve".to_owned(),
            other => format!("status {other}"),
        });
    }
    lines
}

/// The registration expiry alerts may speak of: only from data that is
/// known and fresh. A failed or stale lookup is never "expires in -1 days".
pub(super) fn registration_subject(facts: &DomainAlertFacts) -> Option<ExpirySubject> {
    let known = !facts.stale
        && (facts.outcome.as_deref() == Some("found")
            || facts.expires_source.as_deref() == Some("manual"));
    facts.expires_at.filter(|_| known).map(|at| ExpirySubject {
        key: crate::store::format_time(at),
        expires_at: at,
        valid_from: None,
    })
}

/// Whether the last lookup learned anything, for the stale rule.
pub(super) fn lookup_state(facts: &DomainAlertFacts) -> CheckState {
    match facts.outcome.as_deref() {
        _ if facts.stale => CheckState::Inconclusive,
        Some("found" | "not_found" | "not_published") => CheckState::Passing,
        Some(_) | None => CheckState::Inconclusive,
    }
}

/// Whether the stale rule has anything to go on: a lookup was made, or the
/// assessment says its facts are stale.
pub(super) fn stale_rule_applies(facts: &DomainAlertFacts) -> bool {
    facts.checked_at.is_some() || facts.stale
}

/// When a source last answered; the domain's creation before the first answer.
pub(super) fn last_fresh(facts: &DomainAlertFacts) -> DateTime<Utc> {
    facts.confirmed_at.unwrap_or(facts.created_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::certificate::Stage;
    use crate::domain::fleet::Watch;
    use crate::store::{Audience, Streak};

    fn cert(leaf: Option<&str>, findings: &[Finding]) -> CurrentCert {
        CurrentCert {
            address: "192.0.2.1".into(),
            outcome: "unknown".into(),
            leaf_fingerprint: leaf.map(str::to_owned),
            leaf_not_after: None,
            chain_not_after: None,
            last_seen_at: "2026-11-01T00:00:00Z".into(),
            details: serde_json::json!({ "findings": findings }),
        }
    }

    fn endpoint(reached: bool, current: Vec<CurrentCert>) -> EndpointAlertFacts {
        EndpointAlertFacts {
            endpoint_id: 1,
            domain_id: 1,
            domain: "example.com".into(),
            host: "www.example.com".into(),
            port: 443,
            watch: Watch::Both,
            first_handshake_at: reached.then(DateTime::<Utc>::default),
            audience: Audience::default(),
            client_certificate_days: None,
            domain_certificate_days: None,
            current,
            checks: 1,
            streak: Streak::default(),
        }
    }

    #[test]
    fn only_the_targets_own_answers_say_no_tls_service() {
        let nx = Finding::Dns {
            failure: DnsFailureKind::NxDomain,
        };
        let cases: [(Finding, bool); 8] = [
            (nx.clone(), true),
            (
                Finding::Dns {
                    failure: DnsFailureKind::NoAddresses,
                },
                true,
            ),
            (Finding::ConnectRefused, true),
            (
                Finding::HandshakeFailed {
                    reason: HandshakeFailure::NotTls,
                },
                true,
            ),
            (
                Finding::StartTlsFailed {
                    reply: "502 not here".into(),
                },
                true,
            ),
            // Could be lapse's own network or resolver.
            (
                Finding::Dns {
                    failure: DnsFailureKind::ServFail,
                },
                false,
            ),
            (
                Finding::Timeout {
                    stage: Stage::Connect,
                    limit_ms: 2000,
                },
                false,
            ),
            (
                Finding::ConnectFailed {
                    reason: "network unreachable".into(),
                },
                false,
            ),
        ];
        for (finding, expected) in cases {
            assert_eq!(is_target_side_answer(&finding), expected, "{finding:?}");
            assert_eq!(
                no_tls_service(&[cert(None, std::slice::from_ref(&finding))]),
                expected,
                "{finding:?}"
            );
        }
        // Every address must say so; a certificate served anywhere says otherwise.
        let timeout = Finding::Timeout {
            stage: Stage::Handshake,
            limit_ms: 3000,
        };
        assert!(!no_tls_service(&[
            cert(None, &[Finding::ConnectRefused]),
            cert(None, &[timeout])
        ]));
        assert!(!no_tls_service(&[cert(Some("ab"), &[nx])]));
        assert!(!no_tls_service(&[cert(None, &[])]));
        assert!(!no_tls_service(&[]));
    }

    #[test]
    fn the_failure_key_is_staffs_until_a_handshake_completes() {
        let refused = || vec![cert(None, &[Finding::ConnectRefused])];
        let timeout = || {
            vec![cert(
                None,
                &[Finding::Timeout {
                    stage: Stage::Connect,
                    limit_ms: 2000,
                }],
            )]
        };
        let firing = |key: &str| Firing {
            alert_id: 1,
            subject_key: key.into(),
        };
        let staff = firing(NEVER_REACHABLE_KEY);
        assert_eq!(
            failure_key(&endpoint(false, refused()), None),
            NEVER_REACHABLE_KEY
        );
        // Reached once: a refused connection is the client's outage.
        assert_eq!(failure_key(&endpoint(true, refused()), None), ENDPOINT_KEY);
        // A timeout alone says nothing about the target...
        assert_eq!(failure_key(&endpoint(false, timeout()), None), ENDPOINT_KEY);
        // ...nor turns staff's alert into the client's.
        assert_eq!(
            failure_key(&endpoint(false, timeout()), Some(&staff)),
            NEVER_REACHABLE_KEY
        );
        assert_eq!(
            failure_key(&endpoint(true, timeout()), Some(&staff)),
            ENDPOINT_KEY
        );
    }
}
