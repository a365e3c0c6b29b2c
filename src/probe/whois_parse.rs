//! Turns a raw WHOIS reply into [`RegistrationFacts`]: expiry, creation and update dates, registrar,
//! EPP status codes, name servers, the referral host, and an outcome ([`ParseOutcome`]).
//!
//! WHOIS has no schema. Every registry prints its own dialect, so this module is built from tables
//! rather than from one grammar:
//!
//! - `labels`: which printed labels mean "expiry", "created", "registrar", ... (matched on a
//!   normalised label, in every spelling and language we have seen), and how a registry says
//!   "no such domain" or "slow down";
//! - `probe::dates`: the date shapes, the registries that write `mm/dd/yyyy`, and how to turn a
//!   printed time into UTC (shared with the RDAP reader).
//!
//! A reply may hold several answers (the `whois` CLI prints `[Querying host]` headers, and thin
//! registries are followed by the registrar's answer). The registry answer comes first and wins: the
//! expiry is taken from the first answer that has one, and the other fields prefer that answer too.
//!
//! A failed or unknown lookup never produces an expiry: `expires` is `Some` exactly when the outcome
//! is [`ParseOutcome::Found`].

mod labels;
mod rate_limit;

use std::sync::LazyLock;

use regex::Regex;

use self::labels::{classify_label, normalize_label, Family, NOT_FOUND, RATE_LIMITED};
use super::dates::{order_hint, parse_date_with, DayOrder, RegistryDates};
use crate::domain::registration::{DateValue, ParseOutcome, RegistrationFacts};

pub use self::rate_limit::rate_limit_notice;

/// Parses one raw WHOIS reply for `domain` (used for the registry's TLD: date order and zone).
pub fn parse_whois(domain: &str, raw: &[u8]) -> RegistrationFacts {
    let read = read_reply(domain, raw);
    let outcome = decide_outcome(&read.text, &read.facts, read.mentions_domain);
    keep_for(outcome, read.facts)
}

/// Parses the first `raw.len()` bytes of a reply that went on (the client stopped reading at
/// `whois.max_bytes`). Only whole lines are read: the last one may stop inside a date
/// (`2026-08-1`) or a phrase (`No match` of `No matching ...`). A cut reply is never "not
/// published" (the expiry may lie past the cut), and "not found" only when the no-match text is
/// there and nothing before the cut describes the domain; otherwise, without an expiry before the
/// cut, it is unparseable. The facts say where it was cut.
pub fn parse_cut_whois(domain: &str, raw: &[u8]) -> RegistrationFacts {
    let whole = raw
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(&raw[..0], |end| &raw[..=end]);
    let read = read_reply(domain, whole);
    let outcome = match decide_outcome(&read.text, &read.facts, read.mentions_domain) {
        ParseOutcome::NotPublished => ParseOutcome::Unparseable,
        ParseOutcome::NotFound if describes(&read.facts, read.mentions_domain) => {
            ParseOutcome::Unparseable
        }
        outcome => outcome,
    };
    RegistrationFacts {
        cut_at_bytes: Some(raw.len()),
        ..keep_for(outcome, read.facts)
    }
}

/// A reply decoded and read, before its outcome is decided.
struct ReadReply {
    text: String,
    facts: RegistrationFacts,
    /// Some answer has a `Domain Name:`-style line with a value.
    mentions_domain: bool,
}

fn read_reply(domain: &str, raw: &[u8]) -> ReadReply {
    let text = decode(raw);
    let dialect = Dialect::for_domain(domain);
    let sections: Vec<SectionFacts> = split_answers(&text)
        .iter()
        .map(|answer| read_answer(answer, &dialect))
        .collect();
    ReadReply {
        facts: merge_answers(&sections),
        mentions_domain: sections.iter().any(|s| s.mentions_domain),
        text,
    }
}

