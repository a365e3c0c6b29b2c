-- Ids are never reused (issue 15 item 1), and checks are numbered (item 12).
-- Append-only (see migrations/README.md).
--
-- 1. Every table with an `id` becomes `INTEGER PRIMARY KEY AUTOINCREMENT`.
--    Without AUTOINCREMENT SQLite hands out max(id) + 1, so the id of the
--    newest row comes back once that row is deleted: a removed client's id
--    went to the next client, and whatever still named the old id (a
--    token resolved by a running server, a URL, a scan's item, a message
--    id, a digest line being sent) named the new row. With AUTOINCREMENT
--    an id is never handed out twice (`sqlite_sequence` keeps the largest
--    ever used).
--
--    SQLite cannot add AUTOINCREMENT to a table: each one is rebuilt with
--    its rows, ids kept. This runs in sqlx's transaction, where
--    `PRAGMA foreign_keys` cannot be switched off, and `DROP TABLE` of a
--    table that others reference first deletes its rows, with the
--    children's ON DELETE actions (CASCADE would empty contacts, tokens,
--    endpoints, observations, alerts...; SET NULL would cut links). So:
--      - `PRAGMA defer_foreign_keys` makes every foreign key checked at
--        COMMIT (it ends with the transaction);
--      - a referenced table's ids are first moved out of the way
--        (`id = -1 - id`; ON UPDATE is NO ACTION everywhere): no child row
--        matches a row being dropped, so no action runs, and the now
--        dangling children are counted by SQLite as deferred violations;
--      - the rows come back with their own ids into the new table of the
--        same name, which resolves exactly those violations. COMMIT fails
--        (and nothing of this migration stays) unless every foreign key
--        holds again.
--    Each table: copy to a temporary table, move ids (referenced tables
--    only), drop, create with the same columns, constraints and order,
--    copy back, then its indexes with the SQL they had (byte for byte).
--    The triggers of `domains` and `endpoints` (0101, 0100, 0300) are
--    dropped first and created again at the end, with the SQL they had.
--    A guard compares row counts, non-NULL foreign keys and id sums of
--    every table before and after; a difference fails the migration.
--
--    One index is new: `outbox(ledger_id)`, the one foreign key without an
--    index. Without it, moving or deleting ledger rows scans the whole
--    outbox once per ledger row (here, and whenever a domain with alert
--    history is removed).
--
--    `sqlite_sequence` starts at each table's largest id, or above it
--    where a row outliving a delete still names a larger one: an
--    unfinished scan's items (endpoints, domains), a message id, which
--    begins with its ledger row's id.
--
-- 2. Each recorded check gets a number: `endpoints.cert_checks` and
--    `domains.registration_checks` count the checks the writers recorded
--    (`store::observations::record_batch_in`, `Store::record_registration`).
--    A failure streak names the check it counted by that number
--    (`*_failures_counted_check`), no longer by its time in whole seconds,
--    under which two checks within one second were one. The check each
--    streak had counted becomes check 0.

PRAGMA defer_foreign_keys = ON;

-- The guard: what must be the same after the rebuild.
CREATE TEMP VIEW ids_census (what, n) AS
          SELECT 'clients', COUNT(*) FROM main.clients
