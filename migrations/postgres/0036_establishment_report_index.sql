-- Tickets by establishment over a period (the reports' breakdown): the
-- schools' index carries the arrival, so a school's period is read from
-- the index alone (the same change on SQLite spares a sort of the period).
DROP INDEX tickets_establishment_updated_idx;
CREATE INDEX tickets_establishment_updated_idx ON tickets (establishment_id, updated_at) INCLUDE (created_at);
ANALYZE tickets;