/// The facts an outcome keeps: all of them when the reply describes the domain; otherwise a
/// failed or unknown lookup describes no registration (and never produces an expiry), and only
/// where the reply pointed us next is kept.
fn keep_for(outcome: ParseOutcome, facts: RegistrationFacts) -> RegistrationFacts {
    match outcome {
        ParseOutcome::Found | ParseOutcome::NotPublished => RegistrationFacts { outcome, ..facts },
        _ => RegistrationFacts {
            outcome,
            referral: facts.referral,
            ..RegistrationFacts::default()
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// UTF-8 where the bytes are valid UTF-8, otherwise Latin-1 (every byte is a code point), decided
/// line by line: registries that do not speak UTF-8 (.cl, .pt, .br, ...) speak ISO-8859-1, and a
/// registrar's Latin-1 answer may follow a registry's UTF-8 one. Lines that were encoded to UTF-8
/// twice (`Date de crÃ©ation`, a client that took UTF-8 for Latin-1) are repaired. Line endings
/// become `\n`.
fn decode(raw: &[u8]) -> String {
    let text = raw
        .split(|&b| b == b'\n')
        .map(|line| match std::str::from_utf8(line) {
            Ok(s) => undo_double_utf8(s),
            Err(_) => line.iter().map(|&b| b as char).collect(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.trim_start_matches('\u{feff}')
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

/// `crÃ©ation` -> `création`: when every character of a line fits in one byte and those bytes are
/// valid UTF-8 with multi-byte sequences, the line was UTF-8 read as Latin-1 and encoded again.
fn undo_double_utf8(line: &str) -> String {
    if line.is_ascii() || line.chars().any(|c| c as u32 > 0xff) {
        return line.to_owned();
    }
    let bytes: Vec<u8> = line.chars().map(|c| c as u32 as u8).collect();
    match String::from_utf8(bytes) {
        Ok(repaired) => repaired,
        Err(_) => line.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Registry dialects keyed by TLD
// ---------------------------------------------------------------------------------------------

/// What the queried domain tells us about the reply: itself (a name server list may name it) and
/// how its registry prints dates.
#[derive(Debug, Clone)]
struct Dialect {
    /// The queried domain, lower case, without a trailing dot.
    domain: String,
    dates: RegistryDates,
}

impl Dialect {
    fn for_domain(domain: &str) -> Dialect {
        let domain = domain.trim().trim_end_matches('.').to_lowercase();
        let dates = RegistryDates::for_domain(&domain);
        Dialect { domain, dates }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers (sections) and lines
// ---------------------------------------------------------------------------------------------

static QUERY_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[(?:Querying|Redirected to)\s+([^\]\s]+)\]$").expect("static regex")
});
static SERVER_ECHO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\]$").expect("static regex")
});
/// `# whois.nic.live`: how the `whois` client marks the next server's answer after IANA's.
static HASH_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^#\s*((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})$").expect("static regex")
});

/// Splits a reply at the `whois` CLI's `[Querying host]` (or `# host`) headers into one list of
/// lines per server answer. A reply without headers is one answer.
fn split_answers(text: &str) -> Vec<Vec<&str>> {
    let mut answers: Vec<Vec<&str>> = vec![Vec::new()];
    for line in text.lines() {
        let trimmed = line.trim();
        let starts_answer = (QUERY_HEADER.is_match(trimmed) && trimmed.starts_with("[Querying"))
            || HASH_HEADER.is_match(trimmed);
        if starts_answer {
            answers.push(Vec::new());
            continue;
        }
        if QUERY_HEADER.is_match(trimmed) || SERVER_ECHO.is_match(trimmed) {
            continue;
        }
        if let Some(current) = answers.last_mut() {
            current.push(line);
        }
    }
    answers.retain(|lines| lines.iter().any(|l| !l.trim().is_empty()));
    answers
}

/// The shape of one line.
#[derive(Debug)]
enum LineShape {
    /// `Label: value`, `Label.....: value`, `[Label]  value`.
    Labeled { label: String, value: String },
    /// Anything else (including `Record expires on 04-Jan-2016.`).
    Free(String),
}

static JP_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z]\.?\s+\[").expect("static regex"));
static BRACKET_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[\s*([^\]]+?)\s*\]\s*(.*)$").expect("static regex"));

static NESTED_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z][A-Za-z-]*):([^/].*)$").expect("static regex"));

/// JWhoisServer (.dz) separates label and value with `#` and dot leaders:
/// `Date de creation#. . . . . . .10/01/2007`.
static HASH_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\p{L}[^#:]{1,60}?)#[\s.]*(.*)$").expect("static regex"));
/// Form-style numbering before a label: `1a.        Domain Name : dha.gov.za`.
static ITEM_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,2}[a-z]?\.\s+").expect("static regex"));

