-- Trusting the e-mail channel.
--
-- The outbox is claimed before sending: a sender (a node, or `guichet mail
-- send` beside `serve`) holds a row until `locked_until`, so that no other
-- sends it meanwhile. `reply_to` is where an answer should go: the desk's
-- internal address for notices to staff.
ALTER TABLE outbox ADD COLUMN locked_by TEXT;
ALTER TABLE outbox ADD COLUMN locked_until BIGINT;
ALTER TABLE outbox ADD COLUMN reply_to TEXT;

-- Each mailbox is read by UID, whatever a person did with its messages:
-- every message up to `last_uid` of the folder's `uid_validity` is handled.
ALTER TABLE mailbox_status ADD COLUMN uid_validity BIGINT;
ALTER TABLE mailbox_status ADD COLUMN last_uid BIGINT;

-- Messages whose import failed, by content: after a few attempts a message
-- goes to the quarantine instead of holding back the ones after it.
CREATE TABLE mail_import_failures (
    sha256 TEXT PRIMARY KEY,
    mailbox TEXT,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL
);
