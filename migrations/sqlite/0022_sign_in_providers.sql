-- Signing in with an identity provider (an ENT's CAS server, OpenID Connect).
--
-- Who a provider's person is here: linked at their first sign-in, then
-- found by the provider's stable identifier whatever their address becomes.
CREATE TABLE user_identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

-- A sign-in under way at a provider, found again by its callback: bound to
-- the browser that started it (the SHA-256 of a cookie), used once.
CREATE TABLE sign_in_flows (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    nonce TEXT,
    pkce_verifier TEXT,
    next TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sign_in_flows_created_idx ON sign_in_flows (created_at);

-- Changes made to an account, and by whom: an administrator, or a
-- provider's attributes at sign-in (source 'provider:<name>').
CREATE TABLE user_events (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    actor_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    source TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX user_events_user_idx ON user_events (user_id, at);

-- A session opened by a provider: which one, the SHA-256 of its reference
-- there (the CAS service ticket: its single logout names it), and what the
-- provider's own logout wants back (the OpenID Connect ID token).
ALTER TABLE sessions ADD COLUMN provider TEXT;
ALTER TABLE sessions ADD COLUMN provider_session TEXT;
ALTER TABLE sessions ADD COLUMN provider_logout_hint TEXT;
CREATE INDEX sessions_provider_idx ON sessions (provider, provider_session);
