-- Scan engine: consecutive certificate-check failures per endpoint (for
-- retry backoff), and the order in which a scan walks its items.

ALTER TABLE endpoints ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0;
CREATE INDEX scan_items_pending ON scan_items (scan_id, done_at, item_kind, item_id);
