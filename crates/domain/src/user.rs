//! People: requesters (school administrators), agents, technicians, admins.

use crate::error::{DomainError, FieldError};
use crate::ids::{EstablishmentId, UserId};
use serde::{Deserialize, Serialize};

crate::vocabulary!(
    /// What a person may do in Guichet.
    Role, "role", {
        Requester => "requester",
        Agent => "agent",
        Technician => "technician",
        Admin => "admin",
    }
);

impl Role {
    /// Staff work the desk: they see every establishment and internal notes.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Requester)
    }
}

crate::vocabulary!(
    /// The language a person reads Guichet and its mail in.
    Language, "language", {
        Fr => "fr",
        En => "en",
    }
);

// The vocabulary macro owns the derive list, so the default is written out.
#[allow(clippy::derivable_impls)]
impl Default for Language {
    fn default() -> Self {
        Language::Fr
    }
}

/// An e-mail address, trimmed and lower-cased so that matching is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let email = input.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(DomainError::field("email", format!("`{}` is not an e-mail address", input.trim())))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

/// Keeps the digits of a phone number (and a leading `+`) so that
/// "01 44 32 12 00" and "01.44.32.12.00" find the same caller.
pub fn normalize_phone(input: &str) -> Result<String, DomainError> {
    let trimmed = input.trim();
    let mut out = String::new();
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 => out.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return Err(DomainError::field("phone", format!("`{trimmed}` is not a phone number"))),
        }
    }
    let digits = out.trim_start_matches('+').len();
    if !(4..=15).contains(&digits) {
        return Err(DomainError::field("phone", format!("`{trimmed}` is not a phone number")));
    }
    // French numbers are written both ways: +33 1 44… and 01 44…
    if let Some(rest) = out.strip_prefix("+33") {
        out = format!("0{rest}");
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    pub language: Language,
    pub phones: Vec<String>,
    pub establishments: Vec<EstablishmentId>,
    pub disabled: bool,
}

/// A validated user about to be stored; establishments are given by UAI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    pub language: Language,
    pub phones: Vec<String>,
    pub establishment_uais: Vec<crate::establishment::Uai>,
}

impl NewUser {
    pub fn parse(
        email: &str,
        name: &str,
        role: Role,
        language: Option<&str>,
        phones: &[String],
        establishments: &[String],
    ) -> Result<Self, DomainError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let email = collect(&mut errors, EmailAddress::parse(email));
        let name = crate::establishment::required(&mut errors, "name", name, 200);
        let language = language.map_or(Ok(Language::Fr), Language::parse);
        let language = collect(&mut errors, language).unwrap_or_default();
        let phones: Vec<String> = phones.iter().filter_map(|p| collect(&mut errors, normalize_phone(p))).collect();
        let mut uais: Vec<crate::establishment::Uai> =
            establishments.iter().filter_map(|u| collect(&mut errors, crate::establishment::Uai::parse(u))).collect();
        uais.sort();
        uais.dedup();
        if role == Role::Requester && uais.is_empty() && establishments.is_empty() {
            errors.push(FieldError::new("establishments", "a requester belongs to at least one establishment"));
        }
        if role != Role::Requester && !establishments.is_empty() {
            errors.push(FieldError::new("establishments", "only requesters belong to establishments"));
        }
        match email {
            Some(email) if errors.is_empty() => {
                Ok(Self { email, name, role, language, phones, establishment_uais: uais })
            }
            _ => Err(DomainError::Validation(errors)),
        }
    }
}

fn collect<T>(errors: &mut Vec<FieldError>, result: Result<T, DomainError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(DomainError::Validation(list)) => {
            errors.extend(list);
            None
        }
        Err(other) => {
            errors.push(FieldError::new("", other.to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_lower_cased_and_trimmed() {
        assert_eq!(EmailAddress::parse(" Claire.Oreja@Lilie.FR ").map(|e| e.0), Ok("claire.oreja@lilie.fr".into()));
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in ["", "a", "a@b", "@b.fr", "a b@c.fr", "a@b.fr>", "a@.fr", "a@b@c.fr"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_are_normalised_whatever_their_punctuation() {
        assert_eq!(normalize_phone("01 44 32 12 00"), Ok("0144321200".into()));
        assert_eq!(normalize_phone("01.44.32.12.00"), Ok("0144321200".into()));
        assert_eq!(normalize_phone("+33 1 44 32 12 00"), Ok("0144321200".into()));
        assert!(normalize_phone("call me").is_err());
        assert!(normalize_phone("12").is_err());
    }

    #[test]
    fn requester_needs_an_establishment_and_staff_may_not_have_one() {
        assert!(NewUser::parse("a@b.fr", "A", Role::Requester, None, &[], &[]).is_err());
        assert!(NewUser::parse("a@b.fr", "A", Role::Agent, None, &[], &["0750655E".into()]).is_err());
        assert!(NewUser::parse("a@b.fr", "A", Role::Requester, Some("en"), &[], &["0750655E".into()]).is_ok());
    }

    #[test]
    fn role_parse_lists_the_choices() {
        let err = Role::parse("boss").unwrap_err().to_string();
        assert!(err.contains("requester, agent, technician, admin"), "{err}");
    }
}
