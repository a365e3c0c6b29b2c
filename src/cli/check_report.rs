//! The report of a one-shot check, for a person at a terminal.
//!
//! One header line for the endpoint, then one line per address: verdict,
//! address, days left, issuer, not-after and TLS version, with the findings
//! indented below it. The JSON form is `serde_json` of the same
//! [`EndpointReport`]; nothing here is needed to read that.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::domain::certificate::{days_until, Severity};
use crate::probe::tls::{AddressResult, EndpointReport};

/// Renders `report` for a person; days left are counted from `now`.
pub fn render_human(report: &EndpointReport, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}:{} ({})  {}  checked {}",
        report.host,
        report.port,
        report.mode.label(),
        report.severity.label(),
        report.checked_at.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    let address_width = report
        .addresses
        .iter()
        .map(|result| result.address.to_string().len())
        .max()
        .unwrap_or(0);
    for result in &report.addresses {
        let _ = writeln!(out, "{}", address_line(result, address_width, now));
        // Without a certificate the first finding is already on the line.
        let shown_on_line = usize::from(result.leaf().is_none());
        for finding in result.findings.iter().skip(shown_on_line) {
            let _ = writeln!(out, "{:12}- {finding}", "");
        }
    }
    for finding in &report.findings {
        let _ = writeln!(out, "  {:<8}  {finding}", finding.severity().label());
    }
    if report.addresses.is_empty() && report.findings.is_empty() {
        let _ = writeln!(
            out,
            "  {:<8}  no address to check",
            Severity::Unknown.label()
        );
    }
    out
}

fn address_line(result: &AddressResult, address_width: usize, now: DateTime<Utc>) -> String {
    let mut line = format!(
        "  {:<8}  {:<width$}",
        result.severity.label(),
        result.address.to_string(),
        width = address_width
    );
    let Some(leaf) = result.leaf() else {
        // No certificate: the first finding says why, on this line.
        if let Some(first) = result.findings.first() {
            let _ = write!(line, "  {first}");
        }
        return line;
    };
    let _ = write!(
        line,
        "  {}  issuer {}  not after {}",
        days_phrase(now, leaf.not_after),
        leaf.issuer,
        leaf.not_after.format("%Y-%m-%d %H:%M UTC"),
    );
    if let Some(chain_expires_at) = result.chain_expires_at {
        if chain_expires_at < leaf.not_after {
            let _ = write!(line, " (chain {})", days_phrase(now, chain_expires_at));
        }
    }
    if let Some(version) = &result.tls_version {
        let _ = write!(line, "  {version}");
    }
    line
}

/// "41 days left", "expires today", "expired 3 days ago" (whole days,
/// rounded down, as in the findings).
fn days_phrase(now: DateTime<Utc>, not_after: DateTime<Utc>) -> String {
    if not_after <= now {
        return match days_until(not_after, now) {
            0 => "expired today".to_owned(),
            1 => "expired 1 day ago".to_owned(),
            n => format!("expired {n} days ago"),
        };
    }
    match days_until(now, not_after) {
        0 => "expires today".to_owned(),
        1 => "1 day left".to_owned(),
        n => format!("{n} days left"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::{Duration, TimeZone};

    #[test]
    fn days_read_naturally_and_round_down() {
        let now = Utc
            .with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
            .single()
            .expect("valid date");
        let cases = [
            (Duration::days(41) + Duration::hours(5), "41 days left"),
            (Duration::hours(30), "1 day left"),
            (Duration::hours(3), "expires today"),
            (Duration::hours(-3), "expired today"),
            (-Duration::hours(25), "expired 1 day ago"),
            (
                -(Duration::days(3) + Duration::hours(1)),
                "expired 3 days ago",
            ),
        ];
        for (offset, expected) in cases {
            assert_eq!(days_phrase(now, now + offset), expected, "{offset}");
        }
    }
}
