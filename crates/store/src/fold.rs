//! Case-insensitive matching of names through the database's `LOWER`.
//!
//! SQLite's `LOWER` folds A to Z only, and PostgreSQL's follows the
//! database's locale (none beyond A to Z under `C`): lower-cased by the
//! database, "Émilie LEFÈVRE" stays "Émilie lefÈvre", which the lower-cased
//! needle "émilie lefèvre" never equals. Neither engine folds every letter
//! on every deployment, and SQLite takes no Rust function through the
//! driver, so the needle is written instead in each form the database's
//! `LOWER` can leave a stored name in: each letter beyond ASCII in small or
//! capital. Those forms stay a handful for real names, and an exact name
//! keeps its index (`LOWER(name) IN (…)`).

/// Letters beyond ASCII whose small and capital forms are all varied; past
/// them, the forms a directory writes names in (see [`lower_forms`]).
const VARIED_LETTERS_MAX: usize = 6;

/// The forms the database's `LOWER` may give a text whose lower case is
/// `lower` (itself lower-cased): `lower` first, then with letters beyond
/// ASCII in capitals. Up to [`VARIED_LETTERS_MAX`] such letters, every
/// combination; past them, the forms a directory writes names in: each
/// word's first letter in capital, or every letter.
pub fn lower_forms(lower: &str) -> Vec<String> {
    let letters: Vec<char> = lower.chars().collect();
    let capital = |c: char| -> Option<char> {
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) if !c.is_ascii() && u != c && u.to_lowercase().eq(std::iter::once(c)) => Some(u),
            _ => None,
        }
    };
    let varied: Vec<usize> = (0..letters.len()).filter(|&i| capital(letters[i]).is_some()).collect();
    let with_capitals = |at: &dyn Fn(usize) -> bool| -> String {
        letters.iter().enumerate().map(|(i, &c)| if at(i) { capital(c).unwrap_or(c) } else { c }).collect()
    };
    let mut forms: Vec<String> = if varied.len() <= VARIED_LETTERS_MAX {
        (0..1u32 << varied.len())
            .map(|mask| {
                with_capitals(&|i| varied.iter().position(|&v| v == i).is_some_and(|bit| mask & (1 << bit) != 0))
            })
            .collect()
    } else {
        let word_start = |i: usize| i == 0 || !letters[i - 1].is_alphanumeric();
        vec![lower.to_owned(), with_capitals(&word_start), with_capitals(&|_| true)]
    };
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's `LOWER`: A to Z only.
    fn sqlite_lower(text: &str) -> String {
        text.chars().map(|c| c.to_ascii_lowercase()).collect()
    }

    #[test]
    fn a_name_without_letters_beyond_ascii_has_one_form() {
        assert_eq!(lower_forms("claire oreja"), vec!["claire oreja"]);
    }

    #[test]
    fn every_way_a_name_is_capitalised_lowers_to_one_of_the_forms() {
        for stored in ["Émilie LEFÈVRE", "émilie lefèvre", "ÉMILIE LEFÈVRE", "Émilie Lefèvre", "émilie LEFèVRE"]
        {
            let forms = lower_forms(&stored.to_lowercase());
            assert!(forms.contains(&sqlite_lower(stored)), "{stored}: {forms:?}");
            assert!(forms.contains(&stored.to_lowercase()), "{stored}: a folding database's form");
        }
        // Two letters beyond ASCII, each small or capital.
        assert_eq!(lower_forms("émilie lefèvre").len(), 4);
    }

    #[test]
    fn letters_with_no_single_capital_are_left_as_they_are() {
        // "ß" has no one-letter capital in Rust's mapping ("SS"); digits and
        // punctuation have none at all.
        assert_eq!(lower_forms("straße 12"), vec!["straße 12"]);
    }

    #[test]
    fn many_letters_beyond_ascii_give_the_directory_forms_only() {
        let stored = "Ірина Шевченко";
        let forms = lower_forms(&stored.to_lowercase());
        assert_eq!(forms.len(), 3);
        assert!(forms.contains(&sqlite_lower(stored)), "{forms:?}");
        assert!(forms.contains(&sqlite_lower("ІРИНА ШЕВЧЕНКО")), "{forms:?}");
    }
}
