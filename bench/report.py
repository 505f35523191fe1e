#!/usr/bin/env python3
"""bench/report.py: records, tables and plots for bench/run-all.sh.

Subcommands (standard library only):

  append FILE --purpose P --meta JSON     read one JSON record on stdin (the
        output of zdex-bench, zdex-floor or a peer script), add "run": META +
        {"purpose": P, "loadavg": ...} and append it as one line to FILE
  table FILE [--markdown]                 print the comparison tables of FILE:
        throughput at the main depth, latency at depth 1, the depth sweep and
        memory, with zdex's ratio against every peer
  plot FILE --out PREFIX                  write PREFIX-throughput-vs-depth.png
        and PREFIX-latency-cdf-depth<D>.png with gnuplot (pngcairo)

A record's "run.purpose" says why it was taken: "throughput" (the main depth),
"latency" (depth 1), "sweep" (extra depths for the plot), "memory" or
"failover".  A zdex record with "members" above 1 is the system "zdex-cluster",
apart from the single member "zdex"; with "mode" submit-and-retrieve they are
"zdex-cluster-sar" and "zdex-sar".  When a file holds several records for one
(purpose, system, depth), the last wins.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

# Display order and names; zdex is the reference of every ratio
SYSTEMS = [
    ("zdex", "zdex"),
    ("zdex-cluster", "zdex cluster"),
    ("zdex-sar", "zdex, submit_and_retrieve"),
    ("zdex-cluster-sar", "zdex cluster, submit_and_retrieve"),
    ("zdex-floor", "raw ZeroMQ floor (with backup)"),
    ("zdex-floor-nobackup", "raw ZeroMQ floor (no backup)"),
    ("redis-bullmq", "Redis + BullMQ"),
    ("gearman", "Gearman"),
]
NAMES = dict(SYSTEMS)


def load(path):
    records = []
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except ValueError as error:
                sys.exit("report.py: %s:%d: %s" % (path, number, error))
    return records


def system(record):
    """The row a record belongs to: its bench, with a zdex cluster apart."""
    bench = record.get("bench")
    members = record.get("members")
    cluster = bench == "zdex" and isinstance(members, int) and members > 1
    if bench == "zdex" and record.get("mode") == "submit-and-retrieve":
        return "zdex-cluster-sar" if cluster else "zdex-sar"
    return "zdex-cluster" if cluster else bench


def display(key, record):
    """The row's name; a cluster's says what it was."""
    name = NAMES.get(key, key)
    if key in ("zdex-cluster", "zdex-cluster-sar") and record:
        name += " (%s members, durability %s, %s x %s slots)" % (
            record.get("members"), record.get("durability"), record.get("workers"),
            record.get("slots"))
    return name


def latest(records, purpose, depth=None):
    """{system: record} for a purpose (and depth), the last record winning."""
    chosen = {}
    for record in records:
        if record.get("run", {}).get("purpose") != purpose:
            continue
        if depth is not None and record.get("depth") != depth:
            continue
        chosen[system(record)] = record
    return chosen


def ordered(chosen):
    known = [bench for bench, _ in SYSTEMS if bench in chosen]
    return known + sorted(bench for bench in chosen if bench not in NAMES)


def member_values(record, key):
    return [p.get(key) for p in record.get("processes", []) if p.get("role") == "member"]


def member_rss_mib(record):
    sizes = [p.get("peak_rss_kb") for p in record.get("processes", [])
             if p.get("role") == "member" and isinstance(p.get("peak_rss_kb"), int)]
    return sum(sizes) / 1024 if sizes else None


def cpu_split(record):
    """CPU seconds by role: client/member/worker."""
    split = {}
    for proc in record.get("processes", []):
        if isinstance(proc.get("cpu_s"), (int, float)):
            split[proc["role"]] = split.get(proc["role"], 0) + proc["cpu_s"]
    return split


def ratio(mine, theirs):
    if not isinstance(mine, (int, float)) or not isinstance(theirs, (int, float)) or not theirs:
        return "n/a"
    return "%.2f" % (mine / theirs)


def number(value, digits=0):
    if not isinstance(value, (int, float)):
        return "n/a"
    return "{:,.{}f}".format(value, digits)


def render(headers, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    def line(cells):
        return "  ".join(str(cell).rjust(width) if index else str(cell).ljust(width)
                         for index, (cell, width) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * width for width in widths])] +
                     [line(row) for row in rows])


def workload(record):
    return "%s tasks, depth %s, payload %s B, %s worker process(es) x %s slots" % (
        number(record.get("tasks")), record.get("depth"), record.get("payload_bytes"),
        record.get("workers"), record.get("slots"))


def throughput_table(chosen, markdown):
    zdex = chosen.get("zdex", {})
    headers = ["system", "tasks/s", "p50 us", "p99 us", "p99.9 us", "max us", "CPU us/task",
               "CPU s client/member/worker", "member peak RSS MiB", "errors",
               "zdex/this tasks/s", "zdex/this p50", "zdex/this CPU per task"]
    rows = []
    for bench in ordered(chosen):
        record = chosen[bench]
        latency = record.get("latency_us", {})
        split = cpu_split(record)
        rss = member_rss_mib(record)
        rows.append([
            display(bench, record), number(record.get("throughput_tasks_per_s")),
            number(latency.get("p50")), number(latency.get("p99")), number(latency.get("p999")),
            number(latency.get("max")), number(record.get("cpu_us_per_task"), 1),
            "/".join("%.2f" % split.get(role, 0) for role in ("client", "member", "worker")),
            number(rss, 1) if rss is not None else "n/a", str(record.get("errors", "n/a")),
            ratio(zdex.get("throughput_tasks_per_s"), record.get("throughput_tasks_per_s")),
            ratio(zdex.get("latency_us", {}).get("p50"), latency.get("p50")),
            ratio(zdex.get("cpu_us_per_task"), record.get("cpu_us_per_task")),
        ])
    return render(headers, rows, markdown)


def latency_table(chosen, markdown):
    zdex = chosen.get("zdex", {})
    headers = ["system", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "tasks/s",
               "CPU us/task", "zdex/this p50", "zdex/this p99"]
    rows = []
    for bench in ordered(chosen):
        record = chosen[bench]
        latency = record.get("latency_us", {})
        rows.append([
            display(bench, record), number(latency.get("p50")), number(latency.get("p90")),
            number(latency.get("p99")), number(latency.get("p999")), number(latency.get("max")),
            number(record.get("throughput_tasks_per_s")), number(record.get("cpu_us_per_task"), 1),
            ratio(zdex.get("latency_us", {}).get("p50"), latency.get("p50")),
            ratio(zdex.get("latency_us", {}).get("p99"), latency.get("p99")),
        ])
    return render(headers, rows, markdown)


def sweep_points(records):
    """{bench: {depth: tasks/s}} over every purpose but memory."""
    points = {}
    for purpose in ("latency", "sweep", "throughput"):
        for record in records:
            if record.get("run", {}).get("purpose") != purpose:
                continue
            points.setdefault(system(record), {})[record["depth"]] = \
                record.get("throughput_tasks_per_s")
    return points


def sweep_table(records, markdown):
    points = sweep_points(records)
    depths = sorted({depth for by_depth in points.values() for depth in by_depth})
    if len(depths) < 2:
        return None
    headers = ["system"] + ["depth %d tasks/s" % depth for depth in depths]
    rows = [[NAMES.get(bench, bench)] + [number(points[bench].get(depth)) for depth in depths]
            for bench in ordered(points)]
    zdex = points.get("zdex", {})
    for bench in ordered(points):
        if bench != "zdex":
            rows.append(["zdex / " + NAMES.get(bench, bench)] +
                        [ratio(zdex.get(depth), points[bench].get(depth)) for depth in depths])
    return render(headers, rows, markdown)


def memory_table(records, markdown):
    chosen = latest(records, "memory")
    if "zdex" not in chosen:
        return None
    record = chosen["zdex"]
    detail = record.get("memory", {})
    headers = ["stored tasks", "payload = result bytes", "member VmRSS before kB",
               "after kB", "RSS bytes/task", "bytes/task beyond payload",
               "capacity per partition", "fullest partition", "errors"]
    rows = [[number(record.get("tasks")), str(record.get("payload_bytes")),
             number(detail.get("member_rss_before_kb")), number(detail.get("member_rss_after_kb")),
             number(detail.get("rss_bytes_per_task"), 1),
             number(record.get("bytes_per_task_beyond_payload"), 1),
             number(detail.get("capacity_per_partition")),
             number(detail.get("fullest_partition_tasks")), str(record.get("errors"))]]
    return render(headers, rows, markdown)


def cluster_table(records, markdown):
    """The zdex cluster at each depth it ran, against one member and the floor."""
    rows = []
    for purpose in ("latency", "sweep", "throughput"):
        for depth, record in sorted((r.get("depth"), r) for r in records
                                    if r.get("run", {}).get("purpose") == purpose
                                    and system(r) == "zdex-cluster"):
            alone = latest(records, purpose, depth).get("zdex", {})
            floor = latest(records, purpose, depth).get("zdex-floor", {})
            latency = record.get("latency_us", {})
            cpu = member_values(record, "cpu_s")
            rss = member_values(record, "peak_rss_kb")
            rows.append((depth, [
                str(depth), number(record.get("tasks")),
                number(record.get("throughput_tasks_per_s")), number(latency.get("p50")),
                number(latency.get("p99")), number(record.get("cpu_us_per_task"), 1),
                "/".join("%.2f" % v if isinstance(v, (int, float)) else "n/a" for v in cpu),
                "/".join("%.1f" % (v / 1024) if isinstance(v, int) else "n/a" for v in rss),
                str(record.get("errors", "n/a")),
                ratio(record.get("throughput_tasks_per_s"), alone.get("throughput_tasks_per_s")),
                ratio(latency.get("p50"), alone.get("latency_us", {}).get("p50")),
                ratio(record.get("throughput_tasks_per_s"), floor.get("throughput_tasks_per_s")),
                ratio(latency.get("p50"), floor.get("latency_us", {}).get("p50")),
            ]))
    if not rows:
        return None, None
    by_depth = {}
    for depth, row in rows:
        by_depth[depth] = row  # the last record of a depth wins
    headers = ["depth", "tasks", "tasks/s", "p50 us", "p99 us", "CPU us/task",
               "CPU s per member", "peak RSS MiB per member", "errors",
               "cluster/1 member tasks/s", "cluster/1 member p50",
               "cluster/floor tasks/s", "cluster/floor p50"]
    any_record = next(r for r in reversed(records) if system(r) == "zdex-cluster")
    return (display("zdex-cluster", any_record) + ", payload %s B" % any_record.get(
        "payload_bytes"), render(headers, [by_depth[d] for d in sorted(by_depth)], markdown))


def failover_table(records, markdown):
    chosen = latest(records, "failover")
    if not chosen:
        return None
    headers = ["members", "durability", "workers", "tasks per repeat", "partitions covered",
               "repeats answered", "first answer ms min/median/max",
               "every answer ms min/median/max", "UNAVAILABLE retries", "errors"]
    rows = []
    for key in ordered(chosen):
        record = chosen[key]
        def spread(times):
            if not isinstance(times, dict):
                return "n/a"
            return "%s / %s / %s" % (number(times.get("min")), number(times.get("median")),
                                     number(times.get("max")))
        first = record.get("failover_ms")
        runs = len(first.get("runs", [])) if isinstance(first, dict) else 0
        rows.append([str(record.get("members")), str(record.get("durability")),
                     "%s x %s" % (record.get("workers"), record.get("slots")),
                     number(record.get("tasks")), str(record.get("failover_partitions")),
                     "%d of %s" % (runs, record.get("repeat")), spread(first),
                     spread(record.get("failover_all_ms")),
                     number(record.get("failover_retries")), str(record.get("errors"))])
    return render(headers, rows, markdown)


def machine(records):
    for record in reversed(records):
        run = record.get("run", {})
        if run.get("host"):
            host = run["host"]
            return "%s; %s CPUs (nproc), %s; %s; zdex commit %s" % (
                run.get("date", "?"), host.get("nproc", "?"), host.get("cpu", "?"),
                host.get("kernel", "?"), run.get("commit", "?"))
    return "unknown"


def command_table(args):
    records = load(args.file)
    out = []
    heading = (lambda text: "\n#### " + text + "\n") if args.markdown else \
        (lambda text: "\n== " + text + " ==")
    out.append(("Machine: " if args.markdown else "machine: ") + machine(records))
    main = latest(records, "throughput")
    if main:
        any_record = main.get("zdex") or next(iter(main.values()))
        out.append(heading("Throughput: " + workload(any_record)))
        out.append(throughput_table(main, args.markdown))
    lat = latest(records, "latency")
    if lat:
        any_record = lat.get("zdex") or next(iter(lat.values()))
        out.append(heading("Latency: " + workload(any_record)))
        out.append(latency_table(lat, args.markdown))
    sweep = sweep_table(records, args.markdown)
    if sweep:
        out.append(heading("Throughput against depth (tasks/s)"))
        out.append(sweep)
    title, cluster = cluster_table(records, args.markdown)
    if cluster:
        out.append(heading("Cluster: " + title))
        out.append(cluster)
    failover = failover_table(records, args.markdown)
    if failover:
        out.append(heading("Failover: SIGKILL of the member owning every primary, time until "
                           "the survivors answer its stored results"))
        out.append(failover)
    memory = memory_table(records, args.markdown)
    if memory:
        out.append(heading("Memory: zdex member, results kept"))
        out.append(memory)
    loads = [r.get("run", {}).get("loadavg") for r in records if r.get("run", {}).get("loadavg")]
    if loads:
        out.append(("\n" if args.markdown else "") + "load average (1 min) at the start of the "
                   "runs: %.2f to %.2f" % (min(loads), max(loads)))
    print("\n".join(out))


def command_append(args):
    text = sys.stdin.read()
    try:
        record = json.loads(text)
    except ValueError as error:
        sys.exit("report.py: the record is not JSON: %s" % error)
    if not isinstance(record, dict) or "bench" not in record:
        sys.exit("report.py: the record is not a benchmark record")
    run = json.loads(args.meta)
    run["purpose"] = args.purpose
    try:
        run["loadavg"] = float(open("/proc/loadavg").read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    record["run"] = run
    with open(args.file, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record, separators=(",", ":")) + "\n")


def gnuplot(script):
    if not shutil.which("gnuplot"):
        sys.exit("report.py: gnuplot not found (bench/peers/install.sh installs gnuplot-nox)")
    subprocess.run(["gnuplot"], input=script, text=True, check=True, timeout=60)


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_plot(args):
    records = load(args.file)
    written = []
    with tempfile.TemporaryDirectory(prefix="zdex-plot.") as work:
        # Throughput against pipeline depth, one line per system
        points = sweep_points(records)
        plots = []
        for bench in ordered(points):
            data = os.path.join(work, "depth-%s.dat" % bench)
            with open(data, "w") as stream:
                for depth in sorted(points[bench]):
                    if isinstance(points[bench][depth], (int, float)):
                        stream.write("%d %f\n" % (depth, points[bench][depth]))
            plots.append("%s using 1:2 with linespoints lw 2 title %s" %
                         (quote(data), quote(NAMES.get(bench, bench))))
        if plots:
            target = args.out + "-throughput-vs-depth.png"
            gnuplot("\n".join([
                "set terminal pngcairo size 900,600 noenhanced font 'sans,10'",
                "set output %s" % quote(target),
                "set title %s" % quote("Throughput against pipeline depth (" + machine(records) + ")"),
                "set logscale xy", "set grid",
                "set xlabel 'tasks outstanding (depth)'", "set ylabel 'tasks/s'",
                "set key left top",
                "plot " + ", ".join(plots), ""]))
            written.append(target)
        # Latency CDF at each depth that has CDFs
        depths = sorted({r.get("depth") for r in records if r.get("latency_cdf")
                         and r.get("run", {}).get("purpose") in ("latency", "throughput")})
        for depth in depths:
            chosen = {}
            for purpose in ("throughput", "latency"):
                for bench, record in latest(records, purpose, depth).items():
                    if record.get("latency_cdf"):
                        chosen[bench] = record
            plots = []
            for bench in ordered(chosen):
                data = os.path.join(work, "cdf-%d-%s.dat" % (depth, bench))
                with open(data, "w") as stream:
                    for value, fraction in chosen[bench]["latency_cdf"]:
                        stream.write("%d %f\n" % (max(value, 1), fraction))
                plots.append("%s using 1:2 with steps lw 2 title %s" %
                             (quote(data), quote(NAMES.get(bench, bench))))
            target = "%s-latency-cdf-depth%d.png" % (args.out, depth)
            gnuplot("\n".join([
                "set terminal pngcairo size 900,600 noenhanced font 'sans,10'",
                "set output %s" % quote(target),
                "set title %s" % quote("Latency CDF, submit to result, depth %d" % depth),
                "set logscale x", "set grid", "set yrange [0:1]",
                "set xlabel 'latency (us)'", "set ylabel 'fraction of tasks at or below'",
                "set key right bottom",
                "plot " + ", ".join(plots), ""]))
            written.append(target)
    for path in written:
        print(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    append = commands.add_parser("append")
    append.add_argument("file")
    append.add_argument("--purpose", required=True,
                        choices=["throughput", "latency", "sweep", "memory", "failover"])
    append.add_argument("--meta", required=True)
    table = commands.add_parser("table")
    table.add_argument("file")
    table.add_argument("--markdown", action="store_true")
    plot = commands.add_parser("plot")
    plot.add_argument("file")
    plot.add_argument("--out", required=True)
    args = parser.parse_args()
    {"append": command_append, "table": command_table, "plot": command_plot}[args.command](args)


if __name__ == "__main__":
    main()
