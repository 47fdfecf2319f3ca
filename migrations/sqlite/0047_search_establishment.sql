-- Each full-text document carries its ticket's establishment as a token of
-- a column of its own (`e` and the establishment's number), so that a
-- school's search asks FTS5 for the words AND the school's token: FTS5
-- walks the word's postings and the school's side by side, skipping
-- through both. Before, every match of the words over the whole base was
-- checked against the school's document numbers (`navigat*` at 1,000,000
-- tickets: 231,173 matches tested to find the 23 of a school of 1,117
-- tickets, 22–27 ms; with the token, 0.7 ms). Queries confine the user's
-- words to `body`, so a word never matches an establishment's token; the
-- number filter stays on every scoped query, so the token speeds the
-- search up and never widens it.
--
-- FTS5 tables take no new column: the index is made again from the
-- documents' sources (2 minutes at 1,000,000 tickets), with its triggers
-- and its vocabulary view.
DROP TRIGGER search_ticket_insert;
DROP TRIGGER search_ticket_update;
DROP TRIGGER search_ticket_delete;
DROP TRIGGER search_comment_insert;
DROP TRIGGER search_comment_update;
DROP TRIGGER search_comment_delete;
DROP TRIGGER search_comment_move;
DROP TRIGGER search_attachment_insert;
DROP TRIGGER search_attachment_update;
DROP TRIGGER search_attachment_delete;
DROP TRIGGER search_attachment_move;
DROP TABLE search_index_words;
DROP TABLE search_index;

CREATE VIRTUAL TABLE search_index USING fts5(
    body,
    establishment,
    ticket_id UNINDEXED,
    internal UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_ticket_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
    VALUES (new.id * 4, new.title || char(10) || new.description, 'e' || new.establishment_id, new.id, 0);
END;
CREATE TRIGGER search_ticket_update AFTER UPDATE OF title, description ON tickets
WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4;
    INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
    VALUES (new.id * 4, new.title || char(10) || new.description, 'e' || new.establishment_id, new.id, 0);
END;
-- A ticket moved to another establishment: its documents follow.
CREATE TRIGGER search_ticket_move AFTER UPDATE OF establishment_id ON tickets
WHEN old.establishment_id IS NOT new.establishment_id BEGIN
    UPDATE search_index SET establishment = 'e' || new.establishment_id
    WHERE rowid = new.id * 4
       OR rowid IN (SELECT id * 4 + 1 FROM comments WHERE ticket_id = new.id)
       OR rowid IN (SELECT id * 4 + 2 FROM attachments WHERE ticket_id = new.id);
END;
CREATE TRIGGER search_ticket_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4;
END;

CREATE TRIGGER search_comment_insert AFTER INSERT ON comments BEGIN
    INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
    SELECT new.id * 4 + 1, new.body, 'e' || establishment_id, new.ticket_id, new.internal
    FROM tickets WHERE id = new.ticket_id;
END;
-- Anonymisation and redaction rewrite comments and file names.
CREATE TRIGGER search_comment_update AFTER UPDATE OF body ON comments
WHEN old.body IS NOT new.body BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 1;
    INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
    SELECT new.id * 4 + 1, new.body, 'e' || establishment_id, new.ticket_id, new.internal
    FROM tickets WHERE id = new.ticket_id;
END;
-- A merge moves replies and files to another ticket, maybe of another establishment.
CREATE TRIGGER search_comment_move AFTER UPDATE OF ticket_id ON comments BEGIN
    UPDATE search_index SET ticket_id = new.ticket_id,
        establishment = (SELECT 'e' || establishment_id FROM tickets WHERE id = new.ticket_id)
    WHERE rowid = new.id * 4 + 1;
END;
CREATE TRIGGER search_comment_delete AFTER DELETE ON comments BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 1;
END;

CREATE TRIGGER search_attachment_insert AFTER INSERT ON attachments BEGIN
    INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
    SELECT new.id * 4 + 2, new.filename, 'e' || establishment_id, new.ticket_id, new.internal
    FROM tickets WHERE id = new.ticket_id;
END;
CREATE TRIGGER search_attachment_update AFTER UPDATE OF filename ON attachments
WHEN old.filename IS NOT new.filename BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 2;
    INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
    SELECT new.id * 4 + 2, new.filename, 'e' || establishment_id, new.ticket_id, new.internal
    FROM tickets WHERE id = new.ticket_id;
END;
CREATE TRIGGER search_attachment_move AFTER UPDATE OF ticket_id ON attachments BEGIN
    UPDATE search_index SET ticket_id = new.ticket_id,
        establishment = (SELECT 'e' || establishment_id FROM tickets WHERE id = new.ticket_id)
    WHERE rowid = new.id * 4 + 2;
END;
CREATE TRIGGER search_attachment_delete AFTER DELETE ON attachments BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 2;
END;

INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
SELECT id * 4, title || char(10) || description, 'e' || establishment_id, id, 0 FROM tickets;
INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
SELECT c.id * 4 + 1, c.body, 'e' || t.establishment_id, c.ticket_id, c.internal
FROM comments c JOIN tickets t ON t.id = c.ticket_id;
INSERT INTO search_index (rowid, body, establishment, ticket_id, internal)
SELECT a.id * 4 + 2, a.filename, 'e' || t.establishment_id, a.ticket_id, a.internal
FROM attachments a JOIN tickets t ON t.id = a.ticket_id;
-- One segment, as the clock job's daily merge leaves it (3 s at 1,000,000 tickets).
INSERT INTO search_index (search_index) VALUES ('optimize');

CREATE VIRTUAL TABLE search_index_words USING fts5vocab(search_index, 'instance');
