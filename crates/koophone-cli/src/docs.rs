//! Documentation the command prints about itself: shell completion scripts
//! and man pages.

use std::io::Write;

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::exit::{Failure, Kind};

/// `completions`: the script on stdout. Generated into memory first:
/// clap_complete panics when its writer fails.
pub fn completions(args: &CompletionsArgs) -> std::io::Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "koophone", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script).and_then(|()| stdout.flush())
}

/// `man`: the roff page of the command (its options and commands), or of
/// one command, on stdout. The `help` command is left out: a page for it
/// would only repeat `--help`.
pub fn man_page(args: &ManArgs) -> Result<std::io::Result<()>, Failure> {
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
