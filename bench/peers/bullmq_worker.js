'use strict';
//  bullmq_worker.js: the Redis + BullMQ peer's worker process.
//
//  One BullMQ Worker on the queue with `concurrency` = --slots (BullMQ's
//  counterpart of zdex-worker's slots); each job returns its payload (data.p).
//  Prints "bullmq_worker ready" once connected; SIGINT or SIGTERM closes the
//  worker (bounded to 5 s) and exits.
//  Usage: node bullmq_worker.js --port P [--slots S] [--queue NAME]

const { Worker } = require('bullmq');

const options = { port: 0, slots: 64, queue: 'zdex-bench' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) options.port = Number(argv[++i]);
    else if (argv[i] === '--slots' && i + 1 < argv.length) options.slots = Number(argv[++i]);
    else if (argv[i] === '--queue' && i + 1 < argv.length) options.queue = argv[++i];
    else {
        process.stderr.write(`bullmq_worker: unexpected argument '${argv[i]}'\n`);
        process.exit(2);
    }
}
if (!(Number.isInteger(options.port) && options.port > 0 && options.port < 65536) ||
    !(Number.isInteger(options.slots) && options.slots > 0)) {
    process.stderr.write('usage: node bullmq_worker.js --port P [--slots S] [--queue NAME]\n');
    process.exit(2);
}

const worker = new Worker(options.queue, async (job) => job.data.p, {
    connection: { host: '127.0.0.1', port: options.port, maxRetriesPerRequest: null },
    concurrency: options.slots,
});
worker.on('error', (err) => process.stderr.write(`bullmq_worker: ${err.message}\n`));

let stopping = false;
const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5000).unref();
    worker.close().then(
        () => process.exit(0),
        () => process.exit(1),
    );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

worker.waitUntilReady().then(
    () => process.stdout.write('bullmq_worker ready\n'),
    (err) => {
        process.stderr.write(`bullmq_worker: ${err.message}\n`);
        process.exit(1);
    },
);
