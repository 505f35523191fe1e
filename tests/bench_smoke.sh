#!/bin/sh
#  Smoke test for zdex-bench (ctest sets ZDEXD and ZDEX_WORKER).  Four tiny runs
#  against members and workers the bench starts itself:
#    1. one member, 2000 tasks at depth 16;
#    2. a 2-member cluster (durability 1), 500 tasks at depth 16;
#    3. the same cluster with --mode submit-and-retrieve;
#    4. one failover measurement on a 2-member cluster, 200 stored tasks.
#  Each must exit with status 0 and print exactly one JSON object on stdout
#  carrying every documented key; a process entry per member.  No timed
#  assertions: a time is only checked to be a positive number.
#  Usage: bench_smoke.sh <path to zdex-bench>
set -u

bench=${1:?usage: bench_smoke.sh <path to zdex-bench>}
python=/usr/bin/python3
out=$(mktemp "${TMPDIR:-/tmp}/zdex-bench-smoke.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT INT TERM
echo "bench_smoke: bench=$bench ZDEXD=${ZDEXD:-<unset>} ZDEX_WORKER=${ZDEX_WORKER:-<unset>}"

#  check NAME EXPECTED-JSON [zdex-bench arguments]: runs the bench and checks its
#  record; EXPECTED-JSON holds the values some keys must have, "members" the
#  number of member processes expected.
check () {
    name=$1
    expected=$2
    shift 2
    echo "bench_smoke: $name: running $bench $*"
    "$bench" "$@" >"$out"
    rc=$?
    echo "bench_smoke: $name: stdout was:"
    cat "$out"
    if [ "$rc" -ne 0 ]; then
        echo "bench_smoke: $name: FAIL: zdex-bench exited with status $rc (expected 0)"
        exit 1
    fi
    echo "bench_smoke: $name: ok: exit status 0"
    "$python" - "$out" "$name" "$expected" <<'PYTHON' || exit 1
import json, sys

path, name, expected = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def fail(message):
    print("bench_smoke: %s: FAIL: %s" % (name, message))
    sys.exit(1)

def ok(message):
    print("bench_smoke: %s: ok: %s" % (name, message))

text = open(path, encoding="utf-8").read()
try:
    record = json.loads(text)  # rejects anything after the first value
except ValueError as error:
    fail("stdout is not exactly one JSON value: %s" % error)
if not isinstance(record, dict):
    fail("stdout is JSON but not an object")
if len(text.strip().splitlines()) != 1:
    fail("the JSON record is not on exactly one line")
ok("stdout is exactly one JSON object")

number = (int, float)
keys = {
    "bench": str, "mode": str, "tasks": int, "depth": int, "payload_bytes": int,
    "workers": int, "slots": int, "members": int, "durability": int, "elapsed_s": number,
    "throughput_tasks_per_s": number, "latency_us": dict, "errors": int,
    "cpu_us_per_task": number, "processes": list,
}
if record.get("mode") == "failover":
    keys.update({"repeat": int, "failover_ms": dict, "failover_all_ms": dict,
                 "failover_partitions": int, "failover_retries": int})
for key, kind in keys.items():
    if key not in record:
        fail("key %r missing" % key)
    if isinstance(record[key], bool) or not isinstance(record[key], kind):
        fail("key %r has the wrong type: %r" % (key, record[key]))
ok("keys present and typed: " + ", ".join(keys))
for key in ("p50", "p90", "p99", "p999", "max"):
    value = record["latency_us"].get(key)
    if isinstance(value, bool) or not isinstance(value, number) or value < 0:
        fail("latency_us.%s is missing or not a non-negative number: %r" % (key, value))
latency = record["latency_us"]
if not latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p999"] <= latency["max"]:
    fail("latency percentiles are not ordered: %r" % latency)
ok("latency_us p50 <= p90 <= p99 <= p999 <= max: %r" % latency)

members = expected.pop("member_processes")
roles = sorted(process.get("role") for process in record["processes"])
want = sorted(["client"] + ["member"] * members + ["worker"] * record["workers"])
if roles != want:
    fail("processes should have roles %r, got %r" % (want, roles))
for process in record["processes"]:
    for key in ("cpu_s", "peak_rss_kb"):
        value = process.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, number)
                                  or value < 0):
            fail("processes[].%s must be a non-negative number or null: %r" % (key, process))
    if not isinstance(process.get("pid"), int) or not isinstance(process.get("name"), str):
        fail("processes[] needs an integer pid and a name: %r" % process)
