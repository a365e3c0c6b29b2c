//! The WHOIS label and phrase tables: which printed labels mean "expiry", "created", "registrar",
//! ... in every spelling and language we have seen ([`LABEL_FAMILIES`]), and how registries say
//! "no such domain" ([`NOT_FOUND_PHRASES`]) or "slow down" ([`RATE_LIMIT_PHRASES`]). Mostly data:
//! each entry names the registries it was taken from, so the file grows with the corpus.

use std::sync::LazyLock;

use regex::Regex;

/// What a labelled line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
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
pub(super) const LABEL_FAMILIES: &[(Family, &str)] = &[
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

/// Lower case, `_` and `-` as spaces, dot leaders (`Expires on......:`) and brackets removed,
/// parentheticals (`(dd/mm/yyyy)`) dropped, whitespace collapsed.
pub(super) fn normalize_label(label: &str) -> String {
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
pub(super) fn classify_label(label: &str) -> Option<Family> {
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

/// How registries say "no such domain", matched per line (case-insensitive) after leading comment
/// marks (`%`, `#`, `>`) are stripped. Checked only when the reply printed no expiry.
pub(super) const NOT_FOUND_PHRASES: &[&str] = &[
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
pub(super) const RATE_LIMIT_PHRASES: &[&str] = &[
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

pub(super) static NOT_FOUND: LazyLock<Vec<Regex>> =
    LazyLock::new(|| compile_phrases(NOT_FOUND_PHRASES));
pub(super) static RATE_LIMITED: LazyLock<Vec<Regex>> =
    LazyLock::new(|| compile_phrases(RATE_LIMIT_PHRASES));

fn compile_phrases(phrases: &[&str]) -> Vec<Regex> {
    phrases
        .iter()
        .map(|p| Regex::new(&format!("(?i){p}")).expect("phrase patterns are valid"))
        .collect()
}
