#!/usr/bin/env bash
# bench/run-all.sh: zdex and its peers on one workload, side by side.
#
# One command: installs the peers (bench/peers/install.sh), builds the tree
# (scripts/setup.sh), then runs, one after the other on this machine:
#   zdex                 zdex-bench (zdexd + zdex-worker, submit then retrieve)
#   cluster              zdex-bench --members 3 --durability 1 (3 zdexd, 2 workers)
#   zdex-sar, cluster-sar  the same two with --mode submit-and-retrieve (one
#                        request per job, answered with its result)
#   floor                zdex-floor, the raw-ZeroMQ durable-job floor (backup acks)
#   floor-nobackup       zdex-floor --no-backup (like a single zdex member)
#   bullmq               Redis + BullMQ (bench/peers/run-bullmq.sh)
#   gearman              gearmand + libgearman (bench/peers/run-gearman.sh)
# each at --depth (throughput) and at depth 1 (latency), then the time a
# cluster takes to answer again after the member owning every primary is
# killed (failover: zdex-bench --failover), then zdex's memory per stored task
# (zdex-bench --mode memory).  Every record goes to
# bench/results/<UTC date and time>.jsonl with the machine and the purpose of
# the run; at the end the tables, with zdex's ratio against every peer, are
# printed (bench/report.py).  --plot adds depths 10 and 1000 and writes PNGs
# next to the records: throughput against depth, latency CDFs.
#
# Usage: bench/run-all.sh [options]
#   --tasks N          tasks per throughput run (default 100000)
#   --depth D          tasks outstanding in the throughput runs (default 100)
#   --payload-bytes B  payload of every task (default 100)
#   --workers N        worker processes of every system (default 1)
#   --slots S          tasks each worker process runs at once (default 16, the
#                      default pool_size of a zdex executor, so no system runs
#                      more tasks at once than zdex does)
#   --latency-tasks N  tasks in the depth-1 runs (default 10000)
#   --sweep-tasks N    tasks in the --plot runs at depths 10 and 1000 (default 20000)
#   --memory-tasks N   stored tasks for the memory run (default 1000000)
#   --cluster-members N     members of the cluster and failover runs (default 3)
#   --cluster-workers N     worker processes of those runs (default 2)
#   --failover-tasks N      stored tasks per failover measurement (default 1000)
#   --failover-repeat R     failover measurements, each on a fresh cluster (default 5)
#   --systems "..."    subset of: zdex cluster zdex-sar cluster-sar failover
#                      floor floor-nobackup bullmq gearman
#   --max-seconds S    bound of each run (default 180); each is also killed by
#                      timeout(1) 60 s later
#   --build DIR        build directory (default <repo>/build)
#   --plot             also depths 10 and 1000, and PNGs (gnuplot)
#   --no-install       skip bench/peers/install.sh
#   --no-build         skip scripts/setup.sh
#   --no-memory        skip the memory run
#
# All traffic is on 127.0.0.1; each run gets its own ports in 28400..28999.
# Only processes started by the benchmarks are stopped, by pid.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench"

tasks=100000
depth=100
payload=100
workers=1
slots=16
latency_tasks=10000
sweep_tasks=20000
memory_tasks=1000000
cluster_members=3
cluster_workers=2
failover_tasks=1000
failover_repeat=5
systems="zdex cluster zdex-sar cluster-sar failover floor floor-nobackup bullmq gearman"
max_seconds=180
build="$root/build"
plot=0
install=1
do_build=1
memory=1
while (($#)); do
    case $1 in
    --tasks) tasks=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --payload-bytes) payload=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --latency-tasks) latency_tasks=$2; shift 2 ;;
    --sweep-tasks) sweep_tasks=$2; shift 2 ;;
    --memory-tasks) memory_tasks=$2; shift 2 ;;
    --cluster-members) cluster_members=$2; shift 2 ;;
    --cluster-workers) cluster_workers=$2; shift 2 ;;
    --failover-tasks) failover_tasks=$2; shift 2 ;;
    --failover-repeat) failover_repeat=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --plot) plot=1; shift ;;
    --no-install) install=0; shift ;;
    --no-build) do_build=0; shift ;;
    --no-memory) memory=0; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-all.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build="$PWD/$build" ;; esac
