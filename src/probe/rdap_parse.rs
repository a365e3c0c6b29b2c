//! Turns an RDAP domain reply (RFC 9083 JSON) into the same [`RegistrationFacts`] the WHOIS parser
//! produces, and lists the registrar's RDAP URL a registry reply points to ([`rdap_related_links`]).
//!
//! Only the domain's own top-level `events` count: `expiration` -> `expires`, `registration` ->
//! `created`, `last changed` -> `updated`. Entities carry events of their own (a registrar's
//! `registrar expiration`, a contact's `last changed`); those are not the domain's.
//!
//! Outcomes: an RDAP error object with `errorCode` 404 is [`ParseOutcome::NotFound`], 429 is
//! [`ParseOutcome::RateLimited`]; a domain object without an `expiration` event is
//! [`ParseOutcome::NotPublished`] (e.g. .no); anything that is not JSON or not a domain is
//! [`ParseOutcome::Unparseable`]. `status` is kept as RDAP prints it (`client transfer prohibited`),
//! and `referral` stays `None`: the next hop in RDAP is a URL, given by [`rdap_related_links`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::dates::parse_date;
use crate::domain::registration::{DateValue, ParseOutcome, RegistrationFacts};

/// Parses one RDAP reply for `domain`.
pub fn parse_rdap(domain: &str, json: &[u8]) -> RegistrationFacts {
    let _ = domain; // The reply names its own domain; the argument keeps the WHOIS signature.
    let Ok(root) = serde_json::from_slice::<Value>(json) else {
        return RegistrationFacts::default();
    };
    let Some(object) = root.as_object() else {
        return RegistrationFacts::default();
    };

    if let Some(code) = object.get("errorCode").and_then(Value::as_u64) {
        let outcome = match code {
            404 => ParseOutcome::NotFound,
            429 => ParseOutcome::RateLimited,
            _ => ParseOutcome::Unparseable,
        };
        return RegistrationFacts {
            outcome,
            ..RegistrationFacts::default()
        };
    }

    let is_domain = object.get("objectClassName").and_then(Value::as_str) == Some("domain")
        || object.contains_key("ldhName");
    if !is_domain {
        return RegistrationFacts::default();
    }

    let registrar = object
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|entity| has_role(entity, "registrar"));

    let mut facts = RegistrationFacts {
        expires: event_date(&root, "expiration"),
        created: event_date(&root, "registration"),
        updated: event_date(&root, "last changed"),
        registrar: registrar.and_then(vcard_name),
        registrar_iana_id: registrar.and_then(iana_id),
        status: strings(root.get("status")),
        nameservers: nameservers(&root),
        referral: None,
        outcome: ParseOutcome::NotPublished,
        cut_at_bytes: None,
    };
    if facts.expires.is_some() {
        facts.outcome = ParseOutcome::Found;
    }
    facts
}

/// The `href` of every `rel: "related"` link that is RDAP (typed `application/rdap+json`, or
/// untyped): where a registry reply points to the registrar's own RDAP record of the domain.
pub fn rdap_related_links(json: &[u8]) -> Vec<String> {
    let Ok(root) = serde_json::from_slice::<Value>(json) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for link in root
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rel = link.get("rel").and_then(Value::as_str).unwrap_or("");
        let kind = link.get("type").and_then(Value::as_str);
        let is_rdap = kind.is_none_or(|k| k.eq_ignore_ascii_case("application/rdap+json"));
        if !rel.eq_ignore_ascii_case("related") || !is_rdap {
            continue;
        }
        if let Some(href) = link.get("href").and_then(Value::as_str) {
            if !out.iter().any(|h| h == href) {
                out.push(href.to_owned());
            }
        }
    }
    out
}

/// The date of the domain's own (top-level) event with this action.
fn event_date(root: &Value, action: &str) -> Option<DateValue> {
    root.get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.get("eventAction")
                .and_then(Value::as_str)
                .is_some_and(|a| a.eq_ignore_ascii_case(action))
        })
        .find_map(|e| {
            e.get("eventDate")
                .and_then(Value::as_str)
                .and_then(rdap_date)
        })
}

