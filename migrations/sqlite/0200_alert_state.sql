-- Alerts and delivery: threshold overrides, consecutive-failure streaks,
-- outbox leases, staff digests. Append-only, like every migration.

-- Threshold overrides per client and per domain: a JSON array of days
-- (`[45, 21, 7, 0]`), NULL = inherit (domain -> client -> config).
ALTER TABLE clients ADD COLUMN certificate_days TEXT;
ALTER TABLE clients ADD COLUMN registration_days TEXT;
ALTER TABLE domains ADD COLUMN certificate_days TEXT;
ALTER TABLE domains ADD COLUMN registration_days TEXT;

-- Consecutive failed checks, so a failure alerts only after
-- `alerts.failures_before_alert` of them. `*_counted_at` is the check that
-- was last counted (its observation time), so evaluating the same check
-- twice (a restart, a resumed scan) counts it once.
ALTER TABLE endpoints ADD COLUMN cert_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN cert_failures_counted_at TEXT;
ALTER TABLE domains ADD COLUMN registration_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN registration_failures_counted_at TEXT;

-- Delivery: a row in `sending` belongs to one sender until `lease_until`;
-- after that another sender may take it back (a crashed sender's rows are
-- retried: at-least-once, de-duplicable by `message_id`). `cc` holds the
-- staff copied on an email (comma-separated), `alert_id` what it is about.
ALTER TABLE outbox ADD COLUMN cc TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
ALTER TABLE outbox ADD COLUMN alert_id INTEGER REFERENCES alerts(id) ON DELETE SET NULL;
CREATE INDEX outbox_alert ON outbox (alert_id);

-- One row per digest sent; `due_at` (the cron fire time) is unique, so a
-- restart never sends the same digest twice.
CREATE TABLE digests (
    id          INTEGER PRIMARY KEY,
    due_at      TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    entries     INTEGER NOT NULL
);

-- Staff digest: one line per alert event, until a digest takes it.
CREATE TABLE digest_entries (
    id          INTEGER PRIMARY KEY,
    ledger_id   INTEGER NOT NULL UNIQUE REFERENCES alert_ledger(id) ON DELETE CASCADE,
    client      TEXT,            -- client name at the time, NULL = no client
    line        TEXT NOT NULL,   -- the notice's subject line
    created_at  TEXT NOT NULL,
    digest_id   INTEGER REFERENCES digests(id) ON DELETE SET NULL
);
CREATE INDEX digest_entries_open ON digest_entries (digest_id);
