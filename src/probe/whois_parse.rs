//! Turns a raw WHOIS reply into [`RegistrationFacts`]: expiry, creation and update dates, registrar,
//! EPP status codes, name servers, the referral host, and an outcome ([`ParseOutcome`]).
//!
//! WHOIS has no schema. Every registry prints its own dialect, so this module is built from tables
//! rather than from one grammar:
//!
//! - `LABEL_FAMILIES`: which printed labels mean "expiry", "created", "registrar", ... (matched on a
//!   normalised label, in every spelling and language we have seen);
//! - `MONTH_FIRST_TLDS`: the registries that write `mm/dd/yyyy`. Everyone else is read `dd/mm/yyyy`.
//!   The order is decided per registry, never guessed from the digits (`03/02/2012` is ambiguous);
//! - `ZONE_ABBREVIATIONS`, `REGIONAL_ZONE_ABBREVIATIONS` and `REGISTRY_ZONES`: how to turn a
//!   printed time into UTC;
//! - `NOT_FOUND_PHRASES` and `RATE_LIMIT_PHRASES`: how a registry says "no such domain" or "slow down".
//!
//! A reply may hold several answers (the `whois` CLI prints `[Querying host]` headers, and thin
//! registries are followed by the registrar's answer). The registry answer comes first and wins: the
//! expiry is taken from the first answer that has one, and the other fields prefer that answer too.
//!
//! A failed or unknown lookup never produces an expiry: `expires` is `Some` exactly when the outcome
//! is [`ParseOutcome::Found`].

use std::sync::LazyLock;

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use regex::{Captures, Regex};

pub use crate::domain::registration::{DateValue, ParseOutcome, RegistrationFacts};

/// Parses one raw WHOIS reply for `domain` (used for the registry's TLD: date order and zone).
pub fn parse_whois(domain: &str, raw: &[u8]) -> RegistrationFacts {
    let text = decode(raw);
    let dialect = Dialect::for_domain(domain);

    let sections: Vec<SectionFacts> = split_answers(&text)
        .iter()
        .map(|answer| read_answer(answer, &dialect))
        .collect();

    let facts = merge_answers(&sections);
    let outcome = decide_outcome(&text, &facts, sections.iter().any(|s| s.mentions_domain));
    match outcome {
        ParseOutcome::Found | ParseOutcome::NotPublished => RegistrationFacts { outcome, ..facts },
        // A failed or unknown lookup describes no registration (and never produces an expiry);
        // only where the reply pointed us next is kept.
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

/// Order of day and month in all-numeric dates such as `03/02/2012`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayOrder {
    DayFirst,
    MonthFirst,
}

/// Registries that write `mm/dd/yyyy`. Freenom (.tk and its sister ccTLDs) prints
/// `Record will expire on: 03/02/2012` meaning 2 March (`Domain registered: 12/18/2001` proves it).
/// Every other registry that prints numeric dates writes day first (.es `16/09/14` = dd/mm/yy,
/// .pt `(dd/mm/yyyy)`, .hk `07-03-2020`, .im, .hm, AFNIC's overseas TLDs `31/12/2017`), so day first
/// is the default. A label that spells its format out (`(dd/mm/yyyy)`) overrides this table.
const MONTH_FIRST_TLDS: &[&str] = &["tk", "ml", "ga", "cf", "gq"];

/// Registries whose times are printed without a zone but are known to be local time, as fixed
/// offsets in seconds east of UTC. Only zones without daylight saving are listed, and only where the
/// registry documents the zone: JPRS and KISA print Japan/Korea standard time (UTC+9). Registries not
/// listed here are read as UTC (ICANN-style replies print UTC; CNNIC prints Beijing time but many
/// peers read it as UTC, so it is left out rather than shifting the day of every early-morning time).
const REGISTRY_ZONES: &[(&str, i32)] = &[("jp", 9 * 3600), ("kr", 9 * 3600)];

/// What the queried domain tells us about the reply: the registry's date order and zone.
#[derive(Debug, Clone)]
struct Dialect {
    /// The queried domain, lower case, without a trailing dot.
    domain: String,
    /// Its last label.
    tld: String,
    order: DayOrder,
    zone: Option<FixedOffset>,
}

impl Dialect {
    fn for_domain(domain: &str) -> Dialect {
        let domain = domain.trim().trim_end_matches('.').to_lowercase();
        let tld = domain.rsplit('.').next().unwrap_or("").to_owned();
        let order = if MONTH_FIRST_TLDS.contains(&tld.as_str()) {
            DayOrder::MonthFirst
        } else {
            DayOrder::DayFirst
        };
        let zone = REGISTRY_ZONES
            .iter()
            .find(|(t, _)| *t == tld)
            .and_then(|(_, secs)| FixedOffset::east_opt(*secs));
        Dialect {
            domain,
            tld,
            order,
            zone,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Label families
// ---------------------------------------------------------------------------------------------

/// What a labelled line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// A label that looks like one of the others but is not (e.g. .pl `option expiration date`).
    Ignore,
    Expiry,
    /// The registrar's own idea of the expiry: used only when the same answer has no registry expiry.
    RegistrarExpiry,
    Created,
    Updated,
    Registrar,
    RegistrarIanaId,
    NameServer,
    Status,
    Referral,
    DomainName,
}

/// Label families, matched in order against the whole normalised label (lower case, `_`/`-` as
/// spaces, dot leaders and brackets removed, parentheticals dropped, bilingual `A / B` split).
/// The first family whose pattern matches the whole label wins.
const LABEL_FAMILIES: &[(Family, &str)] = &[
    // JANET (.ac.uk, .gov.uk) names the registering organisation `Registered By:`; it acts as the
    // registrar there. Listed before the look-alikes because of the `by`.
    (Family::Registrar, r"registered by"),
    // Look-alikes. .pl prints `option expiration date` (an option on the name, not its expiry);
    // .ru `free date` is when a lapsed name is released; `... by` names an actor, not a date;
    // `last update of whois database` is about the database, not the domain; CIDR (.gg/.je/.as)
    // `Registry fee due on 02nd August each year` has no year.
    (
        Family::Ignore,
        r".*\boption\b.*|free date|.*\bdatabase\b.*|.*\bby\b.*|.*\bfee\b.*|.*\b(?:owner|admin|tech|billing|registrant|contact)\b.*",
    ),
    // ICANN 2013 RAA format: the registrar's expiry. The registry's expiry in the same answer wins.
    (
        Family::RegistrarExpiry,
        r"registrar (?:registration )?expiration date|registrar expiry date",
    ),
    (
        Family::Expiry,
        concat!(
            // English, in all the spellings registries use: Registry Expiry Date, Expiration Date,
            // Expiry date, Expires on, expire, Expired (.ly), Record expires on, Domain Expiration
            // Date, Expiration Time (CNNIC), Exp date (.th), Record Expired (.my), Domain Currently
            // Expires (.ws), Record will expire on (.tk), ...
            r"(?:(?:registry|domain|domain name|record|registration|entry) )*(?:currently |will )?",
            r"(?:expiry|expiration|expire|expires|expired|exp)(?: date| time| on| at)?(?: date)?",
            // .ru/.su paid-till, .sk Valid Until, .il validity, .ie renewal, .pl/.uk renewal date,
            // .ca date_renewal, .nz domain_datebilleduntil.
            r"|paid till|paid until|valid until|valid till|validity|registered until",
            r"|(?:domain )?(?:next )?renewal(?: date)?|date renewal|(?:domain )?date ?billed ?until",
            // Spanish, Portuguese, French, Italian, German, Dutch, Polish, Turkish.
            r"|fecha de (?:vencimiento|expiraci[oó]n|caducidad)|vencimiento|vence",
            r"|data de (?:expira[cç][aã]o|validade|vencimento)|expira[cç][aã]o",
            r"|date d'?\s?expiration|date de fin",
            r"|(?:data di )?scadenza|ablaufdatum|g[uü]ltig bis|vervaldatum|data wyga[sś]ni[eę]cia",
            r"|biti[sş] tarihi|sona erme tarihi|ng[aà]y h[eế]t h[aạ]n",
            // Japanese (JPRS), Chinese (CNNIC, TWNIC), Korean (KISA).
            r"|有効期限|有效期|有效期限|到期(?:时间|日期|日)|过期时间|過期日|失效(?:时间|日期)|사용 종료일|만료일",
        ),
    ),
    (
        Family::Created,
        concat!(
            // Creation Date, Created On, created, Registered on, Registration Date, Registration
            // Time (CNNIC), Domain Registration Date, Entry created (.uk), Record created on,
            // Domain registered (.tk), [Registered Date] (JPRS), date_registered (.ca), Domain Name
            // Commencement Date (.hk), Domain record activated (.edu), First registration date (.ch).
            r"(?:(?:domain|domain name|record|entry) )*",
            r"(?:created|creation|create|registered|registration|commencement|activated|activation)(?: date| time| on)?(?: date)?",
            r"|(?:domain )?date ?(?:registered|created|approved)|first registration(?: date)?|first registered",
            r"|fecha de (?:registro|creaci[oó]n|alta)|data de (?:registo|registro|cria[cç][aã]o)",
            r"|date de cr[ée]ation|data (?:di )?registrazione|registrierungsdatum",
            r"|olu[sş]turulma tarihi|kay[ıi]t tarihi|ng[aà]y [dđ][aă]ng k[yý]",
            r"|登録年月日|注册时间|注册日期|註冊日期|등록일",
        ),
    ),
    (
        Family::Updated,
        concat!(
            // Updated Date, Last Updated, last-update, Last Modified, changed, Entry updated (.uk),
            // Record last updated on, Domain record last updated (.edu), Information Last Updated
            // (.ug), [Last Update] (JPRS), domain_datelastmodified (.nz).
            r"(?:(?:domain|domain name|record|entry|information) )*(?:last )?",
            r"(?:updated?|modified|changed|modification)(?: date| on| at)?(?: date)?",
            r"|(?:domain )?date ?(?:last ?)?(?:modified|updated|changed)",
            r"|fecha de (?:actualizaci[oó]n|modificaci[oó]n)|[uú]ltima (?:actualizaci[oó]n|modificaci[oó]n)",
            r"|data de (?:atualiza[cç][aã]o|modifica[cç][aã]o)|date de (?:modification|mise [aà] jour)",
            r"|derni[eè]re (?:modification|mise [aà] jour)",
            r"|最終更新|更新时间|最近更新|최근 정보 변경일",
        ),
    ),
    (
        Family::RegistrarIanaId,
        r"(?:sponsoring )?registrar iana(?: id)?",
    ),
    (
        Family::Registrar,
        concat!(
            // Registrar, Sponsoring Registrar, Registrar Name, registrar-name, Sponsoring Registrar
            // Organization, Current Registar (.kz misspells it), Authorized Agency (.kr), [Registrar].
            r"(?:sponsoring |current )?regist(?:rar|ar)(?: name| organization| organisation| organization name| of record)?",
            r"|authorized agency|registration service provider|registrar company",
        ),
    ),
    (
        Family::NameServer,
        concat!(
            // Name Server, nserver, Nameservers, Name servers in the listed order (.kg), Domain Name
            // Servers listed in order (.za), Domain server 1 (.nc), Current Nameservers (.ws),
            // ns1_hostname (.ca), Hostname (.dk), NAME SERVER INFORMATION (.bg), [Name Server] (JPRS).
            r"(?:(?:domain|domain name|current|primary|secondary) )*",
            r"(?:name ?servers?|nservers?|servers?|dns servers?|dns|hostname|host name|ns|ns name|dns name)",
            r"(?: ?\d+)?(?: (?:in (?:the )?)?listed(?: in)? order| information| hostname| host name)?",
            r"|servidor(?:es)? de nombres?(?: de dominio)?|servidores dns|serveurs? de noms",
        ),
    ),
    (
        Family::Status,
        r"(?:domain |registration |epp |domain name )?(?:status|state)(?:es)?|eppstatus|estado|statut|状態|状态",
    ),
    (
        Family::Referral,
        r"(?:registrar )?whois server|whois|refer|whois host",
    ),
    (
        Family::DomainName,
        r"domain(?: name)?|domainname|complete domain name|nom de domaine|dominio|ace",
    ),
];

static FAMILY_REGEXES: LazyLock<Vec<(Family, Regex)>> = LazyLock::new(|| {
    LABEL_FAMILIES
        .iter()
        .map(|(family, pattern)| {
            let re =
                Regex::new(&format!("^(?:{pattern})$")).expect("label family patterns are valid");
            (*family, re)
        })
        .collect()
});

static PARENTHETICAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\([^)]*\)").expect("static regex"));
static ORDER_HINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(dd|mm)[/.\-](mm|dd)[/.\-]yy(?:yy)?\b").expect("static regex")
});

