-- Why the last registration lookup learned nothing (every source failed):
-- one line per source, so lists say "lookup failed: ..." with the reason,
-- never "not checked yet". NULL after a lookup that a source answered.
ALTER TABLE domains ADD COLUMN registration_failure TEXT;
