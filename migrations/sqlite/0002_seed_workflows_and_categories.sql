-- Workflows are data: statuses and allowed transitions per ticket type.
-- assistance, anomaly and the not yet classified share the support workflow.

INSERT INTO workflow_statuses (ticket_type, status, category, label_fr, label_en, position, initial) VALUES
('unclassified', 'new', 'open', 'Nouvelle', 'New', 1, TRUE),
('unclassified', 'in_progress', 'open', 'En cours', 'In progress', 2, FALSE),
('unclassified', 'waiting_on_requester', 'waiting', 'En attente du demandeur', 'Waiting on requester', 3, FALSE),
('unclassified', 'resolved', 'resolved', 'Résolue', 'Resolved', 4, FALSE),
('unclassified', 'closed', 'closed', 'Fermée', 'Closed', 5, FALSE),
('assistance', 'new', 'open', 'Nouvelle', 'New', 1, TRUE),
('assistance', 'in_progress', 'open', 'En cours', 'In progress', 2, FALSE),
('assistance', 'waiting_on_requester', 'waiting', 'En attente du demandeur', 'Waiting on requester', 3, FALSE),
('assistance', 'resolved', 'resolved', 'Résolue', 'Resolved', 4, FALSE),
('assistance', 'closed', 'closed', 'Fermée', 'Closed', 5, FALSE),
('anomaly', 'new', 'open', 'Nouvelle', 'New', 1, TRUE),
('anomaly', 'in_progress', 'open', 'En cours', 'In progress', 2, FALSE),
('anomaly', 'waiting_on_requester', 'waiting', 'En attente du demandeur', 'Waiting on requester', 3, FALSE),
('anomaly', 'resolved', 'resolved', 'Résolue', 'Resolved', 4, FALSE),
('anomaly', 'closed', 'closed', 'Fermée', 'Closed', 5, FALSE),
('evolution', 'submitted', 'open', 'Proposée', 'Submitted', 1, TRUE),
('evolution', 'under_review', 'open', 'À l''étude', 'Under review', 2, FALSE),
('evolution', 'accepted', 'open', 'Acceptée', 'Accepted', 3, FALSE),
('evolution', 'planned', 'open', 'Planifiée', 'Planned', 4, FALSE),
('evolution', 'declined', 'resolved', 'Refusée', 'Declined', 5, FALSE),
('evolution', 'delivered', 'resolved', 'Livrée', 'Delivered', 6, FALSE),
('evolution', 'closed', 'closed', 'Fermée', 'Closed', 7, FALSE);

INSERT INTO workflow_transitions (ticket_type, from_status, to_status, requester_allowed)
SELECT t.ticket_type, x.from_status, x.to_status, x.requester_allowed
FROM (SELECT 'unclassified' AS ticket_type UNION ALL SELECT 'assistance' UNION ALL SELECT 'anomaly') t
CROSS JOIN (
    SELECT 'new' AS from_status, 'in_progress' AS to_status, FALSE AS requester_allowed
    UNION ALL SELECT 'new', 'waiting_on_requester', FALSE
    UNION ALL SELECT 'new', 'resolved', FALSE
    UNION ALL SELECT 'in_progress', 'waiting_on_requester', FALSE
    UNION ALL SELECT 'in_progress', 'resolved', FALSE
    UNION ALL SELECT 'waiting_on_requester', 'in_progress', FALSE
    UNION ALL SELECT 'waiting_on_requester', 'resolved', FALSE
    UNION ALL SELECT 'resolved', 'in_progress', TRUE
    UNION ALL SELECT 'resolved', 'closed', TRUE
) x;

INSERT INTO workflow_transitions (ticket_type, from_status, to_status, requester_allowed) VALUES
('evolution', 'submitted', 'under_review', FALSE),
('evolution', 'submitted', 'declined', FALSE),
('evolution', 'under_review', 'accepted', FALSE),
('evolution', 'under_review', 'declined', FALSE),
('evolution', 'accepted', 'planned', FALSE),
('evolution', 'accepted', 'declined', FALSE),
('evolution', 'planned', 'delivered', FALSE),
('evolution', 'declined', 'under_review', FALSE),
('evolution', 'declined', 'closed', FALSE),
('evolution', 'delivered', 'closed', FALSE);

INSERT INTO categories (code, label_fr, label_en, position) VALUES
('accounts', 'Comptes et mots de passe', 'Accounts and passwords', 1),
('mail', 'Messagerie', 'Mail', 2),
('homework', 'Cahier de textes', 'Homework book', 3),
('grades', 'Notes et compétences', 'Grades and skills', 4),
('timetable', 'Emploi du temps', 'Timetable', 5),
('documents', 'Documents', 'Documents', 6),
('network', 'Accès et réseau de l''établissement', 'School access and network', 7),
('other', 'Autre', 'Other', 8);
