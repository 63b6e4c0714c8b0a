//! Ctrl-C (and SIGTERM, SIGHUP): stop a command promptly and say so.
//!
//! One handler for the whole process, installed right after the command line
//! is parsed, so a signal never finds the default disposition once work has
//! started.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use koophone_ureq::CancelToken;

use crate::args::OutputFormat;
use crate::exit::{Failure, INTERRUPTED};
use crate::{live, output};

/// How long a cancelled command may take to end by itself: a request already
/// on the wire is not interrupted by the client's cancel token.
const GRACE: Duration = Duration::from_secs(2);

/// What a signal does to this process.
pub struct Interrupt {
    token: CancelToken,
    signals: Option<Mutex<Receiver<()>>>,
}

impl Interrupt {
    /// Install the handler. A signal cancels [`Interrupt::cancel_token`], so
    /// the client sends nothing more and a sleeping wait wakes at once; the
    /// command then ends with `cancelled`. With `exit_after_grace`, if the
    /// command has not ended within [`GRACE`], the handler prints the
    /// interruption and exits with code 130 itself.
    ///
    /// When no handler can be installed, signals keep their default effect
    /// (the process ends at once), which is still a prompt stop.
    pub fn install(format: OutputFormat, exit_after_grace: bool) -> Interrupt {
        let token = CancelToken::new();
        let cancel = token.clone();
        let (tx, rx) = mpsc::channel();
        let installed = ctrlc::set_handler(move || {
            cancel.cancel();
            let _ = tx.send(());
            if !exit_after_grace {
                return;
            }
            std::thread::sleep(GRACE);
            live::clear();
            let emitted = output::print_failure(format, &Failure::interrupted());
            if !matches!(emitted, output::Emitted::Skipped) {
                std::process::exit(i32::from(INTERRUPTED));
            }
            // The command printed its own ending and is exiting with its own code.
        })
        .is_ok();
        Interrupt {
            token,
            signals: installed.then(|| Mutex::new(rx)),
        }
    }

    /// The token a signal cancels.
    pub fn cancel_token(&self) -> CancelToken {
        self.token.clone()
    }

    /// Block until a signal arrives; false when no handler could be installed.
    pub fn wait(&self) -> bool {
        let Some(signals) = &self.signals else {
            return false;
        };
        // The sender lives in the installed handler for the rest of the
        // process, so this returns only when a signal arrives.
        signals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv()
            .is_ok()
    }
}
