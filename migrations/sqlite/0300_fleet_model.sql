-- Fleet model (issue 13): what is watched is explicit, endpoints belong to
-- clients, a registration has its own owner, TLS modes are stored as chosen.

-- Endpoints belong to clients (NULL: the agency's own). Until now the
-- domain's client owned everything under it.
ALTER TABLE endpoints ADD COLUMN client_id INTEGER REFERENCES clients(id) ON DELETE SET NULL;
UPDATE endpoints SET client_id = (SELECT d.client_id FROM domains d WHERE d.id = endpoints.domain_id);
CREATE INDEX endpoints_client ON endpoints (client_id);

-- Who owns the registration: a client (domains.client_id), the agency, or
-- nobody (a platform's registration, e.g. github.io). Registration alerts go
-- to the owner's contacts; staff receive them when the agency owns it.
ALTER TABLE domains ADD COLUMN registration_owner TEXT NOT NULL DEFAULT 'agency'
    CHECK (registration_owner IN ('client', 'agency', 'none'));
UPDATE domains SET registration_owner = 'client' WHERE client_id IS NOT NULL;

-- What is watched: the registration, the endpoints (tls), or both. Every
-- existing domain had both.
ALTER TABLE domains ADD COLUMN watch TEXT NOT NULL DEFAULT 'both'
    CHECK (watch IN ('registration', 'tls', 'both'));

-- When an endpoint first completed a handshake (NULL: never), so a target
-- that never answered TLS is told to staff, not mailed to the client.
ALTER TABLE endpoints ADD COLUMN first_handshake_at TEXT;
UPDATE endpoints SET first_handshake_at = (
    SELECT MIN(o.first_seen_at) FROM cert_observations o
    WHERE o.endpoint_id = endpoints.id AND o.leaf_fingerprint IS NOT NULL);

-- The TLS mode is stored as chosen: `auto` becomes what the port implied.
UPDATE endpoints SET tls_mode = CASE port
    WHEN 25 THEN 'smtp' WHEN 587 THEN 'smtp' WHEN 143 THEN 'imap' WHEN 110 THEN 'pop3'
    ELSE 'direct' END
WHERE tls_mode = 'auto';

-- List totals are cached per generation: the new columns filter lists too.
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
