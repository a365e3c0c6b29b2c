//! What a subject's stored facts mean in the alert policy's terms: the
//! certificate or registration date an expiry alert speaks of, the problem
//! lines of a failing check, whether a lookup learned anything, and the
//! thresholds that apply. Pure reading, shared by the evaluation and the
//! quiet-subject filter, so that both apply the same rules.

use chrono::{DateTime, Utc};

use super::AlertSettings;
use crate::domain::alert_policy::{
    is_check_failure, problem_statuses, CheckState, ExpirySubject, Thresholds,
};
use crate::domain::certificate::Finding;
use crate::domain::names::to_unicode;
use crate::store::{CurrentCert, DomainAlertFacts, EndpointAlertFacts};

/// How messages name an endpoint: the host, with the port unless it is 443.
pub(super) fn endpoint_name(facts: &EndpointAlertFacts) -> String {
    if facts.port == 443 {
        to_unicode(&facts.host)
    } else {
        format!("{}:{}", to_unicode(&facts.host), facts.port)
    }
}

/// The certificate thresholds for an endpoint: its domain's, else its
/// client's, else the configured ones.
pub(super) fn certificate_thresholds<'a>(
    settings: &'a AlertSettings,
    facts: &'a EndpointAlertFacts,
) -> &'a Thresholds {
    Thresholds::effective(
        &settings.certificate_days,
        facts.client_certificate_days.as_ref(),
        facts.domain_certificate_days.as_ref(),
    )
}

/// [`certificate_thresholds`] for a domain's registration.
pub(super) fn registration_thresholds<'a>(
    settings: &'a AlertSettings,
    facts: &'a DomainAlertFacts,
) -> &'a Thresholds {
    Thresholds::effective(
        &settings.registration_days,
        facts.client_registration_days.as_ref(),
        facts.domain_registration_days.as_ref(),
    )
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
