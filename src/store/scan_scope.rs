//! [`ScanScope`]: what a scan covers, the one type behind `scans.scope`,
//! used by the engine, the CLI, the scheduler and the API alike.
//!
//! Stored as JSON tagged by `scope`: `{"scope":"all"}`,
//! `{"scope":"client","client_id":3}`, `{"scope":"domain","domain_id":9}`,
//! `{"scope":"due"}`. Only ids are stored; the names the API shows (and
//! the client a domain scan belongs to) are joined in when read.
//!
//! Rows written before there was one type still read: the API once wrote
//! `{"kind":"client","client_id":3,"client":"Acme"}` and
//! `{"kind":"domain","domain_id":9,"domain":"example.com","client_id":3}`
//! (the names and the client are ignored now). A scope in neither shape is
//! an error ([`super::StoreError::UnreadableScanScope`]), never read as `all`.

/// What a scan covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum ScanScope {
    /// Every endpoint; registrations that are due.
    All,
    /// Every endpoint of one client; its registrations that are due.
    Client { client_id: i64 },
    /// Every endpoint of one domain, and its registration.
    Domain { domain_id: i64 },
    /// Only what is due now: new endpoints and domains, failed checks to retry.
    Due,
}

/// The shape the API wrote before the engine and the API shared
/// [`ScanScope`]; extra fields (names, the domain's client) are ignored.
#[derive(serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ApiShape {
    All,
    Client { client_id: i64 },
    Domain { domain_id: i64 },
}

impl ScanScope {
    /// The JSON stored in `scans.scope`.
    pub(crate) fn to_stored(self) -> String {
        serde_json::to_string(&self).expect("a scan scope serialises")
    }

    /// Reads `scans.scope`, in the current shape or the API's older one;
    /// `None` when it is in neither.
    pub(crate) fn from_stored(text: &str) -> Option<Self> {
        if let Ok(scope) = serde_json::from_str(text) {
            return Some(scope);
        }
        match serde_json::from_str(text).ok()? {
            ApiShape::All => Some(Self::All),
            ApiShape::Client { client_id } => Some(Self::Client { client_id }),
            ApiShape::Domain { domain_id } => Some(Self::Domain { domain_id }),
        }
    }

    /// As [`Self::from_stored`], an unreadable scope as the error naming the scan.
    pub(crate) fn read(scan_id: i64, text: &str) -> Result<Self, super::StoreError> {
        Self::from_stored(text).ok_or_else(|| super::StoreError::UnreadableScanScope {
            scan_id,
            stored: text.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_stored_shape() {
        for (scope, stored) in [
            (ScanScope::All, r#"{"scope":"all"}"#),
            (
                ScanScope::Client { client_id: 3 },
                r#"{"scope":"client","client_id":3}"#,
            ),
            (
                ScanScope::Domain { domain_id: 9 },
                r#"{"scope":"domain","domain_id":9}"#,
            ),
            (ScanScope::Due, r#"{"scope":"due"}"#),
        ] {
            assert_eq!(scope.to_stored(), stored);
            assert_eq!(ScanScope::from_stored(stored), Some(scope), "{stored}");
        }
    }

    #[test]
    fn rows_in_the_apis_older_shape_still_read() {
        for (stored, scope) in [
            (r#"{"kind":"all"}"#, ScanScope::All),
            (
                r#"{"kind":"client","client_id":3,"client":"Acme"}"#,
                ScanScope::Client { client_id: 3 },
            ),
            (
                r#"{"kind":"domain","domain_id":9,"domain":"example.com","client_id":3}"#,
                ScanScope::Domain { domain_id: 9 },
            ),
            (
                r#"{"kind":"domain","domain_id":9,"domain":"example.com","client_id":null}"#,
                ScanScope::Domain { domain_id: 9 },
            ),
        ] {
            assert_eq!(ScanScope::from_stored(stored), Some(scope), "{stored}");
        }
    }

    #[test]
    fn a_scope_in_no_known_shape_is_an_error_not_all() {
        for stored in [
            "",
            "all",
            "{}",
            r#"{"scope":"everything"}"#,
            r#"{"scope":"client"}"#,
            r#"{"kind":"client","client":"Acme"}"#,
            r#"{"kind":"due"}"#,
        ] {
            assert_eq!(ScanScope::from_stored(stored), None, "{stored}");
        }
        let error = ScanScope::read(7, r#"{"scope":"everything"}"#).unwrap_err();
        assert!(matches!(
            error,
            crate::store::StoreError::UnreadableScanScope { scan_id: 7, .. }
        ));
    }
}
