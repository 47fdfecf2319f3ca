-- A ticket imported from another system keeps its key there (`JIRA-123`,
-- `GLPI-4567`): the query language finds it by either key, and importing
-- the same export again updates the ticket instead of filing it twice.
ALTER TABLE tickets ADD COLUMN alias TEXT;
CREATE UNIQUE INDEX tickets_alias_idx ON tickets (alias) WHERE alias IS NOT NULL;
