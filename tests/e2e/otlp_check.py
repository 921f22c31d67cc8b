"""The example server pushes OTLP to a receiver that decodes it with OpenTelemetry's own
Python bindings (opentelemetry-proto), not with this project's code. After a load, the
last push equals a scrape of /metrics taken once the load stopped; the exemplars of the
push carry trace ids; the resource names the job and the instance; and the server's
last push on shutdown arrives.

Usage: otlp_check.py --port P --rest R --grpc G --metrics M --work DIR
"""
import argparse
import gzip
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from prometheus_client.parser import text_string_to_metric_families

received = []
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = metrics_service_pb2.ExportMetricsServiceRequest()
        request.ParseFromString(body)
        with lock:
            received.append(request)
        answer = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def attrs(kvs):
    return {kv.key: kv.value.string_value for kv in kvs}


def pushed_operations(request):
    """(operation, backend, status) -> count, from the Sum keychain_operations."""
    out = {}
    for scope in request.resource_metrics[0].scope_metrics:
        for metric in scope.metrics:
            if metric.name == "keychain_operations":
                assert metric.sum.is_monotonic and metric.sum.aggregation_temporality == 2
                for p in metric.sum.data_points:
                    a = attrs(p.attributes)
                    out[(a["operation"], a["backend"], a["status"])] = p.as_int
    return out


def exemplar_traces(request):
    ids = set()
    for scope in request.resource_metrics[0].scope_metrics:
        for metric in scope.metrics:
            if metric.name == "keychain_operation_duration":
                hist = metric.exponential_histogram if metric.HasField("exponential_histogram") else metric.histogram
                for p in hist.data_points:
                    ids.update(e.trace_id.hex() for e in p.exemplars if len(e.trace_id) == 16)
    return ids


def scraped_operations(url):
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "keychain_operations":
            for s in family.samples:
                if s.name == "keychain_operations_total":
                    l = s.labels
                    out[(l["operation"], l["backend"], l["status"])] = int(s.value)
    return out


def main():
    ap = argparse.ArgumentParser()
    for name in ("port", "rest", "grpc", "metrics"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    env = dict(os.environ,
               OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{args.port}",
               OTEL_METRIC_EXPORT_INTERVAL="500",
               OTEL_RESOURCE_ATTRIBUTES="service.instance.id=e2e:1,deployment.environment=ci")
    log = open(os.path.join(args.work, "server-otlp.log"), "w")
    proc = subprocess.Popen(
        ["target/debug/keychain-server", "--rest-port", str(args.rest), "--grpc-port", str(args.grpc),
         "--metrics-port", str(args.metrics), "--data-dir", os.path.join(args.work, "keys-otlp"),
         "--spans", os.path.join(args.work, "spans-otlp.jsonl")],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        url = f"http://127.0.0.1:{args.metrics}/metrics"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run(
            ["target/debug/keychain-load", "--quiet", "--requests", "300", "--concurrency", "4",
             "--target", f"127.0.0.1:{args.metrics}=http://127.0.0.1:{args.rest},http://127.0.0.1:{args.grpc}",
             "--traces", os.path.join(args.work, "traces-otlp.json")],
            check=True, stdout=subprocess.DEVNULL)
        time.sleep(1.5)  # three intervals: a push after the load's last call
        scraped = scraped_operations(url)
        with lock:
            count = len(received)
        time.sleep(1.2)
        with lock:
            last = received[-1]
            pushes = len(received)
        pushed = pushed_operations(last)
        calls = sum(scraped.values())
        print(f"otlp: {pushes} pushes; the last reports {sum(pushed.values())} operations, the scrape {calls}")
        if pushes <= count:
            failures.append("no push arrived after the scrape")
        if calls < 300:
            failures.append(f"the scrape shows {calls} operations, fewer than the load's 300 requests")
        if pushed != scraped:
            diff = {k: (pushed.get(k), scraped.get(k)) for k in set(pushed) | set(scraped) if pushed.get(k) != scraped.get(k)}
            failures.append(f"pushed and scraped operations differ: {diff}")
        resource = attrs(last.resource_metrics[0].resource.attributes)
        if (resource.get("service.name"), resource.get("service.instance.id"), resource.get("deployment.environment")) != ("keychain", "e2e:1", "ci"):
            failures.append(f"resource {resource}")
        scope = last.resource_metrics[0].scope_metrics[0].scope
        if scope.name != "keychain-metrics":
            failures.append(f"scope {scope.name}")
        # The load's traced calls: the example server keeps exemplars.
        traced = exemplar_traces(last)
        print(f"otlp: {len(traced)} exemplars with a trace id on the duration histogram")
        if not traced:
            failures.append("no exemplar with a trace id")
    finally:
        before = len(received)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            failures.append("the server did not stop within 20 s")
    if len(received) <= before:
        failures.append("no last push at shutdown")
    for f in failures:
        print("FAIL:", f)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
