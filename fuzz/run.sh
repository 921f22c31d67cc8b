#!/usr/bin/env bash
# A short fuzz run of every target from the seed corpus: `fuzz/run.sh [seconds per target]`
# (default 60). New inputs go to a scratch directory, so the checkout stays clean. A crash
# leaves its input in fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ and
# `cargo test` replays it (tests/tests/fuzz_corpus.rs) once fixed.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}

command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --version 0.13.2 --locked
# cargo-fuzz passes nightly flags (-Zsanitizer); the stable toolchain accepts them so.
export RUSTC_BOOTSTRAP=1
cargo fuzz build

status=0
for target in $(cargo fuzz list); do
    scratch=$(mktemp -d)
    log="$scratch/log"
    if cargo fuzz run "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        found=$(find "$scratch" -maxdepth 1 -type f ! -name log | wc -l)
        echo "fuzz $target: PASS, $runs inputs in ${seconds}s, $found new corpus entries"
    else
        echo "fuzz $target: FAIL"
        grep -E "panicked|violation|ERROR|SUMMARY|Test unit written" "$log" | head -20
        status=1
    fi
    rm -rf "$scratch"
done
exit $status
