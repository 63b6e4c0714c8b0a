//! The commands: validate everything first (nothing is sent on bad input),
//! then connect ([`crate::connect`]), then call or wait, and render the
//! result ([`crate::render`]). Every operation goes through the same two
//! paths: `Context::call` and `Context::wait`.

use std::time::Instant;

use clap::ArgMatches;
use koophone_ureq::{
    BatchPrepareInstances, Client, Error, FleetPolicy, FleetWaited, InstanceState, InvalidInput,
    Operation, PreparedInstances, Service, ShowInstanceStatus, ShowProgress, Target, UntilReady,
    UntilState, WaitPolicy, Waited,
};

use crate::args::{Cli, Command, FleetArgs, Global, InstancesArgs, PollArgs, PrepareArgs};
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
    /// A fleet's result, printed like a report, with the fleet's exit code.
    Fleet(Report, u8),
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
            let (ids, ops) =
                operations(&args.instances, |id| ShowProgress::new(&args.user_id, id))?;
            let spec = WaitSpec {
                poll: &args.poll,
                fleet: &args.fleet,
                ready: "normal",
            };
            cx.wait_each(Service::KooPhone, ops, UntilReady, &ids, &spec)
        }
        Command::Status(ids) => {
            let op = ShowInstanceStatus::new(&ids.project_id, &ids.instance_id).map_err(invalid)?;
            cx.call(Service::CloudDc, &op)
        }
        Command::WaitState(args) => {
            let (ids, ops) = operations(&args.instances, |id| {
                ShowInstanceStatus::new(&args.project_id, id)
            })?;
            if args.state.is_empty() {
                return Err(Failure::invalid_input("invalid state: must not be empty"));
            }
            let target = UntilState::new(InstanceState::parse(&args.state));
            let spec = WaitSpec {
                poll: &args.poll,
                fleet: &args.fleet,
                ready: &args.state,
            };
            cx.wait_each(Service::CloudDc, ops, target, &ids, &spec)
        }
        Command::Prepare(args) => cx.prepare(args),
        Command::Token => token::issue_token(global, interrupt).map(Outcome::Report),
        Command::Sim(args) => serve::serve(args, global, matches, interrupt).map(Outcome::Printed),
        Command::Completions(args) => Ok(Outcome::Printed(docs::completions(args))),
        Command::Man(args) => docs::man_page(args).map(Outcome::Printed),
    }
}

