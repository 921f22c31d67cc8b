#!/usr/bin/env python3
"""The endpoint's protections as Prometheus (Go's TLS and HTTP clients) meets them.

Server d serves its metrics over HTTPS, requires a client certificate of the test CA
and a bearer token from a file. A Prometheus scrapes it with the certificate and
`authorization: credentials_file` (job keychain-tls), and in three ways that must be
refused: without a client certificate, with a wrong token, over plain HTTP. Then the
token file and the server's certificate are rotated on disk: new connections get the
new certificate and Prometheus scrapes on with the new token, without a restart. Prints PASS/FAIL lines and 'N passed, N failed'; exits 1 on failure.
"""
import argparse
import calendar
import json
import os
import shutil
import socket
import ssl
import time
import urllib.parse
import urllib.request

from verdict import check, eventually, finish

REFUSED = {
    "keychain-tls-no-cert": "certificate",
    "keychain-tls-wrong-token": "401",
    "keychain-tls-plain": "400",
}


def api(prometheus, path, **params):
    url = f"{prometheus}{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    if answer.get("status") != "success":
        raise RuntimeError(answer)
    return answer["data"]


def targets(prometheus):
    """job -> (health, lastError, lastScrape) of its one target."""
    active = api(prometheus, "/api/v1/targets", state="active")["activeTargets"]
    return {t["labels"]["job"]: (t["health"], t["lastError"], t["lastScrape"]) for t in active}


def operations(prometheus):
    result = api(prometheus, "/api/v1/query", query='sum(keychain_operations_total{job="keychain-tls"})')["result"]
    return int(float(result[0]["value"][1])) if result else 0


def served_certificate(address, ca, client_cert, client_key):
    """The DER certificate a new TLS connection to `address` is served."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(client_cert, client_key)
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


def replace(source, target):
    """Renamed into place, as secret and certificate managers do."""
    staged = target + ".next"
    shutil.copyfile(source, staged)
    os.replace(staged, target)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prometheus", required=True)
    p.add_argument("--address", required=True, help="server d's metrics address")
    p.add_argument("--calls", type=int, required=True, help="operations the load made on server d")
    p.add_argument("--certs", required=True, help="the live certificate directory of server d")
    p.add_argument("--renewed", required=True, help="the certificates it rotates to")
    p.add_argument("--bundle", required=True, help="the CAs Prometheus trusts")
    p.add_argument("--token-file", required=True)
    a = p.parse_args()
    live = lambda name: os.path.join(a.certs, name)

    def settled():
        t = targets(a.prometheus)
        return t if len(t) == 4 and all(h != "unknown" for h, _, _ in t.values()) else None

    t = eventually(settled, 20) or targets(a.prometheus)
    health, error, _ = t.get("keychain-tls", ("missing", "", ""))
    check("Prometheus scrapes over HTTPS with a client certificate and credentials_file",
          health == "up", f"{health} {error}")
    for job, expected in REFUSED.items():
        health, error, _ = t.get(job, ("missing", "", ""))
        check(f"{job} is refused ({expected} in its error)", health == "down" and expected in error,
              f"{health}: {error}")

    seen = eventually(lambda: operations(a.prometheus) == a.calls or None, 20)
    check(f"server d's operation count scraped over HTTPS equals the load ({a.calls})",
          seen is True, f"scraped {operations(a.prometheus)}")

    # Rotation without a restart: a new token in the file both sides read, and a server
    # certificate of the second CA (Prometheus trusts both), key first, then certificate.
    before = served_certificate(a.address, a.bundle, live("client.crt"), live("client.key"))
    check("a new connection is served the first certificate", before == der(live("server.crt")), "")
    with open(a.token_file + ".next", "w") as f:
        f.write("rotated-token-0123456789\n")
    os.replace(a.token_file + ".next", a.token_file)
    replace(os.path.join(a.renewed, "server.key"), live("server.key"))
    replace(os.path.join(a.renewed, "server.crt"), live("server.crt"))
    rotated_at = time.time()
    after = served_certificate(a.address, a.bundle, live("client.crt"), live("client.key"))
    check("after the rotation a new connection is served the renewed certificate",
          after == der(os.path.join(a.renewed, "server.crt")) and after != before, "")

    def scraped_since():
        health, error, last = targets(a.prometheus)["keychain-tls"]
        when = calendar.timegm(time.strptime(last[:19], "%Y-%m-%dT%H:%M:%S"))
        return (health, error) if when > rotated_at + 1 else None

    health, error = eventually(scraped_since, 20) or ("stale", "no scrape since the rotation")
    check("Prometheus scrapes on with the rotated token (server not restarted)",
          health == "up", f"{health} {error}")
    health, error, _ = targets(a.prometheus)["keychain-tls-wrong-token"]
    check("the old wrong token is still refused", health == "down" and "401" in error, error)
    finish()


if __name__ == "__main__":
    main()
