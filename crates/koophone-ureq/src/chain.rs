//! The official SDKs' default credential chain, for a program given no
//! credentials in code: the environment's AK/SK, then the profile file,
//! then the ECS/BMS metadata service. The first source that has
//! credentials wins; a source that has them wrong is an error rather than a
//! reason to go on; when none has any, the error names every place looked at.

use std::fmt;
use std::path::PathBuf;

use koophone_proto::auth::profile::{self, ProfileError};
use koophone_proto::auth::{AkSkCredentials, SecretKey, SecurityToken};

use crate::credentials::Credentials;
use crate::error::Error;
use crate::metadata::{ENV_METADATA_ENDPOINT, MetadataCredentials};

/// The access key id (the official SDKs' name).
pub const ENV_AK: &str = "HUAWEICLOUD_SDK_AK";
/// The secret key.
pub const ENV_SK: &str = "HUAWEICLOUD_SDK_SK";
/// The session token of temporary credentials.
pub const ENV_SECURITY_TOKEN: &str = "HUAWEICLOUD_SDK_SECURITY_TOKEN";
/// The project id sent and signed as `X-Project-Id`.
pub const ENV_PROJECT_ID: &str = "HUAWEICLOUD_SDK_PROJECT_ID";
/// The profile file's path, instead of `~/.huaweicloud/credentials`.
pub const ENV_CREDENTIALS_FILE: &str = "HUAWEICLOUD_SDK_CREDENTIALS_FILE";
/// The profile file under the home directory.
pub const DEFAULT_CREDENTIALS_FILE: &str = ".huaweicloud/credentials";

/// Where credentials were found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialOrigin {
    /// `HUAWEICLOUD_SDK_AK` and `HUAWEICLOUD_SDK_SK`.
    Environment,
    /// The `[basic]` section of this profile file.
    ProfileFile(PathBuf),
    /// The metadata service at this base URL.
    Metadata(String),
}

impl fmt::Display for CredentialOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialOrigin::Environment => write!(f, "{ENV_AK} and {ENV_SK}"),
            CredentialOrigin::ProfileFile(path) => write!(f, "profile file {}", path.display()),
            CredentialOrigin::Metadata(url) => write!(f, "instance metadata at {url}"),
        }
    }
}

/// Credentials the chain found, and where. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct FoundCredentials {
    /// What to build a client with.
    pub credentials: Credentials,
    /// Where they came from.
    pub origin: CredentialOrigin,
}

/// One place the chain looked at and why it had nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookedAt {
    /// The place: variable names, a file path, a URL.
    pub place: String,
    /// Why nothing was there (never a value from it).
    pub outcome: String,
}

/// Why the chain gave no credentials. `Display` is one line and never
/// contains a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// No source had credentials: every place looked at, in order.
    NotFound(Vec<LookedAt>),
    /// A source has credentials that cannot be used (an AK without an SK, a
    /// profile file that does not parse): fix them rather than go on.
    Invalid {
        /// The source (variable names, a file path).
        place: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::NotFound(looked) => {
                f.write_str("no credentials found; looked at ")?;
                for (i, place) in looked.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{}: {}", place.place, place.outcome)?;
                }
                Ok(())
            }
            ChainError::Invalid { place, reason } => write!(f, "{place}: {reason}"),
        }
    }
}

impl std::error::Error for ChainError {}

/// Reads an environment variable (unset and empty alike `None`).
pub type EnvReader<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The default credential chain: environment AK/SK, the profile file, the
/// metadata service (each skippable), reading variables through a function
/// so tests need not touch the process environment.
///
/// ```no_run
/// use koophone_ureq::{Client, CredentialChain};
///
/// let found = CredentialChain::from_process_env().resolve()?;
/// eprintln!("using credentials from {}", found.origin);
/// let client = Client::builder()
///     .endpoint_url("https://koophone.example.com")
///     .credentials(found.credentials)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CredentialChain<'a> {
    env: EnvReader<'a>,
    use_env: bool,
    use_metadata: bool,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

impl CredentialChain<'static> {
    /// The chain over the process environment.
    pub fn from_process_env() -> CredentialChain<'static> {
        CredentialChain::with_env(&process_env)
    }
}

impl<'a> CredentialChain<'a> {
    /// The chain reading variables through `env`.
    pub fn with_env(env: EnvReader<'a>) -> CredentialChain<'a> {
        CredentialChain {
            env,
            use_env: true,
            use_metadata: true,
        }
    }

    /// Whether to look at `HUAWEICLOUD_SDK_AK`/`SK` (default true).
    pub fn environment(self, enabled: bool) -> CredentialChain<'a> {
        CredentialChain {
            use_env: enabled,
            ..self
        }
    }

