//! The commands: validate everything first (nothing is sent on bad input),
//! then connect (to `--endpoint`, or to the embedded simulator with
//! `--simulate`), then call or wait.

use std::io::Write;
use std::time::Duration;

use clap::{ArgMatches, CommandFactory};
use koophone_sim::{
    IamDomain, IamProject, IamUser, Scenario, Sim, SimBuilder, SimError, SimHandle,
};
use koophone_ureq::{
    Client, ClientBuilder, Credentials, Endpoint, Error, IamPassword, InstanceState, InvalidInput,
    Password, ProjectScope, RetryPolicy, Service, ShowInstanceStatus, ShowProgress, Token,
    UntilState, WaitPolicy,
};

use crate::args::{Cli, Command, CompletionsArgs, Global, ManArgs, PollArgs, SimArgs};
use crate::credentials::{self, DEFAULT_IAM_ENDPOINT, DefaultIamUser, Given, IamLogin};
use crate::exit::{Failure, Kind};
use crate::interrupt::Interrupt;
use crate::live::LiveLine;
use crate::output::{self, Report};
use crate::region;

/// The token the embedded simulator accepts when `--simulate` is given no token.
const SIMULATOR_TOKEN: &str = "sim-token";

/// How a command that did not fail ends.
pub enum Outcome {
    /// A result for `main` to print.
    Report(Report),
    /// The command printed its own output (`sim`, `completions`, `man`); whether
    /// stdout took it.
    Printed(std::io::Result<()>),
}

/// Run the command.
pub fn run(cli: &Cli, matches: &ArgMatches, interrupt: &Interrupt) -> Result<Outcome, Failure> {
    let global = &cli.global;
    match &cli.command {
        Command::Progress(ids) => {
            let op = ShowProgress::new(&ids.user_id, &ids.instance_id).map_err(invalid)?;
            let conn = connect(global, matches, interrupt, Service::KooPhone)?;
            let progress = conn.client.show_progress(&op).map_err(failure)?;
            Ok(Outcome::Report(output::progress(&progress)))
        }
        Command::Wait(args) => {
            let op =
                ShowProgress::new(&args.ids.user_id, &args.ids.instance_id).map_err(invalid)?;
            let policy = wait_policy(&args.poll, global.retries)?;
            let conn = connect(global, matches, interrupt, Service::KooPhone)?;
            let live = LiveLine::start(op.instance_id());
            let waited = conn.client.wait_until_ready(op, policy, |seen| {
                live.observe(seen, output::describe_progress);
            });
            drop(live);
            Ok(Outcome::Report(output::waited_progress(
                &waited.map_err(failure)?,
            )))
        }
        Command::Status(ids) => {
            let op = ShowInstanceStatus::new(&ids.project_id, &ids.instance_id).map_err(invalid)?;
            let conn = connect(global, matches, interrupt, Service::CloudDc)?;
            let status = conn.client.show_instance_status(&op).map_err(failure)?;
            Ok(Outcome::Report(output::status(&status)))
        }
        Command::WaitState(args) => {
            let op = ShowInstanceStatus::new(&args.ids.project_id, &args.ids.instance_id)
                .map_err(invalid)?;
            if args.state.is_empty() {
                return Err(Failure::invalid_input("invalid state: must not be empty"));
            }
            let target = UntilState::new(InstanceState::parse(&args.state));
            let policy = wait_policy(&args.poll, global.retries)?;
            let conn = connect(global, matches, interrupt, Service::CloudDc)?;
            let live = LiveLine::start(op.instance_id());
            let waited = conn.client.wait_for_state(op, target, policy, |seen| {
                live.observe(seen, output::describe_status);
            });
            drop(live);
            Ok(Outcome::Report(output::waited_status(
                &waited.map_err(failure)?,
            )))
        }
        Command::Token => issue_token(global, interrupt).map(Outcome::Report),
        Command::Sim(args) => serve(args, global, matches, interrupt).map(Outcome::Printed),
        Command::Completions(args) => Ok(Outcome::Printed(completions(args))),
        Command::Man(args) => man_page(args).map(Outcome::Printed),
    }
}

fn invalid(e: InvalidInput) -> Failure {
    Failure::from_error(&Error::InvalidInput(e))
}

fn failure(e: Error) -> Failure {
    Failure::from_error(&e)
}

