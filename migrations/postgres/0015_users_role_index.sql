-- The desk's members (assignee lists, rota) among tens of thousands of school administrators.
CREATE INDEX users_role_idx ON users (role, name);