UNION ALL SELECT 'clients.id', TOTAL(id) FROM main.clients
UNION ALL SELECT 'contacts', COUNT(*) FROM main.contacts
UNION ALL SELECT 'contacts.id', TOTAL(id) FROM main.contacts
UNION ALL SELECT 'contacts.client_id', COUNT(client_id) FROM main.contacts
UNION ALL SELECT 'api_tokens', COUNT(*) FROM main.api_tokens
UNION ALL SELECT 'api_tokens.id', TOTAL(id) FROM main.api_tokens
UNION ALL SELECT 'api_tokens.client_id', COUNT(client_id) FROM main.api_tokens
UNION ALL SELECT 'domains', COUNT(*) FROM main.domains
UNION ALL SELECT 'domains.id', TOTAL(id) FROM main.domains
UNION ALL SELECT 'domains.client_id', COUNT(client_id) FROM main.domains
UNION ALL SELECT 'registration_facts', COUNT(*) FROM main.registration_facts
UNION ALL SELECT 'endpoints', COUNT(*) FROM main.endpoints
UNION ALL SELECT 'endpoints.id', TOTAL(id) FROM main.endpoints
UNION ALL SELECT 'endpoints.client_id', COUNT(client_id) FROM main.endpoints
UNION ALL SELECT 'cert_observations', COUNT(*) FROM main.cert_observations
UNION ALL SELECT 'cert_observations.id', TOTAL(id) FROM main.cert_observations
UNION ALL SELECT 'alerts', COUNT(*) FROM main.alerts
UNION ALL SELECT 'alerts.id', TOTAL(id) FROM main.alerts
UNION ALL SELECT 'alerts.domain_id', COUNT(domain_id) FROM main.alerts
UNION ALL SELECT 'alerts.endpoint_id', COUNT(endpoint_id) FROM main.alerts
UNION ALL SELECT 'alert_ledger', COUNT(*) FROM main.alert_ledger
UNION ALL SELECT 'alert_ledger.id', TOTAL(id) FROM main.alert_ledger
UNION ALL SELECT 'outbox', COUNT(*) FROM main.outbox
UNION ALL SELECT 'outbox.id', TOTAL(id) FROM main.outbox
UNION ALL SELECT 'outbox.ledger_id', COUNT(ledger_id) FROM main.outbox
UNION ALL SELECT 'outbox.alert_id', COUNT(alert_id) FROM main.outbox
UNION ALL SELECT 'digests', COUNT(*) FROM main.digests
UNION ALL SELECT 'digests.id', TOTAL(id) FROM main.digests
UNION ALL SELECT 'digest_entries', COUNT(*) FROM main.digest_entries
UNION ALL SELECT 'digest_entries.id', TOTAL(id) FROM main.digest_entries
UNION ALL SELECT 'digest_entries.digest_id', COUNT(digest_id) FROM main.digest_entries
UNION ALL SELECT 'scans', COUNT(*) FROM main.scans
UNION ALL SELECT 'scans.id', TOTAL(id) FROM main.scans
UNION ALL SELECT 'scan_items', COUNT(*) FROM main.scan_items;
CREATE TEMP TABLE ids_census_before AS SELECT what, n FROM ids_census;

DROP TRIGGER api_generation_domain_insert;
DROP TRIGGER api_generation_domain_delete;
DROP TRIGGER api_generation_domain_update;
DROP TRIGGER api_generation_domain_model_update;
DROP TRIGGER api_generation_endpoint_insert;
DROP TRIGGER api_generation_endpoint_delete;
DROP TRIGGER api_generation_endpoint_client;
DROP TRIGGER domains_cert_after_endpoint_delete;

-- clients (referenced by contacts, api_tokens, domains, endpoints)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.clients;
UPDATE main.clients SET id = -1 - id;
DROP TABLE main.clients;
CREATE TABLE clients (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at          TEXT NOT NULL,
    certificate_days    TEXT,
    registration_days   TEXT
);
INSERT INTO clients (id, name, created_at, certificate_days, registration_days)
SELECT id, name, created_at, certificate_days, registration_days FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;

-- contacts
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.contacts;
DROP TABLE main.contacts;
CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    created_at  TEXT NOT NULL,
    UNIQUE (client_id, email)
);
INSERT INTO contacts (id, client_id, email, created_at)
SELECT id, client_id, email, created_at FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;

-- api_tokens
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.api_tokens;
DROP TABLE main.api_tokens;
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    client_id       INTEGER REFERENCES clients(id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT,
    revoked_at      TEXT
);
INSERT INTO api_tokens (id, name, role, client_id, token_hash, created_at, last_used_at,
                        revoked_at)
