//! Full-text search terms: what a person typed, folded (case and accents)
//! and written for each backend's engine, and the snippet shown for a hit.
//! Nothing typed reaches an engine's syntax: every word is reduced to
//! letters and digits, and only the operators written here are used.

use crate::DomainError;

/// Lower case without accents: "Événement" → "evenement".
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let base = match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' | 'À' | 'Â' | 'Ä' | 'Á' | 'Ã' | 'Å' => 'a',
            'ç' | 'Ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
            'ñ' | 'Ñ' => 'n',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
            'ý' | 'ÿ' | 'Ý' => 'y',
            'œ' | 'Œ' => {
                out.push_str("oe");
                continue;
            }
            'æ' | 'Æ' => {
                out.push_str("ae");
                continue;
            }
            c => {
                out.extend(c.to_lowercase());
                continue;
            }
        };
        out.push(base);
    }
    out
}

fn words(s: &str) -> Vec<String> {
    fold(s).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// One term of a search: a word, a prefix (`mot*`) or a phrase (`"deux mots"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Word(String),
    Prefix(String),
    Phrase(Vec<String>),
}

/// A search: every term must match, or any of them (`any`), best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Term>,
    pub any: bool,
}

/// The longest search text: a few sentences' worth of words.
pub const MAX_SEARCH_CHARS: usize = 500;

impl SearchQuery {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        if input.chars().count() > MAX_SEARCH_CHARS {
            return Err(DomainError::field("q", format!("a search is at most {MAX_SEARCH_CHARS} characters")));
        }
        let mut terms = Vec::new();
        let mut rest = input;
        while let Some(open) = rest.find('"') {
            Self::push_words(&mut terms, &rest[..open]);
            let after = &rest[open + 1..];
            let (phrase, next) = match after.find('"') {
                Some(close) => (&after[..close], &after[close + 1..]),
                None => (after, ""),
            };
            let ws = words(phrase);
            match ws.len() {
                0 => {}
                1 => terms.push(Term::Word(ws.into_iter().next().unwrap_or_default())),
                _ => terms.push(Term::Phrase(ws)),
            }
            rest = next;
        }
        Self::push_words(&mut terms, rest);
        if terms.is_empty() {
            return Err(DomainError::field("q", "type at least one word to search for"));
        }
        if terms.len() > 16 {
            return Err(DomainError::field("q", "at most 16 words or phrases"));
        }
        Ok(Self { terms, any: false })
    }

    /// A search for what resembles a text being typed: any of its distinctive
    /// words, the last one as a prefix (it may be unfinished). `None` when the
    /// text has no distinctive word yet.
    pub fn similar_to(text: &str) -> Option<Self> {
        let unfinished = !text.ends_with(|c: char| c.is_whitespace() || c.is_ascii_punctuation());
        let last = words(text).pop();
        let mut terms: Vec<Term> = crate::incident::signature(text)
            .into_iter()
            .take(16)
            .map(|w| match &last {
                Some(l) if unfinished && l.starts_with(w.as_str()) => Term::Prefix(l.clone()),
                _ => Term::Word(w),
            })
            .collect();
        terms.dedup();
        (!terms.is_empty()).then_some(Self { terms, any: true })
    }

    fn push_words(terms: &mut Vec<Term>, text: &str) {
        for raw in text.split_whitespace() {
            let prefix = raw.ends_with('*');
            for (i, w) in words(raw).into_iter().enumerate() {
                let last = i + 1 == words(raw).len();
                terms.push(if prefix && last && w.chars().count() >= 2 { Term::Prefix(w) } else { Term::Word(w) });
            }
        }
    }

    /// An FTS5 MATCH expression: quoted strings, `*` for prefixes, AND or OR.
    pub fn to_fts5(&self) -> String {
        self.to_fts5_with(|_| None)
    }

    /// The prefixes searched for, each once.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut prefixes: Vec<&str> =
            self.terms.iter().filter_map(|t| if let Term::Prefix(p) = t { Some(p.as_str()) } else { None }).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        prefixes
    }

    /// [`to_fts5`](Self::to_fts5), with each prefix for which `words_of`
    /// knows the words it starts written as any of those words. FTS5 merges
    /// every posting of a prefix's words before it yields the first match,
    /// where it reads the postings of words joined by OR as it goes, most
    /// recent first, and stops at a page's worth.
    pub fn to_fts5_with<'a>(&self, words_of: impl Fn(&str) -> Option<&'a [String]>) -> String {
        let quoted = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
        self.terms
            .iter()
            .map(|t| match t {
                Term::Word(w) => quoted(w),
                Term::Prefix(w) => match words_of(w) {
                    Some(words) if !words.is_empty() => {
                        format!("({})", words.iter().map(|w| quoted(w)).collect::<Vec<_>>().join(" OR "))
                    }
                    _ => format!("{} *", quoted(w)),
                },
                Term::Phrase(ws) => quoted(&ws.join(" ")),
            })
            .collect::<Vec<_>>()
            // Explicit: FTS5 joins phrases by a space but not a parenthesised group.
            .join(if self.any { " OR " } else { " AND " })
    }

    /// A PostgreSQL `to_tsquery` expression: `&`, `:*` for prefixes, `<->` in phrases.
    pub fn to_tsquery(&self) -> String {
        self.terms
            .iter()
            .map(|t| match t {
                Term::Word(w) => w.clone(),
                Term::Prefix(w) => format!("{w}:*"),
                Term::Phrase(ws) => format!("({})", ws.join(" <-> ")),
            })
            .collect::<Vec<_>>()
            .join(if self.any { " | " } else { " & " })
    }

    /// The folded words a snippet highlights (prefixes match any word they start).
    fn matches(&self, folded_word: &str) -> bool {
        self.terms.iter().any(|t| match t {
            Term::Word(w) => folded_word == w || stem_like(folded_word, w),
            Term::Prefix(p) => folded_word.starts_with(p.as_str()),
            Term::Phrase(ws) => ws.iter().any(|w| folded_word == w || stem_like(folded_word, w)),
        })
    }

    /// Up to `width` words of `body` around its first match, matched words
    /// between `mark` pairs (for the page to highlight once escaped).
    pub fn snippet(&self, body: &str, width: usize, mark: (&str, &str)) -> String {
        let tokens: Vec<&str> = body.split_whitespace().collect();
        let hit = |t: &str| words(t).iter().any(|w| self.matches(w));
        let first = tokens.iter().position(|t| hit(t)).unwrap_or(0);
        let start = first.saturating_sub(width / 3);
        let end = (start + width).min(tokens.len());
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        for (i, token) in tokens[start..end].iter().enumerate() {
            if i > 0 || start > 0 {
                out.push(' ');
            }
            if hit(token) {
                out.push_str(mark.0);
                out.push_str(token);
                out.push_str(mark.1);
            } else {
                out.push_str(token);
            }
        }
        if end < tokens.len() {
            out.push_str(" …");
        }
        out
    }
}

