-- lapse: PostgreSQL's 0403 keeps half of each page of `cert_observations`
-- and `endpoints` free for the next version of their rows. SQLite writes a
-- row in place: nothing changes here. The two engines keep the same
-- migration numbers (`lapse copy` compares them).
SELECT 1;
