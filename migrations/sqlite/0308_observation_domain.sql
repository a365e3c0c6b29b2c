-- A domain's certificate columns (earliest leaf not-after, worst outcome)
-- are recomputed after every batch of checks. Walking the domain's
-- endpoints for that costs as much as the domain is large: a platform's
-- 100,000 customer names under one registrable domain made each batch of a
-- scan read all of them. Each observation now carries its endpoint's domain
-- (an endpoint never moves to another domain), and two partial indexes over
-- the current observations answer "earliest not-after" and "is any current
-- observation critical / unknown / warning / ok" for a domain by a seek.
ALTER TABLE cert_observations ADD COLUMN domain_id INTEGER;

UPDATE cert_observations SET domain_id =
    (SELECT e.domain_id FROM endpoints e WHERE e.id = cert_observations.endpoint_id);

CREATE INDEX cert_observations_domain_not_after
    ON cert_observations (domain_id, leaf_not_after) WHERE current = 1;
CREATE INDEX cert_observations_domain_outcome
    ON cert_observations (domain_id, outcome) WHERE current = 1;
