-- A school's open tickets by last update, the most common ad-hoc query
-- (`establishment = X AND resolved IS EMPTY ORDER BY updated DESC`): both
-- conditions and the order from one index, instead of walking every open
-- ticket of every school (guichet bench queries, docs/performance.md).
CREATE INDEX tickets_establishment_open_idx ON tickets (establishment_id, resolved_at, updated_at);
