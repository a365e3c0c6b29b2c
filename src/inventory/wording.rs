//! How storing a target reads to a person, in the words `lapse domains add`
//! and `lapse domains import` print and the web pages show: what was
//! stored, what is watched, who owns the registration, what the registry
//! publishes, and the command that changes each.

use std::fmt::Write as _;

use crate::domain::fleet::{OwnerKind, Watch};
use crate::domain::names::to_unicode;
use crate::store::AddedTarget;

/// What one `add` did, on one line per fact; `capability` is what the
/// registry of the domain's suffix publishes, when a lookup has told.
pub fn describe_added(added: &AddedTarget, capability: Option<&str>) -> String {
    let domain = to_unicode(&added.domain);
    let mut out = match added.port {
        Some(port) => {
            let endpoint = format!("{}:{port}", to_unicode(&added.host));
            let mode = added.tls_mode.as_deref().unwrap_or("direct");
            let client = added
                .client
                .as_deref()
                .map(|c| format!(", client {c}"))
                .unwrap_or_default();
            if added.changed() {
                format!("stored endpoint {endpoint} under domain {domain}{client} (TLS: {mode})")
            } else {
                format!("unchanged: endpoint {endpoint} under domain {domain}{client} (already watched, TLS: {mode})")
            }
        }
        None if added.changed() => format!("stored domain {domain} (registration only)"),
        None => format!("unchanged: domain {domain} (already watched, registration only)"),
    };
    let _ = write!(out, "\n  watching: {}", watching(added.watch));
    if let Some(was) = added.watch_was {
        let _ = write!(out, " (was: {})", watching(was));
    }
    if added.domain_created
        && added.watch == Watch::Both
        && added.port.is_some()
        && added.host == added.domain
    {
        let _ = write!(
            out,
            "\n  for the registration alone (no TLS service here): lapse domains watch {domain} registration"
        );
    }
    let _ = write!(
        out,
        "\n  registration owner: {}",
        owner(
            added.registration_owner,
            added.registration_client.as_deref()
        )
    );
    if added.registration_owner == OwnerKind::None && added.watch == Watch::Tls {
        let _ = write!(
            out,
            " (a platform's registration: the platform renews it, so lapse does not watch it)"
        );
    }
    if added.watch.registration() {
        let suffix = added.domain.split_once('.').map_or("", |(_, s)| s);
        let _ = write!(
            out,
            "\n  .{suffix}: {}",
            capability_text(capability, &domain)
        );
    }
    out
}

pub fn watching(watch: Watch) -> &'static str {
    match watch {
        Watch::Both => "registration and endpoints",
        Watch::Registration => "registration only",
        Watch::Tls => "endpoints only (registration not watched)",
    }
}

pub fn owner(kind: OwnerKind, client: Option<&str>) -> String {
    match (kind, client) {
        (OwnerKind::Client, Some(name)) => format!("client {name}"),
        (OwnerKind::Client, None) | (OwnerKind::Agency, _) => "agency".to_owned(),
        (OwnerKind::None, _) => "nobody".to_owned(),
    }
}

fn capability_text(capability: Option<&str>, domain: &str) -> String {
    match capability {
        Some("rdap_with_expiry") => "RDAP publishes the expiry".to_owned(),
        Some("whois_only") => "WHOIS only (no RDAP expiry)".to_owned(),
        Some("nothing_published") => format!(
            "nothing published: enter the date by hand with `lapse domains set-expiry {domain} YYYY-MM-DD`"
        ),
        _ => "what the registry publishes is not known yet (the first lookup tells; see `lapse domains list`)".to_owned(),
    }
}
