-- lapse: the list generation (0101, 0300) moves on a change of a
-- registration's outcome or capability only when a list could see it: the
-- lists read the outcome only as `not_found` and `not_published`, the
-- capability only as `nothing_published` (the statuses `not_found` and
-- `needs_date`). A lookup that fails (outcome `found` to `failed`,
-- capability unknown) and later succeeds again, common in a large fleet
-- when a registry is unreachable for a while, no longer makes every kept
-- total be counted again. The other columns are as in 0302.
DROP TRIGGER api_generation_domain_update;

CREATE TRIGGER api_generation_domain_update
AFTER UPDATE OF name, client_id, expires_at, registration_outcome, cert_not_after, cert_outcome
ON domains
WHEN OLD.name IS NOT NEW.name
  OR OLD.client_id IS NOT NEW.client_id
  OR OLD.expires_at IS NOT NEW.expires_at
  OR (NOT (OLD.registration_outcome IS NOT 'not_found')) IS NOT (NOT (NEW.registration_outcome IS NOT 'not_found'))
  OR (NOT (OLD.registration_outcome IS NOT 'not_published')) IS NOT (NOT (NEW.registration_outcome IS NOT 'not_published'))
  OR OLD.cert_not_after IS NOT NEW.cert_not_after
  OR OLD.cert_outcome IS NOT NEW.cert_outcome
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;

DROP TRIGGER api_generation_domain_model_update;

CREATE TRIGGER api_generation_domain_model_update
AFTER UPDATE OF watch, registration_owner, registration_capability, manual_expires_at ON domains
WHEN OLD.watch IS NOT NEW.watch
  OR OLD.registration_owner IS NOT NEW.registration_owner
  OR (NOT (OLD.registration_capability IS NOT 'nothing_published'))
     IS NOT (NOT (NEW.registration_capability IS NOT 'nothing_published'))
  OR OLD.manual_expires_at IS NOT NEW.manual_expires_at
BEGIN
    UPDATE api_generation SET domains = domains + 1 WHERE id = 1;
END;
