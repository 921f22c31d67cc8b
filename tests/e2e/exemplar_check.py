#!/usr/bin/env python3
"""Exemplars end to end: a Prometheus with exemplar storage scrapes the server that keeps
them, the load generator sent a traceparent with every call, and the server exported
its spans to a file. Checks that each duration histogram and the error counter have
exemplars in Prometheus (scraped in OpenMetrics, and with --native-prometheus in
protobuf as native histograms), that every exemplar's trace id is one the load generator sent,
that the dashboard's exemplar queries find them, and that the slowest exemplar leads to
the server's spans of that trace (a panel's dot to the slow call).

Prints one PASS/FAIL line per check and 'N passed, N failed'; exits 1 on any failure.
"""
import argparse
import json
import time
import urllib.parse

from check import PROMETHEUS_ACCEPT, fetch as get
from verdict import check, eventually, finish

# The contract's counters and histograms, which must carry their start.
CONTRACT = {
    "keychain_operations", "keychain_operation_duration_seconds", "keychain_errors",
    "keychain_http_requests", "keychain_http_request_duration_seconds",
    "keychain_grpc_requests", "keychain_grpc_request_duration_seconds",
}

FAMILIES = [
    "keychain_operation_duration_seconds_bucket",
    "keychain_http_request_duration_seconds_bucket",
    "keychain_grpc_request_duration_seconds_bucket",
    "keychain_errors_total",
]


def api(prometheus, path, **params):
    answer = json.loads(get(f"{prometheus}/api/v1/{path}?" + urllib.parse.urlencode(params))[1])
    if answer.get("status") != "success":
        raise RuntimeError(answer)
    return answer["data"]


def exemplars(prometheus, expr):
    """(trace id, value, series labels) of every exemplar `expr` selects, last 10 minutes."""
    now = time.time()
    found = []
    for series in api(prometheus, "query_exemplars", query=expr, start=now - 600, end=now + 60):
        for e in series["exemplars"]:
            found.append((e["labels"].get("trace_id"), float(e["value"]), series["seriesLabels"]))
    return found


