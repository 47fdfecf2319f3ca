//! Major incidents, links between tickets, hand-overs between tiers, and the
//! text similarity that lets Guichet notice many schools reporting one outage.

use crate::error::{DomainError, FieldError};
use crate::ids::{EstablishmentId, TicketId};
use crate::search::fold;
use crate::ticket::Tier;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

crate::vocabulary!(
    /// How one ticket relates to another, read from the ticket that says it.
    LinkKind, "link", {
        DuplicateOf => "duplicate_of",
        RelatesTo => "relates_to",
        Blocks => "blocks",
    }
);

pub const INCIDENT_TITLE_MAX: usize = 200;
pub const INCIDENT_MESSAGE_MAX: usize = 5_000;
pub const HANDOVER_SUMMARY_MIN: usize = 10;
pub const HANDOVER_SUMMARY_MAX: usize = 20_000;

/// A validated incident about to be declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    /// The ENT service concerned (messagerie, cahier de textes…).
    pub service: String,
    /// What requesters read on the portal's banner.
    pub public_message: String,
    pub started_at: DateTime<Utc>,
}

impl NewIncident {
    pub fn new(
        title: &str,
        service: &str,
        public_message: &str,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let title = crate::establishment::required(&mut errors, "title", title, INCIDENT_TITLE_MAX);
        let service = crate::establishment::required(&mut errors, "service", service, INCIDENT_TITLE_MAX);
        let public_message =
            crate::establishment::required(&mut errors, "public_message", public_message, INCIDENT_MESSAGE_MAX);
        if started_at > now + chrono::Duration::minutes(5) {
            errors.push(FieldError::new("started_at", "an incident cannot start in the future"));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        Ok(Self { title, service, public_message, started_at })
    }
}

/// Which way a ticket moves between the desk's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// Level 1 → level 2.
    Escalate,
    /// Level 2 → level 1.
    HandBack,
    /// The school's administrators → level 1.
    Forward,
}

impl Handover {
    pub fn from_to(self) -> (Tier, Tier) {
        match self {
            Handover::Escalate => (Tier::Support, Tier::Technical),
            Handover::HandBack => (Tier::Technical, Tier::Support),
            Handover::Forward => (Tier::Establishment, Tier::Support),
        }
    }

    /// Checks the ticket's tier and the summary the receiving level reads
    /// first. A forward from a school needs none: the conversation says it.
    pub fn check(self, current: Tier, summary: &str) -> Result<String, DomainError> {
        let (from, to) = self.from_to();
        if current != from {
            return Err(DomainError::field(
                "tier",
                format!("the request is at tier `{current}`, not `{from}`: it cannot go to `{to}`"),
            ));
        }
        let summary = summary.trim();
        let needed = if self == Handover::Forward { 0 } else { HANDOVER_SUMMARY_MIN };
        let length = summary.chars().count();
        if length < needed {
            return Err(DomainError::field(
                "summary",
                format!(
                    "a hand-over needs a summary of at least {needed} characters: what was tried, how to reproduce"
                ),
            ));
        }
        if length > HANDOVER_SUMMARY_MAX {
            return Err(DomainError::field(
                "summary",
                format!("the summary is longer than {HANDOVER_SUMMARY_MAX} characters"),
            ));
        }
        Ok(summary.to_owned())
    }
}

