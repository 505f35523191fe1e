#!/usr/bin/env bash
#  The main job: installs what is missing, builds, starts a local 3-member cluster
#  with two workers on ephemeral loopback ports, walks through the durable executor
#  with the CLI, kills a member and shows every acknowledged task still answered,
#  and stops everything it started.
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
    echo "demo: stopped the members and the workers it started"
}
trap cleanup EXIT

say () { printf '\n== %s\n' "$*"; }
run () { printf '$ zdex %s\n' "$*" >&2; "$bin/zdex" --connect "$client" "$@"; }
run_expect_error () { printf '$ zdex %s   (an error is expected)\n' "$*" >&2; "$bin/zdex" --connect "$client" "$@" || true; }
task_id () { sed -E 's/.*"task_id":([0-9]+).*/\1/'; }

say "starting a 3-member cluster (zdexd) on ephemeral loopback ports, durability 1"
start_member () { #  id [seed]
    mkfifo "$work/ready-$1"
    "$bin/zdexd" --member-id "$1" --client-endpoint 'tcp://127.0.0.1:*' \
        --worker-endpoint 'tcp://127.0.0.1:*' --cluster-endpoint 'tcp://127.0.0.1:*' \
        ${2:+--seed "$2"} >"$work/ready-$1" 2>"$work/$1.log" &
    pids+=($!)
    eval "pid_$1=$!"
    exec {fd}<"$work/ready-$1"
    read -r -t 10 -u "$fd" line || { echo "demo: zdexd $1 did not start"; cat "$work/$1.log"; exit 1; }
    echo "$line"
    eval "client_$1=$(sed -E 's/.* client=([^ ]+).*/\1/' <<<"$line")"
    eval "worker_$1=$(sed -E 's/.* worker=([^ ]+).*/\1/' <<<"$line")"
    eval "cluster_$1=$(sed -E 's/.* cluster=([^ ]+).*/\1/' <<<"$line")"
}
start_member m1
start_member m2 "$cluster_m1"
start_member m3 "$cluster_m1"
client="$client_m2,$client_m3,$client_m1"
"$bin/zdex" --connect "$client_m2" call '{"op":"cluster.members","min_members":3,"timeout_ms":10000}' >/dev/null

say "starting two workers (zdex-worker: echo, sleep, fail), each connected to every member"
for name in worker-a worker-b; do
    "$bin/zdex-worker" --connect "$worker_m1" --connect "$worker_m2" --connect "$worker_m3" \
        --slots 4 --name "$name" >/dev/null 2>"$work/$name.log" &
    pids+=($!)
done
for member in "$client_m1" "$client_m2" "$client_m3"; do
    "$bin/zdex" --connect "$member" call '{"op":"cluster.workers","min_workers":2,"timeout_ms":10000}' >/dev/null
done
run members

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

say "scheduled executor: a one-shot task in 4 s and a task every second, named, by handler"
handler_once=$(run schedule echo '{"report":"nightly"}' --delay 4000 --name demo-once | tee /dev/stderr |
    sed -n 's/.*"handler":"\([^"]*\)".*/\1/p')
handler_tick=$(run schedule echo '{"tick":true}' --period 1000 --name demo-tick | tee /dev/stderr |
    sed -n 's/.*"handler":"\([^"]*\)".*/\1/p')
run_expect_error schedule echo '{}' --name demo-once
run status "$handler_tick"

say "failover: 20 acknowledged tasks, then member m1 (the master; it owns a third of the primaries once the joins rebalanced them) is killed with SIGKILL"
ids=()
for i in $(seq 1 20); do
    ids+=("$("$bin/zdex" --connect "$client" submit sleep "{\"ms\":300,\"n\":$i}" --idempotency-key "demo-$i" | task_id)")
done
echo "acknowledged: ${ids[*]}"
kill -9 "$pid_m1"
wait "$pid_m1" 2>/dev/null || true
echo "killed m1 (pid $pid_m1); asking the survivors for every task"
client="$client_m2,$client_m3"
answered=0
for id in "${ids[@]}"; do
    "$bin/zdex" --connect "$client" --timeout 30000 retrieve "$id" >/dev/null && answered=$((answered + 1))
done
echo "answered after the kill: $answered of ${#ids[@]}"
echo "the scheduled tasks survive with their partitions (promoted where m1 owned them): the one-shot task fires on time, the periodic one goes on"
run get "$handler_once"
run status "$handler_tick"
run cancel "$handler_tick"
run members

say "stopping the workers and the members (SIGTERM)"
