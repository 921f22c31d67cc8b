#!/usr/bin/env bash
# Crash safety of the example keystore. The pkcs8 (file) backend takes a load of Generate
# and Import calls over REST and gRPC; the server is killed with SIGKILL in the middle of
# it, at a different moment each round, and restarted on the same data directory. Then
# tests/e2e/crash_check.py checks that every key file parses, that every key the server
# acknowledged before a kill is there, and that Backup followed by Restore gives back
# exactly the same key set. `CRASH_ROUNDS` (default 5) sets the number of kills.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/e2e/lib.sh
build

rounds=${CRASH_ROUNDS:-5}
data="$work/keys"
acked="$work/acknowledged"
touch "$acked"
read -r rest grpc metrics < <(free_ports 3)

for round in $(seq "$rounds"); do
    start_server "$rest" "$grpc" "$metrics" "$data" "$work/server.log"
    target/debug/keychain-load --quiet --mix writes --backend pkcs8 --duration 120 \
        --concurrency 8 --acknowledged "$acked" \
        --target "crash=http://127.0.0.1:$rest,http://127.0.0.1:$grpc" >/dev/null 2>&1 &
    load=$!
    pids+=("$load")
    # Between 1 and 3 s into the load, different each round.
    sleep "$(python3 -c 'import random; print(round(1 + 2 * random.random(), 2))')"
    kill -KILL "$server"
    wait "$server" 2>/dev/null
    unfinished=$(find "$data" -name '.tmp-*' | wc -l)
    kill -KILL "$load"
    wait "$load" 2>/dev/null
    echo "crash: round $round: SIGKILL with $(wc -l <"$acked") keys acknowledged so far, $unfinished write(s) cut short"
done

start_server "$rest" "$grpc" "$metrics" "$data" "$work/server.log"
python3 tests/e2e/crash_check.py --data "$data" --acknowledged "$acked" --rest "http://127.0.0.1:$rest"
