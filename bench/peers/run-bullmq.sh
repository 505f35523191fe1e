#!/usr/bin/env bash
# bench/peers/run-bullmq.sh: the Redis + BullMQ peer on zdex-bench's workload.
#
# Starts redis-server (Debian) on 127.0.0.1:PORT without persistence (no RDB
# snapshots, no AOF: zdex keeps its tasks in memory too), --workers
# bullmq_worker.js processes with concurrency --slots, runs bullmq_bench.js
# (DEPTH jobs outstanding, each result taken from its "completed" event) and
# prints its one JSON record on stdout.  Stops only the pids it started.  Logs
# go to a temporary directory, shown on failure.
#
# Usage: run-bullmq.sh [--port P] [--tasks N] [--depth D] [--payload-bytes B]
#          [--workers N] [--slots S] [--max-seconds S] [--cdf] [--json-only]
# Needs: bench/peers/install.sh (redis-server, node, bench/peers/node_modules).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

port=28630
tasks=100000
depth=100
payload=100
workers=1
slots=64
max_seconds=120
extra=()
while (($#)); do
    case $1 in
    --port) port=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --payload-bytes) payload=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --build) shift 2 ;; # accepted for symmetry with run-gearman.sh
    --cdf | --json-only) extra+=("$1"); shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-bullmq.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
redis=$(command -v redis-server || echo /usr/bin/redis-server)
node=$(command -v node || echo /usr/bin/node)
if [ ! -x "$redis" ] || [ ! -x "$node" ] || [ ! -d "$here/node_modules/bullmq" ]; then
    echo "run-bullmq.sh: redis-server, node or node_modules/bullmq missing: run bench/peers/install.sh" >&2
    exit 1
fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/zdex-bullmq.XXXXXX")
ok=0
finish() {
    stop_started
    if ((ok)); then rm -rf "$logs"; else echo "run-bullmq.sh: logs kept in $logs" >&2; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

need_port "$port"
bg_start redis-server "$logs/redis.log" "$redis" --bind 127.0.0.1 --port "$port" \
    --save "" --appendonly no --dir "$logs" --daemonize no --logfile "" --loglevel warning
server_pid=$last_pid
if ! wait_port "$port" 10 "$server_pid"; then
    echo "run-bullmq.sh: redis-server did not listen on 127.0.0.1:$port within 10 s" >&2
    cat "$logs/redis.log" >&2
    exit 1
fi
worker_args=()
for ((index = 0; index < workers; index++)); do
    bg_start bullmq-worker "$logs/worker$index.log" "$node" "$here/bullmq_worker.js" \
        --port "$port" --slots "$slots"
    worker_args+=(--worker-pid "$last_pid")
done
# The producer waits (at most 10 s) until BullMQ lists the workers, then warms up
run_client timeout $((max_seconds + 30)) "$node" "$here/bullmq_bench.js" --port "$port" --tasks "$tasks" \
    --depth "$depth" --payload-bytes "$payload" --workers "$workers" --slots "$slots" \
    --server-pid "$server_pid" "${worker_args[@]}" --clk-tck "$(getconf CLK_TCK)" \
    --max-seconds "$max_seconds" ${extra[@]+"${extra[@]}"}
ok=1