def check_created_samples(body):
    """The server's built-in configuration writes `_created` samples: a parser this
    project did not write (prometheus_client's OpenMetrics parser, strict about the
    grammar) reads them, one per counter and histogram series of the crate's families
    (every one of the contract's, which must be there), each a start between ten
    minutes ago and now. The service's own `prometheus` metrics have none: that crate
    keeps no start."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(body))
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        check("prometheus_client parses the OpenMetrics exposition", False, str(e)[:300])
        return
    check("prometheus_client parses the OpenMetrics exposition", families, f"{len(families)} families")
    now = time.time()
    missing, wrong, counted = [], [], 0
    for family in families:
        if family.type not in ("counter", "histogram") or not family.name.startswith("keychain_"):
            continue
        last = "_total" if family.type == "counter" else "_count"
        series = {tuple(sorted(s.labels.items())) for s in family.samples if s.name.endswith(last)}
        created = {tuple(sorted(s.labels.items())): s.value for s in family.samples
                   if s.name == family.name + "_created"}
        counted += len(created)
        if not created and family.name not in CONTRACT:
            continue  # the service's own metric, from the prometheus crate
        missing += [f"{family.name}{dict(k)}" for k in series - set(created)]
        wrong += [f"{family.name}{dict(k)}: {v}" for k, v in created.items() if not now - 600 <= v <= now + 1]
    seen = {f.name for f in families if any(s.name == f.name + "_created" for s in f.samples)}
    check("every counter and histogram series has its _created sample, a start in the last ten minutes",
          counted and CONTRACT <= seen and not missing and not wrong,
          f"{counted} _created samples; families without: {sorted(CONTRACT - seen)}; "
          f"missing {missing[:3]}; wrong {wrong[:3]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prometheus", required=True)
    p.add_argument("--native-prometheus", help="one with native histograms, scraping the same server")
    p.add_argument("--exposition", required=True)
    p.add_argument("--traces", required=True)
    p.add_argument("--spans", required=True)
    p.add_argument("--dashboard", required=True)
    a = p.parse_args()

    traces = json.load(open(a.traces))
    sent = set(traces["sent"])
    check("the load generator sent a trace id per call", len(sent) >= 400 and len(sent) == len(traces["sent"]),
          f"{len(sent)} distinct of {len(traces['sent'])}")

    # The server started with no configuration serves OpenMetrics with exemplars to
    # Prometheus' Accept header, and Prometheus' own parser takes it.
    content_type, body = get(a.exposition, {"Accept": PROMETHEUS_ACCEPT})
    lines = [l for l in body.splitlines() if " # {" in l]
    check("OpenMetrics with exemplars for Prometheus' Accept",
          content_type.startswith("application/openmetrics-text") and lines and body.endswith("# EOF\n"),
          f"{content_type}, {len(lines)} exemplar lines")
    up = api(a.prometheus, "query", query='up{job="keychain-exemplars"}')["result"]
    check("Prometheus scrapes it (up == 1)", [r["value"][1] for r in up] == ["1"], f"{up}")
    check_created_samples(body)
    created = api(a.prometheus, "query", query='count(keychain_operations_created)')["result"]
    check("Prometheus 2.42 takes the _created samples (as series of their own)", created, f"{created}")

    # Each family's exemplars, once Prometheus has scraped them (every second).
    def traced(prometheus, expr):
        found = eventually(lambda: exemplars(prometheus, expr), 20)
        foreign = [t for t, _, _ in found if t not in sent]
        check(f"query_exemplars {expr}: exemplars whose trace ids the load generator sent",
              found and not foreign, f"{len(found)} exemplars, {len(foreign)} unknown: {foreign[:3]}")
        return found

    by_family = {f: traced(a.prometheus, f'{f}{{job="keychain-exemplars"}}') for f in FAMILIES}
    if a.native_prometheus:
        # Scraped in protobuf, the durations are native histograms; their exemplars
        # travel on the classic buckets of the same message.
        for family in FAMILIES:
            traced(a.native_prometheus, f'{family.removesuffix("_bucket")}{{job="keychain-exemplars"}}')

    # The dashboard's latency panels ask for exemplars, and their queries find them.
    dashboard = json.load(open(a.dashboard))
    asked = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", []) if t.get("exemplar")]
    check("the dashboard's latency panels ask for exemplars", len(asked) >= 3, f"{asked}")
    for title, expr in asked:
        found = exemplars(a.prometheus, expr)
        foreign = [t for t, _, _ in found if t not in sent]
        check(f"dashboard '{title}': exemplars of {expr}", found and not foreign,
              f"{len(found)} exemplars, {len(foreign)} unknown")

    # From the slowest operation exemplar to the server's spans of its trace: the batch
    # exporter writes every few seconds, so wait for the file to have it.
    operations = by_family["keychain_operation_duration_seconds_bucket"]
    if not operations:
        check("the slowest exemplar leads to the server's spans", False, "no operation exemplars")
        return finish()
    trace, value, labels = max(operations, key=lambda e: e[1])
    spans = []
    for _ in range(20):
        try:
            spans = [json.loads(l) for l in open(a.spans) if l.strip()]
        except FileNotFoundError:
            spans = []
        if any(s["trace_id"] == trace for s in spans):
            break
        time.sleep(1)
    in_trace = [s for s in spans if s["trace_id"] == trace]
    names = sorted(s["name"] for s in in_trace)
    operation = labels.get("operation")
    op_span = [s for s in in_trace if s["name"] == operation and s["attributes"].get("operation") == operation]
    took = (op_span[0]["end_unix_nanos"] - op_span[0]["start_unix_nanos"]) / 1e9 if op_span else None
    check(f"the slowest exemplar ({operation}, {value * 1e3:.2f} ms, trace {trace}) leads to the server's spans",
          op_span and took >= value * 0.5, f"spans {names}, the {operation} span took {took}")
    slowest = {s["trace_id"] for s in traces["slowest"]}
    spanned = {s["trace_id"] for s in spans}
    check("the load generator's slowest calls are traces the server recorded", slowest and slowest <= spanned,
          f"{len(slowest - spanned)} of {len(slowest)} missing")
    finish()


if __name__ == "__main__":
    main()
