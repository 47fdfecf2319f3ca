-- Webhooks: an outside system subscribed to the desk's events. Each event a
-- subscription chooses becomes a delivery in the transaction of the change
-- that raised it (an outbox, as for mail), sent later by the delivery job.
-- The secret signs deliveries (HMAC): it is kept as given, since signing
-- needs it, and shown to administrators only.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- Event names separated by spaces, with a space before and after.
    events TEXT NOT NULL,
    -- A query-language filter on the ticket; none: every ticket.
    filter TEXT,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    -- Switched off by an administrator: no event is queued.
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- Paused after a day of failures: events are queued, not sent.
    paused_at BIGINT,
    -- The first failure since the last success.
    failing_since BIGINT,
    last_success_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    ticket_id BIGINT REFERENCES tickets (id) ON DELETE CASCADE,
    incident_id BIGINT REFERENCES incidents (id) ON DELETE CASCADE,
    actor_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- The history entries of the change, as JSON.
    changes TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    -- The body sent, fixed at the first try: retries send the same bytes.
    payload TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'delivered', 'failed', 'filtered')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    done_at BIGINT,
    request_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, ticket_id, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_done_idx ON webhook_deliveries (done_at) WHERE done_at IS NOT NULL;

-- Each try of a delivery: what the receiver answered.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    node TEXT NOT NULL,
    status BIGINT,
    duration_ms BIGINT NOT NULL,
    -- The start of the answer's body, or why there was none.
    response TEXT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
