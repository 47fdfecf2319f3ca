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

CREATE TRIGGER tickets_hour_counts_insert AFTER INSERT ON tickets
BEGIN
    INSERT INTO ticket_hour_counts (hour, created, resolved)
    SELECT (NEW.created_at - ((NEW.created_at % 3600000000) + 3600000000) % 3600000000) / 3600000000, 1, 0
    WHERE true
    ON CONFLICT (hour) DO UPDATE SET created = created + 1;
    INSERT INTO ticket_hour_counts (hour, created, resolved)
    SELECT (NEW.resolved_at - ((NEW.resolved_at % 3600000000) + 3600000000) % 3600000000) / 3600000000, 0, 1
    WHERE NEW.resolved_at IS NOT NULL
    ON CONFLICT (hour) DO UPDATE SET resolved = resolved + 1;
END;

CREATE TRIGGER tickets_hour_counts_update AFTER UPDATE OF created_at, resolved_at ON tickets
WHEN OLD.created_at IS NOT NEW.created_at OR OLD.resolved_at IS NOT NEW.resolved_at
BEGIN
    UPDATE ticket_hour_counts SET created = created - 1
    WHERE hour = (OLD.created_at - ((OLD.created_at % 3600000000) + 3600000000) % 3600000000) / 3600000000;
    UPDATE ticket_hour_counts SET resolved = resolved - 1
    WHERE OLD.resolved_at IS NOT NULL
      AND hour = (OLD.resolved_at - ((OLD.resolved_at % 3600000000) + 3600000000) % 3600000000) / 3600000000;
    INSERT INTO ticket_hour_counts (hour, created, resolved)
    SELECT (NEW.created_at - ((NEW.created_at % 3600000000) + 3600000000) % 3600000000) / 3600000000, 1, 0
    WHERE true
    ON CONFLICT (hour) DO UPDATE SET created = created + 1;
    INSERT INTO ticket_hour_counts (hour, created, resolved)
    SELECT (NEW.resolved_at - ((NEW.resolved_at % 3600000000) + 3600000000) % 3600000000) / 3600000000, 0, 1
    WHERE NEW.resolved_at IS NOT NULL
    ON CONFLICT (hour) DO UPDATE SET resolved = resolved + 1;
END;

CREATE TRIGGER tickets_hour_counts_delete AFTER DELETE ON tickets
BEGIN
    UPDATE ticket_hour_counts SET created = created - 1
    WHERE hour = (OLD.created_at - ((OLD.created_at % 3600000000) + 3600000000) % 3600000000) / 3600000000;
    UPDATE ticket_hour_counts SET resolved = resolved - 1
    WHERE OLD.resolved_at IS NOT NULL
      AND hour = (OLD.resolved_at - ((OLD.resolved_at % 3600000000) + 3600000000) % 3600000000) / 3600000000;
END;
