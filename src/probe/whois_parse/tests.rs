//! Unit tests of the WHOIS reply parser: one rule per test, then the corpus bar.

use chrono::{NaiveDate, Utc};

use super::*;
use crate::probe::corpus::{self, Score};

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
    let crlf =
        "Domain Name: x.com\r\nRegistry Expiry Date: 2030-01-02T00:00:00Z\r\nRegistrar: Acme\r\n";
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
    let reply =
        format!("{ICANN}\nNOTICE: queries are rate limited; exceeding the limit blocks access.\n");
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

#[test]
fn a_cut_reply_reads_whole_lines_only_and_is_never_not_published() {
    let head =
        "Domain Name: CUT.TEST\nRegistrar: Example Registrar\nRegistry Expiry Date: 2026-08-1";
    let cut = parse_cut_whois("cut.test", head.as_bytes());
    assert_eq!(cut.expires, None, "{cut:?}");
    assert_eq!(cut.outcome, ParseOutcome::Unparseable, "{cut:?}");
    assert_eq!(cut.cut_at_bytes, Some(head.len()));

    let whole = "Domain Name: CUT.TEST\nRegistry Expiry Date: 2026-08-13T04:00:00Z\nRegistrar: Exa";
    let cut = parse_cut_whois("cut.test", whole.as_bytes());
    assert_eq!(cut.outcome, ParseOutcome::Found);
    assert_eq!(cut.expires, Some(utc("2026-08-13T04:00:00Z")));
    assert_eq!(cut.registrar, None, "the partial line is not read");

    let nothing = parse_cut_whois("cut.test", b"Registry Expiry Date: 2026-08-13T04:00:00Z");
    assert_eq!(nothing.outcome, ParseOutcome::Unparseable, "no whole line");
}

#[test]
fn a_cut_reply_is_not_found_only_when_nothing_before_the_cut_describes_the_domain() {
    let notice = "% If no match is found, the name may be available.\n";
    let described = format!("{notice}Domain Name: CUT.TEST\nRegistrar: Example Registrar\n% more");
    let cut = parse_cut_whois("cut.test", described.as_bytes());
    assert_eq!(cut.outcome, ParseOutcome::Unparseable, "{cut:?}");
    let gone = "No match for \"GONE.TEST\".\n% Terms of us";
    let cut = parse_cut_whois("gone.test", gone.as_bytes());
    assert_eq!(cut.outcome, ParseOutcome::NotFound);
}
