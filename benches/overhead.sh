#!/usr/bin/env bash
# What instrumentation costs the whole service: the release example server at
# saturation under keychain-load, in five set-ups run alternately RUNS times each:
#
#   shipped      the example's own configuration: metrics, exemplars, native
#                histograms, _created samples, the facade recorder, the live page,
#                the HTTP and gRPC layers, request spans exported to a file
#   no-exemplars the same without exemplars
#   no-native    the same without native histograms (exemplars on)
#   disabled     metrics.enabled: false (layers, the attribute's checks, spans and the
#                span exporter, the collector all still run)
#   no-spans     --no-spans: metrics as shipped, without request spans or exporter
#   bare         --bare: no metrics, layers, spans, exporter, collector or recorder
#
# shipped - disabled is what turning metrics off saves in this server, spans included
# (with metrics on, the attribute also writes status and error_type into its spans,
# which the exporter then serialises); no-spans - bare is the metrics' own cost.
#
# The primary figure is the server's CPU time per request (utime + stime from
# /proc/PID/stat over the measured window, divided by the calls keychain-load made):
# on two shared cores throughput moves too much between identical runs to resolve a
# few percent. Throughput and p50/p99 latency follow, each as median [min-max].
#
# MODE=instructions counts instead, repeatably: each set-up once under callgrind
# (valgrind), instrumentation switched on after a warm-up, for CALLS steps of the mix
# (default 2000) at concurrency 4; it prints instructions per call. Times cannot
# resolve a few per cent on two shared cores; instruction counts can.
#
# The load is keychain-load's `reads` mix on the memory backend by default (health
# checks, gets, encryptions, signatures: the cheap calls, where instrumentation is the
# largest share of the work); MIX=full BACKEND= gives the whole mix on both backends,
# whose key generation, fsyncs and restores cost milliseconds a call.
#
#   benches/overhead.sh      # RUNS=5 SECONDS_PER_RUN=10 CONCURRENCY=16 MIX=reads BACKEND=memory
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONCURRENCY=${CONCURRENCY:-16}
MIX=${MIX:-reads}
BACKEND=${BACKEND-memory}
SETUPS=(shipped no-exemplars no-native disabled no-spans bare)

cargo build --release -q -p keychain-metrics-examples --bins
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill -INT "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

read -r rest grpc metrics < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

# config SETUP: the server's YAML for one set-up (the example's defaults, one change).
config() {
    local exemplars=true native=true enabled=true
    case $1 in
        no-exemplars) exemplars=false ;;
        no-native) native=false ;;
        disabled) enabled=false ;;
    esac
    cat <<YAML
metrics:
  enabled: $enabled
  port: $metrics
  native_histograms: $native
  exemplars: $exemplars
  created_samples: true
  ui: { enabled: true }
  recorder:
    buckets:
      keychain_pkcs8_fsync: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]
rest:
  address: 127.0.0.1:$rest
grpc:
  address: 127.0.0.1:$grpc
YAML
}

# Clock ticks of CPU the process has used, user and system.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# load ARGS...: keychain-load's mix against the server, ARGS saying how much.
load() {
    target/release/keychain-load --target "127.0.0.1:$metrics=http://127.0.0.1:$rest,http://127.0.0.1:$grpc" \
        --mix "$MIX" ${BACKEND:+--backend "$BACKEND"} --quiet "$@"
}

# start SETUP [COMMAND...]: the server of one set-up in the background, under COMMAND
# if given (valgrind), its pid in $server, once it answers (a minute at most).
start() {
    local setup=$1 args=()
    shift
    config "$setup" >"$work/$setup.yaml"
    [ "$setup" = bare ] && args=(--bare)
    [ "$setup" = no-spans ] && args=(--no-spans)
    rm -rf "$work/data"
    "$@" target/release/keychain-server --config "$work/$setup.yaml" --data-dir "$work/data" \
        --spans "$work/spans.jsonl" "${args[@]}" >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$rest/v1/memory/health" >/dev/null && return
        sleep 0.1
    done
}

stop() {
    kill -INT "$server"
    wait "$server" 2>/dev/null || true
    server=
}

# measure SETUP: one run, appended to $work/results as
# `setup cpu_us_per_call calls_per_s p50_ms p99_ms`.
measure() {
    local setup=$1 before after
    start "$setup"
    # Warm-up: every series and connection made before the window.
    load --duration 2 --concurrency "$CONCURRENCY" >/dev/null
    before=$(cpu_ticks "$server")
    load --duration "$SECONDS_PER_RUN" --concurrency "$CONCURRENCY" >"$work/load.out"
    after=$(cpu_ticks "$server")
    stop
    python3 - "$setup" "$before" "$after" "$(getconf CLK_TCK)" "$work/load.out" >>"$work/results" <<'PY'
import re, sys
setup, before, after, tck, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), open(sys.argv[5]).read()
calls, secs = re.search(r"(\d+) calls in ([\d.]+) s", out).groups()
row = re.search(r"^\(all\)\s+\d+\s+\d+\s+([\d.]+)\s+[\d.]+\s+([\d.]+)", out, re.M).groups()
cpu_us = (after - before) / tck * 1e6 / int(calls)
print(setup, f"{cpu_us:.2f}", f"{int(calls) / float(secs):.1f}", *row)
PY
}

# count SETUP: instructions per call of one set-up under callgrind.
count() {
    local setup=$1 calls total
    rm -f "$work"/callgrind.*
    start "$setup" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.%p"
    load --requests 200 --concurrency 4 >/dev/null
    callgrind_control -i on "$server" >/dev/null 2>&1
    calls=$(load --requests "${CALLS:-2000}" --concurrency 4 | sed -n 's/^\([0-9]*\) calls in .*/\1/p')
    callgrind_control -i off "$server" >/dev/null 2>&1
    stop
    total=$(callgrind_annotate "$work"/callgrind.* 2>/dev/null \
        | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    printf '%-13s %9d instructions/call (%d calls)\n' "$setup" $((total / calls)) "$calls"
}

if [ "${MODE:-time}" = instructions ]; then
    for setup in "${SETUPS[@]}"; do count "$setup"; done
    exit 0
fi

for run in $(seq "$RUNS"); do
    for setup in "${SETUPS[@]}"; do
        measure "$setup"
        echo "run $run: $(tail -1 "$work/results")" >&2
    done
done

python3 - "$work/results" "${SETUPS[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
setups = sys.argv[2:]
def spread(values, fmt):
    values = sorted(values)
    return f"{fmt.format(statistics.median(values))} [{fmt.format(values[0])}-{fmt.format(values[-1])}]"
cpu = {s: [float(r[1]) for r in rows if r[0] == s] for s in setups}
bare = statistics.median(cpu["bare"])
print(f"{'set-up':<13} {'CPU µs/call':>24} {'vs bare':>8} {'calls/s':>24} {'p50 ms':>20} {'p99 ms':>20}")
for s in setups:
    mine = [r for r in rows if r[0] == s]
    over = (statistics.median(cpu[s]) - bare) / statistics.median(cpu[s]) * 100
    print(f"{s:<13} {spread(cpu[s], '{:.1f}'):>24} {over:>7.1f}% "
          f"{spread([float(r[2]) for r in mine], '{:.0f}'):>24} "
          f"{spread([float(r[3]) for r in mine], '{:.2f}'):>20} "
          f"{spread([float(r[4]) for r in mine], '{:.2f}'):>20}")
print("vs bare: the share of the set-up's CPU per call that the bare server does not spend")
PY
