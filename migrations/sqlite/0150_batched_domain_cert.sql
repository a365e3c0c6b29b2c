-- Scan engine: the domain's certificate columns (cert_not_after,
-- cert_outcome; see 0100_api.sql) are recomputed once per recorded batch
-- instead of once per observation row.
--
-- The per-row triggers on cert_observations ran two subqueries and rewrote
-- the domain row (and its expiry indexes) for every inserted or retired
-- row: most of the cost of recording a first scan. Every write of
-- cert_observations now goes through one function
-- (`store::observations::record_batch_in`), which recomputes the columns of
-- the batch's domains in one statement at the end of the batch, in the same
-- transaction. The trigger on endpoint deletion stays: deletions have many
-- writers and are rare.
DROP TRIGGER IF EXISTS domains_cert_after_observation_insert;
DROP TRIGGER IF EXISTS domains_cert_after_observation_update;
