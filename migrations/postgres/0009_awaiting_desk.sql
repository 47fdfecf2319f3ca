-- Whose turn it is, kept on the ticket rather than derived from its comments
-- on every read: true when the last public message is the requester's (or
-- there is none yet), so that "needs our reply" is an index range.
ALTER TABLE tickets ADD COLUMN awaiting_desk BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE tickets SET awaiting_desk = (COALESCE((SELECT c.author_id FROM comments c WHERE c.ticket_id = tickets.id AND NOT c.internal
    ORDER BY c.created_at DESC, c.id DESC LIMIT 1), tickets.requester_id) = tickets.requester_id);
CREATE INDEX tickets_awaiting_idx ON tickets (awaiting_desk, updated_at, status) WHERE resolved_at IS NULL;
