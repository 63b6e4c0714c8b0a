//! The commands: validate everything first (nothing is sent on bad input),
//! then connect ([`crate::connect`]), then call or wait, and render the
//! result ([`crate::render`]). Every operation goes through the same two
//! paths: `Context::call` and `Context::wait`.

use std::time::Instant;

use clap::ArgMatches;
use koophone_ureq::{
    BatchPrepareInstances, Client, InstanceState, Operation, PreparedInstances, Service,
    ShowInstanceStatus, ShowProgress, Target, UntilReady, UntilState, WaitPolicy, Waited,
};

use crate::args::{Cli, Command, Global, PollArgs, PrepareArgs};
use crate::connect::{connect, failure, invalid, wait_policy};
use crate::exit::{Failure, Kind};
use crate::interrupt::Interrupt;
use crate::live::LiveLine;
use crate::output::Report;
use crate::render::FleetMember;
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
            let op =
                ShowProgress::new(&args.ids.user_id, &args.ids.instance_id).map_err(invalid)?;
            let subject = op.instance_id().to_owned();
            cx.wait(Service::KooPhone, op, UntilReady, &args.poll, &subject)
        }
        Command::Status(ids) => {
            let op = ShowInstanceStatus::new(&ids.project_id, &ids.instance_id).map_err(invalid)?;
            cx.call(Service::CloudDc, &op)
        }
        Command::WaitState(args) => {
            let op = ShowInstanceStatus::new(&args.ids.project_id, &args.ids.instance_id)
                .map_err(invalid)?;
            if args.state.is_empty() {
                return Err(Failure::invalid_input("invalid state: must not be empty"));
            }
            let target = UntilState::new(InstanceState::parse(&args.state));
            let subject = op.instance_id().to_owned();
            cx.wait(Service::CloudDc, op, target, &args.poll, &subject)
        }
        Command::Prepare(args) => cx.prepare(args),
        Command::Token => token::issue_token(global, interrupt).map(Outcome::Report),
        Command::Sim(args) => serve::serve(args, global, matches, interrupt).map(Outcome::Printed),
        Command::Completions(args) => Ok(Outcome::Printed(docs::completions(args))),
        Command::Man(args) => docs::man_page(args).map(Outcome::Printed),
    }
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
    /// first failure ends the command); with `--wait`, then a wait for each
    /// instance as `wait` does, one after another within one `--max-wait`.
    fn prepare(&self, args: &PrepareArgs) -> Result<Outcome, Failure> {
        let ids =
            crate::instances::instance_ids(&args.instance_id, args.instances_file.as_deref())?;
        let batches = BatchPrepareInstances::in_batches(&args.user_id, &ids).map_err(invalid)?;
        let policy = if args.wait {
            Some(wait_policy(&args.poll(), self.global.retries)?)
        } else {
            None
        };
        let start = Instant::now();
        let conn = connect(self.global, self.matches, self.interrupt, Service::KooPhone)?;
        let mut prepared = PreparedInstances {
            instances: Vec::with_capacity(ids.len()),
        };
        for batch in &batches {
            let answer = conn.client.prepare_instances(batch).map_err(failure)?;
            prepared.instances.extend(answer.instances);
        }
        let Some(policy) = policy else {
            return Ok(Outcome::Report(prepared.report()));
        };
        let ops: Vec<ShowProgress> = batches
            .iter()
            .flat_map(BatchPrepareInstances::progress_operations)
            .collect();
        let mut requests = batches.len() as u64;
        if let [op] = &ops[..] {
            let waited = wait_progress(&conn.client, op.clone(), policy, &mut requests)?;
            return Ok(Outcome::Report(render::waited(&waited)));
        }
        let deadline = start + policy.max_wait;
        let mut members = Vec::with_capacity(ops.len());
        for op in ops {
            let instance_id = op.instance_id().to_owned();
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome = if left.is_zero() {
                Err(Failure::plain(
                    Kind::Timeout,
                    "the wait deadline passed before this instance was polled",
                ))
            } else {
                let policy = WaitPolicy {
                    max_wait: left,
                    ..policy
                };
                wait_progress(&conn.client, op, policy, &mut requests)
            };
            if let Err(f) = &outcome
                && f.kind == Kind::Cancelled
            {
                return Err(Failure::interrupted());
            }
            members.push(FleetMember {
                instance_id,
                outcome,
            });
        }
        let code = render::Summary::exit_code(&members);
        Ok(Outcome::Fleet(
            render::fleet(&members, requests, start.elapsed()),
            code,
        ))
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