fn shape_of(line: &str) -> LineShape {
    let mut s = line.trim();
    if let Some(m) = ITEM_NUMBER.find(s) {
        s = &s[m.end()..];
    }
    if let Some(caps) = HASH_LABEL.captures(s) {
        return LineShape::Labeled {
            label: caps[1].to_owned(),
            value: clean_value(&caps[2]),
        };
    }
    // JPRS `a. [Domain Name]` and .my `d [Record Expired]`: drop the item letter.
    if JP_PREFIX.is_match(s) {
        if let Some(pos) = s.find('[') {
            s = &s[pos..];
        }
    }
    if let Some(caps) = BRACKET_LABEL.captures(s) {
        return LineShape::Labeled {
            label: caps[1].to_owned(),
            value: clean_value(&caps[2]),
        };
    }
    // CNNIC and TWNIC print a full-width colon in their Chinese labels (`到期时间：2025-03-17`).
    let colon = s.char_indices().find(|(_, c)| *c == ':' || *c == '：');
    if let Some((pos, colon_char)) = colon {
        let after = pos + colon_char.len_utf8();
        let label = s[..pos].trim();
        let value = s[after..].trim();
        let plausible = !label.is_empty()
            && label.chars().count() <= 80
            && label.chars().any(char::is_alphabetic)
            && !label.contains("//");
        // In `Record expires on 2009-09-12 21:43:11.` the first colon is inside a time.
        let is_time = label.ends_with(|c: char| c.is_ascii_digit())
            && s[after..].starts_with(|c: char| c.is_ascii_digit());
        if plausible && !is_time {
            // .ma writes `domain:Created:20090324`: the key goes on after the first colon.
            if let Some(caps) = NESTED_KEY.captures(&s[after..]) {
                let label = format!("{label} {}", &caps[1]);
                return LineShape::Labeled {
                    label,
                    value: clean_value(&caps[2]),
                };
            }
            return LineShape::Labeled {
                label: label.to_owned(),
                value: clean_value(value),
            };
        }
    }
    LineShape::Free(s.to_owned())
}

/// Trims a value and strips the quotes some registries put around it.
fn clean_value(value: &str) -> String {
    value.trim().trim_matches('"').trim().to_owned()
}

fn indent_of(line: &str) -> usize {
    line.chars()
        .take_while(|c| c.is_whitespace())
        .map(|c| if c == '\t' { 8 } else { 1 })
        .sum()
}

/// Lines that are comments in every dialect that uses them.
fn is_comment(trimmed: &str) -> bool {
    trimmed.starts_with('%') || trimmed.starts_with('#') || trimmed.starts_with(">>>")
}

