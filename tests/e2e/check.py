#!/usr/bin/env python3
"""The checks of the end-to-end test, against a running Prometheus and keychain servers.

Prints one PASS/FAIL line per check and a final 'N passed, N failed' line; exits 1 on
any failure.
"""
import argparse
import glob
import json
import subprocess
import time
import urllib.parse
import urllib.request

from verdict import check, finish

# The only promtool findings accepted: the two gauges the Go package named with _total.
ACCEPTED = ("keychain_keys_total", "keychain_certs_total")



# The Accept header Prometheus 2.42 sends when it scrapes.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
                     "version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")

# Queries that select a bucket by the Go package's spelling of its bound, as Go-era
# latency SLOs, recording rules and panels do: each must return data with the defaults.
GO_ERA_QUERIES = [
    'sum(rate(keychain_operation_duration_seconds_bucket{le="1"}[1m]))',
    'sum by (operation) (keychain_operation_duration_seconds_bucket{le="5"})',
    'sum(keychain_operation_duration_seconds_bucket{le="10"}) / sum(keychain_operation_duration_seconds_count)',
    'sum(rate(keychain_http_request_duration_seconds_bucket{le="1"}[1m])) / sum(rate(keychain_http_request_duration_seconds_count[1m]))',
    'sum(keychain_grpc_request_duration_seconds_bucket{le="2.5"})',
]


