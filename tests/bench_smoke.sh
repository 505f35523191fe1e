#!/bin/sh
#  Smoke test for zdex-bench: a tiny workload against a member and worker the
#  bench starts itself (ctest sets ZDEXD and ZDEX_WORKER).  Checks the exit code
#  and that stdout is exactly one JSON object carrying every documented key.
#  Usage: bench_smoke.sh <path to zdex-bench>
set -u

bench=${1:?usage: bench_smoke.sh <path to zdex-bench>}
python=/usr/bin/python3
out=$(mktemp "${TMPDIR:-/tmp}/zdex-bench-smoke.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT INT TERM

echo "bench_smoke: bench=$bench ZDEXD=${ZDEXD:-<unset>} ZDEX_WORKER=${ZDEX_WORKER:-<unset>}"
echo "bench_smoke: running $bench --tasks 2000 --depth 16 --max-seconds 60"
"$bench" --tasks 2000 --depth 16 --max-seconds 60 >"$out"
rc=$?
echo "bench_smoke: stdout was:"
cat "$out"
if [ "$rc" -ne 0 ]; then
    echo "bench_smoke: FAIL: zdex-bench exited with status $rc (expected 0)"
    exit 1
fi
echo "bench_smoke: ok: exit status 0"

"$python" -c '
import json, sys

def fail(message):
    print("bench_smoke: FAIL: " + message)
    sys.exit(1)

text = open(sys.argv[1], encoding="utf-8").read()
try:
    record = json.loads(text)  # rejects anything after the first value
except ValueError as error:
    fail("stdout is not exactly one JSON value: %s" % error)
if not isinstance(record, dict):
    fail("stdout is JSON but not an object")
if len(text.strip().splitlines()) != 1:
    fail("the JSON record is not on exactly one line")
print("bench_smoke: ok: stdout is exactly one JSON object")

number = (int, float)
keys = {
    "bench": str, "mode": str, "tasks": int, "depth": int, "payload_bytes": int,
    "workers": int, "slots": int, "elapsed_s": number, "throughput_tasks_per_s": number,
    "latency_us": dict, "errors": int, "cpu_us_per_task": number, "processes": list,
}
for key, kind in keys.items():
    if key not in record:
        fail("key %r missing" % key)
    if isinstance(record[key], bool) or not isinstance(record[key], kind):
        fail("key %r has the wrong type: %r" % (key, record[key]))
print("bench_smoke: ok: keys present and typed: " + ", ".join(keys))
for key in ("p50", "p90", "p99", "p999", "max"):
    value = record["latency_us"].get(key)
    if isinstance(value, bool) or not isinstance(value, number) or value < 0:
        fail("latency_us.%s is missing or not a non-negative number: %r" % (key, value))
latency = record["latency_us"]
if not latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p999"] <= latency["max"]:
    fail("latency percentiles are not ordered: %r" % latency)
print("bench_smoke: ok: latency_us p50 <= p90 <= p99 <= p999 <= max: %r" % latency)
roles = sorted(process.get("role") for process in record["processes"])
if roles != ["client", "member", "worker"]:
    fail("processes should be the bench, zdexd and one worker, got roles %r" % roles)
for process in record["processes"]:
    for key in ("cpu_s", "peak_rss_kb"):
        value = process.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, number)
                                  or value < 0):
            fail("processes[].%s must be a non-negative number or null: %r" % (key, process))
    if not isinstance(process.get("pid"), int) or not isinstance(process.get("name"), str):
        fail("processes[] needs an integer pid and a name: %r" % process)
print("bench_smoke: ok: processes: " + ", ".join(
    "%s %s cpu_s=%s peak_rss_kb=%s" % (p["role"], p["name"], p["cpu_s"], p["peak_rss_kb"])
    for p in record["processes"]))
extra = sorted(set(record) - set(keys))
if extra:
    print("bench_smoke: note: extra keys %s" % extra)

expected = {"bench": "zdex", "mode": "submit-retrieve", "tasks": 2000, "depth": 16,
            "payload_bytes": 100, "workers": 1, "slots": 64, "errors": 0}
for key, value in expected.items():
    if record[key] != value:
        fail("%s is %r, expected %r" % (key, record[key], value))
print("bench_smoke: ok: " + ", ".join("%s=%r" % item for item in expected.items()))
if not (record["elapsed_s"] > 0 and record["throughput_tasks_per_s"] > 0):
    fail("elapsed_s and throughput_tasks_per_s must be positive")
print("bench_smoke: ok: elapsed_s=%s throughput_tasks_per_s=%s"
      % (record["elapsed_s"], record["throughput_tasks_per_s"]))
' "$out" || exit 1

echo "bench_smoke: PASS"
