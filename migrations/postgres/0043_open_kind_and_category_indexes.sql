-- Open tickets of a type and priority, or of a category, by last update
-- (`resolved IS EMPTY AND priority = high AND type = anomalie ORDER BY
-- updated DESC`, `category = messagerie AND resolved IS EMPTY …`): PostgreSQL
-- read them from the index of every open ticket by last update, filtering
-- as it went, and counted them the same way: 210,000 open tickets at
-- 1,000,000, 46–50 ms at p50 for each shape. With these, the page reads 25
-- entries and the count the matching ones (5 and 6 ms). A category is given
-- to the planner by number (the query's codes are looked up first), which
-- is what lets it start from the second index. SQLite meets these shapes
-- from its covering index of open tickets, so these are PostgreSQL's alone.
CREATE INDEX tickets_open_kind_pg_idx ON tickets (ticket_type, priority, updated_at) WHERE resolved_at IS NULL;
CREATE INDEX tickets_open_category_pg_idx ON tickets (category_id, updated_at) WHERE resolved_at IS NULL;
