-- A period with a code (`channel = email AND created > -7d`, `created >=
-- startOfWeek() AND tier = support`): the index by arrival carries the
-- codes a desk filters a period by, so that the period's tickets are
-- checked (and counted) in the index instead of one by one in the table.
DROP INDEX tickets_created_idx;
CREATE INDEX tickets_created_idx ON tickets (created_at, channel, tier, status, priority, ticket_type);
ANALYZE tickets_created_idx;
