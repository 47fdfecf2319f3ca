-- A list by due date is ordered by due date, then by number. Deadlines
-- fall on the service calendar's hours, so tickets share them: in the
-- demo's 1,000,000 tickets, 188,172 overdue tickets are due at the same
-- instant. Without the number in the index, PostgreSQL read and sorted all
-- the tickets of the first due date for a page of 25 (`sla = "en retard"
-- ORDER BY due`: 49,000 rows, 105-118 ms). With it, the index gives the
-- page's order. SQLite's indexes end with the row's number already.
DROP INDEX tickets_sla_due_pg_idx;
CREATE INDEX tickets_sla_due_pg_idx ON tickets (sla_state, resolution_due, id);
DROP INDEX tickets_open_due_pg_idx;
CREATE INDEX tickets_open_due_pg_idx ON tickets (resolution_due, id) WHERE resolved_at IS NULL;
