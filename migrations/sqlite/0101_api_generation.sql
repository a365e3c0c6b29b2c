-- lapse: a generation number for the API's cached totals. Append-only (see
-- migrations/README.md).
--
-- `api_generation.domains` changes whenever a domain row that a list could
-- count changes: a domain added or removed, or one of the columns the
-- filters read (name, client, registration expiry and outcome, the
-- certificate columns, hence `next_expiry_at` and the status) changes
-- value. The API keeps the `total` of a list keyed by the filter and this
-- number, reads the number in the same statement as the page (one
-- snapshot), and counts again only when it moved: totals are exact, never
-- stale, and a list request does not count every match.
--
-- Cost for writers: the update trigger's WHEN compares old and new values,
-- so a write that changes nothing (a rescan that finds the same
-- certificate: the 0100 triggers rewrite `cert_not_after`/`cert_outcome`
-- with the same values) bumps nothing; a real change costs one UPDATE of
-- this one-row table, in the writer's own transaction.

CREATE TABLE api_generation (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    domains INTEGER NOT NULL
);
INSERT INTO api_generation (id, domains) VALUES (1, 0);

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
