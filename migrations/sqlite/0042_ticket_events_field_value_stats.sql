-- PostgreSQL's planner gets statistics on the events' field and value
-- together (its escalations report, see the PostgreSQL migration). SQLite's
-- escalations report names its index (`ticket_events_escalated_idx`) and
-- has no such statistics. The version number stays the same on both.
SELECT 1;
