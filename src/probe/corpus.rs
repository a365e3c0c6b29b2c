//! Test-only: the shared reply corpus (`tests/corpus`) for the WHOIS and RDAP parser tests, and
//! its scoring. Scores follow the corpus's `score.py`: an instant is compared by its UTC day; a
//! bare date is also accepted when it equals the day printed by the registry (`*_local`);
//! `expires_alt` lists further accepted answers (`null` allowed); an expected `null` expiry is
//! matched only by `None`; registrar names match after lower-casing and dropping punctuation, or
//! when one contains the other (4+ characters).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::domain::registration::{DateValue, RegistrationFacts};

pub(crate) const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// One case: the raw reply and its expected values.
pub(crate) struct Case {
    pub name: String,
    pub raw: PathBuf,
    pub expected: Value,
}

/// Every case under the corpus whose raw reply ends in `raw_suffix` (`.txt` or `.rdap.json`).
pub(crate) fn cases(raw_suffix: &str) -> Vec<Case> {
    let root = Path::new(CORPUS);
    assert!(root.is_dir(), "corpus directory {CORPUS} is missing");
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).expect("corpus directory is readable");
        for entry in entries {
            let path = entry.expect("corpus entry is readable").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let file_name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            if !file_name.ends_with(".json") || file_name.ends_with(".rdap.json") {
                continue;
            }
            let stem = file_name.trim_end_matches(".json");
            let raw = path.with_file_name(format!("{stem}{raw_suffix}"));
            if !raw.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("expected values are readable");
            let expected: Value = serde_json::from_str(&text).expect("expected values are JSON");
            out.push(Case {
                name: stem.to_owned(),
                raw,
                expected,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn day_of(value: &DateValue) -> (String, bool) {
    match value {
        DateValue::Instant(t) => (t.date_naive().to_string(), false),
        DateValue::Date(d) => (d.to_string(), true),
    }
}

/// `None` when the field is not scored for this case, else whether `got` is right.
pub(crate) fn date_ok(
    got: Option<&DateValue>,
    expected: &Value,
    field: &str,
    is_expiry: bool,
) -> Option<bool> {
    let exp = expected.get(field).and_then(Value::as_str);
    if exp.is_none() && !is_expiry {
        return None;
    }
    let local = expected
        .get(format!("{field}_local"))
        .and_then(Value::as_str);
    let alts: Vec<&Value> = if is_expiry {
        expected
            .get(format!("{field}_alt"))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let null_ok = exp.is_none() || alts.iter().any(|a| a.is_null());
    let Some(got) = got else { return Some(null_ok) };
    let (day, bare) = day_of(got);
    let accepted = exp
        .into_iter()
        .chain(alts.iter().filter_map(|a| a.as_str()));
    let mut ok = false;
    for a in accepted {
        ok |= a == day;
    }
    Some(ok || (bare && local == Some(day.as_str())))
}

fn norm_text(s: &str) -> String {
    let lower = s.to_lowercase();
    let mapped: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                ' '
            }
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn registrar_ok(got: Option<&str>, expected: &Value) -> Option<bool> {
    let exp = expected
        .get("registrar")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let Some(got) = got.map(norm_text).filter(|s| !s.is_empty()) else {
        return Some(false);
    };
    let alts = expected.get("registrar_alt").and_then(Value::as_array);
    let names = std::iter::once(exp).chain(alts.into_iter().flatten().filter_map(Value::as_str));
    for name in names {
        let n = norm_text(name);
        if n.is_empty() {
            continue;
        }
        if n == got || (n.len().min(got.len()) >= 4 && (n.contains(&got) || got.contains(&n))) {
            return Some(true);
        }
    }
    Some(false)
}

/// Hits and totals per field.
#[derive(Default)]
pub(crate) struct Score {
    pub expires: (usize, usize),
    pub created: (usize, usize),
    pub updated: (usize, usize),
    pub registrar: (usize, usize),
    pub failures: Vec<String>,
}

impl Score {
    pub(crate) fn add(&mut self, case: &Case, got: &RegistrationFacts) {
        let tally = |slot: &mut (usize, usize),
                     ok: Option<bool>,
                     what: &str,
                     failures: &mut Vec<String>| {
            if let Some(ok) = ok {
                slot.1 += 1;
                if ok {
                    slot.0 += 1;
                } else {
                    failures.push(format!("{} {what}", case.name));
                }
            }
        };
        let e = &case.expected;
        tally(
            &mut self.expires,
            date_ok(got.expires.as_ref(), e, "expires", true),
            "expires",
            &mut self.failures,
        );
        tally(
            &mut self.created,
            date_ok(got.created.as_ref(), e, "created", false),
            "created",
            &mut self.failures,
        );
        tally(
            &mut self.updated,
            date_ok(got.updated.as_ref(), e, "updated", false),
            "updated",
            &mut self.failures,
        );
        tally(
            &mut self.registrar,
            registrar_ok(got.registrar.as_deref(), e),
            "registrar",
            &mut self.failures,
        );
    }

    pub(crate) fn ratio(field: (usize, usize)) -> f64 {
        if field.1 == 0 {
            1.0
        } else {
            field.0 as f64 / field.1 as f64
        }
    }

    pub(crate) fn report(&self, title: &str) {
        println!(
            "{title}: expires {}/{}, created {}/{}, updated {}/{}, registrar {}/{}",
            self.expires.0,
            self.expires.1,
            self.created.0,
            self.created.1,
            self.updated.0,
            self.updated.1,
            self.registrar.0,
            self.registrar.1
        );
        for f in &self.failures {
            println!("  miss: {f}");
        }
    }
}
