//! The OpenAPI document, kept honest: every operation lists every status
//! it can answer, each refusal with the error body; parameters and fields
//! carry the values, ranges and lengths the handlers accept.
//!
//! The annotations on each handler say what is particular to it (its
//! successes, 403 for a role, 404, 409, the 422s of its content). What
//! every operation of a kind answers is added here, once, from the
//! operation as documented ([`finish`]):
//! - a token (the bearer or the calendar's `token`): 401, 429, 500;
//! - parameters (path or query): 400;
//! - a request body: 400, 413, 415, 422.
//!
//! Every string the API reads (a path or query parameter, a string in a
//! request body) is also given [`NUL_FREE`] here ([`forbid_nul`]): no
//! stored text can hold the NUL character (PostgreSQL's text refuses it),
//! so a request holding one is not a request the document describes, and
//! is refused (400 for a parameter, 422 for a JSON body).
//!
//! The named value lists (`WatchName`, `DomainStatusName`, ...) are built
//! from the same constants the handlers check against.

use std::borrow::Cow;
use std::collections::BTreeSet;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder, OneOfBuilder,
    Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Header, OpenApi as Document, Ref, RefOr};
use utoipa::{OpenApi, PartialSchema, ToSchema};

use super::error::ErrorBody;
use crate::domain::access::Role;
use crate::domain::fleet::{OwnerKind, Watch};
use crate::domain::status::DomainStatus;
use crate::store::OutboxState;

/// `GET /api/v1/domains?sort=`.
pub const DOMAIN_SORTS: [&str; 2] = ["expiry", "name"];
/// `GET /api/v1/alerts?state=`.
pub const ALERT_STATES: [&str; 2] = ["firing", "resolved"];
/// `POST /api/v1/scans` `scope`.
pub const SCAN_SCOPES: [&str; 3] = ["all", "client", "domain"];
/// Every spelling `tls_mode` accepts (`TlsMode::parse_name`): the names
/// lists show, then the older ones (`auto`: what the port implies).
pub const TLS_MODE_SPELLINGS: [&str; 9] = [
    "direct",
    "starttls-smtp",
    "starttls-imap",
    "starttls-pop3",
    "auto",
    "tls",
    "smtp",
    "imap",
    "pop3",
];
/// The default and largest page sizes.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;
/// The largest number of days a threshold or a window may have.
pub const MAX_DAYS: i64 = 3650;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lapse API",
        description = "Domain-registration and TLS-certificate expiry monitor. Send a token as `Authorization: Bearer <token>` (an admin makes one with `lapse tokens create`). Roles: admin (everything, tokens), staff (read/write clients, contacts, domains, endpoints, thresholds, manual expiry dates; queue outbox messages again; start scans), viewer (read everything), client (read its own client's data only: the domains whose registration it owns or under which it owns an endpoint, its endpoints, its thresholds; other clients' rows are 404; no outbox). Errors are `{\"error\": {\"code\", \"message\", \"field\"}}` with a stable `code`; every operation lists the statuses it can answer. Any request whose declared body is larger than `api.max_body_bytes` is refused with 413 before it reaches its route; an unknown route is 404 and a method a route does not take is 405, both with the error body. Lists return `{items, total, next_cursor}`: pass `next_cursor` as `cursor` for the next page; pages stay stable while rows are added. Times are UTC RFC 3339."
    ),
    paths(super::openapi_json, super::healthz, super::readyz),
    components(schemas(super::Health, super::Readiness)),
    modifiers(&SecuritySchemes),
    security(("bearer" = [])),
    tags(
        (name = "domains", description = "Registrable domains: list with filters, create, detail, change what is watched and who owns the registration, a manual expiry date, delete, bulk import"),
        (name = "endpoints", description = "TLS services under a domain"),
        (name = "observations", description = "Certificate check history"),
        (name = "clients", description = "Agency customers and their contacts"),
        (name = "thresholds", description = "Days at which alerts fire, per client and per domain, overriding the configuration"),
        (name = "alerts", description = "Firing and resolved alerts"),
        (name = "channels", description = "Channels (Teams, Telegram, ntfy, PagerDuty, Slack, Discord, webhook) and where each is attached: staff, or one client"),
        (name = "outbox", description = "The delivery queue: alert emails, webhooks, digests"),
        (name = "scans", description = "Start scans and follow their progress"),
        (name = "summary", description = "Counts by status and the next expiries"),
        (name = "calendar", description = "iCalendar feed of upcoming expiries"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `lapse tokens create` or POST /api/v1/tokens",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "token_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))),
        );
    }
}

