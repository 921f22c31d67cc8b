# Sourced by the end-to-end scripts: a scratch directory, free ports, readiness waits,
# and stopping everything they started (SIGINT, then SIGKILL) when they exit.

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
    sleep 1
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

# Fails the script with the summary line every script ends with.
fail() {
    echo "FAIL: $*"
    echo "0 passed, 1 failed"
    exit 1
}

# free_ports N: N free loopback ports on one line.
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])' "$1"
}

# ready URL [curl options]: waits up to 10 s for URL to answer.
ready() {
    local url=$1
    shift
    for _ in $(seq 100); do curl -sf "$@" "$url" >/dev/null && return 0; sleep 0.1; done
    return 1
}

# How start_server asks a server's metrics endpoint whether it is up: set both for one
# served over HTTPS or behind a token.
ready_url=
ready_with=()

# start_server REST GRPC METRICS DATA_DIR LOG [more server args]: a keychain server in
# the background, its pid in $server, once its metrics endpoint answers. Its spans go to
# DATA_DIR-spans.jsonl.
start_server() {
    local rest=$1 grpc=$2 metrics=$3 data=$4 log=$5
    shift 5
    target/debug/keychain-server --rest-port "$rest" --grpc-port "$grpc" --metrics-port "$metrics" \
        --data-dir "$data" --spans "$data-spans.jsonl" "$@" >>"$log" 2>&1 &
    server=$!
    pids+=("$server")
    ready "${ready_url:-http://127.0.0.1:$metrics/metrics}" "${ready_with[@]}" \
        || { cat "$log"; fail "the server on port $metrics did not start"; }
}

# build: the example binaries (debug, as the other scripts use them).
build() {
    cargo build -q -p keychain-metrics-examples --bins || fail "cannot build the example binaries"
}
