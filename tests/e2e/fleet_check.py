#!/usr/bin/env python3
"""The fleet's checks (examples/fleet/run.sh): load at three instances, one killed and
one Prometheus replica stopped mid-load, then what VictoriaMetrics and the replicas show;
what Alertmanager notifies (one page for the killed instance, though two replicas send
it), and its resolution once the instance is back.

Prints one PASS/FAIL line per check and a final 'N passed, N failed' line; exits 1 on
any failure.
"""
import argparse
import http.server
import json
import os
import shlex
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from verdict import check, eventually, finish

LOAD_SECONDS = 20
KILL_AT = 5       # seconds into the load: one instance is SIGKILLed
STOP_REPLICA_AT = 9  # one Prometheus replica is stopped


def query(base, expr, at=None):
    params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read().decode())
    if answer.get("status") != "success":
        raise RuntimeError(answer)
    return answer["data"]["result"]


def totals(base, instances, at=None):
    """sum by (instance, operation) of the operation counters' last values, for
    `instances` (a killed instance's series are stale: an instant query skips them)."""
    result = query(base, "sum by (instance, operation) (last_over_time(keychain_operations_total[5m]))", at)
    return {(r["metric"]["instance"], r["metric"]["operation"]): int(float(r["value"][1]))
            for r in result if r["metric"].get("instance") in instances}


def fleet_sum(base):
    result = query(base, "sum(keychain_operations_total)")
    return float(result[0]["value"][1]) if result else 0.0


def firing(base, alertname, instance):
    with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=10) as response:
        alerts = json.loads(response.read().decode())["data"]["alerts"]
    return any(a["labels"].get("alertname") == alertname and a["labels"].get("instance") == instance
               and a["state"] == "firing" for a in alerts)


