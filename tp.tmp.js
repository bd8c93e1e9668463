const { startRabbit } = require('/work/main/dist/bench/worker/test/support/rabbitmq');
const { benchThroughput } = require('/work/main/dist/bench/bench/worker');
(async () => {
  const b = await startRabbit();
  try {
    for (const t of await benchThroughput(b.url, [1, 10], Number(process.argv[2] || 500), 1))
      console.log(t.prefetch, 'raw', t.rawPerSec.map(Math.round), 'noop', t.workerPerSec.map(Math.round), 'ckpt', t.checkpointPerSec.map(Math.round), 'tmpfs', t.tmpfsPerSec.map(Math.round));
  } finally { await b.stop(); }
})().catch((e) => { console.error(e); process.exit(1); });