SELECT id, name, role, client_id, token_hash, created_at, last_used_at, revoked_at
FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX api_tokens_client ON api_tokens (client_id);

-- domains (referenced by registration_facts, endpoints, alerts)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.domains;
UPDATE main.domains SET id = -1 - id;
DROP TABLE main.domains;
CREATE TABLE domains (
    id                                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                                TEXT NOT NULL UNIQUE,
    client_id                           INTEGER REFERENCES clients(id) ON DELETE SET NULL,
    created_at                          TEXT NOT NULL,
    expires_at                          TEXT,
    expires_source                      TEXT,
    registrar                           TEXT,
    registration_status                 TEXT,
    registration_checked_at             TEXT,
    registration_confirmed_at           TEXT,
    registration_outcome                TEXT,
    registration_stale                  INTEGER NOT NULL DEFAULT 0,
    manual_expires_at                   TEXT,
    manual_note                         TEXT,
    next_registration_check_at          TEXT,
    registration_assessment             TEXT,
    registration_capability             TEXT,
    registration_lookup_failures        INTEGER NOT NULL DEFAULT 0,
    manual_set_at                       TEXT,
    cert_not_after                      TEXT,
    cert_outcome                        TEXT,
    next_expiry_at                      TEXT GENERATED ALWAYS AS (CASE
        WHEN expires_at IS NULL THEN cert_not_after
        WHEN cert_not_after IS NULL THEN expires_at
        WHEN cert_not_after < expires_at THEN cert_not_after
        ELSE expires_at END) VIRTUAL,
    certificate_days                    TEXT,
    registration_days                   TEXT,
    registration_failures               INTEGER NOT NULL DEFAULT 0,
    registration_failures_counted_at    TEXT,
    registration_owner                  TEXT NOT NULL DEFAULT 'agency'
        CHECK (registration_owner IN ('client', 'agency', 'none')),
    watch                               TEXT NOT NULL DEFAULT 'both'
        CHECK (watch IN ('registration', 'tls', 'both')),
    registration_failure                TEXT
);
INSERT INTO domains (id, name, client_id, created_at, expires_at, expires_source, registrar,
                     registration_status, registration_checked_at, registration_confirmed_at,
                     registration_outcome, registration_stale, manual_expires_at, manual_note,
                     next_registration_check_at, registration_assessment,
                     registration_capability, registration_lookup_failures, manual_set_at,
                     cert_not_after, cert_outcome, certificate_days, registration_days,
                     registration_failures, registration_failures_counted_at,
                     registration_owner, watch, registration_failure)
SELECT id, name, client_id, created_at, expires_at, expires_source, registrar,
       registration_status, registration_checked_at, registration_confirmed_at,
       registration_outcome, registration_stale, manual_expires_at, manual_note,
       next_registration_check_at, registration_assessment,
       registration_capability, registration_lookup_failures, manual_set_at,
       cert_not_after, cert_outcome, certificate_days, registration_days,
       registration_failures, registration_failures_counted_at,
       registration_owner, watch, registration_failure
FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX domains_client ON domains (client_id);
CREATE INDEX domains_expires ON domains (expires_at);
CREATE INDEX domains_registration_due ON domains (next_registration_check_at);
CREATE INDEX domains_by_expiry
    ON domains (COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'));
CREATE INDEX domains_client_by_expiry
    ON domains (client_id, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'));
CREATE INDEX domains_cert_not_after ON domains (cert_not_after);
CREATE INDEX domains_cert_outcome ON domains (cert_outcome);

-- endpoints (referenced by cert_observations, alerts)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.endpoints;
UPDATE main.endpoints SET id = -1 - id;
DROP TABLE main.endpoints;
CREATE TABLE endpoints (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id                   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    host                        TEXT NOT NULL,
    port                        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls_mode                    TEXT NOT NULL DEFAULT 'auto',
    pinned_address              TEXT,
    created_at                  TEXT NOT NULL,
    next_check_at               TEXT,
    check_failures              INTEGER NOT NULL DEFAULT 0,
    cert_failures               INTEGER NOT NULL DEFAULT 0,
    cert_failures_counted_at    TEXT,
    client_id                   INTEGER REFERENCES clients(id) ON DELETE SET NULL,
    first_handshake_at          TEXT,
    UNIQUE (host, port)
);
INSERT INTO endpoints (id, domain_id, host, port, tls_mode, pinned_address, created_at,
                       next_check_at, check_failures, cert_failures, cert_failures_counted_at,
                       client_id, first_handshake_at)
SELECT id, domain_id, host, port, tls_mode, pinned_address, created_at,
       next_check_at, check_failures, cert_failures, cert_failures_counted_at,
       client_id, first_handshake_at
FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX endpoints_domain ON endpoints (domain_id);
CREATE INDEX endpoints_due ON endpoints (next_check_at);
CREATE INDEX endpoints_client ON endpoints (client_id);

-- cert_observations
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.cert_observations;
DROP TABLE main.cert_observations;
CREATE TABLE cert_observations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id         INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    address             TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    current             INTEGER NOT NULL DEFAULT 1,
    result_hash         TEXT NOT NULL,
    outcome             TEXT NOT NULL,
    leaf_fingerprint    TEXT,
    leaf_not_after      TEXT,
    chain_not_after     TEXT,
    details             TEXT NOT NULL
);
INSERT INTO cert_observations (id, endpoint_id, address, first_seen_at, last_seen_at, current,
                               result_hash, outcome, leaf_fingerprint, leaf_not_after,
                               chain_not_after, details)
SELECT id, endpoint_id, address, first_seen_at, last_seen_at, current,
       result_hash, outcome, leaf_fingerprint, leaf_not_after, chain_not_after, details
FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX cert_observations_current ON cert_observations (endpoint_id, address, current);
CREATE INDEX cert_observations_not_after ON cert_observations (current, leaf_not_after);

-- outbox (before the ledger and alerts it references, so that its new
-- index serves their moves)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.outbox;
DROP TABLE main.outbox;
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT NOT NULL UNIQUE,
    ledger_id       INTEGER REFERENCES alert_ledger(id) ON DELETE SET NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    cc              TEXT,
    lease_until     TEXT,
    alert_id        INTEGER REFERENCES alerts(id) ON DELETE SET NULL
);
INSERT INTO outbox (id, message_id, ledger_id, channel, recipient, subject, body_text,
                    body_html, state, attempts, next_attempt_at, last_error, created_at,
                    sent_at, cc, lease_until, alert_id)
SELECT id, message_id, ledger_id, channel, recipient, subject, body_text,
       body_html, state, attempts, next_attempt_at, last_error, created_at,
       sent_at, cc, lease_until, alert_id
FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_alert ON outbox (alert_id);
CREATE INDEX outbox_ledger ON outbox (ledger_id);

-- alerts (referenced by alert_ledger, outbox)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.alerts;
UPDATE main.alerts SET id = -1 - id;
DROP TABLE main.alerts;
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id       INTEGER REFERENCES domains(id) ON DELETE CASCADE,
    endpoint_id     INTEGER REFERENCES endpoints(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    subject_key     TEXT NOT NULL,
    state           TEXT NOT NULL,
    opened_at       TEXT NOT NULL,
    resolved_at     TEXT,
    details         TEXT
);
INSERT INTO alerts (id, domain_id, endpoint_id, kind, subject_key, state, opened_at,
                    resolved_at, details)
SELECT id, domain_id, endpoint_id, kind, subject_key, state, opened_at, resolved_at, details
FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX alerts_state ON alerts (state);
CREATE UNIQUE INDEX alerts_one_firing
    ON alerts (COALESCE(domain_id, 0), COALESCE(endpoint_id, 0), kind) WHERE state = 'firing';
