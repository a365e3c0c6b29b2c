-- lapse: what the JSON API needs. Append-only (see migrations/README.md).
--
-- 1. A domain's certificate state and its next expiry, kept on the domain row
--    so that "what expires within 30 days, soonest first, 100 per page" is an
--    index range scan, not an aggregate over every observation:
--      cert_not_after  earliest leaf not-after among the current observations
--                      of the domain's endpoints (NULL: none observed yet)
--      cert_outcome    worst current outcome among them:
--                      critical > unknown > warning > ok (NULL: none)
--      next_expiry_at  the earlier of expires_at (registration) and
--                      cert_not_after (NULL when both are); a generated column
--    Triggers keep the certificate columns true whoever writes observations
--    or endpoints, so no writer can forget them. Their subqueries
--    walk the domain's endpoints first (CROSS JOIN fixes that order in
--    SQLite), then each endpoint's observations by index (`+o.current`
--    keeps SQLite off the (current, leaf_not_after) index): a few rows per
--    write, never a scan of all current observations. (A PostgreSQL
--    backend re-creates these triggers in PL/pgSQL; the columns and queries
--    stay the same.)
-- 2. Indexes for the API's lists and filters.
-- 3. heartbeats: the scheduler writes its liveness here; /readyz reads it.

ALTER TABLE domains ADD COLUMN cert_not_after TEXT;
ALTER TABLE domains ADD COLUMN cert_outcome TEXT;
-- Generated (virtual): always the earlier of the two, nothing to maintain.
ALTER TABLE domains ADD COLUMN next_expiry_at TEXT GENERATED ALWAYS AS (CASE
    WHEN expires_at IS NULL THEN cert_not_after
    WHEN cert_not_after IS NULL THEN expires_at
    WHEN cert_not_after < expires_at THEN cert_not_after
    ELSE expires_at END) VIRTUAL;

-- Backfill for databases that already hold observations.
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
        WHERE e.domain_id = domains.id AND +o.current = 1);

-- Recomputes a domain's certificate columns from its current observations.
CREATE TRIGGER domains_cert_after_observation_insert
AFTER INSERT ON cert_observations
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
    WHERE id = (SELECT domain_id FROM endpoints WHERE id = NEW.endpoint_id);
END;

CREATE TRIGGER domains_cert_after_observation_update
AFTER UPDATE OF current, outcome, leaf_not_after ON cert_observations
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
    WHERE id = (SELECT domain_id FROM endpoints WHERE id = NEW.endpoint_id);
END;

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

-- Lists sorted by next expiry (NULL, "nothing known yet", sorts last), for
-- everyone and per client. Queries use the same COALESCE expression.
CREATE INDEX domains_by_expiry
    ON domains (COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'));
CREATE INDEX domains_client_by_expiry
    ON domains (client_id, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'));
CREATE INDEX domains_cert_not_after ON domains (cert_not_after);
CREATE INDEX domains_cert_outcome ON domains (cert_outcome);
CREATE INDEX alerts_domain ON alerts (domain_id, state);
CREATE INDEX alerts_endpoint ON alerts (endpoint_id, state);
CREATE INDEX api_tokens_client ON api_tokens (client_id);
CREATE INDEX scans_state ON scans (state, id);

-- Liveness of background components: one row per component (`scheduler`),
-- overwritten by each beat.
CREATE TABLE heartbeats (
    component   TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,   -- which process beat (host name, pid)
    beat_at     TEXT NOT NULL
);
