-- Client mail (issue 14 items 4 and 5). Append-only (see migrations/README.md).
--
-- The Reply-To of an outbox email: client mail carries `agency.reply_to`,
-- staff mail none. Stored with the rendered message, so a retry sends the
-- same headers even after the configuration changed.
ALTER TABLE outbox ADD COLUMN reply_to TEXT;

-- How each client hears of its alerts (item 5): at once, or in one digest
-- a day or a week, at `digest_hour` (and on `digest_weekday`, `mon` ..
-- `sun`) in the client's time zone (`timezone`, an IANA name; NULL:
-- `schedule.timezone`). Urgent events are always sent at once.
ALTER TABLE clients ADD COLUMN timezone TEXT;
ALTER TABLE clients ADD COLUMN delivery TEXT NOT NULL DEFAULT 'immediate'
    CHECK (delivery IN ('immediate', 'daily', 'weekly'));
ALTER TABLE clients ADD COLUMN digest_hour INTEGER NOT NULL DEFAULT 8
    CHECK (digest_hour BETWEEN 0 AND 23);
ALTER TABLE clients ADD COLUMN digest_weekday TEXT NOT NULL DEFAULT 'mon'
    CHECK (digest_weekday IN ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'));

-- A client event kept for the client's next digest, written in the same
-- transaction as its ledger row; `message_id` is the digest that carried it
-- (NULL: still waiting).
CREATE TABLE client_digest_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    ledger_id INTEGER REFERENCES alert_ledger (id) ON DELETE SET NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    message_id TEXT
);
CREATE INDEX client_digest_waiting ON client_digest_entries (client_id, created_at)
    WHERE message_id IS NULL;