    /// Whether to ask the metadata service (default true). Asking costs up to
    /// about a second on a machine without one (the connect timeout).
    pub fn metadata(self, enabled: bool) -> CredentialChain<'a> {
        CredentialChain {
            use_metadata: enabled,
            ..self
        }
    }

    /// The profile file's path: `HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else
    /// `~/.huaweicloud/credentials` (`None` without a home directory), and
    /// whether the variable named it.
    pub fn profile_path(&self) -> Option<(PathBuf, bool)> {
        if let Some(path) = (self.env)(ENV_CREDENTIALS_FILE) {
            return Some((PathBuf::from(path), true));
        }
        let home = (self.env)("HOME").or_else(|| (self.env)("USERPROFILE"))?;
        Some((PathBuf::from(home).join(DEFAULT_CREDENTIALS_FILE), false))
    }

    /// Walk the chain. The metadata step fetches the first credentials
    /// (so a machine without them is known now, not at the first request);
    /// the credentials returned then start with them.
    pub fn resolve(&self) -> Result<FoundCredentials, ChainError> {
        let mut looked = Vec::new();
        if self.use_env {
            match self.environment_credentials()? {
                Some(credentials) => {
                    return Ok(FoundCredentials {
                        credentials: Credentials::AkSk(credentials),
                        origin: CredentialOrigin::Environment,
                    });
                }
                None => looked.push(LookedAt {
                    place: format!("{ENV_AK} and {ENV_SK}"),
                    outcome: "not set".into(),
                }),
            }
        }
        match self.look_at_profile()? {
            Ok(found) => return Ok(found),
            Err(nothing) => looked.push(nothing),
        }
        if self.use_metadata {
            match self.look_at_metadata()? {
                Ok(found) => return Ok(found),
                Err(nothing) => looked.push(nothing),
            }
        }
        Err(ChainError::NotFound(looked))
    }

    /// The environment step alone (`HUAWEICLOUD_SDK_AK` + `_SK`, with the
    /// optional session token and project id), whether or not the chain
    /// looks there: for a caller that puts sources of its own between this
    /// step and the rest of the chain, as the `koophone` command puts IAM
    /// login. `None` when neither key variable is set; one of the two
    /// without the other is an error, not a reason to go on.
    pub fn environment_credentials(&self) -> Result<Option<AkSkCredentials>, ChainError> {
        let (ak, sk) = match ((self.env)(ENV_AK), (self.env)(ENV_SK)) {
            (None, None) => return Ok(None),
            (Some(ak), Some(sk)) => (ak, sk),
            (set, _) => {
                let (set, unset) = if set.is_some() {
                    (ENV_AK, ENV_SK)
                } else {
                    (ENV_SK, ENV_AK)
                };
                return Err(ChainError::Invalid {
                    place: format!("{ENV_AK} and {ENV_SK}"),
                    reason: format!("{set} is set but {unset} is not: AK/SK signing needs both"),
                });
            }
        };
        let invalid = |name: &str| {
            let place = name.to_owned();
            move |e: koophone_proto::InvalidInput| ChainError::Invalid {
                place,
                reason: e.reason.to_string(),
            }
        };
        let secret = SecretKey::new(&sk).map_err(invalid(ENV_SK))?;
        let mut credentials = AkSkCredentials::new(&ak, secret).map_err(invalid(ENV_AK))?;
        if let Some(project_id) = (self.env)(ENV_PROJECT_ID) {
            credentials = credentials
                .with_project_id(&project_id)
                .map_err(invalid(ENV_PROJECT_ID))?;
        }
        if let Some(token) = (self.env)(ENV_SECURITY_TOKEN) {
            let token = SecurityToken::new(&token).map_err(invalid(ENV_SECURITY_TOKEN))?;
            credentials = credentials.with_security_token(token);
        }
        Ok(Some(credentials))
    }

    /// `Ok(Err(looked))` when the file has nothing to offer.
    fn look_at_profile(&self) -> Result<Result<FoundCredentials, LookedAt>, ChainError> {
        let Some((path, named)) = self.profile_path() else {
            return Ok(Err(LookedAt {
                place: format!(
                    "profile file ({ENV_CREDENTIALS_FILE} or ~/{DEFAULT_CREDENTIALS_FILE})"
                ),
                outcome: "no home directory (HOME) to find it in".into(),
            }));
        };
        let place = format!("profile file {}", path.display());
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
                return Ok(Err(LookedAt {
                    place,
                    outcome: "does not exist".into(),
                }));
            }
            Err(e) => {
                let from = if named {
                    format!(" (named by {ENV_CREDENTIALS_FILE})")
                } else {
                    String::new()
                };
                return Err(ChainError::Invalid {
                    place: format!("{place}{from}"),
                    reason: format!("cannot be read: {e}"),
                });
            }
        };
        match profile::parse(&text) {
            Ok(profile) => Ok(Ok(FoundCredentials {
                credentials: Credentials::AkSk(profile.into_credentials()),
                origin: CredentialOrigin::ProfileFile(path),
            })),
            Err(e) if e.is_missing_section() => Ok(Err(LookedAt {
                place,
                outcome: "no [basic] section".into(),
            })),
            Err(e) => Err(ChainError::Invalid {
                place,
                reason: profile_reason(&e),
            }),
        }
    }

    fn look_at_metadata(&self) -> Result<Result<FoundCredentials, LookedAt>, ChainError> {
        let metadata =
            MetadataCredentials::from_env_with(self.env).map_err(|e| ChainError::Invalid {
                place: ENV_METADATA_ENDPOINT.into(),
                reason: e.to_string(),
            })?;
        let url = metadata.endpoint().as_str().to_owned();
        match metadata.current() {
            Ok(_) => Ok(Ok(FoundCredentials {
                credentials: Credentials::Metadata(metadata),
                origin: CredentialOrigin::Metadata(url),
            })),
            Err(e) => Ok(Err(LookedAt {
                place: format!("ECS/BMS instance metadata at {url}"),
                outcome: metadata_outcome(&e),
            })),
        }
    }
}

fn profile_reason(e: &ProfileError) -> String {
    format!("{e} (expected [basic] with ak = ..., sk = ...)")
}

/// Why the metadata step found nothing, short.
fn metadata_outcome(e: &Error) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("no temporary credentials from the instance metadata service: ")
        .unwrap_or(&text);
    match e.transport_kind() {
        Some(_) => format!("no answer ({text})"),
        None => text.to_owned(),
    }
}
