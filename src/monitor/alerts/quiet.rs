//! The quiet-subject filter: of a batch of freshly recorded subjects, the
//! ones whose evaluation could change nothing (no alert firing, no failure
//! streak, nothing failing, no expiry step due, no date to ask staff for),
//! told apart with two queries for the whole batch. It applies the evaluation's own rules
//! (`subjects`, `domain::alert_policy`) to the same facts, so it only saves
//! work: a subject it lets through is evaluated in full.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::subjects::{
    certificate_thresholds, expiring_certificate, failure_lines, last_fresh, lookup_state,
    registration_subject, registration_thresholds, stale_rule_applies,
};
use super::AlertSettings;
use crate::domain::alert_policy::{
    expiry_step, failure_step, needs_date_step, registration_check_state, stale_step, CheckState,
};
use crate::domain::observation::CertObservation;
use crate::store::{CurrentCert, DomainAlertFacts, EndpointAlertFacts, Store, StoreError};

/// Of `ids`, the endpoints whose evaluation might change something. The
/// rest are quiet: no alert firing, no failure streak, every address
/// passing and no expiry step due even if nothing had been notified yet;
/// evaluating them would write nothing. Two queries for the whole batch,
/// and the same rules as [`evaluate_endpoint`](super::evaluate_endpoint), so this
/// only saves work.
/// The zones days are counted in: `schedule.timezone` and every client's
/// own. The quiet facts carry no audience, so a subject is quiet only when
/// no step is due in any of them (the recipient's zone is among them).
async fn zones(store: &Store, settings: &AlertSettings) -> Result<Vec<Tz>, StoreError> {
    let mut zones = store.client_zones().await?;
    zones.push(settings.timezone);
    zones.sort_by_key(|z| z.name());
    zones.dedup();
    Ok(zones)
}

pub async fn endpoints_to_evaluate(
    store: &Store,
    settings: &AlertSettings,
    recorded: &[(i64, &[CertObservation])],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let seen = crate::store::format_time(now);
    let current = recorded
        .iter()
        .map(|(id, observations)| {
            let mut certs: Vec<CurrentCert> = observations
                .iter()
                .map(|obs| current_cert(obs, &seen))
                .collect();
            certs.sort_by(|a, b| a.address.cmp(&b.address));
            (*id, certs)
        })
        .collect();
    let facts = store.endpoint_quiet_facts(current).await?;
    let zones = zones(store, settings).await?;
    Ok(facts
        .iter()
        .filter(|(facts, firing)| !endpoint_is_quiet(settings, facts, *firing, (now, &zones)))
        .map(|(facts, _)| facts.endpoint_id)
        .collect())
}

/// A just-recorded observation as the current row it became (recorded at
/// `seen`), with only the parts of `details` the quiet test reads: the
/// findings and the leaf's not-before.
fn current_cert(obs: &CertObservation, seen: &str) -> CurrentCert {
    let part = |pointer: &str| {
        obs.details
            .pointer(pointer)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    CurrentCert {
        address: obs.address.clone(),
        outcome: obs.outcome.label().to_ascii_lowercase(),
        leaf_fingerprint: obs.leaf_fingerprint.clone(),
        leaf_not_after: obs.leaf_not_after,
        chain_not_after: obs.chain_not_after,
        last_seen_at: seen.to_owned(),
        details: serde_json::json!({
            "findings": part("/findings"),
            "chain": [{"not_before": part("/chain/0/not_before")}],
        }),
    }
}

fn endpoint_is_quiet(
    settings: &AlertSettings,
    facts: &EndpointAlertFacts,
    firing: bool,
    (now, zones): (DateTime<Utc>, &[Tz]),
) -> bool {
    if firing || facts.streak.failures != 0 {
        return false;
    }
    // Not watched: with nothing firing and no streak, nothing to end.
    if !facts.watch.tls() {
        return true;
    }
    if !failure_lines(&facts.current).is_empty() {
        return false;
    }
    let (thresholds, adapt) = certificate_thresholds(settings, facts);
    let subject = expiring_certificate(&facts.current);
    zones.iter().all(|zone| {
        expiry_step(
            thresholds,
            adapt,
            subject.as_ref(),
            (None, false),
            &[],
            (now, *zone),
        )
        .is_empty()
    })
}

/// [`endpoints_to_evaluate`] for domains' registrations.
pub async fn domains_to_evaluate(
    store: &Store,
    settings: &AlertSettings,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let facts = store.domain_quiet_facts(ids).await?;
    let zones = zones(store, settings).await?;
    Ok(facts
        .iter()
        .filter(|(facts, firing)| !domain_is_quiet(settings, facts, *firing, (now, &zones)))
        .map(|(facts, _)| facts.domain_id)
        .collect())
}

fn domain_is_quiet(
    settings: &AlertSettings,
    facts: &DomainAlertFacts,
    firing: bool,
    (now, zones): (DateTime<Utc>, &[Tz]),
) -> bool {
    if firing || facts.streak.failures != 0 {
        return false;
    }
    if !facts.watch.registration() {
        return true;
    }
    if !needs_date_step(facts.needs_date, None).is_empty() {
        return false;
    }
    let (thresholds, adapt) = registration_thresholds(settings, facts);
    let subject = registration_subject(facts);
    if !zones.iter().all(|zone| {
        expiry_step(
            thresholds,
            adapt,
            subject.as_ref(),
            (None, false),
            &[],
            (now, *zone),
        )
        .is_empty()
    }) {
        return false;
    }
    if facts.checked_at.is_some() {
        let state = registration_check_state(facts.outcome.as_deref(), &facts.statuses);
        let steps = failure_step(state, 0, settings.failures_before_alert, None, false, "");
        if state == CheckState::Failing || !steps.is_empty() {
            return false;
        }
    }
    if stale_rule_applies(facts) {
        let steps = stale_step(
            lookup_state(facts),
            last_fresh(facts),
            settings.registration_stale_after,
            None,
            now,
        );
        if !steps.is_empty() {
            return false;
        }
    }
    true
}