/// Lower case, `_` and `-` as spaces, dot leaders (`Expires on......:`) and brackets removed,
/// parentheticals (`(dd/mm/yyyy)`) dropped, whitespace collapsed.
fn normalize_label(label: &str) -> String {
    let lower = label.to_lowercase();
    let no_paren = PARENTHETICAL.replace_all(&lower, " ");
    let cleaned: String = no_paren
        .chars()
        .map(|c| match c {
            '_' | '-' | '.' | '[' | ']' | ':' | '*' | '\t' => ' ',
            c => c,
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The family of a printed label; bilingual labels (`Data de expiração / Expiration Date`) are
/// tried one half at a time.
fn classify_label(label: &str) -> Option<Family> {
    let lower = label.to_lowercase();
    let no_paren = PARENTHETICAL.replace_all(&lower, " ");
    for half in no_paren
        .split(" / ")
        .chain(std::iter::once(no_paren.as_ref()))
    {
        let norm = normalize_label(half);
        if norm.is_empty() {
            continue;
        }
        if let Some((family, _)) = FAMILY_REGEXES.iter().find(|(_, re)| re.is_match(&norm)) {
            return Some(*family);
        }
    }
    None
}

/// A label that spells out its own format (`Expiration Date (dd/mm/yyyy)`) beats the TLD table.
fn order_hint(label: &str) -> Option<DayOrder> {
    let caps = ORDER_HINT.captures(label)?;
    if caps[1].eq_ignore_ascii_case("dd") {
        Some(DayOrder::DayFirst)
    } else {
        Some(DayOrder::MonthFirst)
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
                let order = order_hint(&label).unwrap_or(dialect.order);
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
                            order: dialect.order,
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
                facts.expiry = parse_date_with(first, order, dialect);
            }
        }
        Family::RegistrarExpiry => {
            if facts.registrar_expiry.is_none() {
                facts.registrar_expiry = parse_date_with(first, order, dialect);
            }
        }
        Family::Created => {
            if facts.created.is_none() {
                facts.created = parse_date_with(first, order, dialect);
            }
        }
        Family::Updated => {
            // RIPE-style objects repeat `changed:` once per change, oldest first: the last line of
            // the run is the latest update.
            let continues_run = facts
                .updated_run
                .as_ref()
                .is_some_and(|(label, at)| *label == item.label && *at + 1 == item.line_index);
            if facts.updated.is_none() || continues_run {
                if let Some(date) = parse_date_with(first, order, dialect) {
                    let later = facts.updated.is_none_or(|prev| date.day() >= prev.day());
                    if later {
                        facts.updated = Some(date);
                    }
                    facts.updated_run = Some((item.label.clone(), item.line_index));
                }
            }
        }
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
            let sources = if value.is_empty() {
                block.to_vec()
            } else {
                vec![value.to_owned()]
            };
            for source in sources {
                for host in nameserver_hosts(&source, &dialect.domain) {
                    if !facts.nameservers.contains(&host) {
                        facts.nameservers.push(host);
                    }
                }
            }
        }
        Family::Status => {
            let sources = if value.is_empty() {
                block.to_vec()
            } else {
                vec![value.to_owned()]
            };
            for source in sources {
                // .ua prints the expiry inside the status: `status: OK-UNTIL 20131218000000`.
                if let Some(caps) = OK_UNTIL.captures(&source) {
                    if facts.expiry.is_none() {
                        facts.expiry = parse_date_with(&caps[1], order, dialect);
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
        let Some(date) = parse_date_with(&text[start..], dialect.order, dialect) else {
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

/// How registries say "no such domain", matched per line (case-insensitive) after leading comment
/// marks (`%`, `#`, `>`) are stripped. Checked only when the reply printed no expiry.
const NOT_FOUND_PHRASES: &[&str] = &[
    r"\bno match(?:es)?\b", // Verisign `No match for "X".`, JPRS `No match!!`, .br
    r"^not found\b|\bnot found\.?$|^no found\b", // `NOT FOUND`, `Not found: x.ca`, .se `domain "x.se" not found.`, .tw
    r"\bno (?:data|entries|entry|records?|object|objects|matching records?|results?) (?:was |were )?found\b",
    r"\bno matching record\b|\bno information available\b",
    r"\bdomain (?:name )?(?:was )?not found\b|\bwas not found\b",
    r"\bno such domain\b",
    r"\b(?:object|domain|name) does not exist\b|\bobject[_ ]not[_ ]found\b",
    r"\bnothing found\b",
    r"\b(?:is|has) not been registered\b|\bis not registered\b",
    r"\bdo not have an entry\b", // SWITCH (.ch, .li)
    r"\bdomain name not known\b",
    r"^\S+ is free\b|\bis available for registration\b", // .nl `example.nl is free`
    r"^(?:domain )?status:\s*(?:free|available|no object found|not registered)\s*\.?$",
    r"^query[_ ]status:\s*220\b",           // .nz `220 Available`
    r"\bno se encontr[oó]\b|\bno existe\b", // Spanish
    r"\bnicht gefunden\b|\bkeine daten\b",  // German
    r"\baucun (?:objet|r[ée]sultat)\b|\bn'existe pas\b|\bpas de correspondance\b", // French
    r"\bnon (?:trovato|esiste)\b",          // Italian
    r"\bn[aã]o (?:encontrado|existe)\b",    // Portuguese
    r"не найден|нет данных|не зарегистрирован", // Russian
    r"没有找到|未找到|不存在|無此|查無",    // Chinese
    r"該当するデータがありません",          // Japanese
    r"등록되어 있지 않|검색결과가 없",      // Korean
];

/// How servers say "too many queries", matched per line (case-insensitive). Checked last: a reply
/// that describes the domain is not a refusal, whatever its disclaimer says about limits.
const RATE_LIMIT_PHRASES: &[&str] = &[
    r"\brate[ -]?limit|\brate exceeded\b",
    r"\b(?:quota|limit)\b.*\b(?:exceeded|reached)\b|\bexceeded\b.*\b(?:quota|limit|rate|maximum)\b",
    r"\bqueries exceeded\b|\ballowed queries\b",
    r"\btoo many (?:requests|queries|connections|lookups)\b",
    r"\bmaximum (?:daily |hourly )?(?:number of )?(?:queries|requests|lookups)\b",
    r"\bexcessive (?:querying|queries|access|requests)\b",
    r"\binterval is too short\b", // CNNIC
    r"\btry again later\b|\bplease wait\b.*\bbefore\b",
    r"\btemporarily (?:blocked|denied|banned)\b|\byou have been (?:blocked|banned)\b",
    r"查询过于频繁|请求过于频繁|过于频繁|超过.*限制",
    r"превышен",
];

static NOT_FOUND: LazyLock<Vec<Regex>> = LazyLock::new(|| compile_phrases(NOT_FOUND_PHRASES));
static RATE_LIMITED: LazyLock<Vec<Regex>> = LazyLock::new(|| compile_phrases(RATE_LIMIT_PHRASES));

fn compile_phrases(phrases: &[&str]) -> Vec<Regex> {
    phrases
        .iter()
        .map(|p| Regex::new(&format!("(?i){p}")).expect("phrase patterns are valid"))
        .collect()
}

fn any_line_matches(text: &str, patterns: &[Regex]) -> bool {
    text.lines()
        .map(|line| {
            line.trim()
                .trim_start_matches(['%', '#', '>', '*', ' ', '\t'])
                .trim()
        })
        .any(|line| patterns.iter().any(|re| re.is_match(line)))
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
    let described = facts.created.is_some()
        || facts.updated.is_some()
        || facts.registrar.is_some()
        || !facts.nameservers.is_empty()
        || !facts.status.is_empty()
        || mentions_domain;
    if described {
        return ParseOutcome::NotPublished;
    }
    if any_line_matches(text, &RATE_LIMITED) {
        return ParseOutcome::RateLimited;
    }
    ParseOutcome::Unparseable
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/// Month names, English first, then the languages registries print (es, pt, fr, it, de, nl).
const MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("january", 1),
    ("feb", 2),
    ("february", 2),
    ("mar", 3),
    ("march", 3),
    ("apr", 4),
    ("april", 4),
    ("may", 5),
    ("jun", 6),
    ("june", 6),
    ("jul", 7),
    ("july", 7),
    ("aug", 8),
    ("august", 8),
    ("sep", 9),
    ("sept", 9),
    ("september", 9),
    ("oct", 10),
    ("october", 10),
    ("nov", 11),
    ("november", 11),
    ("dec", 12),
    ("december", 12),
    // Spanish
    ("ene", 1),
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abr", 4),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("ago", 8),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("dic", 12),
    ("diciembre", 12),
    // Portuguese
    ("janeiro", 1),
    ("fev", 2),
    ("fevereiro", 2),
    ("março", 3),
    ("marco", 3),
    ("mai", 5),
    ("maio", 5),
    ("junho", 6),
    ("julho", 7),
    ("set", 9),
    ("setembro", 9),
    ("out", 10),
    ("outubro", 10),
    ("novembro", 11),
    ("dez", 12),
    ("dezembro", 12),
    // French
    ("janvier", 1),
    ("février", 2),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("juin", 6),
    ("juillet", 7),
    ("août", 8),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("décembre", 12),
    ("decembre", 12),
    // Italian
    ("gennaio", 1),
    ("febbraio", 2),
    ("aprile", 4),
    ("maggio", 5),
    ("giugno", 6),
    ("luglio", 7),
    ("settembre", 9),
    ("ottobre", 10),
    ("dicembre", 12),
    // German and Dutch
    ("januar", 1),
    ("februar", 2),
    ("märz", 3),
    ("mär", 3),
    ("maerz", 3),
    ("juni", 6),
    ("juli", 7),
    ("okt", 10),
    ("oktober", 10),
    ("dezember", 12),
    ("januari", 1),
    ("februari", 2),
    ("maart", 3),
    ("mei", 5),
    ("augustus", 8),
];

fn month_number(name: &str) -> Option<u32> {
    let lower = name.to_lowercase();
    MONTHS.iter().find(|(n, _)| *n == lower).map(|(_, m)| *m)
}

/// Zone abbreviations registries print, as offsets in seconds east of UTC. The ambiguous ones take
/// their most common registry meaning here (CST as US Central, as Verisign-era registrars print it;
/// IST as India Standard Time) and their regional one in [`REGIONAL_ZONE_ABBREVIATIONS`].
const ZONE_ABBREVIATIONS: &[(&str, i32)] = &[
    ("utc", 0),
    ("gmt", 0),
    ("ut", 0),
    ("z", 0),
    ("wet", 0),
    ("bst", 3600),
    ("cet", 3600),
    ("met", 3600),
    ("wat", 3600),
    ("west", 3600),
    ("cest", 2 * 3600),
    ("mest", 2 * 3600),
    ("eet", 2 * 3600),
    ("cat", 2 * 3600),
    ("sast", 2 * 3600),
    ("eest", 3 * 3600),
    ("eat", 3 * 3600),
    ("msk", 3 * 3600),
    ("trt", 3 * 3600),
    ("ist", 5 * 3600 + 1800),
    ("ict", 7 * 3600),
    ("wib", 7 * 3600),
    ("hkt", 8 * 3600),
    ("sgt", 8 * 3600),
    ("myt", 8 * 3600),
    ("pht", 8 * 3600),
    ("awst", 8 * 3600),
    ("jst", 9 * 3600),
    ("kst", 9 * 3600),
    ("acst", 9 * 3600 + 1800),
    ("aest", 10 * 3600),
    ("aedt", 11 * 3600),
    ("nzst", 12 * 3600),
    ("nzdt", 13 * 3600),
    ("clt", -4 * 3600),
    ("clst", -3 * 3600),
    ("brt", -3 * 3600),
    ("art", -3 * 3600),
    ("uyt", -3 * 3600),
    ("edt", -4 * 3600),
    ("est", -5 * 3600),
    ("cdt", -5 * 3600),
    ("cst", -6 * 3600),
    ("mdt", -6 * 3600),
    ("mst", -7 * 3600),
    ("pdt", -7 * 3600),
    ("pst", -8 * 3600),
    ("akst", -9 * 3600),
    ("hst", -10 * 3600),
];

/// Abbreviations that mean another zone under some registries: China Standard Time (UTC+8) for
/// .cn/.tw/.hk/.mo, Irish Standard Time (UTC+1) for .ie, Israel Standard Time (UTC+2) for .il.
const REGIONAL_ZONE_ABBREVIATIONS: &[(&str, &str, i32)] = &[
    ("cn", "cst", 8 * 3600),
    ("tw", "cst", 8 * 3600),
    ("hk", "cst", 8 * 3600),
    ("mo", "cst", 8 * 3600),
    ("ie", "ist", 3600),
    ("il", "ist", 2 * 3600),
];

/// The date shapes, tried on the whole value; the leftmost valid match wins, ties go to the earlier
/// shape. Times and zones after the date are read by [`TIME_TAIL`].
const DATE_SHAPES: &[(&str, &str)] = &[
    // 2028-09-13, 2018.10.26, 2024/07/31, 2025. 03. 12. (KISA)
    (
        "ymd",
        r"\b(?P<y>\d{4})\s?[-./]\s?(?P<m>\d{1,2})\s?[-./]\s?(?P<d>\d{1,2})\.?",
    ),
    // 2019-Aug-22 (.tr)
    (
        "y-mon-d",
        r"\b(?P<y>\d{4})[-\s](?P<mon>\p{L}{3,9})[-\s](?P<d>\d{1,2})",
    ),
    // 20140921 (.hr), 20131218000000 (.ua)
    (
        "compact",
        r"\b(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})(?:(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2}))?",
    ),
    // 17.7.2022, 02/11/2019, 07-03-2020, 16/09/14: day or month first, per registry.
    (
        "numeric",
        r"\b(?P<a>\d{1,2})\s?[-./]\s?(?P<b>\d{1,2})\s?[-./]\s?(?P<y>\d{4}|\d{2})",
    ),
    // Sat Mar 28 23:59:00 2026, Sat Mar 22 23:59:59 GMT 2014 (weekday already removed)
    (
        "ctime",
        r"\b(?P<mon>\p{L}{3,9})\s+(?P<d>\d{1,2})\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s+(?:(?P<tz>[A-Za-z]{2,5})\s+)?(?P<y>\d{4})",
    ),
    // 04-Oct-2008, 01 Jan 2015, 21-March-2015, 7 April, 2018, 29-APR-09, 23 agosto 2012
    (
        "d-mon-y",
        r"\b(?P<d>\d{1,2})[\s\-./]*(?P<mon>\p{L}{3,10})\.?,?[\s\-./,]+(?P<y>\d{4}|\d{2})",
    ),
    // September 5 2024, January 1, 2020
    (
        "mon-d-y",
        r"\b(?P<mon>\p{L}{3,10})\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})",
    ),
];

static DATE_REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    DATE_SHAPES
        .iter()
        .map(|(_, p)| Regex::new(&format!("(?i){p}")).expect("date shapes are valid"))
        .collect()
});

/// A time after the date, with an optional zone: `T23:59:59.0Z`, ` 04:00:00 UTC`, ` 00:00 EAT`,
/// `T19:00:-0500Z` (a registrar that forgot its seconds), ` 01:05:03 JST` (brackets already removed).
static TIME_TAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^\s*(?:t|,)?\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})?)?(?:[.,]\d+)?",
        r"\s*(?P<zone>z\b|(?:utc|gmt)?\s?[+-]\d{1,2}(?::?\d{2})?|[a-z]{2,5}\b)?",
    ))
    .expect("static regex")
});

