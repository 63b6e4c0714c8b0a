#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), one after another, on
# one core, starting from the committed corpus fuzz/corpus/<target>/ and
# minimizing it back into place (cargo fuzz cmin) afterwards; exit non-zero if
# any target crashed. Installs cargo-fuzz if missing. Logs:
# fuzz/logs/<target>.log; crash inputs: fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-60}
shift || true
# A rustc_info cache written by another toolchain breaks the nightly build.
export CARGO_CACHE_RUSTC_INFO=0

# cargo-fuzz needs nightly's -Z flags: use the nightly toolchain when rustup
# has one, else let the installed compiler accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    # The fuzz crate's binaries are exactly its fuzz targets.
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

# A target without a committed corpus (a new one) starts from the seeds:
# test vectors and simulator scenarios, written by koophone-check on stable.
for target in "${targets[@]}"; do
    if [ -z "$(ls -A "corpus/$target" 2>/dev/null)" ]; then
        (cd .. && cargo run --quiet --locked -p koophone-check --bin seeds -- fuzz/corpus)
        break
    fi
done

mkdir -p logs artifacts
cargo "${toolchain[@]}" fuzz build

# FUZZ_KEEP_GOING=1: run each target for its whole time, saving every crash
# (libFuzzer's fork mode with one job) instead of stopping at the first.
keep_going=()
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    keep_going=(-fork=1 -ignore_crashes=1)
fi

failed=()
for target in "${targets[@]}"; do
    case "$target" in
        decode) dict=dict/responses.dict ;;
        *) dict=dict/$target.dict ;;
    esac
    echo "== $target: ${seconds}s"
    mkdir -p "artifacts/$target" "corpus/$target"
    before=$(find "artifacts/$target" -type f | wc -l)
    status=0
    # New inputs land in corpus/<target>/ itself; cmin below keeps the few
    # that together reach every edge.
    cargo "${toolchain[@]}" fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -dict="$dict" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "${keep_going[@]}" \
        >"logs/$target.log" 2>&1 || status=$?
    crashes=$(( $(find "artifacts/$target" -type f | wc -l) - before ))
    if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        result="CRASH ($crashes new input(s) in fuzz/artifacts/$target/)"
        failed+=("$target")
    else
        result=ok
    fi
    # The last status line: "#N ... cov: C ft: F" (or "#N: cov: C" in fork mode).
    last=$(grep -E '^#[0-9]+:?[[:space:]]' "logs/$target.log" | tail -1 || true)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$target.log" | tail -1 | grep -o '[0-9]*$' || true)
    if [ -z "$execs" ]; then
        execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    fi
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    grown=$(find "corpus/$target" -type f | wc -l)

    # Merge back: a small set of inputs that reaches every edge the grown
    # corpus reaches (edges, not hit counts: -use_counters=0; chosen by
    # greedy set cover, not smallest-first), so the committed corpus stays a
    # few hundred small files.
    cargo "${toolchain[@]}" fuzz cmin "$target" "corpus/$target" -- \
        -max_len=8192 -timeout=10 -rss_limit_mb=2048 -use_counters=0 -set_cover_merge=1 \
        >"logs/$target.cmin.log" 2>&1
    kept=$(find "corpus/$target" -type f | wc -l)
    echo "   $result: ${execs:-?} executions, cov ${cov:-?} ft ${ft:-?}, corpus $grown -> $kept files (log: fuzz/logs/$target.log)"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/; minimize with cargo fuzz tmin)" >&2
    exit 1
fi
echo "no crash"