/// The lines under a label with no value on its own line: the indented ones (`Renewal date:` then
/// `\tWednesday 30th Mar 2011`, `Name servers:` then one host per line), or else the unlabelled ones
/// up to the next blank line. Blank lines right after the label are skipped before an indented block
/// (`Domain servers in listed order:` is followed by one), and before an unindented list of name
/// servers (.kg `Name servers in the listed order:`); other unindented values must follow at once.
fn block_under(lines: &[&str], at: usize, family: Family) -> Vec<String> {
    let own = indent_of(lines[at]);
    let mut out = Vec::new();
    let mut j = at + 1;
    while j < lines.len() && lines[j].trim().is_empty() {
        j += 1;
    }
    let first = if family == Family::NameServer {
        j
    } else {
        at + 1
    };
    while j < lines.len() {
        let line = lines[j];
        if line.trim().is_empty() || indent_of(line) <= own {
            break;
        }
        out.push(line.trim().to_owned());
        j += 1;
    }
    if out.is_empty() {
        // SWITCH (.ch/.li) and NASK (.pl) put the value on the next lines without indenting it:
        // `Registrar:` / `switchplus AG`, `First registration date:` / `1996-02-08`. Only lines that
        // are not themselves `label: value` belong to the label.
        j = first;
        while j < lines.len() {
            let line = lines[j].trim();
            if line.is_empty()
                || is_comment(line)
                || matches!(shape_of(line), LineShape::Labeled { .. })
            {
                break;
            }
            out.push(line.to_owned());
            j += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading one answer
// ---------------------------------------------------------------------------------------------

/// What one answer says, before merging answers.
#[derive(Debug, Default)]
struct SectionFacts {
    /// Registry-level expiry (first in the answer).
    expiry: Option<DateValue>,
    /// Registrar-level expiry, used when the answer has no registry expiry.
    registrar_expiry: Option<DateValue>,
    created: Option<DateValue>,
    updated: Option<DateValue>,
    registrar: Option<String>,
    registrar_iana_id: Option<u32>,
    status: Vec<String>,
    nameservers: Vec<String>,
    referral: Option<String>,
    /// The answer has a `Domain Name:`-style line with a value (for the outcome: a reply that
    /// describes a domain is not unparseable).
    mentions_domain: bool,
    /// IANA's record of a TLD: only its referral is about our domain.
    is_tld_record: bool,
    /// The label and line of the last update line read, to follow a run of `changed:` lines.
    updated_run: Option<(String, usize)>,
}

impl SectionFacts {
    fn best_expiry(&self) -> Option<DateValue> {
        self.expiry.or(self.registrar_expiry)
    }

    fn has_registration_data(&self) -> bool {
        self.best_expiry().is_some()
            || self.created.is_some()
            || self.updated.is_some()
            || self.registrar.is_some()
            || !self.nameservers.is_empty()
    }
}

static OK_UNTIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bok-until\s+(\d{8,14})").expect("static regex"));

/// One labelled value and where it sits, for [`record`].
struct Labelled<'a> {
    family: Family,
    /// The normalised label, to recognise a run of the same label (`changed:` repeated).
    label: String,
    value: &'a str,
    /// The lines under or after a label that has no value on its own line.
    block: &'a [String],
    /// The lines after this one, up to the next blank line.
    following: &'a [&'a str],
    order: DayOrder,
    line_index: usize,
}

fn read_answer(lines: &[&str], dialect: &Dialect) -> SectionFacts {
    let mut facts = SectionFacts::default();
    let mut skip_record = false;

    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            skip_record = false;
            continue;
        }
        if skip_record || is_comment(trimmed) {
            continue;
        }
        let following_end = lines[i + 1..]
            .iter()
            .position(|l| l.trim().is_empty())
            .map_or(lines.len(), |p| i + 1 + p);
        let following = &lines[i + 1..following_end];
        match shape_of(line) {
            LineShape::Labeled { label, value } => {
                let norm = normalize_label(&label);
                // Verisign's legacy answers list name-server host records (`Server Name:
                // IMDB.COM.MORE.INFO.AT...`) before the domain record; they are about other objects.
                if norm == "server name" {
                    skip_record = true;
                    continue;
                }
                let Some(family) = classify_label(&label) else {
                    continue;
                };
                // A YAML type tag (`registrar: !Registrar` then `  name: GOOGLE`) is not a value.
                let value = if value.starts_with('!') {
                    ""
                } else {
                    value.as_str()
                };
                let block = if value.is_empty() {
                    block_under(lines, i, family)
                } else {
                    Vec::new()
                };
                let order = order_hint(&label).unwrap_or(dialect.dates.order);
                let item = Labelled {
                    family,
                    label: norm,
                    value,
                    block: &block,
                    following,
                    order,
                    line_index: i,
                };
                record(&mut facts, &item, dialect);
            }
            LineShape::Free(text) => {
                // A bare heading over an indented block (.it `Registrar` then `  Organization: ...`).
                if let Some(family) = classify_label(&text) {
                    let block = block_under(lines, i, family);
                    if !block.is_empty() && family != Family::Ignore {
                        let item = Labelled {
                            family,
                            label: normalize_label(&text),
                            value: "",
                            block: &block,
                            following,
                            order: dialect.dates.order,
                            line_index: i,
                        };
                        record(&mut facts, &item, dialect);
                        continue;
                    }
                }
                read_free_date(&mut facts, &text, dialect);
            }
        }
    }

    facts.is_tld_record = is_tld_record(lines);
    facts
}

