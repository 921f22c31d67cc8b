#!/usr/bin/env bash
# The example server pushes OTLP (OTEL_* variables) while serving /metrics; a receiver
# decoding with OpenTelemetry's Python bindings checks the push against a scrape.
set -uo pipefail
cd "$(dirname "$0")/../.."

source tests/e2e/lib.sh

python3 -c 'import opentelemetry.proto, prometheus_client' 2>/dev/null \
    || pip install -q 'opentelemetry-proto==1.45.2' 'prometheus_client==0.26.0' >/dev/null 2>&1 \
    || fail "cannot install opentelemetry-proto"
build
read -r receiver rest grpc metrics < <(free_ports 4)
python3 tests/e2e/otlp_check.py --port "$receiver" --rest "$rest" --grpc "$grpc" \
    --metrics "$metrics" --work "$work"
