-- Ad-hoc queries over the open tickets: the partial index of the open
-- tickets by last update also carries every field the query language
-- filters on, so that a query on open tickets by priority, type, category…
-- reads its page and its count from the index alone (an index-only scan,
-- while the visibility map is current) instead of the heap pages of every
-- open ticket. SQLite has the same index with the fields as key columns.
DROP INDEX tickets_open_updated_idx;
CREATE INDEX tickets_open_updated_idx ON tickets (updated_at)
    INCLUDE (priority, ticket_type, status, category_id, channel, tier, establishment_id,
             assignee_id, requester_id, sla_state, resolution_due, created_at)
    WHERE resolved_at IS NULL;
-- A status in order of arrival (`statut = nouveau ORDER BY created`): the
-- status index by last update had to sort every match. With the priority
-- beside it, a count by status and priority reads the index alone.
CREATE INDEX tickets_status_created_idx ON tickets (status, created_at, priority);
-- ORDER BY priority sorts by rank, not by code ("critical" before "high"):
-- the same expression as the query compiler's, so that a page by priority
-- then last update (or then arrival) reads an index in order (PostgreSQL
-- sorts within each rank incrementally) instead of sorting every match.
CREATE INDEX tickets_priority_updated_idx ON tickets (
    (CASE priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'normal' THEN 2 ELSE 1 END), updated_at
);
CREATE INDEX tickets_priority_created_idx ON tickets (
    (CASE priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'normal' THEN 2 ELSE 1 END) DESC, created_at
);
ANALYZE tickets;
