-- Alert handling (issue 18 items 3, 4, 5). Append-only (see migrations/README.md).
--
-- Acknowledge and snooze, on the alert itself: the current state (who and
-- when). The history is the alert ledger: each action is a ledger row
-- (`acknowledged:<time>`, `snoozed:<time>`, `unsnoozed:<time>`) with the
-- `actor` who did it and a `note` (the snooze's end); a row queues nothing.
-- An acknowledgement ends by itself at the next threshold (a ledger row
-- written after it); a snooze at `snoozed_until`.
ALTER TABLE alerts ADD COLUMN acknowledged_at TEXT;
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
ALTER TABLE alerts ADD COLUMN snoozed_until TEXT;
ALTER TABLE alerts ADD COLUMN snoozed_by TEXT;
ALTER TABLE alert_ledger ADD COLUMN actor TEXT;
ALTER TABLE alert_ledger ADD COLUMN note TEXT;

-- A maintenance window: the alerts of a domain (its registration and all
-- its endpoints) or of one endpoint are held from `starts_at` to `ends_at`
-- (or until lifted). Kept after it ends: who muted, why, who lifted it.
CREATE TABLE mutes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    endpoint_id INTEGER REFERENCES endpoints(id) ON DELETE CASCADE,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    lifted_by   TEXT,
    lifted_at   TEXT
);
CREATE INDEX mutes_domain ON mutes (domain_id, ends_at);

-- Repeat until renewed: in the last `repeat_days` days before an expiry
-- (and after it), one reminder a day until the alert resolves. NULL on the
-- domain: the client's; NULL on both: off.
ALTER TABLE clients ADD COLUMN repeat_days INTEGER CHECK (repeat_days BETWEEN 1 AND 366);
ALTER TABLE domains ADD COLUMN repeat_days INTEGER CHECK (repeat_days BETWEEN 1 AND 366);

-- The runbook staff mail carries: the registrar or DNS account, who
-- renews, how. Each field NULL on the domain: the client's.
ALTER TABLE clients ADD COLUMN runbook_account TEXT;
ALTER TABLE clients ADD COLUMN runbook_renewer TEXT;
ALTER TABLE clients ADD COLUMN runbook_howto TEXT;
ALTER TABLE domains ADD COLUMN runbook_account TEXT;
ALTER TABLE domains ADD COLUMN runbook_renewer TEXT;
ALTER TABLE domains ADD COLUMN runbook_howto TEXT;
