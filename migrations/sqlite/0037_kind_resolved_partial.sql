-- `tickets_kind_resolved_idx` (0035) serves the service-level report. Whole,
-- SQLite's planner also took it for ad-hoc queries on a type or a priority
-- (`priority = critical ORDER BY created DESC` 7 → 211 ms at 1,000,000
-- tickets, `type = evolution ORDER BY priority DESC, updated DESC` 9 → 241):
-- partial, it only serves queries about resolved tickets, as the report's.
-- PostgreSQL groups the period without it (`…_sqlite_idx`: SQLite's alone).
DROP INDEX tickets_kind_resolved_idx;
CREATE INDEX tickets_kind_resolved_sqlite_idx ON tickets (ticket_type, priority, resolved_at, sla_state) WHERE resolved_at IS NOT NULL;
ANALYZE tickets;
