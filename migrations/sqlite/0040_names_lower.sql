-- People and schools are named in queries (`assignee = "claire oreja"`,
-- `establishment = "lycée victor hugo"`) by their lower-cased name: without
-- these, each such query read the whole directory (32 ms for 15,000 people,
-- 53 ms for 10,000 schools and their parents on PostgreSQL).
CREATE INDEX users_name_lower_idx ON users (LOWER(name));
CREATE INDEX establishments_name_lower_idx ON establishments (LOWER(name));
