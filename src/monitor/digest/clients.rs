//! Client digests (`clients.delivery` = `daily` or `weekly`): a client's
//! events that were not urgent wait as entries (written with their ledger
//! row); at the client's digest time (its `digest_hour`, and for weekly its
//! `digest_weekday`, in its time zone) one email to its contacts lists
//! them. Each digest is keyed by client and period: its message id is
//! `client-digest.<client>.<period start>@<domain>`, unique in the outbox,
//! and the entries it carries are marked in the same transaction, so a
//! second pass, a restart or a second instance never sends it twice.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::DigestError;
use crate::monitor::alerts::AlertSettings;
use crate::notify::templates;
use crate::store::{Channel, DeliveryMode, NewMessage, Store, WEEKDAYS};

/// The start of the digest period `now` is in: the latest digest time at
/// or before `now` (`hour`:00 local, every day or on `weekday`). A local
/// hour skipped by a clock change counts as the hour after.
pub fn period_start(
    tz: Tz,
    mode: DeliveryMode,
    hour: u8,
    weekday: Weekday,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut date = now.with_timezone(&tz).date_naive();
    for _ in 0..9 {
        let due_day = match mode {
            DeliveryMode::Weekly => date.weekday() == weekday,
            DeliveryMode::Daily | DeliveryMode::Immediate => true,
        };
        if due_day {
            let naive = date.and_hms_opt(u32::from(hour), 0, 0)?;
            let local = tz.from_local_datetime(&naive).earliest().or_else(|| {
                tz.from_local_datetime(&(naive + Duration::hours(1)))
                    .earliest()
            });
            if let Some(at) = local.map(|t| t.with_timezone(&Utc)) {
                if at <= now {
                    return Some(at);
                }
            }
        }
        date = date.pred_opt()?;
    }
    None
}

fn weekday(name: &str) -> Weekday {
    let index = WEEKDAYS.iter().position(|d| *d == name).unwrap_or(0);
    Weekday::try_from(u8::try_from(index).unwrap_or(0)).unwrap_or(Weekday::Mon)
}

/// Queues each client's digest that is due at `now`; returns the message
/// ids queued. `default_tz` is `schedule.timezone`, for clients without
/// their own. A client back on immediate delivery gets what waits at once.
pub async fn send_client_digests(
    store: &Store,
    settings: &AlertSettings,
    default_tz: Tz,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DigestError> {
    let mut queued = Vec::new();
    for client in store.clients_with_waiting_digest().await? {
        let delivery = &client.delivery;
        let tz = delivery
            .timezone
            .as_deref()
            .and_then(|name| name.parse::<Tz>().ok())
            .unwrap_or(default_tz);
        let start = match delivery.delivery {
            DeliveryMode::Immediate => Some(now),
            mode => period_start(
                tz,
                mode,
                delivery.digest_hour,
                weekday(&delivery.digest_weekday),
                now,
            ),
        };
        let Some(start) = start else { continue };
        let entries = store
            .waiting_digest_entries(client.client_id, start)
            .await?;
        if entries.is_empty() || client.contacts.is_empty() {
            continue;
        }
        let subjects: Vec<String> = entries.iter().map(|e| e.subject.clone()).collect();
        let rendered = templates::render_client_digest(&subjects, &settings.agency)?;
        let message = NewMessage {
            channel: Channel::Email,
            recipient: client.contacts.join(", "),
            cc: None,
            reply_to: settings.agency.reply_to.clone(),
            subject: rendered.subject,
            body_text: rendered.text,
            body_html: Some(rendered.html),
        };
        let message_id = format!(
            "client-digest.{}.{}@{}",
            client.client_id,
            start.format("%Y%m%dT%H%M%SZ"),
            settings.message_id_domain
        );
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        if store
            .queue_client_digest(&message, &message_id, &ids, now)
            .await?
        {
            tracing::info!(message.id = %message_id, entries = ids.len(), "client digest queued");
            queued.push(message_id);
        }
    }
    Ok(queued)
}

/// Queues client digests as they fall due, checking once a minute, until
/// `shutdown` (digest hours are whole hours: a minute late at most).
pub async fn run_client_digests<F>(
    store: Store,
    settings: AlertSettings,
    default_tz: Tz,
    shutdown: F,
) where
    F: std::future::Future<Output = ()> + Send,
{
    tokio::pin!(shutdown);
    loop {
        if let Err(error) = send_client_digests(&store, &settings, default_tz, Utc::now()).await {
            tracing::error!(%error, "client digests failed; trying again in a minute");
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_period_starts_at_the_last_digest_time_in_the_clients_zone() {
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        // Saturday 2026-12-05 10:30 UTC = 11:30 in Berlin.
        let now = at("2026-12-05T10:30:00Z");
        let daily = |hour| period_start(berlin, DeliveryMode::Daily, hour, Weekday::Mon, now);
        assert_eq!(daily(9), Some(at("2026-12-05T08:00:00Z")));
        assert_eq!(daily(12), Some(at("2026-12-04T11:00:00Z")));
        let weekly = |day| period_start(berlin, DeliveryMode::Weekly, 9, day, now);
        assert_eq!(weekly(Weekday::Mon), Some(at("2026-11-30T08:00:00Z")));
        assert_eq!(weekly(Weekday::Sat), Some(at("2026-12-05T08:00:00Z")));
        assert_eq!(weekly(Weekday::Sun), Some(at("2026-11-29T08:00:00Z")));
        // 02:00 does not exist in Berlin on 2026-03-29: 03:00 instead.
        let spring = at("2026-03-29T12:00:00Z");
        assert_eq!(
            period_start(berlin, DeliveryMode::Daily, 2, Weekday::Mon, spring),
            Some(at("2026-03-29T01:00:00Z"))
        );
    }
}