/// Words too common in requests to say two of them are about the same thing.
const STOP_WORDS: &[&str] = &[
    "a",
    "au",
    "aux",
    "avec",
    "ce",
    "ces",
    "cette",
    "dans",
    "de",
    "des",
    "du",
    "elle",
    "en",
    "est",
    "et",
    "il",
    "ils",
    "je",
    "la",
    "le",
    "les",
    "leur",
    "lui",
    "ma",
    "mais",
    "me",
    "mes",
    "mon",
    "ne",
    "nos",
    "notre",
    "nous",
    "on",
    "ou",
    "par",
    "pas",
    "plus",
    "pour",
    "qu",
    "que",
    "qui",
    "sa",
    "se",
    "ses",
    "son",
    "sont",
    "sur",
    "ta",
    "te",
    "tes",
    "ton",
    "tu",
    "un",
    "une",
    "vos",
    "votre",
    "vous",
    "y",
    "depuis",
    "bonjour",
    "merci",
    "cordialement",
    "probleme",
    "nos",
    "the",
    "is",
    "are",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "it",
    "not",
    "for",
    "with",
    "hello",
    "thanks",
    "ne",
    "n",
    "l",
    "d",
    "j",
    "c",
    "s",
    "m",
    "t",
    "plus",
    "tres",
    "fait",
    "faire",
    "etre",
    "avoir",
    "ai",
    "as",
    "ont",
    "sommes",
];

/// The distinctive words of a text: folded, without stop words, with a
/// crude French plural/feminine strip so that "messageries" meets "messagerie".
pub fn signature(text: &str) -> BTreeSet<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(w))
        .map(|w| {
            let w = w.strip_suffix('s').filter(|s| s.chars().count() >= 4).unwrap_or(w);
            w.strip_suffix('x').filter(|s| s.chars().count() >= 4).unwrap_or(w).to_owned()
        })
        .collect()
}

/// How alike two signatures are: the share of the smaller one found in the
/// other (short titles meeting long descriptions still score well).
pub fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / smaller as f64
}

/// When to propose an incident: at least `tickets` requests from at least
/// `establishments` schools within `window`, alike to at least `threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProposalRule {
    pub tickets: usize,
    pub establishments: usize,
    pub window: chrono::Duration,
    pub threshold: f64,
}

impl Default for ProposalRule {
    fn default() -> Self {
        Self { tickets: 5, establishments: 3, window: chrono::Duration::minutes(30), threshold: 0.5 }
    }
}

/// A recent open ticket not yet part of an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: TicketId,
    pub establishment: EstablishmentId,
    pub created_at: DateTime<Utc>,
    pub text: String,
}

/// A group of alike tickets Guichet proposes to gather under an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub tickets: Vec<TicketId>,
    pub establishments: usize,
    /// The words the group shares, most shared first: a title to start from.
    pub common_words: Vec<String>,
}

