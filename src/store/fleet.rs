//! Adding to the fleet and changing who owns and what is watched.
//!
//! One writer for the fleet model (see `domain::fleet`): [`Store::add_target`]
//! stores a registration and, unless it is registration-only, an endpoint,
//! with their owners, watch mode and TLS mode; the `set_*` use cases change
//! one of them. The domain's cached columns follow its watch mode here, in
//! the same transaction: a registration-only domain has no certificate
//! columns, a TLS-only one no registration expiry (the facts stay in
//! `registration_facts` and come back when the registration is watched
//! again).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, Store, StoreError};
use crate::domain::certificate::TlsMode;
use crate::domain::fleet::{OwnerKind, Watch};
use crate::domain::names::{to_unicode, HostName};

/// What to store: a registration, and an endpoint unless `port` is `None`.
#[derive(Debug, Clone)]
pub struct NewTarget<'a> {
    pub host: &'a HostName,
    /// `None`: the registration alone (no endpoint).
    pub port: Option<u16>,
    pub registrable: &'a HostName,
    /// The endpoint's client; also the registration's owner when the domain
    /// is new (or has no owner yet) and no other owner is asked for.
    pub client: Option<&'a str>,
    /// What to watch; `None` keeps an existing domain's mode (widened to
    /// `both` when an endpoint is added to a registration-only domain) and
    /// picks the default for a new one.
    pub watch: Option<Watch>,
    /// The endpoint's TLS mode; `None`: what the port implies (new) or
    /// unchanged (existing).
    pub tls: Option<TlsMode>,
    /// Who owns the registration, when asked explicitly.
    pub owner: Option<OwnerKind>,
    /// The host lies under a private PSL suffix: the registration is the
    /// platform's (owner nobody, not watched) unless asked otherwise.
    pub platform: bool,
}

/// What `add_target` stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddedTarget {
    pub domain: String,
    pub host: String,
    /// `None` for a registration-only add.
    pub port: Option<u16>,
    /// The endpoint's TLS mode as shown (`direct`, `starttls-smtp`, ...).
    pub tls_mode: Option<String>,
    /// The endpoint's client (for a registration-only add: the registration owner).
    pub client: Option<String>,
    pub watch: Watch,
    pub registration_owner: OwnerKind,
    /// The client owning the registration, when a client does.
    pub registration_client: Option<String>,
    pub domain_created: bool,
    pub endpoint_created: bool,
    /// A client was assigned to something that had none (endpoint or registration).
    pub client_assigned: bool,
    /// The watch mode before this call, when it changed.
    pub watch_was: Option<Watch>,
    /// The TLS mode changed on an existing endpoint.
    pub tls_changed: bool,
}

impl AddedTarget {
    pub fn changed(&self) -> bool {
        self.domain_created
            || self.endpoint_created
            || self.client_assigned
            || self.watch_was.is_some()
            || self.tls_changed
    }
}

/// A domain's watch and ownership as stored.
struct DomainRow {
    id: i64,
    watch: Watch,
    owner: OwnerKind,
    client_id: Option<i64>,
    client_name: Option<String>,
}

/// What a change of watch mode did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WatchChange {
    pub domain: String,
    pub before: Watch,
    pub after: Watch,
    /// Endpoints under the domain (checked only when the watch includes tls).
    pub endpoints: i64,
}

/// Who owns a registration after a change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OwnerChange {
    pub domain: String,
    pub before: OwnerKind,
    pub before_client: Option<String>,
    pub after: OwnerKind,
    pub after_client: Option<String>,
}

