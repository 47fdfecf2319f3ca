//! The query language of queues and saved filters, familiar to Jira users:
//!
//! ```text
//! type = anomalie AND statut != résolue AND created >= startOfWeek() ORDER BY updated DESC
//! ```
//!
//! Three steps, all pure: [`parse`] turns text into a [`Query`] (syntax only,
//! with positions for error messages), [`print`] turns it back into canonical
//! text, and [`resolve`] checks fields and values against the desk's
//! vocabulary, evaluates functions at a given instant and yields typed
//! [`Condition`]s that the store compiles into parameterised SQL. Field and
//! value names are case- and accent-insensitive and have French aliases.

mod lexer;
mod parser;
mod resolve;

pub use parser::{parse, print, Clause, Expr, Operator, Query, Value};
pub use resolve::{
    resolve, CodeColumn, Condition, Context, EmptyColumn, PersonColumn, PersonValue, Resolved, SortKey, TimeColumn,
    TimeOp,
};

/// A query that cannot be read or understood, with where and, when it can
/// guess, what was meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}{}", hint.as_ref().map(|h| format!(", {h}")).unwrap_or_default())]
pub struct QueryError {
    pub message: String,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    pub hint: Option<String>,
}

impl QueryError {
    pub(crate) fn new(message: impl Into<String>, column: usize) -> Self {
        Self { message: message.into(), column, hint: None }
    }

    pub(crate) fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// Lower-cases and removes French diacritics, so that `Priorité`, `priorite`
/// and `PRIORITÉ` are one name.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            '’' => '\'',
            c => c,
        })
        .collect()
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = fold(word);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, &fold(c)), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
