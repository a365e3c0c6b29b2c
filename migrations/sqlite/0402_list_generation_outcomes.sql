-- lapse: the list generation (0101) moves on a registration outcome change
-- only when a list could see it: the lists read the outcome only as
-- `not_found` and `not_published` (the statuses `not_found` and
-- `needs_date`), so a lookup that goes from `found` to `failed` or
-- `rate_limited` and back (the registry unreachable for a while, common
-- in a large fleet) no longer makes every kept total be counted again.
-- The other columns are as in 0101/0302.
DROP TRIGGER api_generation_domain_update;

CREATE TRIGGER api_generation_domain_update
AFTER UPDATE OF name, client_id, expires_at, registration_outcome, cert_not_after, cert_outcome
ON domains
WHEN OLD.name IS NOT NEW.name
  OR OLD.client_id IS NOT NEW.client_id
  OR OLD.expires_at IS NOT NEW.expires_at
  OR (OLD.registration_outcome IS 'not_found') IS NOT (NEW.registration_outcome IS 'not_found')
  OR (OLD.registration_outcome IS 'not_published') IS NOT (NEW.registration_outcome IS 'not_published')
  OR OLD.cert_not_after IS NOT NEW.cert_not_after
  OR OLD.cert_outcome IS NOT NEW.cert_outcome
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;
