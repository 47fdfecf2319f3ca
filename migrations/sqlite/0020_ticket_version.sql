-- A ticket's version, raised by every change to it: the API's ETag and
-- If-Match, and the page form's check that nobody changed the ticket since
-- it was shown.
ALTER TABLE tickets ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
