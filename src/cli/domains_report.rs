//! How `lapse domains list` reads to a person: what is watched, who owns
//! it, what the registry publishes, and the command that changes each.
//! What `add` and `import` print is `inventory::wording` (the web pages
//! print the same words).

use std::fmt::Write as _;

use crate::domain::fleet::Watch;
pub use crate::inventory::wording::describe_added;
use crate::inventory::wording::owner;
use crate::store::DomainListing;

/// One domain and its endpoints for `domains list`.
pub fn describe_listing(d: &DomainListing) -> String {
    let registration = if !d.watch.registration() {
        "not watched".to_owned()
    } else if d.not_found() {
        "NOT FOUND at the registry".to_owned()
    } else if d.needs_date {
        format!(
            "needs a date (the registry publishes none): lapse domains set-expiry {} YYYY-MM-DD",
            d.display_name
        )
    } else {
        match (&d.expires_at, &d.expires_source) {
            (Some(at), Some(source)) => format!("expires {at} ({source})"),
            (Some(at), None) => format!("expires {at}"),
            (None, _) if d.registration_failure.is_some() => {
                "expiry unknown: the last lookup failed".to_owned()
            }
            (None, _) if d.registration_outcome.is_none() => "expiry not checked yet".to_owned(),
            (None, _) => format!(
                "expiry unknown (last lookup: {})",
                d.registration_outcome.as_deref().unwrap_or("-")
            ),
        }
    };
    let mut out = format!(
        "{}  [{}]  registration: {registration}  owner: {}\n",
        d.display_name,
        d.watch,
        owner(d.registration_owner, d.client.as_deref())
    );
    if let (true, Some(reason)) = (d.watch.registration(), &d.registration_failure) {
        let at = d.registration_checked_at.as_deref().unwrap_or("-");
        let _ = writeln!(out, "  last lookup failed ({at}): {reason}");
    }
    for e in &d.endpoints {
        let client = e.client.as_deref().unwrap_or("agency");
        let checked = if d.watch.tls() {
            ""
        } else {
            "  (not checked: registration-only)"
        };
        let _ = writeln!(
            out,
            "  {}:{}  {}  client: {client}{checked}",
            e.display_host, e.port, e.tls_mode
        );
    }
    if d.watch == Watch::Tls && d.endpoints.is_empty() {
        let _ = writeln!(
            out,
            "  nothing is checked: add an endpoint, `lapse domains watch {} registration`, or remove it",
            d.display_name
        );
    }
    out
}
