-- Full-text search over what people wrote: ticket titles and descriptions,
-- replies and internal notes, attachment file names. FTS5's unicode61
-- tokenizer folds case and accents ("evenement" finds "événement").
-- Documents are numbered after their source so that triggers, in the
-- transaction of each write, keep the index exact: ticket id × 4,
-- comment id × 4 + 1, attachment id × 4 + 2.
CREATE VIRTUAL TABLE search_index USING fts5(
    body,
    ticket_id UNINDEXED,
    internal UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_ticket_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO search_index (rowid, body, ticket_id, internal)
    VALUES (new.id * 4, new.title || char(10) || new.description, new.id, 0);
END;
CREATE TRIGGER search_ticket_update AFTER UPDATE OF title, description ON tickets
WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4;
    INSERT INTO search_index (rowid, body, ticket_id, internal)
    VALUES (new.id * 4, new.title || char(10) || new.description, new.id, 0);
END;
CREATE TRIGGER search_ticket_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4;
END;
CREATE TRIGGER search_comment_insert AFTER INSERT ON comments BEGIN
    INSERT INTO search_index (rowid, body, ticket_id, internal) VALUES (new.id * 4 + 1, new.body, new.ticket_id, new.internal);
END;
CREATE TRIGGER search_comment_delete AFTER DELETE ON comments BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 1;
END;
CREATE TRIGGER search_attachment_insert AFTER INSERT ON attachments BEGIN
    INSERT INTO search_index (rowid, body, ticket_id, internal) VALUES (new.id * 4 + 2, new.filename, new.ticket_id, new.internal);
END;
CREATE TRIGGER search_attachment_delete AFTER DELETE ON attachments BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 2;
END;

INSERT INTO search_index (rowid, body, ticket_id, internal) SELECT id * 4, title || char(10) || description, id, 0 FROM tickets;
INSERT INTO search_index (rowid, body, ticket_id, internal) SELECT id * 4 + 1, body, ticket_id, internal FROM comments;
INSERT INTO search_index (rowid, body, ticket_id, internal) SELECT id * 4 + 2, filename, ticket_id, internal FROM attachments;