class Sink(http.server.BaseHTTPRequestHandler):
    """Alertmanager's webhook receiver: keeps every notification, with its path."""
    received = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - the handler's name is http.server's
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with Sink.lock:
            Sink.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def notifications(alertname, status=None):
    """The notifications for `alertname` (group label), optionally of one status."""
    with Sink.lock:
        return [(path, n) for path, n in Sink.received
                if n.get("groupLabels", {}).get("alertname") == alertname
                and (status is None or n.get("status") == status)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vm", required=True)
    p.add_argument("--replica", action="append", required=True)
    p.add_argument("--replica-pid", type=int, required=True, help="the replica to stop mid-load")
    p.add_argument("--instance", action="append", required=True, help="metrics_addr=REST_URL,GRPC_URL")
    p.add_argument("--kill-pid", type=int, required=True, help="the last instance's server")
    p.add_argument("--restart", required=True, help="the command that starts the killed instance again")
    p.add_argument("--alertmanager", required=True)
    p.add_argument("--sink-port", type=int, required=True)
    p.add_argument("--dashboard", required=True)
    p.add_argument("--summary", required=True)
    a = p.parse_args()
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", a.sink_port), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    names = [spec.split("=", 1)[0] for spec in a.instance]
    killed, alive = names[-1], names[:-1]
    replica_a, replica_b = a.replica

    # Every replica scrapes every instance before the load starts.
    def all_up(base):
        return lambda: sorted(r["metric"]["instance"] for r in query(base, 'up{job="keychain"} == 1')) == sorted(names)
    for base in a.replica:
        check(f"{base} scrapes all three instances", eventually(all_up(base), 20))

    load = subprocess.Popen(
        ["target/debug/keychain-load", "--quiet", "--duration", str(LOAD_SECONDS), "--concurrency", "6",
         "--summary", a.summary] + [arg for spec in a.instance for arg in ("--target", spec)],
        stdout=subprocess.DEVNULL)
    started = time.time()

    time.sleep(KILL_AT)
    os.kill(a.kill_pid, signal.SIGKILL)
    killed_at = time.time()
    for base in a.replica:
        fired = eventually(lambda: firing(base, "KeychainTargetDown", killed), 30)
        check(f"KeychainTargetDown fires for the killed {killed} in {base}", fired)
    paged = eventually(lambda: notifications("KeychainTargetDown", "firing"), 20)
    check("Alertmanager pages KeychainTargetDown", paged, f"{len(Sink.received)} notifications in all")

    # With one instance gone, fleet-wide sums keep rising, in the store and a replica.
    for base in (a.vm, replica_a):
        before = fleet_sum(base)
        time.sleep(2.5)
        after = fleet_sum(base)
        check(f"fleet-wide sum(keychain_operations_total) keeps rising in {base}", after > before,
              f"{before:.0f} -> {after:.0f}")

    time.sleep(max(0.0, STOP_REPLICA_AT - (time.time() - started)))
    os.kill(a.replica_pid, signal.SIGTERM)
    check("load generator finished", load.wait(timeout=LOAD_SECONDS + 30) == 0)

    summary = json.load(open(a.summary))
    sent = {(instance, op): v["calls"] for instance, ops in summary.items() for op, v in ops.items()}
    expected = {k: v for k, v in sent.items() if k[0] in alive}

    # Everything the surviving instances served reaches the store once, not twice, though
    # one replica stopped halfway: per instance and operation, what the load sent.
    for base, what in ((a.vm, "VictoriaMetrics"), (replica_a, "the remaining replica")):
        got = eventually(lambda: (lambda t: t if t == expected else None)(totals(base, alive)), 30) \
            or totals(base, alive)
        diffs = [f"{k}: sent {expected.get(k, 0)}, {what} {got.get(k, 0)}"
                 for k in sorted(set(expected) | set(got)) if expected.get(k, 0) != got.get(k, 0)]
        check(f"{what} holds what the load sent to the surviving instances ({sum(expected.values())} calls)",
              not diffs, "; ".join(diffs[:4]))

    # The killed instance: the store holds its series up to about its last scrape. Not
    # exactly either replica's last value: the later of the two replicas' last scrapes
    # wins (the stopped replica's may be later than the remaining one's), and when a
    # target vanishes each replica writes a staleness marker, which can win the last
    # dedup interval and drop the final second of real samples. So: at least what the
    # remaining replica saw 3 s before the kill, at most what the load sent.
    vm_killed = totals(a.vm, [killed])
    earlier = totals(replica_a, [killed], at=killed_at - 3)
    wrong = [f"{k}: replica 3 s before {earlier.get(k, 0)}, VictoriaMetrics {vm_killed.get(k, 0)}, sent {sent.get(k, 0)}"
             for k in sorted(set(earlier) | set(vm_killed))
             if not earlier.get(k, 0) <= vm_killed.get(k, 0) <= sent.get(k, 0)]
    check(f"VictoriaMetrics keeps the killed {killed} up to about its last scrape",
          vm_killed and not wrong, "; ".join(wrong[:4]) or f"{sum(vm_killed.values())} calls")

    # Deduplicated: one series per instance, not one per replica.
    series = query(a.vm, 'count by (instance) (keychain_operations_total{operation="sign", status="success"})')
    counts = {r["metric"]["instance"]: int(float(r["value"][1])) for r in series}
    backends = len(query(replica_a, 'count by (backend) (keychain_operations_total{operation="sign", status="success"})'))
    check("no replica label and no doubled series in VictoriaMetrics",
          counts and all(c == backends for c in counts.values())
          and not query(a.vm, 'count(keychain_operations_total{replica!=""})'), f"{counts}, {backends} backends")

    # Every dashboard query, recorded aggregates included, returns data from both. The
    # native-histogram panels are left out: the replicas scrape classic histograms
    # (no native-histograms flag) and VictoriaMetrics 1.79 stores no native histograms;
    # tests/e2e/run.sh checks those panels on a Prometheus that does.
    dashboard = json.load(open(a.dashboard))
    for panel in dashboard["panels"]:
        if "(native)" in panel["title"]:
            continue
        for target in panel.get("targets", []):
            for base, what in ((a.vm, "VictoriaMetrics"), (replica_a, "replica")):
                try:
                    result = query(base, target["expr"])
                    check(f"{what}: '{panel['title']}': {target['expr']}", len(result) > 0, f"{len(result)} series")
                except Exception as e:  # noqa: BLE001 - reported as a failed check
                    check(f"{what}: '{panel['title']}': {target['expr']}", False, str(e)[:200])

    # Two replicas sent the alert all along (one of them until it stopped); without the
    # `replica` label it is one alert, so one notification: to the pager, with one alert,
    # naming the killed instance.
    down = notifications("KeychainTargetDown")
    alerts = [al for _, n in down for al in n.get("alerts", [])]
    check("exactly one KeychainTargetDown notification, to the pager, with one alert for the killed instance",
          len(down) == 1 and down[0][0] == "/page" and len(alerts) == 1
          and alerts[0]["labels"].get("instance") == killed and "replica" not in alerts[0]["labels"],
          json.dumps([(path, n.get("status"), [al["labels"] for al in n.get("alerts", [])]) for path, n in down])[:400])

    # The instance comes back: the alert resolves, and a resolved notification follows.
    restarted = subprocess.Popen(shlex.split(a.restart), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        resolved = eventually(lambda: notifications("KeychainTargetDown", "resolved"), 40)
        resolved_alerts = [al for _, n in resolved or [] for al in n.get("alerts", [])]
        check("a resolved KeychainTargetDown notification follows the restart",
              resolved and all(al["status"] == "resolved" and al["labels"].get("instance") == killed
                               for al in resolved_alerts),
              f"{len(resolved or [])} resolved notifications")
    finally:
        restarted.send_signal(signal.SIGINT)
        try:
            restarted.wait(timeout=10)
        except subprocess.TimeoutExpired:
            restarted.kill()
        sink.shutdown()

    finish()


if __name__ == "__main__":
    main()
