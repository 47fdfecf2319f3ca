//! The demo data set: deterministic, realistic French data for trying Guichet
//! and for benchmarks. The same seed always gives the same data.

use crate::auth::{hash_password, hash_token};
use crate::{App, AppError};
use chrono::{DateTime, Datelike, Duration, Utc};
use guichet_domain::establishment::{NewEstablishment, Uai};
use guichet_domain::ids::EstablishmentId;
use guichet_domain::user::{EmailAddress, Language, NewUser, Role};
use guichet_store::demo::{BulkComment, BulkEvent, BulkTicket};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "guichet-demo";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub establishments: usize,
    pub tickets: usize,
    pub seed: u64,
    /// Tickets written so far, for a caller that shows progress.
    pub written: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { establishments: 40, tickets: 600, seed: 42, written: Default::default() }
    }
}

/// A demo account to print: who, and an API token for them.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: Role,
    pub email: String,
    pub name: String,
    pub token: String,
}

#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    pub establishments: usize,
    pub users: usize,
    pub tickets: usize,
    pub comments: usize,
    pub logins: Vec<DemoLogin>,
}

// Académies of the Île-de-France region, with the départements they cover.
/// A département number and some of its towns.
type Departement = (u32, &'static [&'static str]);

/// An académie: its name, the number of its UAI and its départements.
const ACADEMIES: &[(&str, u32, &[Departement])] = &[
    ("Académie de Paris", 759_990, &[(75, &["Paris"])]),
    (
        "Académie de Créteil",
        949_990,
        &[
            (77, &["Melun", "Meaux", "Chelles", "Pontault-Combault", "Savigny-le-Temple", "Torcy"]),
            (93, &["Saint-Denis", "Montreuil", "Aubervilliers", "Aulnay-sous-Bois", "Bobigny", "Pantin", "Bondy"]),
            (94, &["Créteil", "Vitry-sur-Seine", "Champigny-sur-Marne", "Saint-Maur-des-Fossés", "Ivry-sur-Seine"]),
        ],
    ),
    (
        "Académie de Versailles",
        789_990,
        &[
            (78, &["Versailles", "Saint-Germain-en-Laye", "Mantes-la-Jolie", "Poissy", "Rambouillet"]),
            (91, &["Évry-Courcouronnes", "Massy", "Corbeil-Essonnes", "Palaiseau", "Savigny-sur-Orge"]),
            (92, &["Nanterre", "Boulogne-Billancourt", "Colombes", "Antony", "Rueil-Malmaison", "Clamart"]),
            (95, &["Cergy", "Argenteuil", "Sarcelles", "Pontoise", "Franconville"]),
        ],
    ),
];

const NAMESAKES: &[&str] = &[
    "Victor Hugo",
    "Jean Jaurès",
    "Marie Curie",
    "Louise Michel",
    "Voltaire",
    "Condorcet",
    "Jules Ferry",
    "Paul Éluard",
    "Simone Weil",
    "Albert Camus",
    "Jean Moulin",
    "Georges Brassens",
    "Camille Claudel",
    "Romain Rolland",
    "Gustave Eiffel",
    "Olympe de Gouges",
    "Lavoisier",
    "Montesquieu",
    "Jacques Prévert",
    "Marcelin Berthelot",
    "Henri Wallon",
    "Paul Langevin",
    "Émile Zola",
    "Colette",
    "Germaine Tillion",
    "Léonard de Vinci",
    "Arthur Rimbaud",
    "Aimé Césaire",
    "Honoré de Balzac",
    "Rosa Parks",
    "Claude Monet",
    "Lucie Aubrac",
    "Jean-Pierre Timbaud",
    "Maximilien Perret",
    "Eugène Delacroix",
    "George Sand",
];
const KINDS: &[&str] = &["Lycée", "Lycée", "Lycée polyvalent", "Lycée professionnel", "Lycée général et technologique"];
const FIRST_NAMES: &[&str] = &[
    "Nathalie",
    "Stéphane",
    "Isabelle",
    "Karim",
    "Sophie",
    "Laurent",
    "Fatima",
    "Philippe",
    "Céline",
    "Mamadou",
    "Valérie",
    "Thomas",
    "Sandrine",
    "Olivier",
    "Nadia",
    "Frédéric",
    "Aurélie",
    "Julien",
    "Hélène",
    "Mehdi",
    "Catherine",
    "Nicolas",
    "Samia",
    "Christophe",
    "Émilie",
    "Vincent",
    "Agnès",
    "Rachid",
    "Delphine",
    "Bruno",
];
const LAST_NAMES: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Benali",
    "Traoré",
    "Nguyen",
    "Haddad",
    "Diallo",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
];

