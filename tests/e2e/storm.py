#!/usr/bin/env python3
"""A connection storm: N connections at once to the given addresses, each sending half a
request (a request line and some headers, never the blank line that ends them), held
for a while and then dropped; repeated. Prints the server's RSS before, at each storm's
peak and after the last, once a second until it is back near its baseline.

As a check (--check), fails unless the RSS a minute after the last storm is within
--limit-mb of the baseline. Exits 1 on failure.
"""
import argparse
import resource
import socket
import sys
import time

HALF = b"POST /v1/keys HTTP/1.1\r\nHost: keychain\r\nContent-Type: application/json\r\nX-Storm: "


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def storm(addresses, count, hold):
    socks = []
    for i in range(count):
        host, port = addresses[i % len(addresses)].rsplit(":", 1)
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(HALF + b"x" * (i % 512))
            socks.append(s)
        except OSError:
            pass  # refused or reset by a bound: what a bounded server may do
    time.sleep(hold)
    for s in socks:
        s.close()
    return len(socks)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--address", action="append", required=True)
    p.add_argument("--connections", type=int, default=8000)
    p.add_argument("--storms", type=int, default=3)
    p.add_argument("--hold", type=float, default=3.0)
    p.add_argument("--settle", type=float, default=60.0, help="seconds allowed to come back")
    p.add_argument("--limit-mb", type=float, default=16.0, help="allowed above the baseline")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.connections + 256), hard))

    baseline = rss_mb(a.pid)
    print(f"storm: baseline RSS {baseline:.1f} MB")
    peak = baseline
    for n in range(a.storms):
        opened = storm(a.address, a.connections, a.hold)
        now = rss_mb(a.pid)
        peak = max(peak, now)
        print(f"storm {n + 1}: {opened} connections held {a.hold:.0f} s; RSS {now:.1f} MB")
        time.sleep(1)
    ended = time.monotonic()
    after = rss_mb(a.pid)
    while time.monotonic() - ended < a.settle:
        time.sleep(1)
        after = rss_mb(a.pid)
        if after <= baseline + a.limit_mb / 2:
            break
    took = time.monotonic() - ended
    print(f"storm: peak {peak:.1f} MB; {after:.1f} MB {took:.0f} s after the last storm "
          f"(baseline {baseline:.1f} MB, limit +{a.limit_mb:.0f} MB)")
    if a.check:
        ok = after <= baseline + a.limit_mb
        print(f"{'PASS' if ok else 'FAIL'}: RSS back within {a.limit_mb:.0f} MB of its baseline "
              f"within {a.settle:.0f} s of {a.storms} storms of {a.connections} connections "
              f"({baseline:.1f} -> peak {peak:.1f} -> {after:.1f} MB)")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
