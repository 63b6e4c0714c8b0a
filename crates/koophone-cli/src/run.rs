//! The commands: validate everything first (nothing is sent on bad input),
//! then connect ([`crate::connect`]), then call or wait, and render the
//! result ([`crate::render`]). Every operation goes through the same two
//! paths: `Context::call` and `Context::wait`.

use clap::ArgMatches;
use koophone_ureq::{
    Error, FleetPolicy, InstanceState, Operation, Service, ShowInstanceStatus, ShowProgress,
    Target, UntilReady, UntilState,
};

use crate::args::{Cli, Command, FleetArgs, Global, InstancesArgs, PollArgs};
use crate::connect::{connect, failure, invalid, wait_policy};
use crate::exit::Failure;
use crate::instances;
use crate::interrupt::Interrupt;
use crate::live::{FleetLine, LiveLine};
use crate::output::Report;
use crate::render::{self, Render};
use crate::{docs, serve, token};

/// How a command that did not fail ends.
pub enum Outcome {
    /// A result for `main` to print.
    Report(Report),
    /// A fleet's result, with the exit code its instances decide.
    Fleet {
        /// The fleet document or summary.
        report: Report,
        /// The contract's fleet exit code.
        code: u8,
    },
    /// The command printed its own output (`sim`, `completions`, `man`); whether
    /// stdout took it.
    Printed(std::io::Result<()>),
}

/// Run the command.
pub fn run(cli: &Cli, matches: &ArgMatches, interrupt: &Interrupt) -> Result<Outcome, Failure> {
    let global = &cli.global;
    let cx = Context {
        global,
        matches,
        interrupt,
    };
    match &cli.command {
        Command::Progress(ids) => {
            let op = ShowProgress::new(&ids.user_id, &ids.instance_id).map_err(invalid)?;
            cx.call(Service::KooPhone, &op)
        }
        Command::Wait(args) => {
            let ids = instance_ids(&args.instances)?;
            let ops = ids
                .iter()
                .map(|id| ShowProgress::new(&args.user_id, id).map_err(invalid))
                .collect::<Result<Vec<_>, _>>()?;
            cx.wait_each(
                Service::KooPhone,
                ops,
                UntilReady,
                &args.poll,
                &args.fleet,
                &ids,
                "normal",
            )
        }
        Command::Status(ids) => {
            let op = ShowInstanceStatus::new(&ids.project_id, &ids.instance_id).map_err(invalid)?;
            cx.call(Service::CloudDc, &op)
        }
        Command::WaitState(args) => {
            let ids = instance_ids(&args.instances)?;
            let ops = ids
                .iter()
                .map(|id| ShowInstanceStatus::new(&args.project_id, id).map_err(invalid))
                .collect::<Result<Vec<_>, _>>()?;
            if args.state.is_empty() {
                return Err(Failure::invalid_input("invalid state: must not be empty"));
            }
            let target = UntilState::new(InstanceState::parse(&args.state));
            cx.wait_each(
                Service::CloudDc,
                ops,
                target,
                &args.poll,
                &args.fleet,
                &ids,
                &args.state,
            )
        }
        Command::Token => token::issue_token(global, interrupt).map(Outcome::Report),
        Command::Sim(args) => serve::serve(args, global, matches, interrupt).map(Outcome::Printed),
        Command::Completions(args) => Ok(Outcome::Printed(docs::completions(args))),
        Command::Man(args) => docs::man_page(args).map(Outcome::Printed),
    }
}

/// The ids of `--instance-id` and `--instances-file`.
fn instance_ids(args: &InstancesArgs) -> Result<Vec<String>, Failure> {
    instances::instance_ids(&args.instance_ids, args.instances_file.as_deref())
}

/// The fleet's policy from the flags, checked before anything is sent.
fn fleet_policy(args: &FleetArgs) -> Result<FleetPolicy, Failure> {
    let concurrency = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    let policy = FleetPolicy::default().with_limits(args.rate, concurrency);
    policy
        .validate()
        .map_err(|e| Failure::from_error(&Error::InvalidFleetPolicy(e)))?;
    Ok(policy)
}

/// What every operation's command needs besides the operation.
struct Context<'a> {
    global: &'a Global,
    matches: &'a ArgMatches,
    interrupt: &'a Interrupt,
}

impl Context<'_> {
    /// One call of `op`, with the client's retries.
    fn call<O>(&self, service: Service, op: &O) -> Result<Outcome, Failure>
    where
        O: Operation,
        O::Output: Render,
    {
        let conn = connect(self.global, self.matches, self.interrupt, service)?;
        let output = conn.client.call(op).map_err(failure)?;
        Ok(Outcome::Report(output.report()))
    }

    /// Poll `op` until `target` holds, drawing each answer on a terminal.
    fn wait<O, T>(
        &self,
        service: Service,
        op: O,
        target: T,
        poll: &PollArgs,
        subject: &str,
    ) -> Result<Outcome, Failure>
    where
        O: Operation,
        O::Output: Render,
        T: Target<O::Output>,
    {
        let policy = wait_policy(poll, self.global.retries)?;
        let conn = connect(self.global, self.matches, self.interrupt, service)?;
        let live = LiveLine::start(subject);
        let waited = conn
            .client
            .wait(op, target, policy, |seen| live.observe(seen));
        drop(live);
        Ok(Outcome::Report(render::waited(&waited.map_err(failure)?)))
    }

    /// One wait per operation: the single-instance wait for one, a fleet
    /// (one process, shared rate and concurrency) for more. `ready` is the
    /// label the live line counts as ready.
    #[allow(clippy::too_many_arguments)]
    fn wait_each<O, T>(
        &self,
        service: Service,
        mut ops: Vec<O>,
        target: T,
        poll: &PollArgs,
        fleet: &FleetArgs,
        ids: &[String],
        ready: &str,
    ) -> Result<Outcome, Failure>
    where
        O: Operation + Send + 'static,
        O::Output: Render,
        T: Target<O::Output> + Clone + Send + 'static,
    {
        if ops.len() == 1
            && let Some(op) = ops.pop()
        {
            return self.wait(service, op, target, poll, &ids[0]);
        }
        let policy = wait_policy(poll, self.global.retries)?;
        let fleet = fleet_policy(fleet)?;
        let conn = connect(self.global, self.matches, self.interrupt, service)?;
        let mut live = FleetLine::start(ops.len(), ready);
        let instances = ops.into_iter().map(|op| (op, target.clone()));
        let waited = conn
            .client
            .wait_fleet(instances, policy, fleet, |k, seen| live.observe(k, seen))
            .map_err(failure)?;
        drop(live);
        let (report, code) = render::fleet(ids, &waited);
        Ok(Outcome::Fleet { report, code })
    }
}
