//! `/metrics`: Prometheus text exposition (format 0.0.4), rendered from the
//! database at scrape time, so every instance reports the same figures and a
//! restart loses nothing. Counters are sums over the recorded scans.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `lapse_certificate_not_after_seconds` | gauge | host, port, address |
//! | `lapse_certificate_days_left` | gauge | host, port, address |
//! | `lapse_domain_expiry_seconds` | gauge | domain, source |
//! | `lapse_domain_expiry_days_left` | gauge | domain (the assessed expiry) |
//! | `lapse_domains` | gauge | status (every [`DomainStatus`], `needs_date` and `not_found` among them) |
//! | `lapse_endpoints` | gauge | (checked: not those under a registration-only domain) |
//! | `lapse_checks_total` | counter | outcome |
//! | `lapse_scan_duration_seconds` | histogram | |
//! | `lapse_scans` | gauge | state |
//! | `lapse_outbox_messages` | gauge | state |
//! | `lapse_outbox_depth` | gauge | (pending + sending) |
//! | `lapse_alerts_firing` | gauge | kind |
//! | `lapse_scheduler_heartbeat_age_seconds` | gauge | (absent before the first beat) |
//! | `lapse_instances` | gauge | (instances that beat lately, [`super::LIVE_WITHIN`] or the readiness age) |
//! | `lapse_instance_heartbeat_age_seconds` | gauge | instance |
//! | `lapse_instance_leases` | gauge | instance, kind (`scan_items`, `outbox`: the work it holds) |
//!
//! What is not watched is not exported: no certificate of a domain watched
//! for its registration alone, no registration of one watched for its
//! endpoints alone.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::auth::authenticate;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::ApiState;
use crate::domain::access::Action;
use crate::domain::status::DomainStatus;
use crate::store::read_models::MetricsFacts;
use crate::store::{parse_time, InstanceView};

/// Upper bounds of the scan duration histogram, in seconds.
const SCAN_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// Prometheus metrics. Needs an admin, staff or viewer token unless
/// `api.metrics_require_token = false`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String,
               description = "Prometheus text format 0.0.4"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn metrics(State(state): State<ApiState>, headers: HeaderMap) -> ApiResult<Response> {
    if state.settings.api.metrics_require_token {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "send a viewer (or staff, admin) token as `Authorization: Bearer <token>`, or set api.metrics_require_token = false",
                )
            })?;
        authenticate(&state, token)
            .await?
            .require(Action::ReadAll)?;
    }
    let now = state.now();
    let facts = state.store.metrics_facts(&state.windows(now)).await?;
    let live = state
        .store
        .live_instances(now - super::live_within(&state), now)
        .await?;
    let mut text = render(&facts, now);
    instances(&mut text, &live, now);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// The exposition text: one family after another, in the order of the table above.
pub fn render(facts: &MetricsFacts, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(128 + facts.certificates.len() * 200);
    certificate_expiries(&mut out, facts, now);
    registration_expiries(&mut out, facts, now);
    inventory(&mut out, facts);
    check_outcomes(&mut out, facts);
    scan_durations(&mut out, facts);
    scans(&mut out, facts);
    outbox(&mut out, facts);
    alerts_firing(&mut out, facts);
    scheduler_heartbeat(&mut out, facts, now);
    out
}

/// A stored time as Unix seconds (`None`: unreadable, the sample is left out).
fn unix_seconds(at: &str) -> Option<i64> {
    parse_time(at).map(|t| t.timestamp())
}

/// Days from `now` to a stored time, with a fraction (negative when past).
fn days_left(at: &str, now: DateTime<Utc>) -> Option<f64> {
    parse_time(at).map(|t| (t - now).num_seconds() as f64 / 86_400.0)
}

/// `lapse_certificate_not_after_seconds` and `lapse_certificate_days_left`.
fn certificate_expiries(out: &mut String, facts: &MetricsFacts, now: DateTime<Utc>) {
    // (labels, not-after) per certificate, for both families.
    let certificates: Vec<(String, &str)> = facts
        .certificates
        .iter()
        .map(|c| {
            let labels = labels(&[
                ("host", &c.host),
                ("port", &c.port.to_string()),
                ("address", &c.address),
            ]);
            (labels, c.not_after.as_str())
        })
        .collect();
    describe(
        out,
        "lapse_certificate_not_after_seconds",
        "gauge",
        "Not-after of the current leaf certificate per endpoint and address, Unix seconds.",
    );
    for (labels, not_after) in &certificates {
        if let Some(s) = unix_seconds(not_after) {
            let _ = writeln!(out, "lapse_certificate_not_after_seconds{labels} {s}");
        }
    }
    describe(
        out,
        "lapse_certificate_days_left",
        "gauge",
        "Days until the current leaf certificate expires (negative when expired).",
    );
    for (labels, not_after) in &certificates {
        if let Some(d) = days_left(not_after, now) {
            let _ = writeln!(out, "lapse_certificate_days_left{labels} {}", number(d));
        }
    }
}

