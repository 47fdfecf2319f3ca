-- Core schema. Timestamps are UTC microseconds since the Unix epoch (BIGINT),
-- the one representation both backends share.

CREATE TABLE establishments (
    id INTEGER PRIMARY KEY,
    uai TEXT NOT NULL CONSTRAINT establishments_uai_key UNIQUE,
    name TEXT NOT NULL,
    town TEXT NOT NULL,
    parent_id BIGINT CONSTRAINT establishments_parent_fkey REFERENCES establishments (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX establishments_parent_idx ON establishments (parent_id);
CREATE INDEX establishments_name_idx ON establishments (name);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CONSTRAINT users_role_check CHECK (role IN ('requester', 'agent', 'technician', 'admin')),
    language TEXT NOT NULL DEFAULT 'fr',
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_name_idx ON users (name);

CREATE TABLE user_phones (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    PRIMARY KEY (user_id, phone)
);
CREATE INDEX user_phones_phone_idx ON user_phones (phone);

CREATE TABLE user_establishments (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    establishment_id BIGINT NOT NULL REFERENCES establishments (id),
    PRIMARY KEY (user_id, establishment_id)
);
CREATE INDEX user_establishments_establishment_idx ON user_establishments (establishment_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL CONSTRAINT api_tokens_hash_key UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL CONSTRAINT categories_code_key UNIQUE,
    label_fr TEXT NOT NULL,
    label_en TEXT NOT NULL,
    position BIGINT NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE workflow_statuses (
    ticket_type TEXT NOT NULL,
    status TEXT NOT NULL,
    category TEXT NOT NULL CONSTRAINT workflow_statuses_category_check CHECK (category IN ('open', 'waiting', 'resolved', 'closed')),
    label_fr TEXT NOT NULL,
    label_en TEXT NOT NULL,
    position BIGINT NOT NULL,
    initial BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (ticket_type, status)
);

CREATE TABLE workflow_transitions (
    ticket_type TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    requester_allowed BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (ticket_type, from_status, to_status),
    FOREIGN KEY (ticket_type, from_status) REFERENCES workflow_statuses (ticket_type, status),
    FOREIGN KEY (ticket_type, to_status) REFERENCES workflow_statuses (ticket_type, status)
);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    ticket_type TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    category_id BIGINT REFERENCES categories (id),
    channel TEXT NOT NULL,
    tier TEXT NOT NULL,
    requester_id BIGINT NOT NULL REFERENCES users (id),
    establishment_id BIGINT NOT NULL REFERENCES establishments (id),
    assignee_id BIGINT REFERENCES users (id),
    repro_service TEXT,
    repro_profile TEXT,
    repro_browser TEXT,
    repro_url TEXT,
    repro_steps TEXT,
    repro_outcome TEXT,
    resolution TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    first_response_at BIGINT,
    resolved_at BIGINT,
    closed_at BIGINT,
    FOREIGN KEY (ticket_type, status) REFERENCES workflow_statuses (ticket_type, status)
);
CREATE INDEX tickets_establishment_updated_idx ON tickets (establishment_id, updated_at);
CREATE INDEX tickets_updated_idx ON tickets (updated_at);
CREATE INDEX tickets_created_idx ON tickets (created_at);
CREATE INDEX tickets_status_idx ON tickets (status, updated_at);
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id, updated_at);
CREATE INDEX tickets_requester_idx ON tickets (requester_id);

CREATE TABLE ticket_watchers (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (ticket_id, user_id)
);

CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_id BIGINT NOT NULL REFERENCES users (id),
    body TEXT NOT NULL,
    internal BOOLEAN NOT NULL,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX comments_ticket_idx ON comments (ticket_id, created_at);

-- Attachment content, addressed by its SHA-256 so that one screenshot sent
-- twice is stored once. Kept in the database so that a ticket and its files
-- commit together and every node of a cluster sees them.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    content BLOB NOT NULL
);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    comment_id BIGINT REFERENCES comments (id),
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    filename TEXT NOT NULL,
    mime TEXT NOT NULL,
    size BIGINT NOT NULL,
    internal BOOLEAN NOT NULL,
    uploaded_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_ticket_idx ON attachments (ticket_id);

CREATE TABLE ticket_events (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    actor_id BIGINT REFERENCES users (id),
    at BIGINT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    internal BOOLEAN NOT NULL
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, at);
