//! Rules of the e-mail channel that need no I/O: finding a ticket key in a
//! subject, cutting quoted history from a reply, telling automatic mail from
//! a person's, and deciding whether a message proves who sent it.

pub mod authentication;
pub mod reply_token;

use crate::ids::TicketId;
use crate::ticket::parse_key;

/// The ticket key in brackets in a subject (`Re: [SUP-123] Panne`), if any.
pub fn key_in_subject(prefix: &str, subject: &str) -> Option<TicketId> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        if let Some(id) = parse_key(prefix, &after[..close]) {
            return Some(id);
        }
        rest = &after[close..];
    }
    None
}

/// Removes every bracketed ticket key (`[SUP-12]`, any case) from a subject.
/// Works on the subject as written: a key is found by its brackets, never by
/// an offset computed on a case-folded copy, whose byte lengths can differ
/// (`İ` folds to two characters).
pub fn strip_keys(prefix: &str, subject: &str) -> String {
    let mut current = strip_keys_once(prefix, subject);
    // Removing `[SUP-1]` from `[SU[SUP-1]P-2]` leaves a key: repeat until
    // nothing changes (each pass that changes something shortens the text).
    loop {
        let next = strip_keys_once(prefix, &current);
        if next == current {
            return current;
        }
        current = next;
    }
}

