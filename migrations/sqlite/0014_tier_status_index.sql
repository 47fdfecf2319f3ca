-- Level 1's counts are "every ticket but the schools' own HELP requests":
-- everything minus the few of tier `establishment`, which this index finds
-- for any status (the status filters have no tier in their indexes).
CREATE INDEX tickets_tier_status_idx ON tickets (tier, status);