CREATE INDEX alerts_domain ON alerts (domain_id, state);
CREATE INDEX alerts_endpoint ON alerts (endpoint_id, state);

-- alert_ledger (referenced by outbox, digest_entries)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.alert_ledger;
UPDATE main.alert_ledger SET id = -1 - id;
DROP TABLE main.alert_ledger;
CREATE TABLE alert_ledger (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (alert_id, event, subject_key)
);
INSERT INTO alert_ledger (id, alert_id, event, subject_key, created_at)
SELECT id, alert_id, event, subject_key, created_at FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;

-- digests (referenced by digest_entries)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.digests;
UPDATE main.digests SET id = -1 - id;
DROP TABLE main.digests;
CREATE TABLE digests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    due_at      TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    entries     INTEGER NOT NULL
);
INSERT INTO digests (id, due_at, created_at, entries)
SELECT id, due_at, created_at, entries FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;

-- digest_entries
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.digest_entries;
DROP TABLE main.digest_entries;
CREATE TABLE digest_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ledger_id   INTEGER NOT NULL UNIQUE REFERENCES alert_ledger(id) ON DELETE CASCADE,
    client      TEXT,
    line        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    digest_id   INTEGER REFERENCES digests(id) ON DELETE SET NULL
);
INSERT INTO digest_entries (id, ledger_id, client, line, created_at, digest_id)
SELECT id, ledger_id, client, line, created_at, digest_id FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX digest_entries_open ON digest_entries (digest_id);

