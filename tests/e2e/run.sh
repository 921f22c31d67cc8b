#!/usr/bin/env bash
# End-to-end proof with real parts: two keychain servers, two real Prometheus servers
# scraping both every second (one as Prometheus 2.x scrapes by default, one with native
# histograms, which scrapes protobuf), a target holding a known latency distribution,
# and the load generator; then tests/e2e/check.py checks promtool on the expositions
# and the alert rules, every dashboard query, both instances, the operation counts
# against what the load generator sent, and the quantiles of both kinds of histogram
# against the true ones. A third server, started with no configuration (it keeps
# exemplars), is scraped by a third Prometheus with exemplar storage while traced load
# runs against it, and by a fifth that scrapes protobuf with native histograms;
# tests/e2e/exemplar_check.py follows their exemplars to the load generator's trace ids
# and the server's spans. A fourth server serves its metrics over
# HTTPS with mutual TLS and a token file; a fourth Prometheus scrapes it with a client
# certificate and `authorization: credentials_file`, and in three ways that must be
# refused; tests/e2e/tls_check.py checks those and a rotation of the token and the
# certificate without a restart. Stops everything it started.
set -uo pipefail
cd "$(dirname "$0")/../.."

source tests/e2e/lib.sh

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "e2e: installing prometheus (it brings promtool)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null || {
        fail "cannot install prometheus"; }
fi
# prometheus_client's OpenMetrics parser checks server c's output from outside.
python3 -c 'import prometheus_client' 2>/dev/null \
    || pip install -q 'prometheus_client==0.26.0' >/dev/null 2>&1 \
    || fail "cannot install prometheus_client"
build

read -r rest_a grpc_a metrics_a rest_b grpc_b metrics_b prom prom_native accuracy \
    rest_c grpc_c metrics_c prom_exemplars rest_d grpc_d metrics_d prom_tls \
    prom_exemplars_native < <(free_ports 18)

for name in a b; do
    eval rest=\$rest_$name grpc=\$grpc_$name metrics=\$metrics_$name
    start_server "$rest" "$grpc" "$metrics" "$work/keys-$name" "$work/server-$name.log" \
        --config tests/e2e/go-era.yaml
done
start_server "$rest_c" "$grpc_c" "$metrics_c" "$work/keys-c" "$work/server-c.log"

# Server d: HTTPS, a client certificate of the first CA required, a token file. The
# second CA's server certificate is what tls_check.py rotates to; Prometheus trusts both.
target/debug/keychain-certs "$work/certs" >/dev/null || fail "keychain-certs"
target/debug/keychain-certs "$work/certs-renewed" >/dev/null || fail "keychain-certs"
cat "$work/certs/ca.crt" "$work/certs-renewed/ca.crt" >"$work/ca-bundle.crt"
printf 'e2e-token-0123456789abcdef\n' >"$work/metrics-token"
cat >"$work/server-d.yaml" <<YAML
metrics:
  bearer_token_file: $work/metrics-token
  tls_server_config:
    cert_file: $work/certs/server.crt
    key_file: $work/certs/server.key
    client_ca_file: $work/certs/ca.crt
YAML
ready_url="https://localhost:$metrics_d/metrics"
ready_with=(--cacert "$work/ca-bundle.crt" --cert "$work/certs/client.crt" --key "$work/certs/client.key"
    -H "Authorization: Bearer e2e-token-0123456789abcdef")
start_server "$rest_d" "$grpc_d" "$metrics_d" "$work/keys-d" "$work/server-d.log" \
    --config "$work/server-d.yaml"
ready_url= ready_with=()

target/debug/native-accuracy --port "$accuracy" --truth "$work/truth.json" >"$work/accuracy.log" 2>&1 &
pids+=($!)
ready "http://127.0.0.1:$accuracy/metrics" || { cat "$work/accuracy.log"; fail "native-accuracy did not start"; }

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
  - job_name: accuracy
    static_configs:
      - targets: ["127.0.0.1:$accuracy"]
YAML
cat >"$work/prometheus-exemplars.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: keychain-exemplars
    static_configs:
      - targets: ["127.0.0.1:$metrics_c"]
