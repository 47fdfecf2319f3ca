//! The interface's words, in French (default) and English.
//!
//! A static table rather than a runtime catalogue (Fluent, gettext): the
//! interface has a few hundred strings, known at compile time, and a missing
//! one must fail a test, not show a key to a user.

use guichet_domain::user::Language;

/// (key, français, English)
const MESSAGES: &[(&str, &str, &str)] = &[
    ("account", "Compte", "Account"),
    ("actions", "Actions", "Actions"),
    ("change_password", "Changer de mot de passe", "Change password"),
    (
        "stale_ticket",
        "Quelqu'un a modifié cette demande pendant que vous la consultiez : vos changements n'ont pas été enregistrés. Vérifiez-la, puis recommencez.",
        "Someone changed this request while you were looking at it: your changes were not saved. Check it, then try again.",
    ),
    (
        "change_password_help",
        "Vos autres sessions (autres navigateurs, autres appareils) seront fermées.",
        "Your other sessions (other browsers, other devices) will be signed out.",
    ),
    ("current_password", "Mot de passe actuel", "Current password"),
    ("confirm_new_password", "Confirmez le nouveau mot de passe", "Confirm the new password"),
    ("new_password", "Nouveau mot de passe (8 caractères au moins)", "New password (at least 8 characters)"),
    ("sessions", "Sessions", "Sessions"),
    (
        "sessions_help",
        "Une session se ferme après 2 heures sans activité, et 12 heures après la connexion.",
        "A session ends after 2 hours without activity, and 12 hours after signing in.",
    ),
    ("sign_out_elsewhere", "Fermer mes autres sessions", "Sign out my other sessions"),
    ("tokens", "Jetons d'API", "API tokens"),
    (
        "tokens_help",
        "Un jeton permet à un programme d'utiliser l'API en votre nom (Authorization: Bearer …). Révoquez celui qui n'est plus utilisé.",
        "A token lets a program use the API in your name (Authorization: Bearer …). Revoke any you no longer use.",
    ),
    (
        "token_shown_once",
        "Voici votre nouveau jeton. Copiez-le maintenant : il ne sera plus jamais affiché.",
        "Here is your new token. Copy it now: it will never be shown again.",
    ),
    ("no_tokens", "Aucun jeton.", "No token."),
    ("token_created", "Créé le", "Created"),
    ("last_used", "Dernière utilisation", "Last used"),
    ("expires", "Expire le", "Expires"),
    ("token_active", "Actif", "Active"),
    ("token_expired", "Expiré", "Expired"),
    ("token_revoked", "Révoqué", "Revoked"),
    ("revoke", "Révoquer", "Revoke"),
    ("token_name", "Nom du jeton", "Token name"),
    ("token_days", "Durée (jours)", "Lifetime (days)"),
    ("create_token", "Créer un jeton", "Create a token"),
    ("add", "Ajouter", "Add"),
    ("admin", "Administration", "Administration"),
    ("all", "Tous", "All"),
    (
        "anomaly_help",
        "Décrivez ce qui ne fonctionne pas : nous essaierons de le reproduire.",
        "Describe what is broken: we will try to reproduce it.",
    ),
    ("apply", "Appliquer", "Apply"),
    ("help_title", "Demander de l'aide", "Ask for help"),
    (
        "help_intro",
        "Votre message est transmis aux administrateurs de l'ENT de votre établissement.",
        "Your message goes to the administrators of your school's digital workspace.",
    ),
    ("help_you_are", "Vous êtes", "You are"),
    ("help_profile", "Profil", "Profile"),
    ("help_name", "Votre nom", "Your name"),
    ("help_email", "Votre adresse e-mail (facultatif)", "Your e-mail address (optional)"),
    (
        "help_email_hint",
        "Pour recevoir la réponse par e-mail. Sans adresse, demandez la réponse à votre établissement.",
        "To receive the answer by e-mail. Without one, ask your school for the answer.",
    ),
    ("help_message", "Votre message", "Your message"),
    ("help_screenshot", "Capture d'écran (facultatif)", "Screenshot (optional)"),
    ("help_send", "Envoyer", "Send"),
    ("help_sent", "Merci, votre message a été transmis.", "Thank you, your message was sent."),
    (
        "help_sent_email",
        "Vous recevrez un accusé de réception et la réponse par e-mail.",
        "You will receive an acknowledgment and the answer by e-mail.",
    ),
    ("help_again", "Envoyer un autre message", "Send another message"),
    ("assign_to_me", "M'attribuer", "Assign to me"),
    ("assignee", "Attribuée à", "Assignee"),
    ("attach", "Joindre", "Attach"),
    ("attachments", "Pièces jointes", "Attachments"),
    ("back", "Retour", "Back"),
    ("sign_in_refused", "Connexion impossible", "Cannot sign in"),
    ("user_access", "Accès", "Access"),
    ("identities", "Connexions par un fournisseur d'identité", "Sign-in through an identity provider"),
    ("no_identities", "Aucune : ce compte ne s'est jamais connecté par l'ENT.", "None: this account never signed in through the ENT."),
    ("provider", "Fournisseur", "Provider"),
    ("identifier", "Identifiant", "Identifier"),
    ("account_history", "Historique du compte", "Account history"),
    ("no_changes", "Aucun changement enregistré.", "No change recorded."),
    ("date", "Date", "Date"),
    ("by", "Par", "By"),
    ("change", "Changement", "Change"),
    ("before", "Avant", "Before"),
    ("after", "Après", "After"),
    ("or_password", "Ou avec un mot de passe", "Or with a password"),
    ("browser", "Navigateur et système", "Browser and OS"),
    ("call_resolved", "Résolue pendant l'appel", "Resolved during the call"),
    ("caller", "Appelant", "Caller"),
    ("categories", "Catégories", "Categories"),
    ("category", "Catégorie", "Category"),
    ("channel", "Canal", "Channel"),
    ("choose_kind", "Quel est votre besoin ?", "What do you need?"),
    ("classify", "Classer", "Classify"),
    ("close_ticket", "Confirmer la résolution", "Confirm resolution"),
    ("code", "Code", "Code"),
    ("confirm_password", "Nouveau mot de passe", "New password"),
    ("compose", "Écrire un message", "Write a message"),
    ("conversation", "Échanges", "Conversation"),
    ("create", "Créer", "Create"),
    ("created", "Créée", "Created"),
    ("csv_file", "Fichier CSV (uai;nom;ville;uai_parent)", "CSV file (uai;name;town;parent_uai)"),
    ("dashboard", "Tableau de bord", "Dashboard"),
    ("description", "Description", "Description"),
    ("disable", "Désactiver", "Disable"),
    ("disabled", "désactivé", "disabled"),
    ("done_this_week", "Résolues cette semaine", "Resolved this week"),
    (
        "drop_hint",
        "Collez une capture (Ctrl+V) ou glissez un fichier ici.",
        "Paste a screenshot (Ctrl+V) or drop a file here.",
    ),
    ("edit", "Modifier", "Edit"),
    ("email", "Adresse e-mail", "E-mail address"),
    ("enable", "Réactiver", "Enable"),
    ("error", "Erreur", "Error"),
    ("escalate", "Transmettre au niveau 2", "Escalate to level 2"),
    ("hand_back", "Rendre au niveau 1", "Hand back to level 1"),
    ("forward", "Transmettre au support", "Forward to the support desk"),
    (
        "handover_summary",
        "Résumé pour le niveau suivant : ce qui a été essayé, comment reproduire",
        "Summary for the next level: what was tried, how to reproduce",
    ),
    ("forward_note", "Note pour le support (facultatif)", "Note for the support desk (optional)"),
    ("resolve_help", "J'ai répondu : marquer comme résolue", "I answered: mark as resolved"),
    ("help_contact", "Auteur du message HELP", "Author of the HELP message"),
    ("incident", "Incident", "Incident"),
    ("incidents", "Incidents", "Incidents"),
    ("incidents_in_progress", "Incidents en cours", "Ongoing incidents"),
    ("incident_known", "Ce problème est déjà connu", "This problem is already known"),
    ("incident_follow", "Suivre l'incident", "Follow the incident"),
    (
        "incident_join_help",
        "Votre établissement est concerné ? Suivez l'incident : une demande est ouverte pour vous et vous serez prévenu de sa résolution.",
        "Is your school affected? Follow the incident: a request is opened for you and you will be told when it is resolved.",
    ),
    ("incident_details", "Précisions (facultatif)", "Details (optional)"),
    ("incident_started", "Début", "Started"),
    ("incident_resolved", "Résolu", "Resolved"),
    ("incident_open", "En cours", "Ongoing"),
    ("incident_resolution", "Résolution", "Resolution"),
    ("incident_tickets", "Demandes rattachées", "Linked requests"),
    ("incident_add_tickets", "Rattacher des demandes", "Link requests"),
    ("incident_reported", "Signalé :", "Reported:"),
    ("incident_started_event", "Début de l'incident", "Incident started"),
    ("incident_declared", "Incident déclaré", "Incident declared"),
    ("incident_resolved_event", "Incident résolu", "Incident resolved"),
    ("affected_establishments", "Établissements concernés", "Affected schools"),
    ("declare_incident", "Déclarer un incident majeur", "Declare a major incident"),
    ("declared_by", "Déclaré par", "Declared by"),
    ("public_message", "Message public (bandeau du portail)", "Public message (portal banner)"),
    ("no_incidents", "Aucun incident.", "No incident."),
    ("resolve_incident", "Résoudre l'incident", "Resolve the incident"),
    (
        "resolve_incident_help",
        "Chaque demande rattachée encore ouverte reçoit cette réponse, dans la langue de son demandeur, et passe à l'état résolu.",
        "Every linked request still open receives this answer, in its requester's language, and is resolved.",
    ),
    ("answer_fr", "Réponse (français)", "Answer (French)"),
    ("answer_en", "Réponse (anglais, facultatif)", "Answer (English, optional)"),
    ("similar_title", "Demandes qui ressemblent à la vôtre", "Requests like yours"),
    ("proposals", "Incidents proposés", "Proposed incidents"),
    (
        "proposal_text",
        "demandes semblables de plusieurs établissements en peu de temps",
        "alike requests from several schools in a short time",
    ),
    ("accept_proposal", "Déclarer l'incident", "Declare the incident"),
    ("links", "Demandes liées", "Linked requests"),
    ("no_links", "Aucune demande liée.", "No linked request."),
    ("link_kind", "Lien", "Link"),
    ("other_ticket", "Autre demande (code)", "Other request (key)"),
    ("add_link", "Lier", "Link"),
    ("merge_into", "Fusionner dans la demande (code)", "Merge into request (key)"),
    ("merge", "Fusionner", "Merge"),
    ("ok_saved", "Enregistré.", "Saved."),
    ("ok_incident_declared", "Incident déclaré.", "Incident declared."),
    (
        "ok_incident_resolved",
        "Incident résolu : chaque demande a reçu la réponse.",
        "Incident resolved: every request was answered.",
    ),
    (
        "ok_incident_joined",
        "Vous suivez l'incident : vous serez prévenu de sa résolution.",
        "You follow the incident: you will be told when it is resolved.",
    ),
    ("ok_handed_over", "Transmise.", "Handed over."),
    ("ok_merged", "Demandes fusionnées.", "Merged."),
    ("establishment", "Établissement", "School"),
    ("establishments", "Établissements", "Schools"),
    ("filter", "Filtrer", "Filter"),
    ("filters", "Filtres", "Filters"),
    ("help_kind_anomaly", "Je signale une anomalie", "I am reporting a problem"),
    ("help_kind_assistance", "J'ai besoin d'aide", "I need help"),
    ("help_kind_evolution", "Je propose une évolution", "I am suggesting a change"),
    ("history", "Historique", "History"),
    ("import", "Importer", "Import"),
    ("internal_note", "Note interne", "Internal note"),
    (
        "internal_note_hint",
        "Visible uniquement par le support et les techniciens",
        "Visible to the desk and technicians only",
    ),
    ("key", "Clé", "Key"),
    ("label_en", "Libellé (anglais)", "Label (English)"),
    ("label_fr", "Libellé (français)", "Label (French)"),
    ("language", "Langue", "Language"),
    ("late", "En retard", "Late"),
    ("at_risk", "Bientôt en retard", "At risk"),
    ("sla", "Engagement de service", "Service level"),
    ("first_response_due", "Première réponse avant", "First response by"),
    ("resolution_due", "Résolution avant", "Resolution by"),
    ("login", "Connexion", "Sign in"),
    ("login_failed", "Adresse ou mot de passe incorrect.", "Wrong e-mail address or password."),
    ("logout", "Se déconnecter", "Sign out"),
    ("my_tickets", "Mes demandes", "My requests"),
    ("name", "Nom", "Name"),
    ("needs_reply", "En attente de notre réponse", "Needs our reply"),
    ("new_request", "Nouvelle demande", "New request"),
    ("next", "Suivante", "Next"),
    ("no_results", "Aucun résultat.", "No results."),
    ("none", "Aucun", "None"),
    ("not_found", "Page introuvable", "Page not found"),
    (
        "not_found_text",
        "Cette page n'existe pas ou vous n'y avez pas accès.",
        "This page does not exist or you cannot see it.",
    ),
    ("on_duty", "De permanence", "On duty"),
    ("calendar", "Horaires et délais", "Hours and service levels"),
    ("opening_hours", "Horaires d'ouverture", "Opening hours"),
    ("time_zone", "Fuseau horaire", "Time zone"),
    ("closed_on_holidays", "Fermé les jours fériés", "Closed on public holidays"),
    ("closures", "Fermetures exceptionnelles (une date par ligne)", "Exceptional closures (one date per line)"),
    ("openings", "Ouvertures exceptionnelles (date et horaires)", "Exceptional openings (date and hours)"),
    ("sla_hours_help", "En heures ouvrées ; vide : pas d'objectif.", "In business hours; empty: no target."),
    ("at_risk_from", "Bientôt en retard à partir de (% consommé)", "At risk from (% consumed)"),
    ("pause_technical", "Suspendre le délai au niveau 2", "Pause the clock at level 2"),
    ("nobody_on_duty", "Personne n'est de permanence en ce moment.", "Nobody is on duty right now."),
    ("rota", "Permanences", "On-duty rota"),
    ("reports", "Rapports", "Reports"),
    ("search_placeholder", "Rechercher… (/)", "Search… (/)"),
    ("search_help", "Mots, \"expression exacte\", début de mot* ; accents et majuscules ignorés", "Words, \"exact phrase\", prefix*; accents and case ignored"),
    ("results", "résultat(s)", "result(s)"),
    ("report_volume", "Demandes reçues et résolues", "Requests received and resolved"),
    ("report_volume_note", "Une demande rouverte puis résolue à nouveau compte une fois, à sa dernière résolution ; elle reste en cours entre les deux.", "A request reopened and resolved again counts once, at its last resolution; it is open in between."),
    ("requests", "Demandes", "Requests"),
    ("received_plural", "Reçues", "Received"),
    ("resolved_plural", "Résolues", "Resolved"),
    ("backlog", "En cours en fin de période", "Open at the end of the period"),
    ("report_breakdown", "Demandes reçues", "Requests received"),
    ("by_type", "par type", "by type"),
    ("by_channel", "par canal", "by channel"),
    ("by_category", "par catégorie", "by category"),
    ("by_establishment", "par établissement", "by establishment"),
    ("by_tier", "par niveau", "by tier"),
    ("report_first_response", "Délai de première réponse (heures ouvrées)", "Time to first response (business hours)"),
    ("report_resolution_time", "Délai de résolution (heures ouvrées)", "Time to resolution (business hours)"),
    ("median", "Médiane", "Median"),
    ("report_sla", "Engagements de service tenus (%)", "Service levels met (%)"),
    ("report_sla_note", "Parmi les demandes résolues sur la période, par type et priorité.", "Among the requests resolved in the period, by type and priority."),
    ("breaches", "Demandes en retard créées sur la période", "Late requests created in the period"),
    ("report_agents", "Activité du support", "Desk activity"),
    ("report_agents_note", "Réponses publiées par personne (le tableau donne aussi les notes internes et les résolutions).", "Public replies per person (the table also gives internal notes and resolutions)."),
    ("report_escalations", "Transmissions au niveau 2 et temps passé", "Escalations to level 2 and time spent there"),
    ("period_from", "Du", "From"),
    ("period_to", "Au", "To"),
    ("granularity", "Regroupement", "Grouping"),
    ("by_day", "Par jour", "By day"),
    ("by_week", "Par semaine", "By week"),
    ("by_month", "Par mois", "By month"),
    ("show", "Afficher", "Show"),
    ("monthly_report", "Rapport du mois dernier", "Last month's report"),
    ("print", "Imprimer", "Print"),
    ("download_csv", "Télécharger (CSV)", "Download (CSV)"),
    ("csv_bom", "CSV pour tableur (avec BOM)", "CSV for spreadsheets (with BOM)"),
    ("data_table", "Tableau des données", "Data table"),
    ("establishment_or_parent", "Établissement, département ou académie (UAI)", "Establishment, département or académie (UAI)"),
    ("mail", "Courriel", "Mail"),
    ("mailboxes", "Boîtes de réception", "Mailboxes"),
    ("tasks", "Tâches de fond", "Background tasks"),
    (
        "tasks_help",
        "Relève des boîtes, envoi des courriels et horloge des délais, sur ce serveur. Une tâche en échec est relancée d'elle-même.",
        "Mailbox fetching, mail sending and the service-level clock, on this server. A failing task is started again by itself.",
    ),
    ("restarts", "Redémarrages", "Restarts"),
    ("polled_by", "Relevée par", "Polled by"),
    ("task_ok", "En marche", "Running"),
    ("task_failing", "En échec", "Failing"),
    ("no_mailbox", "Aucune boîte n'est configurée (section [[mailboxes]] de guichet.toml).", "No mailbox is configured ([[mailboxes]] in guichet.toml)."),
    ("last_success", "Dernière relève réussie", "Last successful fetch"),
    ("last_error", "Dernière erreur", "Last error"),
    ("failing_since", "En échec depuis", "Failing since"),
    ("imported_today", "Importés aujourd'hui", "Imported today"),
    ("quarantine", "Quarantaine", "Quarantine"),
    ("quarantine_help", "Messages qui n'ont pas pu être importés. Ils sont conservés tels quels : relancez l'import après correction, ou écartez-les.", "Messages that could not be imported. They are kept as received: run the import again once fixed, or set them aside."),
    ("quarantine_empty", "Aucun message en quarantaine.", "No message in quarantine."),
    ("sender", "Expéditeur", "Sender"),
    ("subject", "Objet", "Subject"),
    ("received", "Reçu le", "Received"),
    ("reason", "Motif", "Reason"),
    ("reprocess", "Relancer l'import", "Import again"),
    ("dismiss", "Écarter", "Set aside"),
    ("raw_message", "Message brut", "Raw message"),
    ("outbox", "Envois en attente", "Outbox"),
    ("outbox_help", "Notifications pas encore envoyées : elles repartent d'elles-mêmes quand le serveur SMTP répond.", "Notifications not sent yet: they go out by themselves once the SMTP server answers."),
    ("outbox_empty", "Tout a été envoyé.", "Everything was sent."),
    ("recipient", "Destinataire", "Recipient"),
    ("attempts", "Tentatives", "Attempts"),
    ("next_attempt", "Prochain essai", "Next attempt"),
    ("given_up", "abandonné", "given up"),
    ("retry", "Réessayer", "Retry"),
    ("never", "jamais", "never"),
    ("day", "Date", "Date"),
    ("part", "Créneau", "Part of the day"),
    ("remove", "Retirer", "Remove"),
    ("open_tickets", "Demandes en cours", "Open requests"),
    ("outcome", "Résultat de la reproduction", "Reproduction outcome"),
    ("page", "Page", "Page"),
    ("parent", "Rattachement", "Parent"),
    ("password", "Mot de passe", "Password"),
    ("phone", "Téléphone", "Phone"),
    ("phone_intake", "Appel", "Phone call"),
    ("phone_search_hint", "Numéro, nom, adresse e-mail ou UAI", "Number, name, e-mail or UAI"),
    ("previous", "Précédente", "Previous"),
    ("priority", "Priorité", "Priority"),
    ("profile", "Profil concerné", "Affected profile"),
    ("query", "Requête", "Query"),
    ("saved_filters", "Filtres enregistrés", "Saved filters"),
    ("save_filter", "Enregistrer cette requête", "Save this query"),
    ("share_with_desk", "Partager avec le support", "Share with the desk"),
    ("delete", "Supprimer", "Delete"),
    ("query_help", "Champs : type, statut, priorité, catégorie, canal, niveau, établissement, demandeur, attribution, créé, mis à jour, résolu, échéance (due), sla, attente (awaiting), texte, clé. Opérateurs : = != < > ~ IN, NOT IN, IS EMPTY, AND, OR, NOT, ORDER BY. Fonctions : now(), startOfDay(-7d), startOfWeek(), startOfMonth(-1), currentUser().", "Fields: type, status, priority, category, channel, tier, establishment, requester, assignee, created, updated, resolved, due, sla, awaiting, text, key. Operators: = != < > ~ IN, NOT IN, IS EMPTY, AND, OR, NOT, ORDER BY. Functions: now(), startOfDay(-7d), startOfWeek(), startOfMonth(-1), currentUser()."),
    ("queue", "Demandes", "Requests"),
    ("reopen", "Rouvrir", "Reopen"),
    ("reply", "Réponse", "Reply"),
    ("reply_hint", "Envoyée au demandeur", "Sent to the requester"),
    ("reproduction", "Reproduction", "Reproduction"),
    ("requester", "Demandeur", "Requester"),
    ("reset_password", "Changer le mot de passe", "Set password"),
    ("resolution", "Résolution", "Resolution"),
    ("role", "Rôle", "Role"),
    ("save", "Enregistrer", "Save"),
    ("search", "Rechercher", "Search"),
    ("send", "Envoyer", "Send"),
    ("service", "Service ENT concerné", "ENT service"),
    (
        "sla_soon",
        "Les délais de traitement (SLA) s'afficheront ici une fois configurés.",
        "Service levels (SLA) will show here once configured.",
    ),
    ("skip", "Aller au contenu", "Skip to content"),
    ("sort", "Trier par", "Sort by"),
    ("status", "Statut", "Status"),
    ("steps", "Étapes pour reproduire", "Steps to reproduce"),
    ("submit_request", "Envoyer la demande", "Send the request"),
    ("text", "Texte", "Text"),
    ("tier", "Niveau", "Level"),
    ("timeline", "Fil de la demande", "Timeline"),
    ("title", "Titre", "Title"),
    ("town", "Ville", "Town"),
    ("type", "Type", "Type"),
    ("unassigned", "Non attribuées", "Unassigned"),
    ("updated", "Mise à jour", "Updated"),
    ("url", "Adresse de la page (URL)", "Page address (URL)"),
    ("users", "Utilisateurs", "Users"),
    ("waiting", "En attente du demandeur", "Waiting on requester"),
    ("welcome", "Bienvenue", "Welcome"),
    ("write_reply", "Votre message", "Your message"),
];

