-- PostgreSQL gets indexes of open tickets by type and priority and by
-- category (see its migration). SQLite's covering index of open tickets
-- (`tickets_open_updated_idx`) serves those shapes within their target, and
-- each index more is a cost to every filing. The version number stays the
-- same on both.
SELECT 1;
