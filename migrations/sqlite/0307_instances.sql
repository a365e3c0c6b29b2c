-- Several `lapse serve` instances on one database, all equal.

-- Every running instance beats here (`lapse serve`'s scheduler tick); what
-- it holds (leases on scan items and outbox rows) is read from those rows.
-- The key is the instance's name (`server.instance`, else hostname-pid),
-- not a handed-out id.
CREATE TABLE instances (
    instance    TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    beat_at     TEXT NOT NULL,
    version     TEXT NOT NULL
);

-- A cron scan starts once per firing: the first instance to insert the
-- (schedule, fire time) row starts the scan; the others join it.
CREATE TABLE cron_firings (
    schedule    TEXT NOT NULL,
    fire_at     TEXT NOT NULL,
    instance    TEXT NOT NULL,
    scan_id     INTEGER,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (schedule, fire_at)
);

-- Pacing shared by every instance: per registry server, the next free
-- request slot in milliseconds since the epoch (GCRA's theoretical arrival
-- time), reserved in one short write transaction.
CREATE TABLE server_pacing (
    server_key  TEXT PRIMARY KEY,
    next_free_ms INTEGER NOT NULL
);

-- Scan items are claimed in batches under a lease; an item whose lease ran
-- out (its instance died) is claimable again.
ALTER TABLE scan_items ADD COLUMN leased_by TEXT;
ALTER TABLE scan_items ADD COLUMN lease_until TEXT;
CREATE INDEX scan_items_leased ON scan_items (leased_by, lease_until);

-- The instance delivering a `sending` row.
ALTER TABLE outbox ADD COLUMN leased_by TEXT;
