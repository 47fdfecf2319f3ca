-- Desk settings edited at run time (business calendar, service-level policy), as JSON.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
