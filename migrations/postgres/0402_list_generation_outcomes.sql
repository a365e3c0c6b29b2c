-- lapse: the list generation moves on a registration outcome change only
-- when a list could see it: the lists read the outcome only as
-- `not_found` and `not_published` (the statuses `not_found` and
-- `needs_date`), so a lookup that goes from `found` to `failed` or
-- `rate_limited` and back (the registry unreachable for a while, common
-- in a large fleet) no longer makes every kept total be counted again.
-- The other columns are as in 0306.
DROP TRIGGER api_generation_domain_update ON domains;

CREATE TRIGGER api_generation_domain_update
AFTER UPDATE OF name, client_id, expires_at, registration_outcome, cert_not_after, cert_outcome
ON domains
FOR EACH ROW
WHEN (OLD.name IS DISTINCT FROM NEW.name
  OR OLD.client_id IS DISTINCT FROM NEW.client_id
  OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
  OR (OLD.registration_outcome IS NOT DISTINCT FROM 'not_found')
     IS DISTINCT FROM (NEW.registration_outcome IS NOT DISTINCT FROM 'not_found')
  OR (OLD.registration_outcome IS NOT DISTINCT FROM 'not_published')
     IS DISTINCT FROM (NEW.registration_outcome IS NOT DISTINCT FROM 'not_published')
  OR OLD.cert_not_after IS DISTINCT FROM NEW.cert_not_after
  OR OLD.cert_outcome IS DISTINCT FROM NEW.cert_outcome)
EXECUTE FUNCTION api_generation_bump();
