//! Waiter efficiency: requests sent per wait and detection lag (from the
//! phone becoming normal to the waiter reporting it), under a virtual clock,
//! over a fixed seeded set of simulated preparations, for the default policy
//! against fixed 1 s and 5 s pollers.
//!
//! `cargo bench -p koophone-bench --bench waiter_efficiency -- [--preparations N] [--seed S]`
//!
//! Nothing here is timed: the counts and lags are exact for a given seed, on
//! any machine. Without `--bench` (as under `cargo test --benches`) it runs
//! a 20-preparation smoke pass.

use std::process::ExitCode;
use std::time::Duration;

use koophone_bench::args::BenchArgs;
use koophone_bench::preparations::{
    IgnoreHint, Preparation, QueueCount, WaitRun, context, lag_bound, preparations, run_wait,
    scenario,
};
use koophone_bench::summary::percentile;
use koophone_proto::{Jitter, UntilReady, WaitPolicy};
use koophone_sim::Simulator;

/// The target's lag allowance: this fraction of the time to ready (or the
/// policy's minimum interval, if larger).
const LAG_FRACTION: f64 = 0.1;

/// Long enough for every preparation in the set (at most 31 minutes), so no
/// policy is cut short by its deadline.
const MAX_WAIT: Duration = Duration::from_secs(3600);

fn fixed(every: Duration) -> WaitPolicy {
    WaitPolicy {
        min_interval: every,
        max_interval: every,
        growth: 1.0,
        jitter: Jitter::None,
        max_wait: MAX_WAIT,
        ..WaitPolicy::default()
    }
}

fn policies() -> [(&'static str, WaitPolicy); 4] {
    let default = WaitPolicy {
        max_wait: MAX_WAIT,
        ..WaitPolicy::default()
    };
    [
        ("default", default),
        (
            "default, no pause cap",
            WaitPolicy {
                max_pause_fraction: None,
                ..default
            },
        ),
        ("fixed 1 s", fixed(Duration::from_secs(1))),
        ("fixed 5 s", fixed(Duration::from_secs(5))),
    ]
}

/// What `waitingCount` means in a pass, and whether the waiter reads it.
#[derive(Clone, Copy)]
enum Condition {
    Hint(QueueCount),
    Ignored,
}

impl Condition {
    fn describe(self) -> &'static str {
        match self {
            Condition::Hint(QueueCount::Seconds) => {
                "waitingCount = seconds left (the hint's reading)"
            }
            Condition::Hint(QueueCount::PerPlace(_)) => {
                "waitingCount = places left, 30 s each (hint 30x too short)"
            }
            Condition::Hint(QueueCount::Zero) => "waitingCount = 0 while queuing",
            Condition::Ignored => "waitingCount ignored (backoff only)",
        }
    }
}

struct Totals {
    polls: u64,
    lags: Vec<f64>,
    /// lag / allowed lag, per wait.
    lag_ratios: Vec<f64>,
    over_bound: usize,
    /// Waits whose lag exceeded the default policy's allowance (1 s floor),
    /// whatever this policy's own minimum interval.
    over_default_bound: usize,
    missed: usize,
}

fn run_policy(
    set: &[Preparation],
    sim: &mut Simulator,
    condition: Condition,
    policy: WaitPolicy,
    seed: u64,
) -> Result<Totals, String> {
    let ctx = context();
    let mut totals = Totals {
        polls: 0,
        lags: Vec::with_capacity(set.len()),
        lag_ratios: Vec::with_capacity(set.len()),
        over_bound: 0,
        over_default_bound: 0,
        missed: 0,
    };
    for (i, p) in set.iter().enumerate() {
        let jitter_seed = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let run: WaitRun = match condition {
            Condition::Hint(_) => run_wait(sim, &ctx, p, UntilReady, policy, jitter_seed)?,
            Condition::Ignored => {
                run_wait(sim, &ctx, p, IgnoreHint(UntilReady), policy, jitter_seed)?
            }
        };
        totals.polls += u64::from(run.polls);
        match run.lag() {
            Some(lag) => {
                let bound = lag_bound(policy.min_interval, LAG_FRACTION, run.ready_at);
                totals.lags.push(lag.as_secs_f64());
                totals
                    .lag_ratios
                    .push(lag.as_secs_f64() / bound.as_secs_f64());
                if lag > bound {
                    totals.over_bound += 1;
                }
                let default_min = WaitPolicy::default().min_interval;
                if lag > lag_bound(default_min, LAG_FRACTION, run.ready_at) {
                    totals.over_default_bound += 1;
                }
            }
            None => totals.missed += 1,
        }
    }
    Ok(totals)
}

