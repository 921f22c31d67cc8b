#!/usr/bin/env bash
# End-to-end proof with real parts: two keychain servers, a real Prometheus scraping
# both every second, and the load generator; then tests/e2e/check.py checks promtool on
# the expositions and the alert rules, every dashboard query, both instances, and the
# operation counts against what the load generator sent. Stops everything it started.
set -uo pipefail
cd "$(dirname "$0")/../.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "e2e: installing prometheus (it brings promtool)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null || {
        echo "FAIL: cannot install prometheus"; echo "0 passed, 1 failed"; exit 1; }
fi
cargo build -q -p keychain-metrics-examples --bins || { echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
    sleep 1
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

read -r rest_a grpc_a metrics_a rest_b grpc_b metrics_b prom < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

for name in a b; do
    eval rest=\$rest_$name grpc=\$grpc_$name metrics=\$metrics_$name
    target/debug/keychain-server --rest-port "$rest" --grpc-port "$grpc" --metrics-port "$metrics" \
        --data-dir "$work/keys-$name" >"$work/server-$name.log" 2>&1 &
    pids+=($!)
done

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/examples/prometheus/alerts.yml
scrape_configs:
  - job_name: keychain
    static_configs:
      - targets: ["127.0.0.1:$metrics_a", "127.0.0.1:$metrics_b"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)

ready() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }
for url in "http://127.0.0.1:$metrics_a/metrics" "http://127.0.0.1:$metrics_b/metrics" "http://127.0.0.1:$prom/-/ready"; do
    ready "$url" || { echo "FAIL: $url never answered"; cat "$work"/*.log; echo "0 passed, 1 failed"; exit 1; }
done

echo "e2e: load on both servers"
target/debug/keychain-load --quiet --requests "${E2E_REQUESTS:-1500}" --concurrency 8 \
    --target "127.0.0.1:$metrics_a=http://127.0.0.1:$rest_a,http://127.0.0.1:$grpc_a" \
    --target "127.0.0.1:$metrics_b=http://127.0.0.1:$rest_b,http://127.0.0.1:$grpc_b" \
    --summary "$work/summary.json" || { echo "FAIL: load generator"; echo "0 passed, 1 failed"; exit 1; }

python3 tests/e2e/check.py \
    --prometheus "http://127.0.0.1:$prom" \
    --exposition "http://127.0.0.1:$metrics_a/metrics" \
    --exposition "http://127.0.0.1:$metrics_b/metrics" \
    --rules examples/prometheus/alerts.yml \
    --dashboard examples/grafana/keychain-dashboard.json \
    --summary "$work/summary.json"
