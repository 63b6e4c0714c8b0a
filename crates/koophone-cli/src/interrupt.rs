//! Ctrl-C (and SIGTERM, SIGHUP): stop a command promptly and say so.

use std::sync::mpsc;
use std::time::Duration;

use koophone_ureq::CancelToken;

use crate::args::OutputFormat;
use crate::exit::{Failure, INTERRUPTED};
use crate::{live, output};

/// How long a cancelled command may take to end by itself: a request already
/// on the wire is not interrupted by the client's cancel token.
const GRACE: Duration = Duration::from_secs(2);

/// A token cancelled on Ctrl-C: the client then sends nothing more and a
/// sleeping wait wakes at once, so the command ends with `cancelled`. If it
/// has not ended within [`GRACE`], the handler prints the interruption and
/// exits with code 130 itself.
///
/// When no handler can be installed the signal keeps its default effect
/// (the process ends at once), which is still a prompt stop.
pub fn cancel_on_interrupt(format: OutputFormat) -> CancelToken {
    let token = CancelToken::new();
    let cancel = token.clone();
    let _ = ctrlc::set_handler(move || {
        cancel.cancel();
        std::thread::sleep(GRACE);
        live::clear();
        if output::print_failure(format, &Failure::interrupted()) {
            std::process::exit(i32::from(INTERRUPTED));
        }
        // The command printed its own ending and is exiting with its own code.
    });
    token
}

/// Block until Ctrl-C, SIGTERM or SIGHUP (for `sim`, which serves until then).
pub fn wait_for_interrupt() -> Result<(), ctrlc::Error> {
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })?;
    // The sender lives in the handler for the rest of the process: recv only
    // returns when a signal arrives.
    let _ = rx.recv();
    Ok(())
}
