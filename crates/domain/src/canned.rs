//! Canned responses (*réponses types*): a reply written once, with variables
//! filled from the ticket when it is used, and optionally a change of status,
//! type, category or resolution made by the same action (a macro).
//!
//! Variables are written `{{demandeur.prénom}}` or `{{requester.first_name}}`:
//! the desk writes in French, an English-speaking admin in English, and both
//! spellings mean the same value. Expansion is a single pass: a value that
//! itself contains `{{…}}` (a requester who named themselves so) is inserted
//! as typed, never expanded again.

use crate::error::{DomainError, FieldError};
use crate::user::Language;
use std::collections::BTreeMap;

pub const NAME_MAX: usize = 80;

/// A value a canned response can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variable {
    RequesterFirstName,
    RequesterName,
    RequesterEmail,
    TicketKey,
    TicketTitle,
    TicketLink,
    EstablishmentName,
    EstablishmentUai,
    AgentFirstName,
    AgentName,
}

impl Variable {
    pub const ALL: [Variable; 10] = [
        Variable::RequesterFirstName,
        Variable::RequesterName,
        Variable::RequesterEmail,
        Variable::TicketKey,
        Variable::TicketTitle,
        Variable::TicketLink,
        Variable::EstablishmentName,
        Variable::EstablishmentUai,
        Variable::AgentFirstName,
        Variable::AgentName,
    ];

    /// The French spelling, the one the documentation and the pages show first.
    pub fn french(self) -> &'static str {
        match self {
            Variable::RequesterFirstName => "demandeur.prénom",
            Variable::RequesterName => "demandeur.nom",
            Variable::RequesterEmail => "demandeur.email",
            Variable::TicketKey => "ticket.clé",
            Variable::TicketTitle => "ticket.titre",
            Variable::TicketLink => "ticket.lien",
            Variable::EstablishmentName => "établissement.nom",
            Variable::EstablishmentUai => "établissement.uai",
            Variable::AgentFirstName => "agent.prénom",
            Variable::AgentName => "agent.nom",
        }
    }

    pub fn english(self) -> &'static str {
        match self {
            Variable::RequesterFirstName => "requester.first_name",
            Variable::RequesterName => "requester.name",
            Variable::RequesterEmail => "requester.email",
            Variable::TicketKey => "ticket.key",
            Variable::TicketTitle => "ticket.title",
            Variable::TicketLink => "ticket.link",
            Variable::EstablishmentName => "establishment.name",
            Variable::EstablishmentUai => "establishment.uai",
            Variable::AgentFirstName => "agent.first_name",
            Variable::AgentName => "agent.name",
        }
    }

    /// The spelling for a reader of `lang`.
    pub fn name(self, lang: Language) -> &'static str {
        match lang {
            Language::Fr => self.french(),
            Language::En => self.english(),
        }
    }

    pub fn description(self, lang: Language) -> &'static str {
        match (self, lang) {
            (Variable::RequesterFirstName, Language::Fr) => "prénom du demandeur",
            (Variable::RequesterFirstName, Language::En) => "the requester's first name",
            (Variable::RequesterName, Language::Fr) => "nom complet du demandeur",
            (Variable::RequesterName, Language::En) => "the requester's full name",
            (Variable::RequesterEmail, Language::Fr) => "adresse e-mail du demandeur",
            (Variable::RequesterEmail, Language::En) => "the requester's e-mail address",
            (Variable::TicketKey, Language::Fr) => "clé de la demande (GU-123)",
            (Variable::TicketKey, Language::En) => "the ticket's key (GU-123)",
            (Variable::TicketTitle, Language::Fr) => "titre de la demande",
            (Variable::TicketTitle, Language::En) => "the ticket's title",
            (Variable::TicketLink, Language::Fr) => "lien vers la demande sur le portail",
            (Variable::TicketLink, Language::En) => "link to the ticket on the portal",
            (Variable::EstablishmentName, Language::Fr) => "nom de l'établissement",
            (Variable::EstablishmentName, Language::En) => "the establishment's name",
            (Variable::EstablishmentUai, Language::Fr) => "code UAI de l'établissement",
            (Variable::EstablishmentUai, Language::En) => "the establishment's UAI code",
            (Variable::AgentFirstName, Language::Fr) => "prénom de l'agent qui répond",
            (Variable::AgentFirstName, Language::En) => "the answering agent's first name",
            (Variable::AgentName, Language::Fr) => "nom complet de l'agent qui répond",
            (Variable::AgentName, Language::En) => "the answering agent's full name",
        }
    }

    /// Either spelling; accents and case are optional (`etablissement.nom`,
    /// `Demandeur.Prenom`) because people type them both ways.
    pub fn parse(name: &str) -> Option<Variable> {
        let wanted = fold(name.trim());
        Variable::ALL.into_iter().find(|v| fold(v.french()) == wanted || fold(v.english()) == wanted)
    }
}