YAML
tls_job() { # tls_job NAME SCHEME CLIENT_CERT(yes/no) AUTHORIZATION_LINE
    cat <<YAML
  - job_name: $1
    scheme: $2
    tls_config:
      ca_file: $work/ca-bundle.crt
      server_name: localhost
$( [ "$3" = yes ] && printf '      cert_file: %s\n      key_file: %s\n' "$work/certs/client.crt" "$work/certs/client.key" )
    authorization:
      $4
    static_configs:
      - targets: ["127.0.0.1:$metrics_d"]
YAML
}
{
    printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n'
    tls_job keychain-tls https yes "credentials_file: $work/metrics-token"
    tls_job keychain-tls-no-cert https no "credentials_file: $work/metrics-token"
    tls_job keychain-tls-wrong-token https yes "credentials: wrong-token-0000000000"
    tls_job keychain-tls-plain http yes "credentials_file: $work/metrics-token"
} >"$work/prometheus-tls.yml"
# The second Prometheus asks for protobuf and stores native histograms; 2.42 then
# ignores the classic buckets of a histogram that has native ones, hence two servers.
# The third keeps the exemplars of server c, which it scrapes in OpenMetrics; the fifth
# too, in protobuf, with native histograms.
for which in classic native exemplars tls exemplars-native; do
    config=$work/prometheus.yml
    case $which in
        tls) port=$prom_tls flags=() config=$work/prometheus-tls.yml ;;
        native) port=$prom_native flags=(--enable-feature=native-histograms) ;;
        exemplars) port=$prom_exemplars flags=(--enable-feature=exemplar-storage)
            config=$work/prometheus-exemplars.yml ;;
        exemplars-native) port=$prom_exemplars_native
            flags=(--enable-feature=exemplar-storage,native-histograms)
            config=$work/prometheus-exemplars.yml ;;
        *) port=$prom flags=() ;;
    esac
    prometheus --config.file="$config" --storage.tsdb.path="$work/tsdb-$which" \
        --web.listen-address="127.0.0.1:$port" --log.level=warn "${flags[@]}" \
        >"$work/prometheus-$which.log" 2>&1 &
    pids+=($!)
    ready "http://127.0.0.1:$port/-/ready" || { cat "$work/prometheus-$which.log"; fail "Prometheus ($which) never answered"; }
done

# Prometheus applies its targets about 5 s after start: wait until every server has
# been scraped by its Prometheus, so that the rates span the load rather than its end.
# scraped PORT QUERY N: waits up to 20 s for QUERY to give N at the Prometheus on PORT.
scraped() {
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" \
            | grep -q "\"$3\"\]" && return
        sleep 0.1
    done
}
for port in "$prom" "$prom_native"; do scraped "$port" 'count(up{job="keychain"} == 1)' 2; done
for port in "$prom_exemplars" "$prom_exemplars_native"; do scraped "$port" 'up == 1' 1; done

echo "e2e: load on both servers"
target/debug/keychain-load --quiet --requests "${E2E_REQUESTS:-1500}" --concurrency 8 \
    --target "127.0.0.1:$metrics_a=http://127.0.0.1:$rest_a,http://127.0.0.1:$grpc_a" \
    --target "127.0.0.1:$metrics_b=http://127.0.0.1:$rest_b,http://127.0.0.1:$grpc_b" \
    --summary "$work/summary.json" || fail "load generator"

echo "e2e: traced load on server c"
target/debug/keychain-load --quiet --requests "${E2E_TRACED_REQUESTS:-400}" --concurrency 4 \
    --target "127.0.0.1:$metrics_c=http://127.0.0.1:$rest_c,http://127.0.0.1:$grpc_c" \
    --traces "$work/traces.json" >"$work/load-c.log" || { cat "$work/load-c.log"; fail "traced load"; }
grep -A3 '^slowest calls' "$work/load-c.log"

echo "e2e: load on server d (metrics over HTTPS)"
target/debug/keychain-load --quiet --requests 200 --concurrency 4 \
    --target "127.0.0.1:$metrics_d=http://127.0.0.1:$rest_d,http://127.0.0.1:$grpc_d" \
    --summary "$work/summary-d.json" || fail "load on server d"
calls_d=$(python3 -c 'import json, sys
print(sum(v["calls"] for ops in json.load(open(sys.argv[1])).values() for v in ops.values()))' "$work/summary-d.json")

status=0
python3 tests/e2e/check.py \
    --prometheus "http://127.0.0.1:$prom" \
    --native-prometheus "http://127.0.0.1:$prom_native" \
    --truth "$work/truth.json" \
    --exposition "http://127.0.0.1:$metrics_a/metrics" \
    --exposition "http://127.0.0.1:$metrics_b/metrics" \
    --rules examples/prometheus/alerts.yml \
    --rules examples/prometheus/rules.yml \
    --dashboard examples/grafana/keychain-dashboard.json \
    --summary "$work/summary.json" || status=1
python3 tests/e2e/exemplar_check.py \
    --prometheus "http://127.0.0.1:$prom_exemplars" \
    --native-prometheus "http://127.0.0.1:$prom_exemplars_native" \
    --exposition "http://127.0.0.1:$metrics_c/metrics" \
    --traces "$work/traces.json" \
    --spans "$work/keys-c-spans.jsonl" \
    --dashboard examples/grafana/keychain-dashboard.json || status=1
python3 tests/e2e/tls_check.py \
    --prometheus "http://127.0.0.1:$prom_tls" \
    --address "127.0.0.1:$metrics_d" \
    --calls "$calls_d" \
    --certs "$work/certs" \
    --renewed "$work/certs-renewed" \
    --bundle "$work/ca-bundle.crt" \
    --token-file "$work/metrics-token" || status=1
exit $status
