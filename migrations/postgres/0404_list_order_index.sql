-- lapse: the domain list is ordered by the expiry key and then the id, and
-- its cursor seeks to (key, id). The expiry indexes held the key alone, so
-- PostgreSQL read every domain sharing the page's last key (a fleet renewed
-- on one day shares one) and sorted them by id before it could stop: 541
-- rows read for a page of 100 in the benchmark. With the id in the index,
-- the index is in the list's order, the cursor is an index condition and a
-- page reads its 101 rows. (SQLite's indexes end with the rowid, which is
-- the id, so they were already in this order; its 0404 writes the same
-- definitions so that both schemas stay alike.)
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
