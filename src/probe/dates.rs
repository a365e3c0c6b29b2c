//! Reading a printed registration date into a [`DateValue`], for both reply parsers (WHOIS and
//! RDAP): the date shapes registries print, month names in the languages they print them in, zone
//! abbreviations, and the per-registry tables that settle what a date leaves open.
//!
//! - `MONTH_FIRST_TLDS`: the registries that write `mm/dd/yyyy`. Everyone else is read
//!   `dd/mm/yyyy`. The order is decided per registry, never guessed from the digits (`03/02/2012`
//!   is ambiguous); a label that spells its format out overrides it ([`order_hint`]);
//! - `ZONE_ABBREVIATIONS`, `REGIONAL_ZONE_ABBREVIATIONS` and `REGISTRY_ZONES`: how to turn a
//!   printed time into UTC.
//!
//! [`RegistryDates`] carries what the queried domain's registry implies (order and zone);
//! [`parse_date_with`] reads a value with it, [`parse_date`] with no registry at all (RDAP).

use std::sync::LazyLock;

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use regex::{Captures, Regex};

use crate::domain::registration::DateValue;

/// Order of day and month in all-numeric dates such as `03/02/2012`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DayOrder {
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

/// How the queried domain's registry prints dates: its TLD (for regional zone abbreviations), its
/// day order and, when known, the zone of times printed without one.
#[derive(Debug, Clone)]
pub(super) struct RegistryDates {
    /// The queried domain's last label, lower case.
    tld: String,
    pub(super) order: DayOrder,
    zone: Option<FixedOffset>,
}

impl RegistryDates {
    /// The registry of `domain` (lower case, without a trailing dot).
    pub(super) fn for_domain(domain: &str) -> RegistryDates {
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
        RegistryDates { tld, order, zone }
    }
}

static ORDER_HINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(dd|mm)[/.\-](mm|dd)[/.\-]yy(?:yy)?\b").expect("static regex")
});

/// A label that spells out its own format (`Expiration Date (dd/mm/yyyy)`) beats the TLD table.
pub(super) fn order_hint(label: &str) -> Option<DayOrder> {
    let caps = ORDER_HINT.captures(label)?;
    if caps[1].eq_ignore_ascii_case("dd") {
        Some(DayOrder::DayFirst)
    } else {
        Some(DayOrder::MonthFirst)
    }
}

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
pub(super) fn parse_date(text: &str) -> Option<DateValue> {
    parse_date_with(text, DayOrder::DayFirst, &RegistryDates::for_domain(""))
}

/// Reads the first date in `text` (see [`DATE_SHAPES`]) with the given day order; times are read in
/// their printed zone, else the registry's zone (`registry`), else UTC.
pub(super) fn parse_date_with(
    text: &str,
    order: DayOrder,
    registry: &RegistryDates,
) -> Option<DateValue> {
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
            let time = time_in_shape(&caps, &registry.tld)
                .or_else(|| time_after(&text[whole.end()..], &registry.tld));
            best = Some((whole.start(), shape_index, date, time));
            break;
        }
    }
    let (_, _, date, time) = best?;
    Some(match time {
        None => DateValue::Date(date),
        Some((t, zone)) => {
            let offset = zone
                .or(registry.zone)
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

#[cfg(test)]
mod tests {
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
            let registry = RegistryDates::for_domain(&format!("example.{tld}"));
            let got = parse_date_with(printed, registry.order, &registry);
            let want = expected.map(|e| if e.len() == 10 { day(e) } else { utc(e) });
            assert_eq!(got, want, "rule {rule}: {printed:?} (.{tld})");
        }
    }
}
