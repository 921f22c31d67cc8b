#!/usr/bin/env python3
"""Checks a pkcs8 data directory after crashes, against the restarted server.

Prints one PASS/FAIL line per check and a final 'N passed, N failed' line; exits 1 on
any failure.
"""
import argparse
import base64
import json
import os
import re
import urllib.error
import urllib.request

from verdict import check, finish

PEM = re.compile(r"-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=\n]+)-----END PRIVATE KEY-----\n")


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def pem_ok(text):
    """A whole PEM block of PKCS#8 DER (a SEQUENCE), nothing cut off."""
    m = PEM.fullmatch(text)
    if not m:
        return False
    der = base64.b64decode(m.group(1).replace("\n", ""), validate=True)
    return len(der) > 2 and der[0] == 0x30


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--acknowledged", required=True)
    p.add_argument("--rest", required=True)
    a = p.parse_args()
    keys = f"{a.rest}/v1/pkcs8/keys"

    names = os.listdir(a.data)
    files = {n[:-4]: open(os.path.join(a.data, n)).read() for n in names if n.endswith(".pem")}
    leftovers = [n for n in names if not n.endswith(".pem")]
    check("no temporary files after the restart", not leftovers, f"{leftovers[:3]}")

    bad_pem = sorted(i for i, text in files.items() if not pem_ok(text))
    check(f"every key file is one whole PKCS#8 PEM block ({len(files)} files)", not bad_pem, f"{bad_pem[:3]}")

    unreadable = []
    for i in sorted(files):
        status, body = call("GET", f"{keys}/{i}")
        if status != 200:
            unreadable.append(f"{i}: {status} {body}")
    check(f"the restarted server parses every key file ({len(files)})", not unreadable, "; ".join(unreadable[:3]))

    acked = [line.split() for line in open(a.acknowledged) if line.endswith("\n")]
    acked_ids = {i for backend, i in acked if backend == "pkcs8"}
    lost = sorted(acked_ids - set(files))
    check(f"every acknowledged key survived ({len(acked_ids)} acknowledged)", acked_ids and not lost, f"lost {lost[:5]}")

    status, listed = call("GET", keys)
    check("List returns exactly the key files", status == 200 and {k["id"] for k in listed} == set(files), f"{status}")

    status, archive = call("POST", f"{a.rest}/v1/pkcs8/backup")
    before = {(i, pem) for i, pem in archive["keys"]} if status == 200 else set()
    check("Backup holds every key as it is on disk", before == set(files.items()), f"{status}, {len(before)} keys")
    status, restored = call("POST", f"{a.rest}/v1/pkcs8/restore", archive)
    check("Restore of that backup succeeds", status == 200 and restored == {"restored": len(before)}, f"{status} {restored}")
    status, again = call("POST", f"{a.rest}/v1/pkcs8/backup")
    after = {(i, pem) for i, pem in again["keys"]} if status == 200 else set()
    check("Backup after Restore gives back exactly the same key set", after == before, f"{len(after)} vs {len(before)}")

    finish()


if __name__ == "__main__":
    main()
