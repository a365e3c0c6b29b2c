//! The report of `lapse whois DOMAIN`, for a person: the facts, where each
//! came from, and what lapse can know about the TLD.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::registration::{Assessment, DateValue, SourcedDate};
use crate::probe::registration::{ExchangeOutcome, LookupReport};

fn date(d: &DateValue) -> String {
    match d {
        DateValue::Instant(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        DateValue::Date(d) => d.to_string(),
    }
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn sourced(d: &SourcedDate) -> String {
    format!("{}  ({}, {})", date(&d.date), d.source.label(), d.server)
}

/// Renders one lookup and its assessment.
pub fn render_human(display_name: &str, report: &LookupReport, a: &Assessment) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{display_name}");
    let _ = writeln!(out, "  capability    {}", a.capability.label());
    let _ = match &a.expires {
        Some(d) => writeln!(out, "  expires       {}", sourced(d)),
        None if a.not_found => writeln!(
            out,
            "  expires       -  (the registry says the domain does not exist)"
        ),
        None => writeln!(
            out,
            "  expires       unknown  (no source published one; never treated as expired)"
        ),
    };
    if let Some(d) = &a.disagreement {
        let _ = writeln!(
            out,
            "  disagreement  {} vs {}",
            sourced(&d.earliest),
            sourced(&d.latest)
        );
    }
    if let Some(c) = &a.manual_conflict {
        let _ = writeln!(
            out,
            "  manual date   {} differs from the published {}",
            c.manual,
            sourced(&c.published)
        );
    }
    if a.stale {
        let _ = writeln!(
            out,
            "  stale         no source answered this time; facts are the last known ones"
        );
    }
    if let Some(registrar) = &a.registrar {
        let id = a
            .registrar_iana_id
            .map(|id| format!(" (IANA {id})"))
            .unwrap_or_default();
        let _ = writeln!(out, "  registrar     {registrar}{id}");
    }
    if let Some(created) = &a.created {
        let _ = writeln!(out, "  created       {}", date(created));
    }
    if let Some(updated) = &a.updated {
        let _ = writeln!(out, "  updated       {}", date(updated));
    }
    if !a.status.is_empty() {
        let _ = writeln!(out, "  status        {}", a.status.join(", "));
    }
    if !a.nameservers.is_empty() {
        let _ = writeln!(out, "  nameservers   {}", a.nameservers.join(", "));
    }
    let _ = writeln!(out, "sources");
    for e in &report.exchanges {
        let what = match &e.outcome {
            ExchangeOutcome::Answered(f) => {
                let outcome = serde_json::to_value(f.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let what = match &f.expires {
                    Some(x) => format!("{outcome}, expires {}", date(x)),
                    None => outcome,
                };
                match f.cut_at_bytes {
                    Some(n) => format!(
                        "{what}; reply cut at {n} bytes (whois.max_bytes), read up to its last whole line"
                    ),
                    None => what,
                }
            }
            ExchangeOutcome::Failed(failure) => format!("failed: {failure}"),
        };
        let _ = writeln!(
            out,
            "  {:<15} {}  {}  (fetched {}, {} ms)",
            e.source.label(),
            e.server,
            what,
            time(&e.fetched_at),
            e.elapsed_ms
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// The raw replies, each under a header.
pub fn render_raw(report: &LookupReport) -> String {
    let mut out = String::new();
    for e in &report.exchanges {
        let Some(raw) = &e.raw else { continue };
        let _ = writeln!(
            out,
            "\n--- {} {} ({} bytes) ---",
            e.source.label(),
            e.server,
            raw.len()
        );
        let _ = writeln!(out, "{}", String::from_utf8_lossy(raw).trim_end());
    }
    out
}
