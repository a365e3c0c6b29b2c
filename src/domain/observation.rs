//! Observations as the store keeps them: one per endpoint and address, with
//! a hash of what matters so that an unchanged result refreshes `last_seen`
//! instead of adding a row.
//!
//! The hash leaves out what changes every day without anything happening
//! (`days_left`, `days_ago`, durations), so a certificate that is simply one
//! day older is "unchanged".

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::certificate::Severity;

/// One certificate check result, for one address of one endpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CertObservation {
    /// The IP address checked, or `""` for findings about the endpoint as a
    /// whole (DNS failure, addresses disagreeing).
    pub address: String,
    pub outcome: Severity,
    pub leaf_fingerprint: Option<String>,
    pub leaf_not_after: Option<DateTime<Utc>>,
    /// Earliest expiry on the chain that validates.
    pub chain_not_after: Option<DateTime<Utc>>,
    /// SHA-256 (hex) of the stable part of `details`.
    pub result_hash: String,
    /// Everything seen: chain, findings, TLS version.
    pub details: serde_json::Value,
}

/// Keys whose values drift with time alone and must not make a result "new".
const DRIFTING_KEYS: &[&str] = &["days_left", "days_ago", "duration_ms", "checked_at"];

/// The hash of `details` without the drifting keys.
pub fn stable_hash(details: &serde_json::Value) -> String {
    let mut stable = details.clone();
    strip_drifting(&mut stable);
    hex::encode(Sha256::digest(stable.to_string().as_bytes()))
}

fn strip_drifting(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !DRIFTING_KEYS.contains(&k.as_str()));
            map.values_mut().for_each(strip_drifting);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_drifting),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_day_older_is_unchanged() {
        let today = json!({"findings": [{"kind": "expiring", "days_left": 5}], "duration_ms": 12});
        let tomorrow =
            json!({"findings": [{"kind": "expiring", "days_left": 4}], "duration_ms": 40});
        assert_eq!(stable_hash(&today), stable_hash(&tomorrow));
    }

    #[test]
    fn a_new_finding_or_certificate_is_a_change() {
        let before = json!({"chain": [{"sha256": "aa"}], "findings": []});
        let renewed = json!({"chain": [{"sha256": "bb"}], "findings": []});
        let mismatch =
            json!({"chain": [{"sha256": "aa"}], "findings": [{"kind": "name_mismatch"}]});
        assert_ne!(stable_hash(&before), stable_hash(&renewed));
        assert_ne!(stable_hash(&before), stable_hash(&mismatch));
    }
}