/// `lapse_domain_expiry_seconds` (per source) and `lapse_domain_expiry_days_left` (assessed).
fn registration_expiries(out: &mut String, facts: &MetricsFacts, now: DateTime<Utc>) {
    describe(out, "lapse_domain_expiry_seconds", "gauge",
        "Registration expiry per domain and source (registry_rdap, registrar_rdap, whois, manual), Unix seconds.");
    for r in &facts.registrations {
        if let Some(s) = unix_seconds(&r.expires_at) {
            let labels = labels(&[("domain", &r.domain), ("source", &r.source)]);
            let _ = writeln!(out, "lapse_domain_expiry_seconds{labels} {s}");
        }
    }
    describe(
        out,
        "lapse_domain_expiry_days_left",
        "gauge",
        "Days until the assessed registration expiry (the earliest credible date).",
    );
    for (domain, at) in &facts.assessed_registrations {
        if let Some(d) = days_left(at, now) {
            let _ = writeln!(
                out,
                "lapse_domain_expiry_days_left{} {}",
                labels(&[("domain", domain)]),
                number(d)
            );
        }
    }
}

/// `lapse_domains` (every status, zeros included) and `lapse_endpoints`.
fn inventory(out: &mut String, facts: &MetricsFacts) {
    describe(out, "lapse_domains", "gauge", "Watched domains by status.");
    for status in DomainStatus::ALL.map(DomainStatus::as_str) {
        let n = facts
            .domains_by_status
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "lapse_domains{} {n}", labels(&[("status", status)]));
    }
    describe(
        out,
        "lapse_endpoints",
        "gauge",
        "Watched endpoints (not those under a domain watched for its registration alone).",
    );
    let _ = writeln!(out, "lapse_endpoints {}", facts.endpoints);
}

/// `lapse_checks_total`.
fn check_outcomes(out: &mut String, facts: &MetricsFacts) {
    describe(
        out,
        "lapse_checks_total",
        "counter",
        "Check results by outcome, summed over every recorded scan.",
    );
    for (outcome, n) in &facts.check_outcomes {
        let _ = writeln!(
            out,
            "lapse_checks_total{} {n}",
            labels(&[("outcome", outcome)])
        );
    }
}

/// `lapse_scan_duration_seconds`: cumulative buckets, `+Inf`, sum and count.
fn scan_durations(out: &mut String, facts: &MetricsFacts) {
    describe(
        out,
        "lapse_scan_duration_seconds",
        "histogram",
        "Duration of finished scans.",
    );
    for bound in SCAN_BUCKETS {
        let n = facts
            .scan_durations_secs
            .iter()
            .filter(|d| **d <= bound)
            .count();
        let _ = writeln!(
            out,
            "lapse_scan_duration_seconds_bucket{} {n}",
            labels(&[("le", &number(bound))])
        );
    }
    let mut sum = 0.0;
    for d in &facts.scan_durations_secs {
        sum += d;
    }
    let count = facts.scan_durations_secs.len();
    let _ = writeln!(
        out,
        "lapse_scan_duration_seconds_bucket{} {count}",
        labels(&[("le", "+Inf")])
    );
    let _ = writeln!(out, "lapse_scan_duration_seconds_sum {}", number(sum));
    let _ = writeln!(out, "lapse_scan_duration_seconds_count {count}");
}

/// `lapse_scans`.
fn scans(out: &mut String, facts: &MetricsFacts) {
    describe(out, "lapse_scans", "gauge", "Recorded scans by state.");
    for (state, n) in &facts.scans_by_state {
        let _ = writeln!(out, "lapse_scans{} {n}", labels(&[("state", state)]));
    }
}

/// `lapse_outbox_messages` and `lapse_outbox_depth` (pending + sending).
fn outbox(out: &mut String, facts: &MetricsFacts) {
    describe(
        out,
        "lapse_outbox_messages",
        "gauge",
        "Outgoing messages by delivery state.",
    );
    let mut depth = 0;
    for (state, n) in &facts.outbox_by_state {
        if state == "pending" || state == "sending" {
            depth += n;
        }
        let _ = writeln!(
            out,
            "lapse_outbox_messages{} {n}",
            labels(&[("state", state)])
        );
    }
    describe(
        out,
        "lapse_outbox_depth",
        "gauge",
        "Messages waiting for delivery (pending or sending).",
    );
    let _ = writeln!(out, "lapse_outbox_depth {depth}");
}