/// (category code, ENT service, titles, descriptions).
const SUBJECTS: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "accounts",
        "Annuaire et comptes",
        &[
            "Mot de passe élève perdu, pas d'adresse mail valide",
            "Réinitialisation du mot de passe d'un enseignant",
            "Compte parent introuvable après l'import",
            "Élève arrivé en cours d'année sans compte",
            "Compte enseignant désactivé par erreur",
        ],
        &[
            "Un élève de seconde a perdu son mot de passe et n'a pas d'adresse mail valide dans l'ENT, je ne peux donc pas le régénérer depuis la console. Pouvez-vous le faire pour nous ?",
            "Depuis la mise à jour de l'annuaire, plusieurs comptes parents ne remontent plus. Les familles ne reçoivent pas leurs identifiants.",
            "Un collègue arrivé lundi n'a toujours pas de compte. Il apparaît bien dans STSWeb.",
        ],
    ),
    (
        "mail",
        "Messagerie",
        &[
            "La messagerie ne s'ouvre plus",
            "Pièces jointes impossibles à envoyer",
            "Messages reçus en double",
            "Boîte de réception vide depuis ce matin",
            "Message d'erreur à l'envoi vers une liste de diffusion",
        ],
        &[
            "Depuis ce matin, plusieurs enseignants obtiennent une page blanche en ouvrant la messagerie. Le problème touche Firefox et Chrome.",
            "Impossible de joindre un fichier de plus de 2 Mo, le message part sans la pièce jointe et sans erreur.",
            "Les élèves voient leur boîte vide alors que les messages apparaissent chez l'expéditeur.",
        ],
    ),
    (
        "homework",
        "Cahier de textes",
        &[
            "Séances du cahier de textes disparues",
            "Impossible d'ajouter un devoir à une classe",
            "Le cahier de textes n'affiche pas les groupes",
            "Erreur à l'enregistrement d'une séance",
        ],
        &[
            "Une enseignante de mathématiques ne retrouve plus les séances saisies la semaine dernière pour la 1re STMG2.",
            "Au moment d'enregistrer un devoir, le bouton reste grisé. Capture d'écran jointe.",
            "Les groupes de langue n'apparaissent pas dans la liste des destinataires du cahier de textes.",
        ],
    ),
    (
        "grades",
        "Notes et compétences",
        &[
            "Moyennes incorrectes dans le relevé",
            "Export des notes vers le bulletin en échec",
            "Compétences non visibles pour les parents",
        ],
        &[
            "Le calcul de la moyenne ne prend pas en compte les coefficients saisis par le professeur principal.",
            "L'export vers l'outil de bulletins s'arrête avec une erreur 500 au bout de quelques secondes.",
        ],
    ),
    (
        "timetable",
        "Emploi du temps",
        &[
            "Emploi du temps non mis à jour",
            "Salles absentes de l'emploi du temps",
            "Import de l'emploi du temps refusé",
        ],
        &[
            "L'import hebdomadaire de l'emploi du temps n'a pas été pris en compte, les élèves voient encore l'ancien planning.",
            "Les changements de salle saisis hier n'apparaissent pas dans l'ENT.",
        ],
    ),
    (
        "documents",
        "Espace documentaire",
        &[
            "Quota de l'espace documents atteint",
            "Documents partagés introuvables",
            "Proposition : dossiers partagés par équipe pédagogique",
        ],
        &[
            "Les enseignants de la section européenne ne voient plus les documents partagés du dossier commun.",
            "Il serait utile de pouvoir créer un dossier partagé pour chaque équipe pédagogique, avec des droits différents pour les élèves.",
        ],
    ),
    (
        "network",
        "Accès et réseau",
        &[
            "ENT très lent depuis le réseau du lycée",
            "Page de connexion bloquée par le filtrage",
            "Déconnexions fréquentes en salle informatique",
        ],
        &[
            "Depuis les postes du lycée, l'ENT met plus d'une minute à charger ; depuis un téléphone en 4G tout va bien.",
            "Le proxy de l'établissement semble bloquer la page de connexion, les élèves voient une erreur de certificat.",
        ],
    ),
    (
        "other",
        "Autre",
        &[
            "Question sur la procédure de rentrée",
            "Demande de formation pour les nouveaux enseignants",
            "Proposition : notification par SMS aux familles",
        ],
        &[
            "Nous préparons la rentrée et souhaitons savoir quand les comptes de l'année seront créés.",
            "Serait-il possible d'organiser une session de prise en main pour l'équipe arrivée cette année ?",
        ],
    ),
];

