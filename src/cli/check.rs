//! `lapse check`: one endpoint, every address, no database. Its exit codes
//! are a monitoring plugin's: 0 ok, 1 warning, 2 critical, 3 could not check.
//! The human rendering is `check_report.rs`.

use clap::Args;

use super::{check_report, print_json, CliError};
use crate::app;
use crate::config::Config;
use crate::domain::certificate::{ExpiryWindow, TlsMode};
use crate::domain::names::parse_target;
use crate::probe::tls::TlsTarget;

const COULD_NOT_CHECK: u8 = 3;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The endpoint: `shop.example.com`, `mail.example.com:587`, `https://www.example.com/`.
    pub target: String,
    /// Upgrade with STARTTLS first (default: from the port: 25/587 smtp, 143 imap, 110 pop3).
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    pub starttls: Option<StartTlsArg>,
    /// Connect to this address instead of resolving the name (SNI still names the host).
    #[arg(long, value_name = "IP")]
    pub address: Option<std::net::IpAddr>,
    /// Warn (exit 1) when a certificate has fewer than DAYS left (or less
    /// than a third of its lifetime, for a short-lived one) [default: the
    /// largest of `alerts.certificate_days`, 30].
    #[arg(long, value_name = "DAYS")]
    pub warning: Option<u32>,
    /// Critical (exit 2) when an expiring certificate has DAYS whole days
    /// left or fewer.
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_CRITICAL_DAYS)]
    pub critical: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--critical`'s default: 3 days left is critical.
pub const DEFAULT_CRITICAL_DAYS: u32 = 3;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StartTlsArg {
    Smtp,
    Imap,
    Pop3,
}

impl From<StartTlsArg> for TlsMode {
    fn from(arg: StartTlsArg) -> Self {
        match arg {
            StartTlsArg::Smtp => Self::StartTlsSmtp,
            StartTlsArg::Imap => Self::StartTlsImap,
            StartTlsArg::Pop3 => Self::StartTlsPop3,
        }
    }
}

pub async fn run(config: &Config, args: CheckArgs) -> Result<(), CliError> {
    let window = expiry_window(config, &args)?;
    let target = parse_target(&args.target, &config.names.policy()).map_err(|e| CliError {
        code: COULD_NOT_CHECK,
        message: format!("`{}`: {e}", args.target),
    })?;
    let port = target.port_or(config.endpoints.default_port);
    let mut tls_target = TlsTarget::new(target.host.as_str(), port);
    if let Some(mode) = args.starttls {
        tls_target = tls_target.with_mode(mode.into());
    }
    if let Some(address) = args.address {
        tls_target = tls_target.with_pinned_address(address);
    }
    let (report, now) = app::check_endpoint(config, &tls_target, window)
        .await
        .map_err(|e| CliError {
            code: COULD_NOT_CHECK,
            message: e.to_string(),
        })?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", check_report::render_human(&report, now));
    }
    let code = u8::try_from(report.severity().exit_code()).unwrap_or(COULD_NOT_CHECK);
    if code == 0 {
        Ok(())
    } else {
        // The report says why; nothing more to print.
        Err(CliError {
            code,
            message: String::new(),
        })
    }
}

/// The warning and critical windows: `--warning` (default: the largest
/// certificate threshold) and `--critical`, which cannot be the wider one.
fn expiry_window(config: &Config, args: &CheckArgs) -> Result<ExpiryWindow, CliError> {
    let warning_days = args
        .warning
        .unwrap_or_else(|| config.alerts.certificate_warning_days());
    if args.critical > warning_days {
        return Err(CliError {
            code: COULD_NOT_CHECK,
            message: format!(
                "--critical {} is wider than the warning window ({warning_days} days): \
                 give --critical DAYS at or under --warning DAYS",
                args.critical
            ),
        });
    }
    Ok(ExpiryWindow {
        warning_days,
        critical_days: Some(args.critical),
    })
}