static ZONE_OFFSET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:utc|gmt)?\s?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")
        .expect("static regex")
});
static WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\b,?").expect("static regex")
});
static ORDINAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(\d{1,2})(?:st|nd|rd|th)\b").expect("static regex"));
/// Filler words inside dates: `23 de agosto de 2012` (.cl), `30th of June 2024`.
static FILLER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:de|of|the)\b").expect("static regex"));

/// Parses a printed date (see [`DATE_SHAPES`]) with the TLD's default day order and no registry zone.
/// Exposed for the RDAP reader, whose dates are RFC 3339 but not always strictly so.
pub(crate) fn parse_date(text: &str) -> Option<DateValue> {
    parse_date_with(text, DayOrder::DayFirst, &Dialect::for_domain(""))
}

/// Reads the first date in `text` (see [`DATE_SHAPES`]) with the given day order; times are read in
/// their printed zone, else the registry's zone (`dialect`), else UTC.
fn parse_date_with(text: &str, order: DayOrder, dialect: &Dialect) -> Option<DateValue> {
    let text = text.replace(['(', ')', '"'], " ");
    let text = WEEKDAY.replace_all(&text, " ");
    let text = ORDINAL.replace_all(&text, "$1");
    let text = FILLER.replace_all(&text, " ");
    let text = text.trim();
    if text.is_empty() {
        return None;
    }

    // (start of the match, index of the shape, date, time): the leftmost match wins.
    let mut best: Option<(usize, usize, NaiveDate, Option<PrintedTime>)> = None;
    for (shape_index, re) in DATE_REGEXES.iter().enumerate() {
        for caps in re.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            if best
                .as_ref()
                .is_some_and(|(start, idx, _, _)| (*start, *idx) <= (whole.start(), shape_index))
            {
                break;
            }
            if text[whole.end()..].starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            let Some(date) = date_from(&caps, order) else {
                continue;
            };
            let time = time_in_shape(&caps, &dialect.tld)
                .or_else(|| time_after(&text[whole.end()..], &dialect.tld));
            best = Some((whole.start(), shape_index, date, time));
            break;
        }
    }
    let (_, _, date, time) = best?;
    Some(match time {
        None => DateValue::Date(date),
        Some((t, zone)) => {
            let offset = zone
                .or(dialect.zone)
                .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
            let local = NaiveDateTime::new(date, t);
            match offset.from_local_datetime(&local).single() {
                Some(dt) => DateValue::Instant(dt.with_timezone(&Utc)),
                None => DateValue::Date(date),
            }
        }
    })
}

