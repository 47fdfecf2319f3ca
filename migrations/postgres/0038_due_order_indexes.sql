-- SQLite's indexes by due date (an agent's open tickets, a service-level
-- state): PostgreSQL has its own since 0033 (`tickets_open_due_pg_idx`,
-- `tickets_sla_due_pg_idx`). The version number stays the same on both.
SELECT 1;