/// The ids of `--instance-id` and `--instances-file` (at least one) and one
/// operation per id, built by `new`: every id is checked before anything is
/// sent.
fn operations<O>(
    args: &InstancesArgs,
    new: impl Fn(&str) -> Result<O, InvalidInput>,
) -> Result<(Vec<String>, Vec<O>), Failure> {
    let ids = instances::instance_ids(&args.instance_ids, args.instances_file.as_deref())?;
    if ids.is_empty() {
        return Err(Failure::invalid_input(
            "no instance id given (--instance-id, or ids in --instances-file)",
        ));
    }
    let ops = ids
        .iter()
        .map(|id| new(id).map_err(invalid))
        .collect::<Result<_, _>>()?;
    Ok((ids, ops))
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

/// How the waits of a command poll and share the service.
struct WaitSpec<'a> {
    poll: &'a PollArgs,
    fleet: &'a FleetArgs,
    /// The label the live line counts as ready (`normal`, the state waited for).
    ready: &'a str,
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

    /// `prepare`: every batch of at most 100 ids, one after another (the
    /// first failure ends the command). With `--wait` and several
    /// instances, each batch's instances join one fleet wait as soon as the
    /// batch is prepared (one process, `--concurrency`, `--rate`), and a
    /// refused batch's instances are fleet members with its error, unless
    /// no batch was prepared; with one instance, the single-instance wait.
    fn prepare(&self, args: &PrepareArgs) -> Result<Outcome, Failure> {
        let ids =
            crate::instances::instance_ids(&args.instance_id, args.instances_file.as_deref())?;
        let batches = BatchPrepareInstances::in_batches(&args.user_id, &ids).map_err(invalid)?;
        let policies = if args.wait {
            Some((
                wait_policy(&args.poll(), self.global.retries)?,
                fleet_policy(&args.fleet)?,
            ))
        } else {
            None
        };
        let start = Instant::now();
        let conn = connect(self.global, self.matches, self.interrupt, Service::KooPhone)?;
        let client = &conn.client;
        let Some((policy, fleet)) = policies else {
            let mut prepared = PreparedInstances {
                instances: Vec::with_capacity(ids.len()),
            };
            for batch in &batches {
                let answer = client.prepare_instances(batch).map_err(failure)?;
                prepared.instances.extend(answer.instances);
            }
            return Ok(Outcome::Report(prepared.report()));
        };
        let wait_ids: Vec<String> = batches
            .iter()
            .flat_map(BatchPrepareInstances::progress_operations)
            .map(|op| op.instance_id().to_owned())
            .collect();
        if let [batch] = &batches[..]
            && let [op] = &batch.progress_operations()[..]
        {
            client.prepare_instances(batch).map_err(failure)?;
            let mut requests = 1;
            let waited = wait_progress(client, op.clone(), policy, &mut requests)?;
            return Ok(Outcome::Report(render::waited(&waited)));
        }
        // Batches are prepared as the fleet asks for more instances, on this
        // thread, while the waits of the earlier batches go on. A refused
        // batch does not stop the others; its instances are reported with
        // its error.
        let mut prepared: Vec<Result<(), Failure>> = Vec::with_capacity(batches.len());
        let instances = batches
            .iter()
            .flat_map(|batch| {
                let outcome = client.prepare_instances(batch).map(drop).map_err(failure);
                let ops = match outcome {
                    Ok(()) => batch.progress_operations(),
                    Err(_) => Vec::new(),
                };
                prepared.push(outcome);
                ops
            })
            .map(|op| (op, UntilReady));
        let waited = fleet_wait(client, instances, wait_ids.len(), policy, fleet, "normal")?;
        // Nothing was prepared, so nothing was waited for: the command failed.
        if !prepared.iter().any(Result::is_ok)
            && let Some(Err(refused)) = prepared.first()
        {
            return Err(refused.clone());
        }
        let requests = waited.summary.requests + prepared.len() as u64;
        let mut waits = waited.instances.into_iter();
        let mut members = Vec::with_capacity(wait_ids.len());
        for (k, batch) in batches.iter().enumerate() {
            // A batch never asked for: the command was interrupted first.
            let outcome = prepared
                .get(k)
                .cloned()
                .unwrap_or(Err(Failure::interrupted()));
            for op in batch.progress_operations() {
                members.push(render::FleetMember {
                    instance_id: op.instance_id().to_owned(),
                    outcome: match &outcome {
                        Ok(()) => render::member_outcome(waits.next()),
                        Err(refused) => Err(refused.clone()),
                    },
                });
            }
        }
        Ok(fleet_outcome(&members, requests, start))
    }

    /// One wait per operation: the single-instance wait for one, a fleet
    /// (one process, one rate and concurrency limit) for more.
    fn wait_each<O, T>(
        &self,
        service: Service,
        mut ops: Vec<O>,
        target: T,
        ids: &[String],
        spec: &WaitSpec<'_>,
    ) -> Result<Outcome, Failure>
    where
        O: Operation + Send + 'static,
        O::Output: Render,
        T: Target<O::Output> + Clone + Send + 'static,
    {
        if ops.len() == 1
            && let Some(op) = ops.pop()
        {
            return self.wait(service, op, target, spec.poll, &ids[0]);
        }
        let policy = wait_policy(spec.poll, self.global.retries)?;
        let fleet = fleet_policy(spec.fleet)?;
        let conn = connect(self.global, self.matches, self.interrupt, service)?;
        let start = Instant::now();
        let instances = ops.into_iter().map(|op| (op, target.clone()));
        let waited = fleet_wait(
            &conn.client,
            instances,
            ids.len(),
            policy,
            fleet,
            spec.ready,
        )?;
        let members = render::members(ids, waited.instances);
        Ok(fleet_outcome(&members, waited.summary.requests, start))
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
}

/// Run a fleet wait with the live summary line on a terminal.
fn fleet_wait<O, T>(
    client: &Client,
    instances: impl IntoIterator<Item = (O, T)>,
    total: usize,
    policy: WaitPolicy,
    fleet: FleetPolicy,
    ready: &str,
) -> Result<FleetWaited<O::Output>, Failure>
where
    O: Operation + Send + 'static,
    O::Output: Render,
    T: Target<O::Output> + Send + 'static,
{
    let mut live = FleetLine::start(total, ready);
    let waited = client.wait_fleet(instances, policy, fleet, |k, seen| live.observe(k, seen));
    drop(live);
    waited.map_err(failure)
}

/// The fleet's report and exit code. `requests` counts every request
/// sent, prepare calls included; `start` is when the command began sending.
fn fleet_outcome<R: Render>(
    members: &[render::FleetMember<R>],
    requests: u64,
    start: Instant,
) -> Outcome {
    let report = render::fleet(members, requests, start.elapsed());
    Outcome::Fleet(report, render::Summary::exit_code(members))
}

/// One instance's wait until normal, counting its requests (every answer,
/// error or transport failure the waiter saw) into `requests`.
fn wait_progress(
    client: &Client,
    op: ShowProgress,
    policy: WaitPolicy,
    requests: &mut u64,
) -> Result<Waited<koophone_ureq::Progress>, Failure> {
    let live = LiveLine::start(op.instance_id());
    let waited = client.wait(op, UntilReady, policy, |seen| {
        *requests += 1;
        live.observe(seen);
    });
    drop(live);
    waited.map_err(failure)
}