const REQUESTER_REPLIES: &[&str] = &[
    "Merci pour votre retour rapide. Je vous joins une capture d'écran du message d'erreur.",
    "Le problème se produit sur tous les postes de la salle 204, avec Firefox et Edge.",
    "C'est bon de notre côté, tout fonctionne à nouveau. Merci !",
    "Le problème persiste ce matin malgré la manipulation proposée.",
    "Oui, l'élève a pu se reconnecter avec le nouveau mot de passe.",
    "Je vous confirme qu'il s'agit d'un profil enseignant, pas d'un élève.",
];
const AGENT_REPLIES: &[&str] = &[
    "Bonjour, nous avons bien reçu votre demande. Pouvez-vous nous indiquer le navigateur utilisé et l'heure approximative du problème ?",
    "Le mot de passe a été réinitialisé. L'élève pourra le changer à sa première connexion.",
    "Nous n'arrivons pas à reproduire le problème depuis notre poste : il peut venir du filtrage du réseau de l'établissement. Pouvez-vous vérifier avec votre prestataire ?",
    "Nous avons transmis votre demande à l'équipe technique, nous revenons vers vous dès que nous avons une réponse.",
    "Le correctif a été déployé ce matin, pouvez-vous vérifier de votre côté ?",
    "Merci pour votre proposition, elle sera étudiée lors du prochain comité des évolutions.",
];
const INTERNAL_NOTES: &[&str] = &[
    "Reproduit sur la recette avec un profil enseignant, même comportement.",
    "Non reproduit depuis le support : probablement le proxy du lycée (cause locale).",
    "Déjà vu la semaine dernière sur un autre établissement, voir le ticket lié.",
    "Escalade : reproduit sous Firefox 115 ESR uniquement, logs joints pour l'équipe technique.",
    "Appel de l'administrateur local à 14h10, il rappellera après vérification.",
];

const HOUR_MICROS: i64 = 3_600_000_000;

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// Picks one of a list of static codes.
fn pick_code(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    items[rng.gen_range(0..items.len())]
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'à' | 'â' => 'a',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect()
}

struct DemoDirectory {
    /// (establishment id, its requesters' ids)
    establishments: Vec<(EstablishmentId, Vec<i64>)>,
    agents: Vec<i64>,
    technicians: Vec<i64>,
    /// Staff names, for history entries.
    names: std::collections::HashMap<i64, String>,
}

impl App {
    /// Loads the demo data set (or adds to it: the directory is reused, tickets are appended).
    pub async fn load_demo(&self, options: &DemoOptions) -> Result<DemoReport, AppError> {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let mut report = DemoReport::default();
        let directory = self.demo_directory(&mut rng, options, &mut report).await?;
        self.demo_tickets(&mut rng, options, &directory, &mut report).await?;
        if options.tickets > 0 {
            self.demo_chain(&directory, &report).await?;
            self.demo_articles(&directory).await?;
            // As the clock job keeps a running desk's (daily): the figures
            // measured on the demo are those of a maintained base.
            self.db.merge_search().await?;
            // Each filing appended a row to the report's hourly counts
            // (PostgreSQL), which the clock job folds each minute: folded now,
            // so that a report or a bench right after the load reads one row
            // an hour (a month's created vs resolved at 1M: 160 ms unfolded).
            let mut conn = self.db.conn().await?;
            guichet_store::reports::fold_hour_counts(&mut conn).await?;
            guichet_store::reports::compact_hour_counts(&mut conn).await?;
        }
        Ok(report)
    }

    /// A few knowledge-base articles, one per audience, as a desk writes them
    /// for its most frequent questions.
    async fn demo_articles(&self, directory: &DemoDirectory) -> Result<(), AppError> {
        use crate::kb::ArticleInput;
        let Some(agent) = directory.agents.first() else { return Ok(()) };
        let mut conn = self.db.conn().await?;
        let agent = crate::auth::Principal::from_user(
            guichet_store::users::find_user(&mut conn, guichet_domain::ids::UserId(*agent)).await?,
        );
        drop(conn);
        let articles = [
            (
                "Réinitialiser le mot de passe d'un élève",
                "Un élève qui a oublié son mot de passe n'a pas besoin d'appeler le support.\n\n\
                 1. Dans l'ENT, ouvrez **Administration > Comptes**.\n\
                 2. Cherchez l'élève par son nom, puis choisissez **Réinitialiser le mot de passe**.\n\
                 3. Remettez-lui la fiche de connexion imprimée : il choisira un nouveau mot de passe à la première connexion.\n\n\
                 Si le compte n'a pas d'adresse e-mail valide, la réinitialisation passe forcément par vous.",
                "schools",
                "mot de passe, oubli, élève, compte, réinitialisation",
                "accounts",
            ),
            (
                "Je n'arrive pas à me connecter à l'ENT",
                "Vérifiez d'abord l'adresse de connexion de votre établissement et les majuscules de votre identifiant.\n\n\
                 Si vous avez oublié votre mot de passe, demandez à l'administrateur ENT de votre établissement de le \
                 réinitialiser : il peut le faire tout de suite.",
                "public",
                "connexion, mot de passe, identifiant",
                "accounts",
            ),
            (
                "Procédure interne : comptes sans adresse e-mail",
                "Vérifier l'import annuaire de la nuit avant toute correction manuelle ; ne jamais saisir d'adresse \
                 personnelle d'élève.",
                "desk",
                "annuaire, import, e-mail",
                "accounts",
            ),
        ];
        for (title, body, audience, keywords, category) in articles {
            let input = ArticleInput {
                title: title.into(),
                body: body.into(),
                audience: audience.into(),
                keywords: keywords.into(),
                category: Some(category.into()),
                published: true,
                ..ArticleInput::default()
            };
            self.create_article(&agent, input, None).await?;
        }
        Ok(())
    }

