//! Alerts, the ledger and threshold overrides.
//!
//! Reading: the facts an evaluation needs ([`EndpointAlertFacts`],
//! [`DomainAlertFacts`]), the firing alert of a (subject, kind) and the
//! ledger events already recorded for a subject key. Who hears of a subject
//! follows the fleet model: an endpoint's certificate alerts go to the
//! endpoint's client (`endpoints.client_id`), a registration's to the client
//! owning it (`domains.client_id` when `registration_owner = 'client'`);
//! nobody's (the agency's, a platform's) means staff only. Thresholds follow
//! the same owners.
//!
//! Writing (`writes`): [`Store::apply_alert_changes`] writes one subject's streak,
//! alert transitions, ledger rows, outbox messages and digest lines in ONE
//! transaction, after checking that the state it was decided on is still
//! the state in the database (otherwise [`StoreError::Stale`]: decide again).
//! A ledger row is inserted `ON CONFLICT DO NOTHING`; when it already
//! exists, its messages are not queued again: that is what makes every
//! crossing notify once, whatever crashes or repeats happen around it.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{parse_time, Store, StoreError};
use crate::domain::alert_policy::{AlertKind, Event, Firing, Thresholds};
use crate::domain::fleet::Watch;
use crate::domain::names::HostName;

mod writes;

pub(crate) use writes::end_unwatched_alerts_in;

/// What an alert is attached to. Both `None`: lapse itself (operator alerts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertScope {
    pub domain_id: Option<i64>,
    pub endpoint_id: Option<i64>,
}

impl AlertScope {
    pub fn endpoint(domain_id: i64, endpoint_id: i64) -> Self {
        Self {
            domain_id: Some(domain_id),
            endpoint_id: Some(endpoint_id),
        }
    }

    pub fn domain(domain_id: i64) -> Self {
        Self {
            domain_id: Some(domain_id),
            endpoint_id: None,
        }
    }

    pub fn operator() -> Self {
        Self {
            domain_id: None,
            endpoint_id: None,
        }
    }
}

/// One current certificate observation, as evaluation reads it.
#[derive(Debug, Clone)]
pub struct CurrentCert {
    pub address: String,
    pub outcome: String,
    pub leaf_fingerprint: Option<String>,
    pub leaf_not_after: Option<DateTime<Utc>>,
    pub chain_not_after: Option<DateTime<Utc>>,
    pub last_seen_at: String,
    pub details: serde_json::Value,
}

/// Who a subject's messages go to: the owning client (its name, shown in
/// messages and digest lines) and its contacts. No client: staff only.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub client: Option<String>,
    pub contacts: Vec<String>,
    /// The client's id, when there is one (its digest entries name it).
    pub client_id: Option<i64>,
    /// How the client hears of its alerts (immediate when no client).
    pub delivery: super::ClientDelivery,
    /// The channel routes that may post about the subject: staff's, and
    /// the client's own (`domain::routing` decides which post).
    pub routes: Vec<crate::domain::routing::Route>,
}

impl Audience {
    /// Staff alone, the client's name still shown: no contacts and none of
    /// the client's routes.
    pub fn staff_only(&self) -> Self {
        Self {
            client: self.client.clone(),
            routes: self
                .routes
                .iter()
                .filter(|r| r.target == crate::domain::routing::RouteTarget::Staff)
                .cloned()
                .collect(),
            ..Self::default()
        }
    }
}

/// Everything evaluation needs about an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointAlertFacts {
    pub endpoint_id: i64,
    pub domain_id: i64,
    /// The registrable domain's ASCII name.
    pub domain: String,
    pub host: String,
    pub port: u16,
    /// What is watched for the endpoint's domain: no certificate alerts
    /// unless it includes `tls`.
    pub watch: Watch,
    /// When a check of the endpoint first completed a handshake; `None`: never.
    pub first_handshake_at: Option<DateTime<Utc>>,
    /// The endpoint's client (staff only when it has none).
    pub audience: Audience,
    pub client_certificate_days: Option<Thresholds>,
    pub domain_certificate_days: Option<Thresholds>,
    pub current: Vec<CurrentCert>,
    /// The number of the endpoint's latest recorded check (see [`Streak`]).
    pub checks: i64,
    pub streak: Streak,
}

