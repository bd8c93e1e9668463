/**
 * AGENT_CONCURRENCY and `/readyz`, with the real `agent-worker` and the real broker: a worker holds
 * and runs as many tasks at once as its concurrency, stays ready while it finishes them after
 * AGENT_MAX_TASKS, and refuses a concurrency the contract's rule refuses before it connects.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { concurrencyViolation, Env, ExitCode, Metrics } from '@agent-fleet/contract';
import {
  declareTopology,
  httpGet,
  makeTempDir,
  metricValue,
  startWorker,
  testSetup,
  useTestClient,
  type WorkerProcess,
  waitFor,
} from './support/harness';
import { type SilentPeer, silentServer } from './support/silent-peers';

const client = useTestClient();

test('AGENT_CONCURRENCY=5, AGENT_MAX_TASKS=5, 12 ready messages: 5 held and run at once, 7 left ready, /readyz 200 while they drain, exit 0 with 5 results', async () => {
  const setup = testSetup('concurrency');
  await declareTopology(setup);
  const gate = path.join(makeTempDir('agent-gate-'), 'open');
  const published = 12;
  for (let i = 0; i < published; i++) {
    await client().publishTask(setup.taskQueue, `held-${i}`, { mode: 'gate', gate });
  }
  const worker = startWorker(setup.env({ [Env.AGENT_CONCURRENCY]: '5', [Env.AGENT_MAX_TASKS]: '5' }));
  const port = await worker.metricsPort();

  // Five handlers wait at the gate together: the worker runs them at once.
  const atGate = await waitFor('5 handlers at the gate', () => {
    const lines = worker.lines.filter((l) => l.fixture === 'at-gate');
    return lines.length >= 5 ? lines : undefined;
  });
  expect(new Set(atGate.map((l) => l.taskId)).size).toBe(5);
  await worker.waitForLog('the last task allowed', (l) => /AGENT_MAX_TASKS/.test(l.msg));
  expect(metricValue((await httpGet(port, '/metrics')).body, Metrics.tasksInFlight)).toBe(5);

  // The broker's side: 7 ready, and the 5 others neither ready nor settled (no result, no dead
  // letter), i.e. unacknowledged on the worker's channel. (A quorum queue's declare-ok reports its
  // consumer count late, so the cancelled consumer is checked below, by what it was not sent.)
  const ready = await waitFor('7 ready', async () => {
    const count = await client().messageCount(setup.taskQueue);
    return count === 7 ? count : undefined;
  });
  const settled =
    (await client().messageCount(setup.resultQueue)) + (await client().messageCount(setup.deadQueue));
  expect(settled).toBe(0);
  const unacknowledged = published - ready - settled;
  expect(unacknowledged).toBe(5);

  // Draining its last tasks, the worker keeps its place: KEDA must not count the Job as pending.
  expect(await httpGet(port, '/readyz')).toEqual({ status: 200, body: 'ready\n' });

  writeFileSync(gate, '');
  expect((await worker.waitForExit()).code).toBe(ExitCode.succeeded);
  const results = await client().waitForResults(setup.resultQueue, 5);
  expect(results.map((r) => r.id).sort()).toEqual(atGate.map((l) => l.taskId).sort());
  for (const result of results) {
    expect(result).toMatchObject({ status: 'succeeded', output: { released: true }, attempts: 1 });
  }
  expect(await client().messageCount(setup.taskQueue)).toBe(7);
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);
  // The 7 were never delivered: none bounced off the worker once it took no more tasks (a
  // return counts as a delivery of that task, and spends one of its attempts).
  const left = await client().drain(setup.taskQueue);
  expect(left.map((m) => [m.fields.redelivered, m.properties.headers?.['x-delivery-count'] ?? 0])).toEqual(
    Array(7).fill([false, 0]),
  );
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

/**
 * Runs `use` with a worker of a fresh setup whose broker accepts TCP and never speaks AMQP, so the
 * worker never gets past connecting; closes that broker afterwards.
 */
async function withSilentBroker(
  name: string,
  env: Record<string, string>,
  use: (worker: WorkerProcess, broker: SilentPeer) => Promise<void>,
): Promise<void> {
  const broker = await silentServer();
  try {
    const url = `amqp://agent:pw@127.0.0.1:${broker.port}/`;
    await use(startWorker(testSetup(name).env({ [Env.TASK_QUEUE_URL]: url, ...env })), broker);
  } finally {
    await broker.close();
  }
}

test.each(['0', 'abc', '6'])(
  'AGENT_CONCURRENCY=%s with AGENT_MAX_TASKS=5 exits with the configuration-error code before connecting, naming the variable, the value and the fix',
  (value) =>
    withSilentBroker(
      'concurrency-invalid',
      { [Env.AGENT_CONCURRENCY]: value, [Env.AGENT_MAX_TASKS]: '5' },
      async (worker, broker) => {
        expect((await worker.waitForExit()).code).toBe(ExitCode.configError);
        const rule = concurrencyViolation(Number(value), 5);
        expect(rule?.fix).toContain(Env.AGENT_CONCURRENCY);
        expect(worker.stderr).toContain(`  - AGENT_CONCURRENCY="${value}": ${rule?.problem}; ${rule?.fix}\n`);
        expect(broker.accepted).toBe(0);
      },
    ),
);

test('/readyz is 503 before the consumer joined the queue', () =>
  withSilentBroker(
    'readyz-starting',
    { [Env.AGENT_BROKER_CONNECT_SECONDS]: '30' },
    async (worker, broker) => {
      const port = await worker.metricsPort();
      await waitFor('a connection attempt', () => broker.accepted > 0);
      expect(await httpGet(port, '/readyz')).toEqual({ status: 503, body: 'not ready\n' });
      worker.kill('SIGTERM');
      expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
    },
  ));

test('/readyz is 503 from the moment the worker begins to stop', async () => {
  const setup = testSetup('readyz-stopping');
  await declareTopology(setup);
  // A handler that ignores its signal keeps the worker stopping until the shutdown deadline.
  await client().publishTask(setup.taskQueue, 'ignores-signal', { mode: 'hang' });
  const worker = startWorker(setup.env());
  const port = await worker.metricsPort();
  await worker.waitForLog('handler hanging', (l) => l.fixture === 'blocked');
  expect((await httpGet(port, '/readyz')).status).toBe(200);
  worker.kill('SIGTERM');
  await worker.waitForLog('shutting down', (l) => l.msg === 'shutting down');
  expect(await httpGet(port, '/readyz')).toEqual({ status: 503, body: 'not ready\n' });
  expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
