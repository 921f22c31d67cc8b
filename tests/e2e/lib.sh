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

# ready URL: waits up to 10 s for URL to answer.
ready() {
    for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
    return 1
}

# build: the example binaries (debug, as the other scripts use them).
build() {
    cargo build -q -p keychain-metrics-examples --bins || fail "cannot build the example binaries"
}
