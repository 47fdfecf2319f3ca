//! Whether the desk's own mail server vouched for a message's `From:`
//! domain, as it says in an `Authentication-Results` header (RFC 8601).
//!
//! Guichet does not check DKIM signatures or DMARC policies itself: that
//! needs DNS and belongs to the receiving mail server (OpenDKIM/OpenDMARC,
//! rspamd), which writes its verdict in this header. Only the header of the
//! configured `authserv-id` counts, and only the topmost one: a sender can
//! write any header, but the receiving server adds its own above the rest
//! (and is expected to remove forged ones with its own id). Parsing is
//! written here because no maintained crate parses this header alone; the
//! mail-auth crate verifies signatures, which is not our job.

/// True when the first `Authentication-Results` header of `trusted_id`
/// reports `dmarc=pass` for `from_domain`, or `dkim=pass` for a signing
/// domain aligned with it (the same domain or a parent of it).
pub fn from_domain_authenticated<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    trusted_id: &str,
    from_domain: &str,
) -> bool {
    let trusted_id = trusted_id.trim();
    if trusted_id.is_empty() {
        return false;
    }
    for (name, value) in headers {
        if !name.trim().eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let Some(results) = parse(value) else { continue };
        if results.authserv_id.eq_ignore_ascii_case(trusted_id) {
            return results.vouches_for(from_domain);
        }
    }
    false
}

/// One `method=result` with its properties.
#[derive(Debug, Default, PartialEq, Eq)]
struct Result {
    method: String,
    result: String,
    properties: Vec<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
struct Results {
    authserv_id: String,
    results: Vec<Result>,
}

impl Results {
    fn vouches_for(&self, from_domain: &str) -> bool {
        let from = from_domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if from.is_empty() {
            return false;
        }
        let aligned = |d: &str| {
            let d = d.trim().trim_start_matches('@').trim_end_matches('.').to_ascii_lowercase();
            // Only a domain's owner can make its signatures pass, so a parent
            // domain of the From domain is as good as the domain itself.
            !d.is_empty() && (from == d || from.ends_with(&format!(".{d}")))
        };
        let property = |r: &Result, name: &str| {
            r.properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        self.results.iter().any(|r| match (r.method.as_str(), r.result.as_str()) {
            // DMARC is evaluated for the From domain itself.
            ("dmarc", "pass") => {
                property(r, "header.from").is_none_or(|d| d.trim().trim_end_matches('.').eq_ignore_ascii_case(&from))
            }
            ("dkim", "pass") => {
                let signer = property(r, "header.d")
                    .or_else(|| property(r, "header.i").map(|i| i.rsplit('@').next().unwrap_or_default().to_owned()));
                signer.is_some_and(|d| aligned(&d))
            }
            _ => false,
        })
    }
}

/// Removes comments (`(…)`, nested) outside quoted strings and unfolds lines.
fn uncomment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth = depth.saturating_add(1),
            ')' if !quoted && depth > 0 => depth -= 1,
            '\r' | '\n' | '\t' if depth == 0 => out.push(' '),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn parse(value: &str) -> Option<Results> {
    let text = uncomment(value);
    let mut parts = text.split(';');
    let authserv_id = parts.next()?.split_whitespace().next()?.to_owned();
    let mut results = Vec::new();
    for part in parts {
        let mut words = part.split_whitespace();
        let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else { continue };
        let method = method.split('/').next().unwrap_or_default().to_ascii_lowercase();
        let properties = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        results.push(Result { method, result: result.to_ascii_lowercase(), properties });
    }
    Some(Results { authserv_id, results })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MX: &str = "mx.guichet.test";

    fn check(headers: &[(&str, &str)], from: &str) -> bool {
        from_domain_authenticated(headers.iter().copied(), MX, from)
    }

    #[test]
    fn dmarc_pass_from_the_trusted_server_authenticates_the_from_domain() {
        let ar = "mx.guichet.test; spf=pass smtp.mailfrom=ac-paris.fr;\r\n\tdkim=pass (2048-bit key) header.d=ac-paris.fr header.s=s1;\r\n\tdmarc=pass (p=quarantine dis=none) header.from=ac-paris.fr";
        assert!(check(&[("Authentication-Results", ar)], "ac-paris.fr"));
        assert!(!check(&[("Authentication-Results", ar)], "ac-creteil.fr"), "another domain's mail");
    }

    #[test]
    fn an_aligned_dkim_signature_is_enough_and_a_foreign_one_is_not() {
        let own = "mx.guichet.test; dkim=pass header.d=ac-paris.fr";
        assert!(check(&[("Authentication-Results", own)], "ac-paris.fr"));
        assert!(check(&[("Authentication-Results", own)], "lycee.ac-paris.fr"), "relaxed alignment");
        let foreign = "mx.guichet.test; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=ac-paris.fr";
        assert!(!check(&[("Authentication-Results", foreign)], "ac-paris.fr"));
        let suffix = "mx.guichet.test; dkim=pass header.d=paris.fr";
        assert!(!check(&[("Authentication-Results", suffix)], "ac-paris.fr"), "not a parent domain");
        let identity = "mx.guichet.test; dkim=pass header.i=@ac-paris.fr";
        assert!(check(&[("Authentication-Results", identity)], "ac-paris.fr"));
    }

    #[test]
    fn failures_other_servers_and_forged_headers_below_ours_do_not_count() {
        let fail = "mx.guichet.test; dkim=fail header.d=ac-paris.fr; dmarc=fail header.from=ac-paris.fr";
        assert!(!check(&[("Authentication-Results", fail)], "ac-paris.fr"));
        let other = "mx.evil.example; dmarc=pass header.from=ac-paris.fr";
        assert!(!check(&[("Authentication-Results", other)], "ac-paris.fr"));
        // The sender wrote a passing header with our id; our server's own, above it, says none.
        let ours = "mx.guichet.test; dkim=none; dmarc=none";
        let forged = "mx.guichet.test; dmarc=pass header.from=ac-paris.fr";
        assert!(!check(&[("Authentication-Results", ours), ("Authentication-Results", forged)], "ac-paris.fr"));
        assert!(!check(&[], "ac-paris.fr"));
        assert!(!from_domain_authenticated([("Authentication-Results", forged)], "", "ac-paris.fr"));
    }

    #[test]
    fn comments_and_quotes_do_not_hide_or_fake_a_result() {
        let commented = "mx.guichet.test (version 1); dmarc=pass (p=none; sp=none) header.from=\"ac-paris.fr\"";
        assert!(check(&[("authentication-results", commented)], "AC-PARIS.FR"));
        let hidden = "mx.guichet.test; dkim=fail (dmarc=pass header.from=ac-paris.fr) header.d=ac-paris.fr";
        assert!(!check(&[("Authentication-Results", hidden)], "ac-paris.fr"));
    }

    proptest::proptest! {
        #[test]
        fn any_header_is_read_without_panicking(value in "\\PC{0,200}", from in "\\PC{0,30}") {
            let _ = from_domain_authenticated([("Authentication-Results", value.as_str())], MX, &from);
        }
    }
}
