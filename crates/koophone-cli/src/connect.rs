//! From flags to a client: the endpoint (`--endpoint`, `--region`, or the
//! embedded simulator with `--simulate`), the credentials, the retry and
//! wait policies, and a client that stops on Ctrl-C.

use std::time::Duration;

use clap::ArgMatches;
use koophone_sim::{
    IamDomain, IamProject, IamUser, Scenario, Sim, SimBuilder, SimError, SimHandle,
};
use koophone_ureq::{
    Client, Credentials, Endpoint, Error, IamPassword, InvalidInput, Password, ProjectScope,
    RetryPolicy, Service, Token, WaitPolicy,
};

use crate::args::{Global, PollArgs};
use crate::credentials::{self, DEFAULT_IAM_ENDPOINT, DefaultIamUser, Given, IamLogin};
use crate::environment::process_env;
use crate::exit::{Failure, Kind};
use crate::interrupt::Interrupt;
use crate::region;

/// The token the embedded simulator accepts when `--simulate` is given no token.
pub const SIMULATOR_TOKEN: &str = "sim-token";

/// Invalid input as the command reports it.
pub fn invalid(e: InvalidInput) -> Failure {
    Failure::from_error(&Error::InvalidInput(e))
}

/// Any library error as the command reports it.
pub fn failure(e: Error) -> Failure {
    Failure::from_error(&e)
}

/// The waits' policy from the flags; `--retries` is also the number of
/// failures in a row a wait tolerates, so one flag governs retrying.
pub fn wait_policy(poll: &PollArgs, retries: u32) -> Result<WaitPolicy, Failure> {
    let policy = WaitPolicy {
        min_interval: Duration::from_millis(poll.min_interval),
        max_interval: Duration::from_millis(poll.max_interval),
        max_wait: Duration::from_secs(poll.max_wait),
        max_consecutive_errors: retries,
        ..WaitPolicy::default()
    };
    policy
        .validate()
        .map_err(|e| Failure::from_error(&Error::InvalidPolicy(e)))?;
    Ok(policy)
}

/// `--retries` extra attempts. A call's overall budget (which also cuts a
/// request short) leaves every attempt its full `--timeout` plus the pauses
/// between attempts, so a long `--timeout` is honoured.
pub fn retry_policy(timeout: Duration, retries: u32) -> RetryPolicy {
    let default = RetryPolicy::default();
    let attempts = retries.saturating_add(1);
    let budget = timeout
        .saturating_mul(attempts)
        .saturating_add(default.max_backoff.saturating_mul(retries));
    RetryPolicy {
        retries,
        max_elapsed: budget.clamp(default.max_elapsed, WaitPolicy::MAX_WAIT_LIMIT),
        ..default
    }
}

/// A client, and the simulator it talks to with `--simulate` (kept running
/// until the command ends).
pub struct Connection {
    /// The client every request of the command goes through.
    pub client: Client,
    _simulator: Option<SimHandle>,
}

/// Check the endpoint (`--endpoint`, or `service`'s in `--region`) and
/// credentials, start the simulator if asked, and build a client that stops on Ctrl-C.
pub fn connect(
    global: &Global,
    matches: &ArgMatches,
    interrupt: &Interrupt,
    service: Service,
) -> Result<Connection, Failure> {
    let given = credentials::resolve(global, matches, &process_env)?;
    let timeout = Duration::from_secs(global.timeout);
    let builder = Client::builder()
        .timeout(timeout)
        .retry_policy(retry_policy(timeout, global.retries));
    let (builder, simulator) = if global.simulate {
        let mut sim = Sim::builder();
        if let Some(given) = &given {
            let mut scenario = Scenario::default();
            sim = accept(sim, &mut scenario, given);
            sim = sim.scenario(scenario);
        }
        let handle = sim.start().map_err(simulator_failure)?;
        let endpoint = Endpoint::parse(handle.base_url()).map_err(invalid)?;
        let credentials = match given {
            Some(given) => to_credentials(given, Some(handle.base_url()), false)?,
            None => Credentials::Token(Token::new(SIMULATOR_TOKEN).map_err(invalid)?),
        };
        let builder = builder
            .endpoint(endpoint)
            .credentials(credentials)
            .proxy_from_env(false);
        (builder, Some(handle))
    } else {
        let endpoint = region::service_endpoint(global, service, &process_env)?;
        let credentials = match given {
            Some(given) => to_credentials(given, None, global.allow_http)?,
            None => credentials::from_chain(global, &process_env)?.0,
        };
        // A proxy cannot reach this machine's loopback interface.
        let builder = builder
            .proxy_from_env(!endpoint.is_loopback())
            .endpoint(endpoint)
            .credentials(credentials);
        (builder, None)
    };
    let client = builder
        .cancel_token(interrupt.cancel_token())
        .build()
        .map_err(failure)?;
    Ok(Connection {
        client,
        _simulator: simulator,
    })
}

/// The client's credentials. An IAM login's endpoint: `simulator` with
/// `--simulate`, else the one given, else [`DEFAULT_IAM_ENDPOINT`]; checked
/// like the service endpoint (the password travels to it).
fn to_credentials(
    given: Given,
    simulator: Option<&str>,
    allow_http: bool,
) -> Result<Credentials, Failure> {
    Ok(match given {
        Given::Token(token) => Credentials::Token(token),
        Given::AkSk(credentials) => Credentials::AkSk(credentials),
        Given::Iam(login) => Credentials::IamPassword(iam_password(login, simulator, allow_http)?),
    })
}