    /// The chain of support at work, through the use cases themselves: a
    /// major incident six schools reported and the desk resolved, two HELP
    /// messages for the demo school's administrators, and linked requests.
    async fn demo_chain(&self, directory: &DemoDirectory, report: &DemoReport) -> Result<(), AppError> {
        use crate::auth::Principal;
        use crate::incidents::DeclareIncident;
        use crate::tickets::CreateTicket;
        let Some(agent) = directory.agents.first() else { return Ok(()) };
        let mut conn = self.db.conn().await?;
        let agent = Principal::from_user(
            guichet_store::users::find_user(&mut conn, guichet_domain::ids::UserId(*agent)).await?,
        );
        let mut keys = Vec::new();
        let reports = [
            "Connexion à l'ENT impossible ce matin",
            "Impossible de se connecter à l'ENT",
            "ENT : la connexion échoue pour tous les élèves",
            "Page de connexion ENT inaccessible",
            "Connexion impossible, erreur 502",
            "Plus de connexion à l'ENT depuis 8h",
        ];
        for ((establishment, requesters), title) in directory.establishments.iter().zip(reports) {
            let Some(requester) = requesters.first() else { continue };
            let user = guichet_store::users::find_user(&mut conn, guichet_domain::ids::UserId(*requester)).await?;
            let uai = guichet_store::establishments::find_establishments(&mut conn, &[*establishment]).await?;
            let Some(uai) = uai.first().map(|e| e.uai.to_string()) else { continue };
            let create = CreateTicket {
                title: title.into(),
                description: "Les élèves et les enseignants obtiennent une erreur à la page de connexion.".into(),
                establishment: uai,
                ..CreateTicket::default()
            };
            let created = self.create_ticket(&Principal::from_user(user), create).await?;
            keys.push(self.key(created.record.ticket.id));
        }
        drop(conn);
        let declare = DeclareIncident {
            title: "Connexion à l'ENT impossible".into(),
            service: "Authentification (CAS)".into(),
            public_message:
                "La connexion à l'ENT est impossible pour tous les établissements. Nos équipes rétablissent le service."
                    .into(),
            started_at: None,
            tickets: keys.clone(),
        };
        let incident = self.declare_incident(&agent, declare).await?;
        self.resolve_incident(
            &agent,
            incident.incident.id,
            "Le service d'authentification est rétabli : la connexion à l'ENT fonctionne de nouveau. Merci de votre patience.",
            Some("The sign-in service is back: you can sign in to the ENT again. Thank you for your patience."),
        )
        .await?;
        if let [first, second, ..] = keys.as_slice() {
            self.link_tickets(&agent, second, guichet_domain::incident::LinkKind::RelatesTo, first).await?;
        }
        // Two HELP messages for the school of the demo's requester login.
        let requester = report.logins.iter().find(|l| l.role == Role::Requester);
        if let Some(login) = requester {
            let mut conn = self.db.conn().await?;
            let email = guichet_domain::user::EmailAddress::parse(&login.email)?;
            let user = guichet_store::users::find_user_by_email(&mut conn, &email).await?;
            let school = match user.map(|u| u.establishments) {
                Some(ids) if !ids.is_empty() => {
                    guichet_store::establishments::find_establishments(&mut conn, &ids[..1]).await?
                }
                _ => Vec::new(),
            };
            drop(conn);
            if let Some(school) = school.first() {
                for (profile, name, message) in [
                    ("student", "Inès Moreau", "Je n'arrive plus à ouvrir le cahier de textes depuis hier soir."),
                    ("parent", "Marc Lefèvre", "Je n'ai pas reçu mes identifiants parent pour mon fils en 5e B."),
                ] {
                    let help = crate::help::HelpRequest {
                        uai: school.uai.to_string(),
                        profile: profile.into(),
                        name: name.into(),
                        message: message.into(),
                        client: "demo".into(),
                        ..crate::help::HelpRequest::default()
                    };
                    self.submit_help(help).await?;
                }
            }
        }
        Ok(())
    }

