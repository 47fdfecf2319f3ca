-- Satisfaction: one survey per resolved ticket, answered without signing in
-- through a single-use link (stored as a SHA-256 hash; the reminder carries
-- a second link), once.
CREATE TABLE satisfaction_surveys (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    requester_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    token_hash TEXT NOT NULL CONSTRAINT satisfaction_surveys_token_key UNIQUE,
    reminder_hash TEXT CONSTRAINT satisfaction_surveys_reminder_key UNIQUE,
    sent_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reminded_at BIGINT,
    rating BIGINT CONSTRAINT satisfaction_surveys_rating_check CHECK (rating BETWEEN 1 AND 5),
    comment TEXT,
    answered_at BIGINT
);
CREATE INDEX satisfaction_surveys_pending_idx ON satisfaction_surveys (sent_at) WHERE answered_at IS NULL AND reminded_at IS NULL;
CREATE INDEX satisfaction_surveys_answered_idx ON satisfaction_surveys (answered_at);
