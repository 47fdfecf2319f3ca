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