/// Everything evaluation needs about a domain's registration.
#[derive(Debug, Clone)]
pub struct DomainAlertFacts {
    pub domain_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// No registration alerts unless it includes `registration`.
    pub watch: Watch,
    /// The registration owner's client (staff only when the agency or
    /// nobody owns the registration).
    pub audience: Audience,
    pub client_registration_days: Option<Thresholds>,
    pub domain_registration_days: Option<Thresholds>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expires_source: Option<String>,
    pub outcome: Option<String>,
    pub statuses: Vec<String>,
    pub checked_at: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub stale: bool,
    /// The registration needs a date entered by hand: the condition of the
    /// status `needs_date`, unless the registry does not know the domain
    /// (a registration problem of its own).
    pub needs_date: bool,
    /// The number of the domain's latest recorded lookup (see [`Streak`]).
    pub checks: i64,
    pub streak: Streak,
}

/// Consecutive failed checks and the check last counted. Checks are told
/// apart by number: the writers number each recorded check of a subject
/// (`endpoints.cert_checks` in `record_batch_in`, `domains.registration_checks`
/// in `record_registration`); two checks made within one second have the
/// same time but not the same number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streak {
    pub failures: u32,
    /// The number of the check last counted (`None`: none yet).
    pub counted: Option<i64>,
    /// When that check was made (for people reading the row).
    pub counted_at: Option<String>,
}

/// Delivery channels of the outbox: email, or a channel's kind (the
/// message's `recipient` names the channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Slack,
    Discord,
    Webhook,
    Teams,
    Telegram,
    Ntfy,
    #[serde(rename = "pagerduty")]
    PagerDuty,
}

impl Channel {
    pub const ALL: [Self; 8] = [
        Self::Email,
        Self::Slack,
        Self::Discord,
        Self::Webhook,
        Self::Teams,
        Self::Telegram,
        Self::Ntfy,
        Self::PagerDuty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Webhook => "webhook",
            Self::Teams => "teams",
            Self::Telegram => "telegram",
            Self::Ntfy => "ntfy",
            Self::PagerDuty => "pagerduty",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A message to queue with a ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub channel: Channel,
    /// Email: the To addresses, comma-separated. Channels: the channel's name.
    pub recipient: String,
    /// Email: addresses in copy, comma-separated.
    pub cc: Option<String>,
    /// Email: the `Reply-To` (client mail: `agency.reply_to`).
    pub reply_to: Option<String>,
    pub subject: String,
    /// Email: the text part. Channels: the text, for people reading the outbox.
    pub body_text: String,
    pub body_html: Option<String>,
}

/// A post to a named channel: its outbox message (`recipient` names the
/// channel) and the structured payload (JSON) the request is built from at
/// delivery time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPost {
    pub message: NewMessage,
    pub payload: String,
}

/// What a ledger row causes: messages now, and/or a line for the staff digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub messages: Vec<NewMessage>,
    /// Posts to named channels, queued beside the messages.
    pub posts: Vec<ChannelPost>,
    pub digest: Option<DigestLine>,
    /// The client's event kept for the client's own digest.
    pub client_digest: Option<ClientDigestEntry>,
}

/// A client event for the client's next digest (instead of its mail now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDigestEntry {
    pub client_id: i64,
    pub subject: String,
    pub body_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestLine {
    pub client: Option<String>,
    pub line: String,
}

/// One transition to write (see `domain::alert_policy::Transition`).
#[derive(Debug, Clone, PartialEq)]
pub enum AlertWrite {
    Resolve {
        delivery: Option<Delivery>,
    },
    Open {
        subject_key: String,
        details: serde_json::Value,
    },
    Notify {
        event: Event,
        subject_key: String,
        delivery: Delivery,
    },
}

/// One subject's changes, written together.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChanges {
    pub scope: AlertScope,
    pub kind: AlertKind,
    /// The firing alert the decision was made on (checked before writing).
    pub expected_firing: Option<i64>,
    /// The streak to store, with the one it replaces (checked before writing).
    pub streak: Option<(Streak, Streak)>,
    pub writes: Vec<AlertWrite>,
    /// The domain part of message ids (`lapse.example.com`).
    pub message_id_domain: String,
}

/// What [`Store::apply_alert_changes`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AppliedChanges {
    pub opened: Vec<i64>,
    pub resolved: Vec<i64>,
    /// Ledger events newly recorded, as `alert_id:event`.
    pub events: Vec<String>,
    /// Message ids queued.
    pub queued: Vec<String>,
}