/// The waits' policy from the flags; `--retries` is also the number of
/// failures in a row a wait tolerates, so one flag governs retrying.
fn wait_policy(poll: &PollArgs, retries: u32) -> Result<WaitPolicy, Failure> {
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
fn retry_policy(timeout: Duration, retries: u32) -> RetryPolicy {
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
struct Connection {
    client: Client,
    _simulator: Option<SimHandle>,
}

/// Check the endpoint (`--endpoint`, or `service`'s in `--region`) and
/// credentials, start the simulator if asked, and build a client that stops on Ctrl-C.
fn connect(
    global: &Global,
    matches: &ArgMatches,
    interrupt: &Interrupt,
    service: Service,
) -> Result<Connection, Failure> {
    let given = credentials::resolve(global, matches, &credentials::process_env)?;
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
        let endpoint = region::service_endpoint(global, service, &credentials::process_env)?;
        let credentials = match given {
            Some(given) => to_credentials(given, None, global.allow_http)?,
            None => credentials::from_chain(global, &credentials::process_env)?.0,
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

fn iam_password(
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

/// `token`: ask IAM once for a project-scoped token (the simulator's IAM
/// with `--simulate`, whose default user stands in when no `--iam-*` flag is given).
fn issue_token(global: &Global, interrupt: &Interrupt) -> Result<Report, Failure> {
    let scenario = Scenario::default();
    let default_user = if global.simulate {
        simulator_iam_user(&scenario)
    } else {
        None
    };
    let login = credentials::resolve_iam(global, &credentials::process_env, default_user.as_ref())?
        .ok_or_else(|| {
            Failure::invalid_input(
                "no IAM login: give --iam-user, --iam-domain and --iam-project, \
                 with the password in KOOPHONE_IAM_PASSWORD",
            )
        })?;
    let simulator = if global.simulate {
        let mut scenario = scenario;
        add_iam_user(&mut scenario, &login);
        let sim = Sim::builder().scenario(scenario).start();
        Some(sim.map_err(simulator_failure)?)
    } else {
        None
    };
    let base_url = simulator.as_ref().map(SimHandle::base_url);
    let iam = iam_password(login, base_url, global.allow_http)?;
    let proxy = !iam.endpoint().is_loopback();
    let timeout = Duration::from_secs(global.timeout);
    let issued = ClientBuilder::default()
        .timeout(timeout)
        .retry_policy(retry_policy(timeout, global.retries))
        .proxy_from_env(proxy)
        .iam_password(iam)
        .cancel_token(interrupt.cancel_token())
        .issue_token()
        .map_err(failure)?;
    drop(simulator);
    Ok(output::issued_token(&issued))
}

/// Make the simulator accept the credentials given: a token replaces the
/// scenario's tokens; an AK/SK pair and an IAM user are added to it.
fn accept(sim: SimBuilder, scenario: &mut Scenario, given: &Given) -> SimBuilder {
    match given {
        Given::Token(token) => return sim.token(token.expose_secret()),
        Given::AkSk(_) => {
            if let Some(key) = credentials::simulator_access_key(&credentials::process_env) {
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
fn add_iam_user(scenario: &mut Scenario, login: &IamLogin) {
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
fn simulator_iam_user(scenario: &Scenario) -> Option<DefaultIamUser> {
    let domain = scenario.iam.domains.first()?;
    let user = domain.users.first()?;
    Some(DefaultIamUser {
        user: user.name.clone(),
        domain: domain.name.clone(),
        project: domain.projects.first()?.name.clone(),
        password: Password::new(user.password.as_str()).ok()?,
    })
}

fn simulator_failure(e: SimError) -> Failure {
    match e {
        SimError::Scenario(e) => Failure::invalid_input(e.to_string()),
        other => Failure::plain(Kind::Transport, other.to_string()),
    }
}

/// `sim`: serve until interrupted, announcing the address first. When the
/// announcement cannot be written nobody can learn the address: the
/// simulator stops at once and the write error is returned.
fn serve(
    args: &SimArgs,
    global: &Global,
    matches: &ArgMatches,
    interrupt: &Interrupt,
) -> Result<std::io::Result<()>, Failure> {
    let scenario = match &args.scenario {
        Some(path) => {
            Scenario::from_file(path).map_err(|e| Failure::invalid_input(e.to_string()))?
        }
        None => Scenario::default(),
    };
    let mut scenario = scenario;
    let mut sim = Sim::builder().seed(args.seed).listen(args.listen);
    if let Some(given) = credentials::resolve(global, matches, &credentials::process_env)? {
        sim = accept(sim, &mut scenario, &given);
    }
    let sim = sim.scenario(scenario);
    let handle = sim.start().map_err(simulator_failure)?;
    let announced = output::write_line(
        &mut std::io::stdout().lock(),
        &format!("listening on {}", handle.base_url()),
    );
    if let Err(e) = announced {
        handle.shutdown();
        return Ok(Err(e));
    }
    if !interrupt.wait() {
        return Err(Failure::plain(
            Kind::Transport,
            "cannot install a Ctrl-C handler to serve until interrupted",
        ));
    }
    handle.shutdown();
    Ok(Ok(()))
}

/// `completions`: the script on stdout. Generated into memory first:
/// clap_complete panics when its writer fails.
fn completions(args: &CompletionsArgs) -> std::io::Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "koophone", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script).and_then(|()| stdout.flush())
}

/// `man`: the roff page of the command (its options and commands), or of
/// one command, on stdout. The `help` command is left out: a page for it
/// would only repeat `--help`.
fn man_page(args: &ManArgs) -> Result<std::io::Result<()>, Failure> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building names the commands' pages `koophone-COMMAND`.
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => command.find_subcommand(name).cloned().ok_or_else(|| {
            let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
            Failure::invalid_input(format!(
                "no command {name:?} has a man page: one of {}",
                names.join(", ")
            ))
        })?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .source(concat!("koophone ", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
        .map_err(|e| Failure::plain(Kind::Transport, format!("cannot render the man page: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    Ok(stdout.write_all(&roff).and_then(|()| stdout.flush()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use koophone_ureq::CancelToken;

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