/// IANA's record of a TLD (`refer: whois.nic.live` and `domain: LIVE`), printed before the registry's
/// answer: its dates and contacts are the TLD's, only its referral is about our domain.
fn is_tld_record(lines: &[&str]) -> bool {
    let mut refers = false;
    let mut names_tld = false;
    for line in lines {
        if let LineShape::Labeled { label, value } = shape_of(line) {
            match label.to_ascii_lowercase().as_str() {
                "refer" => refers = true,
                "domain" if !value.is_empty() && !value.contains('.') => names_tld = true,
                _ => {}
            }
        }
    }
    refers && names_tld
}

/// Files one labelled value under its family. The first value of each family wins, except lists
/// and a run of repeated update lines.
fn record(facts: &mut SectionFacts, item: &Labelled<'_>, dialect: &Dialect) {
    let value = item.value;
    let block = item.block;
    let order = item.order;
    // Single-valued fields read the value on the line, or the first line of the block under it.
    let first = if value.is_empty() {
        block.first().map(String::as_str).unwrap_or("")
    } else {
        value
    };
    match item.family {
        Family::Ignore => {}
        Family::Expiry => {
            if facts.expiry.is_none() {
                facts.expiry = parse_date_with(first, order, &dialect.dates);
            }
        }
        Family::RegistrarExpiry => {
            if facts.registrar_expiry.is_none() {
                facts.registrar_expiry = parse_date_with(first, order, &dialect.dates);
            }
        }
        Family::Created => {
            if facts.created.is_none() {
                facts.created = parse_date_with(first, order, &dialect.dates);
            }
        }
        Family::Updated => record_update(facts, item, first, dialect),
        Family::Registrar => {
            if facts.registrar.is_none() {
                facts.registrar = registrar_name(value, block, item.following);
            }
        }
        Family::RegistrarIanaId => {
            if facts.registrar_iana_id.is_none() {
                let digits: String = first.chars().take_while(char::is_ascii_digit).collect();
                facts.registrar_iana_id = digits.parse().ok();
            }
        }
        Family::NameServer => {
            for source in line_or_block(value, block) {
                for host in nameserver_hosts(&source, &dialect.domain) {
                    if !facts.nameservers.contains(&host) {
                        facts.nameservers.push(host);
                    }
                }
            }
        }
        Family::Status => {
            for source in line_or_block(value, block) {
                // .ua prints the expiry inside the status: `status: OK-UNTIL 20131218000000`.
                if let Some(caps) = OK_UNTIL.captures(&source) {
                    if facts.expiry.is_none() {
                        facts.expiry = parse_date_with(&caps[1], order, &dialect.dates);
                    }
                }
                for code in status_codes(&source) {
                    if !facts.status.contains(&code) {
                        facts.status.push(code);
                    }
                }
            }
        }
        Family::Referral => {
            if facts.referral.is_none() {
                facts.referral = referral_host(first);
            }
        }
        Family::DomainName => {
            if !first.is_empty() {
                facts.mentions_domain = true;
            }
        }
    }
}

/// An update line. RIPE-style objects repeat `changed:` once per change, oldest first: the last line
/// of the run is the latest update.
fn record_update(facts: &mut SectionFacts, item: &Labelled<'_>, first: &str, dialect: &Dialect) {
    let continues_run = facts
        .updated_run
        .as_ref()
        .is_some_and(|(label, at)| *label == item.label && *at + 1 == item.line_index);
    if facts.updated.is_none() || continues_run {
        if let Some(date) = parse_date_with(first, item.order, &dialect.dates) {
            let later = facts.updated.is_none_or(|prev| date.day() >= prev.day());
            if later {
                facts.updated = Some(date);
            }
            facts.updated_run = Some((item.label.clone(), item.line_index));
        }
    }
}

/// The values of a list field: the one on the label's line, else every line of the block under it.
fn line_or_block(value: &str, block: &[String]) -> Vec<String> {
    if value.is_empty() {
        block.to_vec()
    } else {
        vec![value.to_owned()]
    }
}