pids = [process["pid"] for process in record["processes"]]
if len(set(pids)) != len(pids):
    fail("two processes share a pid: %r" % pids)
ok("processes: " + ", ".join(
    "%s %s cpu_s=%s peak_rss_kb=%s" % (p["role"], p["name"], p["cpu_s"], p["peak_rss_kb"])
    for p in record["processes"]))

for key, value in expected.items():
    if record[key] != value:
        fail("%s is %r, expected %r" % (key, record[key], value))
ok(", ".join("%s=%r" % item for item in expected.items()))
if not (record["elapsed_s"] > 0 and record["throughput_tasks_per_s"] > 0):
    fail("elapsed_s and throughput_tasks_per_s must be positive")
ok("elapsed_s=%s throughput_tasks_per_s=%s"
   % (record["elapsed_s"], record["throughput_tasks_per_s"]))

if record["mode"] == "failover":
    for key in ("failover_ms", "failover_all_ms"):
        times = record[key]
        runs = times.get("runs")
        if not isinstance(runs, list) or len(runs) != record["repeat"]:
            fail("%s.runs must hold one time per repeat: %r" % (key, times))
        for field in ("min", "median", "max"):
            if not isinstance(times.get(field), number) or times[field] <= 0:
                fail("%s.%s must be a positive number: %r" % (key, field, times))
        if not times["min"] <= times["median"] <= times["max"]:
            fail("%s is not ordered: %r" % (key, times))
    if record["failover_all_ms"]["max"] < record["failover_ms"]["min"]:
        fail("every task answered before the first one: %r" % record)
    if not 1 <= record["failover_partitions"] <= 271:
        fail("failover_partitions out of range: %r" % record["failover_partitions"])
    ok("failover_ms=%r failover_all_ms=%r" % (record["failover_ms"], record["failover_all_ms"]))
PYTHON
}

check "one member" \
    '{"bench": "zdex", "mode": "submit-retrieve", "tasks": 2000, "depth": 16,
      "payload_bytes": 100, "workers": 1, "slots": 64, "members": 1, "durability": 1,
      "errors": 0, "member_processes": 1}' \
    --tasks 2000 --depth 16 --max-seconds 60
check "2-member cluster" \
    '{"bench": "zdex", "mode": "submit-retrieve", "tasks": 500, "depth": 16,
      "payload_bytes": 100, "workers": 1, "slots": 16, "members": 2, "durability": 1,
      "errors": 0, "member_processes": 2}' \
    --members 2 --durability 1 --workers 1 --slots 16 --tasks 500 --depth 16 --max-seconds 60
check "2-member cluster, submit-and-retrieve" \
    '{"bench": "zdex", "mode": "submit-and-retrieve", "tasks": 500, "depth": 16,
      "payload_bytes": 100, "workers": 1, "slots": 16, "members": 2, "durability": 1,
      "errors": 0, "member_processes": 2}' \
    --mode submit-and-retrieve --members 2 --durability 1 --workers 1 --slots 16 --tasks 500 \
    --depth 16 --max-seconds 60
check "failover" \
    '{"bench": "zdex", "mode": "failover", "tasks": 200, "depth": 16, "members": 2,
      "durability": 1, "repeat": 1, "errors": 0, "member_processes": 2}' \
    --failover --members 2 --repeat 1 --workers 1 --slots 16 --tasks 200 --depth 16 \
    --max-seconds 60
echo "bench_smoke: PASS"
