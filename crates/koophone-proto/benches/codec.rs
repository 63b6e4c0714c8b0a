//! Request building and response decoding, each decoder next to a baseline
//! that reads the same bytes through `serde_json::Value` (see `samples`).
//!
//! `cargo bench -p koophone-proto --bench codec -- --warm-up-time 1 --measurement-time 3`
//! Compare the two lines of one group: ratios within one run are what counts
//! on a noisy machine. Both sides get their input from the untimed setup of
//! `iter_batched` (the decoder takes the response by value) and drop their
//! output outside the timing, so only decoding is measured.

// The decoders return `ApiError` by value (see the crate root); the baseline
// returns the same type so both sides build the same outcome.
#![allow(clippy::result_large_err)]

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use koophone_proto::http::Response;
use koophone_proto::{Action, ApiError, Call, Operation, WaitPolicy};

mod samples;
use samples::*;

fn build(c: &mut Criterion) {
    let ctx = context();
    let progress = show_progress();
    let status = show_instance_status();
    let mut group = c.benchmark_group("build");
    group.bench_function("show_progress", |b| {
        b.iter(|| black_box(&progress).build_request(black_box(&ctx)))
    });
    group.bench_function("show_instance_status", |b| {
        b.iter(|| black_box(&status).build_request(black_box(&ctx)))
    });
    group.finish();
}

/// Each operation's decoder on its success samples, and on the 400 error
/// body every operation reads the same way.
fn decode(c: &mut Criterion) {
    decode_against_baseline(
        c,
        "decode_show_progress",
        &show_progress(),
        &[
            ("documented", ok(PROGRESS_DOCUMENTED)),
            ("queuing", ok(PROGRESS_QUEUING)),
        ],
        baseline_progress,
    );
    decode_against_baseline(
        c,
        "decode_show_instance_status",
        &show_instance_status(),
        &[("documented", ok(STATUS_DOCUMENTED))],
        baseline_instance_status,
    );
}

/// Decodes the same bytes as an operation, through `serde_json::Value`.
type Baseline<T> = fn(&Response<&[u8]>) -> Result<T, ApiError>;

/// One group per case, `<prefix>/<case>`, for `successes` and then
/// `error_400`: the operation's decoder next to the `Value` baseline for the
/// same bytes.
fn decode_against_baseline<Op: Operation>(
    c: &mut Criterion,
    prefix: &str,
    op: &Op,
    successes: &[(&str, Response<&'static [u8]>)],
    baseline: Baseline<Op::Output>,
) {
    let error = ("error_400", bad_request());
    for (name, response) in successes.iter().chain([&error]) {
        let mut group = c.benchmark_group(format!("{prefix}/{name}"));
        group.bench_function("koophone", |b| {
            b.iter_batched(
                || response.clone(),
                |r| op.decode_response(black_box(r)),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("value_baseline", |b| {
            b.iter_batched(
                || response,
                |r| baseline(black_box(r)),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

/// Everything the core does for one call, no I/O: start the call machine on
/// a borrowed operation, build the request, decode the answer, finish: the
/// least any driver adds per call.
fn one_call(c: &mut Criterion) {
    let ctx = context();
    let op = show_progress();
    let policy = WaitPolicy::default();
    let t0 = Instant::now();
    c.bench_function("one_call_core/show_progress", |b| {
        b.iter(|| {
            let mut call = Call::new(&op, policy, t0);
            assert!(matches!(call.poll(t0), Action::Send));
            let request = call.request(black_box(&ctx), SystemTime::UNIX_EPOCH);
            black_box(request.is_ok());
            call.handle_response(ok(black_box(PROGRESS_QUEUING)), t0);
            call.poll(t0)
        })
    });
}

criterion_group!(benches, build, decode, one_call);
criterion_main!(benches);
