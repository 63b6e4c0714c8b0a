//! Decoding speed as a ratio: each decoder and its `serde_json::Value`
//! baseline (see `samples`) timed in alternating batches, so that load from
//! other processes on a shared machine hits both sides alike.
//!
//! `cargo bench -p koophone-proto --bench decode_ratio -- [--rounds R] [--batch B]`
//!
//! Criterion (`--bench codec`) measures the two one after the other, which a
//! busy 2-core machine can skew by tens of percent; here every round times a
//! batch of each, order swapped every round, and the report gives the median
//! per-decode time of each side and the median of the per-round ratios.
//! Without `--bench` (as under `cargo test --benches`) it runs a few tiny
//! rounds as a smoke test.

// The decoders return `ApiError` by value (see the crate root); the baseline
// returns the same type so both sides build the same outcome.
#![allow(clippy::result_large_err)]

use std::hint::black_box;
use std::time::Instant;

use http::Response;
use koophone_proto::Operation;

mod samples;
use samples::*;

struct Options {
    rounds: usize,
    batch: usize,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let (mut bench, mut rounds, mut batch) = (false, None, None);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|v| *v > 0)
        };
        match arg.as_str() {
            "--bench" => bench = true,
            "--rounds" => rounds = value(),
            "--batch" => batch = value(),
            _ => {}
        }
    }
    Options {
        rounds: rounds.unwrap_or(if bench { 300 } else { 3 }),
        batch: batch.unwrap_or(if bench { 2000 } else { 10 }),
    }
}

/// Nanoseconds per call of `batch` calls of `f` on copies of `response`
/// made before the clock starts (the decoders take the response by value).
fn batch_ns<T>(
    batch: usize,
    response: &Response<&'static [u8]>,
    f: impl Fn(Response<&'static [u8]>) -> T,
) -> f64 {
    let copies: Vec<_> = (0..batch).map(|_| response.clone()).collect();
    let mut outputs = Vec::with_capacity(batch);
    let start = Instant::now();
    for copy in copies {
        outputs.push(f(black_box(copy)));
    }
    let elapsed = start.elapsed();
    // Outputs are dropped after the clock stops, as criterion's iter_batched does.
    drop(black_box(outputs));
    elapsed.as_nanos() as f64 / batch as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn compare<A, B>(
    name: &str,
    options: &Options,
    response: &Response<&'static [u8]>,
    koophone: impl Fn(Response<&'static [u8]>) -> A,
    baseline: impl Fn(Response<&'static [u8]>) -> B,
) -> f64 {
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    // One untimed round of each warms caches and the allocator.
    batch_ns(options.batch, response, &koophone);
    batch_ns(options.batch, response, &baseline);
    for round in 0..options.rounds {
        let (k, b) = if round % 2 == 0 {
            let k = batch_ns(options.batch, response, &koophone);
            (k, batch_ns(options.batch, response, &baseline))
        } else {
            let b = batch_ns(options.batch, response, &baseline);
            (batch_ns(options.batch, response, &koophone), b)
        };
        ours.push(k);
        theirs.push(b);
        ratios.push(b / k);
    }
    let speedup = median(ratios);
    println!(
        "{name:<44} {:>9.0} {:>9.0} {:>8.2}x",
        median(ours),
        median(theirs),
        speedup
    );
    speedup
}

/// The 1-minute load average (Linux), printed with the figures: on a shared
/// 2-core machine it says how much to trust them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "n/a".to_owned())
}

fn main() {
    let options = options();
    let load_before = load_average();
    let progress = show_progress();
    let status = show_instance_status();
    println!(
        "{} rounds x {} decodes per side, alternating; median ns per decode",
        options.rounds, options.batch
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "response", "koophone", "baseline", "speedup"
    );
    let decode_progress = |r| progress.decode_response(r);
    let decode_status = |r| status.decode_response(r);
    let baseline_progress = |r: Response<&[u8]>| baseline_progress(&r);
    let baseline_status = |r: Response<&[u8]>| baseline_instance_status(&r);
    let documented = compare(
        "ShowProgress documented 200",
        &options,
        &ok(PROGRESS_DOCUMENTED),
        decode_progress,
        baseline_progress,
    );
    let queuing = compare(
        "ShowProgress queuing 200",
        &options,
        &ok(PROGRESS_QUEUING),
        decode_progress,
        baseline_progress,
    );
    compare(
        "ShowProgress 400 KOOPHONE.API.1000",
        &options,
        &bad_request(),
        decode_progress,
        baseline_progress,
    );
    compare(
        "ShowInstanceStatus documented 200",
        &options,
        &ok(STATUS_DOCUMENTED),
        decode_status,
        baseline_status,
    );
    compare(
        "ShowInstanceStatus 400",
        &options,
        &bad_request(),
        decode_status,
        baseline_status,
    );
    println!(
        "load average {load_before} before, {} after",
        load_average()
    );
    println!(
        "target: ShowProgress success at least 2x the baseline: {}",
        if documented >= 2.0 && queuing >= 2.0 {
            "met"
        } else {
            "MISSED"
        }
    );
}