pub fn iam_password(
    login: IamLogin,
    simulator: Option<&str>,
    allow_http: bool,
) -> Result<IamPassword, Failure> {
    let url = simulator
        .or(login.endpoint.as_deref())
        .unwrap_or(DEFAULT_IAM_ENDPOINT);
    let endpoint = Endpoint::parse_with(url, allow_http).map_err(|e| {
        Failure::invalid_input(format!(
            "{e} (the IAM endpoint, from --iam-endpoint, HUAWEICLOUD_SDK_IAM_ENDPOINT or --region)"
        ))
    })?;
    Ok(IamPassword::new(endpoint, login.request))
}

/// Make the simulator accept the credentials given: a token replaces the
/// scenario's tokens; an AK/SK pair and an IAM user are added to it.
pub fn accept(sim: SimBuilder, scenario: &mut Scenario, given: &Given) -> SimBuilder {
    match given {
        Given::Token(token) => return sim.token(token.expose_secret()),
        Given::AkSk(_) => {
            if let Some(key) = credentials::simulator_access_key(&process_env) {
                scenario
                    .access_keys
                    .retain(|k| k.access_key != key.access_key);
                scenario.access_keys.push(key);
            }
        }
        Given::Iam(login) => add_iam_user(scenario, login),
    }
    sim
}

/// Add the login's user (with its password) and project to the scenario's IAM.
pub fn add_iam_user(scenario: &mut Scenario, login: &IamLogin) {
    let request = &login.request;
    let domains = &mut scenario.iam.domains;
    let index = match domains.iter().position(|d| d.name == request.domain_name()) {
        Some(index) => index,
        None => {
            domains.push(IamDomain {
                name: request.domain_name().to_owned(),
                projects: Vec::new(),
                users: Vec::new(),
            });
            domains.len() - 1
        }
    };
    let domain = &mut domains[index];
    let (id, name) = match request.scope() {
        ProjectScope::Name(name) => (name, name),
        ProjectScope::Id(id) => (id, id),
    };
    if !domain
        .projects
        .iter()
        .any(|p| &p.id == id || &p.name == name)
    {
        domain.projects.push(IamProject {
            id: id.clone(),
            name: name.clone(),
        });
    }
    domain.users.retain(|u| u.name != request.user_name());
    domain.users.push(IamUser {
        name: request.user_name().to_owned(),
        password: request.password().expose_secret().to_owned(),
    });
}

/// The scenario's first IAM user, domain and project: who `--simulate token`
/// logs in as when no `--iam-*` flag is given.
pub fn simulator_iam_user(scenario: &Scenario) -> Option<DefaultIamUser> {
    let domain = scenario.iam.domains.first()?;
    let user = domain.users.first()?;
    Some(DefaultIamUser {
        user: user.name.clone(),
        domain: domain.name.clone(),
        project: domain.projects.first()?.name.clone(),
        password: Password::new(user.password.as_str()).ok()?,
    })
}

pub fn simulator_failure(e: SimError) -> Failure {
    match e {
        SimError::Scenario(e) => Failure::invalid_input(e.to_string()),
        other => Failure::plain(Kind::Transport, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koophone_ureq::{CancelToken, ShowProgress};

    fn cancelled() -> CancelToken {
        let token = CancelToken::new();
        token.cancel();
        token
    }

    #[test]
    fn wait_policy_takes_the_flags_and_refuses_bad_ones() {
        let poll = PollArgs {
            max_wait: 600,
            min_interval: 1000,
            max_interval: 15000,
        };
        let policy = wait_policy(&poll, 2).unwrap();
        assert_eq!(policy.max_wait, Duration::from_secs(600));
        assert_eq!(policy.min_interval, Duration::from_secs(1));
        assert_eq!(policy.max_interval, Duration::from_secs(15));
        assert_eq!(policy.max_consecutive_errors, 2);
        let backwards = PollArgs {
            min_interval: 20000,
            ..poll
        };
        assert_eq!(
            wait_policy(&backwards, 2).unwrap_err().kind,
            Kind::InvalidInput
        );
        let zero = PollArgs {
            min_interval: 0,
            ..poll
        };
        assert_eq!(wait_policy(&zero, 2).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn retry_budget_leaves_every_attempt_its_timeout() {
        let default = retry_policy(Duration::from_secs(30), 2);
        assert_eq!(default.retries, 2);
        assert_eq!(default.max_elapsed, Duration::from_secs(100));
        let short = retry_policy(Duration::from_secs(1), 0);
        assert_eq!(short.max_elapsed, RetryPolicy::default().max_elapsed);
        let huge = retry_policy(Duration::from_secs(86_400), u32::MAX);
        assert_eq!(huge.max_elapsed, WaitPolicy::MAX_WAIT_LIMIT);
        assert!(huge.to_wait_policy().validate().is_ok());
    }

    #[test]
    fn a_cancelled_client_ends_with_exit_code_130_and_sends_nothing() {
        let sim = Sim::builder().start().unwrap();
        let client = Client::builder()
            .endpoint_url(sim.base_url())
            .token(Token::new(SIMULATOR_TOKEN).unwrap())
            .proxy_from_env(false)
            .cancel_token(cancelled())
            .build()
            .unwrap();
        let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
        let err = client
            .wait_until_ready(op, WaitPolicy::default(), |_| {})
            .unwrap_err();
        let failure = Failure::from_error(&err);
        assert_eq!((failure.kind, failure.exit_code()), (Kind::Cancelled, 130));
        assert!(sim.request_log().is_empty());
    }
}
