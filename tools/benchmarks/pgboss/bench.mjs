// pg-boss 10 as a webhook sender, for tools/bench: a backlog of --count jobs
// on the same PostgreSQL server and the same receiver as webhookd's figures;
// one process fetches 64 jobs, POSTs each (signed as webhookd signs: HMAC-
// SHA256 over "id.timestamp.body", Standard Webhooks headers) with all 64 in
// flight, completes the batch, and fetches again. Prints
// {"deliveries_per_s": N} on stdout.
//
//   node bench.mjs --db postgres://… --url http://127.0.0.1:PORT/bench --count 20000
import { createHmac } from 'node:crypto';
import http from 'node:http';
import PgBoss from 'pg-boss';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, v, i, all) =>
    (i % 2 === 0 ? [...pairs, [v.replace(/^--/, ''), all[i + 1]]] : pairs), []));
const count = Number(args.count ?? 20000);
const batch = Number(args.batch ?? 64);
const secret = Buffer.from('bench-secret-of-24-chars');

const boss = new PgBoss({ connectionString: args.db, max: 4, supervise: false, schedule: false });
boss.on('error', (e) => { console.error(`pg-boss: ${e.message}`); process.exit(1); });
await boss.start();
await boss.createQueue('bench');
for (let i = 0; i < count; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(count, i + 1000); ++j)
        jobs.push({ name: 'bench', data: { type: 'order.created', data: { order: `ord_${j}` } } });
    await boss.insert(jobs);
}

// node:http with a keep-alive agent of 64 sockets: Node's fetch (undici)
// costs several times more CPU a request, which would measure it, not pg-boss.
const agent = new http.Agent({ keepAlive: true, maxSockets: batch });
const target = new URL(args.url);

function deliver(job) {
    const body = JSON.stringify(job.data);
    const ts = Math.floor(Date.now() / 1000).toString();
    const signature = createHmac('sha256', secret).update(`${job.id}.${ts}.${body}`).digest('base64');
    return new Promise((resolve, reject) => {
        const req = http.request({
            agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
                       'webhook-id': job.id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${signature}` },
        }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`the receiver answered ${res.statusCode}`))));
        });
        req.on('error', reject);
        req.end(body);
    });
}

const t0 = process.hrtime.bigint();
let done = 0;
while (done < count) {
    const jobs = await boss.fetch('bench', { batchSize: batch });
    if (jobs.length === 0)
        continue;
    await Promise.all(jobs.map(deliver));
    await boss.complete('bench', jobs.map((j) => j.id));
    done += jobs.length;
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
await boss.stop({ graceful: false, wait: true });
console.log(JSON.stringify({ deliveries_per_s: count / seconds, deliveries: count }));
