-- Level 2 in Jira: the issue a ticket's escalation opens there. The row is
-- written in the escalation's transaction (an outbox: `pending` until the
-- sync job has created the issue) and keeps the issue's key after; Jira's
-- comments already copied as internal notes are remembered, so that a
-- webhook Jira sends twice adds one note.
CREATE TABLE jira_issues (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    issue_key TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT jira_issues_state_check CHECK (state IN ('pending', 'created', 'failed')),
    -- The hand-over summary to send (the issue's description, or a comment
    -- on the issue when the ticket is escalated again).
    summary TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX jira_issues_issue_idx ON jira_issues (issue_key) WHERE issue_key IS NOT NULL;
CREATE INDEX jira_issues_due_idx ON jira_issues (next_attempt_at) WHERE state = 'pending';

CREATE TABLE jira_comments (
    issue_key TEXT NOT NULL,
    comment_id TEXT NOT NULL,
    PRIMARY KEY (issue_key, comment_id)
);
