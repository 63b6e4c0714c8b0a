//! The `koophone` command: ask Huawei Cloud whether a KooPhone cloud phone or
//! a CloudDC instance is ready, and wait until it is. Its flags, environment
//! variables, JSON documents and exit codes are a contract scripts rely on
//! (DESIGN.md, "The `koophone` command line"); it is a thin shell over
//! `koophone-ureq` and `koophone-sim`, not a library.

#![forbid(unsafe_code)]

mod args;
mod connect;
mod credentials;
mod docs;
mod environment;
mod exit;
mod instances;
mod interrupt;
mod live;
mod output;
mod region;
mod render;
mod run;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command, OutputFormat};
use crate::exit::{Failure, INTERRUPTED};
use crate::interrupt::Interrupt;
use crate::output::Emitted;
use crate::run::Outcome;

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return usage_error(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let format = cli.global.output;
    // `sim` ends cleanly on a signal; the other commands that send requests
    // end with 130, by themselves or after a grace period.
    let exit_after_grace = !matches!(
        cli.command,
        Command::Sim(_) | Command::Completions(_) | Command::Man(_)
    );
    let interrupt = Interrupt::install(format, exit_after_grace);
    let (emitted, code) = match run::run(&cli, &matches, &interrupt) {
        Ok(Outcome::Report(report)) => (output::print_report(format, &report), 0),
        Ok(Outcome::Fleet(report, code)) => (output::print_report(format, &report), code),
        Ok(Outcome::Printed(Ok(()))) => (Emitted::Written, 0),
        Ok(Outcome::Printed(Err(e))) => (Emitted::Lost(e), 0),
        Err(failure) => (output::print_failure(format, &failure), failure.exit_code()),
    };
    ExitCode::from(match emitted {
        Emitted::Written => code,
        // The Ctrl-C handler printed the interruption first.
        Emitted::Skipped => INTERRUPTED,
        Emitted::Lost(e) => exit::after_lost_output(&e, code),
    })
}

/// clap's own message on stderr (help and version on stdout) with its exit
/// code, 2 for usage errors; with `--output json` the error document too.
fn usage_error(e: &clap::Error) -> ExitCode {
    let printed = e.print();
    if !e.use_stderr()
        && let Err(lost) = printed
    {
        // Help or version asked for and not delivered.
        return ExitCode::from(exit::after_lost_output(&lost, 0));
    }
    if e.use_stderr() && json_requested() {
        // The first paragraph, on one line: "the following required
        // arguments were not provided:" is followed by one line per argument.
        let rendered = e.render().to_string();
        let paragraph: Vec<&str> = rendered
            .lines()
            .map(str::trim)
            .take_while(|line| !line.is_empty())
            .collect();
        let paragraph = paragraph.join(" ");
        let message = paragraph.strip_prefix("error: ").unwrap_or(&paragraph);
        let emitted = output::print_failure(OutputFormat::Json, &Failure::invalid_input(message));
        if let output::Emitted::Lost(lost) = emitted {
            return ExitCode::from(exit::after_lost_output(&lost, 2));
        }
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// Whether `--output json` was asked for on a command line clap refused.
fn json_requested() -> bool {
    Cli::command()
        .ignore_errors(true)
        .try_get_matches()
        .ok()
        .and_then(|m| m.get_one::<OutputFormat>("output").copied())
        == Some(OutputFormat::Json)
}
