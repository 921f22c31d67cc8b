#!/usr/bin/env python3
"""The soak's monitor: scrapes the server every second while the load generator runs,
then checks what it saw and prints a table.

Checks: scrape latency bounded (p99 under 250 ms, none over 1 s); RSS flat (mean of the
last quarter of the run within 5 % of the first quarter's); counters never go down; the
in-flight gauges back to 0 once the load stops; the operation counts (calls and errors,
per operation) equal the load generator's report. Exits 1 on any failure.
"""
import argparse
import json
import os
import re
import statistics
import sys
import time
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return time.monotonic() - started, text


def samples(text, counters=None):
    """Sample values by (name, labels); fills `counters` with the counter and histogram
    sample names, the ones that may never go down."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            if counters is not None and kind in ("counter", "histogram"):
                counters.update([family] + [family + s for s in ("_total", "_bucket", "_count", "_sum")])
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def labels(key):
    return dict(LABEL.findall(key))


def rss_bytes(pid):
    """Resident set: (all of it, anonymous memory only), in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                fields[key] = int(value.split()[0]) * 1024
    return fields.get("VmRSS", 0), fields.get("RssAnon", 0)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--load-pid", type=int, required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--warmup", type=float, default=10)
    a = p.parse_args()

    time.sleep(a.warmup)
    latencies, rss, heap, keys, threads, series, backwards = [], [], [], [], [], [], []
    previous, counters = {}, set()
    started = time.monotonic()
    while alive(a.load_pid):
        tick = time.monotonic()
        took, text = scrape(a.metrics)
        now = samples(text, counters)
        latencies.append(took)
        rss.append(rss_bytes(a.server_pid))
        series.append(len(now))
        heap.append(sum(v for k, v in now.items() if k[0] == "keychain_memory_alloc_bytes"))
        keys.append(sum(v for k, v in now.items() if k[0] == "keychain_keys_total"))
        threads.append(sum(v for k, v in now.items() if k[0] == "keychain_threads"))
        for key, value in now.items():
            if key[0] in counters and value < previous.get(key, value):
                backwards.append(f"{key[0]}{key[1]}: {previous[key]} -> {value}")
        previous = now
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    measured = time.monotonic() - started

    # The load has stopped: in flight must drain to 0 (answers may still be finishing).
    in_flight = None
    for _ in range(50):
        final = samples(scrape(a.metrics)[1])
        in_flight = {labels(k[1]).get("protocol"): v for k, v in final.items() if k[0] == "keychain_active_connections"}
        if not any(in_flight.values()):
            break
        time.sleep(0.1)

    summary = json.load(open(a.summary))
    sent = {}
    for ops in summary.values():
        for op, v in ops.items():
            calls, errors = sent.get(op, (0, 0))
            sent[op] = (calls + v["calls"], errors + v["errors"])
    counted = {}
    for (name, key), value in final.items():
        if name == "keychain_operations_total":
            l = labels(key)
            calls, errors = counted.get(l["operation"], (0, 0))
            counted[l["operation"]] = (calls + value, errors + (value if l["status"] == "error" else 0))
    counted = {op: (int(c), int(e)) for op, (c, e) in counted.items() if c}
    differ = [f"{op}: sent {sent.get(op)}, counted {counted.get(op)}" for op in sorted(set(sent) | set(counted)) if sent.get(op) != counted.get(op)]

    n = len(rss)
    quarter = max(1, n // 4)
    anon = [a for _, a in rss]
    rss = [r for r, _ in rss]
    anon_first, anon_last = statistics.mean(anon[:quarter]), statistics.mean(anon[-quarter:])
    first, last = statistics.mean(rss[:quarter]), statistics.mean(rss[-quarter:])
    growth = (last - first) / first * 100
    heap_first, heap_last = statistics.mean(heap[:quarter]), statistics.mean(heap[-quarter:])
    ms = sorted(t * 1000 for t in latencies)
    p50, p99, worst = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1]
    total_calls = sum(c for c, _ in sent.values())
    total_errors = sum(e for _, e in sent.values())

    rows = [
        ("scrapes", f"{n} in {measured:.0f} s", "one per second", n >= measured * 0.8),
        ("scrape latency p50 / p99 / max", f"{p50:.1f} / {p99:.1f} / {worst:.1f} ms", "p99 < 250, max < 1000 ms", p99 < 250 and worst < 1000),
        ("RSS, mean of first quarter", f"{first / 2**20:.1f} MiB", "", True),
        ("RSS, mean of last quarter", f"{last / 2**20:.1f} MiB", "", True),
        ("RSS growth", f"{growth:+.2f} %", "< 5 %", growth < 5),
        ("RSS anonymous, first / last quarter", f"{anon_first / 2**20:.1f} / {anon_last / 2**20:.1f} MiB", "", True),
        ("live heap, first / last quarter", f"{heap_first / 2**20:.2f} / {heap_last / 2**20:.2f} MiB", "", True),
        ("keys held, first / last", f"{keys[0]:g} / {keys[-1]:g}", "", True),
        ("threads, first / last", f"{threads[0]:g} / {threads[-1]:g}", "", True),
        ("series exposed, first / last", f"{series[0]} / {series[-1]}", "", True),
        ("counters that went down", f"{len(backwards)}", "0", not backwards),
        ("in flight after the load", ", ".join(f"{k}={v:g}" for k, v in sorted(in_flight.items())), "all 0", not any(in_flight.values())),
        ("operations counted = sent", f"{total_calls} calls, {total_errors} errors", "equal per operation", not differ),
    ]
    print(f"soak: {measured:.0f} s measured after a {a.warmup:g} s warm-up")
    print(f"{'figure':<38} {'value':<34} {'limit':<26} result")
    for name, value, limit, ok in rows:
        print(f"{name:<38} {value:<34} {limit:<26} {'PASS' if ok else 'FAIL'}")
    tenths = [rss[min(n - 1, i * n // 10)] / 2**20 for i in range(10)] + [rss[-1] / 2**20]
    print("RSS across the run (MiB): " + " ".join(f"{r:.1f}" for r in tenths))
    for line in backwards[:5] + differ[:5]:
        print(f"  {line}")
    failed = sum(1 for *_, ok in rows if not ok)
    print(f"{len(rows) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
