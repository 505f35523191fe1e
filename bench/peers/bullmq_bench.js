'use strict';
//  bullmq_bench.js: the Redis + BullMQ peer's producer, zdex-bench's workload on
//  BullMQ.
//
//  Each task is a BullMQ job {p: "<payload_bytes x>"} on one queue; the worker
//  process (bullmq_worker.js) returns p.  The producer keeps `depth` jobs
//  outstanding: a job counts as done when its "completed" event arrives through
//  QueueEvents (one listener for all jobs, matched by a job id we choose, so an
//  event can never arrive before we know its id), and its returnvalue must equal
//  the payload.  The latency runs from calling queue.add to that event.  Jobs
//  keep BullMQ's defaults otherwise (completed jobs and their results stay in
//  Redis, as zdex keeps results).
//
//  Before the timed run: wait until Queue.getWorkers() lists the worker process,
//  then run one warm-up job through the whole path, so the event stream is
//  being read.  CPU time and peak RSS of this process, redis-server and the
//  worker come from /proc (as zdex_procset does in C) and go into one JSON record
//  on stdout in zdex-bench's shape.  The log-bucketed histogram is zdex_hist's.
//  Every wait is bounded; --max-seconds bounds the whole run.

const fs = require('fs');
const { Queue, QueueEvents } = require('bullmq');

const SETUP_TIMEOUT_MS = 10000;

//  --------------------------------------------------------------------------
//  Histogram: the same buckets as bench/zdex_hist.c

const SUB_BITS = 4;
const SUB = 1 << SUB_BITS;

class Hist {
    constructor() {
        this.counts = new Map();
        this.total = 0;
        this.max = 0;
        this.sum = 0;
    }
    static index(value) {
        if (value < SUB) return value;
        const msb = 31 - Math.clz32(value); //  record() keeps values below 2^32
        const shift = msb - SUB_BITS;
        return SUB + shift * SUB + (Math.floor(value / 2 ** shift) - SUB);
    }
    static high(index) {
        if (index < SUB) return index;
        const shift = Math.floor((index - SUB) / SUB);
        const sub = (index - SUB) % SUB;
        return (SUB + sub) * 2 ** shift + (2 ** shift - 1);
    }
    record(value) {
        const v = Math.max(0, Math.round(value));
        if (v >= 2 ** 32) throw new Error('latency out of range');
        const index = Hist.index(v);
        this.counts.set(index, (this.counts.get(index) || 0) + 1);
        this.total++;
        this.sum += v;
        if (v > this.max) this.max = v;
    }
    sorted() {
        return [...this.counts.entries()].sort((a, b) => a[0] - b[0]);
    }
    percentile(permille) {
        if (this.total === 0) return 0;
        const target = Math.max(1, Math.ceil((this.total * permille) / 1000));
        let seen = 0;
        for (const [index, count] of this.sorted()) {
            seen += count;
            if (seen >= target) return Math.min(Hist.high(index), this.max);
        }
        return this.max;
    }
    summary() {
        return {
            p50: this.percentile(500),
            p90: this.percentile(900),
            p99: this.percentile(990),
            p999: this.percentile(999),
            max: this.max,
        };
    }
    cdf() {
        let seen = 0;
        return this.sorted().map(([index, count]) => {
            seen += count;
            return [Math.min(Hist.high(index), this.max), Math.round((seen / this.total) * 1e6) / 1e6];
        });
    }
}

//  --------------------------------------------------------------------------
//  Processes (/proc), as bench/zdex_procset.c

function cpuUs(pid, clkTck) {
    try {
        const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
        //  fields[0] is field 3 (state); utime and stime are fields 14 and 15
        return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clkTck;
    } catch (error) {
        return -1;
    }
}

function statusKb(pid, field) {
    try {
        const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const match = text.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm'));
        return match ? Number(match[1]) : -1;
    } catch (error) {
        return -1;
    }
}