/// Lower case without the accents French names carry.
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' => 'a',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// One piece of a canned response's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Variable(Variable),
    /// `{{something}}` that names no variable.
    Unknown(&'a str),
    /// `{{` never closed.
    Unclosed,
}

fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push(Piece::Unclosed);
            out.push(Piece::Text(&rest[open..]));
            return out;
        };
        let inner = &after[..close];
        out.push(match Variable::parse(inner) {
            Some(v) => Piece::Variable(v),
            None => Piece::Unknown(inner.trim()),
        });
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// Refuses a text whose variables would not expand: each unknown name is
/// reported, so that a typo is found when the response is saved, not when a
/// requester receives `{{demandeur.prenon}}`.
pub fn check_text(field: &str, text: &str) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    for piece in pieces(text) {
        match piece {
            Piece::Unknown(name) => errors.push(FieldError::new(
                field,
                format!(
                    "`{{{{{name}}}}}` is not a variable; known: {}",
                    Variable::ALL.iter().map(|v| v.french()).collect::<Vec<_>>().join(", ")
                ),
            )),
            Piece::Unclosed => {
                errors.push(FieldError::new(field, "`{{` opens a variable that is never closed by `}}`"))
            }
            Piece::Text(_) | Piece::Variable(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

/// The values of one use: what the ticket, its requester and the agent give.
/// A value that is absent (a request filed through the HELP form has no
/// requester's name) expands to nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<Variable, String>);

impl Values {
    pub fn set(&mut self, variable: Variable, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        if !value.trim().is_empty() {
            self.0.insert(variable, value);
        }
        self
    }

    pub fn get(&self, variable: Variable) -> Option<&str> {
        self.0.get(&variable).map(String::as_str)
    }

    /// A person's first name from their full name: the desk's directory
    /// keeps one name field, written "Prénom Nom".
    pub fn first_name(full: &str) -> &str {
        full.split_whitespace().next().unwrap_or_default()
    }
}

/// A value as literal Markdown text. Replies are Markdown, and names and
/// titles come from requesters (a mail's display name, a form): unescaped, a
/// name written `[réinitialiser ici](https://…)` would become a link in a
/// reply the desk signs. Only the characters that open a link, an image,
/// raw HTML, code or emphasis are escaped, so the plain-text mail stays readable.
fn escape_markdown(value: &str, out: &mut String) {
    for c in value.chars() {
        if matches!(c, '\\' | '[' | ']' | '<' | '>' | '*' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Fills the variables of `text`. Unknown names (a response saved before a
/// variable was renamed) are kept as written rather than silently dropped.
pub fn expand(text: &str, values: &Values) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            // The link is the desk's own address, written to stay clickable.
            Piece::Variable(Variable::TicketLink) => out.push_str(values.get(Variable::TicketLink).unwrap_or_default()),
            Piece::Variable(v) => escape_markdown(values.get(v).unwrap_or_default(), &mut out),
            Piece::Unknown(name) => {
                out.push_str("{{");
                out.push_str(name);
                out.push_str("}}");
            }
            Piece::Unclosed => {}
        }
    }
    out
}

/// Checks a canned response's name.
pub fn check_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(DomainError::field("name", format!("a canned response's name has 1 to {NAME_MAX} characters")));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values() -> Values {
        let mut v = Values::default();
        v.set(Variable::RequesterFirstName, "Nathalie")
            .set(Variable::TicketKey, "GU-42")
            .set(Variable::EstablishmentName, "Lycée Racine")
            .set(Variable::AgentName, "Claire Oreja");
        v
    }

    #[test]
    fn french_and_english_names_fill_the_same_value() {
        let text = "Bonjour {{demandeur.prénom}}, {{ requester.first_name }} — {{ticket.clé}} / {{ticket.key}}";
        assert_eq!(expand(text, &values()), "Bonjour Nathalie, Nathalie — GU-42 / GU-42");
    }

    #[test]
    fn accents_and_case_are_optional_in_names() {
        assert_eq!(Variable::parse("Etablissement.Nom"), Some(Variable::EstablishmentName));
        assert_eq!(Variable::parse("demandeur.prenom"), Some(Variable::RequesterFirstName));
        assert_eq!(Variable::parse("ticket.cle"), Some(Variable::TicketKey));
        assert_eq!(Variable::parse("ticket.nothing"), None);
    }

    #[test]
    fn a_missing_value_expands_to_nothing() {
        assert_eq!(expand("Lien : {{ticket.lien}}.", &values()), "Lien : .");
    }

    #[test]
    fn values_are_never_expanded_again_and_cannot_write_markdown() {
        let mut v = Values::default();
        v.set(Variable::RequesterName, "{{ticket.clé}} <b>Léa</b> & co");
        v.set(Variable::TicketTitle, "[réinitialiser](https://evil.example) *vite*");
        v.set(Variable::TicketKey, "GU-1");
        v.set(Variable::TicketLink, "https://guichet.example/tickets/GU-1");
        assert_eq!(expand("À {{demandeur.nom}}", &v), "À {{ticket.clé}} \\<b\\>Léa\\</b\\> & co");
        assert_eq!(
            expand("{{ticket.titre}} {{ticket.lien}}", &v),
            "\\[réinitialiser\\](https://evil.example) \\*vite\\* https://guichet.example/tickets/GU-1"
        );
    }

    #[test]
    fn unknown_or_unclosed_variables_are_refused_with_their_name() {
        let err = check_text("body", "Bonjour {{demandeur.prenon}} {{ticket.clé}}").unwrap_err();
        assert!(err.to_string().contains("`{{demandeur.prenon}}` is not a variable"), "{err}");
        let err = check_text("body", "Bonjour {{demandeur.prénom").unwrap_err();
        assert!(err.to_string().contains("never closed"), "{err}");
        assert!(check_text("body", "Accolade seule { et }} fermante").is_ok());
        assert!(check_text("body", "{{ agent.nom }}").is_ok());
    }

    #[test]
    fn a_first_name_is_the_first_word_of_the_full_name() {
        assert_eq!(Values::first_name("Nathalie Durand"), "Nathalie");
        assert_eq!(Values::first_name("  "), "");
    }

    #[test]
    fn every_variable_has_two_distinct_spellings_that_parse_back() {
        for v in Variable::ALL {
            assert_eq!(Variable::parse(v.french()), Some(v));
            assert_eq!(Variable::parse(v.english()), Some(v));
            assert!(!v.description(Language::Fr).is_empty() && !v.description(Language::En).is_empty());
        }
    }

    proptest! {
        #[test]
        fn expanding_any_text_never_panics_and_keeps_text_without_braces(text in "\\PC{0,200}") {
            let out = expand(&text, &values());
            if !text.contains("{{") {
                prop_assert_eq!(out, text);
            }
        }

        #[test]
        fn a_checked_text_expands_without_leftover_variables(name in "[a-zA-Zé ]{0,20}") {
            let text = format!("Bonjour {{{{demandeur.prénom}}}}, {name}");
            prop_assert!(check_text("body", &text).is_ok());
            let out = expand(&text, &values());
            prop_assert!(out.starts_with("Bonjour Nathalie, "));
        }
    }
}
