-- A period with a code (`channel = email AND created > -7d`, `created >=
-- startOfWeek() AND tier = support`): the index by arrival carries the
-- codes a desk filters a period by, so that the period's tickets are
-- checked (and counted) in the index instead of in the heap.
DROP INDEX tickets_created_idx;
CREATE INDEX tickets_created_idx ON tickets (created_at) INCLUDE (channel, tier, status, priority, ticket_type);
-- Indexes for PostgreSQL's planner alone (`…_pg_idx`; SQLite's indexes that
-- lead with `resolved_at` or `sla_state` give it these orders already):
-- open tickets by due date (`due < now() AND resolved IS EMPTY ORDER BY
-- due`, an agent's open tickets by due date), and a service-level state by
-- due date over every ticket (`sla = "en retard" ORDER BY due`), which the
-- partial index of open tickets (0008) cannot serve.
CREATE INDEX tickets_open_due_pg_idx ON tickets (resolution_due) WHERE resolved_at IS NULL;
CREATE INDEX tickets_sla_due_pg_idx ON tickets (sla_state, resolution_due);
ANALYZE tickets;
