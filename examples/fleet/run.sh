#!/usr/bin/env bash
# The fleet, end to end: three keychain-server instances, two Prometheus replicas
# (Debian's prometheus) scraping all three and remote-writing into VictoriaMetrics
# (Debian's victoria-metrics), which deduplicates the pair, and sending their alerts to
# one Alertmanager (Debian's prometheus-alertmanager) with examples/alertmanager's routes,
# whose webhooks reach a sink the check runs. Then tests/e2e/fleet_check.py drives load
# at all three, kills one instance and stops one replica mid-load, restarts the instance,
# and checks what each part must show. `run.sh --hold` leaves the fleet running afterwards, until
# Ctrl-C, to look at it. Stops everything it started.
set -uo pipefail
cd "$(dirname "$0")/../.."

source tests/e2e/lib.sh

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
    echo "fleet: installing ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || fail "cannot install ${need[*]}"
fi
build

read -r vm prom_a prom_b rest1 grpc1 metrics1 rest2 grpc2 metrics2 rest3 grpc3 metrics3 am sink \
    < <(free_ports 14)

victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm" \
    -dedup.minScrapeInterval=1s -relabelConfig=examples/fleet/vm-relabel.yml \
    -search.latencyOffset=0s -search.disableCache -retentionPeriod=1d \
    -loggerLevel=ERROR >"$work/vm.log" 2>&1 &
pids+=($!)
ready "http://127.0.0.1:$vm/health" || { cat "$work/vm.log"; fail "VictoriaMetrics never answered"; }

# The shipped routes, with the webhooks at the check's sink and the waits in seconds
# rather than minutes, so that a notification and its resolution arrive within the run.
sed -e "s|http://127.0.0.1:9095|http://127.0.0.1:$sink|" \
    -e 's/group_wait: .*/group_wait: 1s/' -e 's/group_interval: .*/group_interval: 2s/' \
    examples/alertmanager/alertmanager.yml >"$work/alertmanager.yml"
prometheus-alertmanager --config.file="$work/alertmanager.yml" --storage.path="$work/am" \
    --web.listen-address="127.0.0.1:$am" --cluster.listen-address= --log.level=warn \
    >"$work/alertmanager.log" 2>&1 &
pids+=($!)
ready "http://127.0.0.1:$am/-/ready" || { cat "$work/alertmanager.log"; fail "Alertmanager never answered"; }

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
        -e "s|@ALERTMANAGER@|127.0.0.1:$am|" \
        examples/fleet/prometheus.yml.in >"$work/prometheus-$replica.yml"
    prometheus --config.file="$work/prometheus-$replica.yml" --storage.tsdb.path="$work/tsdb-$replica" \
        --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus-$replica.log" 2>&1 &
    replicas+=($!)
    pids+=($!)
    ready "http://127.0.0.1:$port/-/ready" || { cat "$work/prometheus-$replica.log"; fail "Prometheus $replica never answered"; }
done

echo "fleet: VictoriaMetrics on 127.0.0.1:$vm, Prometheus replicas on $prom_a and $prom_b, Alertmanager on $am, instances on $metrics1 $metrics2 $metrics3"
python3 tests/e2e/fleet_check.py \
    --vm "http://127.0.0.1:$vm" \
    --replica "http://127.0.0.1:$prom_a" --replica "http://127.0.0.1:$prom_b" \
    --replica-pid "${replicas[1]}" \
    --instance "127.0.0.1:$metrics1=http://127.0.0.1:$rest1,http://127.0.0.1:$grpc1" \
    --instance "127.0.0.1:$metrics2=http://127.0.0.1:$rest2,http://127.0.0.1:$grpc2" \
    --instance "127.0.0.1:$metrics3=http://127.0.0.1:$rest3,http://127.0.0.1:$grpc3" \
    --kill-pid "${servers[2]}" \
    --restart "target/debug/keychain-server --rest-port $rest3 --grpc-port $grpc3 --metrics-port $metrics3 --data-dir $work/keys-3" \
    --alertmanager "http://127.0.0.1:$am" --sink-port "$sink" \
    --dashboard examples/grafana/keychain-dashboard.json \
    --summary "$work/summary.json"
status=$?
if [ "${1:-}" = "--hold" ]; then
    echo "fleet: holding (Ctrl-C stops everything)"
    while sleep 3600; do :; done
fi
exit $status
