-- Saved filters: a named query, personal or shared with the desk, in order.
CREATE TABLE saved_filters (
    id INTEGER PRIMARY KEY,
    owner_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    position BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX saved_filters_owner_idx ON saved_filters (owner_id, position);

INSERT INTO saved_filters (owner_id, name, query, shared, builtin, position) VALUES
(NULL, 'En retard', 'sla = breached AND resolved IS EMPTY ORDER BY due', TRUE, TRUE, 1),
(NULL, 'Bientôt en retard', 'sla = at_risk AND resolved IS EMPTY ORDER BY due', TRUE, TRUE, 2),
(NULL, 'En attente de notre réponse', 'awaiting = desk AND resolved IS EMPTY AND status != waiting_on_requester ORDER BY updated', TRUE, TRUE, 3),
(NULL, 'En attente du demandeur', 'status = waiting_on_requester ORDER BY updated', TRUE, TRUE, 4),
(NULL, 'Non attribuées', 'assignee IS EMPTY AND resolved IS EMPTY ORDER BY created', TRUE, TRUE, 5),
(NULL, 'Mes demandes', 'assignee = currentUser() AND resolved IS EMPTY ORDER BY updated DESC', TRUE, TRUE, 6),
(NULL, 'Résolues cette semaine', 'resolved >= startOfWeek() ORDER BY resolved DESC', TRUE, TRUE, 7),
(NULL, 'Transmises au niveau 2', 'tier = technical AND resolved IS EMPTY ORDER BY updated DESC', TRUE, TRUE, 8);
