-- Client mail (issue 14 items 4 and 5). Append-only (see migrations/README.md).
--
-- The Reply-To of an outbox email: client mail carries `agency.reply_to`,
-- staff mail none. Stored with the rendered message, so a retry sends the
-- same headers even after the configuration changed.
ALTER TABLE outbox ADD COLUMN reply_to TEXT;
