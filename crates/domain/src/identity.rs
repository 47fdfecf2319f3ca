//! People signed in by an identity provider (an ENT's CAS server, an OpenID
//! Connect provider): what the provider says of them, and the configured
//! rules that turn it into a Guichet account. Pure: the protocols live in
//! `guichet-sso`, the accounts in the app.

use crate::establishment::Uai;
use crate::user::Role;
use std::collections::BTreeMap;

/// What a provider says about the person it has just signed in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalIdentity {
    /// The provider's name in the configuration (`ent`, `proconnect`).
    pub provider: String,
    /// The provider's stable identifier for the person: the CAS user (or a
    /// configured attribute), the OpenID Connect `sub`.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider vouches for the address: OpenID Connect's
    /// `email_verified`, or a CAS server configured as the directory of record.
    pub email_verified: bool,
    pub name: Option<String>,
    /// Every attribute or claim, by name, each possibly several values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl ExternalIdentity {
    /// The values of an attribute (none when absent). Names are compared
    /// without case: ENTs differ in how they write them.
    pub fn values(&self, attribute: &str) -> Vec<&str> {
        self.attributes
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .flat_map(|(_, values)| values.iter().map(String::as_str))
            .collect()
    }

    /// The name to show for a new account: the provider's, else the address, else the subject.
    pub fn display_name(&self) -> String {
        let name = self.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let fallback = self.email.as_deref().unwrap_or(&self.subject);
        name.unwrap_or(fallback).chars().take(200).collect()
    }
}

/// Creates an account for a person the desk does not know yet, with this
/// role, when one of their attributes has one of these values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub attribute: String,
    /// Any of these values matches (case-insensitive); empty: the attribute being present is enough.
    pub values: Vec<String>,
    /// Never `Admin`: administrators are named by hand.
    pub role: Role,
}

impl RoleRule {
    pub fn matches(&self, identity: &ExternalIdentity) -> bool {
        let present = identity.values(&self.attribute);
        if self.values.is_empty() {
            return !present.is_empty();
        }
        present.iter().any(|v| self.values.iter().any(|wanted| wanted.trim().eq_ignore_ascii_case(v.trim())))
    }
}

/// How one provider's people become and stay accounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityRules {
    /// Link a subject seen for the first time to the account with the same
    /// address, when the provider vouches for it.
    pub match_email: bool,
    /// The attribute listing a school administrator's establishments: their
    /// schools follow it at each sign-in.
    pub uai_attribute: Option<String>,
    /// Accounts created at first sign-in: the first rule that matches.
    pub create: Vec<RoleRule>,
}

impl IdentityRules {
    /// The role a person unknown to the desk gets, if any rule admits them.
    pub fn role_for_new(&self, identity: &ExternalIdentity) -> Option<Role> {
        self.create.iter().find(|r| r.role != Role::Admin && r.matches(identity)).map(|r| r.role)
    }

    /// The establishments the provider gives a person, when the rules say
    /// where to read them: each value's UAI, whether the value is the code
    /// alone (`0750655E`) or carries it among other text (`0750655E$LYCEE
    /// HENRI WALLON`, `uai=0750655E`). None when no attribute is configured.
    pub fn uais(&self, identity: &ExternalIdentity) -> Option<Vec<Uai>> {
        let attribute = self.uai_attribute.as_deref()?;
        let mut found: Vec<Uai> = identity
            .values(attribute)
            .into_iter()
            .flat_map(|value| value.split(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|token| token.len() == 8)
            .filter_map(|token| Uai::parse(token).ok())
            .collect();
        found.sort();
        found.dedup();
        Some(found)
    }

    /// Whether the address may be believed to find an existing account.
    pub fn trusts_email_of(&self, identity: &ExternalIdentity) -> bool {
        self.match_email && identity.email_verified && identity.email.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(attributes: &[(&str, &[&str])]) -> ExternalIdentity {
        ExternalIdentity {
            provider: "ent".into(),
            subject: "nd1234".into(),
            email: Some("nathalie.durand@ac-paris.fr".into()),
            email_verified: true,
            name: Some("Nathalie Durand".into()),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    fn rule(attribute: &str, values: &[&str], role: Role) -> RoleRule {
        RoleRule { attribute: attribute.into(), values: values.iter().map(|s| (*s).to_owned()).collect(), role }
    }

    #[test]
    fn the_first_matching_rule_gives_the_role_and_an_administrator_is_never_created() {
        let rules = IdentityRules {
            create: vec![
                rule("ENTPersonProfils", &["National_ADM"], Role::Admin),
                rule("ENTPersonProfils", &["national_dir", "National_ENS"], Role::Requester),
                rule("eduPersonAffiliation", &[], Role::Agent),
            ],
            ..IdentityRules::default()
        };
        let director = person(&[("entpersonprofils", &["National_DIR"])]);
        assert_eq!(rules.role_for_new(&director), Some(Role::Requester), "values and names without case");
        assert_eq!(rules.role_for_new(&person(&[("ENTPersonProfils", &["National_ADM"])])), None);
        assert_eq!(rules.role_for_new(&person(&[("eduPersonAffiliation", &["staff"])])), Some(Role::Agent));
        assert_eq!(rules.role_for_new(&person(&[("ENTPersonProfils", &["National_ELV"])])), None);
        assert_eq!(rules.role_for_new(&person(&[])), None);
    }

    #[test]
    fn schools_are_read_from_codes_alone_or_within_text_and_bad_codes_are_dropped() {
        let rules = IdentityRules { uai_attribute: Some("ENTPersonStructRattachUAI".into()), ..Default::default() };
        let p = person(&[(
            "ENTPersonStructRattachUAI",
            &["0930124E", "0750655E$LYCEE HENRI WALLON", "uai=0750655E", "0750655F", "12345678", "0750655E0"],
        )]);
        let uais: Vec<String> = rules.uais(&p).unwrap().iter().map(|u| u.as_str().to_owned()).collect();
        assert_eq!(uais, ["0750655E", "0930124E"]);
        assert_eq!(rules.uais(&person(&[])), Some(vec![]), "configured but absent: no school");
        assert_eq!(IdentityRules::default().uais(&p), None, "not configured: schools are not the provider's to say");
    }

    #[test]
    fn an_address_finds_an_account_only_when_verified_and_allowed() {
        let rules = IdentityRules { match_email: true, ..Default::default() };
        let mut p = person(&[]);
        assert!(rules.trusts_email_of(&p));
        p.email_verified = false;
        assert!(!rules.trusts_email_of(&p));
        p.email_verified = true;
        assert!(!IdentityRules::default().trusts_email_of(&p));
        p.email = None;
        assert!(!rules.trusts_email_of(&p));
    }

    #[test]
    fn a_new_account_is_named_after_the_provider_then_the_address_then_the_subject() {
        let mut p = person(&[]);
        assert_eq!(p.display_name(), "Nathalie Durand");
        p.name = Some("  ".into());
        assert_eq!(p.display_name(), "nathalie.durand@ac-paris.fr");
        p.email = None;
        assert_eq!(p.display_name(), "nd1234");
    }
}