/// A refusal every operation of a kind can answer: status, component name,
/// description.
struct Common {
    status: &'static str,
    name: &'static str,
    description: &'static str,
}

const UNAUTHORIZED: Common = Common {
    status: "401",
    name: "Unauthorized",
    description:
        "No token, not `Bearer <token>`, or a token that is unknown or revoked (`unauthorized`)",
};
const RATE_LIMITED: Common = Common {
    status: "429",
    name: "RateLimited",
    description:
        "Over this token's request rate (`rate_limited`); `Retry-After` says when to try again",
};
const INTERNAL: Common = Common {
    status: "500",
    name: "Internal",
    description: "lapse itself failed (`internal`); the cause is in its log, not in the response",
};
const BAD_PARAMETER: Common = Common {
    status: "400",
    name: "BadParameter",
    description: "A parameter is not valid: not an id, out of range, not one of its values, given twice, not UTF-8 or holding the NUL character (`invalid_parameter`); a query parameter this route does not take (`unknown_parameter`); a malformed query string (`invalid_query`). `field` names the parameter",
};
const BAD_BODY: Common = Common {
    status: "400",
    name: "BadBody",
    description: "The body is not JSON (`malformed_json`) or could not be read (`unreadable_body`); or a parameter is not valid (`invalid_parameter`, `unknown_parameter`, `invalid_query`; `field` names it)",
};
const TOO_LARGE: Common = Common {
    status: "413",
    name: "BodyTooLarge",
    description: "The body is larger than `api.max_body_bytes` (`body_too_large`)",
};
const NOT_JSON: Common = Common {
    status: "415",
    name: "UnsupportedMediaType",
    description:
        "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`)",
};
const INVALID_BODY: Common = Common {
    status: "422",
    name: "InvalidBody",
    description: "The JSON does not fit the request schema: a field is missing, unknown or of the wrong type (`invalid_body`; `field` names it), or a string holds the NUL character (`invalid_body`)",
};

const ALL_COMMON: [Common; 8] = [
    UNAUTHORIZED,
    RATE_LIMITED,
    INTERNAL,
    BAD_PARAMETER,
    BAD_BODY,
    TOO_LARGE,
    NOT_JSON,
    INVALID_BODY,
];

/// Request bodies that need at least one field. (utoipa-gen 5.5 writes
/// `#[schema(min_properties = 1)]` as `maxProperties`, so it is set here.)
const AT_LEAST_ONE_FIELD: [&str; 3] = ["DomainPatch", "ThresholdsChange", "DeliveryPatch"];

/// The document as served: the routes' annotations plus what every
/// operation of a kind answers (see the module comment).
pub fn finish(mut doc: Document) -> Document {
    let components = doc.components.get_or_insert_with(Default::default);
    for name in AT_LEAST_ONE_FIELD {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
            object.min_properties = Some(1);
        }
    }
    for common in ALL_COMMON {
        components
            .responses
            .insert(common.name.to_owned(), RefOr::T(error_response(&common)));
    }
    forbid_nul(&mut doc);
    let global_security = doc.security.clone().unwrap_or_default();
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            let security = operation.security.as_ref().unwrap_or(&global_security);
            let needs_token = security
                .iter()
                .any(|r| serde_json::to_value(r).is_ok_and(|v| v != serde_json::json!({})));
            add_common(operation, needs_token);
        }
    }
    doc
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// The `pattern` of every string the API reads: any text without the NUL
/// character (U+0000). ECMA-262, as JSON Schema reads it (`\u0000` is the
/// regex escape, not a NUL in the document).
pub const NUL_FREE: &str = "^[^\\u0000]*$";

/// Gives [`NUL_FREE`] to every string schema of the request side (path,
/// query and header parameters; request bodies, through the component
/// schemas they refer to) that has no `pattern` or `enum` of its own.
/// A component schema that responses share gets it too: what the API
/// refuses to read it never stores.
fn forbid_nul(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    // The component schemas a request reaches, however deep.
    let mut reached = BTreeSet::new();
    let mut pending: Vec<String> = Vec::new();
    for item in doc.paths.paths.values_mut() {
        for schema in request_schemas(item) {
            refs_in(schema, &mut pending);
        }
    }
    while let Some(name) = pending.pop() {
        if reached.insert(name.clone()) {
            if let Some(schema) = components.schemas.get(&name) {
                refs_in(schema, &mut pending);
            }
        }
    }
    for name in &reached {
        if let Some(schema) = components.schemas.get_mut(name) {
            nul_free(schema);
        }
    }
    for item in doc.paths.paths.values_mut() {
        for schema in request_schemas(item) {
            nul_free(schema);
        }
    }
}

