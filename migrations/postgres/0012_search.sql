-- Full-text search over what people wrote: ticket titles and descriptions,
-- replies and internal notes, attachment file names. The text is folded
-- (lower case, accents removed: "evenement" finds "événement") and split
-- into words without stemming, as SQLite's FTS5 does, so that both backends
-- find the same tickets and a prefix (navigat*) matches whole words; queries
-- are folded the same way. Documents are numbered after their source so
-- that triggers, in the transaction of each write, keep the index exact: ticket id × 4, comment id × 4 + 1,
-- attachment id × 4 + 2.
CREATE TABLE search_docs (
    id BIGINT PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    internal BOOLEAN NOT NULL,
    body TEXT NOT NULL,
    -- Words split on anything but letters and digits, as queries are ("capture.png" is two words).
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(translate(replace(replace(lower(body), 'œ', 'oe'), 'æ', 'ae'),
        'àâäáãåçéèêëíìîïñóòôöõúùûüýÿ', 'aaaaaaceeeeiiiinooooouuuuyy'), '[^a-z0-9]+', ' ', 'g'))) STORED
);
CREATE INDEX search_docs_tsv_idx ON search_docs USING GIN (tsv);
CREATE INDEX search_docs_ticket_idx ON search_docs (ticket_id);

CREATE FUNCTION search_ticket_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_docs (id, ticket_id, internal, body) VALUES (NEW.id * 4, NEW.id, FALSE, NEW.title || E'\n' || NEW.description)
    ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body;
    RETURN NULL;
END $$;
CREATE TRIGGER search_ticket_sync AFTER INSERT OR UPDATE OF title, description ON tickets
    FOR EACH ROW EXECUTE FUNCTION search_ticket_sync();

CREATE FUNCTION search_comment_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM search_docs WHERE id = OLD.id * 4 + 1;
    ELSE
        INSERT INTO search_docs (id, ticket_id, internal, body) VALUES (NEW.id * 4 + 1, NEW.ticket_id, NEW.internal, NEW.body)
        ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, internal = EXCLUDED.internal;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_comment_sync AFTER INSERT OR UPDATE OR DELETE ON comments
    FOR EACH ROW EXECUTE FUNCTION search_comment_sync();

CREATE FUNCTION search_attachment_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM search_docs WHERE id = OLD.id * 4 + 2;
    ELSE
        INSERT INTO search_docs (id, ticket_id, internal, body) VALUES (NEW.id * 4 + 2, NEW.ticket_id, NEW.internal, NEW.filename)
        ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, internal = EXCLUDED.internal;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_attachment_sync AFTER INSERT OR UPDATE OR DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION search_attachment_sync();

INSERT INTO search_docs (id, ticket_id, internal, body) SELECT id * 4, id, FALSE, title || E'\n' || description FROM tickets;
INSERT INTO search_docs (id, ticket_id, internal, body) SELECT id * 4 + 1, ticket_id, internal, body FROM comments;
INSERT INTO search_docs (id, ticket_id, internal, body) SELECT id * 4 + 2, ticket_id, internal, filename FROM attachments;
