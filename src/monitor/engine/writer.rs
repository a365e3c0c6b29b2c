//! The scan's one writer: results arrive through a channel and are
//! recorded in batched transactions (a batch that cannot be written is tried
//! again while the database is away), then the alerts of the batch are
//! decided.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{Clock, ProgressFn};
use crate::monitor::alerts::{self, AlertSettings, FailureMode};
use crate::store::{ItemResult, ScanHandle, ScanProgress, Store, StoreError};

/// A partial batch is written after this long.
const FLUSH_AFTER: Duration = Duration::from_millis(250);

/// The one writer: batches results into transactions.
pub(super) async fn write_results(
    store: Store,
    handle: ScanHandle,
    mut results: mpsc::Receiver<ItemResult>,
    batch_size: usize,
    clock: Arc<dyn Clock>,
    progress: Option<ProgressFn>,
    alerting: Option<(Arc<AlertSettings>, FailureMode)>,
) -> Result<(), StoreError> {
    let mut batch = Vec::with_capacity(batch_size);
    let mut counts = match &progress {
        Some(_) => store.scan_progress(handle.scan_id).await?,
        None => ScanProgress::default(),
    };
    loop {
        let flush = tokio::time::sleep(FLUSH_AFTER);
        tokio::pin!(flush);
        let closed = loop {
            tokio::select! {
                next = results.recv() => match next {
                    Some(result) => {
                        batch.push(result);
                        if batch.len() >= batch_size {
                            break false;
                        }
                    }
                    None => break true,
                },
                () = &mut flush => break false,
            }
        };
        if !batch.is_empty() {
            let now = clock.now();
            let t0 = std::time::Instant::now();
            record_with_retry(&store, handle.scan_id, &batch, now).await?;
            let t1 = std::time::Instant::now();
            if let Some((settings, mode)) = &alerting {
                decide_alerts(&store, settings, *mode, &batch, now).await;
            }
            tracing::debug!(
                scan.id = handle.scan_id,
                batch = batch.len(),
                record_ms = (t1 - t0).as_millis(),
                alerts_ms = t1.elapsed().as_millis(),
                queued = results.len(),
                "batch recorded"
            );
            if let Some(progress) = &progress {
                batch.iter().for_each(|r| counts.count(r));
                progress(&counts);
            }
            batch.clear();
        }
        if closed {
            return Ok(());
        }
    }
}

/// How often a batch that cannot be written is tried again (a second
/// apart) before the scan gives up; a database restart fits in this.
const RECORD_ATTEMPTS: u32 = 120;

/// Records a batch, trying again while the database is away (a restart):
/// the results are kept in memory meanwhile, and the checks stay leased.
/// A batch whose data the database refuses (a value it cannot store) is
/// recorded result by result instead, so that one result loses only
/// itself: its item is marked done without a result, and the log says
/// which and why.
async fn record_with_retry(
    store: &Store,
    scan_id: i64,
    batch: &[ItemResult],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match record_retrying(store, scan_id, batch, now).await {
        Err(error) if error.refuses_the_data() => {
            tracing::warn!(scan.id = scan_id, %error, "the database refused a batch; recording its results one by one");
            for result in batch {
                let one = std::slice::from_ref(result);
                match record_retrying(store, scan_id, one, now).await {
                    Err(error) if error.refuses_the_data() => {
                        let (kind, item_id) = result.item();
                        tracing::error!(scan.id = scan_id, item.kind = kind, item.id = item_id, %error, "cannot record this result; its item is done without one");
                        let gone = [ItemResult::Gone {
                            kind: kind.to_owned(),
                            item_id,
                        }];
                        record_retrying(store, scan_id, &gone, now).await?;
                    }
                    other => other?,
                }
            }
            Ok(())
        }
        other => other,
    }
}

/// Records a batch, trying again (a second apart) while the error is not
/// the data's.
async fn record_retrying(
    store: &Store,
    scan_id: i64,
    batch: &[ItemResult],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut attempt = 1;
    loop {
        match store.record_scan_results(scan_id, batch, now).await {
            Ok(()) => return Ok(()),
            Err(error)
                if attempt < RECORD_ATTEMPTS
                    && matches!(error, StoreError::Db(_))
                    && !error.refuses_the_data() =>
            {
                tracing::warn!(scan.id = scan_id, attempt, %error, "cannot record a batch; trying again");
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Decides the alerts of freshly recorded results. Subjects the rules say
/// nothing about (the common case: valid, far from expiry, nothing firing)
/// are told apart for the whole batch at once; each of the others is
/// evaluated in its own transaction with its messages. A failure here is
/// logged: the results are safe, and the next evaluation decides again.
async fn decide_alerts(
    store: &Store,
    settings: &AlertSettings,
    mode: FailureMode,
    batch: &[ItemResult],
    now: DateTime<Utc>,
) {
    let mut endpoints = Vec::new();
    let mut domains = Vec::new();
    for result in batch {
        match result {
            ItemResult::Endpoint {
                endpoint_id,
                observations,
                ..
            } => endpoints.push((*endpoint_id, observations.as_slice())),
            ItemResult::Registration { domain_id, .. } => domains.push(*domain_id),
            ItemResult::Gone { .. } => {}
        }
    }
    if !endpoints.is_empty() {
        let ids = alerts::endpoints_to_evaluate(store, settings, &endpoints, now)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot sort out quiet endpoints; evaluating all of the batch");
                endpoints.iter().map(|(id, _)| *id).collect()
            });
        for id in ids {
            if let Err(error) = alerts::evaluate_endpoint(store, settings, id, mode, now).await {
                tracing::error!(subject = %format!("endpoint #{id}"), %error, "cannot evaluate alerts");
            }
        }
    }
    if !domains.is_empty() {
        let ids = alerts::domains_to_evaluate(store, settings, &domains, now)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot sort out quiet domains; evaluating all of the batch");
                domains
            });
        for id in ids {
            if let Err(error) = alerts::evaluate_domain(store, settings, id, mode, now).await {
                tracing::error!(subject = %format!("domain #{id}"), %error, "cannot evaluate alerts");
            }
        }
    }
}