fn main() -> ExitCode {
    koophone_bench::args::exit("waiter_efficiency", run())
}

fn run() -> Result<(), String> {
    let args = BenchArgs::parse(&["--preparations", "--seed"])?;
    let n = args.number("--preparations").map(|n| n as usize);
    let n = n.unwrap_or(if args.bench { 1000 } else { 20 });
    let seed = args.number("--seed").unwrap_or(2024);
    let set = preparations(seed, n);
    let ready: Vec<f64> = set.iter().map(|p| p.ready_after().as_secs_f64()).collect();
    let pct = |values: &[f64], p| percentile(values, p).unwrap_or(f64::NAN);
    println!(
        "{n} preparations (seed {seed}): time to normal p50 {:.0} s, p90 {:.0} s, max {:.0} s; \
         {} without a queue",
        pct(&ready, 50.0),
        pct(&ready, 90.0),
        pct(&ready, 100.0),
        set.iter().filter(|p| p.queue.is_zero()).count(),
    );
    println!(
        "lag allowance per wait: max(min_interval, {LAG_FRACTION} x time to normal); \
         max_wait {} s for every policy",
        MAX_WAIT.as_secs()
    );
    let conditions = [
        Condition::Hint(QueueCount::Seconds),
        Condition::Hint(QueueCount::PerPlace(30)),
        Condition::Hint(QueueCount::Zero),
        Condition::Ignored,
    ];
    for condition in conditions {
        let count = match condition {
            Condition::Hint(count) => count,
            Condition::Ignored => QueueCount::Seconds,
        };
        let mut sim = Simulator::new(scenario(&set, count), seed).map_err(|e| e.to_string())?;
        println!("\n## {}", condition.describe());
        println!(
            "{:<22} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>6} {:>7}",
            "policy",
            "polls",
            "per wait",
            "vs 1 s",
            "lag p50",
            "lag p99",
            "lag max",
            "p99 lag/al",
            "over",
            "over@1s"
        );
        let mut one_second_polls = None;
        let results: Vec<_> = policies()
            .into_iter()
            .map(|(name, policy)| {
                run_policy(&set, &mut sim, condition, policy, seed).map(|t| (name, t))
            })
            .collect::<Result<_, _>>()?;
        for (name, totals) in &results {
            if *name == "fixed 1 s" {
                one_second_polls = Some(totals.polls);
            }
        }
        let one_second_polls = one_second_polls.ok_or("no 1 s poller")? as f64;
        for (name, t) in &results {
            println!(
                "{:<22} {:>9} {:>8.1} {:>8.3} {:>7.2}s {:>7.2}s {:>7.2}s {:>10.2} {:>6} {:>7}",
                name,
                t.polls,
                t.polls as f64 / n as f64,
                t.polls as f64 / one_second_polls,
                pct(&t.lags, 50.0),
                pct(&t.lags, 99.0),
                pct(&t.lags, 100.0),
                pct(&t.lag_ratios, 99.0),
                t.over_bound + t.missed,
                t.over_default_bound + t.missed,
            );
        }
    }
    println!(
        "\nvs 1 s: polls relative to the fixed 1 s poller (target for the default: <= 0.25); \
         p99 lag/al: 99th percentile of lag over its allowance (target: <= 1); \
         over: waits whose lag exceeded the allowance or that hit the deadline; \
         over@1s: the same with the default's 1 s floor for every policy"
    );
    Ok(())
}
