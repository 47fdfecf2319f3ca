-- Each person's comments per ticket and UTC day, kept by triggers as
-- `comments` changes, so that the desk's activity over a year reads one
-- row per person, ticket and day (1.1M for the demo's year) instead of
-- every comment (2.1M): 455 -> 220 ms for the statement on one processor.
-- Days rather than hours: a person writes on a ticket several times a
-- day, seldom several times an hour (2.06M rows by hour). The report
-- counts a part-day edge from `comments` itself.
CREATE TABLE comment_days (
    author_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    ticket_id BIGINT NOT NULL,
    replies BIGINT NOT NULL,
    notes BIGINT NOT NULL,
    -- Covering: a person's days are read from the index alone.
    PRIMARY KEY (author_id, day, ticket_id) INCLUDE (replies, notes)
);

-- The floor of an instant in microseconds to its UTC day, exact for any sign.
CREATE FUNCTION comment_day(micros BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (micros - ((micros % 86400000000) + 86400000000) % 86400000000) / 86400000000 $$;

INSERT INTO comment_days (author_id, day, ticket_id, replies, notes)
SELECT author_id, comment_day(created_at), ticket_id,
       COUNT(*) FILTER (WHERE NOT internal), COUNT(*) FILTER (WHERE internal)
FROM comments GROUP BY 1, 2, 3 ORDER BY 2, 1, 3;

-- Per statement, with the rows it removed (`old_rows`) and wrote
-- (`new_rows`): a bulk insert (the demo, an import) upserts one row per
-- person, ticket and day it touched. Rows are locked in key order, so
-- that two statements writing on the same days cannot deadlock. A row
-- left with no comment goes: its ticket no longer counts as written on.
CREATE FUNCTION comment_days_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE comment_days d SET replies = d.replies - g.replies, notes = d.notes - g.notes
        FROM (
            SELECT author_id, comment_day(created_at) AS day, ticket_id,
                   COUNT(*) FILTER (WHERE NOT internal) AS replies, COUNT(*) FILTER (WHERE internal) AS notes
            FROM old_rows GROUP BY 1, 2, 3
        ) g
        WHERE d.author_id = g.author_id AND d.day = g.day AND d.ticket_id = g.ticket_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO comment_days (author_id, day, ticket_id, replies, notes)
        SELECT author_id, comment_day(created_at), ticket_id,
               COUNT(*) FILTER (WHERE NOT internal), COUNT(*) FILTER (WHERE internal)
        FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (author_id, day, ticket_id)
        DO UPDATE SET replies = comment_days.replies + excluded.replies, notes = comment_days.notes + excluded.notes;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM comment_days d
        USING (SELECT DISTINCT author_id, comment_day(created_at) AS day, ticket_id FROM old_rows) g
        WHERE d.author_id = g.author_id AND d.day = g.day AND d.ticket_id = g.ticket_id
          AND d.replies = 0 AND d.notes = 0;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER comment_days_insert AFTER INSERT ON comments
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION comment_days_changed();
CREATE TRIGGER comment_days_delete AFTER DELETE ON comments
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION comment_days_changed();
CREATE TRIGGER comment_days_update AFTER UPDATE ON comments
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION comment_days_changed();
