-- SQLite's service-level index becomes partial and SQLite's alone (its
-- planner took it for ad-hoc queries on a type or a priority); PostgreSQL
-- never had it: the version number stays the same on both.
SELECT 1;
