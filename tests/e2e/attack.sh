#!/usr/bin/env bash
# The example server under attack (loopback only, bounded in count and time): while a
# scraper with the right password scrapes every second and a client signs 40 times a
# second, a flood of hang-up bad-password logins, 300 never-reading pipelined
# connections and two 64 MiB restores; then SIGINT with stuck connections on every
# port. keychain-attack measures and judges: scrapes >= 99 % within 2 s, signing p99
# within 3x its quiet value, RSS < 256 MB, gone within 10 s of SIGINT.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
build

read -r rest grpc metrics < <(free_ports 3)
# The scraper's password is attack-scrape-pw (bcrypt, cost 10).
cat >"$work/config.yaml" <<YAML
metrics:
  port: $metrics
  basic_auth_users:
    prometheus: \$2b\$10\$Q1SSeKB2cf8OaB7F9NWZ3uYMj2hQM9O.mwEhiNZSQsJd1lQx7d.PC
rest:
  address: 127.0.0.1:$rest
grpc:
  address: 127.0.0.1:$grpc
YAML
ready_with=(-u prometheus:attack-scrape-pw)
start_server "$rest" "$grpc" "$metrics" "$work/keys" "$work/server.log" --config "$work/config.yaml"
target/debug/keychain-attack --pid "$server" --metrics "$metrics" --rest "$rest" --grpc "$grpc" \
    --scraper prometheus:attack-scrape-pw
status=$?
[ "$status" -eq 0 ] || tail -20 "$work/server.log"
exit "$status"
