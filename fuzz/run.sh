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

# The targets run side by side, each for its whole time: on a 2-core machine each gets
# two thirds of a core, and the step takes one run's time instead of one per target.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
targets=$(cargo fuzz list)
for target in $targets; do
    mkdir -p "$scratch/$target/corpus"
    (
        if cargo fuzz run "$target" "$scratch/$target/corpus" "corpus/$target" -- \
            -max_total_time="$seconds" -print_final_stats=1 >"$scratch/$target/log" 2>&1; then
            echo ok >"$scratch/$target/status"
        else
            echo failed >"$scratch/$target/status"
        fi
    ) &
done
wait

status=0
for target in $targets; do
    log="$scratch/$target/log"
    if [ "$(cat "$scratch/$target/status" 2>/dev/null)" = ok ]; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        found=$(find "$scratch/$target/corpus" -maxdepth 1 -type f | wc -l)
        echo "fuzz $target: PASS, $runs inputs in ${seconds}s, $found new corpus entries"
    else
        echo "fuzz $target: FAIL"
        grep -E "panicked|violation|ERROR|SUMMARY|Test unit written" "$log" | head -20
        status=1
    fi
done
exit $status
