-- lapse: initial schema. Append-only: never edit a migration that has shipped;
-- add a new file instead (see migrations/README.md).
--
-- Times are TEXT in UTC, RFC 3339 with whole seconds and a `Z`
-- (`2026-11-22T16:19:00Z`), so they sort as text and port to PostgreSQL
-- (timestamptz) unchanged. Ids are integers; JSON columns hold lists.

CREATE TABLE clients (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at  TEXT NOT NULL
);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    client_id   INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    created_at  TEXT NOT NULL,
    UNIQUE (client_id, email)
);

-- A registrable domain (`example.co.uk`) and its current registration state.
-- The columns `expires_at` .. `registration_stale` are the *assessed* view,
-- derived from `registration_facts` (one row per source), kept here so that
-- "what expires next" needs no scan of history.
CREATE TABLE domains (
    id                          INTEGER PRIMARY KEY,
    name                        TEXT NOT NULL UNIQUE,  -- ASCII (punycode), lower case
    client_id                   INTEGER REFERENCES clients(id) ON DELETE SET NULL,
    created_at                  TEXT NOT NULL,
    expires_at                  TEXT,                  -- earliest credible expiry
    expires_source              TEXT,                  -- registry_rdap | registrar_rdap | whois | manual
    registrar                   TEXT,
    registration_status         TEXT,                  -- JSON array of EPP status codes
    registration_checked_at     TEXT,                  -- last lookup attempt
    registration_confirmed_at   TEXT,                  -- last lookup that returned facts
    registration_outcome        TEXT,                  -- found | not_published | not_found | rate_limited | unparseable | failed
    registration_stale          INTEGER NOT NULL DEFAULT 0,
    manual_expires_at           TEXT,
    manual_note                 TEXT,
    next_registration_check_at  TEXT
);
CREATE INDEX domains_client ON domains (client_id);
CREATE INDEX domains_expires ON domains (expires_at);

-- Registration facts per domain, source and server: registry and registrar kept apart.
CREATE TABLE registration_facts (
    domain_id           INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    source              TEXT NOT NULL,   -- registry_rdap | registrar_rdap | whois | manual
    server              TEXT NOT NULL,   -- RDAP URL or WHOIS host that answered
    outcome             TEXT NOT NULL,
    expires_at          TEXT,
    registered_at       TEXT,
    updated_at          TEXT,
    registrar           TEXT,
    registrar_iana_id   INTEGER,
    status              TEXT,            -- JSON array
    nameservers         TEXT,            -- JSON array
    fetched_at          TEXT NOT NULL,
    PRIMARY KEY (domain_id, source, server)
);

-- A TLS service under a domain.
CREATE TABLE endpoints (
    id              INTEGER PRIMARY KEY,
    domain_id       INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    host            TEXT NOT NULL,               -- ASCII, lower case
    port            INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls_mode        TEXT NOT NULL DEFAULT 'auto', -- auto (from the port) | direct | smtp | imap | pop3
    pinned_address  TEXT,                        -- skips DNS when set
    created_at      TEXT NOT NULL,
    next_check_at   TEXT,
    UNIQUE (host, port)
);
CREATE INDEX endpoints_domain ON endpoints (domain_id);
CREATE INDEX endpoints_due ON endpoints (next_check_at);

-- Certificate check results per endpoint and resolved address. History is
-- compact: an unchanged result refreshes `last_seen_at`; a change adds a row.
-- `current` marks the latest row per (endpoint, address).
CREATE TABLE cert_observations (
    id                  INTEGER PRIMARY KEY,
    endpoint_id         INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    address             TEXT NOT NULL,   -- IP address, or '' when no address was reached (DNS failure)
    first_seen_at       TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    current             INTEGER NOT NULL DEFAULT 1,
    result_hash         TEXT NOT NULL,   -- what "unchanged" compares
    outcome             TEXT NOT NULL,   -- ok | warning | critical | unknown
    leaf_fingerprint    TEXT,            -- SHA-256, hex
    leaf_not_after      TEXT,
    chain_not_after     TEXT,            -- earliest expiry in the chain that validates
    details             TEXT NOT NULL    -- JSON: chain, findings, TLS version
);
CREATE INDEX cert_observations_current ON cert_observations (endpoint_id, address, current);
CREATE INDEX cert_observations_not_after ON cert_observations (current, leaf_not_after);

-- Alerts: one row per (subject, kind) episode, firing -> resolved.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    domain_id       INTEGER REFERENCES domains(id) ON DELETE CASCADE,
    endpoint_id     INTEGER REFERENCES endpoints(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,   -- cert_expiry | registration_expiry | check_failure | ...
    subject_key     TEXT NOT NULL,   -- what the alert is about: fingerprint, expiry date ...
    state           TEXT NOT NULL,   -- firing | resolved
    opened_at       TEXT NOT NULL,
    resolved_at     TEXT,
    details         TEXT             -- JSON
);
CREATE INDEX alerts_state ON alerts (state);
CREATE UNIQUE INDEX alerts_one_firing
    ON alerts (COALESCE(domain_id, 0), COALESCE(endpoint_id, 0), kind) WHERE state = 'firing';

-- The ledger: proof that a notification for (alert, event) was queued. The
-- UNIQUE key is what makes each crossing notify once.
CREATE TABLE alert_ledger (
    id          INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    event       TEXT NOT NULL,    -- threshold:<days> | failure | resolved ...
    subject_key TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (alert_id, event, subject_key)
);

-- Messages waiting for delivery (email, webhooks), written in the same
-- transaction as the ledger row that caused them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,   -- stable across retries
    ledger_id       INTEGER REFERENCES alert_ledger(id) ON DELETE SET NULL,
    channel         TEXT NOT NULL,          -- email | slack | discord | webhook | log
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    state           TEXT NOT NULL DEFAULT 'pending',  -- pending | sending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- Scans: one row per run, with counts by outcome.
CREATE TABLE scans (
    id              INTEGER PRIMARY KEY,
    scope           TEXT NOT NULL,        -- JSON: all | client | domain
    state           TEXT NOT NULL,        -- running | finished | interrupted
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    items_total     INTEGER NOT NULL DEFAULT 0,
    items_done      INTEGER NOT NULL DEFAULT 0,
    count_ok        INTEGER NOT NULL DEFAULT 0,
    count_warning   INTEGER NOT NULL DEFAULT 0,
    count_critical  INTEGER NOT NULL DEFAULT 0,
    count_unknown   INTEGER NOT NULL DEFAULT 0
);

-- Work items of a scan, so an interrupted scan resumes with what is left.
CREATE TABLE scan_items (
    scan_id     INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    item_kind   TEXT NOT NULL,    -- endpoint | registration
    item_id     INTEGER NOT NULL,
    done_at     TEXT,
    outcome     TEXT,
    PRIMARY KEY (scan_id, item_kind, item_id)
);

-- API tokens, stored hashed (SHA-256 of the secret); shown once at creation.
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,   -- admin | staff | viewer | client
    client_id       INTEGER REFERENCES clients(id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT,
    revoked_at      TEXT
);
