-- Two lists by due date that SQLite sorted (1,000,000 tickets):
-- an agent's open tickets (`assignee = X AND resolved IS EMPTY ORDER BY due`,
-- 65 ms for an agent with 27,000 open tickets: each one's due date read
-- from the table, then sorted) and a service-level state over every ticket
-- (`sla = "en retard" ORDER BY due`, 78 ms: 750,000 entries sorted).
-- With the sort column after the equality, the page reads 25 entries and
-- the capped count at most 10,001.
-- PostgreSQL has its own for the second (`tickets_sla_due_pg_idx`, 0033)
-- and serves the first from `tickets_open_due_pg_idx`: SQLite's alone.
CREATE INDEX tickets_assignee_due_sqlite_idx ON tickets (assignee_id, resolution_due) WHERE resolved_at IS NULL;
CREATE INDEX tickets_sla_due_sqlite_idx ON tickets (sla_state, resolution_due);
ANALYZE tickets;
