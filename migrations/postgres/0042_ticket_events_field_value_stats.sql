-- The escalations report starts from the tier changes to the technical
-- tier (`field = 'tier' AND new_value = 'technical'`). Without statistics
-- on the two columns together PostgreSQL takes them for independent and
-- expects a hundredth of the rows (688 of the demo's 65,939 over a year):
-- it then probed each escalated ticket alone, on one processor (385 ms at
-- 1,000,000 tickets). Knowing the pairs of values, it hashes the period's
-- escalations and reads them on three processes (155 ms). The resolutions
-- of the activity report (`field = 'status' AND new_value IN (…)`) are
-- estimated from the same statistics. ANALYZE (and autovacuum's) keeps them.
CREATE STATISTICS ticket_events_field_value_stats (mcv) ON field, new_value FROM ticket_events;
ANALYZE ticket_events;
