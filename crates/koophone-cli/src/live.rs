//! The live progress line of the waits: drawn on stderr, and only when
//! stderr is a terminal, so pipes and files never receive escape codes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use koophone_ureq::{Observation, Observed};

use crate::exit::one_line;
use crate::render::Render;

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
        erase(self.bar.take());
    }
}

/// The live line of a fleet: `ready 37/100 · queuing 51 · restoring 9 ·
/// failed 3 · 18.7 req/s · 1m12s`, counting each instance by what its
/// latest answer said; does nothing when stderr is not a terminal.
pub struct FleetLine {
    bar: Option<ProgressBar>,
    /// The label that counts as ready (`normal`, or the state waited for).
    ready: String,
    /// Each instance's latest label (`None` before its first answer).
    latest: Vec<Option<String>>,
    requests: u64,
    start: Instant,
}

impl FleetLine {
    /// Start drawing for `total` instances, `ready` being the label of the target.
    pub fn start(total: usize, ready: &str) -> FleetLine {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.set_message(format!("ready 0/{total} · sending the first requests"));
            bar.enable_steady_tick(Duration::from_millis(120));
            *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
            bar
        });
        FleetLine {
            bar,
            ready: ready.to_owned(),
            latest: vec![None; total],
            requests: 0,
            start: Instant::now(),
        }
    }

    /// Count what instance `k`'s latest poll saw, and redraw.
    pub fn observe<O: Render>(&mut self, k: usize, seen: &Observation<O>) {
        self.requests += 1;
        let Some(bar) = &self.bar else { return };
        if let (Observed::Output(output), Some(slot)) = (&seen.event, self.latest.get_mut(k)) {
            *slot = Some(one_line(output.label()));
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for label in self.latest.iter().flatten() {
            *counts.entry(label.as_str()).or_default() += 1;
        }
        let ready = counts.remove(self.ready.as_str()).unwrap_or(0);
        let mut line = format!("ready {ready}/{}", self.latest.len());
        for (label, n) in counts {
            line.push_str(&format!(" · {label} {n}"));
        }
        let elapsed = self.start.elapsed();
        let rate = self.requests as f64 / elapsed.as_secs_f64().max(0.001);
        let secs = elapsed.as_secs();
        line.push_str(&format!(
            " · {rate:.1} req/s · {}m{:02}s",
            secs / 60,
            secs % 60
        ));
        bar.set_message(line);
    }
}

impl Drop for FleetLine {
    fn drop(&mut self) {
        erase(self.bar.take());
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

/// Erase a live line, so the one result line that follows stands alone, and
/// forget it as the one an interruption clears.
fn erase(bar: Option<ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
        CURRENT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
