-- The request that queued a mail, so that its sending is logged under the
-- same id as the request (docs/operations.md, "Logs").
ALTER TABLE outbox ADD COLUMN request_id TEXT;
