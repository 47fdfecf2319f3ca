-- Privacy: retention per data kind, anonymisation, redaction, and the audit
-- log of what was forgotten or looked at.

-- When an account was disabled (the ENT rule counts from there) and
-- anonymised. Accounts disabled before this version count from now.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN anonymised_at BIGINT;
UPDATE users SET disabled_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) WHERE disabled;
CREATE INDEX users_disabled_idx ON users (disabled_at) WHERE disabled AND anonymised_at IS NULL;

-- A closed ticket whose people's values were taken out of its text.
ALTER TABLE tickets ADD COLUMN anonymised_at BIGINT;
CREATE INDEX tickets_to_anonymise_idx ON tickets (closed_at) WHERE closed_at IS NOT NULL AND anonymised_at IS NULL;

ALTER TABLE ticket_contacts ADD COLUMN anonymised_at BIGINT;
CREATE INDEX ticket_contacts_identified_idx ON ticket_contacts (ticket_id) WHERE anonymised_at IS NULL;

-- Raw mail and sent bodies are forgotten in age order.
CREATE INDEX mail_messages_raw_idx ON mail_messages (created_at) WHERE raw IS NOT NULL;
CREATE INDEX mail_quarantine_created_idx ON mail_quarantine (created_at);
CREATE INDEX outbox_body_idx ON outbox (created_at) WHERE body_text <> '' AND (sent_at IS NOT NULL OR failed_at IS NOT NULL);
CREATE INDEX user_events_at_idx ON user_events (at);

-- Content an agent masked (a pasted password, a pupil's details): what and
-- where, who and why; the content itself is gone.
CREATE TABLE redactions (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    target TEXT NOT NULL CONSTRAINT redactions_target_check CHECK (target IN ('description', 'comment', 'attachment')),
    target_id BIGINT,
    actor_id BIGINT REFERENCES users (id),
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX redactions_ticket_idx ON redactions (ticket_id);

-- Privacy actions (retention runs, erasures, exports, redactions) and staff
-- access to HELP senders' details. Never holds personal values: ids, keys
-- and counts only.
CREATE TABLE privacy_audit (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX privacy_audit_at_idx ON privacy_audit (at);
CREATE INDEX privacy_audit_seen_idx ON privacy_audit (actor_id, subject, at) WHERE action = 'help_contact_viewed';

-- Anonymisation and redaction rewrite comments and file names: the index follows.
CREATE TRIGGER search_comment_update AFTER UPDATE OF body ON comments
WHEN old.body IS NOT new.body BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 1;
    INSERT INTO search_index (rowid, body, ticket_id, internal) VALUES (new.id * 4 + 1, new.body, new.ticket_id, new.internal);
END;
CREATE TRIGGER search_attachment_update AFTER UPDATE OF filename ON attachments
WHEN old.filename IS NOT new.filename BEGIN
    DELETE FROM search_index WHERE rowid = old.id * 4 + 2;
    INSERT INTO search_index (rowid, body, ticket_id, internal) VALUES (new.id * 4 + 2, new.filename, new.ticket_id, new.internal);
END;