/// A line without a `label:` separator that starts with a date label: `Record expires on
/// 04-Jan-2016.`, `Registered on 02nd August 2000`, `Record expires on Sun Mar 30 23:59:00 2014`.
fn read_free_date(facts: &mut SectionFacts, text: &str, dialect: &Dialect) {
    let words: Vec<(usize, &str)> = text
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
        .collect();
    for &(start, _) in words.iter().skip(1).take(6) {
        let label = &text[..start];
        let Some(family) = classify_label(label) else {
            continue;
        };
        if !matches!(
            family,
            Family::Expiry | Family::RegistrarExpiry | Family::Created | Family::Updated
        ) {
            continue;
        }
        let Some(date) = parse_date_with(&text[start..], dialect.dates.order, &dialect.dates)
        else {
            continue;
        };
        let slot = match family {
            Family::Expiry => &mut facts.expiry,
            Family::RegistrarExpiry => &mut facts.registrar_expiry,
            Family::Created => &mut facts.created,
            _ => &mut facts.updated,
        };
        if slot.is_none() {
            *slot = Some(date);
        }
        return;
    }
}

/// Values that say "nothing here".
fn is_placeholder(value: &str) -> bool {
    let v = value.trim().trim_matches('.').to_ascii_lowercase();
    v.is_empty()
        || matches!(
            v.as_str(),
            "-" | "n/a"
                | "na"
                | "none"
                | "null"
                | "not available"
                | "not disclosed"
                | "redacted"
                | "unknown"
        )
        || v.starts_with("redacted for privacy")
        || v.starts_with("http://")
        || v.starts_with("https://")
}

static HANDLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+$").expect("static regex"));

/// The registrar's name. Where the label only heads a block, the block's `Organization:` (or
/// `Name:`) line, else its first line, is the name (.it, .be, .eu, .uk). Where the value is empty and
/// the next lines are the registrar's object (.ee `Registrar:` / `name: Elisa Eesti AS`, .tr
/// `** Registrar:` / `NIC Handle: ...` / `Organization Name: ...`), or a contact handle followed by
/// the handle's `Name:` (.sk `Registrar: EURO-0001` / `Name: SK-NIC, a.s.`), that name is used.
fn registrar_name(value: &str, block: &[String], following: &[&str]) -> Option<String> {
    if value.is_empty() {
        if let Some(first) = block.first() {
            if matches!(shape_of(first), LineShape::Free(_)) {
                return (!is_placeholder(first)).then(|| first.clone());
            }
            return organisation_or_name(block.iter().map(String::as_str));
        }
        return organisation_or_name(following.iter().copied().take(12));
    }
    if HANDLE.is_match(value) {
        let next_is_name = following
            .first()
            .is_some_and(|l| organisation_or_name(std::iter::once(*l)).is_some());
        if next_is_name {
            return organisation_or_name(following.iter().copied().take(12));
        }
    }
    (!is_placeholder(value)).then(|| value.to_owned())
}

/// The `Organization:` value of a contact object, else its `Name:`.
fn organisation_or_name<'a>(lines: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut name = None;
    for line in lines {
        if let LineShape::Labeled { label, value } = shape_of(line) {
            let key = normalize_label(&label);
            if is_placeholder(&value) {
                continue;
            }
            if matches!(
                key.as_str(),
                "organization" | "organisation" | "org" | "organization name" | "organisation name"
            ) {
                return Some(value);
            }
            if matches!(key.as_str(), "name" | "registrar name") && name.is_none() {
                name = Some(value);
            }
        }
    }
    name
}

static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?$")
        .expect("static regex")
});

/// Host names in a name server value: `ns1.google.com`, `NS1.GOOGLE.COM.`, `ns1.google.com
/// (216.239.32.10)`, `ns1.x.ru. 192.0.2.1`, `a.ns.se, b.ns.se`. Glue addresses are dropped.
fn nameserver_hosts(value: &str, domain: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .map(|t| t.trim_matches(|c: char| c == '(' || c == ')' || c == '[' || c == ']'))
        .map(|t| t.trim_end_matches('.').to_lowercase())
        .filter(|t| HOSTNAME.is_match(t))
        // .dk prints `DNS: google.dk` and .pt `Nameserver: google.pt NS ns1.google.com.`: the
        // domain itself is not one of its name servers. `not.defined` is .uz's placeholder.
        .filter(|t| t != domain && t != "not.defined")
        .collect()
}

