-- Leases: which node does a job that only one node may do at a time (the
-- service-level clock, each mailbox's poller). A lease is held until
-- `expires_at` (the database's clock) and renewed well before; `term` grows
-- each time the lease changes hands, and every write done under a lease
-- checks it, so that a node that lost its lease (paused, cut off) cannot
-- write as the holder.
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    term BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
