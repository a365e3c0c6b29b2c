-- lapse: the list generation moves on a change of a registration's
-- outcome or capability only when a list could see it (see the SQLite
-- migration of the same number). The other columns are as in 0306.
DROP TRIGGER api_generation_domain_update ON domains;

CREATE TRIGGER api_generation_domain_update
AFTER UPDATE OF name, client_id, expires_at, registration_outcome, cert_not_after, cert_outcome
ON domains
FOR EACH ROW
WHEN (OLD.name IS DISTINCT FROM NEW.name
  OR OLD.client_id IS DISTINCT FROM NEW.client_id
  OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
  OR (NOT (OLD.registration_outcome IS DISTINCT FROM 'not_found'))
     IS DISTINCT FROM (NOT (NEW.registration_outcome IS DISTINCT FROM 'not_found'))
  OR (NOT (OLD.registration_outcome IS DISTINCT FROM 'not_published'))
     IS DISTINCT FROM (NOT (NEW.registration_outcome IS DISTINCT FROM 'not_published'))
  OR OLD.cert_not_after IS DISTINCT FROM NEW.cert_not_after
  OR OLD.cert_outcome IS DISTINCT FROM NEW.cert_outcome)
EXECUTE FUNCTION api_generation_bump();

DROP TRIGGER api_generation_domain_model_update ON domains;

CREATE TRIGGER api_generation_domain_model_update
AFTER UPDATE OF watch, registration_owner, registration_capability, manual_expires_at ON domains
FOR EACH ROW
WHEN (OLD.watch IS DISTINCT FROM NEW.watch
  OR OLD.registration_owner IS DISTINCT FROM NEW.registration_owner
  OR (NOT (OLD.registration_capability IS DISTINCT FROM 'nothing_published'))
     IS DISTINCT FROM (NOT (NEW.registration_capability IS DISTINCT FROM 'nothing_published'))
  OR OLD.manual_expires_at IS DISTINCT FROM NEW.manual_expires_at)
EXECUTE FUNCTION api_generation_bump();
