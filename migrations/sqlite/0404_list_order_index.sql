-- lapse: PostgreSQL's 0404 adds the id to the expiry indexes, so that they
-- are in the domain list's order (the expiry key, then the id). SQLite's
-- indexes end with the rowid, which is the id: they were in that order
-- already. The same definitions are written here so that both schemas stay
-- alike (`schema_parity`); the plans do not change.
DROP INDEX domains_by_expiry;
CREATE INDEX domains_by_expiry
    ON domains (COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'), id);
DROP INDEX domains_client_by_expiry;
CREATE INDEX domains_client_by_expiry
    ON domains (client_id, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'), id);
DROP INDEX domains_registration_outcome_by_expiry;
CREATE INDEX domains_registration_outcome_by_expiry
    ON domains (registration_outcome, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'), id);
DROP INDEX domains_cert_outcome_by_expiry;
CREATE INDEX domains_cert_outcome_by_expiry
    ON domains (cert_outcome, COALESCE(next_expiry_at, '9999-12-31T23:59:59Z'), id);