impl Store {
    /// Stores a target (see [`NewTarget`]). Idempotent. Refuses, changing
    /// nothing: an endpoint owned by another client, and a registration-only
    /// add for a client when another client owns the registration.
    pub async fn add_target(
        &self,
        new: &NewTarget<'_>,
        now: DateTime<Utc>,
    ) -> Result<AddedTarget, StoreError> {
        let mut tx = self.write_tx().await?;
        let client_id = match new.client {
            Some(name) => Some(self.client_id(&mut tx, name).await?),
            None => None,
        };
        let client_name = match client_id {
            Some(id) => Some(client_name(&mut tx, id).await?),
            None => None,
        };
        let (domain, domain_created) = ensure_domain(&mut tx, new, client_id, now).await?;
        let mut added = AddedTarget {
            domain: new.registrable.as_str().to_owned(),
            host: new.host.as_str().to_owned(),
            port: new.port,
            tls_mode: None,
            client: client_name.clone(),
            watch: domain.watch,
            registration_owner: domain.owner,
            registration_client: domain.client_name.clone(),
            domain_created,
            endpoint_created: false,
            client_assigned: false,
            watch_was: None,
            tls_changed: false,
        };
        if !domain_created {
            settle_registration(&mut tx, new, &domain, client_id, &mut added).await?;
        }
        if let Some(port) = new.port {
            add_endpoint_row(&mut tx, new, port, domain.id, client_id, now, &mut added).await?;
        }
        let wanted = match (new.watch, domain_created) {
            (Some(watch), false) => Some(watch),
            // An endpoint added to a registration-only domain is meant to be checked.
            (None, false) if new.port.is_some() && domain.watch == Watch::Registration => {
                Some(Watch::Both)
            }
            _ => None,
        };
        if let Some(watch) = wanted.filter(|w| *w != domain.watch) {
            apply_watch(&mut tx, domain.id, domain.watch, watch, now).await?;
            added.watch_was = Some(domain.watch);
            added.watch = watch;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Stores an endpoint and its registrable domain with the defaults
    /// (watch both, TLS mode from the port); what tests and seeds use.
    pub async fn add_endpoint(
        &self,
        host: &HostName,
        port: u16,
        registrable: &HostName,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AddedTarget, StoreError> {
        self.add_target(
            &NewTarget {
                host,
                port: Some(port),
                registrable,
                client,
                watch: None,
                tls: None,
                owner: None,
                platform: false,
            },
            now,
        )
        .await
    }

    /// Changes what is watched for a domain. Nothing is deleted: endpoints
    /// of a registration-only domain are kept (not checked), and registration
    /// facts of a TLS-only one stay on record.
    pub async fn set_watch(
        &self,
        domain: &HostName,
        watch: Watch,
        now: DateTime<Utc>,
    ) -> Result<WatchChange, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = domain_row(&mut tx, domain)
            .await?
            .ok_or_else(|| not_tracked(domain))?;
        if row.watch != watch {
            apply_watch(&mut tx, row.id, row.watch, watch, now).await?;
        }
        let endpoints: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM endpoints WHERE domain_id = $1")
                .bind(row.id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(WatchChange {
            domain: domain.as_str().to_owned(),
            before: row.watch,
            after: watch,
            endpoints,
        })
    }

    /// Gives a registration to a client (`client` names it), the agency or
    /// nobody. An explicit move: no conflict with a previous owner.
    pub async fn set_registration_owner(
        &self,
        domain: &HostName,
        owner: OwnerKind,
        client: Option<&str>,
    ) -> Result<OwnerChange, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = domain_row(&mut tx, domain)
            .await?
            .ok_or_else(|| not_tracked(domain))?;
        let client_id = match (owner, client) {
            (OwnerKind::Client, Some(name)) => Some(self.client_id(&mut tx, name).await?),
            (OwnerKind::Client, None) => {
                return Err(StoreError::Invalid(
                    "a registration owned by a client needs the client's name".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(StoreError::Invalid(format!(
                    "a registration owned by {} names no client",
                    if owner == OwnerKind::Agency {
                        "the agency"
                    } else {
                        "nobody"
                    }
                )))
            }
            (_, None) => None,
        };
        sqlx::query("UPDATE domains SET registration_owner = $1, client_id = $2 WHERE id = $3")
            .bind(owner.as_str())
            .bind(client_id)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        let after_client = match client_id {
            Some(id) => Some(client_name(&mut tx, id).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(OwnerChange {
            domain: domain.as_str().to_owned(),
            before: row.owner,
            before_client: row.client_name,
            after: owner,
            after_client,
        })
    }

    /// Gives an endpoint to a client, or to the agency with `None`.
    pub async fn set_endpoint_client(
        &self,
        host: &HostName,
        port: u16,
        client: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.write_tx().await?;
        let client_id = match client {
            Some(name) => Some(self.client_id(&mut tx, name).await?),
            None => None,
        };
        let updated =
            sqlx::query("UPDATE endpoints SET client_id = $1 WHERE host = $2 AND port = $3")
                .bind(client_id)
                .bind(host.as_str())
                .bind(i64::from(port))
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(no_endpoint(host, port));
        }
        let name = match client_id {
            Some(id) => Some(client_name(&mut tx, id).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(name)
    }

    /// Sets an endpoint's TLS mode; it is used from the next check on.
    pub async fn set_endpoint_tls(
        &self,
        host: &HostName,
        port: u16,
        mode: TlsMode,
    ) -> Result<(), StoreError> {
        let updated =
            sqlx::query("UPDATE endpoints SET tls_mode = $1 WHERE host = $2 AND port = $3")
                .bind(mode.stored())
                .bind(host.as_str())
                .bind(i64::from(port))
                .execute(self.writer())
                .await?;
        if updated.rows_affected() == 0 {
            return Err(no_endpoint(host, port));
        }
        Ok(())
    }
}

/// Inserts the domain when missing (with the defaults for a new one) and
/// reads it back.
async fn ensure_domain(
    tx: &mut sqlx::AnyConnection,
    new: &NewTarget<'_>,
    client_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(DomainRow, bool), StoreError> {
    if let Some(row) = domain_row(tx, new.registrable).await? {
        return Ok((row, false));
    }
    let watch = new.watch.unwrap_or(match (new.port, new.platform) {
        (None, _) => Watch::Registration,
        (Some(_), true) => Watch::Tls,
        (Some(_), false) => Watch::Both,
    });
    let owner = new.owner.unwrap_or(match (new.platform, client_id) {
        (true, _) => OwnerKind::None,
        (false, Some(_)) => OwnerKind::Client,
        (false, None) => OwnerKind::Agency,
    });
    let owner_client = if owner == OwnerKind::Client {
        Some(client_id.ok_or_else(|| {
            StoreError::Invalid(
                "a registration owned by a client needs the client (give --client)".into(),
            )
        })?)
    } else {
        None
    };
    let created_at = format_time(now);
    sqlx::query(
        "INSERT INTO domains (name, client_id, registration_owner, watch, created_at,
                              next_registration_check_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new.registrable.as_str())
    .bind(owner_client)
    .bind(owner.as_str())
    .bind(watch.as_str())
    .bind(&created_at)
    .bind(&created_at)
    .execute(&mut *tx)
    .await?;
    let row = domain_row(tx, new.registrable)
        .await?
        .ok_or_else(|| not_tracked(new.registrable))?;
    Ok((row, true))
}

/// On an existing domain: an explicit owner is applied (unless another
/// client owns it); a client naming the registration itself takes an
/// agency-owned one, as adding a client's domain always did.
async fn settle_registration(
    tx: &mut sqlx::AnyConnection,
    new: &NewTarget<'_>,
    domain: &DomainRow,
    client_id: Option<i64>,
    added: &mut AddedTarget,
) -> Result<(), StoreError> {
    let names_registration = new.port.is_none() || new.host == new.registrable;
    let wanted = match new.owner {
        Some(owner) => Some(owner),
        None if names_registration
            && client_id.is_some()
            && domain.owner == OwnerKind::Agency
            && !new.platform =>
        {
            Some(OwnerKind::Client)
        }
        None => None,
    };
    let taken_by_other = domain.owner == OwnerKind::Client && domain.client_id != client_id;
    let registration_only = new.port.is_none();
    if taken_by_other && (new.owner.is_some() || (registration_only && client_id.is_some())) {
        return Err(StoreError::Conflict(format!(
            "the registration of `{}` belongs to client `{}`; move it with `lapse domains owner {} --client NAME`",
            to_unicode(new.registrable.as_str()),
            domain.client_name.clone().unwrap_or_default(),
            to_unicode(new.registrable.as_str()),
        )));
    }
    let Some(owner) = wanted.filter(|o| *o != domain.owner || domain.client_id != client_id) else {
        return Ok(());
    };
    let owner_client = match owner {
        OwnerKind::Client => Some(client_id.ok_or_else(|| {
            StoreError::Invalid(
                "a registration owned by a client needs the client (give --client)".into(),
            )
        })?),
        _ => None,
    };
    sqlx::query("UPDATE domains SET registration_owner = $1, client_id = $2 WHERE id = $3")
        .bind(owner.as_str())
        .bind(owner_client)
        .bind(domain.id)
        .execute(&mut *tx)
        .await?;
    added.registration_owner = owner;
    added.registration_client = match owner_client {
        Some(id) => Some(client_name(tx, id).await?),
        None => None,
    };
    added.client_assigned |= owner_client.is_some();
    Ok(())
}

/// Inserts the endpoint or settles an existing one's client and TLS mode.
async fn add_endpoint_row(
    tx: &mut sqlx::AnyConnection,
    new: &NewTarget<'_>,
    port: u16,
    domain_id: i64,
    client_id: Option<i64>,
    now: DateTime<Utc>,
    added: &mut AddedTarget,
) -> Result<(), StoreError> {
    let existing = sqlx::query(
        "SELECT e.id, e.client_id, e.tls_mode, c.name AS client_name
         FROM endpoints e LEFT JOIN clients c ON c.id = e.client_id
         WHERE e.host = $1 AND e.port = $2",
    )
    .bind(new.host.as_str())
    .bind(i64::from(port))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = existing else {
        let mode = new.tls.unwrap_or_else(|| TlsMode::default_for_port(port));
        let created_at = format_time(now);
        // A new endpoint is due at once: it is checked within seconds.
        sqlx::query(
            "INSERT INTO endpoints (domain_id, host, port, tls_mode, client_id, created_at,
                                    next_check_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(domain_id)
        .bind(new.host.as_str())
        .bind(i64::from(port))
        .bind(mode.stored())
        .bind(client_id)
        .bind(&created_at)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        added.endpoint_created = true;
        added.tls_mode = Some(mode.name().to_owned());
        return Ok(());
    };
    let id: i64 = row.get("id");
    let owner: Option<i64> = row.get("client_id");
    let owner_name: Option<String> = row.get("client_name");
    match (owner, client_id) {
        (Some(owner), Some(wanted)) if owner != wanted => {
            return Err(StoreError::Conflict(format!(
                "`{}:{port}` belongs to client `{}`; remove it there first to move it",
                to_unicode(new.host.as_str()),
                owner_name.unwrap_or_default()
            )));
        }
        (None, Some(wanted)) => {
            sqlx::query("UPDATE endpoints SET client_id = $1 WHERE id = $2")
                .bind(wanted)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            added.client_assigned = true;
        }
        (Some(_), None) => added.client = owner_name,
        _ => {}
    }
    let stored = TlsMode::from_stored(&row.get::<String, _>("tls_mode"), port);
    let mode = new.tls.unwrap_or(stored);
    if mode != stored {
        sqlx::query("UPDATE endpoints SET tls_mode = $1, next_check_at = $2 WHERE id = $3")
            .bind(mode.stored())
            .bind(format_time(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        added.tls_changed = true;
    }
    added.tls_mode = Some(mode.name().to_owned());
    Ok(())
}

/// Writes a new watch mode and makes the cached columns follow it.
async fn apply_watch(
    tx: &mut sqlx::AnyConnection,
    domain_id: i64,
    before: Watch,
    after: Watch,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // What is no longer watched stops alerting, without a message.
    super::alerts::end_unwatched_alerts_in(tx, domain_id, after, now).await?;
    let now = format_time(now);
    sqlx::query("UPDATE domains SET watch = $1 WHERE id = $2")
        .bind(after.as_str())
        .bind(domain_id)
        .execute(&mut *tx)
        .await?;
    if !after.tls() {
        sqlx::query("UPDATE domains SET cert_not_after = NULL, cert_outcome = NULL WHERE id = $1")
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
    } else if !before.tls() {
        // Watched again: what was last seen counts until the checks (due now) report.
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM endpoints WHERE domain_id = $1")
            .bind(domain_id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("UPDATE endpoints SET next_check_at = $1 WHERE domain_id = $2")
            .bind(&now)
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        super::observations::refresh_domain_certificates(tx, &ids).await?;
    }
    if !after.registration() {
        sqlx::query("UPDATE domains SET expires_at = NULL, expires_source = NULL WHERE id = $1")
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
    } else if !before.registration() {
        // A manual date counts at once; a lookup is due now for the rest.
        sqlx::query(
            "UPDATE domains SET
                 expires_at = manual_expires_at,
                 expires_source = CASE WHEN manual_expires_at IS NULL THEN NULL ELSE 'manual' END,
                 next_registration_check_at = $1
             WHERE id = $2",
        )
        .bind(&now)
        .bind(domain_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn domain_row(
    tx: &mut sqlx::AnyConnection,
    name: &HostName,
) -> Result<Option<DomainRow>, StoreError> {
    let row = sqlx::query(
        "SELECT d.id, d.watch, d.registration_owner, d.client_id, c.name AS client_name
         FROM domains d LEFT JOIN clients c ON c.id = d.client_id WHERE d.name = $1",
    )
    .bind(name.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| DomainRow {
        id: r.get("id"),
        watch: Watch::parse(r.get("watch")).unwrap_or(Watch::Both),
        owner: OwnerKind::parse(r.get("registration_owner")).unwrap_or(OwnerKind::Agency),
        client_id: r.get("client_id"),
        client_name: r.get("client_name"),
    }))
}

async fn client_name(tx: &mut sqlx::AnyConnection, id: i64) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar("SELECT name FROM clients WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?)
}

fn not_tracked(name: &HostName) -> StoreError {
    StoreError::NotFound(format!("`{}` is not tracked", name.to_unicode()))
}

fn no_endpoint(host: &HostName, port: u16) -> StoreError {
    StoreError::NotFound(format!("`{}:{port}` is not tracked", host.to_unicode()))
}
