-- Indexes for the desk's built-in filters at national scale. Partial indexes
-- on the tickets still open (resolved_at IS NULL): an equality prefix then
-- the sort column, so that a page reads in order and its count stays small.
-- PostgreSQL does not treat IS NULL as an equality when ordering by a later
-- column, hence the condition in the index rather than a leading column
-- (SQLite, which does, keeps the leading column: see its migration).
DROP INDEX tickets_sla_idx;
CREATE INDEX tickets_sla_open_idx ON tickets (sla_state, resolution_due) WHERE resolved_at IS NULL;
CREATE INDEX tickets_resolved_idx ON tickets (resolved_at);
CREATE INDEX tickets_assignee_open_idx ON tickets (assignee_id, updated_at) WHERE resolved_at IS NULL;
CREATE INDEX tickets_unassigned_idx ON tickets (assignee_id, created_at) WHERE resolved_at IS NULL;
CREATE INDEX tickets_tier_open_idx ON tickets (tier, updated_at) WHERE resolved_at IS NULL;
CREATE INDEX tickets_open_updated_idx ON tickets (updated_at) WHERE resolved_at IS NULL;
