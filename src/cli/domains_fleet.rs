//! `lapse domains watch|owner|endpoint`: what is watched, who owns the
//! registration, and an endpoint's client, TLS mode and pinned address.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::CliError;
use crate::app::App;
use crate::domain::address::refusal;
use crate::domain::certificate::TlsMode;
use crate::domain::fleet::{OwnerKind, Watch, TLS_MODE_NAMES};
use crate::domain::names::{parse_target, HostName, Target};

/// A registrable domain as typed (`example.com`, `Bücher.de`).
fn registrable(app: &App, input: &str) -> Result<HostName, CliError> {
    let target = parse_target(input, &app.config.names.policy())
        .map_err(|e| CliError::input(format!("`{input}`: {e}")))?;
    if !target.is_bare_domain() {
        return Err(CliError::input(format!(
            "`{input}` is not a registrable domain; its domain is `{}`",
            target.registrable.to_unicode()
        )));
    }
    Ok(target.registrable)
}

pub async fn watch(
    app: &App,
    input: &str,
    what: Watch,
    now: DateTime<Utc>,
) -> Result<(), CliError> {
    let domain = registrable(app, input)?;
    let change = app.store.set_watch(&domain, what, now).await?;
    let name = domain.to_unicode();
    if change.before == change.after {
        println!("unchanged: {name} already watches {}", what.as_str());
        return Ok(());
    }
    println!("{name}: watching {} (was {})", change.after, change.before);
    match what {
        Watch::Registration if change.endpoints > 0 => println!(
            "  its {} endpoint(s) are kept but no longer checked (`lapse domains watch {name} both` checks them again)",
            change.endpoints
        ),
        Watch::Tls => println!("  the registration is no longer looked up; its facts stay on record"),
        _ => println!("  checks are due now: the next scan makes them"),
    }
    Ok(())
}

pub async fn owner(
    app: &App,
    input: &str,
    client: Option<&str>,
    agency: bool,
) -> Result<(), CliError> {
    let domain = registrable(app, input)?;
    let kind = match (client, agency) {
        (Some(_), _) => OwnerKind::Client,
        (None, true) => OwnerKind::Agency,
        (None, false) => OwnerKind::None,
    };
    let change = app
        .store
        .set_registration_owner(&domain, kind, client)
        .await?;
    let who = |kind: OwnerKind, client: Option<&String>| match (kind, client) {
        (OwnerKind::Client, Some(name)) => format!("client {name}"),
        (OwnerKind::None, _) => "nobody".to_owned(),
        _ => "the agency".to_owned(),
    };
    println!(
        "{}: the registration is owned by {} (was {})",
        domain.to_unicode(),
        who(change.after, change.after_client.as_ref()),
        who(change.before, change.before_client.as_ref())
    );
    Ok(())
}

/// What `domains endpoint` changes.
pub struct EndpointChange<'a> {
    pub client: Option<&'a str>,
    pub agency: bool,
    pub tls: Option<&'a str>,
    pub pin: Option<&'a str>,
    pub unpin: bool,
}

pub async fn endpoint(app: &App, input: &str, change: &EndpointChange<'_>) -> Result<(), CliError> {
    let target: Target = parse_target(input, &app.config.names.policy())
        .map_err(|e| CliError::input(format!("`{input}`: {e}")))?;
    let port = target.port_or(app.config.endpoints.default_port);
    if change.client.is_none()
        && !change.agency
        && change.tls.is_none()
        && change.pin.is_none()
        && !change.unpin
    {
        return Err(CliError::input(
            "say what to change: --client NAME, --agency, --tls MODE, --pin ADDRESS or --unpin",
        ));
    }
    // Everything is checked before anything is written.
    let mode = change
        .tls
        .map(|text| {
            TlsMode::parse_name(text, port).ok_or_else(|| {
                CliError::input(format!("`{text}` is not a TLS mode; use {TLS_MODE_NAMES}"))
            })
        })
        .transpose()?;
    let pin = change
        .pin
        .map(|text| pinned_address(app, text))
        .transpose()?;
    let shown = format!("{}:{port}", target.host.to_unicode());
    if let Some(mode) = mode {
        app.store.set_endpoint_tls(&target.host, port, mode).await?;
        println!("{shown}: TLS mode {} from the next check", mode.name());
    }
    if pin.is_some() || change.unpin {
        app.store.pin_endpoint(&target.host, port, pin).await?;
        match pin {
            Some(ip) => println!(
                "{shown}: checked at {ip} (DNS skipped, SNI still {})",
                target.host.to_unicode()
            ),
            None => println!("{shown}: resolved through DNS again"),
        }
    }
    if change.client.is_some() || change.agency {
        let owner = app
            .store
            .set_endpoint_client(&target.host, port, change.client)
            .await?;
        match owner {
            Some(name) => {
                println!("{shown}: owned by client {name} (its contacts get the certificate mail)")
            }
            None => println!("{shown}: owned by the agency (staff get its mail)"),
        }
    }
    Ok(())
}

/// An address to pin: an IP address that lapse may contact (a reserved
/// range only when `targets.allow_ranges` lists it), refused here rather
/// than at every check.
fn pinned_address(app: &App, text: &str) -> Result<IpAddr, CliError> {
    let ip: IpAddr = text
        .trim()
        .parse()
        .map_err(|_| CliError::input(format!("`{text}` is not an IPv4 or IPv6 address")))?;
    if let Some((range, reserved)) = refusal(ip, &app.config.targets.allow_ranges) {
        return Err(CliError::input(format!(
            "`{ip}` is in a {reserved} range ({range}), which lapse does not contact; pin a public address, or allow the range in targets.allow_ranges"
        )));
    }
    Ok(ip)
}
