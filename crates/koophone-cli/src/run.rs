//! The commands: validate everything first (nothing is sent on bad input),
//! then connect ([`crate::connect`]), then call or wait, and render the
//! result ([`crate::render`]). Every operation goes through the same two
//! paths: `Context::call` and `Context::wait`.

use clap::ArgMatches;
use koophone_ureq::{
    InstanceState, Operation, Service, ShowInstanceStatus, ShowProgress, Target, UntilReady,
    UntilState,
};

use crate::args::{Cli, Command, Global, PollArgs};
use crate::connect::{connect, failure, invalid, wait_policy};
use crate::exit::Failure;
use crate::interrupt::Interrupt;
use crate::live::LiveLine;
use crate::output::Report;
use crate::render::{self, Render};
use crate::{docs, serve, token};

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