class ProcSet {
    constructor(clkTck) {
        this.clkTck = clkTck;
        this.procs = [];
    }
    add(role, name, pid) {
        this.procs.push({ role, name, pid, base: -1, cpu: -1, rss: -1 });
    }
    start() {
        for (const proc of this.procs) proc.base = cpuUs(proc.pid, this.clkTck);
    }
    sample() {
        for (const proc of this.procs) {
            const now = cpuUs(proc.pid, this.clkTck);
            proc.cpu = now >= 0 && proc.base >= 0 ? now - proc.base : -1;
            proc.rss = statusKb(proc.pid, 'VmHWM');
        }
    }
    cpuS() {
        return this.procs.reduce((sum, proc) => sum + (proc.cpu > 0 ? proc.cpu / 1e6 : 0), 0);
    }
    json() {
        return this.procs.map((proc) => ({
            role: proc.role,
            name: proc.name,
            pid: proc.pid,
            cpu_s: proc.cpu >= 0 ? Math.round(proc.cpu) / 1e6 : null,
            peak_rss_kb: proc.rss >= 0 ? proc.rss : null,
        }));
    }
}

//  --------------------------------------------------------------------------
//  Options

function usage(out) {
    out.write(
        'usage: node bullmq_bench.js --port P [options]\n' +
            '  --port P             redis-server on 127.0.0.1:P (required)\n' +
            '  --tasks N            jobs (default 100000)\n' +
            '  --depth D            jobs outstanding at all times (default 100)\n' +
            '  --payload-bytes B    payload string of B x (default 100)\n' +
            '  --workers N          worker processes to wait for (default 1)\n' +
            '  --slots S            their concurrency (default 64; for the record)\n' +
            '  --server-pid PID     redis-server pid, measured as the member\n' +
            '  --worker-pid PID     a worker pid, measured (repeatable)\n' +
            '  --clk-tck T          clock ticks per second of /proc (default 100)\n' +
            '  --queue NAME         queue name (default zdex-bench)\n' +
            '  --cdf                add the latency CDF to the record\n' +
            '  --max-seconds S      abort after S seconds (default 120)\n' +
            '  --json-only          no progress lines or table on stderr\n',
    );
}

function parseOptions(argv) {
    const options = {
        port: 0,
        tasks: 100000,
        depth: 100,
        payloadBytes: 100,
        workers: 1,
        slots: 64,
        serverPid: 0,
        workerPids: [],
        clkTck: 100,
        queue: 'zdex-bench',
        cdf: false,
        maxSeconds: 120,
        jsonOnly: false,
    };
    const integers = {
        '--port': ['port', 1, 65535],
        '--tasks': ['tasks', 1, 1e9],
        '--depth': ['depth', 1, 1e6],
        '--payload-bytes': ['payloadBytes', 0, 64 * 1024 * 1024],
        '--workers': ['workers', 1, 1024],
        '--slots': ['slots', 1, 100000],
        '--server-pid': ['serverPid', 1, 2 ** 31],
        '--clk-tck': ['clkTck', 1, 1e6],
        '--max-seconds': ['maxSeconds', 1, 86400 * 365],
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '--help') {
            usage(process.stdout);
            process.exit(0);
        } else if (arg === '--cdf') options.cdf = true;
        else if (arg === '--json-only') options.jsonOnly = true;
        else if (arg === '--queue' && i + 1 < argv.length) options.queue = argv[++i];
        else if ((arg in integers || arg === '--worker-pid') && i + 1 < argv.length) {
            const text = argv[++i];
            const [key, min, max] = arg === '--worker-pid' ? ['workerPid', 1, 2 ** 31] : integers[arg];
            const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
            if (!(value >= min && value <= max)) {
                process.stderr.write(`bullmq_bench: bad value for ${arg}: '${text}'\n`);
                process.exit(2);
            }
            if (key === 'workerPid') options.workerPids.push(value);
            else options[key] = value;
        } else {
            process.stderr.write(`bullmq_bench: unexpected argument '${arg}'\n`);
            usage(process.stderr);
            process.exit(2);
        }
    }
    if (!options.port) {
        usage(process.stderr);
        process.exit(2);
    }
    return options;
}