/// The schemas of a path item's parameters and request bodies.
fn request_schemas(item: &mut PathItem) -> Vec<&mut RefOr<Schema>> {
    let PathItem {
        parameters,
        get,
        put,
        post,
        delete,
        options,
        head,
        patch,
        trace,
        ..
    } = item;
    let mut out: Vec<&mut RefOr<Schema>> = Vec::new();
    let operations = [get, put, post, delete, options, head, patch, trace];
    let operations = operations.into_iter().flat_map(Option::as_mut);
    let mut all_parameters = vec![parameters];
    let mut bodies = Vec::new();
    for operation in operations {
        all_parameters.push(&mut operation.parameters);
        bodies.extend(operation.request_body.as_mut());
    }
    for parameter in all_parameters.into_iter().flatten().flatten() {
        out.extend(parameter.schema.as_mut());
    }
    for body in bodies {
        out.extend(body.content.values_mut().filter_map(|c| c.schema.as_mut()));
    }
    out
}

/// The component names `schema` refers to (not those they refer to).
fn refs_in(schema: &RefOr<Schema>, out: &mut Vec<String>) {
    let mut found = Vec::new();
    visit(schema, &mut |node| {
        if let RefOr::Ref(reference) = node {
            if let Some(name) = reference.ref_location.rsplit('/').next() {
                found.push(name.to_owned());
            }
        }
    });
    out.extend(found);
}

/// Adds [`NUL_FREE`] to `schema` and the schemas written inside it (not
/// those it refers to).
fn nul_free(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            let string = match &object.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            if string && object.pattern.is_none() && object.enum_values.is_none() {
                object.pattern = Some(NUL_FREE.to_owned());
            }
            object.properties.values_mut().for_each(nul_free);
            if let Some(AdditionalProperties::RefOr(extra)) =
                object.additional_properties.as_deref_mut()
            {
                nul_free(extra);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                nul_free(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(nul_free),
        Schema::AllOf(all) => all.items.iter_mut().for_each(nul_free),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(nul_free),
        _ => {}
    }
}

/// Calls `f` on `schema` and every schema written inside it.
fn visit(schema: &RefOr<Schema>, f: &mut impl FnMut(&RefOr<Schema>)) {
    f(schema);
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            object.properties.values().for_each(|p| visit(p, f));
            if let Some(AdditionalProperties::RefOr(extra)) =
                object.additional_properties.as_deref()
            {
                visit(extra, f);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &array.items {
                visit(items, f);
            }
        }
        Schema::OneOf(one) => one.items.iter().for_each(|i| visit(i, f)),
        Schema::AllOf(all) => all.items.iter().for_each(|i| visit(i, f)),
        Schema::AnyOf(any) => any.items.iter().for_each(|i| visit(i, f)),
        _ => {}
    }
}

fn add_common(operation: &mut Operation, needs_token: bool) {
    let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = operation.request_body.is_some();
    let mut wanted = Vec::new();
    if needs_token {
        wanted.extend([UNAUTHORIZED, RATE_LIMITED, INTERNAL]);
    }
    if has_body {
        wanted.extend([BAD_BODY, TOO_LARGE, NOT_JSON, INVALID_BODY]);
    } else if has_parameters {
        wanted.push(BAD_PARAMETER);
    }
    let responses = &mut operation.responses.responses;
    for common in wanted {
        match responses.get_mut(common.status) {
            None => {
                responses.insert(
                    common.status.to_owned(),
                    RefOr::Ref(Ref::from_response_name(common.name)),
                );
            }
            // The route's own words come first; the common causes follow.
            Some(RefOr::T(own)) => {
                own.description = format!("{}. Also: {}", own.description, common.description);
            }
            Some(RefOr::Ref(_)) => {}
        }
    }
}

fn error_response(common: &Common) -> Response {
    let mut response = ResponseBuilder::new()
        .description(common.description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        );
    match common.status {
        "401" => {
            response = response.header(
                "WWW-Authenticate",
                Header::new(ObjectBuilder::new().schema_type(Type::String)),
            );
        }
        "429" => {
            response = response.header(
                "Retry-After",
                Header::new(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                ),
            );
        }
        _ => {}
    }
    response.build()
}

/// A string that is one of `values`.
fn one_of<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

