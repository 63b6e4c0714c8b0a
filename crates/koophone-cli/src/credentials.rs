//! Which credentials a command uses: the contract's CREDENTIALS rules
//! (DESIGN.md), in [`resolve`] and [`from_chain`]. The first one given wins:
//! a token (`--token`, `--token-file`, `KOOPHONE_TOKEN`), then an AK/SK pair
//! from the official SDKs' variables, then an IAM user whose password is in
//! `KOOPHONE_IAM_PASSWORD`; when none is given, the official SDKs' chain goes
//! on with the profile file and the ECS/BMS metadata service.
//!
//! No message here repeats a token, secret key or password, and no type here
//! derives `Debug` over one without redaction.

use std::path::Path;

use clap::ArgMatches;
use clap::parser::ValueSource;
use koophone_sim::AccessKeySpec;
use koophone_ureq::{
    AkSkCredentials, ChainError, CredentialChain, CredentialOrigin, Credentials,
    DEFAULT_CREDENTIALS_FILE, ENV_AK, ENV_CREDENTIALS_FILE, ENV_SECURITY_TOKEN, ENV_SK,
    IssueProjectToken, LookedAt, Password, ProjectScope, Token,
};

use crate::args::Global;
use crate::environment::Env;
use crate::exit::Failure;

/// The IAM user's password: only ever read from the environment, never a flag
/// (a flag shows in the process list and the shell history).
pub const ENV_IAM_PASSWORD: &str = "KOOPHONE_IAM_PASSWORD";
/// Where IAM issues tokens when neither `--iam-endpoint` nor
/// `HUAWEICLOUD_SDK_IAM_ENDPOINT` says: the global endpoint the official SDKs use.
pub const DEFAULT_IAM_ENDPOINT: &str = "https://iam.myhuaweicloud.com";

/// Turns the metadata step of the chain off (`1`, `true`, `yes`, `on`).
pub const ENV_NO_METADATA: &str = "KOOPHONE_NO_METADATA";

/// The credentials a command was given.
pub enum Given {
    /// Sent as `X-Auth-Token`.
    Token(Token),
    /// AK/SK signing.
    AkSk(AkSkCredentials),
    /// A token issued by IAM for a user's password.
    Iam(IamLogin),
}

/// An IAM user and, if given, where its IAM is (`--iam-endpoint` or
/// `HUAWEICLOUD_SDK_IAM_ENDPOINT`, else the IAM of `--region`; otherwise
/// [`DEFAULT_IAM_ENDPOINT`], or the simulator with `--simulate`).
pub struct IamLogin {
    /// The user, domain, password and project.
    pub request: IssueProjectToken,
    /// The IAM endpoint given or picked by region, unparsed.
    pub endpoint: Option<String>,
}

/// The credentials given, the first one given winning: `--token`, then
/// `--token-file`, then `KOOPHONE_TOKEN`, then `HUAWEICLOUD_SDK_AK` +
/// `HUAWEICLOUD_SDK_SK`, then `--iam-user`/`--iam-domain`/`--iam-project`.
/// `None` when none was given. A half-given kind (an AK without its SK, an
/// IAM user without a password) is an error rather than a reason to fall
/// through to the next kind.
///
/// clap reads `KOOPHONE_TOKEN` into the same field as `--token`, so the
/// value's source tells a typed token (first) from the environment's (third).
/// An empty `KOOPHONE_TOKEN` counts as unset, as every other variable here
/// does (`process_env`), so `KOOPHONE_TOKEN=` does not hide an AK/SK pair.
pub fn resolve(
    global: &Global,
    matches: &ArgMatches,
    env: Env<'_>,
) -> Result<Option<Given>, Failure> {
    let token_source = matches.value_source("token");
    if let (Some(token), Some(ValueSource::CommandLine)) = (&global.token, token_source) {
        return token_from("--token", token).map(Some);
    }
    if let Some(path) = &global.token_file {
        return read_token_file(path).map(Some);
    }
    if let Some(token) = global.token.as_deref().filter(|token| !token.is_empty()) {
        return token_from("KOOPHONE_TOKEN", token).map(Some);
    }
    let aksk = CredentialChain::with_env(env).environment_credentials();
    if let Some(aksk) = aksk.map_err(|invalid| Failure::invalid_input(invalid.to_string()))? {
        return Ok(Some(Given::AkSk(aksk)));
    }
    iam_login(global, env, None)
}