for value in "$tasks" "$depth" "$payload" "$workers" "$slots" "$latency_tasks" \
    "$sweep_tasks" "$memory_tasks" "$max_seconds" "$cluster_members" "$cluster_workers" \
    "$failover_tasks" "$failover_repeat"; do
    [[ $value =~ ^[0-9]+$ ]] && ((value > 0)) || { echo "run-all.sh: '$value' is not a positive integer" >&2; exit 2; }
done
((cluster_members >= 2)) || { echo "run-all.sh: --cluster-members must be 2 or more" >&2; exit 2; }
for system in $systems; do
    case $system in zdex | cluster | zdex-sar | cluster-sar | failover | floor | floor-nobackup | bullmq | gearman) ;;
    *) echo "run-all.sh: unknown system '$system'" >&2; exit 2 ;;
    esac
done

say() { echo "run-all: $*" >&2; }

if ((install)); then
    say "installing the peers (bench/peers/install.sh)"
    "$bench/peers/install.sh"
fi
if ((do_build)); then
    say "building into $build (scripts/setup.sh)"
    "$root/scripts/setup.sh" "$build"
fi
for binary in zdexd zdex-worker zdex-bench zdex-floor; do
    if [ ! -x "$build/$binary" ]; then
        say "$build/$binary is missing: the top-level CMakeLists.txt must include bench/ (add_subdirectory (bench))"
        exit 1
    fi
done
if [[ " $systems " == *" gearman "* ]] && [ ! -x "$build/zdex-gearman-bench" ]; then
    say "$build/zdex-gearman-bench is missing (libgearman-dev not installed when configured?): skipping gearman"
    systems=${systems//gearman/}
fi

# Where the records go, and what they say about this machine
mkdir -p "$bench/results"
stamp=$(date -u +%Y-%m-%dT%H%MZ)
results="$bench/results/$stamp.jsonl"
logs=$(mktemp -d "${TMPDIR:-/tmp}/zdex-run-all.XXXXXX")
trap 'rm -rf "$logs"' EXIT
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
# ZDEX_BENCH_COMMIT names the commit of a tree that is not a git checkout
commit=${ZDEX_BENCH_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}
meta=$(python3 -c 'import json, sys; print(json.dumps({"date": sys.argv[1], "commit": sys.argv[2],
    "host": {"nproc": int(sys.argv[3]), "cpu": sys.argv[4], "kernel": sys.argv[5],
             "mem_total_kb": int(sys.argv[6])}}))' \
    "$stamp" "$commit" "$(nproc)" "${cpu:-unknown}" "$(uname -r)" \
    "$(awk '/^MemTotal/ {print $2}' /proc/meminfo)")
say "records: $results"
say "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, commit $commit"

