-- PostgreSQL's indexes by due date get the ticket's number as their last
-- column, for lists ordered by due date then number (see its migration).
-- SQLite's indexes end with the row's number already. The version number
-- stays the same on both.
SELECT 1;
