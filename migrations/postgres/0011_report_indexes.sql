-- Reports count comments by date and status or tier changes by date (the
-- resolution date has its index already): index ranges, never table scans.
CREATE INDEX comments_created_idx ON comments (created_at);
CREATE INDEX ticket_events_field_at_idx ON ticket_events (field, at);