    async fn demo_directory(
        &self,
        rng: &mut ChaCha8Rng,
        options: &DemoOptions,
        report: &mut DemoReport,
    ) -> Result<DemoDirectory, AppError> {
        let now = self.now();
        let password_hash = hash_password(DEMO_PASSWORD)?;
        let mut tx = self.db.begin().await?;
        let mut used = std::collections::HashSet::new();
        let mut parents = Vec::new();
        for (name, number, _) in ACADEMIES {
            let uai = Uai::from_number(*number);
            used.insert(uai.clone());
            let new = NewEstablishment {
                uai: uai.clone(),
                name: (*name).into(),
                town: "Île-de-France".into(),
                parent_uai: None,
            };
            guichet_store::establishments::upsert_establishment(&mut tx, &new, now).await?;
            parents.push(uai);
        }
        let mut schools = Vec::with_capacity(options.establishments);
        while schools.len() < options.establishments {
            let a = rng.gen_range(0..ACADEMIES.len());
            let (_, _, departements) = ACADEMIES[a];
            let (dept, towns) = *pick(rng, departements);
            let uai = Uai::from_number(dept * 10_000 + rng.gen_range(0..9_990));
            if !used.insert(uai.clone()) {
                continue;
            }
            let town = (*pick(rng, towns)).to_owned();
            let name = format!("{} {}", pick(rng, KINDS), pick(rng, NAMESAKES));
            let new = NewEstablishment { uai, name, town, parent_uai: Some(parents[a].clone()) };
            let (e, _) = guichet_store::establishments::upsert_establishment(&mut tx, &new, now).await?;
            schools.push(e);
        }
        report.establishments = schools.len() + parents.len();

        let add_user = async |tx: &mut guichet_store::Conn,
                              email: String,
                              name: String,
                              role: Role,
                              language: Language,
                              phones: Vec<String>,
                              establishments: Vec<EstablishmentId>|
               -> Result<i64, AppError> {
            let email = EmailAddress::parse(&email)?;
            if let Some(existing) = guichet_store::users::find_user_by_email(tx, &email).await? {
                return Ok(existing.id.0);
            }
            let new = NewUser { email, name, role, language, phones, establishment_uais: Vec::new() };
            let user = guichet_store::users::insert_user(tx, &new, &establishments, Some(&password_hash), now).await?;
            Ok(user.id.0)
        };
        let staff: &[(&str, &str, Role)] = &[
            ("admin@guichet.test", "Responsable du support", Role::Admin),
            ("claire.oreja@guichet.test", "Claire Oreja", Role::Agent),
            ("freddy.calif@guichet.test", "Freddy Calif", Role::Agent),
            ("lofti.messaoudi@guichet.test", "Lofti Messaoudi", Role::Agent),
            ("technique.bordeaux@guichet.test", "Équipe technique Bordeaux", Role::Technician),
            ("julie.marchand@guichet.test", "Julie Marchand", Role::Technician),
        ];
        let mut directory = DemoDirectory {
            establishments: Vec::new(),
            agents: Vec::new(),
            technicians: Vec::new(),
            names: std::collections::HashMap::new(),
        };
        let mut staff_ids = Vec::new();
        for (email, name, role) in staff {
            let id =
                add_user(&mut tx, (*email).into(), (*name).into(), *role, Language::Fr, Vec::new(), Vec::new()).await?;
            match role {
                Role::Agent => directory.agents.push(id),
                Role::Technician => directory.technicians.push(id),
                _ => {}
            }
            directory.names.insert(id, (*name).to_owned());
            staff_ids.push((*role, *email, *name, id));
        }
        for (index, school) in schools.iter().enumerate() {
            let mut requesters = Vec::new();
            for _ in 0..rng.gen_range(1..=2) {
                let first = *pick(rng, FIRST_NAMES);
                let last = *pick(rng, LAST_NAMES);
                let email = format!(
                    "{}.{}.{}@ac-idf.test",
                    ascii_slug(first),
                    ascii_slug(last),
                    school.uai.as_str().to_ascii_lowercase()
                );
                let phone = format!("01{:08}", rng.gen_range(0..100_000_000u32));
                // A few administrators prefer English, to show both languages.
                let language = if index % 10 == 3 { Language::En } else { Language::Fr };
                let id = add_user(
                    &mut tx,
                    email,
                    format!("{first} {last}"),
                    Role::Requester,
                    language,
                    vec![phone],
                    vec![school.id],
                )
                .await?;
                requesters.push(id);
            }
            directory.establishments.push((school.id, requesters));
        }
        report.users = staff.len() + directory.establishments.iter().map(|(_, r)| r.len()).sum::<usize>();

        // The desk takes turns: one agent on duty each open day, for two weeks.
        let today = self.local_now().0;
        for offset in 0..14 {
            let day = today + Duration::days(offset);
            if !directory.agents.is_empty() && !self.calendar().ranges_on(day).is_empty() {
                let agent = directory.agents[(day.ordinal() as usize) % directory.agents.len()];
                guichet_store::rota::insert_duty(&mut tx, &day.to_string(), "day", guichet_domain::ids::UserId(agent))
                    .await?;
            }
        }

        // Tokens derive from the seed, so that the same demo always prints the same ones.
        let first_requester = directory.establishments.first().and_then(|(_, r)| r.first()).copied();
        // One account per role: admin, agent, technician, requester.
        let mut logins: Vec<(Role, i64)> = Vec::new();
        for role in [Role::Admin, Role::Agent, Role::Technician] {
            if let Some((.., id)) = staff_ids.iter().find(|(r, ..)| *r == role) {
                logins.push((role, *id));
            }
        }
        if let Some(id) = first_requester {
            logins.push((Role::Requester, id));
        }
        let mut token_rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x0067_7569_6368_6574);
        for (role, id) in logins {
            let mut bytes = [0u8; 24];
            token_rng.fill_bytes(&mut bytes);
            let token = format!("gch_demo{}", hex::encode(bytes));
            let user = guichet_store::users::find_user(&mut tx, guichet_domain::ids::UserId(id)).await?;
            let hash = hash_token(&token);
            if guichet_store::tokens::find_token_by_hash(&mut tx, &hash).await?.is_none() {
                let expires = now + chrono::Duration::days(i64::from(self.settings.sign_in.token_days));
                guichet_store::tokens::insert_token(&mut tx, user.id, "demo", &hash, now, expires).await?;
            }
            report.logins.push(DemoLogin { role, email: user.email.as_str().into(), name: user.name, token });
        }
        tx.commit().await?;
        Ok(directory)
    }

    async fn demo_tickets(
        &self,
        rng: &mut ChaCha8Rng,
        options: &DemoOptions,
        directory: &DemoDirectory,
        report: &mut DemoReport,
    ) -> Result<(), AppError> {
        if directory.establishments.is_empty() || options.tickets == 0 {
            return Ok(());
        }
        let now = self.now();
        let now_micros = now.timestamp_micros();
        let mut conn = self.db.conn().await?;
        let categories = guichet_store::categories::list_categories(&mut conn).await?;
        let (mut ticket_id, mut comment_id) = guichet_store::demo::max_ids(&mut conn).await?;
        drop(conn);
        const BATCH: usize = 5_000;
        let mut remaining = options.tickets;
        // PostgreSQL's recency indexes are made once after the load rather
        // than kept up to date through it: 39 s for the 50,000-ticket demo
        // instead of 92 (docs/performance.md).
        let paused = self.db.pause_recency_indexes().await?;
        let loaded = async {
            while remaining > 0 {
                let size = remaining.min(BATCH);
                let mut tickets = Vec::with_capacity(size);
                let mut comments = Vec::with_capacity(size * 3);
                let mut events = Vec::with_capacity(size * 4);
                for _ in 0..size {
                    ticket_id += 1;
                    let mut ticket = demo_ticket(rng, ticket_id, now, directory, &categories);
                    demo_conversation(
                        rng,
                        &mut ticket,
                        now_micros,
                        directory,
                        &mut comment_id,
                        &mut comments,
                        &mut events,
                    );
                    tickets.push(ticket);
                }
                let mut tx = self.db.begin().await?;
                guichet_store::demo::insert_batch(&mut tx, &tickets, &comments, &events).await?;
                tx.commit().await?;
                report.tickets += tickets.len();
                report.comments += comments.len();
                options.written.fetch_add(tickets.len(), std::sync::atomic::Ordering::Relaxed);
                remaining -= size;
            }
            Ok::<_, AppError>(())
        }
        .await;
        if paused {
            self.db.resume_recency_indexes().await?;
        }
        loaded?;
        let mut tx = self.db.begin().await?;
        guichet_store::demo::reset_sequences(&mut tx).await?;
        guichet_store::demo::canned_usage(&mut tx, report.tickets).await?;
        tx.commit().await?;
        let mut conn = self.db.conn().await?;
        guichet_store::demo::analyze(&mut conn).await?;
        Ok(())
    }
}