/// Labels of vocabulary codes shown in the interface.
const CODES: &[(&str, &str, &str)] = &[
    ("change_identity", "Identité reliée", "Identity linked"),
    ("change_created", "Compte créé", "Account created"),
    ("change_establishments", "Établissements", "Establishments"),
    ("change_access", "Accès", "Access"),
    ("change_password", "Mot de passe", "Password"),
    ("change_role", "Rôle", "Role"),
    ("others", "autres", "others"),
    ("col_period", "Période", "Period"),
    ("col_from", "Du", "From"),
    ("col_to", "Au", "To"),
    ("col_created", "Reçues", "Received"),
    ("col_resolved", "Résolues", "Resolved"),
    ("col_backlog", "En cours", "Open"),
    ("col_key", "Code", "Code"),
    ("col_label", "Libellé", "Label"),
    ("col_count", "Nombre", "Count"),
    ("col_class", "Durée", "Duration"),
    ("col_measure", "Mesure", "Measure"),
    ("col_statistic", "Statistique", "Statistic"),
    ("col_value", "Valeur", "Value"),
    ("col_type", "Type", "Type"),
    ("col_priority", "Priorité", "Priority"),
    ("col_met", "Tenus", "Met"),
    ("col_met_percent", "% tenus", "% met"),
    ("col_agent", "Personne", "Person"),
    ("col_tickets", "Demandes traitées", "Requests handled"),
    ("col_replies", "Réponses", "Replies"),
    ("col_internal_notes", "Notes internes", "Internal notes"),
    ("col_resolutions", "Résolutions", "Resolutions"),
    ("escalation_rate_percent", "Taux de transmission (%)", "Escalation rate (%)"),
    ("escalated", "Transmises au niveau 2", "Escalated to level 2"),
    ("median_hours_at_technical", "Temps médian au niveau 2 (h ouvrées)", "Median time at level 2 (business h)"),
    ("p90_hours_at_technical", "9e décile au niveau 2 (h ouvrées)", "90th percentile at level 2 (business h)"),
    ("automatic_mail", "Réponse automatique reçue", "Automatic reply received"),
    ("reminder", "Relance du demandeur", "Reminder to the requester"),
    ("sent", "envoyée", "sent"),
    ("unclassified", "Non classée", "Unclassified"),
    ("assistance", "Assistance", "Assistance"),
    ("anomaly", "Anomalie", "Anomaly"),
    ("evolution", "Évolution", "Change request"),
    ("low", "Basse", "Low"),
    ("normal", "Normale", "Normal"),
    ("high", "Haute", "High"),
    ("critical", "Critique", "Critical"),
    ("portal", "Portail", "Portal"),
    ("email", "E-mail", "E-mail"),
    ("phone", "Téléphone", "Phone"),
    ("help_form", "Bouton HELP", "HELP button"),
    ("duplicate_of", "Doublon de", "Duplicate of"),
    ("relates_to", "En rapport avec", "Relates to"),
    ("blocks", "Bloque", "Blocks"),
    ("duplicate_of_from", "A pour doublon", "Duplicated by"),
    ("relates_to_from", "En rapport avec", "Relates to"),
    ("blocks_from", "Bloquée par", "Blocked by"),
    ("handover", "Résumé de transmission", "Hand-over summary"),
    ("link", "Lien", "Link"),
    ("merged_into", "Fusionnée dans", "Merged into"),
    ("merged_from", "A reçu la demande", "Received request"),
    ("api", "API", "API"),
    ("establishment", "Établissement", "School"),
    ("support", "Support (niveau 1)", "Support (level 1)"),
    ("technical", "Technique (niveau 2)", "Technical (level 2)"),
    ("reproduced", "Reproduit", "Reproduced"),
    ("not_reproduced", "Non reproduit", "Not reproduced"),
    ("local_cause", "Cause locale", "Local cause"),
    ("student", "Élève", "Student"),
    ("teacher", "Enseignant", "Teacher"),
    ("parent", "Parent", "Parent"),
    ("staff", "Personnel", "Staff"),
    ("local_admin", "Administrateur local", "Local administrator"),
    ("answered", "Réponse apportée", "Answered"),
    ("fixed", "Corrigée", "Fixed"),
    ("workaround", "Contournement", "Workaround"),
    ("duplicate", "Doublon", "Duplicate"),
    ("no_answer", "Sans réponse du demandeur", "No answer"),
    ("cancelled", "Annulée", "Cancelled"),
    ("requester", "Demandeur", "Requester"),
    ("agent", "Agent support", "Agent"),
    ("technician", "Technicien", "Technician"),
    ("admin", "Administrateur", "Administrator"),
    ("created", "Création", "Created"),
    ("comment", "Message", "Message"),
    ("reply", "Réponse", "Reply"),
    ("internal_note", "Note interne", "Internal note"),
    ("attachment", "Pièce jointe", "Attachment"),
    ("title", "Titre", "Title"),
    ("description", "Description", "Description"),
    ("type", "Type", "Type"),
    ("status", "Statut", "Status"),
    ("priority", "Priorité", "Priority"),
    ("category", "Catégorie", "Category"),
    ("assignee", "Attribution", "Assignee"),
    ("tier", "Niveau", "Level"),
    ("reproduction", "Reproduction", "Reproduction"),
    ("resolution", "Résolution", "Resolution"),
    ("watchers", "Observateurs", "Watchers"),
    ("q", "Requête", "Query"),
    ("day", "Journée", "All day"),
    ("morning", "Matin", "Morning"),
    ("afternoon", "Après-midi", "Afternoon"),
    ("ok", "Dans les temps", "On time"),
    ("breached", "En retard", "Late"),
    ("met", "Respecté", "Met"),
    ("paused", "En pause", "Paused"),
];

