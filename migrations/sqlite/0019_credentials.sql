-- Credentials that end, and sign-in that cannot be brute-forced.
--
-- Failed (and in-flight) sign-in attempts per account and per client
-- address, counted in the database so that the limit holds across nodes.
CREATE TABLE login_throttles (
    key TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX login_throttles_window_idx ON login_throttles (window_start);

-- A session also ends when left idle.
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
UPDATE sessions SET last_seen_at = created_at;

-- API tokens expire and can be revoked. Tokens made before this had no
-- expiry: they get a year from the upgrade rather than stopping at once.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT;
UPDATE api_tokens SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000 + 31536000000000;