def fetch(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers.get("Content-Type", ""), response.read().decode()


def get(url, headers=None):
    return fetch(url, headers)[1]


def query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = json.loads(get(url))
    if answer.get("status") != "success":
        raise RuntimeError(answer)
    return answer["data"]["result"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prometheus", required=True)
    p.add_argument("--native-prometheus", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--exposition", action="append", required=True)
    p.add_argument("--rules", action="append", required=True)
    p.add_argument("--dashboard", required=True)
    p.add_argument("--summary", required=True)
    a = p.parse_args()

    # (a) promtool lints each server's text exposition, which is also what Prometheus
    # gets by default: OpenMetrics is opt-in (metrics.openmetrics), so Go-era `le` hold.
    for url in a.exposition:
        text = get(url, {"Accept": "text/plain"})
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        findings = [l for l in (lint.stdout + lint.stderr).splitlines() if l.strip()]
        unexpected = [l for l in findings if not any(n in l for n in ACCEPTED)]
        check(f"promtool check metrics {url}", not unexpected, "; ".join(unexpected[:3]) or f"{len(findings)} accepted findings")
        content_type, body = fetch(url, {"Accept": PROMETHEUS_ACCEPT})
        check(f"Prometheus' Accept gets text 0.0.4 from {url} by default",
              content_type.startswith("text/plain; version=0.0.4") and 'le="1"}' in body, content_type)

    # (b) the alert and recording rules, and their unit tests.
    for path in a.rules:
        rules = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
        check(f"promtool check rules {path}", rules.returncode == 0, (rules.stdout + rules.stderr).strip()[-200:])
    tests = sorted(glob.glob("examples/prometheus/tests/*.test.yml"))
    unit = subprocess.run(["promtool", "test", "rules", *tests], capture_output=True, text=True)
    check(f"promtool test rules {' '.join(tests)}", unit.returncode == 0 and len(tests) >= 2, (unit.stdout + unit.stderr).strip()[-300:])

    summary = json.load(open(a.summary))
    sent = {(instance, op): v["calls"] for instance, ops in summary.items() for op, v in ops.items()}

    # Wait until Prometheus has scraped the final counts (scrapes every second).
    expr = 'sum by (instance, operation) (keychain_operations_total{job="keychain"})'
    scraped = {}
    for _ in range(30):
        scraped = {(r["metric"]["instance"], r["metric"]["operation"]): int(float(r["value"][1])) for r in query(a.prometheus, expr)}
        if scraped == sent:
            break
        time.sleep(1)

    # A rate needs two samples of a series in its window: a short load may have ended
    # before Prometheus took the second, so wait (up to 15 s) until one has it.
    for _ in range(15):
        if query(a.prometheus, "sum(rate(keychain_operations_total[1m]))"):
            break
        time.sleep(1)
    time.sleep(2)

    # (c) every query of every dashboard panel returns data; the native-histogram
    # panels from the Prometheus that stores native histograms.
    dashboard = json.load(open(a.dashboard))
    for panel in dashboard["panels"]:
        server = a.native_prometheus if "(native)" in panel["title"] else a.prometheus
        for target in panel.get("targets", []):
            try:
                result = query(server, target["expr"])
                check(f"dashboard '{panel['title']}': {target['expr']}", len(result) > 0, f"{len(result)} series")
            except Exception as e:  # noqa: BLE001 - reported as a failed check
                check(f"dashboard '{panel['title']}': {target['expr']}", False, str(e)[:200])

    # (c') queries written for the Go package, selecting buckets by `le="1"`.
    for expr in GO_ERA_QUERIES:
        result = query(a.prometheus, expr)
        # A rate may be 0 once the short load is over; the bucket counts themselves not.
        counted = "rate(" in expr or all(float(r["value"][1]) > 0 for r in result)
        check(f"Go-era query: {expr}", len(result) > 0 and counted, f"{len(result)} series")
    stored = query(a.prometheus, 'count(keychain_operation_duration_seconds_bucket{le="1.0"})')
    check('no bucket stored in the OpenMetrics spelling le="1.0"', not stored, f"{stored}")

    # Prometheus scraped both targets without a failure.
    for server in (a.prometheus, a.native_prometheus):
        up = {r["metric"]["instance"]: r["value"][1] for r in query(server, 'up{job="keychain"}')}
        check(f"{server} scrapes both targets (up == 1)", sorted(up) == sorted(summary) and set(up.values()) == {"1"}, f"{up}")

    # (d) both instances report operations.
    instances = sorted(r["metric"]["instance"] for r in query(a.prometheus, 'sum by (instance) (keychain_operations_total{job="keychain"})'))
    expected = sorted(summary)
    check("both instances in sum by (instance) (keychain_operations_total)", instances == expected, f"{instances}")

    # (e) Prometheus' counts equal what the load generator sent, per instance and operation.
    diffs = [f"{k}: sent {sent.get(k, 0)}, scraped {scraped.get(k, 0)}" for k in sorted(set(sent) | set(scraped)) if sent.get(k, 0) != scraped.get(k, 0)]
    total = sum(sent.values())
    check(f"operation counts equal what the load generator sent ({total} calls)", not diffs, "; ".join(diffs[:5]))

    native_checks(a)
    finish()


# Native-histogram quantiles of the load, by family, from the Prometheus that stores them
# (summed over the labels: a series created, and last changed, before its first scrape
# has a rate of 0 and so no quantile).
NATIVE_QUERIES = [
    'histogram_quantile(0.99, sum(rate(keychain_operation_duration_seconds{job="keychain"}[1m])))',
    'histogram_quantile(0.9, sum(rate(keychain_http_request_duration_seconds{job="keychain"}[1m])))',
    'histogram_quantile(0.5, sum(rate(keychain_grpc_request_duration_seconds{job="keychain"}[1m])))',
]


def native_checks(a):
    """(f) native histograms end to end, and their accuracy against the classic ones."""
    for expr in NATIVE_QUERIES:
        result = query(a.native_prometheus, expr)
        values = [float(r["value"][1]) for r in result]
        check(f"native: {expr}", values and all(v > 0 for v in values), f"{len(values)} series: {values[:3]}")
    # The classic Prometheus still has the classic series of the same histograms.
    classic = query(a.prometheus, 'count(keychain_operation_duration_seconds_bucket{job="keychain"})')
    check("classic _bucket series beside them", classic and float(classic[0]["value"][1]) > 0, f"{classic}")

    truth = json.load(open(a.truth))
    bound = truth["relative_error"]
    rows = []
    for q, true in truth["quantiles"]:
        native = query(a.native_prometheus, f'histogram_quantile({q}, keychain_operation_duration_seconds{{job="accuracy"}})')
        classic = query(a.prometheus, f'histogram_quantile({q}, sum by (le) (keychain_operation_duration_seconds_bucket{{job="accuracy"}}))')
        if not native or not classic:
            check(f"accuracy at q={q}: both histograms answer", False, f"native {native}, classic {classic}")
            continue
        n, c = float(native[0]["value"][1]), float(classic[0]["value"][1])
        n_err, c_err = abs(n - true) / true, abs(c - true) / true
        rows.append(f"| {q} | {true * 1e3:.2f} ms | {n * 1e3:.2f} ms ({n_err:.1%}) | {c * 1e3:.2f} ms ({c_err:.1%}) |")
        check(f"native q={q} within {bound:.2%} of the true {true * 1e3:.2f} ms (classic: {c_err:.1%} off)", n_err <= bound,
              f"native {n * 1e3:.3f} ms, {n_err:.2%} off")
    print("| quantile | true | native (error) | classic (error) |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
