-- Major incidents: one outage many schools report at once.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    service TEXT NOT NULL,
    public_message TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    declared_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    resolution_message TEXT
);
CREATE INDEX incidents_open_idx ON incidents (resolved_at);

-- A ticket is part of at most one incident.
ALTER TABLE tickets ADD COLUMN incident_id BIGINT REFERENCES incidents (id);
CREATE INDEX tickets_incident_idx ON tickets (incident_id);

-- Links between tickets, stored once from the ticket that says it
-- ('SUP-2 duplicate_of SUP-1'); both tickets show them.
CREATE TABLE ticket_links (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CONSTRAINT ticket_links_kind_check CHECK (kind IN ('duplicate_of', 'relates_to', 'blocks')),
    other_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, kind, other_id)
);
CREATE INDEX ticket_links_other_idx ON ticket_links (other_id);

-- The end user who wrote through an establishment's HELP page: no account,
-- only what they left to be answered.
CREATE TABLE ticket_contacts (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    email TEXT,
    profile TEXT NOT NULL,
    language TEXT NOT NULL
);

-- A merge moves replies and files to another ticket: their search documents follow.
CREATE TRIGGER search_comment_move AFTER UPDATE OF ticket_id ON comments BEGIN
    UPDATE search_index SET ticket_id = new.ticket_id WHERE rowid = new.id * 4 + 1;
END;
CREATE TRIGGER search_attachment_move AFTER UPDATE OF ticket_id ON attachments BEGIN
    UPDATE search_index SET ticket_id = new.ticket_id WHERE rowid = new.id * 4 + 2;
END;