# run_one SYSTEM PURPOSE DEPTH TASKS [extra args]: one benchmark, its record
# appended to $results.  A failed run is reported and skipped.  run_max_seconds
# in the environment overrides --max-seconds for one run.  A cluster run binds
# 3 ports per member from its base port (9 of the 10 for 3 members).
run_index=0
failures=0
run_one() {
    local system=$1 purpose=$2 run_depth=$3 run_tasks=$4
    shift 4
    local port=$((28400 + 10 * (run_index % 60)))
    run_index=$((run_index + 1))
    local bound=${run_max_seconds:-$max_seconds}
    local run_workers=$workers
    case $system in cluster | cluster-sar | failover) run_workers=$cluster_workers ;; esac
    local common=(--tasks "$run_tasks" --depth "$run_depth" --payload-bytes "$payload"
        --workers "$run_workers" --slots "$slots" --max-seconds "$bound" --port "$port")
    local command
    case $system in
    zdex) command=("$build/zdex-bench" "${common[@]}") ;;
    cluster) command=("$build/zdex-bench" "${common[@]}" --members "$cluster_members" --durability 1) ;;
    zdex-sar) command=("$build/zdex-bench" "${common[@]}" --mode submit-and-retrieve) ;;
    cluster-sar) command=("$build/zdex-bench" "${common[@]}" --members "$cluster_members" --durability 1
        --mode submit-and-retrieve) ;;
    failover) command=("$build/zdex-bench" "${common[@]}" --failover --repeat "$failover_repeat"
        --members "$cluster_members" --durability 1) ;;
    floor) command=("$build/zdex-floor" "${common[@]}") ;;
    floor-nobackup) command=("$build/zdex-floor" "${common[@]}" --no-backup) ;;
    bullmq) command=("$bench/peers/run-bullmq.sh" "${common[@]}") ;;
    gearman) command=("$bench/peers/run-gearman.sh" --build "$build" "${common[@]}") ;;
    esac
    local log="$logs/$run_index-$system-$purpose-$run_depth.log"
    local out="$logs/$run_index.json"
    local started=$SECONDS rc=0
    ZDEXD="$build/zdexd" ZDEX_WORKER="$build/zdex-worker" \
        timeout --kill-after=15 $((bound + 60)) "${command[@]}" "$@" >"$out" 2>"$log" || rc=$?
    local line
    line=$(python3 -c 'import json, sys
try:
    r = json.loads(open(sys.argv[1]).read())
    l = r["latency_us"]
    f = r.get("failover_ms")
    if "failover_ms" in r:
        print("failover ms min/median/max %s  errors %s" % (
            "%.0f/%.0f/%.0f" % (f["min"], f["median"], f["max"]) if f else "n/a", r["errors"]))
    else:
        print("%.0f tasks/s  p50 %s us  p99 %s us  errors %s" % (r["throughput_tasks_per_s"], l["p50"], l["p99"], r["errors"]))
except Exception:
    sys.exit(1)' "$out") || line=""
    if [ -n "$line" ]; then
        python3 "$bench/report.py" append "$results" --purpose "$purpose" --meta "$meta" <"$out"
    fi
    if ((rc != 0)) || [ -z "$line" ]; then
        failures=$((failures + 1))
        say "FAILED (exit $rc): $system $purpose depth $run_depth; last lines of its log:"
        tail -n 15 "$log" | sed 's/^/    /' >&2
        [ -n "$line" ] && say "  (its record was kept: $line)"
    else
        say "$(printf '%-15s %-10s depth %-5s %7s tasks  %3ss  %s' "$system" "$purpose" \
            "$run_depth" "$run_tasks" $((SECONDS - started)) "$line")"
    fi
}

# failover is no row of these: it has a table of its own
loads=${systems//failover/}
for system in $loads; do
    run_one "$system" throughput "$depth" "$tasks" --cdf
done
for system in $loads; do
    run_one "$system" latency 1 "$latency_tasks" --cdf
done
if ((plot)); then
    for sweep_depth in 10 1000; do
        [ "$sweep_depth" -eq "$depth" ] && continue
        for system in $loads; do
            run_one "$system" sweep "$sweep_depth" "$sweep_tasks"
        done
    done
fi
if [[ " $systems " == *" failover "* ]]; then
    # 4 to 5 s per repeat: start 3 members and the workers, store the tasks,
    # kill, wait for the survivors, stop
    run_one failover failover "$depth" "$failover_tasks"
fi
if ((memory)) && [[ " $systems " == *" zdex "* ]]; then
    # Depth 1000 only shortens the run: the figure is memory per stored task
    run_max_seconds=900 run_one zdex memory 1000 "$memory_tasks" --mode memory
fi

if [ -s "$results" ]; then
    echo
    python3 "$bench/report.py" table "$results"
    if ((plot)); then
        say "plots:"
        python3 "$bench/report.py" plot "$results" --out "$bench/results/$stamp" | sed 's/^/    /' >&2
    fi
    say "records: $results"
else
    say "no records were written"
fi
if ((failures)); then
    say "$failures run(s) failed"
    exit 1
fi
