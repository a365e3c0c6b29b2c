//! The schedule: a cron expression in a time zone starts the full scan; a
//! short poll picks up due work in between (new endpoints and domains within
//! seconds, failed checks retried with backoff) and the scans requested
//! through the API ([`run_queued_scans`]). Unfinished scans are resumed
//! first. The scheduler beats a heartbeat that `/readyz` reads, and this
//! instance's row in `instances`. With several instances on one database a
//! cron firing starts one scan, whichever instance fires first; the others
//! join it ([`Engine::run_cron_firing`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::Rng;
use tokio::sync::watch;

use crate::monitor::engine::{Clock, Engine};
use crate::store::{ScanScope, SCHEDULER};

/// The next time `schedule` fires strictly after `after`, read in `tz`.
pub fn next_fire(schedule: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .after(&after.with_timezone(&tz))
        .next()
        .map(|t| t.with_timezone(&Utc))
}

/// Calls `on_fire` each time the schedule fires (plus a random delay of up
/// to `jitter`), until `stop` turns true. Time comes from `clock`; waiting
/// uses tokio's clock, so tests can pause it.
pub async fn run_cron<F, Fut>(
    schedule: cron::Schedule,
    tz: Tz,
    jitter: Duration,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    mut on_fire: F,
) where
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let now = clock.now();
        let Some(next) = next_fire(&schedule, tz, now) else {
            tracing::warn!("the scan schedule never fires again");
            return;
        };
        let delay = jitter_delay(jitter);
        let wait = (next - now).to_std().unwrap_or_default() + delay;
        tracing::debug!(schedule.next = %next, jitter_ms = delay.as_millis() as u64, "next scheduled scan");
        tokio::select! {
            () = tokio::time::sleep(wait) => on_fire(next).await,
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

fn jitter_delay(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// Settings of [`run_scheduler`].
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub cron: cron::Schedule,
    pub timezone: Tz,
    pub jitter: Duration,
    pub due_poll: Duration,
}

/// The scheduler of `lapse serve`: resume unfinished scans, then run the
/// cron loop and the due-work poll until `stop`.
pub async fn run_scheduler(
    engine: Arc<Engine>,
    settings: SchedulerSettings,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
) {
    let clock_for_now = clock.clone();
    let clock_now = move || clock_for_now.now();
    let queue_clock = clock.clone();
    match engine.unfinished_scopes().await {
        Ok(scopes) => {
            for scope in scopes {
                if *stop.borrow() {
                    return;
                }
                if let Err(error) = engine.run(&scope, stop.clone(), None).await {
                    tracing::error!(%error, "cannot resume an unfinished scan");
                }
            }
        }
        Err(error) => tracing::error!(%error, "cannot look for unfinished scans"),
    }

    let cron_engine = engine.clone();
    let cron_stop = stop.clone();
    let schedule_text = settings.cron.to_string();
    let full = run_cron(
        settings.cron.clone(),
        settings.timezone,
        settings.jitter,
        clock,
        stop.clone(),
        move |fired| {
            let engine = cron_engine.clone();
            let stop = cron_stop.clone();
            let schedule = schedule_text.clone();
            async move {
                // Once per firing across instances: the first starts it,
                // the others join it while it runs.
                if let Err(error) = engine.run_cron_firing(&schedule, fired, stop).await {
                    tracing::error!(%error, "scheduled scan failed");
                }
            }
        },
    );
    // Liveness for /readyz, and scans requested through the API.
    let heartbeat = async {
        let mut stop = stop.clone();
        let store = engine.store();
        let started_at = clock_now();
        loop {
            let now = clock_now();
            if let Err(error) = store
                .record_heartbeat(SCHEDULER, store.instance(), now)
                .await
            {
                tracing::warn!(%error, "cannot record the scheduler heartbeat");
            }
            if let Err(error) = store
                .record_instance_beat(env!("CARGO_PKG_VERSION"), started_at, now)
                .await
            {
                tracing::warn!(%error, "cannot record this instance's heartbeat");
            }
            if !sleep_unless_stopped(&mut stop, settings.due_poll.min(Duration::from_secs(30)))
                .await
            {
                return;
            }
        }
    };
    let requested = async {
        let mut stop = stop.clone();
        loop {
            if !sleep_unless_stopped(&mut stop, settings.due_poll).await {
                return;
            }
            run_queued_scans(&engine, queue_clock.as_ref(), &stop).await;
        }
    };
    let due = async {
        let mut stop = stop.clone();
        loop {
            if !sleep_unless_stopped(&mut stop, settings.due_poll).await {
                return;
            }
            // A scan another instance left behind (it died) goes on here.
            if let Err(error) = engine.join_running(stop.clone()).await {
                tracing::error!(%error, "cannot join a running scan");
            }
            if let Err(error) = engine.try_run(&ScanScope::Due, stop.clone()).await {
                tracing::error!(%error, "checking due work failed");
            }
        }
    };
    tokio::join!(full, due, heartbeat, requested);
}

/// Claims and runs the scans requested through the API, oldest first, one
/// at a time, until none is queued or a stop is requested; returns how many
/// were claimed. A scan runs under the scope it was requested with (the
/// engine adopts the queued row). A failure is logged once, here.
pub async fn run_queued_scans(
    engine: &Engine,
    clock: &dyn Clock,
    stop: &watch::Receiver<bool>,
) -> usize {
    let mut claimed = 0;
    while !*stop.borrow() {
        match engine.store().claim_queued_scan(clock.now()).await {
            Ok(Some((scan_id, scope))) => {
                claimed += 1;
                if let Err(error) = engine.run_requested(scan_id, &scope, stop.clone()).await {
                    tracing::error!(scan.id = scan_id, %error, "requested scan failed");
                }
            }
            Ok(None) => break,
            Err(error) => {
                tracing::error!(%error, "cannot claim requested scans");
                break;
            }
        }
    }
    claimed
}

/// Sleeps for `duration`; `false` when a stop was requested meanwhile (or
/// the stop signal is gone).
async fn sleep_unless_stopped(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        _ = stop.changed() => return false,
    }
    !*stop.borrow()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::monitor::engine::TokioClock;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn next_fire_reads_the_expression_in_the_configured_zone() {
        let nightly: cron::Schedule = "0 0 2 * * *".parse().unwrap();
        // 02:00 in Berlin is 01:00 UTC in winter.
        assert_eq!(
            next_fire(
                &nightly,
                chrono_tz::Europe::Berlin,
                at("2026-11-22T00:30:00Z")
            ),
            Some(at("2026-11-22T01:00:00Z"))
        );
        assert_eq!(
            next_fire(&nightly, chrono_tz::UTC, at("2026-11-22T00:30:00Z")),
            Some(at("2026-11-22T02:00:00Z"))
        );
        // 02:00 in New York is 07:00 UTC; already past today, so tomorrow.
        assert_eq!(
            next_fire(
                &nightly,
                chrono_tz::America::New_York,
                at("2026-11-22T08:00:00Z")
            ),
            Some(at("2026-11-23T07:00:00Z"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cron_fires_when_it_should_with_a_paused_clock() {
        let clock = Arc::new(TokioClock::starting_at(at("2026-11-22T00:30:00Z")));
        let fired = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop) = watch::channel(false);
        let record = fired.clone();
        let record_clock = clock.clone();
        let task = tokio::spawn(run_cron(
            "0 0 2 * * *".parse().unwrap(),
            chrono_tz::Europe::Berlin,
            Duration::ZERO,
            clock.clone(),
            stop,
            move |scheduled| {
                record.lock().unwrap().push((scheduled, record_clock.now()));
                async {}
            },
        ));
        // Three days pass in no real time.
        tokio::time::sleep(Duration::from_secs(3 * 24 * 3600)).await;
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        let fired = fired.lock().unwrap().clone();
        let scheduled: Vec<_> = fired.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            scheduled,
            vec![
                at("2026-11-22T01:00:00Z"),
                at("2026-11-23T01:00:00Z"),
                at("2026-11-24T01:00:00Z")
            ]
        );
        for (scheduled, actual) in fired {
            assert!(
                (actual - scheduled).num_seconds().abs() <= 1,
                "fired at {actual}, due {scheduled}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_delays_a_fire_by_at_most_the_configured_time() {
        let clock = Arc::new(TokioClock::starting_at(at("2026-11-22T01:59:00Z")));
        let fired = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop) = watch::channel(false);
        let record = fired.clone();
        let record_clock = clock.clone();
        let task = tokio::spawn(run_cron(
            "0 0 2 * * *".parse().unwrap(),
            chrono_tz::UTC,
            Duration::from_secs(300),
            clock.clone(),
            stop,
            move |_| {
                record.lock().unwrap().push(record_clock.now());
                async {}
            },
        ));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        let fired = fired.lock().unwrap().clone();
        assert_eq!(fired.len(), 1);
        let late = (fired[0] - at("2026-11-22T02:00:00Z")).num_seconds();
        assert!((0..=301).contains(&late), "{late} s late");
    }
}