fn date_from(caps: &Captures<'_>, order: DayOrder) -> Option<NaiveDate> {
    let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
    let year = |raw: u32| -> i32 {
        // Two-digit years (.es `16/09/14`, `29-APR-09`): 70-99 are 1900s, the rest 2000s.
        match raw {
            0..=69 => 2000 + raw as i32,
            70..=99 => 1900 + raw as i32,
            y => y as i32,
        }
    };
    let y = year(num("y")?);
    let (m, d) = if let Some(mon) = caps.name("mon") {
        (month_number(mon.as_str())?, num("d")?)
    } else if let (Some(a), Some(b)) = (num("a"), num("b")) {
        match order {
            DayOrder::DayFirst => (b, a),
            DayOrder::MonthFirst => (a, b),
        }
    } else {
        (num("m")?, num("d")?)
    };
    if !(1900..=9999).contains(&y) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    // 1970-01-01 is the Unix epoch printed for "no date" (a zero timestamp), never a real one.
    (date != NaiveDate::from_ymd_opt(1970, 1, 1)?).then_some(date)
}

/// A printed time of day and, when the reply gave one, its zone.
type PrintedTime = (NaiveTime, Option<FixedOffset>);

/// The time inside shapes that carry one (compact `20131218000000`, ctime).
fn time_in_shape(caps: &Captures<'_>, tld: &str) -> Option<PrintedTime> {
    let h = caps.name("H")?.as_str().parse().ok()?;
    let m = caps.name("M")?.as_str().parse().ok()?;
    let s = caps
        .name("S")
        .and_then(|x| x.as_str().parse().ok())
        .unwrap_or(0);
    let zone = caps.name("tz").and_then(|z| zone_offset(z.as_str(), tld));
    Some((NaiveTime::from_hms_opt(h, m, s)?, zone))
}

fn time_after(tail: &str, tld: &str) -> Option<PrintedTime> {
    let caps = TIME_TAIL.captures(tail)?;
    let h = caps.name("H")?.as_str().parse().ok()?;
    let m = caps.name("M")?.as_str().parse().ok()?;
    let s = caps
        .name("S")
        .and_then(|x| x.as_str().parse().ok())
        .unwrap_or(0);
    let zone = caps
        .name("zone")
        .and_then(|z| zone_offset(z.as_str().trim(), tld));
    Some((NaiveTime::from_hms_opt(h, m, s)?, zone))
}

/// `Z`, `UTC`, `+01:00`, `-0500`, `+8`, `GMT+8`, or a known abbreviation (the registry's regional
/// reading first, see [`REGIONAL_ZONE_ABBREVIATIONS`]). Unknown words are no zone.
fn zone_offset(zone: &str, tld: &str) -> Option<FixedOffset> {
    let lower = zone.to_ascii_lowercase();
    if let Some(caps) = ZONE_OFFSET.captures(&lower) {
        let h: i32 = caps["h"].parse().ok()?;
        let m: i32 = caps
            .name("m")
            .and_then(|x| x.as_str().parse().ok())
            .unwrap_or(0);
        if h > 14 || m > 59 {
            return None;
        }
        let secs = h * 3600 + m * 60;
        return FixedOffset::east_opt(if &caps["sign"] == "-" { -secs } else { secs });
    }
    let regional = REGIONAL_ZONE_ABBREVIATIONS
        .iter()
        .find(|(t, abbr, _)| *t == tld && *abbr == lower)
        .map(|(_, _, secs)| secs);
    let secs = regional.or_else(|| {
        ZONE_ABBREVIATIONS
            .iter()
            .find(|(abbr, _)| *abbr == lower)
            .map(|(_, secs)| secs)
    })?;
    FixedOffset::east_opt(*secs)
}

// ---------------------------------------------------------------------------------------------
// Corpus scoring, shared by the WHOIS and RDAP corpus tests
// ---------------------------------------------------------------------------------------------

/// Walks the shared corpus and scores answers with the rules of the corpus's `score.py`: an instant
/// is compared by its UTC day; a bare date is also accepted when it equals the day printed by the
/// registry (`*_local`); `expires_alt` lists further accepted answers (`null` allowed); an expected
/// `null` expiry is matched only by `None`; registrar names match after lower-casing and dropping
/// punctuation, or when one contains the other (4+ characters).
#[cfg(test)]
pub(crate) mod corpus {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::{DateValue, RegistrationFacts};

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
                let expected: Value =
                    serde_json::from_str(&text).expect("expected values are JSON");
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
        let names =
            std::iter::once(exp).chain(alts.into_iter().flatten().filter_map(Value::as_str));
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
}

