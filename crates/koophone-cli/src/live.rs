//! The live progress line of the waits: drawn on stderr, and only when
//! stderr is a terminal, so pipes and files never receive escape codes.

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use koophone_ureq::{Observation, Observed};

use crate::exit::one_line;

/// The line on screen, so the Ctrl-C handler can clear it before it prints.
static CURRENT: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A spinner with the latest observation, the number of polls and the time
/// elapsed; does nothing when stderr is not a terminal.
pub struct LiveLine {
    bar: Option<ProgressBar>,
    subject: String,
}

impl LiveLine {
    /// Start drawing, about `subject` (the instance waited for).
    pub fn start(subject: &str) -> LiveLine {
        let subject = one_line(subject);
        if !std::io::stderr().is_terminal() {
            return LiveLine { bar: None, subject };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(format!("{subject}: sending the first request"));
        bar.enable_steady_tick(Duration::from_millis(120));
        *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        LiveLine {
            bar: Some(bar),
            subject,
        }
    }

    /// Show what the latest poll saw (an answer as its `Display` says).
    pub fn observe<O: std::fmt::Display>(&self, seen: &Observation<O>) {
        let Some(bar) = &self.bar else { return };
        let what = match &seen.event {
            Observed::Output(output) => output.to_string(),
            Observed::Error(e) => format!("last poll: http {}", e.status().as_u16()),
            Observed::Transport(kind) => format!("last poll: {kind}"),
        };
        let unit = if seen.attempt == 1 { "poll" } else { "polls" };
        bar.set_message(format!("{}: {what}; {} {unit}", self.subject, seen.attempt));
    }
}

impl Drop for LiveLine {
    /// Erase the line, so the one result line that follows stands alone.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            CURRENT
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
    }
}

/// Erase the line on screen, if any (for the Ctrl-C handler).
pub fn clear() {
    if let Some(bar) = CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        bar.finish_and_clear();
    }
}
