-- Canned responses (réponses types): a reply with variables, personal
-- (owner_id) or shared with a level (level) or the whole desk (both NULL),
-- and the fields a macro sets in the same action.
CREATE TABLE canned_responses (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    owner_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    level TEXT CONSTRAINT canned_responses_level_check CHECK (level IN ('support', 'technical')),
    set_status TEXT,
    set_type TEXT,
    set_category TEXT,
    set_resolution TEXT,
    use_count BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT canned_responses_scope_check CHECK (owner_id IS NULL OR level IS NULL)
);
CREATE INDEX canned_responses_owner_idx ON canned_responses (owner_id);

INSERT INTO canned_responses (name, body, level, set_status, set_type, set_category, set_resolution, created_at, updated_at) VALUES
('Mot de passe réinitialisé', 'Bonjour {{demandeur.prénom}},

Le mot de passe du compte concerné vient d''être réinitialisé. La personne recevra ses nouveaux identifiants de connexion par le circuit habituel de l''établissement ; à la première connexion, l''ENT lui demandera d''en choisir un nouveau.

Si le problème persiste, répondez simplement à ce message : la demande {{ticket.clé}} sera rouverte.

Cordialement,
{{agent.prénom}}, pour l''assistance ENT', NULL, 'resolved', 'assistance', 'accounts', 'answered', 0, 0),
('Compte sans adresse e-mail valide', 'Bonjour {{demandeur.prénom}},

Ce compte n''a pas d''adresse e-mail valide dans l''annuaire de {{établissement.nom}} : l''ENT ne peut donc pas envoyer le lien de réinitialisation. Pourriez-vous nous indiquer l''adresse à enregistrer, ou la corriger dans l''outil d''administration de l''établissement ?

Cordialement,
{{agent.prénom}}, pour l''assistance ENT', NULL, 'waiting_on_requester', 'assistance', 'accounts', NULL, 0, 0),
('Demande de précisions', 'Bonjour {{demandeur.prénom}},

Pour avancer sur la demande {{ticket.clé}}, pourriez-vous nous préciser le profil concerné (élève, enseignant, parent), le service de l''ENT utilisé et, si possible, joindre une capture d''écran du message affiché ?

Cordialement,
{{agent.prénom}}, pour l''assistance ENT', NULL, 'waiting_on_requester', NULL, NULL, NULL, 0, 0);
