-- The reports read a period's tickets: by arrival for the breakdowns (by
-- establishment, by category), by resolution for the service levels and
-- the response and resolution times. The two indexes by date now carry
-- what those reports read (`INCLUDE`), so a period is read from the index
-- alone while the visibility map is current (1,000,000 tickets, a month:
-- by establishment 162 → 62–103 ms, service levels 195 → 90–98 ms;
-- docs/performance.md).
DROP INDEX tickets_created_idx;
CREATE INDEX tickets_created_idx ON tickets (created_at) INCLUDE (channel, tier, status, priority, ticket_type, establishment_id, category_id);
DROP INDEX IF EXISTS tickets_resolved_idx;
CREATE INDEX tickets_resolved_idx ON tickets (resolved_at) INCLUDE (ticket_type, priority, sla_state, created_at, first_response_at);
ANALYZE tickets;
