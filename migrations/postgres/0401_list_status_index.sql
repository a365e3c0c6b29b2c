-- lapse: indexes for the domain list's rare statuses, so that a page of
-- `status=not_found` or `status=failing` domains (usually few) walks the
-- matching domains in the list's order instead of computing the status of
-- every domain. The other statuses bound a range of `domains_by_expiry`
-- (`expired`, `ok`, `expiring`, `unknown`) or `domains_expires`
-- (`needs_date`); see `status_implies` in src/store/read_models/domains.rs.
CREATE INDEX domains_registration_outcome_by_expiry
    ON domains (registration_outcome, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'));
CREATE INDEX domains_cert_outcome_by_expiry
    ON domains (cert_outcome, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'));
