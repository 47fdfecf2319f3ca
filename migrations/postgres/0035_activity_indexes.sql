-- The desk's activity and escalation reports read a period's comments and
-- events. By date alone, each comment or event was then read from the
-- table to learn its author, kind and ticket (0.6 s for a month of the
-- demo's 1,000,000 tickets, 1.3 s for its 90 days). Per author (the desk
-- is a handful of people), a period is one range of an index that carries
-- what the report counts, read in author order so no sort is needed. The
-- same index answers "every ticket this person wrote on" (privacy's export).
DROP INDEX comments_created_idx;
CREATE INDEX comments_author_idx ON comments (author_id, created_at) INCLUDE (internal, ticket_id);
CREATE INDEX ticket_events_actor_idx ON ticket_events (field, actor_id, new_value, at);
-- Escalations: the tickets that reached level 2 in a period, then each
-- one's changes of tier. Partial: tier changes are about 1 % of events.
CREATE INDEX ticket_events_escalated_idx ON ticket_events (at, ticket_id) WHERE field = 'tier' AND new_value = 'technical';
CREATE INDEX ticket_events_tier_idx ON ticket_events (ticket_id, at, id) INCLUDE (new_value) WHERE field = 'tier';
-- The late tickets of a period, newest first (the service-level report's
-- list): from the index by arrival, SQLite's planner sometimes read the
-- period through the schools' index and sorted it (2.4 s over the demo's
-- 90 days); here the first 50 are the index's last 50.
CREATE INDEX tickets_breached_idx ON tickets (created_at) WHERE sla_state = 'breached';
ANALYZE comments;
ANALYZE ticket_events;
ANALYZE tickets;
