-- Tickets created and resolved per hour (UTC), kept by triggers as
-- `tickets` changes, so that the created-vs-resolved report and its backlog
-- read a few thousand rows instead of counting every ticket of the period
-- (330,000 a month at the demo's density). Hours rather than days: a local
-- day, week or month starts on a whole UTC hour in any whole-hour time
-- zone, and the report counts a part-hour edge from `tickets` itself.
--
-- SQLite has one writer at a time, so each hour is one row updated in
-- place. `created` counts rows by `created_at`, `resolved` by their
-- current `resolved_at` (the last resolution): a reopening takes its hour
-- back. The hour is the floor of the instant in microseconds, exact for
-- any sign.
CREATE TABLE ticket_hour_counts (
    hour INTEGER PRIMARY KEY,
    created INTEGER NOT NULL,
    resolved INTEGER NOT NULL
);

INSERT INTO ticket_hour_counts (hour, created, resolved)
SELECT hour, SUM(created), SUM(resolved) FROM (
    SELECT (created_at - ((created_at % 3600000000) + 3600000000) % 3600000000) / 3600000000 AS hour,
           1 AS created, 0 AS resolved
    FROM tickets
    UNION ALL
    SELECT (resolved_at - ((resolved_at % 3600000000) + 3600000000) % 3600000000) / 3600000000, 0, 1
    FROM tickets WHERE resolved_at IS NOT NULL
) GROUP BY hour;

-- A difference to count, as (instant, created, resolved): the hour it falls
-- in and the upsert are written once, here, for the three triggers below
-- (a trigger's body cannot be shared otherwise). No instant, no change.
CREATE VIEW ticket_hour_changes AS SELECT 0 AS at, 0 AS created, 0 AS resolved WHERE 0;

CREATE TRIGGER ticket_hour_changes_count INSTEAD OF INSERT ON ticket_hour_changes
WHEN NEW.at IS NOT NULL
BEGIN
    INSERT INTO ticket_hour_counts (hour, created, resolved)
    VALUES ((NEW.at - ((NEW.at % 3600000000) + 3600000000) % 3600000000) / 3600000000, NEW.created, NEW.resolved)
    ON CONFLICT (hour) DO UPDATE SET created = created + excluded.created, resolved = resolved + excluded.resolved;
END;

CREATE TRIGGER tickets_hour_counts_insert AFTER INSERT ON tickets
BEGIN
    INSERT INTO ticket_hour_changes VALUES (NEW.created_at, 1, 0), (NEW.resolved_at, 0, 1);
END;

CREATE TRIGGER tickets_hour_counts_update AFTER UPDATE OF created_at, resolved_at ON tickets
WHEN OLD.created_at IS NOT NEW.created_at OR OLD.resolved_at IS NOT NEW.resolved_at
BEGIN
    INSERT INTO ticket_hour_changes
    VALUES (OLD.created_at, -1, 0), (OLD.resolved_at, 0, -1), (NEW.created_at, 1, 0), (NEW.resolved_at, 0, 1);
END;

CREATE TRIGGER tickets_hour_counts_delete AFTER DELETE ON tickets
BEGIN
    INSERT INTO ticket_hour_changes VALUES (OLD.created_at, -1, 0), (OLD.resolved_at, 0, -1);
END;
