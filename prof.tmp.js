const { startRabbit, freePort } = require('/work/main/dist/bench/worker/test/support/rabbitmq');
const { spawn } = require('child_process');
const amqp = require('amqplib');
const fs = require('fs');
(async () => {
  const b = await startRabbit();
  try {
    const dir = fs.mkdtempSync('/dev/shm/ck-');
    const port = await freePort();
    const prefetch = process.argv[2] || '10';
    const env = { PATH: process.env.PATH, TASK_QUEUE_URL: b.url, TASK_QUEUE_NAME: 'q1', RESULT_QUEUE_NAME: 'q1r', AGENT_HANDLER: '/work/main/bench/handlers/noop.js', CHECKPOINT_DIR: dir, METRICS_PORT: String(port), AGENT_IDLE_EXIT_SECONDS: '600', AGENT_SHUTDOWN_SECONDS: '10', POD_NAME: 'p1', AGENT_MAX_TASKS: '2000', BENCH_PREFETCH: prefetch };
    const c = await amqp.connect(b.url); const ch = await c.createConfirmChannel();
    // prime topology
    let w = spawn(process.execPath, ['/work/main/worker/dist/bin.js'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((res) => w.stdout.on('data', (d) => { if (String(d).includes('"consuming"')) res(); }));
    w.kill('SIGTERM'); await new Promise((r) => w.on('exit', r));
    for (let i = 0; i < 2000; i++) ch.sendToQueue('q1', Buffer.from(JSON.stringify({ id: 't' + i, input: {} })), { persistent: true });
    await ch.waitForConfirms();
    const t0 = Date.now();
    w = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof', '/work/main/bench/handlers/run-with-prefetch.js'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    await new Promise((r) => w.on('exit', r));
    console.log('2000 tasks in', Date.now() - t0, 'ms');
    await c.close();
  } finally { await b.stop(); }
})().catch((e) => { console.error(e); process.exit(1); });