/// Plural and feminine endings, as the engines' stemming may match them.
fn stem_like(word: &str, term: &str) -> bool {
    let trim = |s: &str| s.trim_end_matches(['s', 'x']).trim_end_matches('e').to_owned();
    term.chars().count() >= 4 && trim(word) == trim(term)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_being_typed_searches_any_distinctive_word_and_its_last_word_as_a_prefix() {
        let q = SearchQuery::similar_to("La messagerie ne fonctionne pl").unwrap();
        assert_eq!(q.to_fts5(), "\"fonctionne\" OR \"messagerie\"");
        let q = SearchQuery::similar_to("Plus de messag").unwrap();
        assert_eq!(q.to_tsquery(), "messag:*");
        assert!(SearchQuery::similar_to("le la les").is_none());
    }

    #[test]
    fn folding_removes_case_and_accents() {
        assert_eq!(fold("Événement À l'ŒUVRE, garçon"), "evenement a l'oeuvre, garcon");
    }

    #[test]
    fn words_phrases_and_prefixes_are_read() {
        let q = SearchQuery::parse(r#"mot de passe "élève sans adresse" mail*"#).unwrap();
        assert_eq!(
            q.terms,
            [
                Term::Word("mot".into()),
                Term::Word("de".into()),
                Term::Word("passe".into()),
                Term::Phrase(vec!["eleve".into(), "sans".into(), "adresse".into()]),
                Term::Prefix("mail".into()),
            ]
        );
        assert_eq!(q.to_fts5(), r#""mot" AND "de" AND "passe" AND "eleve sans adresse" AND "mail" *"#);
        assert_eq!(q.to_tsquery(), "mot & de & passe & (eleve <-> sans <-> adresse) & mail:*");
    }

    #[test]
    fn a_prefix_whose_words_are_known_is_searched_as_any_of_them() {
        let q = SearchQuery::parse("ecran navig*").unwrap();
        assert_eq!(q.prefixes(), ["navig"]);
        let words = vec!["navigateur".to_owned(), "navigation".to_owned()];
        let expanded = q.to_fts5_with(|p| (p == "navig").then_some(words.as_slice()));
        assert_eq!(expanded, r#""ecran" AND ("navigateur" OR "navigation")"#);
        // No word known, or none at all: the prefix itself.
        assert_eq!(q.to_fts5_with(|_| Some(&[])), r#""ecran" AND "navig" *"#);
        assert_eq!(q.to_fts5_with(|_| None), q.to_fts5());
        let q = SearchQuery::parse("ab* \"b c\" ab* x").unwrap();
        assert_eq!(q.prefixes(), ["ab"], "each prefix once");
        let quote = vec!["it\"s".to_owned()];
        assert_eq!(q.to_fts5_with(|_| Some(quote.as_slice())), r#"("it""s") AND "b c" AND ("it""s") AND "x""#);
    }

    #[test]
    fn engine_syntax_typed_by_a_person_is_only_text() {
        let q = SearchQuery::parse(r#"a' OR 1=1; NEAR(x) -y & !z :* "unclosed"#).unwrap();
        assert!(!q.to_fts5().contains("NEAR(") && !q.to_tsquery().contains('!'));
        assert!(SearchQuery::parse("  \"\" ** ").is_err());
    }

    #[test]
    fn snippets_highlight_matches_whatever_their_accents() {
        let q = SearchQuery::parse("evenement").unwrap();
        let body = "Bonjour, depuis hier l'Événement du conseil de classe n'apparaît plus dans l'agenda.";
        assert_eq!(q.snippet(body, 6, ("[", "]")), "… depuis hier [l'Événement] du conseil de …");
    }
}