macro_rules! value_list {
    ($(#[$doc:meta])* $name:ident, $values:expr, $description:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                one_of($values, $description)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

value_list!(
    /// A client's `digest_weekday`.
    WeekdayName,
    crate::store::WEEKDAYS,
    "The day weekly digests go out: `mon`, `tue`, `wed`, `thu`, `fri`, `sat` or `sun`"
);
value_list!(
    /// A client's `timezone`: an IANA name, or `default`.
    TimeZoneName,
    std::iter::once("default").chain(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())),
    "An IANA time zone (`Europe/Berlin`), or `default` for `schedule.timezone`"
);
value_list!(
    /// A client's `delivery`.
    DeliveryModeName,
    crate::store::DeliveryMode::NAMES,
    "`immediate` (each event at once), `daily` or `weekly` (one digest; urgent events still at once)"
);
value_list!(
    /// `watch`: what is checked for a domain.
    WatchName,
    Watch::ALL.iter().map(|w| w.as_str()),
    "What is checked for a domain: `registration`, `tls` (its endpoints) or `both`"
);
value_list!(
    /// `registration_owner`.
    RegistrationOwnerName,
    OwnerKind::ALL.iter().map(|o| o.as_str()),
    "Who owns the registration: `client`, `agency` or `none`"
);
value_list!(
    /// `tls_mode`, with its older spellings.
    TlsModeName,
    TLS_MODE_SPELLINGS,
    "How the endpoint speaks TLS: `direct`, `starttls-smtp`, `starttls-imap` or `starttls-pop3`; the older `auto` (from the port), `tls`, `smtp`, `imap` and `pop3` are still accepted"
);
value_list!(
    /// A token's role.
    RoleName,
    Role::ALL.iter().map(|r| r.as_str()),
    "`admin`, `staff`, `viewer` or `client`"
);
value_list!(
    /// A scan's scope.
    ScanScopeName,
    SCAN_SCOPES,
    "`all`, `client` (needs `client`) or `domain` (needs `domain`)"
);
value_list!(
    /// A domain's status, as a filter.
    DomainStatusName,
    DomainStatus::ALL.iter().map(|s| s.as_str()),
    "A domain's status"
);
value_list!(
    /// An outbox message's state, as a filter.
    OutboxStateName,
    OutboxState::ALL.iter().map(|s| s.as_str()),
    "A message's delivery state"
);
value_list!(
    /// An alert's state, as a filter.
    AlertStateName,
    ALERT_STATES,
    "`firing` or `resolved`"
);
value_list!(
    /// The order of the domain list.
    DomainSortName,
    DOMAIN_SORTS,
    "`expiry` (soonest first, unknown last) or `name`"
);

/// An email address as a body gives it.
pub struct EmailAddress;

impl PartialSchema for EmailAddress {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .description(Some(
                "An email address with a dotted domain (`ops@acme.example`); look-alike characters are refused",
            ))
            .into()
    }
}

impl ToSchema for EmailAddress {}

/// `limit`: a page size.
pub struct PageLimit;

impl PartialSchema for PageLimit {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT))
            .default(Some(DEFAULT_LIMIT.into()))
            .description(Some(format!(
                "Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
            )))
            .into()
    }
}

impl ToSchema for PageLimit {}

/// A number of days, 0 to [`MAX_DAYS`].
pub struct Days;

impl PartialSchema for Days {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(MAX_DAYS))
            .into()
    }
}

impl ToSchema for Days {}

/// Threshold days: at least one number of [`Days`]; `null` inherits.
pub struct ThresholdDays;

impl PartialSchema for ThresholdDays {
    fn schema() -> RefOr<Schema> {
        let days = ArrayBuilder::new()
            .items(Days::schema())
            .min_items(Some(1))
            .build();
        OneOfBuilder::new()
            .item(Schema::Array(days))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some(format!(
                "Days before expiry at which an alert fires (0 to {MAX_DAYS}, at least one; any order, duplicates ignored); `null`: inherit again"
            )))
            .into()
    }
}

impl ToSchema for ThresholdDays {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::certificate::TlsMode;

    #[test]
    fn every_tls_mode_spelling_is_accepted_and_every_name_is_listed() {
        for spelling in TLS_MODE_SPELLINGS {
            assert!(TlsMode::parse_name(spelling, 443).is_some(), "{spelling}");
        }
        for mode in [
            TlsMode::Direct,
            TlsMode::StartTlsSmtp,
            TlsMode::StartTlsImap,
            TlsMode::StartTlsPop3,
        ] {
            assert!(TLS_MODE_SPELLINGS.contains(&mode.name()), "{mode:?}");
            assert!(TLS_MODE_SPELLINGS.contains(&mode.stored()), "{mode:?}");
        }
    }
}