fn strip_keys_once(prefix: &str, subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if parse_key(prefix, &after[..close]).is_some() => {
                out.push_str(&rest[..open]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Strips reply prefixes (`Re:`, `TR:`, `Fwd:`…) and the ticket key from a
/// subject, for a title.
pub fn clean_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_lowercase();
        let prefix = ["re:", "re :", "tr:", "tr :", "fw:", "fwd:", "aw:", "réf:", "ref:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match prefix {
            // The prefixes are ASCII except "réf:", whose lowercase has the same length.
            Some(n) if s.is_char_boundary(n) => s = s[n..].trim_start(),
            _ => break,
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The part of a reply the person wrote: everything before the quoted
/// history their mail client appended ("Le … a écrit :", "On … wrote:",
/// Outlook's header block or separator, a run of `>` lines). When nothing
/// but quotes remains, the text is kept whole rather than lost.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let lower = t.to_lowercase();
        let attribution = (lower.starts_with("le ") && (lower.ends_with("a écrit :") || lower.ends_with("a écrit:")))
            || (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || (lower.ends_with("a écrit :") && i + 1 < lines.len() && lines[i + 1].trim_start().starts_with('>'));
        // Clients wrap a long attribution: "Le lun. 2 mars 2026 à 14:00, Jean\n<jean@x.fr> a écrit :".
        let wrapped = (lower.starts_with("le ") || lower.starts_with("on "))
            && lines.get(i + 1).is_some_and(|n| {
                let n = n.trim().to_lowercase();
                n.ends_with("a écrit :") || n.ends_with("a écrit:") || n.ends_with("wrote:")
            });
        let separator = lower.starts_with("-----original message-----")
            || lower.starts_with("-----message d'origine-----")
            || lower.starts_with("----- mail original -----")
            || (t.len() >= 20 && t.chars().all(|c| c == '_'));
        let outlook_header = (lower.starts_with("de :") || lower.starts_with("de:") || lower.starts_with("from:"))
            && lines.get(i + 1).is_some_and(|n| {
                let n = n.trim().to_lowercase();
                n.starts_with("envoyé :")
                    || n.starts_with("envoyé:")
                    || n.starts_with("sent:")
                    || n.starts_with("date:")
            });
        let quote_block =
            t.starts_with('>') && lines[i..].iter().all(|l| l.trim().is_empty() || l.trim_start().starts_with('>'));
        if attribution || wrapped || separator || outlook_header || quote_block {
            cut = i;
            break;
        }
    }
    let kept = lines[..cut].join("\n");
    let kept = kept.trim_end();
    if kept.trim().is_empty() {
        text.trim().to_owned()
    } else {
        kept.trim_start_matches(['\n', '\r']).to_owned()
    }
}

/// What a message's headers say about who sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderSignals<'a> {
    pub from: &'a str,
    pub auto_submitted: Option<&'a str>,
    pub precedence: Option<&'a str>,
    pub list_id: bool,
    pub auto_response_suppress: bool,
}

/// True when the message was sent by a program (an out-of-office reply, a
/// bounce, a mailing list): answering it automatically could start a loop.
pub fn is_automatic(s: &SenderSignals<'_>) -> bool {
    let auto_submitted = s.auto_submitted.is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"));
    let bulk = s.precedence.is_some_and(|p| matches!(p.trim().to_lowercase().as_str(), "bulk" | "list" | "junk"));
    let local = s.from.split('@').next().unwrap_or("").to_lowercase();
    let daemon = matches!(local.as_str(), "mailer-daemon" | "postmaster" | "noreply" | "no-reply" | "ne-pas-repondre")
        || local.starts_with("bounce");
    auto_submitted || bulk || s.list_id || s.auto_response_suppress || daemon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_brackets_is_found_anywhere_in_the_subject() {
        assert_eq!(key_in_subject("SUP", "Re: [SUP-123] Panne"), Some(TicketId(123)));
        assert_eq!(key_in_subject("SUP", "TR: [ext] Re: [sup-7] x"), Some(TicketId(7)));
        assert_eq!(key_in_subject("SUP", "SUP-123 sans crochets"), None);
        assert_eq!(key_in_subject("SUP", "[OTHER-5] [SUP-0]"), None);
        assert_eq!(key_in_subject("SUP", "[SUP-12"), None);
    }

    #[test]
    fn keys_are_stripped_from_subjects_whose_case_folding_changes_their_length() {
        assert_eq!(strip_keys("SUP", "İİİİİİ[SUP-1]"), "İİİİİİ");
        assert_eq!(strip_keys("SUP", "Re: İ[SUP-601]"), "Re: İ");
        assert_eq!(strip_keys("SUP", "[sup-3] Panne [SUP-4][x]"), " Panne [x]");
        assert_eq!(strip_keys("SUP", "[OTHER-5] [SUP-0] [SUP-"), "[OTHER-5] [SUP-0] [SUP-");
        assert_eq!(strip_keys("SUP", "[SU[SUP-1]P-2] x"), " x");
    }

    proptest::proptest! {
        #[test]
        fn stripping_keys_never_panics_and_leaves_no_key(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("[SUP-12]".to_owned()),
                    proptest::strategy::Just("[sup-7]".to_owned()),
                    proptest::strategy::Just("İ".to_owned()),
                    proptest::strategy::Just("ẞ".to_owned()),
                    proptest::strategy::Just("Ω".to_owned()),
                    proptest::strategy::Just("K".to_owned()),
                    proptest::strategy::Just("\0".to_owned()),
                    "\\PC{0,4}",
                ],
                0..12,
            )
        ) {
            let subject: String = pieces.concat();
            let stripped = strip_keys("SUP", &subject);
            proptest::prop_assert_eq!(key_in_subject("SUP", &stripped), None);
            let _ = clean_subject(&subject);
            let _ = strip_quoted(&subject);
        }
    }

    #[test]
    fn reply_prefixes_are_cut_from_a_title() {
        assert_eq!(clean_subject("RE: TR : Re:  Messagerie   en panne"), "Messagerie en panne");
        assert_eq!(clean_subject("Réf: dossier"), "dossier");
        assert_eq!(clean_subject("Rentrée"), "Rentrée");
    }

    #[test]
    fn french_and_english_attributions_cut_the_quoted_history() {
        let fr = "Merci, c'est réglé.\n\nLe lun. 2 mars 2026 à 14:00, Support <support@ent.fr> a écrit :\n> Bonjour\n";
        assert_eq!(strip_quoted(fr), "Merci, c'est réglé.");
        let wrapped = "Toujours pas.\nLe lun. 2 mars 2026 à 14:00, Support\n<support@ent.fr> a écrit :\n> x";
        assert_eq!(strip_quoted(wrapped), "Toujours pas.");
        let en = "Still broken.\nOn Mon, Mar 2, 2026 at 2:00 PM Support <s@ent.fr> wrote:\n> hi";
        assert_eq!(strip_quoted(en), "Still broken.");
    }

    #[test]
    fn outlook_headers_and_separators_cut_the_quoted_history() {
        let outlook = "Voir capture.\r\n\r\nDe : Support <s@ent.fr>\r\nEnvoyé : lundi 2 mars 2026 14:00\r\nÀ : moi\r\n";
        assert_eq!(strip_quoted(outlook), "Voir capture.");
        let sep = "Ok\n________________________________\nFrom: x\n";
        assert_eq!(strip_quoted(sep), "Ok");
        let orig = "Ok\n-----Message d'origine-----\nDe: x";
        assert_eq!(strip_quoted(orig), "Ok");
    }

    #[test]
    fn inline_quotes_followed_by_an_answer_are_kept() {
        let inline = "> Avez-vous redémarré ?\nOui, deux fois.\n";
        assert_eq!(strip_quoted(inline), "> Avez-vous redémarré ?\nOui, deux fois.");
    }

    #[test]
    fn a_message_that_is_only_a_quote_is_kept_whole() {
        assert_eq!(strip_quoted("> seulement une citation"), "> seulement une citation");
    }

    #[test]
    fn programs_are_told_from_people() {
        let person = SenderSignals { from: "jean@ac-paris.fr", ..Default::default() };
        assert!(!is_automatic(&person));
        assert!(!is_automatic(&SenderSignals { auto_submitted: Some("no"), ..person.clone() }));
        assert!(is_automatic(&SenderSignals { auto_submitted: Some("auto-replied"), ..person.clone() }));
        assert!(is_automatic(&SenderSignals { precedence: Some("Bulk"), ..person.clone() }));
        assert!(is_automatic(&SenderSignals { list_id: true, ..person.clone() }));
        assert!(is_automatic(&SenderSignals { from: "MAILER-DAEMON@ent.fr", ..Default::default() }));
    }
}