impl AppliedChanges {
    pub fn absorb(&mut self, other: AppliedChanges) {
        self.opened.extend(other.opened);
        self.resolved.extend(other.resolved);
        self.events.extend(other.events);
        self.queued.extend(other.queued);
    }
}

/// An alert as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertListing {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub subject_key: String,
    pub state: String,
    pub opened_at: String,
    pub resolved_at: Option<String>,
    /// The ledger, oldest first: notices (`threshold:7`) and people's
    /// actions with who did them (`acknowledged:TIME by ann`).
    pub events: Vec<String>,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub snoozed_until: Option<String>,
    pub snoozed_by: Option<String>,
}

/// Which override `set_thresholds` changes.
#[derive(Debug, Clone)]
pub enum ThresholdOwner {
    Client(String),
    Domain(HostName),
}

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdKind {
    Certificate,
    Registration,
}

impl ThresholdKind {
    fn column(self) -> &'static str {
        match self {
            Self::Certificate => "certificate_days",
            Self::Registration => "registration_days",
        }
    }
}

/// An override as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ThresholdOverride {
    /// `client` or `domain`.
    pub level: String,
    pub name: String,
    pub certificate_days: Option<Vec<u32>>,
    pub registration_days: Option<Vec<u32>>,
}

fn thresholds_column(text: Option<String>) -> Option<Thresholds> {
    text.and_then(|t| serde_json::from_str::<Vec<u32>>(&t).ok())
        .and_then(Thresholds::new)
}

fn days_column(text: Option<String>) -> Option<Vec<u32>> {
    text.and_then(|t| serde_json::from_str::<Vec<u32>>(&t).ok())
}

/// An endpoint's facts: its own client, not its domain's (which owns the
/// registration only).
const ENDPOINT_FACTS: &str = "SELECT e.id, e.domain_id, e.host, e.port, e.cert_checks,
            e.cert_failures, e.cert_failures_counted_check, e.cert_failures_counted_at,
            e.first_handshake_at, d.name AS domain_name, d.watch,
            c.id AS client_id, d.certificate_days AS domain_days,
            c.name AS client_name, c.certificate_days AS client_days,
            EXISTS (SELECT 1 FROM alerts a
                    WHERE a.endpoint_id = e.id AND a.state = 'firing'
                      AND COALESCE(a.domain_id, 0) = e.domain_id) AS firing
     FROM endpoints e JOIN domains d ON d.id = e.domain_id
     LEFT JOIN clients c ON c.id = e.client_id";

const CURRENT_CERTS: &str =
    "SELECT endpoint_id, address, outcome, leaf_fingerprint, leaf_not_after, chain_not_after,
            last_seen_at, details
     FROM cert_observations";