/// Moves an instant into the desk's afternoon, when requests mostly arrive.
fn in_opening_hours(rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> i64 {
    let day_start = t.timestamp_micros() - t.timestamp_micros().rem_euclid(24 * HOUR_MICROS);
    day_start + rng.gen_range(7 * HOUR_MICROS..18 * HOUR_MICROS)
}

fn demo_ticket(
    rng: &mut ChaCha8Rng,
    id: i64,
    now: DateTime<Utc>,
    directory: &DemoDirectory,
    categories: &[guichet_store::categories::Category],
) -> BulkTicket {
    let (establishment, requesters) = pick(rng, &directory.establishments);
    let requester = *pick(rng, requesters);
    let age_days = rng.gen_range(0.0f64..90.0).powf(1.15).min(89.9);
    let created = in_opening_hours(rng, now - Duration::minutes((age_days * 1440.0) as i64))
        .min(now.timestamp_micros() - 60_000_000);
    let (code, service, titles, descriptions) = *pick(rng, SUBJECTS);
    let category_id = categories.iter().find(|c| c.code == code).map(|c| c.id);
    let roll = rng.gen_range(0..100);
    let ticket_type = match roll {
        0..=9 => "unclassified",
        10..=54 => "assistance",
        55..=87 => "anomaly",
        _ => "evolution",
    };
    let priority = *pick(rng, &["low", "normal", "normal", "normal", "normal", "high", "high", "critical"]);
    let channel =
        *pick(rng, &["portal", "portal", "portal", "portal", "email", "email", "phone", "phone", "api", "help_form"]);
    let age_hours = (now.timestamp_micros() - created) / HOUR_MICROS;
    // Older requests are mostly done; recent ones mostly still open.
    let done = rng.gen_range(0..100) < (age_hours * 100 / (age_hours + 30)).min(95);
    let status: &'static str = match (ticket_type, done) {
        ("unclassified", _) => "new",
        ("evolution", false) => pick_code(rng, &["submitted", "under_review", "accepted", "planned"]),
        ("evolution", true) => pick_code(rng, &["declined", "delivered", "closed"]),
        (_, false) => pick_code(rng, &["new", "in_progress", "in_progress", "waiting_on_requester"]),
        (_, true) => pick_code(rng, &["resolved", "closed", "closed"]),
    };
    let resolved = matches!(status, "resolved" | "closed" | "declined" | "delivered");
    let resolved_at = resolved.then(|| {
        (created + rng.gen_range(HOUR_MICROS / 4..(age_hours.max(1) * HOUR_MICROS))).min(now.timestamp_micros())
    });
    // The desk closes a resolved request after five open days: an older one
    // still "resolved" would be closed by the server's first passes.
    const CLOSED_AFTER: i64 = 5 * 24 * HOUR_MICROS;
    let status = match resolved_at {
        Some(at) if status != "closed" && at + CLOSED_AFTER < now.timestamp_micros() => "closed",
        _ => status,
    };
    let closed_at = (status == "closed").then(|| resolved_at.unwrap_or(created));
    let first_response_at = (status != "new").then(|| created + rng.gen_range(HOUR_MICROS / 12..HOUR_MICROS * 6));
    let first_response_at =
        first_response_at.map(|f| f.min(resolved_at.unwrap_or(i64::MAX)).min(now.timestamp_micros()));
    let tier = if ticket_type == "anomaly" && rng.gen_range(0..100) < 20 { "technical" } else { "support" };
    let assignee_id = (status != "new" || rng.gen_bool(0.3)).then(|| {
        if tier == "technical" {
            *pick(rng, &directory.technicians)
        } else {
            *pick(rng, &directory.agents)
        }
    });
    let resolution = (resolved && ticket_type != "evolution").then(|| {
        *pick(rng, &["answered", "answered", "fixed", "fixed", "workaround", "local_cause", "not_reproduced"])
    });
    let updated_at = closed_at.or(resolved_at).or(first_response_at).unwrap_or(created);
    let sla = demo_sla(ticket_type, priority, created, first_response_at, resolved_at, now);
    BulkTicket {
        id,
        title: (*pick(rng, titles)).to_owned(),
        description: (*pick(rng, descriptions)).to_owned(),
        ticket_type,
        status,
        priority,
        category_id,
        channel,
        tier,
        requester_id: requester,
        establishment_id: establishment.0,
        assignee_id,
        repro_service: (ticket_type == "anomaly").then(|| service.to_owned()),
        repro_outcome: (ticket_type == "anomaly" && status != "new")
            .then(|| *pick(rng, &["reproduced", "reproduced", "not_reproduced", "local_cause"])),
        resolution,
        created_at: created,
        updated_at,
        first_response_at,
        resolved_at,
        closed_at,
        first_response_due: sla.first_response.due.map(|d| d.timestamp_micros()),
        resolution_due: sla.resolution.due.map(|d| d.timestamp_micros()),
        sla_state: Some(sla.state.as_str()),
        sla_next_check_at: sla.next_check.map(|d| d.timestamp_micros()),
        awaiting_desk: true,
    }
}