fn lookup(
    table: &'static [(&'static str, &'static str, &'static str)],
    key: &str,
    lang: Language,
) -> Option<&'static str> {
    table.iter().find(|(k, ..)| *k == key).map(|(_, fr, en)| if lang == Language::En { *en } else { *fr })
}

/// A message of the interface. An unknown key is a programming error: it
/// shows as itself and fails `every_message_used_by_templates_exists`.
pub fn t(lang: Language, key: &str) -> &'static str {
    lookup(MESSAGES, key, lang).unwrap_or("??")
}

/// The label of a vocabulary code (type, priority…), or the code itself.
pub fn label(lang: Language, code: &str) -> String {
    lookup(CODES, code, lang).map_or_else(|| code.to_owned(), str::to_owned)
}

/// The preferred supported language of an `Accept-Language` header.
pub fn from_accept_language(header: &str) -> Option<Language> {
    let mut best: Option<(f32, Language)> = None;
    for part in header.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("fr") => Language::Fr,
            Some("en") => Language::En,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_used_by_templates_exists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(lookup(MESSAGES, key, Language::Fr).is_some(), "{}: missing message `{key}`", path.display());
            }
        }
    }

    #[test]
    fn keys_are_unique() {
        for table in [MESSAGES, CODES] {
            let mut keys: Vec<_> = table.iter().map(|(k, ..)| k).collect();
            keys.sort();
            let before = keys.len();
            keys.dedup();
            assert_eq!(before, keys.len());
        }
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(from_accept_language("en-GB,en;q=0.9,fr;q=0.8"), Some(Language::En));
        assert_eq!(from_accept_language("de-DE,fr;q=0.5,en;q=0.4"), Some(Language::Fr));
        assert_eq!(from_accept_language("de"), None);
    }

    #[test]
    fn every_vocabulary_code_has_a_label() {
        use guichet_domain::ticket::*;
        let codes = TicketType::ALL
            .iter()
            .map(|c| c.as_str())
            .chain(Priority::ALL.iter().map(|c| c.as_str()))
            .chain(Channel::ALL.iter().map(|c| c.as_str()))
            .chain(Tier::ALL.iter().map(|c| c.as_str()))
            .chain(Outcome::ALL.iter().map(|c| c.as_str()))
            .chain(Profile::ALL.iter().map(|c| c.as_str()))
            .chain(Resolution::ALL.iter().map(|c| c.as_str()));
        for code in codes {
            assert!(lookup(CODES, code, Language::En).is_some(), "{code}");
        }
    }
}
