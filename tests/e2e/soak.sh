#!/usr/bin/env bash
# Soak: the example server under the load generator (full mix over REST and gRPC, key
# set held steady with --max-keys) for SOAK_SECONDS (default 120), after a warm-up of
# SOAK_WARMUP seconds (default 10) that is not measured. tests/e2e/soak.py scrapes every
# second and checks the scrape latency, the server's RSS, the in-flight gauges at the
# end and the counters against the load generator's report, and prints a table. Then
# tests/e2e/storm.py opens three storms of 8,000 half-sent requests to the REST and
# metrics ports, and checks that the server's RSS is back within 16 MB of where it was
# within a minute of the last.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
build

seconds=${SOAK_SECONDS:-120}
warmup=${SOAK_WARMUP:-10}
read -r rest grpc metrics < <(free_ports 3)
# The resource collector every second, so the live heap and key counts are current.
printf 'metrics:\n  collector_interval: 1s\n' >"$work/config.yaml"
start_server "$rest" "$grpc" "$metrics" "$work/keys" "$work/server.log" --config "$work/config.yaml"

target/debug/keychain-load --quiet --duration "$((seconds + warmup))" --concurrency 8 --max-keys 20 \
    --target "127.0.0.1:$metrics=http://127.0.0.1:$rest,http://127.0.0.1:$grpc" \
    --summary "$work/summary.json" >"$work/load.txt" 2>&1 &
load=$!
pids+=("$load")

python3 tests/e2e/soak.py --server-pid "$server" --load-pid "$load" --warmup "$warmup" \
    --metrics "http://127.0.0.1:$metrics/metrics" --summary "$work/summary.json"
status=$?
cat "$work/load.txt"
python3 tests/e2e/storm.py --check --pid "$server" \
    --address "127.0.0.1:$rest" --address "127.0.0.1:$metrics" || status=1
exit $status