/// The service levels of a demo ticket, as the desk's default calendar counts them.
fn demo_sla(
    ticket_type: &str,
    priority: &str,
    created: i64,
    first_response_at: Option<i64>,
    resolved_at: Option<i64>,
    now: DateTime<Utc>,
) -> guichet_domain::sla::Status {
    use guichet_domain::ticket::{Priority, TicketType};
    let at = |m: i64| DateTime::from_timestamp_micros(m).unwrap_or(now);
    let facts = guichet_domain::sla::Facts {
        ticket_type: TicketType::parse(ticket_type).unwrap_or(TicketType::Unclassified),
        priority: Priority::parse(priority).unwrap_or(Priority::Normal),
        created_at: at(created),
        first_response_at: first_response_at.map(at),
        resolved_at: resolved_at.map(at),
        pauses: Vec::new(),
    };
    thread_local! {
        static DESK: (guichet_domain::calendar::Calendar, guichet_domain::sla::Policy) = Default::default();
    }
    DESK.with(|(calendar, policy)| guichet_domain::sla::evaluate(calendar, policy, &facts, now))
}

fn demo_conversation(
    rng: &mut ChaCha8Rng,
    t: &mut BulkTicket,
    now: i64,
    directory: &DemoDirectory,
    comment_id: &mut i64,
    comments: &mut Vec<BulkComment>,
    events: &mut Vec<BulkEvent>,
) {
    events.push(BulkEvent {
        ticket_id: t.id,
        actor_id: Some(t.requester_id),
        at: t.created_at,
        field: "created",
        old_value: None,
        new_value: Some(t.channel.into()),
        internal: false,
    });
    let agent = t.assignee_id.unwrap_or_else(|| *pick(rng, &directory.agents));
    let mut at = t.created_at;
    let end = t.resolved_at.unwrap_or(now);
    let count = if t.status == "new" { rng.gen_range(0..=1) } else { rng.gen_range(1..=6) };
    for i in 0..count {
        at = (at + rng.gen_range(HOUR_MICROS / 12..HOUR_MICROS * 4)).min(end);
        let (author, body, internal) = match (i, i % 3) {
            (0, _) => (agent, *pick(rng, AGENT_REPLIES), false),
            (_, 1) => (t.requester_id, *pick(rng, REQUESTER_REPLIES), false),
            (_, 2) => (agent, *pick(rng, INTERNAL_NOTES), true),
            _ => (agent, *pick(rng, AGENT_REPLIES), false),
        };
        *comment_id += 1;
        comments.push(BulkComment {
            id: *comment_id,
            ticket_id: t.id,
            author_id: author,
            body: body.to_owned(),
            internal,
            channel: if author == t.requester_id { t.channel } else { "portal" },
            created_at: at,
        });
        if !internal {
            t.awaiting_desk = author == t.requester_id;
        }
        events.push(BulkEvent {
            ticket_id: t.id,
            actor_id: Some(author),
            at,
            field: "comment",
            old_value: None,
            new_value: Some(if internal { "internal_note" } else { "reply" }.into()),
            internal,
        });
    }
    if let Some(assignee) = t.assignee_id {
        events.push(BulkEvent {
            ticket_id: t.id,
            actor_id: Some(agent),
            at: t.first_response_at.unwrap_or(t.created_at),
            field: "assignee",
            old_value: None,
            new_value: directory.names.get(&assignee).cloned(),
            internal: false,
        });
    }
    if t.status != "new" && t.status != "submitted" {
        events.push(BulkEvent {
            ticket_id: t.id,
            actor_id: Some(agent),
            at: t.resolved_at.unwrap_or(at),
            field: "status",
            old_value: Some(if t.ticket_type == "evolution" { "submitted" } else { "new" }.into()),
            new_value: Some(t.status.into()),
            internal: false,
        });
    }
    if t.tier == "technical" {
        events.push(BulkEvent {
            ticket_id: t.id,
            actor_id: Some(agent),
            at: t.first_response_at.unwrap_or(t.created_at),
            field: "tier",
            old_value: Some("support".into()),
            new_value: Some("technical".into()),
            internal: true,
        });
    }
}