//  --------------------------------------------------------------------------
//  Run

function nowUs() {
    return Number(process.hrtime.bigint() / 1000n);
}

function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
    const options = parseOptions(process.argv.slice(2));
    const log = (line) => {
        if (!options.jsonOnly) process.stderr.write(`bullmq_bench: ${line}\n`);
    };
    const connection = { host: '127.0.0.1', port: options.port, maxRetriesPerRequest: null };
    const queue = new Queue(options.queue, { connection });
    const events = new QueueEvents(options.queue, { connection });
    const payload = 'x'.repeat(options.payloadBytes);
    const prefix = `zb${process.pid}-${Date.now()}`;
    const sentAt = new Float64Array(options.tasks); //  0: not outstanding
    const hist = new Hist();
    const procs = new ProcSet(options.clkTck);
    procs.add('client', 'bullmq-producer', process.pid);
    if (options.serverPid) procs.add('member', 'redis-server', options.serverPid);
    for (const pid of options.workerPids) procs.add('worker', 'bullmq-worker', pid);

    let next = 0;
    let active = 0;
    let completed = 0;
    let errors = 0;
    let reported = 0;
    let startedAt = 0;
    let lastDoneAt = 0;
    let finish; //  resolves the run
    const done = new Promise((resolve) => (finish = resolve));
    const warmupId = `${prefix}-warmup`;
    let warmupDone;
    const warmup = new Promise((resolve) => (warmupDone = resolve));

    const error = (line) => {
        errors++;
        if (reported++ < 10) process.stderr.write(`bullmq_bench: error: ${line}\n`);
    };
    const indexOf = (jobId) => {
        if (typeof jobId !== 'string' || !jobId.startsWith(prefix + '-')) return -1;
        const index = Number(jobId.slice(prefix.length + 1));
        return Number.isInteger(index) && index >= 0 && index < options.tasks ? index : -1;
    };
    const settle = (index, ok, detail) => {
        if (sentAt[index] === 0) return;
        const now = nowUs();
        active--;
        if (ok) {
            completed++;
            hist.record(now - sentAt[index]);
        } else error(`task ${index}: ${detail}`);
        sentAt[index] = 0;
        lastDoneAt = now;
        refill();
        if (completed + errors >= options.tasks && active === 0) finish();
    };
    const start = (index) => {
        active++;
        sentAt[index] = nowUs();
        queue.add('echo', { p: payload }, { jobId: `${prefix}-${index}` }).catch((err) => {
            settle(index, false, `add: ${err.message}`);
        });
    };
    const refill = () => {
        while (active < options.depth && next < options.tasks) start(next++);
    };

    events.on('completed', ({ jobId, returnvalue }) => {
        if (jobId.startsWith(warmupId)) return warmupDone();
        const index = indexOf(jobId);
        if (index >= 0) settle(index, returnvalue === payload, 'result is not the payload');
    });
    events.on('failed', ({ jobId, failedReason }) => {
        const index = indexOf(jobId);
        if (index >= 0) settle(index, false, `failed: ${failedReason}`);
    });
    events.on('error', (err) => error(`QueueEvents: ${err.message}`));
    queue.on('error', (err) => error(`Queue: ${err.message}`));

    const close = async () => {
        await withTimeout(Promise.allSettled([events.close(), queue.close()]), 5000, 'close').catch(
            () => {},
        );
    };

    //  Setup: connections, the worker, one job end to end
    try {
        await withTimeout(
            Promise.all([queue.waitUntilReady(), events.waitUntilReady()]),
            SETUP_TIMEOUT_MS,
            'connect to redis',
        );
        const until = Date.now() + SETUP_TIMEOUT_MS;
        let seen = 0;
        while ((seen = (await queue.getWorkers()).length) < options.workers) {
            if (Date.now() > until) throw new Error(`BullMQ lists ${seen} of ${options.workers} workers`);
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
        //  Until the first XREAD is issued, events could be missed: resend warm-up
        //  jobs until one is seen
        const warmed = (async () => {
            for (let attempt = 0; ; attempt++) {
                await queue.add('echo', { p: payload }, { jobId: warmupId + (attempt ? attempt : '') });
                const seenWarmup = await Promise.race([
                    warmup.then(() => true),
                    new Promise((resolve) => setTimeout(() => resolve(false), 500)),
                ]);
                if (seenWarmup) return;
            }
        })();
        await withTimeout(warmed, SETUP_TIMEOUT_MS, 'warm-up job');
    } catch (err) {
        process.stderr.write(`bullmq_bench: setup failed: ${err.message}\n`);
        await close();
        process.exit(1);
    }
    log(`redis 127.0.0.1:${options.port}, ${options.workers} worker(s); ${options.tasks} jobs at depth ${options.depth}`);

    //  Timed run
    procs.start();
    startedAt = nowUs();
    let tickDone = 0;
    const ticker = setInterval(() => {
        const doneNow = completed + errors;
        log(`${((nowUs() - startedAt) / 1e6).toFixed(1)}s  done ${doneNow}/${options.tasks}  ${doneNow - tickDone} tasks/s  errors ${errors}`);
        tickDone = doneNow;
    }, 1000);
    let timedOut = false;
    const deadline = setTimeout(() => {
        timedOut = true;
        process.stderr.write(`bullmq_bench: --max-seconds ${options.maxSeconds} reached, aborting\n`);
        finish();
    }, options.maxSeconds * 1000);
    refill();
    await done;
    const finishedAt = nowUs();
    procs.sample();
    clearInterval(ticker);
    clearTimeout(deadline);

    //  Report
    const allDone = completed + errors >= options.tasks;
    const end = allDone ? lastDoneAt : finishedAt;
    const elapsedS = Math.max(0, end - startedAt) / 1e6;
    const throughput = elapsedS > 0 ? Math.round((completed / elapsedS) * 10) / 10 : 0;
    const cpuPerTask = completed ? Math.round(((procs.cpuS() * 1e6) / completed) * 10) / 10 : 0;
    const summary = hist.summary();
    if (!options.jsonOnly) {
        const rows = [
            '',
            'bullmq_bench results',
            `  tasks                ${options.tasks} requested, ${completed} completed`,
            `  depth                ${options.depth}`,
            `  payload              ${options.payloadBytes} bytes`,
            `  workers              ${options.workers} x concurrency ${options.slots}`,
            `  elapsed              ${elapsedS.toFixed(3)} s`,
            `  throughput           ${throughput.toFixed(1)} tasks/s`,
            `  errors               ${errors}`,
            `  latency (us)         p50 ${summary.p50}  p90 ${summary.p90}  p99 ${summary.p99}  p99.9 ${summary.p999}  max ${summary.max}`,
            `  cpu                  ${cpuPerTask.toFixed(1)} us per task`,
            ...procs
                .json()
                .map(
                    (p) =>
                        `  ${p.role.padEnd(8)} ${p.name.padEnd(16)} pid ${String(p.pid).padEnd(8)} cpu ${p.cpu_s} s  peak rss ${p.peak_rss_kb} kB`,
                ),
            '',
        ];
        process.stderr.write(rows.join('\n') + '\n');
    }
    const record = {
        bench: 'redis-bullmq',
        mode: 'submit-retrieve',
        tasks: options.tasks,
        depth: options.depth,
        payload_bytes: options.payloadBytes,
        workers: options.workers,
        slots: options.slots,
        elapsed_s: elapsedS,
        throughput_tasks_per_s: throughput,
        latency_us: summary,
        errors,
        cpu_us_per_task: cpuPerTask,
        processes: procs.json(),
    };
    if (options.cdf) record.latency_cdf = hist.cdf();
    process.stdout.write(JSON.stringify(record) + '\n');
    await close();
    process.exit(completed === options.tasks && errors === 0 && !timedOut ? 0 : 1);
}

main().catch((err) => {
    process.stderr.write(`bullmq_bench: ${err.stack || err}\n`);
    process.exit(1);
});
