#!/usr/bin/env bash
# End-to-end proof with real parts: two keychain servers, a real Prometheus scraping
# both every second, and the load generator; then tests/e2e/check.py checks promtool on
# the expositions and the alert rules, every dashboard query, both instances, and the
# operation counts against what the load generator sent. Stops everything it started.
set -uo pipefail
cd "$(dirname "$0")/../.."

source tests/e2e/lib.sh

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "e2e: installing prometheus (it brings promtool)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null || {
        fail "cannot install prometheus"; }
fi
build

read -r rest_a grpc_a metrics_a rest_b grpc_b metrics_b prom < <(free_ports 7)

for name in a b; do
    eval rest=\$rest_$name grpc=\$grpc_$name metrics=\$metrics_$name
    start_server "$rest" "$grpc" "$metrics" "$work/keys-$name" "$work/server-$name.log"
done

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/examples/prometheus/rules.yml
  - $PWD/examples/prometheus/alerts.yml
scrape_configs:
  - job_name: keychain
    static_configs:
      - targets: ["127.0.0.1:$metrics_a", "127.0.0.1:$metrics_b"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)

ready "http://127.0.0.1:$prom/-/ready" || { cat "$work/prometheus.log"; fail "Prometheus never answered"; }

echo "e2e: load on both servers"
target/debug/keychain-load --quiet --requests "${E2E_REQUESTS:-1500}" --concurrency 8 \
    --target "127.0.0.1:$metrics_a=http://127.0.0.1:$rest_a,http://127.0.0.1:$grpc_a" \
    --target "127.0.0.1:$metrics_b=http://127.0.0.1:$rest_b,http://127.0.0.1:$grpc_b" \
    --summary "$work/summary.json" || fail "load generator"

python3 tests/e2e/check.py \
    --prometheus "http://127.0.0.1:$prom" \
    --exposition "http://127.0.0.1:$metrics_a/metrics" \
    --exposition "http://127.0.0.1:$metrics_b/metrics" \
    --rules examples/prometheus/alerts.yml \
    --rules examples/prometheus/rules.yml \
    --dashboard examples/grafana/keychain-dashboard.json \
    --summary "$work/summary.json"
