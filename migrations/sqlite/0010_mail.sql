-- The e-mail channel. Every mail received or sent is recorded by its
-- Message-ID: that is what makes an import happen once (a message seen again
-- after a crash is recognised) and lets a reply's In-Reply-To/References
-- find its ticket. Inbound mail keeps its raw bytes.
CREATE TABLE mail_messages (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL CONSTRAINT mail_messages_message_id_key UNIQUE,
    direction TEXT NOT NULL CONSTRAINT mail_messages_direction_check CHECK (direction IN ('in', 'out')),
    mailbox TEXT,
    -- What the import did: ticket, reply, note (an automatic reply kept as an internal note), refused.
    outcome TEXT NOT NULL,
    ticket_id BIGINT REFERENCES tickets (id) ON DELETE CASCADE,
    comment_id BIGINT REFERENCES comments (id) ON DELETE SET NULL,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    raw BLOB,
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_messages_ticket_idx ON mail_messages (ticket_id);
CREATE INDEX mail_messages_mailbox_idx ON mail_messages (mailbox, created_at);

-- Messages that could not be imported, kept whole with the reason until an
-- administrator has them processed again. Keyed by content so that a message
-- fetched twice is quarantined once.
CREATE TABLE mail_quarantine (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL CONSTRAINT mail_quarantine_sha256_key UNIQUE,
    mailbox TEXT,
    sender TEXT,
    subject TEXT,
    raw BLOB NOT NULL,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    released_at BIGINT,
    ticket_id BIGINT REFERENCES tickets (id) ON DELETE SET NULL
);
CREATE INDEX mail_quarantine_open_idx ON mail_quarantine (mailbox, created_at) WHERE released_at IS NULL;

-- Notifications, written in the transaction of the change that causes them
-- and sent by a worker: a mail server that is down delays mail, never loses it.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT REFERENCES tickets (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    message_id TEXT NOT NULL CONSTRAINT outbox_message_id_key UNIQUE,
    in_reply_to TEXT,
    thread_refs TEXT NOT NULL DEFAULT '',
    -- Sent without a person behind it (acknowledgment, refusal): RFC 3834 says so in a header, and such mail is rate-limited per recipient.
    automatic BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_recipient_idx ON outbox (recipient, created_at);
CREATE INDEX outbox_ticket_idx ON outbox (ticket_id);

-- The health of each configured mailbox, written by its poller.
CREATE TABLE mailbox_status (
    name TEXT PRIMARY KEY,
    last_success_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    failing_since BIGINT,
    alerted_at BIGINT
);
