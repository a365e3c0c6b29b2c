//! What people do with alerts (issue 18 items 3-5): acknowledge and snooze
//! a firing alert (the state on the alert, the history in the ledger: one
//! row per action with its `actor`, queueing nothing), maintenance windows
//! (`mutes`), repeat-until-renewed days and runbooks per client and domain.
//! Reading: [`Store::handling_facts`] (what evaluation needs of a subject)
//! and [`Store::alert_notices`] (a firing alert's ledger, with times).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, parse_time, AlertScope, Store, StoreError, ThresholdOwner};
use crate::domain::alert_handling::Runbook;
use crate::domain::alert_policy::Event;
use crate::domain::names::HostName;

/// What evaluation needs of a subject's handling.
#[derive(Debug, Clone, Default)]
pub struct HandlingFacts {
    /// Repeat until renewed: the domain's days, else its client's.
    pub repeat_days: Option<u32>,
    pub runbook: Runbook,
    /// The maintenance window holding the subject at `now`, if any (the
    /// one ending last).
    pub mute: Option<MuteView>,
}

/// A firing alert's acknowledgement and snooze.
#[derive(Debug, Clone, Default)]
pub struct AlertHandlingState {
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub snoozed_by: Option<String>,
}

/// An alert's acknowledgement and snooze, as the API answers.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AlertHandlingView {
    pub id: i64,
    /// `firing` or `resolved`.
    pub state: String,
    /// When and by whom; it holds until the next threshold.
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub snoozed_until: Option<String>,
    pub snoozed_by: Option<String>,
}

/// A maintenance window, as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MuteView {
    pub id: i64,
    pub domain: String,
    /// `host:port` when one endpoint is muted; `null`: the whole domain.
    pub endpoint: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<String>,
}

impl MuteView {
    /// When it stops holding: its end, or when it was lifted.
    pub fn until(&self) -> Option<DateTime<Utc>> {
        let end = parse_time(&self.ends_at)?;
        Some(match self.lifted_at.as_deref().and_then(parse_time) {
            Some(lifted) if lifted < end => lifted,
            _ => end,
        })
    }
}

/// A new maintenance window.
#[derive(Debug, Clone)]
pub struct NewMute {
    pub domain: HostName,
    /// One endpoint of the domain (`host`, `port`); `None`: all of it.
    pub endpoint: Option<(HostName, u16)>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    pub by: String,
}

const MUTE_SELECT: &str = "SELECT m.id, d.name AS domain, e.host, e.port, m.starts_at, m.ends_at,
        m.reason, m.created_by, m.created_at, m.lifted_by, m.lifted_at
     FROM mutes m JOIN domains d ON d.id = m.domain_id
     LEFT JOIN endpoints e ON e.id = m.endpoint_id";

