-- lapse: every check writes a new version of its endpoint's row and of its
-- current observations (PostgreSQL never updates a row in place). With full
-- pages each new version went to another page, with a new entry in every
-- index: an unchanged rescan of 100,000 endpoints added about 1,200 bytes
-- per endpoint until vacuum. Half of each page is now kept free, so the new
-- version of an observation (no indexed column changes) stays on its page
-- as a heap-only tuple, and the page's older versions are pruned when it is
-- next visited: rescans reuse the space instead of adding to it. An
-- endpoint's new version stays on its page too (its `next_check_at` is
-- indexed, so its index entries are still new). Pages written before this
-- migration keep their fill until they are rewritten.
ALTER TABLE cert_observations SET (fillfactor = 50);
ALTER TABLE endpoints SET (fillfactor = 50);
