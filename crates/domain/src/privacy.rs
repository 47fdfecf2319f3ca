//! Privacy: how long each kind of personal data is kept, and how personal
//! values are taken out of text while what the statistics need stays.

use chrono::{DateTime, Duration, Utc};
use regex::{Regex, RegexBuilder};
use serde::Serialize;
use std::sync::LazyLock;

/// The kinds of personal data a retention rule forgets, each on its own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// A HELP sender's name, address and profile, once the request is closed.
    HelpIdentity,
    /// Screenshots and other files, once the ticket is closed.
    Attachments,
    /// Inbound mail as received, and quarantined mail.
    RawMail,
    /// The bodies of mail Guichet sent.
    SentMail,
    /// Names, addresses and phone numbers in closed tickets' text.
    Requesters,
    /// Accounts disabled for long enough.
    DisabledAccounts,
    /// Entries of the privacy audit log and of accounts' histories.
    Audit,
}

impl DataKind {
    pub const ALL: [DataKind; 7] = [
        DataKind::HelpIdentity,
        DataKind::Attachments,
        DataKind::RawMail,
        DataKind::SentMail,
        DataKind::Requesters,
        DataKind::DisabledAccounts,
        DataKind::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::HelpIdentity => "help_identity",
            DataKind::Attachments => "attachments",
            DataKind::RawMail => "raw_mail",
            DataKind::SentMail => "sent_mail",
            DataKind::Requesters => "requesters",
            DataKind::DisabledAccounts => "disabled_accounts",
            DataKind::Audit => "audit",
        }
    }
}

/// How long each kind is kept; `None` keeps it (an operator's choice, documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub help_identity: Option<Duration>,
    pub attachments: Option<Duration>,
    pub raw_mail: Option<Duration>,
    pub sent_mail: Option<Duration>,
    pub requesters: Option<Duration>,
    pub disabled_accounts: Option<Duration>,
    pub audit: Option<Duration>,
}

/// A month for retention: 30 days, so that "24 months" never depends on the calendar.
pub const MONTH_DAYS: i64 = 30;

impl Default for RetentionPolicy {
    /// The defaults and their grounds are in docs/privacy.md.
    fn default() -> Self {
        Self {
            help_identity: Some(Duration::days(90)),
            attachments: Some(Duration::days(365)),
            raw_mail: Some(Duration::days(90)),
            sent_mail: Some(Duration::days(90)),
            requesters: Some(Duration::days(24 * MONTH_DAYS)),
            disabled_accounts: Some(Duration::days(90)),
            audit: Some(Duration::days(12 * MONTH_DAYS)),
        }
    }
}

impl RetentionPolicy {
    pub fn keep(&self, kind: DataKind) -> Option<Duration> {
        match kind {
            DataKind::HelpIdentity => self.help_identity,
            DataKind::Attachments => self.attachments,
            DataKind::RawMail => self.raw_mail,
            DataKind::SentMail => self.sent_mail,
            DataKind::Requesters => self.requesters,
            DataKind::DisabledAccounts => self.disabled_accounts,
            DataKind::Audit => self.audit,
        }
    }

    /// What is older than this goes; `None`: the kind is kept.
    pub fn cutoff(&self, kind: DataKind, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.keep(kind).and_then(|keep| now.checked_sub_signed(keep))
    }
}

/// The name that replaces a person's: stable for one account or request, so
/// that a history still reads as one conversation.
pub fn anonymised_name(id: i64) -> String {
    format!("Personne anonymisée #{id}")
}

/// An address that can never receive mail (RFC 2606) and stays unique.
pub fn anonymised_email(id: i64) -> String {
    format!("anonymise-{id}@guichet.invalid")
}

pub const MASKED_EMAIL: &str = "[adresse masquée]";
pub const MASKED_PHONE: &str = "[téléphone masqué]";
pub const REDACTED: &str = "[contenu masqué]";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    // A recognisable address, not RFC 5322's full grammar: enough to catch
    // what people type in a message.
    Regex::new(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+").expect("a valid pattern")
});

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    // French numbers as people write them: 06 12 34 56 78, 06.12.34.56.78,
    // 0612345678, +33 6 12 34 56 78, +33 (0)6…; not UAI codes or ticket keys.
    Regex::new(r"(?:\+33\s?(?:\(0\)\s?)?|\b0)[1-9](?:[\s.\-]?\d{2}){4}\b").expect("a valid pattern")
});

/// A value as a pattern: literal, except a phone number, stored as digits,
/// which matches however people space it (06 12 34 56 78, 06.12.34.56.78).
fn value_pattern(value: &str) -> String {
    let digits = value.chars().filter(|c| !matches!(c, ' ' | '.' | '-')).collect::<String>();
    let phone = (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit() || c == '+');
    if phone {
        digits.chars().map(|c| regex::escape(&c.to_string())).collect::<Vec<_>>().join(r"[\s.\-]?")
    } else {
        regex::escape(value)
    }
}

/// Takes a person's values (name, addresses, phone numbers) out of text, and
/// any address or phone number it recognises.
#[derive(Debug, Clone)]
pub struct Scrubber {
    known: Option<Regex>,
    placeholder: String,
    /// Also any address or phone number, not only the person's.
    patterns: bool,
}

