//! The official SDKs' credentials file (`~/.huaweicloud/credentials`, or the
//! file `HUAWEICLOUD_SDK_CREDENTIALS_FILE` names), parsed as a pure function
//! of its text: finding and reading the file is the driver's business.
//!
//! The file is INI as Python's `configparser` reads it; project-level AK/SK
//! credentials are in section `[basic]`:
//!
//! ```ini
//! [basic]
//! ak = MY-ACCESS-KEY
//! sk = my-secret-key
//! # optional:
//! security_token = ...
//! project_id = 0123456789abcdef
//! iam_endpoint = https://iam.cn-north-4.myhuaweicloud.com
//! ```
//!
//! Keys are case-insensitive and may be written `key = value` or
//! `key: value`; whole-line comments start with `#` or `;`; other sections
//! and unknown keys are ignored. Errors name the line and the key but never
//! repeat a line's text or a value: the file holds a secret key.

use std::fmt;

use crate::auth::signing::{AkSkCredentials, SecretKey, SecurityToken};
use crate::error::InvalidReason;

/// The section holding project-level credentials.
pub const BASIC_SECTION: &str = "basic";

/// The `[basic]` credentials of a profile file. `Debug` shows the access key,
/// project id and IAM endpoint; the secret key and security token print redacted.
#[derive(Debug, Clone)]
pub struct Profile {
    credentials: AkSkCredentials,
    iam_endpoint: Option<String>,
}

impl Profile {
    /// The AK/SK credentials, with the project id and security token when the
    /// file gives them.
    pub fn credentials(&self) -> &AkSkCredentials {
        &self.credentials
    }

    /// Consume the profile for its credentials.
    pub fn into_credentials(self) -> AkSkCredentials {
        self.credentials
    }

    /// `iam_endpoint`, unparsed, when given. AK/SK signing needs no IAM; the
    /// SDKs use it to look project ids up.
    pub fn iam_endpoint(&self) -> Option<&str> {
        self.iam_endpoint.as_deref()
    }
}

/// Why a profile file was refused: what is wrong and on which line (1-based)
/// when one line is to blame. Never carries a value from the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Located(self))]
pub struct ProfileError {
    /// The line at fault, when one is.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: ProfileErrorKind,
}

impl ProfileError {
    /// The file has no `[basic]` section: it holds no project-level
    /// credentials (a driver may look elsewhere).
    pub fn is_missing_section(&self) -> bool {
        self.kind == ProfileErrorKind::MissingSection
    }
}

struct Located<'a>(&'a ProfileError);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.line {
            Some(line) => write!(f, "line {line}: {}", self.0.kind),
            None => write!(f, "{}", self.0.kind),
        }
    }
}

/// What is wrong with a profile file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileErrorKind {
    /// No `[basic]` section.
    #[error("no [basic] section")]
    MissingSection,
    /// `[basic]` lacks a required key (`ak` or `sk`).
    #[error("[basic] has no `{0}` key")]
    MissingKey(&'static str),
    /// A key of `[basic]` that this parser reads is given twice.
    #[error("`{0}` is given twice in [basic]")]
    DuplicateKey(&'static str),
    /// `[basic]` appears twice.
    #[error("[basic] appears twice")]
    DuplicateSection,
    /// A line that is neither a section header, a `key = value` pair, a
    /// comment nor blank (its text is not repeated: it may be a secret).
    #[error("expected `[section]`, `key = value` or a comment")]
    Syntax,
    /// A `key = value` pair before any section header.
    #[error("`key = value` before any [section] header")]
    OutsideSection,
    /// An indented line continuing a value over several lines, which
    /// `configparser` allows and no credential needs.
    #[error("indented continuation lines are not supported")]
    Continuation,
    /// A value koophone cannot use.
    #[error("`{key}` {reason}")]
    InvalidValue {
        /// The key.
        key: &'static str,
        /// What is wrong with its value.
        reason: InvalidReason,
    },
}

/// The keys of `[basic]` this parser reads, in the order they are stored.
const KEYS: [&str; 5] = ["ak", "sk", "security_token", "project_id", "iam_endpoint"];

/// Parse a profile file's text into its `[basic]` credentials.
pub fn parse(text: &str) -> Result<Profile, ProfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let at = |line: usize, kind| ProfileError {
        line: Some(line),
        kind,
    };
    // (value, line) for each of KEYS.
    let mut values: [Option<(&str, usize)>; 5] = [None; 5];
    let mut in_basic = false;
    let mut seen_basic = false;
    let mut in_section = false;
    // Whether the previous non-blank line was a key, so an indented line would continue it.
    let mut after_key = false;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            after_key = false;
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if after_key && raw.starts_with([' ', '\t']) {
            return Err(at(number, ProfileErrorKind::Continuation));
        }
        if let Some(header) = line.strip_prefix('[') {
            let name = header
                .strip_suffix(']')
                .ok_or(at(number, ProfileErrorKind::Syntax))?;
            in_section = true;
            in_basic = name.trim() == BASIC_SECTION;
            if in_basic {
                if seen_basic {
                    return Err(at(number, ProfileErrorKind::DuplicateSection));
                }
                seen_basic = true;
            }
            after_key = false;
            continue;
        }
        let split = line
            .find(['=', ':'])
            .ok_or(at(number, ProfileErrorKind::Syntax))?;
        let (key, value) = (line[..split].trim(), line[split + 1..].trim());
        if key.is_empty() {
            return Err(at(number, ProfileErrorKind::Syntax));
        }
        if !in_section {
            return Err(at(number, ProfileErrorKind::OutsideSection));
        }
        after_key = true;
        if !in_basic {
            continue;
        }
        let Some(slot) = KEYS.iter().position(|k| k.eq_ignore_ascii_case(key)) else {
            continue;
        };
        if values[slot].is_some() {
            return Err(at(number, ProfileErrorKind::DuplicateKey(KEYS[slot])));
        }
        values[slot] = Some((value, number));
    }
    if !seen_basic {
        return Err(ProfileError {
            line: None,
            kind: ProfileErrorKind::MissingSection,
        });
    }
    let required = |slot: usize| {
        values[slot].ok_or(ProfileError {
            line: None,
            kind: ProfileErrorKind::MissingKey(KEYS[slot]),
        })
    };
    let invalid = |slot: usize, line: usize| {
        move |e: crate::error::InvalidInput| {
            at(
                line,
                ProfileErrorKind::InvalidValue {
                    key: KEYS[slot],
                    reason: e.reason,
                },
            )
        }
    };
    let (ak, ak_line) = required(0)?;
    let (sk, sk_line) = required(1)?;
    let secret = SecretKey::new(sk).map_err(invalid(1, sk_line))?;
    let mut credentials = AkSkCredentials::new(ak, secret).map_err(invalid(0, ak_line))?;
    // An empty optional value is as good as absent, as in the SDKs.
    let optional = |slot: usize| values[slot].filter(|(value, _)| !value.is_empty());
    if let Some((token, line)) = optional(2) {
        let token = SecurityToken::new(token).map_err(invalid(2, line))?;
        credentials = credentials.with_security_token(token);
    }
    if let Some((project_id, line)) = optional(3) {
        credentials = credentials
            .with_project_id(project_id)
            .map_err(invalid(3, line))?;
    }
    let iam_endpoint = optional(4).map(|(value, _)| value.to_owned());
    Ok(Profile {
        credentials,
        iam_endpoint,
    })
}
