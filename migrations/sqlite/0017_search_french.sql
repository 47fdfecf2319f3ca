-- The PostgreSQL tree stems French words from here (0017); SQLite's FTS5 has
-- no French stemmer, so its index is unchanged. Kept so both trees share
-- their numbering.
SELECT 1;
