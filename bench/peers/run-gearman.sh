#!/usr/bin/env bash
# bench/peers/run-gearman.sh: the Gearman peer on zdex-bench's workload.
#
# Starts gearmand (Debian gearman-job-server) on 127.0.0.1:PORT with its
# defaults (in-memory queue, 4 I/O threads), --workers zdex-gearman-worker
# processes with --slots threads each, runs zdex-gearman-bench (foreground jobs,
# DEPTH outstanding) and prints its one JSON record on stdout.  Stops only the
# pids it started.  Logs go to a temporary directory, shown on failure.
#
# Usage: run-gearman.sh [--build DIR] [--port P] [--tasks N] [--depth D]
#          [--payload-bytes B] [--workers N] [--slots S] [--max-seconds S]
#          [--cdf] [--json-only]
# Needs: bench/peers/install.sh (gearmand, libgearman) and a build with
# zdex-gearman-bench and zdex-gearman-worker (DIR, default ./build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

build=${ZDEX_BUILD:-$here/../../build}
port=28730
tasks=100000
depth=100
payload=100
workers=1
slots=64
max_seconds=120
extra=()
while (($#)); do
    case $1 in
    --build) build=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --payload-bytes) payload=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --cdf | --json-only) extra+=("$1"); shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-gearman.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
for binary in zdex-gearman-bench zdex-gearman-worker; do
    if [ ! -x "$build/$binary" ]; then
        echo "run-gearman.sh: $build/$binary missing: run bench/peers/install.sh, then build" >&2
        exit 1
    fi
done
gearmand=$(command -v gearmand || echo /usr/sbin/gearmand)
if [ ! -x "$gearmand" ]; then
    echo "run-gearman.sh: gearmand missing: run bench/peers/install.sh" >&2
    exit 1
fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/zdex-gearman.XXXXXX")
ok=0
finish() {
    stop_started
    if ((ok)); then rm -rf "$logs"; else echo "run-gearman.sh: logs kept in $logs" >&2; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

need_port "$port"
bg_start gearmand "$logs/gearmand.log" "$gearmand" --listen=127.0.0.1 --port="$port" \
    --log-file=stderr --verbose=ERROR --pid-file="$logs/gearmand.pid"
server_pid=$last_pid
if ! wait_port "$port" 10 "$server_pid"; then
    echo "run-gearman.sh: gearmand did not listen on 127.0.0.1:$port within 10 s" >&2
    cat "$logs/gearmand.log" >&2
    exit 1
fi
worker_args=()
for ((index = 0; index < workers; index++)); do
    bg_start gearman-worker "$logs/worker$index.log" "$build/zdex-gearman-worker" \
        --port "$port" --slots "$slots"
    worker_args+=(--worker-pid "$last_pid")
done
# The client waits (at most 10 s) until gearmand lists workers x slots idle workers
run_client timeout $((max_seconds + 30)) "$build/zdex-gearman-bench" --port "$port" --tasks "$tasks" \
    --depth "$depth" --payload-bytes "$payload" --workers "$workers" --slots "$slots" \
    --server-pid "$server_pid" "${worker_args[@]}" --max-seconds "$max_seconds" \
    ${extra[@]+"${extra[@]}"}
ok=1
