//! `lapse scan`: one scan in the foreground with a progress bar on a
//! terminal, then a summary and the nearest expiries.

use std::sync::Arc;

use clap::Args;

use super::{print_json, CliError, EXIT_INTERRUPTED};
use crate::app::{self, App};
use crate::domain::names::{parse_target, to_unicode};
use crate::monitor::engine::{ProgressFn, ScanOutcome};
use crate::store::{ScanProgress, ScanScope, UpcomingExpiry};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Only this client's domains.
    #[arg(long, value_name = "NAME", conflicts_with = "domain")]
    pub client: Option<String>,
    /// Only this domain (its endpoints and its registration, due or not).
    #[arg(long, value_name = "INPUT")]
    pub domain: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(app: &App, args: ScanArgs) -> Result<(), CliError> {
    let scope = scope(app, &args).await?;
    let bars = progress_bars(args.json);
    let progress: ProgressFn = match &bars {
        Some(bars) => {
            let bars = bars.clone();
            Arc::new(move |p: &ScanProgress| bars.show(p))
        }
        None => Arc::new(|p: &ScanProgress| {
            tracing::info!(
                items.done = p.done(),
                items.total = p.total(),
                certificates.done = p.certificates.done,
                certificates.total = p.certificates.total,
                registrations.done = p.registrations.done,
                registrations.total = p.registrations.total,
                "scan progress"
            );
        }),
    };
    let outcome = app::scan_in_foreground(app, &scope, Some(progress)).await?;
    if let Some(bars) = bars {
        bars.clear();
    }
    let nearest = app.store.nearest_expiries(10).await?;
    if args.json {
        print_json(&serde_json::json!({ "scan": outcome, "nearest_expiries": nearest }))?;
    } else {
        print!("{}", render_human(&outcome, &nearest));
    }
    // A scan stopped by a signal is not a finished one, for scripts too:
    // 130, as a shell reports a command ended by SIGINT.
    if outcome.interrupted {
        return Err(CliError {
            code: EXIT_INTERRUPTED,
            message: "the scan was interrupted; run `lapse scan` again to resume it".into(),
        });
    }
    Ok(())
}

async fn scope(app: &App, args: &ScanArgs) -> Result<ScanScope, CliError> {
    Ok(match (&args.client, &args.domain) {
        (Some(name), _) => ScanScope::Client {
            client_id: app.store.client_id_by_name(name).await?,
        },
        (None, Some(input)) => {
            let target = parse_target(input, &app.config.names.policy())
                .map_err(|e| CliError::input(format!("`{input}`: {e}")))?;
            ScanScope::Domain {
                domain_id: app.store.domain_id(&target.registrable).await?,
            }
        }
        (None, None) => ScanScope::All,
    })
}

/// One bar per kind of item, on stderr when it is a terminal and the output
/// is for a person. Each bar has its own rate and time left: certificate
/// checks go as fast as handshakes, registration lookups at their
/// registries' pace, so one rate over both would promise the end when only
/// the paced lookups are left.
#[derive(Clone)]
struct ProgressBars {
    certificates: indicatif::ProgressBar,
    registrations: indicatif::ProgressBar,
}

fn progress_bars(json: bool) -> Option<ProgressBars> {
    use std::io::IsTerminal as _;
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let multi = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {prefix:<13} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bar = |prefix: &'static str| {
        let bar = multi.add(indicatif::ProgressBar::new(0));
        bar.set_style(style.clone());
        bar.set_prefix(prefix);
        bar
    };
    Some(ProgressBars {
        certificates: bar("certificates"),
        registrations: bar("registrations"),
    })
}

impl ProgressBars {
    fn show(&self, p: &ScanProgress) {
        for (bar, kind) in [
            (&self.certificates, p.certificates),
            (&self.registrations, p.registrations),
        ] {
            bar.set_length(u64::try_from(kind.total).unwrap_or(0));
            bar.set_position(u64::try_from(kind.done).unwrap_or(0));
            if kind.done >= kind.total && !bar.is_finished() {
                bar.finish();
            }
        }
    }

    fn clear(&self) {
        self.certificates.finish_and_clear();
        self.registrations.finish_and_clear();
    }
}

fn render_human(outcome: &ScanOutcome, nearest: &[UpcomingExpiry]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let s = &outcome.summary;
    let state = if outcome.interrupted {
        "interrupted (run `lapse scan` again to resume)"
    } else {
        "finished"
    };
    let _ = writeln!(
        out,
        "scan #{} {state}: {} of {} checks done{}",
        s.scan_id,
        s.items_done,
        s.items_total,
        if outcome.resumed { " (resumed)" } else { "" }
    );
    for (label, count) in [
        ("ok", s.ok),
        ("warning", s.warning),
        ("critical", s.critical),
        ("unknown", s.unknown),
    ] {
        let _ = writeln!(out, "  {label:<10} {count:>7}");
    }
    if !nearest.is_empty() {
        out.push_str("nearest expiries:\n");
        for e in nearest {
            let _ = writeln!(
                out,
                "  {:<21} {:<13} {}",
                e.expires_at,
                e.kind,
                to_unicode(&e.subject)
            );
        }
    }
    out
}