fn mute_row(r: &sqlx::any::AnyRow) -> MuteView {
    let host: Option<String> = r.get("host");
    MuteView {
        id: r.get("id"),
        domain: r.get("domain"),
        endpoint: host.map(|h| format!("{h}:{}", r.get::<i64, _>("port"))),
        starts_at: r.get("starts_at"),
        ends_at: r.get("ends_at"),
        reason: r.get("reason"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
        lifted_by: r.get("lifted_by"),
        lifted_at: r.get("lifted_at"),
    }
}

fn runbook(r: &sqlx::any::AnyRow, prefix: &str) -> Runbook {
    let field = |name: &str| -> Option<String> {
        r.get::<Option<String>, _>(format!("{prefix}{name}").as_str())
            .filter(|t| !t.trim().is_empty())
    };
    Runbook {
        account: field("runbook_account"),
        renewer: field("runbook_renewer"),
        howto: field("runbook_howto"),
    }
}

impl Store {
    /// Repeat days, runbook and the maintenance window holding at `now`,
    /// of a domain's registration (`scope.endpoint_id` none: the domain's
    /// client) or of an endpoint (its client, else the domain's).
    pub async fn handling_facts(
        &self,
        scope: AlertScope,
        now: DateTime<Utc>,
    ) -> Result<HandlingFacts, StoreError> {
        let Some(domain_id) = scope.domain_id else {
            return Ok(HandlingFacts::default());
        };
        let row = sqlx::query(
            "SELECT d.repeat_days, d.runbook_account, d.runbook_renewer, d.runbook_howto,
                    c.repeat_days AS c_repeat_days, c.runbook_account AS c_runbook_account,
                    c.runbook_renewer AS c_runbook_renewer, c.runbook_howto AS c_runbook_howto
             FROM domains d
             LEFT JOIN clients c ON c.id = COALESCE(
                 (SELECT e.client_id FROM endpoints e WHERE e.id = $2), d.client_id)
             WHERE d.id = $1",
        )
        .bind(domain_id)
        .bind(scope.endpoint_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(HandlingFacts::default());
        };
        let days = |name: &str| {
            row.get::<Option<i64>, _>(name)
                .and_then(|d| u32::try_from(d).ok())
        };
        let now_text = format_time(now);
        let mutes = sqlx::query(&format!(
            "{MUTE_SELECT} WHERE m.domain_id = $1 AND (m.endpoint_id IS NULL OR m.endpoint_id IS NOT DISTINCT FROM $2)
               AND m.starts_at <= $3 AND m.ends_at > $4
               AND (m.lifted_at IS NULL OR m.lifted_at > $5)"
        ))
        .bind(domain_id)
        .bind(scope.endpoint_id)
        .bind(&now_text)
        .bind(&now_text)
        .bind(&now_text)
        .fetch_all(self.pool())
        .await?;
        Ok(HandlingFacts {
            repeat_days: days("repeat_days").or(days("c_repeat_days")),
            runbook: runbook(&row, "").or(runbook(&row, "c_")),
            mute: mutes.iter().map(mute_row).max_by_key(MuteView::until),
        })
    }

    /// A firing alert's acknowledgement and snooze.
    pub async fn alert_handling(&self, alert_id: i64) -> Result<AlertHandlingState, StoreError> {
        let row = sqlx::query(
            "SELECT acknowledged_at, acknowledged_by, snoozed_until, snoozed_by
             FROM alerts WHERE id = $1",
        )
        .bind(alert_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(AlertHandlingState::default());
        };
        let time = |name: &str| {
            row.get::<Option<String>, _>(name)
                .as_deref()
                .and_then(parse_time)
        };
        Ok(AlertHandlingState {
            acknowledged_at: time("acknowledged_at"),
            acknowledged_by: row.get("acknowledged_by"),
            snoozed_until: time("snoozed_until"),
            snoozed_by: row.get("snoozed_by"),
        })
    }

    /// The notices recorded for an alert (its ledger rows that are events,
    /// not people's actions), oldest first, with when each was written.
    pub async fn alert_notices(
        &self,
        alert_id: i64,
    ) -> Result<Vec<(Event, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT event, created_at FROM alert_ledger WHERE alert_id = $1 AND actor IS NULL
             ORDER BY id",
        )
        .bind(alert_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let event = Event::parse(r.get::<&str, _>("event"))?;
                Some((event, parse_time(r.get::<&str, _>("created_at"))?))
            })
            .collect())
    }

    /// Acknowledges a firing alert: no daily reminders until its next
    /// threshold. Recorded on the alert and in its ledger.
    pub async fn acknowledge_alert(
        &self,
        alert_id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.act_on_alert(alert_id, AlertAction::Acknowledge, by, now)
            .await
    }

    /// Snoozes a firing alert until `until` (`None`: ends the snooze now).
    pub async fn snooze_alert(
        &self,
        alert_id: i64,
        until: Option<DateTime<Utc>>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let action = match until {
            Some(until) => AlertAction::Snooze(until),
            None => AlertAction::Unsnooze,
        };
        self.act_on_alert(alert_id, action, by, now).await
    }

    /// Changes a firing alert and writes the ledger row `<action>:<now>`
    /// (with the actor, and a snooze's end as its note) in one transaction.
    async fn act_on_alert(
        &self,
        alert_id: i64,
        action: AlertAction,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now_text = format_time(now);
        let mut tx = self.write_tx().await?;
        let (name, note, update) = match action {
            AlertAction::Acknowledge => (
                "acknowledged",
                None,
                sqlx::query(
                    "UPDATE alerts SET acknowledged_at = $1, acknowledged_by = $2
                     WHERE id = $3 AND state = 'firing'",
                )
                .bind(&now_text)
                .bind(by),
            ),
            AlertAction::Snooze(until) => (
                "snoozed",
                Some(format_time(until)),
                sqlx::query(
                    "UPDATE alerts SET snoozed_until = $1, snoozed_by = $2
                     WHERE id = $3 AND state = 'firing'",
                )
                .bind(format_time(until))
                .bind(by),
            ),
            AlertAction::Unsnooze => (
                "unsnoozed",
                None,
                sqlx::query(
                    "UPDATE alerts SET snoozed_until = NULL, snoozed_by = NULL
                     WHERE id = $1 AND state = 'firing'",
                ),
            ),
        };
        let done = update.bind(alert_id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no firing alert #{alert_id} (see `lapse alerts list`)"
            )));
        }
        sqlx::query(
            "INSERT INTO alert_ledger (alert_id, event, subject_key, created_at, actor, note)
             SELECT id, $1, subject_key, $2, $3, $4 FROM alerts WHERE id = $5
             ON CONFLICT (alert_id, event, subject_key) DO NOTHING",
        )
        .bind(format!("{name}:{now_text}"))
        .bind(&now_text)
        .bind(by)
        .bind(note)
        .bind(alert_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Opens a maintenance window.
    pub async fn add_mute(
        &self,
        mute: &NewMute,
        now: DateTime<Utc>,
    ) -> Result<MuteView, StoreError> {
        if mute.ends_at <= mute.starts_at {
            return Err(StoreError::Invalid(
                "a maintenance window must end after it starts".into(),
            ));
        }
        if mute.reason.trim().is_empty() {
            return Err(StoreError::Invalid("say why the domain is muted".into()));
        }
        let domain_id = self.domain_id(&mute.domain).await?;
        let endpoint_id = match &mute.endpoint {
            Some((host, port)) => {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM endpoints WHERE host = $1 AND port = $2 AND domain_id = $3",
                )
                .bind(host.as_str())
                .bind(i64::from(*port))
                .bind(domain_id)
                .fetch_optional(self.pool())
                .await?;
                Some(id.ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "`{}:{port}` is not an endpoint of `{}`",
                        host.to_unicode(),
                        mute.domain.to_unicode()
                    ))
                })?)
            }
            None => None,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO mutes (domain_id, endpoint_id, starts_at, ends_at, reason, created_by,
                                created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(domain_id)
        .bind(endpoint_id)
        .bind(format_time(mute.starts_at))
        .bind(format_time(mute.ends_at))
        .bind(mute.reason.trim())
        .bind(&mute.by)
        .bind(format_time(now))
        .fetch_one(self.writer())
        .await?;
        self.mute(id).await
    }

    async fn mute(&self, id: i64) -> Result<MuteView, StoreError> {
        let row = sqlx::query(&format!("{MUTE_SELECT} WHERE m.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no maintenance window #{id}")))?;
        Ok(mute_row(&row))
    }

    /// Lifts the maintenance windows of `domain` not over yet (all of them,
    /// the domain's and its endpoints'): their alerts are told again.
    pub async fn lift_mutes(
        &self,
        domain: &HostName,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<MuteView>, StoreError> {
        let domain_id = self.domain_id(domain).await?;
        let now_text = format_time(now);
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE mutes SET lifted_at = $1, lifted_by = $2
             WHERE domain_id = $3 AND ends_at > $1 AND lifted_at IS NULL RETURNING id",
        )
        .bind(&now_text)
        .bind(by)
        .bind(domain_id)
        .fetch_all(self.writer())
        .await?;
        let mut lifted = Vec::new();
        for id in ids {
            lifted.push(self.mute(id).await?);
        }
        Ok(lifted)
    }

    /// Lifts one maintenance window now (`NotFound` when there is none;
    /// one already over is returned as it is).
    pub async fn lift_mute(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<MuteView, StoreError> {
        sqlx::query(
            "UPDATE mutes SET lifted_at = $1, lifted_by = $2
             WHERE id = $3 AND ends_at > $1 AND lifted_at IS NULL",
        )
        .bind(format_time(now))
        .bind(by)
        .bind(id)
        .execute(self.writer())
        .await?;
        self.mute(id).await
    }

    /// Who a token acts as, for the record: its name.
    pub async fn token_actor(&self, token_id: i64) -> Result<String, StoreError> {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM api_tokens WHERE id = $1")
            .bind(token_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(name.map_or_else(|| format!("token #{token_id}"), |n| format!("token {n}")))
    }

    /// A firing or resolved alert's acknowledgement and snooze, as shown
    /// (`NotFound` when there is no such alert).
    pub async fn alert_handling_view(
        &self,
        alert_id: i64,
    ) -> Result<AlertHandlingView, StoreError> {
        let row = sqlx::query(
            "SELECT id, state, acknowledged_at, acknowledged_by, snoozed_until, snoozed_by
             FROM alerts WHERE id = $1",
        )
        .bind(alert_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no alert #{alert_id}")))?;
        Ok(AlertHandlingView {
            id: row.get("id"),
            state: row.get("state"),
            acknowledged_at: row.get("acknowledged_at"),
            acknowledged_by: row.get("acknowledged_by"),
            snoozed_until: row.get("snoozed_until"),
            snoozed_by: row.get("snoozed_by"),
        })
    }

    /// Maintenance windows, newest first: those not over at `now` unless `all`.
    pub async fn list_mutes(
        &self,
        all: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<MuteView>, StoreError> {
        let now_text = format_time(now);
        let rows = sqlx::query(&format!(
            "{MUTE_SELECT} WHERE $1 OR (m.ends_at > $2 AND (m.lifted_at IS NULL OR m.lifted_at > $2))
             ORDER BY m.id DESC"
        ))
        .bind(all)
        .bind(&now_text)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(mute_row).collect())
    }

    /// Sets (`None`: clears) a client's or domain's repeat-until-renewed days.
    pub async fn set_repeat_days(
        &self,
        owner: &ThresholdOwner,
        days: Option<u32>,
    ) -> Result<(), StoreError> {
        if days.is_some_and(|d| !(1..=366).contains(&d)) {
            return Err(StoreError::Invalid(
                "repeat days must be between 1 and 366".into(),
            ));
        }
        self.set_owner_columns(owner, &[("repeat_days", days.map(|d| d.to_string()))])
            .await
    }

    /// Sets a client's or domain's runbook; empty fields are cleared.
    pub async fn set_runbook(
        &self,
        owner: &ThresholdOwner,
        runbook: &Runbook,
    ) -> Result<(), StoreError> {
        let text = |t: &Option<String>| {
            t.as_ref()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        self.set_owner_columns(
            owner,
            &[
                ("runbook_account", text(&runbook.account)),
                ("runbook_renewer", text(&runbook.renewer)),
                ("runbook_howto", text(&runbook.howto)),
            ],
        )
        .await
    }

    /// A client's or domain's own runbook (no fallback).
    pub async fn runbook(
        &self,
        owner: &ThresholdOwner,
    ) -> Result<(Runbook, Option<u32>), StoreError> {
        let (table, key) = owner_key(owner);
        let row = sqlx::query(&format!(
            "SELECT repeat_days, runbook_account, runbook_renewer, runbook_howto
             FROM {table} WHERE name = $1"
        ))
        .bind(&key)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| not_found(owner))?;
        let days = row
            .get::<Option<i64>, _>("repeat_days")
            .and_then(|d| u32::try_from(d).ok());
        Ok((runbook(&row, ""), days))
    }

    async fn set_owner_columns(
        &self,
        owner: &ThresholdOwner,
        columns: &[(&str, Option<String>)],
    ) -> Result<(), StoreError> {
        let (table, key) = owner_key(owner);
        let sets: Vec<String> = (columns.iter().enumerate())
            .map(|(i, (c, _))| match *c {
                // Bound as text like the others; the one number is cast.
                "repeat_days" => format!("{c} = CAST(${} AS BIGINT)", i + 1),
                _ => format!("{c} = ${}", i + 1),
            })
            .collect();
        let sql = format!(
            "UPDATE {table} SET {} WHERE name = ${}",
            sets.join(", "),
            columns.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for (_, value) in columns {
            query = query.bind(value);
        }
        let done = query.bind(&key).execute(self.writer()).await?;
        if done.rows_affected() == 0 {
            return Err(not_found(owner));
        }
        Ok(())
    }
}

/// What a person does to a firing alert.
enum AlertAction {
    Acknowledge,
    Snooze(DateTime<Utc>),
    Unsnooze,
}

fn owner_key(owner: &ThresholdOwner) -> (&'static str, String) {
    match owner {
        ThresholdOwner::Client(name) => ("clients", name.trim().to_owned()),
        ThresholdOwner::Domain(name) => ("domains", name.as_str().to_owned()),
    }
}

fn not_found(owner: &ThresholdOwner) -> StoreError {
    match owner {
        ThresholdOwner::Client(name) => StoreError::NoSuchClient(name.trim().to_owned()),
        ThresholdOwner::Domain(name) => {
            StoreError::NotFound(format!("`{}` is not tracked", name.to_unicode()))
        }
    }
}