/// RFC 3339, as RDAP requires; registries that bend it (no zone, a bare date) go through the shared
/// date reader (`probe::dates`), which reads a zone-less time as UTC.
/// Fractions of a second are dropped, as the WHOIS reader does, so both give the same instant.
fn rdap_date(text: &str) -> Option<DateValue> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.timestamp(), 0))
        .map(DateValue::Instant)
        .or_else(|| parse_date(text))
}

fn has_role(entity: &Value, role: &str) -> bool {
    entity
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r.as_str().is_some_and(|r| r.eq_ignore_ascii_case(role)))
}

/// The entity's vCard `fn` (formatted name), else its `org`.
fn vcard_name(entity: &Value) -> Option<String> {
    let properties = entity.get("vcardArray")?.get(1)?.as_array()?;
    let property = |name: &str| {
        properties.iter().find_map(|p| {
            let p = p.as_array()?;
            if !p.first()?.as_str()?.eq_ignore_ascii_case(name) {
                return None;
            }
            let value = match p.get(3)? {
                Value::String(s) => s.trim().to_owned(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => return None,
            };
            (!value.trim().is_empty()).then_some(value)
        })
    };
    property("fn").or_else(|| property("org"))
}

/// The registrar's IANA id from `publicIds` (`{"type": "IANA Registrar ID", "identifier": "292"}`).
fn iana_id(entity: &Value) -> Option<u32> {
    entity.get("publicIds")?.as_array()?.iter().find_map(|id| {
        let kind = id.get("type")?.as_str()?;
        if !kind.to_ascii_lowercase().contains("iana") {
            return None;
        }
        match id.get("identifier")? {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
    })
}

fn strings(value: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let s = s.trim().to_owned();
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Name server host names (`ldhName`, else `unicodeName`), lower case, no trailing dot.
fn nameservers(root: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ns in root
        .get("nameservers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = ns
            .get("ldhName")
            .or_else(|| ns.get("unicodeName"))
            .and_then(Value::as_str);
        if let Some(name) = name {
            let name = name.trim().trim_end_matches('.').to_lowercase();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::probe::corpus::{self, Score};

    fn utc(s: &str) -> DateValue {
        DateValue::Instant(
            DateTime::parse_from_rfc3339(s)
                .expect("test instant")
                .with_timezone(&Utc),
        )
    }

    const DOMAIN: &str = r#"{
      "objectClassName": "domain",
      "ldhName": "EXAMPLE.COM",
      "status": ["client transfer prohibited", "client transfer prohibited", "active"],
      "events": [
        {"eventAction": "registration", "eventDate": "1997-09-15T04:00:00Z"},
        {"eventAction": "expiration", "eventDate": "2028-09-13T21:00:00-07:00"},
        {"eventAction": "last changed", "eventDate": "2019-09-09T15:39:04Z"},
        {"eventAction": "last update of RDAP database", "eventDate": "2024-01-01T00:00:00Z"}
      ],
      "entities": [
        {"objectClassName": "entity", "roles": ["registrant"],
         "events": [{"eventAction": "expiration", "eventDate": "2001-01-01T00:00:00Z"}],
         "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Someone Else"]]]},
        {"objectClassName": "entity", "roles": ["sponsor", "registrar"],
         "publicIds": [{"type": "IANA Registrar ID", "identifier": "292"}],
         "events": [{"eventAction": "registrar expiration", "eventDate": "2030-01-01T00:00:00Z"}],
         "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "MarkMonitor Inc."]]]}
      ],
      "nameservers": [
        {"objectClassName": "nameserver", "ldhName": "NS1.GOOGLE.COM."},
        {"objectClassName": "nameserver", "ldhName": "ns2.google.com"}
      ],
      "links": [
        {"rel": "self", "href": "https://rdap.verisign.com/com/v1/domain/EXAMPLE.COM", "type": "application/rdap+json"},
        {"rel": "related", "href": "https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM", "type": "application/rdap+json"},
        {"rel": "related", "href": "https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM", "type": "application/rdap+json"},
        {"rel": "related", "href": "https://www.markmonitor.com/", "type": "text/html"}
      ]
    }"#;

    #[test]
    fn rdap_domain_reads_top_level_events_only() {
        let f = parse_rdap("example.com", DOMAIN.as_bytes());
        assert_eq!(f.outcome, ParseOutcome::Found);
        assert_eq!(
            f.expires,
            Some(utc("2028-09-14T04:00:00Z")),
            "the entities' expirations are not the domain's"
        );
        assert_eq!(f.created, Some(utc("1997-09-15T04:00:00Z")));
        assert_eq!(f.updated, Some(utc("2019-09-09T15:39:04Z")));
        assert_eq!(f.status, vec!["client transfer prohibited", "active"]);
        assert_eq!(f.nameservers, vec!["ns1.google.com", "ns2.google.com"]);
        assert_eq!(f.referral, None);
    }

    #[test]
    fn rdap_registrar_from_vcard_fn_and_iana_id() {
        let f = parse_rdap("example.com", DOMAIN.as_bytes());
        assert_eq!(f.registrar.as_deref(), Some("MarkMonitor Inc."));
        assert_eq!(f.registrar_iana_id, Some(292));
    }

    #[test]
    fn rdap_related_links_are_the_registrar_rdap_urls() {
        assert_eq!(
            rdap_related_links(DOMAIN.as_bytes()),
            vec!["https://rdap.markmonitor.com/rdap/domain/EXAMPLE.COM"]
        );
        assert!(rdap_related_links(b"not json").is_empty());
    }

    #[test]
    fn rdap_without_expiration_is_not_published() {
        let json = r#"{"objectClassName": "domain", "ldhName": "norway.no",
            "events": [{"eventAction": "registration", "eventDate": "2017-01-24T12:09:23Z"}]}"#;
        let f = parse_rdap("norway.no", json.as_bytes());
        assert_eq!(f.outcome, ParseOutcome::NotPublished);
        assert_eq!(f.expires, None);
        assert_eq!(
            f.created.map(|d| d.day()),
            NaiveDate::from_ymd_opt(2017, 1, 24)
        );
    }

    #[test]
    fn rdap_lenient_dates() {
        let json = r#"{"objectClassName": "domain", "events": [{"eventAction": "expiration", "eventDate": "2030-02-03"}]}"#;
        let f = parse_rdap("x.example", json.as_bytes());
        assert_eq!(
            f.expires,
            Some(DateValue::Date(
                NaiveDate::from_ymd_opt(2030, 2, 3).expect("date")
            ))
        );
    }

    #[test]
    fn rdap_errors_and_garbage() {
        let cases: &[(&str, ParseOutcome)] = &[
            (
                r#"{"errorCode": 404, "title": "Not Found"}"#,
                ParseOutcome::NotFound,
            ),
            (
                r#"{"errorCode": 429, "title": "Too Many Requests"}"#,
                ParseOutcome::RateLimited,
            ),
            (
                r#"{"errorCode": 500, "title": "Internal Server Error"}"#,
                ParseOutcome::Unparseable,
            ),
            (
                r#"{"objectClassName": "entity"}"#,
                ParseOutcome::Unparseable,
            ),
            ("[1, 2, 3]", ParseOutcome::Unparseable),
            ("<html>502</html>", ParseOutcome::Unparseable),
            ("", ParseOutcome::Unparseable),
        ];
        for (json, outcome) in cases {
            let f = parse_rdap("x.example", json.as_bytes());
            assert_eq!(f.outcome, *outcome, "{json}");
            assert_eq!(f.expires, None);
        }
    }

    #[test]
    fn corpus_rdap_accuracy_is_perfect() {
        let cases = corpus::cases(".rdap.json");
        assert!(
            !cases.is_empty(),
            "expected RDAP cases under {}",
            corpus::CORPUS
        );
        let mut score = Score::default();
        for case in &cases {
            let domain = case
                .expected
                .get("domain")
                .and_then(Value::as_str)
                .unwrap_or("");
            let raw = std::fs::read(&case.raw).expect("raw reply is readable");
            score.add(case, &parse_rdap(domain, &raw));
        }
        score.report("rdap corpus");
        assert_eq!(score.expires.0, score.expires.1, "expires");
        assert_eq!(score.created.0, score.created.1, "created");
        assert_eq!(score.updated.0, score.updated.1, "updated");
        assert_eq!(score.registrar.0, score.registrar.1, "registrar");
    }
}
