//! The knowledge base (*base de connaissances*): who may read an article,
//! and what a valid article is.

use crate::error::{DomainError, FieldError};
use crate::ticket::{DESCRIPTION_MAX, TITLE_MAX};
use crate::user::Role;

crate::vocabulary!(
    /// Who an article is written for: anyone (the HELP page included), the
    /// schools' administrators, or the desk only.
    Audience, "audience", {
        Public => "public",
        Schools => "schools",
        Desk => "desk",
    }
);

impl Audience {
    /// The audiences a reader may see: the desk reads everything, a school's
    /// administrator the public and schools' articles, an anonymous visitor
    /// (`None`) the public ones.
    pub fn readable_by(role: Option<Role>) -> &'static [Audience] {
        match role {
            Some(r) if r.is_staff() => &[Audience::Public, Audience::Schools, Audience::Desk],
            Some(_) => &[Audience::Public, Audience::Schools],
            None => &[Audience::Public],
        }
    }
}

pub const KEYWORDS_MAX: usize = 500;

/// An article as written, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleText {
    pub title: String,
    pub body: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub keywords: String,
}

impl ArticleText {
    /// Trims and checks; an English version needs both its title and its text.
    pub fn parse(
        title: &str,
        body: &str,
        title_en: Option<&str>,
        body_en: Option<&str>,
        keywords: &str,
    ) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let title = title.trim();
        let body = body.trim();
        let nonempty = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let (title_en, body_en) = (nonempty(title_en), nonempty(body_en));
        if title.is_empty() || title.chars().count() > TITLE_MAX {
            errors.push(FieldError::new("title", format!("an article's title has 1 to {TITLE_MAX} characters")));
        }
        if body.is_empty() || body.chars().count() > DESCRIPTION_MAX {
            errors.push(FieldError::new("body", format!("an article's text has 1 to {DESCRIPTION_MAX} characters")));
        }
        if title_en.as_ref().is_some_and(|t| t.chars().count() > TITLE_MAX)
            || body_en.as_ref().is_some_and(|b| b.chars().count() > DESCRIPTION_MAX)
        {
            errors.push(FieldError::new("body_en", "the English version is longer than the limits"));
        }
        if title_en.is_some() != body_en.is_some() {
            errors.push(FieldError::new("title_en", "an English version needs both a title and a text"));
        }
        let keywords = keywords.split([',', ';', '\n']).map(str::trim).filter(|k| !k.is_empty()).collect::<Vec<_>>();
        let keywords = keywords.join(", ");
        if keywords.chars().count() > KEYWORDS_MAX {
            errors.push(FieldError::new("keywords", format!("keywords are limited to {KEYWORDS_MAX} characters")));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        Ok(Self { title: title.to_owned(), body: body.to_owned(), title_en, body_en, keywords })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schools_never_read_desk_articles_and_visitors_read_public_ones_only() {
        assert!(!Audience::readable_by(Some(Role::Requester)).contains(&Audience::Desk));
        assert_eq!(Audience::readable_by(None), &[Audience::Public]);
        for role in [Role::Agent, Role::Technician, Role::Admin] {
            assert_eq!(Audience::readable_by(Some(role)).len(), 3);
        }
    }

    #[test]
    fn an_article_needs_a_title_a_text_and_a_whole_english_version() {
        let ok = ArticleText::parse(" Titre ", "Texte", Some(""), None, "mot de passe; ENT ,, compte").unwrap();
        assert_eq!(
            (ok.title.as_str(), ok.title_en, ok.keywords.as_str()),
            ("Titre", None, "mot de passe, ENT, compte")
        );
        let err = ArticleText::parse("", " ", Some("Title"), None, "").unwrap_err();
        let DomainError::Validation(errors) = err else { panic!() };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "body", "title_en"]);
    }
}