/// A registration's facts: the client joins only when it owns the
/// registration (`registration_owner = 'client'`).
const DOMAIN_FACTS: &str = concat!(
    "SELECT d.id, d.name, d.created_at, c.id AS client_id, d.watch,
            d.registration_days AS domain_days,
            d.expires_at, d.expires_source, d.registration_outcome, d.registration_status,
            d.registration_checked_at, d.registration_confirmed_at, d.registration_stale,
            d.registration_checks, d.registration_failures,
            d.registration_failures_counted_check, d.registration_failures_counted_at,
            c.name AS client_name, c.registration_days AS client_days,
            CASE WHEN (",
    super::read_models::needs_date_sql!(),
    ") AND d.registration_outcome IS DISTINCT FROM 'not_found' THEN 1 ELSE 0 END AS needs_date,
            EXISTS (SELECT 1 FROM alerts a
                    WHERE a.domain_id = d.id AND COALESCE(a.endpoint_id, 0) = 0
                      AND a.state = 'firing') AS firing
     FROM domains d
     LEFT JOIN clients c ON c.id = d.client_id AND d.registration_owner = 'client'"
);

fn current_cert(r: &sqlx::any::AnyRow) -> CurrentCert {
    CurrentCert {
        address: r.get("address"),
        outcome: r.get("outcome"),
        leaf_fingerprint: r.get("leaf_fingerprint"),
        leaf_not_after: r
            .get::<Option<String>, _>("leaf_not_after")
            .as_deref()
            .and_then(parse_time),
        chain_not_after: r
            .get::<Option<String>, _>("chain_not_after")
            .as_deref()
            .and_then(parse_time),
        last_seen_at: r.get("last_seen_at"),
        details: serde_json::from_str(&r.get::<String, _>("details"))
            .unwrap_or(serde_json::Value::Null),
    }
}

fn endpoint_facts(
    row: &sqlx::any::AnyRow,
    audience: Audience,
    current: Vec<CurrentCert>,
) -> EndpointAlertFacts {
    EndpointAlertFacts {
        endpoint_id: row.get("id"),
        domain_id: row.get("domain_id"),
        domain: row.get("domain_name"),
        host: row.get("host"),
        port: u16::try_from(row.get::<i64, _>("port")).unwrap_or_default(),
        watch: watch_column(row),
        first_handshake_at: row
            .get::<Option<String>, _>("first_handshake_at")
            .as_deref()
            .and_then(parse_time),
        audience,
        client_certificate_days: thresholds_column(row.get("client_days")),
        domain_certificate_days: thresholds_column(row.get("domain_days")),
        current,
        checks: row.get("cert_checks"),
        streak: Streak {
            failures: u32::try_from(row.get::<i64, _>("cert_failures")).unwrap_or(0),
            counted: row.get("cert_failures_counted_check"),
            counted_at: row.get("cert_failures_counted_at"),
        },
    }
}

fn domain_facts(row: &sqlx::any::AnyRow, audience: Audience) -> DomainAlertFacts {
    let time = |column: &str| {
        row.get::<Option<String>, _>(column)
            .as_deref()
            .and_then(parse_time)
    };
    DomainAlertFacts {
        domain_id: row.get("id"),
        name: row.get("name"),
        created_at: time("created_at").unwrap_or_default(),
        watch: watch_column(row),
        audience,
        client_registration_days: thresholds_column(row.get("client_days")),
        domain_registration_days: thresholds_column(row.get("domain_days")),
        expires_at: time("expires_at"),
        expires_source: row.get("expires_source"),
        outcome: row.get("registration_outcome"),
        statuses: row
            .get::<Option<String>, _>("registration_status")
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        checked_at: row.get("registration_checked_at"),
        confirmed_at: time("registration_confirmed_at"),
        stale: row.get::<i64, _>("registration_stale") != 0,
        needs_date: row.get::<i64, _>("needs_date") != 0,
        checks: row.get("registration_checks"),
        streak: Streak {
            failures: u32::try_from(row.get::<i64, _>("registration_failures")).unwrap_or(0),
            counted: row.get("registration_failures_counted_check"),
            counted_at: row.get("registration_failures_counted_at"),
        },
    }
}

/// `domains.watch`; the column's CHECK allows nothing else, and a value this
/// version cannot read keeps today's behaviour (both).
fn watch_column(row: &sqlx::any::AnyRow) -> Watch {
    Watch::parse(&row.get::<String, _>("watch")).unwrap_or(Watch::Both)
}

/// A JSON array of ids, for `json_each(?)`.
fn id_list(ids: &[i64]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

impl Store {
    /// The facts about one endpoint; `NotFound` when it is gone.
    pub async fn endpoint_alert_facts(
        &self,
        endpoint_id: i64,
    ) -> Result<EndpointAlertFacts, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query(&format!("{ENDPOINT_FACTS} WHERE e.id = $1"))
            .bind(endpoint_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no endpoint with id {endpoint_id}")))?;
        let client_id: Option<i64> = row.get("client_id");
        let audience = audience(&mut conn, client_id, row.get("client_name")).await?;
        let current = sqlx::query(&format!(
            "{CURRENT_CERTS} WHERE endpoint_id = $1 AND current = 1 ORDER BY address"
        ))
        .bind(endpoint_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(current_cert)
        .collect();
        Ok(endpoint_facts(&row, audience, current))
    }

    /// Every observation of an endpoint that served the leaf `fingerprint`,
    /// current or not: the addresses it was served on, for the renewal rule.
    pub async fn observations_of_certificate(
        &self,
        endpoint_id: i64,
        fingerprint: &str,
    ) -> Result<Vec<CurrentCert>, StoreError> {
        let rows = sqlx::query(&format!(
            "{CURRENT_CERTS} WHERE endpoint_id = $1 AND leaf_fingerprint = $2 ORDER BY address"
        ))
        .bind(endpoint_id)
        .bind(fingerprint)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(current_cert).collect())
    }

    /// The facts about many endpoints at once, with whether any alert of
    /// theirs is firing, WITHOUT their audience (empty): enough to tell that
    /// an evaluation would change nothing. `current` is each endpoint's
    /// current observations as the caller just recorded them (the writer
    /// holds them, so they are not read back). Gone endpoints are left out.
    pub async fn endpoint_quiet_facts(
        &self,
        mut current: std::collections::HashMap<i64, Vec<CurrentCert>>,
    ) -> Result<Vec<(EndpointAlertFacts, bool)>, StoreError> {
        let ids: Vec<i64> = current.keys().copied().collect();
        let rows = sqlx::query(&format!(
            "{ENDPOINT_FACTS} WHERE e.id IN ({})",
            super::ids_from_json(self.engine(), "$1")
        ))
        .bind(id_list(&ids))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let id: i64 = row.get("id");
                let certs = current.remove(&id).unwrap_or_default();
                (
                    endpoint_facts(row, Audience::default(), certs),
                    super::flag(row, "firing"),
                )
            })
            .collect())
    }

    /// The facts about one domain's registration; `NotFound` when it is gone.
    pub async fn domain_alert_facts(&self, domain_id: i64) -> Result<DomainAlertFacts, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query(&format!("{DOMAIN_FACTS} WHERE d.id = $1"))
            .bind(domain_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no domain with id {domain_id}")))?;
        let client_id: Option<i64> = row.get("client_id");
        let audience = audience(&mut conn, client_id, row.get("client_name")).await?;
        Ok(domain_facts(&row, audience))
    }

    /// [`Store::endpoint_quiet_facts`] for domains' registrations.
    pub async fn domain_quiet_facts(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(DomainAlertFacts, bool)>, StoreError> {
        let rows = sqlx::query(&format!(
            "{DOMAIN_FACTS} WHERE d.id IN ({})",
            super::ids_from_json(self.engine(), "$1")
        ))
        .bind(id_list(ids))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    domain_facts(row, Audience::default()),
                    super::flag(row, "firing"),
                )
            })
            .collect())
    }

    /// Ids of every endpoint and every domain, for a full evaluation
    /// (unwatched ones too: their evaluation resolves what still fires).
    pub async fn alert_subject_ids(&self) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
        let endpoints = sqlx::query_scalar("SELECT id FROM endpoints ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        let domains = sqlx::query_scalar("SELECT id FROM domains ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        Ok((endpoints, domains))
    }

    /// Endpoints and domains whose failure streak reached `needed` and that
    /// have no firing failure alert: what a scan's end may have to alert.
    /// What the domain's watch mode leaves out is no candidate.
    pub async fn failure_alert_candidates(
        &self,
        needed: u32,
    ) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
        let endpoints = sqlx::query_scalar(
            "SELECT e.id FROM endpoints e JOIN domains d ON d.id = e.domain_id
             WHERE e.cert_failures >= $1 AND d.watch <> 'registration' AND NOT EXISTS (
                 SELECT 1 FROM alerts a WHERE a.endpoint_id = e.id
                 AND a.kind = 'cert_check_failure' AND a.state = 'firing')
             ORDER BY e.id",
        )
        .bind(i64::from(needed))
        .fetch_all(self.pool())
        .await?;
        let domains = sqlx::query_scalar(
            "SELECT d.id FROM domains d
             WHERE d.registration_failures >= $1 AND d.watch <> 'tls' AND NOT EXISTS (
                 SELECT 1 FROM alerts a WHERE a.domain_id = d.id AND a.endpoint_id IS NULL
                 AND a.kind = 'registration_problem' AND a.state = 'firing')
             ORDER BY d.id",
        )
        .bind(i64::from(needed))
        .fetch_all(self.pool())
        .await?;
        Ok((endpoints, domains))
    }

    /// The firing alert of a (scope, kind), if any.
    pub async fn firing_alert(
        &self,
        scope: AlertScope,
        kind: AlertKind,
    ) -> Result<Option<Firing>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        firing(&mut conn, scope, kind).await
    }

    /// When the firing alert of (scope, kind) opened, if one fires (the
    /// outage rule's bound on how long failure alerts are held).
    pub async fn firing_alert_opened_at(
        &self,
        scope: AlertScope,
        kind: AlertKind,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let opened: Option<String> = sqlx::query_scalar(
            "SELECT opened_at FROM alerts
             WHERE COALESCE(domain_id, 0) = COALESCE($1, 0) AND COALESCE(endpoint_id, 0) = COALESCE($2, 0)
               AND kind = $3 AND state = 'firing'",
        )
        .bind(scope.domain_id)
        .bind(scope.endpoint_id)
        .bind(kind.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(opened.as_deref().and_then(parse_time))
    }

    /// Ledger events already recorded for `subject_key` under any alert of
    /// this (scope, kind): "not yet notified for this certificate".
    pub async fn notified_events(
        &self,
        scope: AlertScope,
        kind: AlertKind,
        subject_key: &str,
    ) -> Result<Vec<Event>, StoreError> {
        let events: Vec<String> = sqlx::query_scalar(
            "SELECT l.event FROM alert_ledger l JOIN alerts a ON a.id = l.alert_id
             WHERE COALESCE(a.domain_id, 0) = COALESCE($1, 0)
               AND COALESCE(a.endpoint_id, 0) = COALESCE($2, 0)
               AND a.kind = $3 AND l.subject_key = $4",
        )
        .bind(scope.domain_id)
        .bind(scope.endpoint_id)
        .bind(kind.as_str())
        .bind(subject_key)
        .fetch_all(self.pool())
        .await?;
        Ok(events.iter().filter_map(|e| Event::parse(e)).collect())
    }

    /// Of the digest entries `entry_ids`, the domains (ASCII names) whose
    /// "needs a date" alert they announce, so that a digest carrying such an
    /// entry does not list the domain a second time among the dates to enter.
    pub async fn domains_asked_for_a_date(
        &self,
        entry_ids: &[i64],
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT DISTINCT d.name FROM digest_entries e
             JOIN alert_ledger l ON l.id = e.ledger_id
             JOIN alerts a ON a.id = l.alert_id
             JOIN domains d ON d.id = a.domain_id
             WHERE e.id IN ({}) AND a.kind = $2 AND l.event = $3
             ORDER BY d.name",
            super::ids_from_json(self.engine(), "$1")
        ))
        .bind(id_list(entry_ids))
        .bind(AlertKind::RegistrationNeedsDate.as_str())
        .bind(Event::NeedsDate.key())
        .fetch_all(self.pool())
        .await?)
    }

    /// Alerts, newest first; only firing ones unless `all`.
    pub async fn list_alerts(&self, all: bool) -> Result<Vec<AlertListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.kind, a.subject_key, a.state, a.opened_at, a.resolved_at,
                    a.acknowledged_at, a.acknowledged_by, a.snoozed_until, a.snoozed_by,
                    d.name AS domain, e.host, e.port
             FROM alerts a LEFT JOIN domains d ON d.id = a.domain_id
             LEFT JOIN endpoints e ON e.id = a.endpoint_id
             WHERE ($1 OR a.state = 'firing')
             ORDER BY a.id DESC",
        )
        .bind(all)
        .fetch_all(self.pool())
        .await?;
        let ledger = sqlx::query("SELECT alert_id, event, actor FROM alert_ledger ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let id: i64 = r.get("id");
                let host: Option<String> = r.get("host");
                let domain: Option<String> = r.get("domain");
                let subject = match (host, domain) {
                    (Some(host), _) => format!("{}:{}", host, r.get::<i64, _>("port")),
                    (None, Some(domain)) => domain,
                    (None, None) => "lapse".to_owned(),
                };
                AlertListing {
                    id,
                    kind: r.get("kind"),
                    subject,
                    subject_key: r.get("subject_key"),
                    state: r.get("state"),
                    opened_at: r.get("opened_at"),
                    resolved_at: r.get("resolved_at"),
                    events: ledger
                        .iter()
                        .filter(|l| l.get::<i64, _>("alert_id") == id)
                        .map(|l| match l.get::<Option<String>, _>("actor") {
                            Some(actor) => format!("{} by {actor}", l.get::<String, _>("event")),
                            None => l.get("event"),
                        })
                        .collect(),
                    acknowledged_at: r.get("acknowledged_at"),
                    acknowledged_by: r.get("acknowledged_by"),
                    snoozed_until: r.get("snoozed_until"),
                    snoozed_by: r.get("snoozed_by"),
                }
            })
            .collect())
    }

    /// Sets (or, with `None`, clears) a client's or a domain's threshold override.
    pub async fn set_thresholds(
        &self,
        owner: &ThresholdOwner,
        kind: ThresholdKind,
        days: Option<&Thresholds>,
    ) -> Result<(), StoreError> {
        let value = days.map(|d| serde_json::json!(d.days()).to_string());
        let (sql, key) = match owner {
            ThresholdOwner::Client(name) => (
                format!("UPDATE clients SET {} = $1 WHERE name = $2", kind.column()),
                name.trim().to_owned(),
            ),
            ThresholdOwner::Domain(name) => (
                format!("UPDATE domains SET {} = $1 WHERE name = $2", kind.column()),
                name.as_str().to_owned(),
            ),
        };
        let done = sqlx::query(&sql)
            .bind(value)
            .bind(&key)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(match owner {
                ThresholdOwner::Client(name) => StoreError::NoSuchClient(name.trim().to_owned()),
                ThresholdOwner::Domain(name) => {
                    StoreError::NotFound(format!("`{}` is not tracked", name.to_unicode()))
                }
            });
        }
        Ok(())
    }

    /// The threshold override of one client or domain (both lists absent
    /// when none is set), without reading every row as
    /// [`Store::threshold_overrides`] does.
    pub async fn threshold_override(
        &self,
        owner: &ThresholdOwner,
    ) -> Result<ThresholdOverride, StoreError> {
        let (level, table, key) = match owner {
            ThresholdOwner::Client(name) => ("client", "clients", name.trim().to_owned()),
            ThresholdOwner::Domain(name) => ("domain", "domains", name.as_str().to_owned()),
        };
        let row = sqlx::query(&format!(
            "SELECT name, certificate_days, registration_days FROM {table} WHERE name = $1"
        ))
        .bind(&key)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no {level} `{key}`")))?;
        let days = |column: &str| {
            row.get::<Option<String>, _>(column)
                .and_then(|t| serde_json::from_str::<Vec<u32>>(&t).ok())
        };
        Ok(ThresholdOverride {
            level: level.to_owned(),
            name: row.get("name"),
            certificate_days: days("certificate_days"),
            registration_days: days("registration_days"),
        })
    }

    /// Every override, clients first.
    pub async fn threshold_overrides(&self) -> Result<Vec<ThresholdOverride>, StoreError> {
        let rows = sqlx::query(
            "SELECT 'client' AS level, name, certificate_days, registration_days FROM clients
             WHERE certificate_days IS NOT NULL OR registration_days IS NOT NULL
             UNION ALL
             SELECT 'domain', name, certificate_days, registration_days FROM domains
             WHERE certificate_days IS NOT NULL OR registration_days IS NOT NULL
             ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| ThresholdOverride {
                level: r.get("level"),
                name: r.get("name"),
                certificate_days: days_column(r.get("certificate_days")),
                registration_days: days_column(r.get("registration_days")),
            })
            .collect())
    }
}

