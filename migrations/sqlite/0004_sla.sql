-- Service-level clocks, recomputed on every relevant change and by a periodic job.
ALTER TABLE tickets ADD COLUMN first_response_due BIGINT;
ALTER TABLE tickets ADD COLUMN resolution_due BIGINT;
ALTER TABLE tickets ADD COLUMN sla_state TEXT;
ALTER TABLE tickets ADD COLUMN sla_checked_at BIGINT;
CREATE INDEX tickets_sla_idx ON tickets (sla_state, resolution_due);
CREATE INDEX tickets_sla_checked_idx ON tickets (sla_checked_at);
