#!/usr/bin/env bash
# The fleet, end to end: three keychain-server instances, two Prometheus replicas
# (Debian's prometheus) scraping all three and remote-writing into VictoriaMetrics
# (Debian's victoria-metrics), which deduplicates the pair. Then tests/e2e/fleet_check.py
# drives load at all three, kills one instance and stops one replica mid-load, and checks
# what each part must show. `run.sh --hold` leaves the fleet running afterwards, until
# Ctrl-C, to look at it. Stops everything it started.
set -uo pipefail
cd "$(dirname "$0")/../.."

source tests/e2e/lib.sh

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
if [ ${#need[@]} -gt 0 ]; then
    echo "fleet: installing ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || fail "cannot install ${need[*]}"
fi
build

read -r vm prom_a prom_b rest1 grpc1 metrics1 rest2 grpc2 metrics2 rest3 grpc3 metrics3 < <(free_ports 12)

victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm" \
    -dedup.minScrapeInterval=1s -relabelConfig=examples/fleet/vm-relabel.yml \
    -search.latencyOffset=0s -search.disableCache -retentionPeriod=1d \
    -loggerLevel=ERROR >"$work/vm.log" 2>&1 &
pids+=($!)
ready "http://127.0.0.1:$vm/health" || { cat "$work/vm.log"; fail "VictoriaMetrics never answered"; }

servers=()
for i in 1 2 3; do
    eval rest=\$rest$i grpc=\$grpc$i metrics=\$metrics$i
    start_server "$rest" "$grpc" "$metrics" "$work/keys-$i" "$work/server-$i.log"
    servers+=("$server")
done

# The alerts as shipped, but waiting 5 s instead of minutes, so that the check sees the
# target-down alert fire within its run.
sed -e 's/for: [0-9]*[mh]$/for: 5s/' examples/prometheus/alerts.yml >"$work/alerts.yml"
replicas=()
for replica in a b; do
    eval port=\$prom_$replica
    sed -e "s|@REPLICA@|$replica|" -e "s|@RULES@|$PWD/examples/prometheus/rules.yml|" \
        -e "s|@ALERTS@|$work/alerts.yml|" \
        -e "s|@TARGETS@|\"127.0.0.1:$metrics1\", \"127.0.0.1:$metrics2\", \"127.0.0.1:$metrics3\"|" \
        -e "s|@REMOTE_WRITE@|http://127.0.0.1:$vm/api/v1/write|" \
        examples/fleet/prometheus.yml.in >"$work/prometheus-$replica.yml"
    prometheus --config.file="$work/prometheus-$replica.yml" --storage.tsdb.path="$work/tsdb-$replica" \
        --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus-$replica.log" 2>&1 &
    replicas+=($!)
    pids+=($!)
    ready "http://127.0.0.1:$port/-/ready" || { cat "$work/prometheus-$replica.log"; fail "Prometheus $replica never answered"; }
done

echo "fleet: VictoriaMetrics on 127.0.0.1:$vm, Prometheus replicas on $prom_a and $prom_b, instances on $metrics1 $metrics2 $metrics3"
python3 tests/e2e/fleet_check.py \
    --vm "http://127.0.0.1:$vm" \
    --replica "http://127.0.0.1:$prom_a" --replica "http://127.0.0.1:$prom_b" \
    --replica-pid "${replicas[1]}" \
    --instance "127.0.0.1:$metrics1=http://127.0.0.1:$rest1,http://127.0.0.1:$grpc1" \
    --instance "127.0.0.1:$metrics2=http://127.0.0.1:$rest2,http://127.0.0.1:$grpc2" \
    --instance "127.0.0.1:$metrics3=http://127.0.0.1:$rest3,http://127.0.0.1:$grpc3" \
    --kill-pid "${servers[2]}" \
    --dashboard examples/grafana/keychain-dashboard.json \
    --summary "$work/summary.json"
status=$?
if [ "${1:-}" = "--hold" ]; then
    echo "fleet: holding (Ctrl-C stops everything)"
    while sleep 3600; do :; done
fi
exit $status
