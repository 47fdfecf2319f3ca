-- SQLite's full-text documents gain their establishment's token, for a
-- school's search to intersect it with the words inside FTS5 (see its
-- migration). PostgreSQL reads a school's documents first and matches each
-- (crates/store/src/search.rs). The version number stays the same on both.
SELECT 1;