#[cfg(test)]
mod tests {
    use super::corpus::{self, Score};
    use super::*;

    fn utc(s: &str) -> DateValue {
        DateValue::Instant(
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("test instant")
                .with_timezone(&Utc),
        )
    }

    fn day(s: &str) -> DateValue {
        DateValue::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date"))
    }

    fn parse(domain: &str, reply: &str) -> RegistrationFacts {
        parse_whois(domain, reply.as_bytes())
    }

    // ----- date rules -----------------------------------------------------------------------

    /// (rule, printed value, TLD, expected)
    const DATE_RULES: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "iso_instant_with_z_is_utc",
            "2028-09-13T04:00:00Z",
            "com",
            Some("2028-09-13T04:00:00Z"),
        ),
        (
            "iso_fraction_and_z",
            "2014-06-11T23:59:59.0Z",
            "com",
            Some("2014-06-11T23:59:59Z"),
        ),
        (
            "iso_offset_is_converted_to_utc",
            "2020-09-13T21:00:00-0700",
            "com",
            Some("2020-09-14T04:00:00Z"),
        ),
        (
            "iso_colon_offset",
            "2013-01-13T15:45:18+01:00",
            "fr",
            Some("2013-01-13T14:45:18Z"),
        ),
        (
            "registrar_forgot_seconds",
            "2017-12-18T19:00:-0500Z",
            "com",
            Some("2017-12-19T00:00:00Z"),
        ),
        (
            "bare_iso_date_stays_a_date",
            "2018-04-17",
            "us",
            Some("2018-04-17"),
        ),
        (
            "time_without_zone_is_utc",
            "2024-05-17 15:50:04",
            "cn",
            Some("2024-05-17T15:50:04Z"),
        ),
        (
            "known_registry_zone_applies_to_zoneless_time",
            "2023/08/01 01:05:03",
            "jp",
            Some("2023-07-31T16:05:03Z"),
        ),
        (
            "yyyy_dot_mm_dot_dd",
            "2018.10.26 15:00:00",
            "pl",
            Some("2018-10-26T15:00:00Z"),
        ),
        (
            "yyyy_slash_mm_slash_dd",
            "2024/07/31",
            "jp",
            Some("2024-07-31"),
        ),
        (
            "kisa_spaced_dots",
            "2025. 03. 12.",
            "kr",
            Some("2025-03-12"),
        ),
        (
            "dd_dot_mm_dot_yyyy",
            "26.03.2026 16:18:03",
            "rs",
            Some("2026-03-26T16:18:03Z"),
        ),
        (
            "d_dot_m_dot_yyyy_without_padding",
            "17.7.2022 22:16:55",
            "fi",
            Some("2022-07-17T22:16:55Z"),
        ),
        (
            "tk_dates_are_month_first",
            "03/02/2012",
            "tk",
            Some("2012-03-02"),
        ),
        (
            "tk_day_over_twelve_is_not_swapped",
            "18/12/2001",
            "tk",
            None,
        ),
        (
            "es_dates_are_day_first_two_digit_year",
            "16/09/14",
            "es",
            Some("2014-09-16"),
        ),
        (
            "default_numeric_dates_are_day_first",
            "03/08/2014 23:59:52",
            "im",
            Some("2014-08-03T23:59:52Z"),
        ),
        (
            "hk_dashed_day_first",
            "07-03-2020",
            "hk",
            Some("2020-03-07"),
        ),
        ("dd_mon_yyyy", "04-jan-2016", "com", Some("2016-01-04")),
        (
            "dd_mon_yyyy_time_utc",
            "04-Oct-2008 04:00:00 UTC",
            "org",
            Some("2008-10-04T04:00:00Z"),
        ),
        ("dd_mon_yy", "29-APR-09", "com", Some("2009-04-29")),
        ("dd_month_yyyy", "21-March-2015", "ie", Some("2015-03-21")),
        (
            "yyyy_mon_dd_with_trailing_dot",
            "2019-Aug-22.",
            "tr",
            Some("2019-08-22"),
        ),
        (
            "words_ordinal_day_month_year",
            "1st January 2020",
            "xx",
            Some("2020-01-01"),
        ),
        (
            "words_ordinal_with_comma",
            "7th April, 2018",
            "ug",
            Some("2018-04-07"),
        ),
        (
            "words_month_day_year",
            "January 1 2020",
            "xx",
            Some("2020-01-01"),
        ),
        (
            "words_month_day_comma_year",
            "January 1, 2020",
            "xx",
            Some("2020-01-01"),
        ),
        (
            "words_double_space",
            "September  5 2024",
            "is",
            Some("2024-09-05"),
        ),
        (
            "words_with_weekday",
            "Wednesday 30th Mar 2011",
            "uk",
            Some("2011-03-30"),
        ),
        (
            "words_spanish",
            "23 de agosto de 2012",
            "cl",
            Some("2012-08-23"),
        ),
        (
            "ctime",
            "Sat Mar 28 23:59:00 2026",
            "kg",
            Some("2026-03-28T23:59:00Z"),
        ),
        (
            "java_date_string",
            "Sat Mar 22 23:59:59 GMT 2014",
            "tel",
            Some("2014-03-22T23:59:59Z"),
        ),
        ("compact_date", "20140921", "hr", Some("2014-09-21")),
        (
            "compact_timestamp",
            "20131218000000",
            "ua",
            Some("2013-12-18T00:00:00Z"),
        ),
        (
            "zone_eat",
            "01 Jan 2015 00:00 EAT",
            "ke",
            Some("2014-12-31T21:00:00Z"),
        ),
        (
            "zone_wat",
            "28 Aug 2011 01:00 WAT",
            "cm",
            Some("2011-08-28T00:00:00Z"),
        ),
        (
            "zone_cet",
            "2020-01-01 12:00:00 CET",
            "xx",
            Some("2020-01-01T11:00:00Z"),
        ),
        (
            "zone_cest",
            "2020-07-01 12:00:00 CEST",
            "xx",
            Some("2020-07-01T10:00:00Z"),
        ),
        (
            "zone_jst_in_brackets",
            "2009/10/23 19:22:08 (JST)",
            "jp",
            Some("2009-10-23T10:22:08Z"),
        ),
        (
            "zone_kst",
            "2020-01-01 08:00:00 KST",
            "kr",
            Some("2019-12-31T23:00:00Z"),
        ),
        (
            "zone_est",
            "2020-01-01 20:00:00 EST",
            "xx",
            Some("2020-01-02T01:00:00Z"),
        ),
        (
            "zone_pst",
            "2020-01-01 20:00:00 PST",
            "xx",
            Some("2020-01-02T04:00:00Z"),
        ),
        (
            "zone_cst_is_us_central_by_default",
            "2020-01-01 20:00:00 CST",
            "com",
            Some("2020-01-02T02:00:00Z"),
        ),
        (
            "zone_cst_is_china_under_cn",
            "2020-01-01 20:00:00 CST",
            "cn",
            Some("2020-01-01T12:00:00Z"),
        ),
        (
            "zone_gmt",
            "2003-07-31 11:00:00 GMT",
            "museum",
            Some("2003-07-31T11:00:00Z"),
        ),
        (
            "zone_clst",
            "2019-11-20 14:48:02 CLST",
            "cl",
            Some("2019-11-20T17:48:02Z"),
        ),
        (
            "zone_utc_plus_hours",
            "2025-11-09 00:00:00 (UTC+8)",
            "tw",
            Some("2025-11-08T16:00:00Z"),
        ),
        (
            "short_offset",
            "2024-03-10 00:30:00+02",
            "ua",
            Some("2024-03-09T22:30:00Z"),
        ),
        (
            "quoted_value",
            "\"2013-01-13T15:45:18+01:00\"",
            "fr",
            Some("2013-01-13T14:45:18Z"),
        ),
        (
            "far_future_is_kept",
            "2999-12-31T21:59:59Z",
            "za",
            Some("2999-12-31T21:59:59Z"),
        ),
        ("epoch_zero_is_no_date", "1970-01-01T00:00:00Z", "com", None),
        ("impossible_date_is_rejected", "31/02/2020", "xx", None),
        ("zero_date_is_rejected", "0000-00-00", "xx", None),
        ("words_without_date", "see at www.register.bg", "bg", None),
        ("not_applicable", "N/A", "il", None),
    ];

    #[test]
    fn date_rules() {
        for (rule, printed, tld, expected) in DATE_RULES {
            let dialect = Dialect::for_domain(&format!("example.{tld}"));
            let got = parse_date_with(printed, dialect.order, &dialect);
            let want = expected.map(|e| if e.len() == 10 { day(e) } else { utc(e) });
            assert_eq!(got, want, "rule {rule}: {printed:?} (.{tld})");
        }
    }

    #[test]
    fn label_format_hint_overrides_tld_order() {
        let pt = parse(
            "google.pt",
            "Data de expiração / Expiration Date (dd/mm/yyyy): 01/03/2014\n",
        );
        assert_eq!(pt.expires, Some(day("2014-03-01")));
        let us_style = parse("example.xx", "Expiration Date (mm/dd/yyyy): 01/03/2014\n");
        assert_eq!(us_style.expires, Some(day("2014-01-03")));
    }

    #[test]
    fn date_value_serializes_as_rfc3339_utc_or_calendar_date() {
        let instant = serde_json::to_string(&utc("2028-09-13T04:00:00Z")).expect("serializes");
        assert_eq!(instant, "\"2028-09-13T04:00:00Z\"");
        let date = serde_json::to_string(&day("2028-09-13")).expect("serializes");
        assert_eq!(date, "\"2028-09-13\"");
        let back: DateValue = serde_json::from_str(&instant).expect("deserializes");
        assert_eq!(back, utc("2028-09-13T04:00:00Z"));
        let back: DateValue = serde_json::from_str(&date).expect("deserializes");
        assert_eq!(back, day("2028-09-13"));
        let outcome = serde_json::to_string(&ParseOutcome::NotPublished).expect("serializes");
        assert_eq!(outcome, "\"not_published\"");
        assert_eq!(
            RegistrationFacts::default().outcome,
            ParseOutcome::Unparseable
        );
    }

    // ----- dialects ---------------------------------------------------------------------------

    const ICANN: &str = "\
Domain Name: EXAMPLE.COM
Registry Domain ID: 2336799_DOMAIN_COM-VRSN
Registrar WHOIS Server: whois.markmonitor.com
Updated Date: 2019-09-09T15:39:04Z
Creation Date: 1997-09-15T04:00:00Z
Registry Expiry Date: 2028-09-14T04:00:00Z
Registrar: MarkMonitor Inc.
Registrar IANA ID: 292
Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited
Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited
Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited
Name Server: NS1.GOOGLE.COM
Name Server: ns2.google.com.
Name Server: NS1.GOOGLE.COM
DNSSEC: unsigned
URL of the ICANN Whois Inaccuracy Complaint Form: https://www.icann.org/wicf/
>>> Last update of whois database: 2024-01-01T00:00:00Z <<<
";

    #[test]
    fn icann_format_reads_every_field() {
        let f = parse("example.com", ICANN);
        assert_eq!(f.outcome, ParseOutcome::Found);
        assert_eq!(f.expires, Some(utc("2028-09-14T04:00:00Z")));
        assert_eq!(f.created, Some(utc("1997-09-15T04:00:00Z")));
        assert_eq!(f.updated, Some(utc("2019-09-09T15:39:04Z")));
        assert_eq!(f.registrar.as_deref(), Some("MarkMonitor Inc."));
        assert_eq!(f.registrar_iana_id, Some(292));
        assert_eq!(
            f.status,
            vec!["clientDeleteProhibited", "clientTransferProhibited"]
        );
        assert_eq!(f.nameservers, vec!["ns1.google.com", "ns2.google.com"]);
        assert_eq!(f.referral.as_deref(), Some("whois.markmonitor.com"));
    }

    #[test]
    fn icann_registry_expiry_beats_registrar_expiration() {
        let reply = "Registrar Registration Expiration Date: 2025-05-25T04:00:00Z\nRegistry Expiry Date: 2025-05-24T04:00:00Z\n";
        assert_eq!(
            parse("x.ht", reply).expires,
            Some(utc("2025-05-24T04:00:00Z"))
        );
    }

    #[test]
    fn registrar_only_answer_uses_registrar_expiration() {
        let reply = "[Querying whois.verisign-grs.com]\n[Redirected to whois.gandi.net]\n[Querying whois.gandi.net]\n[whois.gandi.net]\nDomain Name: amnic.net\nRegistrar Registration Expiration Date: 2024-03-01T05:00:00Z\nRegistrar: GANDI SAS\n";
        let f = parse("amnic.net", reply);
        assert_eq!(f.expires, Some(utc("2024-03-01T05:00:00Z")));
        assert_eq!(f.registrar.as_deref(), Some("GANDI SAS"));
    }

    #[test]
    fn registrar_section_after_registry_uses_registry_expiry() {
        // The whois CLI prints the registry answer, then the registrar's: same instant, other zone,
        // and the registrar's creation date differs by its zone too.
        let cli = "\
[Querying whois.verisign-grs.com]
[Redirected to whois.markmonitor.com]
[Querying whois.markmonitor.com]
[whois.verisign-grs.com]
Domain Name: GOOGLE.COM
Creation Date: 1997-09-15T04:00:00Z
Registry Expiry Date: 2020-09-14T04:00:00Z
Registrar: MarkMonitor Inc.

[whois.markmonitor.com]
Domain Name: google.com
Creation Date: 1997-09-15T00:00:00-0700
Registrar Registration Expiration Date: 2020-09-13T21:00:00-0700
Registrar: MarkMonitor, Inc.
";
        let f = parse("google.com", cli);
        assert_eq!(f.expires, Some(utc("2020-09-14T04:00:00Z")));
        assert_eq!(f.created, Some(utc("1997-09-15T04:00:00Z")));
        assert_eq!(f.registrar.as_deref(), Some("MarkMonitor Inc."));

        // Thin-registry replies concatenated without headers: the registry's lines come first.
        let thin = "\
   Domain Name: SHAZOW.NET
   Registrar: NEW DREAM NETWORK, LLC
   Expiration Date: 13-sep-2009

>>> Last update of whois database: Sun, 12 Jul 2009 <<<

Registration Service Provided By: DreamHost
   Record expires on 2009-09-12 21:43:11.
   Record created on 2002-09-13 06:43:11.
";
        let f = parse("shazow.net", thin);
        assert_eq!(f.expires, Some(day("2009-09-13")));
        assert_eq!(f.created, Some(utc("2002-09-13T06:43:11Z")));
    }

    #[test]
    fn uk_expiry_date_on_indented_next_line() {
        let nominet = "\
    Domain name:
        amazon.co.uk

    Registrar:
        Amazon.com, Inc. t/a Amazon.com, Inc. [Tag = AMAZON-COM]
        URL: http://www.amazon.com

    Relevant dates:
        Registered on: before Aug-1996
        Expiry date:  05-Dec-2020
        Last updated:  23-Oct-2013

    Name servers:
        ns1.p31.dynect.net
        ns2.p31.dynect.net
";
        let f = parse("amazon.co.uk", nominet);
        assert_eq!(f.expires, Some(day("2020-12-05")));
        assert_eq!(f.updated, Some(day("2013-10-23")));
        assert_eq!(f.created, None, "`before Aug-1996` has no day");
        assert_eq!(
            f.registrar.as_deref(),
            Some("Amazon.com, Inc. t/a Amazon.com, Inc. [Tag = AMAZON-COM]")
        );
        assert_eq!(
            f.nameservers,
            vec!["ns1.p31.dynect.net", "ns2.p31.dynect.net"]
        );

        let janet = "Domain:\n\tdirect.gov.uk\n\nRenewal date:\n\tWednesday 30th Mar 2011\n\nEntry updated:\n\tWednesday 13th January 2010\n\nEntry created:\n\tWednesday 17th September 2003\n";
        let f = parse("direct.gov.uk", janet);
        assert_eq!(f.expires, Some(day("2011-03-30")));
        assert_eq!(f.updated, Some(day("2010-01-13")));
        assert_eq!(f.created, Some(day("2003-09-17")));
    }

    #[test]
    fn switch_value_on_next_unindented_line() {
        let reply = "Domain name:\nliechtenstein.li\n\nRegistrar:\nswitchplus AG\n\nFirst registration date:\n1996-02-08\n\nName servers:\npdns.llv.li    [193.222.114.65]\nscsnms.switch.ch    [130.59.31.26]\n";
        let f = parse("liechtenstein.li", reply);
        assert_eq!(f.outcome, ParseOutcome::NotPublished);
        assert_eq!(f.registrar.as_deref(), Some("switchplus AG"));
        assert_eq!(f.created, Some(day("1996-02-08")));
        assert_eq!(f.nameservers, vec!["pdns.llv.li", "scsnms.switch.ch"]);
    }

    #[test]
    fn jprs_bracketed_labels() {
        let english = "[ JPRS database provides information on network administration. ]\nDomain Information:\n[Domain Name]                   META.JP\n[Name Server]                   ns.meta.jp\n[Created on]                    2009/07/10\n[Expires on]                    2024/07/31\n[Status]                        Active\n[Last Updated]                  2023/08/01 01:05:03 (JST)\n";
        let f = parse("meta.jp", english);
        assert_eq!(f.expires, Some(day("2024-07-31")));
        assert_eq!(f.created, Some(day("2009-07-10")));
        assert_eq!(f.updated, Some(utc("2023-07-31T16:05:03Z")));
        assert_eq!(f.nameservers, vec!["ns.meta.jp"]);

        let japanese = "[ドメイン名]                    GOOGLE.JP\n[登録年月日]                    2005/05/30\n[有効期限]                      2024/05/31\n[状態]                          Active\n";
        let f = parse("google.jp", japanese);
        assert_eq!(f.expires, Some(day("2024-05-31")));
        assert_eq!(f.created, Some(day("2005-05-30")));
    }

    #[test]
    fn jprs_connected_state_is_not_expiry() {
        let reply = "Domain Information:\na. [Domain Name]                GOOGLE.NE.JP\np. [Name Server]                ns1.google.com\n[State]                         Connected (2010/09/30)\n[Registered Date]               2003/09/11\n[Connected Date]                2003/09/11\n[Last Update]                   2009/10/23 19:22:08 (JST)\n";
        let f = parse("google.ne.jp", reply);
        assert_eq!(f.outcome, ParseOutcome::NotPublished);
        assert_eq!(f.expires, None);
        assert_eq!(f.created, Some(day("2003-09-11")));
        assert_eq!(f.nameservers, vec!["ns1.google.com"]);
    }

    #[test]
    fn my_lettered_bracket_labels() {
        let reply = "a [Domain Name]                  GOOGLE.COM.MY\nc [Record Created]               03-JUN-1999\nd [Record Expired]               13-MAY-2014\n";
        let f = parse("google.com.my", reply);
        assert_eq!(f.expires, Some(day("2014-05-13")));
        assert_eq!(f.created, Some(day("1999-06-03")));
    }

    #[test]
    fn free_text_date_lines() {
        let reply = "Domain GOOGLE.KG\nRecord created: Wed Feb 10 19:00:00 2004\nRecord expires on Sun Mar 30 23:59:00 2014\n   Record expires on 04-Jan-2016.\nRegistered on 02nd August 2000\nRegistry fee due on 02nd August each year\n";
        let f = parse("google.kg", reply);
        assert_eq!(f.expires, Some(utc("2014-03-30T23:59:00Z")));
        assert_eq!(f.created, Some(utc("2004-02-10T19:00:00Z")));
        let cidr = "Relevant dates:\n     Registered on 02nd August 2000\n     Registry fee due on 02nd August each year\n";
        let f = parse("google.as", cidr);
        assert_eq!(f.expires, None, "a fee due every year is not an expiry");
        assert_eq!(f.created, Some(day("2000-08-02")));
    }

    #[test]
    fn label_spellings_across_registries() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "x.ru",
                "paid-till:     2024-07-06T21:00:00Z\nfree-date:     2024-08-07\n",
                "2024-07-06",
            ),
            (
                "x.sk",
                "Valid Until:                  2024-06-10\n",
                "2024-06-10",
            ),
            (
                "x.cn",
                "Expiration Time: 2024-05-17 15:50:04\n",
                "2024-05-17",
            ),
            ("x.ie", "renewal:      21-March-2015\n", "2015-03-21"),
            ("x.ca", "date_renewal: 2014-06-25\n", "2014-06-25"),
            (
                "x.nz",
                "domain_datebilleduntil: 2021-06-26T12:00:00+12:00\n",
                "2021-06-26",
            ),
            (
                "x.ve",
                "   Fecha de Vencimiento: 2018-03-06 00:00:00\n",
                "2018-03-06",
            ),
            (
                "x.sn",
                "Date d'expiration:             2023-12-31T00:00:00Z\n",
                "2023-12-31",
            ),
            (
                "x.th",
                "Exp date:                   16 Jan 2025\n",
                "2025-01-16",
            ),
            (
                "x.tr",
                "Expires on..............: 2019-Aug-22.\n",
                "2019-08-22",
            ),
            (
                "x.fi",
                "expires............: 17.7.2022 22:16:55\n",
                "2022-07-17",
            ),
            (
                "x.ws",
                "  Domain Currently Expires: 2010-03-03\n",
                "2010-03-03",
            ),
            (
                "x.tk",
                "   Record will expire on: 03/02/2012\n",
                "2012-03-02",
            ),
            (
                "x.kr",
                "사용 종료일                 : 2025. 03. 12.\n",
                "2025-03-12",
            ),
            ("x.ly", "Expired: 2010-10-03 13:36:48\n", "2010-10-03"),
            ("x.it", "Expire Date:        2019-04-21\n", "2019-04-21"),
            (
                "x.dz",
                "Date d'expiration#. . . . . . .10/01/2027\n",
                "2027-01-10",
            ),
            ("x.ma", "domain:Expires:20270324\n", "2027-03-24"),
        ];
        for (domain, reply, want) in cases {
            let f = parse(domain, reply);
            assert_eq!(
                f.expires.map(|d| d.day().to_string()).as_deref(),
                Some(*want),
                "{domain}: {reply:?}"
            );
        }
    }

    #[test]
    fn pl_option_expiration_is_not_expiry() {
        let reply = "DOMAIN NAME:           allegro.pl\ncreated:               1999.10.27 13:00:00\noption created:        2014.06.02 23:44:16\noption expiration date:       2020.06.02 23:44:16\n";
        let f = parse("allegro.pl", reply);
        assert_eq!(f.expires, None);
        assert_eq!(f.outcome, ParseOutcome::NotPublished);
        let with_renewal = format!("{reply}renewal date:          2018.10.26 15:00:00\n");
        assert_eq!(
            parse("allegro.pl", &with_renewal).expires,
            Some(utc("2018-10-26T15:00:00Z"))
        );
    }

    #[test]
    fn ua_ok_until_status_is_the_expiry() {
        let f = parse(
            "kyivstar.ua",
            "domain: kyivstar.ua\nstatus:     OK-UNTIL 20140903121852\n",
        );
        assert_eq!(f.expires, Some(utc("2014-09-03T12:18:52Z")));
    }

    #[test]
    fn iana_tld_record_is_not_the_domain() {
        let reply = "\
% IANA WHOIS server

refer:        whois.nic.live

domain:       LIVE
created:      2015-06-25
changed:      2023-09-12

# whois.nic.live

Domain Name: nic.live
Updated Date: 2024-06-11T22:04:34Z
Creation Date: 2015-04-27T22:04:24Z
Registry Expiry Date: 2025-04-27T22:04:24Z
";
        let f = parse("nic.live", reply);
        assert_eq!(f.created, Some(utc("2015-04-27T22:04:24Z")));
        assert_eq!(f.updated, Some(utc("2024-06-11T22:04:34Z")));
        assert_eq!(f.referral.as_deref(), Some("whois.nic.live"));
    }

    #[test]
    fn verisign_host_records_are_skipped() {
        let reply = "   Server Name: IMDB.COM.MORE.INFO.AT.WWW.BEYONDWHOIS.COM\n   IP Address: 203.36.226.2\n   Registrar: TUCOWS INC.\n\n   Domain Name: IMDB.COM\n   Registrar: NETWORK SOLUTIONS, LLC.\n   Expiration Date: 04-jan-2016\n";
        let f = parse("imdb.com", reply);
        assert_eq!(f.registrar.as_deref(), Some("NETWORK SOLUTIONS, LLC."));
        assert_eq!(f.expires, Some(day("2016-01-04")));
    }

    #[test]
    fn registrar_block_prefers_organisation() {
        let it = "Domain:             google.it\nExpire Date:        2019-04-21\n\nRegistrar\n  Organization:     MarkMonitor International Limited\n  Name:             MARKMONITOR-REG\n";
        assert_eq!(
            parse("google.it", it).registrar.as_deref(),
            Some("MarkMonitor International Limited")
        );
        let eu = "Domain: google.eu\n\nRegistrar:\n        Name: MarkMonitor Inc.\n        Website: https://www.markmonitor.com/\n";
        assert_eq!(
            parse("google.eu", eu).registrar.as_deref(),
            Some("MarkMonitor Inc.")
        );
        let ee = "Domain:\nname:       eestiinternet.ee\nexpire:     2015-11-29\n\nRegistrar:\nname:       Elisa Eesti AS\nurl:        http://www.elisa.ee\n";
        assert_eq!(
            parse("eestiinternet.ee", ee).registrar.as_deref(),
            Some("Elisa Eesti AS")
        );
        let yaml = "registrar: !Registrar \n  name: GOOGLE\n  address: |-\n";
        assert_eq!(parse("x.fr", yaml).registrar.as_deref(), Some("GOOGLE"));
    }

    #[test]
    fn registrar_handle_followed_by_name_uses_name() {
        let sk = "Domain:                       sk-nic.sk\nValid Until:                  2024-06-10\nRegistrar:                    EURO-0001\nName:                         SK-NIC, a.s.\nOrganization:                 SK-NIC, a.s.\n";
        assert_eq!(
            parse("sk-nic.sk", sk).registrar.as_deref(),
            Some("SK-NIC, a.s.")
        );
        // A handle alone is the registrar's name as printed.
        let cr = "domain:       google.co.cr\nregistrar:    NIC-REG1\nexpire:       17.04.2020\n";
        assert_eq!(
            parse("google.co.cr", cr).registrar.as_deref(),
            Some("NIC-REG1")
        );
    }

    #[test]
    fn ripe_changed_run_takes_latest() {
        let reply = "domain:       isoc.org.il\nchanged:      registrar AT ns.il 19960111 (Assigned)\nchanged:      registrar AT ns.il 19990812 (Changed)\nchanged:      domain-registrar AT isoc.org.il 20140116 (Changed)\n\nperson:       Someone\nchanged:      x AT y 20200101\n";
        assert_eq!(parse("isoc.org.il", reply).updated, Some(day("2014-01-16")));
    }

    #[test]
    fn nameservers_lower_case_no_dot_no_glue_deduped() {
        let reply = "Domain: google.dk\nDNS: google.dk\nnserver: NS1.Example.NET. 192.0.2.1 2001:db8::1\nnserver: ns1.example.net\nName servers:\n    ns2.example.net (198.51.100.2)\n    not.defined\n";
        assert_eq!(
            parse("google.dk", reply).nameservers,
            vec!["ns1.example.net", "ns2.example.net"]
        );
    }

    #[test]
    fn status_codes_without_urls_deduped() {
        let reply = "Domain Name: x.sk\nDomain Status: serverTransferProhibited, serverUpdateProhibited\nDomain Status: serverUpdateProhibited https://icann.org/epp#serverUpdateProhibited\nstatus: ok (paid and in zone)\n";
        assert_eq!(
            parse("x.sk", reply).status,
            vec!["serverTransferProhibited", "serverUpdateProhibited", "ok"]
        );
    }

    #[test]
    fn crlf_and_latin1_replies_are_read() {
        let crlf = "Domain Name: x.com\r\nRegistry Expiry Date: 2030-01-02T00:00:00Z\r\nRegistrar: Acme\r\n";
        let f = parse("x.com", crlf);
        assert_eq!(f.expires, Some(utc("2030-01-02T00:00:00Z")));
        assert_eq!(f.registrar.as_deref(), Some("Acme"));

        let mut latin1 = b"Domain name: google.cl\nRegistrar name: NIC Chile \xc1rea\n\xdaltima modificaci\xf3n: 2012-08-23\n".to_vec();
        latin1.extend_from_slice(b"Expiration date: 2019-11-20 14:48:02 CLST\n");
        let f = parse_whois("google.cl", &latin1);
        assert_eq!(f.registrar.as_deref(), Some("NIC Chile Área"));
        assert_eq!(f.updated, Some(day("2012-08-23")));
        assert_eq!(f.expires, Some(utc("2019-11-20T17:48:02Z")));
    }

    #[test]
    fn double_encoded_utf8_is_repaired() {
        let reply = "Nom de domaine:                nic.sn\nDate de crÃ©ation:              1998-01-01T00:00:00Z\nDerniÃ¨re modification:         2023-02-14T00:01:27Z\nDate d'expiration:             2023-12-31T00:00:00Z\n";
        let f = parse("nic.sn", reply);
        assert_eq!(f.created, Some(utc("1998-01-01T00:00:00Z")));
        assert_eq!(f.updated, Some(utc("2023-02-14T00:01:27Z")));
        // Genuine Latin-1 text that is not UTF-8 underneath is left alone.
        assert_eq!(undo_double_utf8("Área técnica"), "Área técnica");
    }

    #[test]
    fn registries_without_expiry_are_not_published() {
        let replies: &[(&str, &str)] = &[
            ("web.de", "Domain: web.de\nNserver: ns-webde.ui-dns.biz\nStatus: connect\nChanged: 2016-04-11T11:09:54+02:00\n"),
            ("xs4all.nl", "Domain name: xs4all.nl\nStatus: active\n\nRegistrar:\n   KPN\n\nCreation Date: 1993-11-20\n"),
            ("google.eu", "Domain: google.eu\nScript: LATIN\n\nName servers:\n        ns1.google.com\n"),
            ("nic.at", "domain:         nic.at\nregistrant:     NG8867695-NICAT\nnserver:        ns1.univie.ac.at\nchanged:        20140506 14:05:02\nsource:         AT-DOM\n"),
        ];
        for (domain, reply) in replies {
            let f = parse(domain, reply);
            assert_eq!(f.outcome, ParseOutcome::NotPublished, "{domain}");
            assert_eq!(f.expires, None, "{domain}");
        }
    }

    // ----- outcomes ---------------------------------------------------------------------------

    #[test]
    fn not_found_phrasings() {
        let replies = [
            "No match for \"NONEXISTENT-123.COM\".\n>>> Last update of whois database: 2024-01-01T00:00:00Z <<<\n",
            "Domain not found.\n\nTerms of Use: ...\n",
            "NOT FOUND\n",
            "No Data Found\n",
            "% No entries found for the selected source(s).\n",
            "%% NOT FOUND\n",
            "No match!!\n",
            "Domain: nonexistent.eu\n\nStatus: AVAILABLE\n",
            "nonexistent.nl is free\n",
            "Domain: nonexistent.de\nStatus: free\n",
            "% nothing found\n",
            "This domain name has not been registered.\n",
            "We do not have an entry in our database matching your query.\n",
            "The queried object does not exist: DOMAIN NOT FOUND\n",
            "No matching record.\n",
            "domain_name: x.co.nz\nquery_status: 220 Available\n",
            "% No se encontró el objeto solicitado\n",
            "Keine Daten gefunden\n",
            "%% Aucun objet trouvé / no object found\n",
            "Нет данных: домен не найден\n",
            "没有找到该域名的记录\n",
            "該当するデータがありません。\n",
            "상기 도메인이름은 등록되어 있지 않습니다.\n",
        ];
        for reply in replies {
            let f = parse("nonexistent.example", reply);
            assert_eq!(f.outcome, ParseOutcome::NotFound, "{reply:?}");
            assert_eq!(f.expires, None);
            assert!(f.status.is_empty() && f.nameservers.is_empty(), "{reply:?}");
        }
    }

    #[test]
    fn rate_limit_phrasings() {
        let replies = [
            "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS\n",
            "Error for \"google.co.uk\".\n\nThe WHOIS query quota for 2001:db8::1 has been exceeded\nand will be replenished in 54 seconds.\n",
            "Queried interval is too short.\n",
            "Number of allowed queries exceeded.\n",
            "Too many requests, please try again later.\n",
            "55000000002 Connection refused; access control limit reached.\n",
            "You have exceeded allowed connection rate.\n",
            "%ERROR:429: rate limit exceeded\n",
            "查询过于频繁，请稍后再试\n",
        ];
        for reply in replies {
            let f = parse("example.com", reply);
            assert_eq!(f.outcome, ParseOutcome::RateLimited, "{reply:?}");
            assert_eq!(f.expires, None);
        }
    }

    #[test]
    fn garbage_and_empty_are_unparseable() {
        for reply in [
            &b""[..],
            b"   \r\n\n",
            b"\x00\x01\x02\xff\xfe",
            b"<html><body>502 Bad Gateway</body></html>",
            b"lorem ipsum dolor sit amet",
        ] {
            let f = parse_whois("example.com", reply);
            assert_eq!(f.outcome, ParseOutcome::Unparseable, "{reply:?}");
            assert_eq!(f, RegistrationFacts::default());
        }
    }

    #[test]
    fn a_found_reply_with_a_limit_disclaimer_is_found() {
        let reply = format!(
            "{ICANN}\nNOTICE: queries are rate limited; exceeding the limit blocks access.\n"
        );
        assert_eq!(parse("example.com", &reply).outcome, ParseOutcome::Found);
    }

    // ----- corpus -----------------------------------------------------------------------------

    #[test]
    fn corpus_expiry_accuracy_meets_bar() {
        let cases = corpus::cases(".txt");
        assert!(
            cases.len() >= 300,
            "expected the WHOIS corpus under {}, found {} cases",
            corpus::CORPUS,
            cases.len()
        );
        let mut score = Score::default();
        for case in &cases {
            let domain = case
                .expected
                .get("domain")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let raw = std::fs::read(&case.raw).expect("raw reply is readable");
            score.add(case, &parse_whois(domain, &raw));
        }
        score.report("whois corpus");
        assert!(
            Score::ratio(score.expires) >= 0.99,
            "expires accuracy {:?}",
            score.expires
        );
        assert!(
            Score::ratio(score.created) >= 0.98,
            "created accuracy {:?}",
            score.created
        );
        assert!(
            Score::ratio(score.updated) >= 0.98,
            "updated accuracy {:?}",
            score.updated
        );
        assert!(
            Score::ratio(score.registrar) >= 0.95,
            "registrar accuracy {:?}",
            score.registrar
        );
    }
}
