-- Channels and routing (issue 18 items 1 and 2). Append-only (see migrations/README.md).
--
-- A channel message is built when it is delivered, from the channel's
-- configuration (`[channels.NAME]`: URLs and tokens never reach the
-- database) and this structured payload (JSON: the event, its severity,
-- the title and text). `outbox.channel` is the channel's kind,
-- `outbox.recipient` its name. NULL: a message queued before 0305 whose
-- `body_text` is the exact request body.
ALTER TABLE outbox ADD COLUMN payload TEXT;

-- A named channel attached to staff (`client_id` NULL) or to one client,
-- with the least severity it wants and the groups of events it wants
-- (comma-separated: expiry, status, failures, lapse).
CREATE TABLE channel_routes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    client_id INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    min_severity TEXT NOT NULL DEFAULT 'info'
        CHECK (min_severity IN ('info', 'warning', 'critical')),
    events TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX channel_routes_target ON channel_routes (channel, COALESCE(client_id, 0));
CREATE INDEX channel_routes_client ON channel_routes (client_id);