-- scans (referenced by scan_items)
CREATE TEMP TABLE ids_copy AS SELECT * FROM main.scans;
UPDATE main.scans SET id = -1 - id;
DROP TABLE main.scans;
CREATE TABLE scans (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    scope           TEXT NOT NULL,
    state           TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    items_total     INTEGER NOT NULL DEFAULT 0,
    items_done      INTEGER NOT NULL DEFAULT 0,
    count_ok        INTEGER NOT NULL DEFAULT 0,
    count_warning   INTEGER NOT NULL DEFAULT 0,
    count_critical  INTEGER NOT NULL DEFAULT 0,
    count_unknown   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO scans (id, scope, state, started_at, finished_at, items_total, items_done,
                   count_ok, count_warning, count_critical, count_unknown)
SELECT id, scope, state, started_at, finished_at, items_total, items_done,
       count_ok, count_warning, count_critical, count_unknown
FROM temp.ids_copy ORDER BY id;
DROP TABLE temp.ids_copy;
CREATE INDEX scans_state ON scans (state, id);

-- The triggers, as 0101, 0100 and 0300 created them.
CREATE TRIGGER domains_cert_after_endpoint_delete
AFTER DELETE ON endpoints
BEGIN
    UPDATE domains SET
        cert_not_after = (
            SELECT MIN(o.leaf_not_after)
            FROM endpoints e CROSS JOIN cert_observations o ON o.endpoint_id = e.id
            WHERE e.domain_id = domains.id AND +o.current = 1),
        cert_outcome = (
            SELECT CASE MAX(CASE o.outcome WHEN 'critical' THEN 3 WHEN 'unknown' THEN 2
                                           WHEN 'warning' THEN 1 ELSE 0 END)
                     WHEN 3 THEN 'critical' WHEN 2 THEN 'unknown' WHEN 1 THEN 'warning'
                     WHEN 0 THEN 'ok' END
            FROM endpoints e CROSS JOIN cert_observations o ON o.endpoint_id = e.id
            WHERE e.domain_id = domains.id AND +o.current = 1)
    WHERE id = OLD.domain_id;
END;

CREATE TRIGGER api_generation_domain_insert
AFTER INSERT ON domains
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

CREATE TRIGGER api_generation_domain_delete
AFTER DELETE ON domains
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

CREATE TRIGGER api_generation_domain_update
AFTER UPDATE OF name, client_id, expires_at, registration_outcome, cert_not_after, cert_outcome
ON domains
WHEN OLD.name IS NOT NEW.name
  OR OLD.client_id IS NOT NEW.client_id
  OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.registration_outcome IS NOT NEW.registration_outcome
  OR OLD.cert_not_after IS NOT NEW.cert_not_after
  OR OLD.cert_outcome IS NOT NEW.cert_outcome
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

CREATE TRIGGER api_generation_domain_model_update
AFTER UPDATE OF watch, registration_owner, registration_capability, manual_expires_at ON domains
WHEN OLD.watch IS NOT NEW.watch
  OR OLD.registration_owner IS NOT NEW.registration_owner
  OR OLD.registration_capability IS NOT NEW.registration_capability
  OR OLD.manual_expires_at IS NOT NEW.manual_expires_at
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

CREATE TRIGGER api_generation_endpoint_insert
AFTER INSERT ON endpoints
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

CREATE TRIGGER api_generation_endpoint_delete
AFTER DELETE ON endpoints
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

CREATE TRIGGER api_generation_endpoint_client
AFTER UPDATE OF client_id ON endpoints
WHEN OLD.client_id IS NOT NEW.client_id
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

-- The guard: every count, link and id sum as before (CHECK fails otherwise).
CREATE TEMP TABLE ids_census_kept (
    what TEXT PRIMARY KEY,
    kept INTEGER NOT NULL CHECK (kept = 1)
);
INSERT INTO ids_census_kept (what, kept)
SELECT b.what, b.n IS a.n FROM temp.ids_census_before b LEFT JOIN temp.ids_census a USING (what);
DROP TABLE temp.ids_census_kept;
DROP TABLE temp.ids_census_before;
DROP VIEW temp.ids_census;

-- Ids still named by rows that outlived theirs: the next id comes after them.
CREATE TEMP TABLE ids_named (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
INSERT INTO ids_named (name, seq)
          SELECT 'endpoints', COALESCE(MAX(item_id), 0) FROM main.scan_items
          WHERE item_kind = 'endpoint'
UNION ALL SELECT 'domains', COALESCE(MAX(item_id), 0) FROM main.scan_items
          WHERE item_kind = 'registration'
UNION ALL SELECT 'alert_ledger', COALESCE(MAX(CAST(message_id AS INTEGER)), 0) FROM main.outbox;
UPDATE sqlite_sequence
SET seq = (SELECT n.seq FROM temp.ids_named n WHERE n.name = sqlite_sequence.name)
WHERE seq < (SELECT n.seq FROM temp.ids_named n WHERE n.name = sqlite_sequence.name);
INSERT INTO sqlite_sequence (name, seq)
SELECT n.name, n.seq FROM temp.ids_named n
WHERE n.seq > 0 AND NOT EXISTS (SELECT 1 FROM sqlite_sequence s WHERE s.name = n.name);
DROP TABLE temp.ids_named;

-- 2. Check numbers. The check a streak counted last is check 0 (when it is
-- still the subject's latest check; otherwise the next evaluation counts it).
ALTER TABLE endpoints ADD COLUMN cert_checks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN cert_failures_counted_check INTEGER;
ALTER TABLE domains ADD COLUMN registration_checks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN registration_failures_counted_check INTEGER;
-- (`+o.current` keeps SQLite on the endpoint's index, as in 0100.)
UPDATE endpoints SET cert_failures_counted_check = 0
WHERE cert_failures_counted_at IS NOT NULL
  AND cert_failures_counted_at = (
    SELECT MAX(o.last_seen_at) FROM cert_observations o
    WHERE o.endpoint_id = endpoints.id AND +o.current = 1);
UPDATE domains SET registration_failures_counted_check = 0
WHERE registration_failures_counted_at = registration_checked_at;
