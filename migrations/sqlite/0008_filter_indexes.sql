-- Indexes for the desk's built-in filters at national scale: an equality
-- prefix, "still open" (resolved_at IS NULL, which SQLite treats as an
-- equality), then the sort column, so that a page and its count read the
-- index only. PostgreSQL uses partial indexes instead (see its migration):
-- each planner is given the shape it uses.
DROP INDEX tickets_sla_idx;
CREATE INDEX tickets_sla_open_idx ON tickets (sla_state, resolved_at, resolution_due);
CREATE INDEX tickets_resolved_idx ON tickets (resolved_at);
CREATE INDEX tickets_assignee_open_idx ON tickets (assignee_id, resolved_at, updated_at);
CREATE INDEX tickets_unassigned_idx ON tickets (assignee_id, resolved_at, created_at);
CREATE INDEX tickets_tier_open_idx ON tickets (tier, resolved_at, updated_at);
CREATE INDEX tickets_open_updated_idx ON tickets (resolved_at, updated_at);