/// When [`resolve`] found nothing: the profile file, then (unless
/// `--no-metadata` or `KOOPHONE_NO_METADATA`) the metadata service. When
/// neither has credentials, one invalid-input error names every place
/// looked at, in the contract's order, and how to give credentials.
pub fn from_chain(
    global: &Global,
    env: Env<'_>,
) -> Result<(Credentials, CredentialOrigin), Failure> {
    let chain = CredentialChain::with_env(env)
        .environment(false)
        .metadata(!global.no_metadata);
    let looked_at = match chain.resolve() {
        Ok(found) => return Ok((found.credentials, found.origin)),
        Err(ChainError::NotFound(looked_at)) => looked_at,
        Err(invalid) => return Err(Failure::invalid_input(invalid.to_string())),
    };
    let not = |place: &str, outcome: &str| LookedAt {
        place: place.to_owned(),
        outcome: outcome.to_owned(),
    };
    let mut places = vec![
        not("--token, --token-file, KOOPHONE_TOKEN", "not given"),
        not(&format!("{ENV_AK} and {ENV_SK}"), "not set"),
        not("--iam-user, --iam-domain, --iam-project", "not given"),
    ];
    places.extend(looked_at);
    if global.no_metadata {
        places.push(not(
            "ECS/BMS instance metadata",
            &format!("skipped (--no-metadata or {ENV_NO_METADATA})"),
        ));
    }
    let profile = chain.profile_path().map_or_else(
        || format!("~/{DEFAULT_CREDENTIALS_FILE}"),
        |(path, _)| path.display().to_string(),
    );
    let listed = places
        .iter()
        .map(|p| format!("{}: {}", p.place, p.outcome))
        .collect::<Vec<_>>()
        .join("; ");
    Err(Failure::invalid_input(format!(
        "no token or other credentials found; looked at {listed}. To fix: give --token, --token-file or \
         KOOPHONE_TOKEN; or set {ENV_AK} and {ENV_SK}; or give --iam-user, --iam-domain and \
         --iam-project with {ENV_IAM_PASSWORD}; or write ak and sk under [basic] in {profile} \
         (or the file {ENV_CREDENTIALS_FILE} names); or run on an ECS/BMS instance with an agency"
    )))
}

/// The IAM login alone, for `koophone token`: the other credentials do not
/// apply to a command that asks IAM for a token. `default_user` (the
/// simulator's) stands in for flags and password when none is given.
pub fn resolve_iam(
    global: &Global,
    env: Env<'_>,
    default_user: Option<&DefaultIamUser>,
) -> Result<Option<IamLogin>, Failure> {
    Ok(match iam_login(global, env, default_user)? {
        Some(Given::Iam(login)) => Some(login),
        _ => None,
    })
}

/// An IAM user to fall back on when no `--iam-*` flag is given.
pub struct DefaultIamUser {
    /// User name.
    pub user: String,
    /// Domain (account) name.
    pub domain: String,
    /// Project name.
    pub project: String,
    /// The user's password.
    pub password: Password,
}

/// The AK/SK pair of the environment in the simulator's terms, for
/// `--simulate` and `sim` to accept it; `None` without both keys.
pub fn simulator_access_key(env: Env<'_>) -> Option<AccessKeySpec> {
    let mut key = AccessKeySpec::new(env(ENV_AK)?, env(ENV_SK)?);
    key.security_token = env(ENV_SECURITY_TOKEN);
    Some(key)
}

