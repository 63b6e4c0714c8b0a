//! Heap allocations per operation, counted by a global allocator.
//!
//! `cargo bench -p koophone-proto --bench allocations`
//!
//! Counts are exact and machine-independent (no timing), so this binary also
//! checks the targets: decoding a ShowProgress success allocates nothing and
//! building a request allocates at most 4 times. It exits non-zero when a
//! target is missed, which `cargo test --benches` turns into a failure.
//!
//! The counting allocator is `stats_alloc`'s: it is the only code here that
//! needs `unsafe` (`GlobalAlloc`), and keeping it in that crate lets this
//! binary stay under the workspace's `forbid(unsafe_code)`, which no
//! `allow` could lift. It counts every thread, so everything below runs on
//! the main thread with no other thread started.

// The decoders return `ApiError` by value (see the crate root); the baseline
// returns the same type so both sides build the same outcome.
#![allow(clippy::result_large_err)]

use std::alloc::System;
use std::hint::black_box;
use std::process::ExitCode;

use http::Response;
use koophone_proto::Operation;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

mod samples;
use samples::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Runs of each operation; the count reported is the per-run average, which
/// is exact when every run does the same thing (all of these do).
const RUNS: usize = 1000;

/// Heap allocations (including reallocations) per run of `f`, after one run
/// outside the count so lazily initialised statics do not count.
fn allocations_per_run<T>(mut f: impl FnMut() -> T) -> f64 {
    drop(black_box(f()));
    let region = Region::new(GLOBAL);
    for _ in 0..RUNS {
        drop(black_box(f()));
    }
    let stats = region.change();
    (stats.allocations + stats.reallocations) as f64 / RUNS as f64
}

struct Row {
    operation: &'static str,
    koophone: f64,
    baseline: Option<f64>,
    /// The most allocations the target allows, when there is a target.
    limit: Option<f64>,
}

/// Allocations per decode of `response`: the copies the decoder consumes are
/// made before counting starts (cloning a header map allocates).
fn decode_allocations<T>(
    decode: impl Fn(Response<&'static [u8]>) -> T,
    response: &Response<&'static [u8]>,
) -> f64 {
    let mut copies: Vec<_> = (0..=RUNS).map(|_| response.clone()).collect();
    allocations_per_run(|| decode(copies.pop().expect("one copy per run")))
}

fn main() -> ExitCode {
    let ctx = context();
    let progress = show_progress();
    let status = show_instance_status();
    let progress_row = |operation, response: Response<&'static [u8]>, limit| Row {
        operation,
        koophone: decode_allocations(|r| progress.decode_response(r), &response),
        baseline: Some(decode_allocations(|r| baseline_progress(&r), &response)),
        limit,
    };
    let status_row = |operation, response: Response<&'static [u8]>| Row {
        operation,
        koophone: decode_allocations(|r| status.decode_response(r), &response),
        baseline: Some(decode_allocations(
            |r| baseline_instance_status(&r),
            &response,
        )),
        limit: None,
    };
    let rows = [
        Row {
            operation: "build ShowProgress request",
            koophone: allocations_per_run(|| progress.build_request(&ctx)),
            baseline: None,
            limit: Some(4.0),
        },
        Row {
            operation: "build ShowInstanceStatus request",
            koophone: allocations_per_run(|| status.build_request(&ctx)),
            baseline: None,
            limit: Some(4.0),
        },
        progress_row(
            "decode ShowProgress documented 200",
            ok(PROGRESS_DOCUMENTED),
            Some(0.0),
        ),
        progress_row(
            "decode ShowProgress queuing 200",
            ok(PROGRESS_QUEUING),
            Some(0.0),
        ),
        progress_row(
            "decode ShowProgress 400 KOOPHONE.API.1000",
            bad_request(),
            None,
        ),
        status_row(
            "decode ShowInstanceStatus documented 200",
            ok(STATUS_DOCUMENTED),
        ),
        status_row("decode ShowInstanceStatus 400", bad_request()),
    ];
    report(&rows)
}

fn report(rows: &[Row]) -> ExitCode {
    println!(
        "{:<44} {:>9} {:>9} {:>7}  target",
        "heap allocations per operation", "koophone", "baseline", "limit"
    );
    let mut missed = 0;
    for row in rows {
        let baseline = row.baseline.map_or("-".to_owned(), |b| format!("{b:.1}"));
        let (limit, verdict) = match row.limit {
            Some(limit) if row.koophone <= limit => (format!("{limit}"), "met"),
            Some(limit) => {
                missed += 1;
                (format!("{limit}"), "MISSED")
            }
            None => ("-".to_owned(), ""),
        };
        println!(
            "{:<44} {:>9.1} {:>9} {:>7}  {verdict}",
            row.operation, row.koophone, baseline, limit
        );
    }
    if missed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{missed} allocation target(s) missed");
        ExitCode::FAILURE
    }
}
