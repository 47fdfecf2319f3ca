//! Reply tokens: every mail Guichet sends about a ticket carries, in its
//! Message-ID, an HMAC bound to the ticket, the recipient and the kind of
//! answer expected. A reply quotes that Message-ID in In-Reply-To or
//! References, which proves it answers a mail only that recipient received —
//! unlike `From:`, which anyone can write. This is Request Tracker's
//! correspond/comment split made unforgeable.

use crate::ids::{TicketId, UserId};
use crate::ticket::{format_key, parse_key};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What an answer to a mail becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyScope {
    /// A reply the requester sees (and receives by mail).
    Public,
    /// An internal note among the desk: the answer to a notice sent to staff.
    Internal,
}

impl ReplyScope {
    fn code(self) -> char {
        match self {
            ReplyScope::Public => 'p',
            ReplyScope::Internal => 'i',
        }
    }

    fn parse(c: char) -> Option<Self> {
        match c {
            'p' => Some(ReplyScope::Public),
            'i' => Some(ReplyScope::Internal),
            _ => None,
        }
    }
}

/// Who may answer a mail, on which ticket, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyToken {
    pub ticket: TicketId,
    pub user: UserId,
    pub scope: ReplyScope,
}

/// Bytes of HMAC kept: 96 bits cannot be guessed within any number of mails.
const MAC_BYTES: usize = 12;

impl ReplyToken {
    fn mac(&self, secret: &[u8]) -> Hmac<Sha256> {
        // A key of any length is accepted by HMAC: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        mac.update(format!("guichet-reply-v1\0{}\0{}\0{}", self.ticket.0, self.user.0, self.scope.code()).as_bytes());
        mac
    }

    /// The Message-ID of a mail carrying this token: `nonce` keeps each mail's
    /// identifier unique, the key keeps it readable.
    pub fn message_id(&self, secret: &[u8], prefix: &str, nonce: &str, domain: &str) -> String {
        let tag = hex::encode(&self.mac(secret).finalize().into_bytes()[..MAC_BYTES]);
        let key = format_key(prefix, self.ticket).to_lowercase();
        format!("{nonce}.{key}.{}{}-{tag}@{domain}", self.scope.code(), self.user.0)
    }

    /// The token in a Message-ID made by [`ReplyToken::message_id`], when its
    /// HMAC verifies; `None` for any other identifier.
    pub fn from_message_id(id: &str, secret: &[u8], prefix: &str, domain: &str) -> Option<ReplyToken> {
        let id = id.trim().trim_matches(['<', '>']);
        let (local, host) = id.rsplit_once('@')?;
        if !host.eq_ignore_ascii_case(domain) {
            return None;
        }
        let mut parts = local.split('.');
        let (_nonce, key, token) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let ticket = parse_key(prefix, key)?;
        let mut chars = token.chars();
        let scope = ReplyScope::parse(chars.next()?)?;
        let (user, tag) = chars.as_str().split_once('-')?;
        if user.is_empty() || !user.bytes().all(|b| b.is_ascii_digit()) || tag.len() != MAC_BYTES * 2 {
            return None;
        }
        let user = UserId(user.parse().ok()?);
        let tag = hex::decode(tag).ok()?;
        let token = ReplyToken { ticket, user, scope };
        // Constant-time comparison.
        token.mac(secret).verify_truncated_left(&tag).ok()?;
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn token(scope: ReplyScope) -> ReplyToken {
        ReplyToken { ticket: TicketId(601), user: UserId(42), scope }
    }

    #[test]
    fn a_token_made_by_the_desk_is_read_back_from_its_message_id() {
        for scope in [ReplyScope::Public, ReplyScope::Internal] {
            let id = token(scope).message_id(SECRET, "SUP", "a1b2c3", "guichet.test");
            assert!(id.starts_with("a1b2c3.sup-601."), "{id}");
            assert_eq!(ReplyToken::from_message_id(&id, SECRET, "SUP", "guichet.test"), Some(token(scope)));
            assert_eq!(
                ReplyToken::from_message_id(&format!("<{}>", id.to_uppercase()), SECRET, "SUP", "GUICHET.test"),
                None,
                "the tag is lower-case hex: an upper-cased id is not ours"
            );
        }
    }

    #[test]
    fn a_token_changed_in_any_part_or_made_with_another_secret_is_refused() {
        let id = token(ReplyScope::Internal).message_id(SECRET, "SUP", "n", "guichet.test");
        let forged = [
            id.replace("sup-601", "sup-602"),
            id.replace(".i42-", ".i43-"),
            id.replace(".i42-", ".p42-"),
            id.replace("@guichet.test", "@evil.test"),
            id.replace(".i42-", ".i42-0"),
            format!("x.{id}"),
        ];
        for f in &forged {
            assert_eq!(ReplyToken::from_message_id(f, SECRET, "SUP", "guichet.test"), None, "{f}");
        }
        assert_eq!(ReplyToken::from_message_id(&id, b"another secret", "SUP", "guichet.test"), None);
        assert_eq!(ReplyToken::from_message_id("abc.sup-601@guichet.test", SECRET, "SUP", "guichet.test"), None);
        assert_eq!(ReplyToken::from_message_id("", SECRET, "SUP", "guichet.test"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_identifier_is_read_without_panicking(id in "\\PC{0,80}") {
            let _ = ReplyToken::from_message_id(&id, SECRET, "SUP", "guichet.test");
        }
    }
}