/// EPP (or registry) status codes in a status value, without the ICANN URL or explanation:
/// `clientTransferProhibited https://icann.org/epp#clientTransferProhibited`, `ok (paid and in zone)`,
/// `serverTransferProhibited, serverUpdateProhibited`.
fn status_codes(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|part| {
            let part = part.split("http").next().unwrap_or("");
            let part = part.split('(').next().unwrap_or("").trim();
            let part = part.split(" - ").next().unwrap_or("").trim();
            (!part.is_empty() && !is_placeholder(part)).then(|| part.to_owned())
        })
        .collect()
}

/// A WHOIS host from `Registrar WHOIS Server: whois.markmonitor.com` or `refer: whois.verisign-grs.com`.
fn referral_host(value: &str) -> Option<String> {
    let token = value.split_whitespace().next()?;
    let token = token
        .trim_start_matches("whois://")
        .trim_start_matches("rwhois://")
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let host = token
        .split(['/', ':'])
        .next()?
        .trim_end_matches('.')
        .to_lowercase();
    HOSTNAME.is_match(&host).then_some(host)
}

// ---------------------------------------------------------------------------------------------
// Merging answers
// ---------------------------------------------------------------------------------------------

/// The registry answer comes first and wins. The answer that holds the expiry (or, without one, the
/// first answer with registration data) is the primary one; later answers only fill gaps.
fn merge_answers(sections: &[SectionFacts]) -> RegistrationFacts {
    let mut facts = RegistrationFacts::default();
    let relevant: Vec<&SectionFacts> = sections.iter().filter(|s| !s.is_tld_record).collect();

    let primary = relevant
        .iter()
        .position(|s| s.best_expiry().is_some())
        .or_else(|| relevant.iter().position(|s| s.has_registration_data()));
    let mut ordered: Vec<&SectionFacts> = Vec::new();
    if let Some(p) = primary {
        ordered.push(relevant[p]);
    }
    ordered.extend(
        relevant
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != primary)
            .map(|(_, s)| *s),
    );

    facts.expires = ordered.iter().find_map(|s| s.best_expiry());
    facts.created = ordered.iter().find_map(|s| s.created);
    facts.updated = ordered.iter().find_map(|s| s.updated);
    facts.registrar = ordered.iter().find_map(|s| s.registrar.clone());
    facts.registrar_iana_id = ordered.iter().find_map(|s| s.registrar_iana_id);
    facts.status = ordered
        .iter()
        .find(|s| !s.status.is_empty())
        .map(|s| s.status.clone())
        .unwrap_or_default();
    facts.nameservers = ordered
        .iter()
        .find(|s| !s.nameservers.is_empty())
        .map(|s| s.nameservers.clone())
        .unwrap_or_default();
    // The referral is read in reply order: the registry (or IANA) points at the next server.
    facts.referral = sections.iter().find_map(|s| s.referral.clone());
    facts
}

// ---------------------------------------------------------------------------------------------
// Outcome
// ---------------------------------------------------------------------------------------------

fn any_line_matches(text: &str, patterns: &[Regex]) -> bool {
    text.lines()
        .map(|line| {
            line.trim()
                .trim_start_matches(['%', '#', '>', '*', ' ', '\t'])
                .trim()
        })
        .any(|line| patterns.iter().any(|re| re.is_match(line)))
}

/// The reply describes a registration (dates, registrar, name servers, status, its name).
fn describes(facts: &RegistrationFacts, mentions_domain: bool) -> bool {
    facts.created.is_some()
        || facts.updated.is_some()
        || facts.registrar.is_some()
        || !facts.nameservers.is_empty()
        || !facts.status.is_empty()
        || mentions_domain
}

/// Found when an expiry was printed; otherwise a not-found statement, then registration data without
/// an expiry (the registry does not publish one), then a rate-limit statement; otherwise unparseable.
fn decide_outcome(text: &str, facts: &RegistrationFacts, mentions_domain: bool) -> ParseOutcome {
    if facts.expires.is_some() {
        return ParseOutcome::Found;
    }
    if text.trim().is_empty() {
        return ParseOutcome::Unparseable;
    }
    if any_line_matches(text, &NOT_FOUND) {
        return ParseOutcome::NotFound;
    }
    if describes(facts, mentions_domain) {
        return ParseOutcome::NotPublished;
    }
    if any_line_matches(text, &RATE_LIMITED) {
        return ParseOutcome::RateLimited;
    }
    ParseOutcome::Unparseable
}

#[cfg(test)]
mod tests;
