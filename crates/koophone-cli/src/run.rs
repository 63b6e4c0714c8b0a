//! The commands: validate everything first (nothing is sent on bad input),
//! then connect (to `--endpoint`, or to the embedded simulator with
//! `--simulate`), then call or wait.

use std::io::Write;
use std::time::Duration;

use clap::{ArgMatches, CommandFactory};
use koophone_sim::{Scenario, Sim, SimError, SimHandle};
use koophone_ureq::{
    Client, Credentials, Endpoint, Error, InstanceState, InvalidInput, RetryPolicy,
    ShowInstanceStatus, ShowProgress, Token, UntilState, WaitPolicy,
};

use crate::args::{Cli, Command, CompletionsArgs, Global, PollArgs, SimArgs};
use crate::credentials;
use crate::exit::{Failure, Kind};
use crate::interrupt::Interrupt;
use crate::live::LiveLine;
use crate::output::{self, Report};

/// The token the embedded simulator accepts when `--simulate` is given no token.
const SIMULATOR_TOKEN: &str = "sim-token";

/// Run the command; `Some` report to print, `None` when the command printed
/// its own output (`sim`, `completions`).
pub fn run(
    cli: &Cli,
    matches: &ArgMatches,
    interrupt: &Interrupt,
) -> Result<Option<Report>, Failure> {
    let global = &cli.global;
    match &cli.command {
        Command::Progress(ids) => {
            let op = ShowProgress::new(&ids.user_id, &ids.instance_id).map_err(invalid)?;
            let conn = connect(global, matches, interrupt)?;
            let progress = conn.client.show_progress(&op).map_err(failure)?;
            Ok(Some(output::progress(&progress)))
        }
        Command::Wait(args) => {
            let op =
                ShowProgress::new(&args.ids.user_id, &args.ids.instance_id).map_err(invalid)?;
            let policy = wait_policy(&args.poll, global.retries)?;
            let conn = connect(global, matches, interrupt)?;
            let live = LiveLine::start(op.instance_id());
            let waited = conn.client.wait_until_ready(op, policy, |seen| {
                live.observe(seen, output::describe_progress);
            });
            drop(live);
            Ok(Some(output::waited_progress(&waited.map_err(failure)?)))
        }
        Command::Status(ids) => {
            let op = ShowInstanceStatus::new(&ids.project_id, &ids.instance_id).map_err(invalid)?;
            let conn = connect(global, matches, interrupt)?;
            let status = conn.client.show_instance_status(&op).map_err(failure)?;
            Ok(Some(output::status(&status)))
        }
        Command::WaitState(args) => {
            let op = ShowInstanceStatus::new(&args.ids.project_id, &args.ids.instance_id)
                .map_err(invalid)?;
            if args.state.is_empty() {
                return Err(Failure::invalid_input("invalid state: must not be empty"));
            }
            let target = UntilState::new(InstanceState::parse(&args.state));
            let policy = wait_policy(&args.poll, global.retries)?;
            let conn = connect(global, matches, interrupt)?;
            let live = LiveLine::start(op.instance_id());
            let waited = conn.client.wait_for_state(op, target, policy, |seen| {
                live.observe(seen, output::describe_status);
            });
            drop(live);
            Ok(Some(output::waited_status(&waited.map_err(failure)?)))
        }
        Command::Sim(args) => serve(args, global, matches, interrupt).map(|()| None),
        Command::Completions(args) => {
            completions(args);
            Ok(None)
        }
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

/// Check the endpoint and credentials, start the simulator if asked, and
/// build a client that stops on Ctrl-C.
fn connect(
    global: &Global,
    matches: &ArgMatches,
    interrupt: &Interrupt,
) -> Result<Connection, Failure> {
    let credentials = credentials::resolve(global, matches)?;
    let timeout = Duration::from_secs(global.timeout);
    let builder = Client::builder()
        .timeout(timeout)
        .retry_policy(retry_policy(timeout, global.retries));
    let (builder, simulator) = if global.simulate {
        // The simulator accepts the token given, so any token works with it.
        let credentials = match credentials {
            Some(credentials) => credentials,
            None => Credentials::Token(Token::new(SIMULATOR_TOKEN).map_err(invalid)?),
        };
        let mut sim = Sim::builder();
        if let Credentials::Token(token) = &credentials {
            sim = sim.token(token.expose_secret());
        }
        let handle = sim.start().map_err(simulator_failure)?;
        let endpoint = Endpoint::parse(handle.base_url()).map_err(invalid)?;
        let builder = builder
            .endpoint(endpoint)
            .credentials(credentials)
            .proxy_from_env(false);
        (builder, Some(handle))
    } else {
        let url = global.endpoint.as_deref().ok_or_else(|| {
            Failure::invalid_input(
                "no endpoint: give --endpoint URL or KOOPHONE_ENDPOINT, or use --simulate",
            )
        })?;
        let endpoint = Endpoint::parse_with(url, global.allow_http).map_err(invalid)?;
        let credentials = credentials.ok_or_else(|| {
            Failure::invalid_input("no token: give --token, --token-file or KOOPHONE_TOKEN")
        })?;
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

fn simulator_failure(e: SimError) -> Failure {
    match e {
        SimError::Scenario(e) => Failure::invalid_input(e.to_string()),
        other => Failure::plain(Kind::Transport, other.to_string()),
    }
}

/// `sim`: serve until interrupted, announcing the address first.
fn serve(
    args: &SimArgs,
    global: &Global,
    matches: &ArgMatches,
    interrupt: &Interrupt,
) -> Result<(), Failure> {
    let scenario = match &args.scenario {
        Some(path) => {
            Scenario::from_file(path).map_err(|e| Failure::invalid_input(e.to_string()))?
        }
        None => Scenario::default(),
    };
    let mut sim = Sim::builder()
        .scenario(scenario)
        .seed(args.seed)
        .listen(args.listen);
    if let Some(Credentials::Token(token)) = credentials::resolve(global, matches)? {
        sim = sim.token(token.expose_secret());
    }
    let handle = sim.start().map_err(simulator_failure)?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", handle.base_url())
            .and_then(|()| stdout.flush())
            .map_err(|e| Failure::plain(Kind::Transport, format!("cannot write to stdout: {e}")))?;
    }
    if !interrupt.wait() {
        return Err(Failure::plain(
            Kind::Transport,
            "cannot install a Ctrl-C handler to serve until interrupted",
        ));
    }
    handle.shutdown();
    Ok(())
}

/// `completions`: the script on stdout.
fn completions(args: &CompletionsArgs) {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "koophone", &mut std::io::stdout());
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