impl Scrubber {
    /// `known`: the person's own values, replaced by `placeholder` wherever
    /// they appear (case-insensitive); values shorter than 3 characters are
    /// ignored, they would match inside ordinary words.
    pub fn new<S: AsRef<str>>(known: &[S], placeholder: &str) -> Scrubber {
        let mut values: Vec<&str> =
            known.iter().map(|v| v.as_ref().trim()).filter(|v| v.chars().count() >= 3).collect();
        // Longest first, so that "Marie Dupont" wins over "Marie".
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        let known = if values.is_empty() {
            None
        } else {
            let pattern = values.iter().map(|v| value_pattern(v)).collect::<Vec<_>>().join("|");
            RegexBuilder::new(&pattern).case_insensitive(true).size_limit(1 << 22).build().ok()
        };
        Scrubber { known, placeholder: placeholder.to_owned(), patterns: true }
    }

    /// Only the person's own values: for texts where other people's
    /// addresses and numbers are legitimately written (others' tickets).
    pub fn known_only<S: AsRef<str>>(known: &[S], placeholder: &str) -> Scrubber {
        Scrubber { patterns: false, ..Scrubber::new(known, placeholder) }
    }

    /// The text without the person's values nor any recognisable address or
    /// phone number; `None` when nothing changed.
    pub fn scrub(&self, text: &str) -> Option<String> {
        let mut out = std::borrow::Cow::Borrowed(text);
        if let Some(known) = &self.known {
            if known.is_match(&out) {
                out = std::borrow::Cow::Owned(known.replace_all(&out, self.placeholder.as_str()).into_owned());
            }
        }
        if self.patterns && EMAIL.is_match(&out) {
            out = std::borrow::Cow::Owned(EMAIL.replace_all(&out, MASKED_EMAIL).into_owned());
        }
        if self.patterns && PHONE.is_match(&out) {
            out = std::borrow::Cow::Owned(PHONE.replace_all(&out, MASKED_PHONE).into_owned());
        }
        match out {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(s) => Some(s),
        }
    }
}

/// Removes a secret someone pasted: each occurrence of `secret`, or the whole
/// text when `secret` is empty. `None` when the secret is not in the text.
pub fn redact(text: &str, secret: &str) -> Option<String> {
    if secret.is_empty() {
        return (text != REDACTED).then(|| REDACTED.to_owned());
    }
    text.contains(secret).then(|| text.replace(secret, REDACTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_values_and_any_address_or_phone_number_leave_the_text() {
        let s = Scrubber::new(&["Marie Dupont", "marie.dupont@ac-idf.fr", "Marie"], "Personne anonymisée #7");
        let text = "Bonjour, je suis MARIE DUPONT (marie.dupont@ac-idf.fr), ma fille lea.d@gmail.com, \
            tél. 06 12 34 56 78 ou +33 (0)1.23.45.67.89. Marie";
        let out = s.scrub(text).unwrap();
        assert!(!out.to_lowercase().contains("dupont") && !out.contains("gmail") && !out.contains("56 78"), "{out}");
        assert!(
            out.contains("je suis Personne anonymisée #7 (Personne anonymisée #7), ma fille [adresse masquée]"),
            "{out}"
        );
        assert!(out.contains("[téléphone masqué] ou [téléphone masqué]"), "{out}");
        assert!(out.ends_with("Personne anonymisée #7"), "the shorter value too: {out}");
    }

    #[test]
    fn a_stored_number_matches_however_it_is_written() {
        let s = Scrubber::known_only(&["0612345678"], "X");
        for text in ["06 12 34 56 78", "06.12.34.56.78", "0612345678", "06-12-34-56-78"] {
            assert_eq!(s.scrub(text).as_deref(), Some("X"), "{text}");
        }
    }

    #[test]
    fn known_only_leaves_other_peoples_addresses() {
        let s = Scrubber::known_only(&["Marie Dupont"], "X");
        assert_eq!(
            s.scrub("Marie Dupont, voir support@ac.fr 01 23 45 67 89").as_deref(),
            Some("X, voir support@ac.fr 01 23 45 67 89")
        );
    }

    #[test]
    fn what_is_not_personal_is_kept_as_it_was() {
        let s = Scrubber::new(&["Lé", ""], "X");
        for text in ["SUP-1234 au lycée 0750655E", "Code 2024-09-01, 12 élèves", "ENT version 3.12.45"] {
            assert_eq!(s.scrub(text), None, "{text}");
        }
    }

    #[test]
    fn values_that_look_like_patterns_are_taken_literally() {
        let s = Scrubber::new(&["a.b (c)*"], "X");
        assert_eq!(s.scrub("see a.b (c)* and aXb (c)").as_deref(), Some("see X and aXb (c)"));
    }

    #[test]
    fn a_redaction_removes_each_occurrence_or_the_whole_text() {
        assert_eq!(
            redact("mdp: Azerty123! puis Azerty123!", "Azerty123!").as_deref(),
            Some("mdp: [contenu masqué] puis [contenu masqué]")
        );
        assert_eq!(redact("rien", "secret"), None);
        assert_eq!(redact("tout", "").as_deref(), Some(REDACTED));
        assert_eq!(redact(REDACTED, ""), None);
    }

    #[test]
    fn each_kind_has_its_cutoff_and_a_kept_kind_has_none() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let mut policy = RetentionPolicy::default();
        assert_eq!(policy.cutoff(DataKind::HelpIdentity, now), Some(now - Duration::days(90)));
        assert_eq!(policy.cutoff(DataKind::Requesters, now), Some(now - Duration::days(720)));
        policy.audit = None;
        assert_eq!(policy.cutoff(DataKind::Audit, now), None);
    }
}
