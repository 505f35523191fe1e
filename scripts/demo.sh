#!/usr/bin/env bash
#  The main job: installs what is missing, builds, starts a local member with two
#  workers on ephemeral loopback ports, walks through the durable executor with the
#  CLI, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build

bin=build
work=$(mktemp -d)
pids=()
cleanup () {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
    echo "demo: stopped the member and the workers it started"
}
trap cleanup EXIT

say () { printf '\n== %s\n' "$*"; }
run () { printf '$ zdex %s\n' "$*" >&2; "$bin/zdex" --connect "$client" "$@"; }
run_expect_error () { printf '$ zdex %s   (an error is expected)\n' "$*" >&2; "$bin/zdex" --connect "$client" "$@" || true; }
task_id () { sed -E 's/.*"task_id":([0-9]+).*/\1/'; }

say "starting a member (zdexd) on ephemeral loopback ports"
mkfifo "$work/ready"
"$bin/zdexd" --client-endpoint 'tcp://127.0.0.1:*' --worker-endpoint 'tcp://127.0.0.1:*' \
    --cluster-endpoint 'tcp://127.0.0.1:*' --member-id demo-1 >"$work/ready" 2>"$work/zdexd.log" &
pids+=($!)
exec 3<"$work/ready"
read -r -t 10 -u 3 line || { echo "demo: zdexd did not start"; cat "$work/zdexd.log"; exit 1; }
echo "$line"
client=$(sed -E 's/.* client=([^ ]+).*/\1/' <<<"$line")
worker=$(sed -E 's/.* worker=([^ ]+).*/\1/' <<<"$line")

say "starting two workers (zdex-worker: echo, sleep, fail)"
for name in worker-a worker-b; do
    "$bin/zdex-worker" --connect "$worker" --slots 4 --name "$name" >/dev/null 2>"$work/$name.log" &
    pids+=($!)
done
run call '{"op":"cluster.workers","min_workers":2,"timeout_ms":10000}'

say "ping the member"
run ping

say "submit a task, then retrieve its result by id"
id=$(run submit echo '{"hello":"world"}' | tee /dev/stderr | task_id)
run retrieve "$id"

say "a 500 ms task: retrieve with timeout_ms 0 answers TIMEOUT, then a parked retrieve waits for it"
id=$(run submit sleep '{"ms":500,"note":"slow"}' | tee /dev/stderr | task_id)
run_expect_error retrieve "$id" --timeout-ms 0
run retrieve "$id"

say "a failing task: retrieve gives TASK_FAILED with the worker's cause"
id=$(run submit fail '{"message":"disk on fire"}' | tee /dev/stderr | task_id)
run_expect_error retrieve "$id"

say "dispose: the slot is freed; retrieve then says disposed"
id=$(run submit echo '"keep me briefly"' | tee /dev/stderr | task_id)
run retrieve "$id"
run dispose "$id"
run retrieve "$id"

say "idempotent submit: a retry with the same key returns the same id and runs once"
run submit echo '{"order":42}' --idempotency-key order-42
run submit echo '{"order":42}' --idempotency-key order-42

say "execute (fire and forget, errors still reported) and statistics"
run execute echo '"background"'
run stats

say "shutdown: later submits are rejected"
run --executor reports shutdown
run_expect_error --executor reports submit echo '"too late"'
run --executor reports status

say "stopping the workers and the member (SIGTERM)"