/// `lapse_alerts_firing`.
fn alerts_firing(out: &mut String, facts: &MetricsFacts) {
    describe(
        out,
        "lapse_alerts_firing",
        "gauge",
        "Firing alerts by kind.",
    );
    for (kind, n) in &facts.alerts_firing_by_kind {
        let _ = writeln!(out, "lapse_alerts_firing{} {n}", labels(&[("kind", kind)]));
    }
}

/// `lapse_scheduler_heartbeat_age_seconds`, absent (family and all) before the first beat.
fn scheduler_heartbeat(out: &mut String, facts: &MetricsFacts, now: DateTime<Utc>) {
    let Some(at) = facts
        .scheduler_heartbeat
        .as_ref()
        .and_then(|beat| parse_time(&beat.beat_at))
    else {
        return;
    };
    describe(
        out,
        "lapse_scheduler_heartbeat_age_seconds",
        "gauge",
        "Seconds since the scheduler last recorded a heartbeat.",
    );
    let _ = writeln!(
        out,
        "lapse_scheduler_heartbeat_age_seconds {}",
        (now - at).num_seconds()
    );
}

/// `lapse_instances`, and per instance its heartbeat's age and the leases it holds.
pub fn instances(out: &mut String, live: &[InstanceView], now: DateTime<Utc>) {
    describe(
        out,
        "lapse_instances",
        "gauge",
        "Instances of lapse serve that beat lately on this database.",
    );
    let _ = writeln!(out, "lapse_instances {}", live.len());
    if live.is_empty() {
        return;
    }
    describe(
        out,
        "lapse_instance_heartbeat_age_seconds",
        "gauge",
        "Seconds since the instance last recorded its heartbeat.",
    );
    for i in live {
        if let Some(at) = parse_time(&i.beat_at) {
            let name = labels(&[("instance", &i.instance)]);
            let age = (now - at).num_seconds();
            let _ = writeln!(out, "lapse_instance_heartbeat_age_seconds{name} {age}");
        }
    }
    describe(
        out,
        "lapse_instance_leases",
        "gauge",
        "Work an instance holds under an unexpired lease: scan items, outbox messages.",
    );
    for i in live {
        for (kind, n) in [
            ("scan_items", i.scan_items_leased),
            ("outbox", i.outbox_leased),
        ] {
            let name = labels(&[("instance", &i.instance), ("kind", kind)]);
            let _ = writeln!(out, "lapse_instance_leases{name} {n}");
        }
    }
}

fn describe(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `{a="x",b="y"}` with values escaped (backslash, quote, newline).
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A sample value: integers without a fraction, others with up to 3 decimals.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{:.3}", v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::read_models::{CertificateMetric, RegistrationMetric};

    #[test]
    fn renders_conventional_names_with_escaped_labels() {
        let now = parse_time("2026-01-01T00:00:00Z").unwrap();
        let facts = MetricsFacts {
            certificates: vec![CertificateMetric {
                host: "www.example.com".into(),
                port: 443,
                address: "2001:db8::1".into(),
                not_after: "2026-01-31T00:00:00Z".into(),
            }],
            registrations: vec![RegistrationMetric {
                domain: "we\"ird.example".into(),
                source: "whois".into(),
                expires_at: "2027-01-01T00:00:00Z".into(),
            }],
            scan_durations_secs: vec![3.0, 100.0],
            outbox_by_state: vec![("pending".into(), 2), ("sent".into(), 9)],
            domains_by_status: vec![("needs_date".into(), 2), ("ok".into(), 5)],
            ..MetricsFacts::default()
        };
        let text = render(&facts, now);
        assert!(text.contains("# TYPE lapse_certificate_not_after_seconds gauge\n"));
        assert!(text.contains(
            "lapse_certificate_not_after_seconds{host=\"www.example.com\",port=\"443\",address=\"2001:db8::1\"} 1769817600\n"
        ), "{text}");
        assert!(text.contains("lapse_certificate_days_left{host=\"www.example.com\",port=\"443\",address=\"2001:db8::1\"} 30\n"));
        assert!(text.contains("lapse_domain_expiry_seconds{domain=\"we\\\"ird.example\",source=\"whois\"} 1798761600\n"));
        assert!(text.contains("lapse_scan_duration_seconds_bucket{le=\"5\"} 1\n"));
        assert!(text.contains("lapse_scan_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("lapse_scan_duration_seconds_sum 103\n"));
        assert!(text.contains("lapse_outbox_depth 2\n"));
        assert!(text.contains("lapse_domains{status=\"needs_date\"} 2\n"));
        assert!(text.contains("lapse_domains{status=\"not_found\"} 0\n"));
        assert!(text.contains("lapse_domains{status=\"ok\"} 5\n"));
    }
}
