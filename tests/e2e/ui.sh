#!/usr/bin/env bash
# The live page in a real browser: Debian's Chromium, driven headless by playwright-core
# (tests/e2e/ui/check.mjs), against the example server under load with basic
# authentication, exemplars and native histograms on. Its screenshot is left in
# UI_SCREENSHOT (default: the scratch directory, removed at exit); UI_DOCS_SCREENSHOT
# names where to write the docs' picture (docs/live-page.png), if anywhere.
set -uo pipefail
cd "$(dirname "$0")/../.."

source tests/e2e/lib.sh

if ! command -v chromium >/dev/null; then
    echo "ui: installing chromium"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends chromium >/dev/null || {
        fail "cannot install chromium"; }
fi
(cd tests/e2e/ui && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || fail "cannot install playwright-core"
build

read -r rest grpc metrics < <(free_ports 3)
# The password is ui-check-pw (bcrypt, cost 10).
cat >"$work/config.yaml" <<YAML
metrics:
  port: $metrics
  exemplars: true
  native_histograms: true
  ui: { enabled: true, path: / }
  basic_auth_users:
    viewer: \$2b\$10\$4IWJMA4KLmgec/gf9WprTuZ4NI4U1rMISnZvn.yeXC55HgDGVRffq
rest:
  address: 127.0.0.1:$rest
grpc:
  address: 127.0.0.1:$grpc
YAML
ready_with=(-u viewer:ui-check-pw)
start_server "$rest" "$grpc" "$metrics" "$work/keys" "$work/server.log" --config "$work/config.yaml"
target/debug/keychain-load --target "127.0.0.1:$metrics=http://127.0.0.1:$rest,http://127.0.0.1:$grpc" \
    --duration 200 --concurrency 4 --quiet >"$work/load.log" 2>&1 &
load=$!
node tests/e2e/ui/check.mjs --url "http://127.0.0.1:$metrics" --user viewer --password ui-check-pw \
    --pid "$server" --shot "${UI_SCREENSHOT:-$work/page.png}" ${UI_DOCS_SCREENSHOT:+--docs "$UI_DOCS_SCREENSHOT" --warmup 75}
status=$?
kill -KILL "$load" 2>/dev/null
wait "$load" 2>/dev/null
[ "$status" -eq 0 ] || tail -20 "$work/server.log"
exit "$status"
