-- SQLite gets a view of its full-text index's words (see its migration), for
-- the desk's search to write a prefix as the few words it starts. On
-- PostgreSQL the search ranks from RUM indexes, and a GIN index has no such
-- view of its words. The version number stays the same on both.
SELECT 1;
