-- The periodic job looks at a ticket only when its clocks can change by
-- themselves (turning at risk, then late), not at every open ticket every
-- minute: at a national scale that held the writer most of the time.
ALTER TABLE tickets ADD COLUMN sla_next_check_at BIGINT;
CREATE INDEX tickets_sla_next_check_idx ON tickets (sla_next_check_at) WHERE sla_next_check_at IS NOT NULL;
-- Running clocks are looked at once, at the next pass, which sets the instant.
UPDATE tickets SET sla_next_check_at = 0 WHERE sla_state IN ('ok', 'at_risk') OR (sla_state IS NULL AND resolved_at IS NULL);
-- Its replacement: the last check is kept for the record, never searched.
DROP INDEX tickets_sla_checked_idx;