fn token_from(origin: &str, text: &str) -> Result<Given, Failure> {
    Token::new(text)
        .map(Given::Token)
        .map_err(|e| Failure::invalid_input(format!("{e} (from {origin})")))
}

fn read_token_file(path: &Path) -> Result<Given, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::invalid_input(format!("cannot read token file {}: {e}", path.display()))
    })?;
    token_from("--token-file", text.trim_end_matches(['\n', '\r']))
}

/// `--iam-user`, `--iam-domain`, `--iam-project` and `KOOPHONE_IAM_PASSWORD`:
/// all four, or (with a default user) none of the flags.
fn iam_login(
    global: &Global,
    env: Env<'_>,
    default_user: Option<&DefaultIamUser>,
) -> Result<Option<Given>, Failure> {
    let flags = [
        ("--iam-user", &global.iam_user),
        ("--iam-domain", &global.iam_domain),
        ("--iam-project", &global.iam_project),
    ];
    let (user, domain, project, password) =
        match (&global.iam_user, &global.iam_domain, &global.iam_project) {
            (Some(user), Some(domain), Some(project)) => {
                let password = env(ENV_IAM_PASSWORD).ok_or_else(|| {
                    Failure::invalid_input(format!(
                        "no IAM password: set {ENV_IAM_PASSWORD} (it is never taken from a flag)"
                    ))
                })?;
                let password = Password::new(password).map_err(|e| {
                    Failure::invalid_input(format!("{e} (from {ENV_IAM_PASSWORD})"))
                })?;
                (user.as_str(), domain.as_str(), project.as_str(), password)
            }
            (None, None, None) => match default_user {
                Some(default) => (
                    default.user.as_str(),
                    default.domain.as_str(),
                    default.project.as_str(),
                    default.password.clone(),
                ),
                None => return Ok(None),
            },
            _ => {
                let missing: Vec<&str> = flags
                    .iter()
                    .filter(|(_, value)| value.is_none())
                    .map(|(flag, _)| *flag)
                    .collect();
                return Err(Failure::invalid_input(format!(
                    "an IAM login needs --iam-user, --iam-domain and --iam-project: {} missing",
                    missing.join(", ")
                )));
            }
        };
    let request = IssueProjectToken::new(
        user,
        domain,
        password,
        ProjectScope::Name(project.to_owned()),
    )
    .map_err(|e| Failure::invalid_input(e.to_string()))?;
    Ok(Some(Given::Iam(IamLogin {
        request,
        endpoint: crate::region::iam_url(global, env)?,
    })))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::{CommandFactory, FromArgMatches};
    use koophone_ureq::ENV_PROJECT_ID;

    use super::*;
    use crate::args::Cli;
    use crate::exit::Kind;

    const SK: &str = "sk-S3CRET-value";
    const PASSWORD: &str = "pw-S3CRET-value";

    fn resolved(args: &[&str], vars: &[(&str, &str)]) -> Result<Option<Given>, Failure> {
        let matches = Cli::command()
            .try_get_matches_from(["koophone"].iter().chain(args).chain(&["token"]))
            .unwrap_or_else(|e| panic!("{e}"));
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let table: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&cli.global, &matches, &|name| table.get(name).cloned())
    }

    fn failure(args: &[&str], vars: &[(&str, &str)]) -> Failure {
        match resolved(args, vars) {
            Err(failure) => failure,
            Ok(_) => panic!("accepted {args:?} {vars:?}"),
        }
    }

    #[test]
    fn a_token_wins_over_aksk_and_aksk_over_iam() {
        let iam = ["--iam-user", "u", "--iam-domain", "d", "--iam-project", "p"];
        let aksk = [(ENV_AK, "AK1"), (ENV_SK, SK), (ENV_IAM_PASSWORD, PASSWORD)];
        let mut args = vec!["--token", "tok"];
        args.extend(iam);
        assert!(matches!(resolved(&args, &aksk), Ok(Some(Given::Token(_)))));
        assert!(matches!(resolved(&iam, &aksk), Ok(Some(Given::AkSk(_)))));
        let iam_only = resolved(&iam, &[(ENV_IAM_PASSWORD, PASSWORD)]);
        assert!(matches!(iam_only, Ok(Some(Given::Iam(_)))));
        assert!(matches!(resolved(&[], &[]), Ok(None)));
    }

    #[test]
    fn aksk_takes_the_session_token_and_project_id() {
        let vars = [
            (ENV_AK, "AK1"),
            (ENV_SK, SK),
            (ENV_SECURITY_TOKEN, "session"),
            (ENV_PROJECT_ID, "proj-1"),
        ];
        let Ok(Some(Given::AkSk(credentials))) = resolved(&[], &vars) else {
            panic!("no AK/SK");
        };
        assert_eq!(credentials.access_key(), "AK1");
        assert_eq!(credentials.project_id(), Some("proj-1"));
        let shown = format!("{credentials:?}");
        assert!(!shown.contains(SK) && !shown.contains("session"), "{shown}");
    }

    #[test]
    fn half_given_credentials_are_refused_without_repeating_them() {
        for vars in [[(ENV_AK, "AK1")], [(ENV_SK, SK)]] {
            let failure = failure(&[], &vars);
            assert_eq!(failure.kind, Kind::InvalidInput);
            assert!(failure.line.contains("needs both"), "{}", failure.line);
            assert!(!failure.line.contains(SK));
        }
        let bad_sk = failure(&[], &[(ENV_AK, "AK1"), (ENV_SK, " padded-secret")]);
        assert!(bad_sk.line.contains(ENV_SK), "{}", bad_sk.line);
        assert!(!bad_sk.line.contains("padded-secret"));

        let partial = failure(&["--iam-user", "u", "--iam-project", "p"], &[]);
        assert!(
            partial.line.contains("--iam-domain missing"),
            "{}",
            partial.line
        );
        let no_password = failure(
            &["--iam-user", "u", "--iam-domain", "d", "--iam-project", "p"],
            &[],
        );
        assert!(
            no_password.line.contains(ENV_IAM_PASSWORD),
            "{}",
            no_password.line
        );
        let bad_password = failure(
            &["--iam-user", "u", "--iam-domain", "d", "--iam-project", "p"],
            &[(ENV_IAM_PASSWORD, "pw-S3CRET\n")],
        );
        assert!(
            !bad_password.line.contains("pw-S3CRET"),
            "{}",
            bad_password.line
        );
    }

    #[test]
    fn the_iam_endpoint_comes_from_the_flag_or_the_environment() {
        let iam = ["--iam-user", "u", "--iam-domain", "d", "--iam-project", "p"];
        let mut args = iam.to_vec();
        args.extend(["--iam-endpoint", "https://iam.example.com"]);
        let Ok(Some(Given::Iam(login))) = resolved(&args, &[(ENV_IAM_PASSWORD, PASSWORD)]) else {
            panic!("no IAM login");
        };
        assert_eq!(login.endpoint.as_deref(), Some("https://iam.example.com"));
        let shown = format!("{:?}", login.request);
        assert!(!shown.contains(PASSWORD), "{shown}");
    }

    #[test]
    fn the_token_command_falls_back_on_the_default_user_only_without_flags() {
        let matches = Cli::command()
            .try_get_matches_from(["koophone", "token"])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let default = DefaultIamUser {
            user: "sim-user".into(),
            domain: "sim-domain".into(),
            project: "sim-project".into(),
            password: Password::new(PASSWORD).unwrap(),
        };
        let none = &|_: &str| None;
        assert!(resolve_iam(&cli.global, none, None).unwrap().is_none());
        let login = resolve_iam(&cli.global, none, Some(&default))
            .unwrap()
            .unwrap();
        assert!(format!("{:?}", login.request).contains("sim-user"));
    }
}