/// Groups candidates that look alike and arrived close together. Each
/// candidate seeds a group of those within the window that resemble it; the
/// largest group that passes the rule wins, its tickets leave the pool, and
/// so on. Pure and bounded by the candidates of one window, so quadratic is fine.
pub fn propose(candidates: &[Candidate], rule: &ProposalRule) -> Vec<Proposal> {
    let signatures: Vec<BTreeSet<String>> = candidates.iter().map(|c| signature(&c.text)).collect();
    let mut taken = vec![false; candidates.len()];
    let mut proposals = Vec::new();
    loop {
        let mut best: Option<Vec<usize>> = None;
        for (i, seed) in candidates.iter().enumerate() {
            if taken[i] {
                continue;
            }
            let group: Vec<usize> = (0..candidates.len())
                .filter(|&j| {
                    !taken[j]
                        && (candidates[j].created_at - seed.created_at).abs() <= rule.window
                        && (i == j || similarity(&signatures[i], &signatures[j]) >= rule.threshold)
                })
                .collect();
            let schools: BTreeSet<EstablishmentId> = group.iter().map(|&j| candidates[j].establishment).collect();
            let passes = group.len() >= rule.tickets && schools.len() >= rule.establishments;
            if passes && best.as_ref().is_none_or(|b| group.len() > b.len()) {
                best = Some(group);
            }
        }
        let Some(group) = best else { break };
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for &j in &group {
            taken[j] = true;
            for word in &signatures[j] {
                *counts.entry(word.as_str()).or_default() += 1;
            }
        }
        let mut common: Vec<(&str, usize)> = counts.into_iter().filter(|(_, n)| *n * 2 >= group.len()).collect();
        common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let establishments: BTreeSet<EstablishmentId> = group.iter().map(|&j| candidates[j].establishment).collect();
        proposals.push(Proposal {
            tickets: group.iter().map(|&j| candidates[j].id).collect(),
            establishments: establishments.len(),
            common_words: common.into_iter().take(6).map(|(w, _)| w.to_owned()).collect(),
        });
    }
    proposals
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn candidate(id: i64, school: i64, minute: i64, text: &str) -> Candidate {
        Candidate {
            id: TicketId(id),
            establishment: EstablishmentId(school),
            created_at: at(minute),
            text: text.into(),
        }
    }

    #[test]
    fn five_schools_reporting_the_messaging_outage_make_one_proposal() {
        let candidates = vec![
            candidate(1, 1, 0, "La messagerie ne fonctionne plus"),
            candidate(2, 2, 3, "Messagerie inaccessible depuis ce matin, la messagerie ne fonctionne plus"),
            candidate(3, 3, 5, "Les élèves n'accèdent plus à la messagerie : elle ne fonctionne plus"),
            candidate(4, 4, 9, "messagerie ENT ne fonctionne plus"),
            candidate(5, 5, 12, "Problème messagerie : ne fonctionne plus du tout"),
            candidate(6, 6, 14, "Mot de passe oublié pour un parent"),
            candidate(7, 7, 15, "Cahier de textes : impossible d'ajouter une pièce jointe"),
        ];
        let proposals = propose(&candidates, &ProposalRule::default());
        assert_eq!(proposals.len(), 1);
        assert_eq!(proposals[0].tickets, (1..=5).map(TicketId).collect::<Vec<_>>());
        assert_eq!(proposals[0].establishments, 5);
        assert!(proposals[0].common_words.contains(&"messagerie".to_owned()));
    }

    #[test]
    fn many_tickets_from_too_few_schools_propose_nothing() {
        let candidates: Vec<Candidate> =
            (1..=6).map(|i| candidate(i, 1 + i % 2, i, "La messagerie ne fonctionne plus")).collect();
        assert!(propose(&candidates, &ProposalRule::default()).is_empty());
    }

    #[test]
    fn alike_tickets_spread_over_hours_propose_nothing() {
        let candidates: Vec<Candidate> =
            (1..=6).map(|i| candidate(i, i, i * 40, "La messagerie ne fonctionne plus")).collect();
        assert!(propose(&candidates, &ProposalRule::default()).is_empty());
    }

    #[test]
    fn signatures_ignore_accents_case_plurals_and_common_words() {
        let s = signature("Les Élèves ne reçoivent plus les messages de la Messagerie");
        assert_eq!(s.into_iter().collect::<Vec<_>>(), vec!["eleve", "message", "messagerie", "recoivent"]);
    }

    #[test]
    fn escalating_needs_a_summary_and_the_support_tier() {
        assert!(Handover::Escalate.check(Tier::Support, "  ").is_err());
        assert!(Handover::Escalate.check(Tier::Technical, "Tried on two browsers, fails").is_err());
        assert_eq!(
            Handover::Escalate.check(Tier::Support, " Tried on two browsers ").unwrap(),
            "Tried on two browsers"
        );
        assert!(Handover::HandBack.check(Tier::Technical, "Fixed in release 4.2, please confirm").is_ok());
        assert!(Handover::Forward.check(Tier::Establishment, "").is_ok());
        assert!(Handover::Forward.check(Tier::Support, "").is_err());
    }

    #[test]
    fn an_incident_needs_its_public_message_and_no_future_start() {
        let now = at(0);
        assert!(NewIncident::new("Messagerie en panne", "messagerie", "Nous enquêtons.", now, now).is_ok());
        let Err(DomainError::Validation(errors)) = NewIncident::new(" ", "messagerie", "", at(60), now) else {
            panic!("an empty incident was accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "public_message", "started_at"]);
    }
}
