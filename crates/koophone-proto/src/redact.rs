//! Scrubbing credentials out of text that came from the network.
//!
//! A gateway, proxy or WAF page that echoes the request's headers back would
//! otherwise put the caller's token into an error message, a request id or a
//! state's error, and from there into logs and terminals. The core scrubs
//! every such text with the [`Redactor`] of the credentials that were sent
//! before the text is stored in an error or output value, so every driver
//! gets the same protection.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What a credential is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The credentials a client holds, to be scrubbed from text it receives.
///
/// Matching ignores ASCII case (a server may change the case of what it
/// echoes; a false match on a long random secret is not a concern). Cloning
/// shares the list. `Debug` prints how many secrets it holds, never them.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Arc<[Box<str>]>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for these secrets; empty strings are skipped.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut list: Vec<Box<str>> = secrets
            .into_iter()
            .filter(|s| !s.as_ref().is_empty())
            .map(|s| Box::from(s.as_ref()))
            .collect();
        list.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        list.dedup();
        Redactor {
            secrets: list.into(),
        }
    }

    /// This redactor plus more secrets.
    pub fn with<S: AsRef<str>>(&self, more: impl IntoIterator<Item = S>) -> Redactor {
        let mut all: Vec<String> = self.secrets.iter().map(|s| s.to_string()).collect();
        all.extend(more.into_iter().map(|s| s.as_ref().to_owned()));
        Redactor::new(all)
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The length in bytes of the longest secret (0 when empty): a text cut
    /// to `n` bytes is scrubbed from its first `n + longest` bytes, so a
    /// secret straddling the cut is still found.
    pub fn longest(&self) -> usize {
        self.secrets.first().map_or(0, |s| s.len())
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed when there
    /// was nothing to replace.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| find(text, s).is_some()) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_owned();
        for secret in self.secrets.iter() {
            out = replace_all(&out, secret, REDACTED);
        }
        // A secret that overlaps the marker itself (a one-letter "secret",
        // say) could survive or reappear: then delete until none is left.
        // Each pass shortens the text, so this ends.
        while let Some(secret) = self.secrets.iter().find(|s| find(&out, s).is_some()) {
            out = replace_all(&out, secret, "");
        }
        Cow::Owned(out)
    }

    /// Scrub a string in place.
    pub fn scrub_string(&self, text: &mut String) {
        if let Cow::Owned(scrubbed) = self.scrub(text) {
            *text = scrubbed;
        }
    }
}

/// The first occurrence of `needle` in `haystack` as a byte range.
///
/// ASCII case is ignored, and a control character of the text matches a
/// space of the secret: [`OneLine`](crate::error::OneLine) shows every
/// control character as a space, so a password "a b" that a server echoes
/// as "a\nb" would otherwise reappear whole in a one-line `Display`.
fn find(haystack: &str, needle: &str) -> Option<(usize, usize)> {
    let first = needle.chars().next()?;
    haystack
        .char_indices()
        .filter(|&(_, c)| same(c, first))
        .find_map(|(at, _)| {
            let mut text = haystack[at..].char_indices();
            for wanted in needle.chars() {
                match text.next() {
                    Some((_, c)) if same(c, wanted) => {}
                    _ => return None,
                }
            }
            let end = text.next().map_or(haystack.len(), |(i, _)| at + i);
            Some((at, end))
        })
}

/// Whether a text character matches a secret's character.
fn same(text: char, secret: char) -> bool {
    text.eq_ignore_ascii_case(&secret) || (secret == ' ' && text.is_control())
}

fn replace_all(text: &str, secret: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, end)) = find(rest, secret) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Values that may hold text from the network, scrubbed in place.
///
/// Implemented by every error and output type of the core; an operation's
/// output must implement it so the machines can scrub what they hand out.
pub trait Redact {
    /// Replace every secret of `redactor` in this value's network text.
    fn redact(&mut self, redactor: &Redactor);
}

impl Redact for String {
    fn redact(&mut self, redactor: &Redactor) {
        redactor.scrub_string(self);
    }
}

impl<T: Redact> Redact for Option<T> {
    fn redact(&mut self, redactor: &Redactor) {
        if let Some(value) = self {
            value.redact(redactor);
        }
    }
}

impl<T: Redact> Redact for Vec<T> {
    fn redact(&mut self, redactor: &Redactor) {
        for value in self {
            value.redact(redactor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_occurrence_in_any_ascii_case() {
        let r = Redactor::new(["MIItoken-ABC"]);
        assert_eq!(
            r.scrub("x-auth-token: MIItoken-ABC, again miitoken-abc."),
            "x-auth-token: [redacted], again [redacted]."
        );
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn longer_secrets_go_first_and_markers_cannot_hide_one() {
        let r = Redactor::new(["abc", "abcdef"]);
        assert_eq!(r.scrub("1abcdef2abc3"), "1[redacted]2[redacted]3");
        // A "secret" that the marker itself contains is still removed.
        for secret in ["e", "red", "[", "d]"] {
            let r = Redactor::new([secret]);
            let out = r.scrub("a e red [x] d] z");
            assert!(
                !out.to_ascii_lowercase().contains(secret),
                "{secret}: {out}"
            );
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let r = Redactor::new(["s3cr3t-value"]);
        assert_eq!(format!("{r:?}"), "Redactor(1 secrets)");
        assert_eq!(r.longest(), 12);
        assert!(Redactor::new([""]).is_empty());
    }

    #[test]
    fn a_space_of_a_secret_matches_a_control_character_one_line_shows_as_space() {
        let r = Redactor::new(["pass word"]);
        assert_eq!(
            r.scrub("a pass\nword b PASS\u{85}WORD"),
            "a [redacted] b [redacted]"
        );
        assert_eq!(r.scrub("pass_word"), "pass_word");
    }

    #[test]
    fn non_ascii_text_around_a_secret_stays_intact() {
        let r = Redactor::new(["tök"]);
        assert_eq!(r.scrub("ü tök TöK TÖK"), "ü [redacted] [redacted] TÖK");
    }
}