async fn audience(
    conn: &mut sqlx::AnyConnection,
    client_id: Option<i64>,
    client_name: Option<String>,
) -> Result<Audience, StoreError> {
    let (contacts, delivery) = match client_id {
        Some(id) => {
            let contacts =
                sqlx::query_scalar("SELECT email FROM contacts WHERE client_id = $1 ORDER BY id")
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
            let row = sqlx::query(
                "SELECT timezone, delivery, digest_hour, digest_weekday FROM clients WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            let delivery = row
                .as_ref()
                .map(super::client_delivery::delivery_from_row)
                .unwrap_or_default();
            (contacts, delivery)
        }
        None => (Vec::new(), super::ClientDelivery::default()),
    };
    let routes = super::channels::routes_for(&mut *conn, client_id).await?;
    Ok(Audience {
        client: client_name,
        contacts,
        client_id,
        delivery,
        routes,
    })
}

async fn firing(
    conn: &mut sqlx::AnyConnection,
    scope: AlertScope,
    kind: AlertKind,
) -> Result<Option<Firing>, StoreError> {
    let row = sqlx::query(
        "SELECT id, subject_key FROM alerts
         WHERE COALESCE(domain_id, 0) = COALESCE($1, 0) AND COALESCE(endpoint_id, 0) = COALESCE($2, 0)
           AND kind = $3 AND state = 'firing'",
    )
    .bind(scope.domain_id)
    .bind(scope.endpoint_id)
    .bind(kind.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Firing {
        alert_id: r.get("id"),
        subject_key: r.get("subject_key"),
    }))
}
