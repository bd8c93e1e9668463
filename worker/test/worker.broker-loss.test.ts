/**
 * A broker that is down at startup, a broker restart mid-task, a broker that stays away, and a
 * channel closed by `consumer_timeout`, each against a throwaway broker of its own (real processes).
 */
import { ExitCode } from '@agent-fleet/contract';
import { startRabbit, type TestRabbit } from '../../testkit/rabbitmq';
import { TaskCheckpoints } from '../src/store';
import { declareTopology, startWorker, TestClient, testSetup, waitFor } from './support/harness';

let rabbit: TestRabbit;
let client: TestClient | undefined;

beforeAll(async () => {
  rabbit = await startRabbit();
});
afterAll(async () => {
  await client?.close();
  await rabbit.stop();
});

async function openClient(): Promise<TestClient> {
  await client?.close();
  client = await TestClient.open(rabbit.url);
  return client;
}

const blockOnce = { mode: 'block-once', steps: 4, blockAfter: 2 };

test('a broker down at startup is retried with backoff; the worker connects once it is back', async () => {
  const setup = testSetup('late-broker');
  const env = setup.env({
    TASK_QUEUE_URL: rabbit.url,
    AGENT_BROKER_CONNECT_SECONDS: '120',
    AGENT_MAX_TASKS: '1',
  });
  await rabbit.pause();
  const worker = startWorker(env);
  await worker.waitForLog('a retry', (l) => l.msg === 'cannot reach the broker; retrying' && l.attempt === 2);
  await rabbit.resume();
  await worker.waitForLog('connected', (l) => l.msg === 'connected to the broker', 60_000);
  const c = await openClient();
  await c.publishTask(setup.taskQueue, 'late-1', { mode: 'echo', value: 1 });
  expect((await worker.waitForExit()).code).toBe(0);
  expect(await c.waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'late-1', status: 'succeeded', output: { echo: 1, attempt: 1 }, attempts: 1 },
  ]);
  await c.deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('a broker restart mid-task: the task stops at a checkpoint, the worker reconnects and resumes it; nothing lost', async () => {
  const setup = testSetup('broker-restart');
  await declareTopology(setup, rabbit.url);
  const c = await openClient();
  await c.publishTask(setup.taskQueue, 'survivor', blockOnce);
  await c.publishTask(setup.taskQueue, 'second', { mode: 'echo', value: 2 });
  await c.close();
  client = undefined;
  const worker = startWorker(setup.env({ TASK_QUEUE_URL: rabbit.url, AGENT_BROKER_CONNECT_SECONDS: '120' }));
  await worker.waitForLog('handler blocked', (l) => l.fixture === 'blocked');

  await rabbit.pause();
  await worker.waitForLog('checkpoint on abort', (l) => l.fixture === 'checkpointed-on-abort');
  await worker.waitForLog('a reconnect attempt', (l) => l.msg === 'cannot reconnect to the broker; retrying');
  expect(worker.hasExited).toBe(false);
  expect(await new TaskCheckpoints(setup.checkpointDir).readCheckpoint('survivor')).toMatchObject({
    state: { step: 2, interrupted: true },
  });
  await rabbit.resume();
  await worker.waitForLog('consuming again', (l) => l.msg === 'consuming again after reconnecting', 60_000);

  const after = await openClient();
  const results = await after.waitForResults(setup.resultQueue, 2, 60_000);
  expect(results.map((r) => r.id).sort()).toEqual(['second', 'survivor']);
  expect(results.find((r) => r.id === 'survivor')).toMatchObject({
    status: 'succeeded',
    output: { steps: 4, resumedFrom: 2 },
  });
  expect(worker.lines.find((l) => l.msg === 'task resumed from its checkpoint')).toMatchObject({
    taskId: 'survivor',
  });
  worker.kill('SIGTERM');
  expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
  expect(await after.drain(setup.resultQueue)).toHaveLength(0);
  expect(await after.drain(setup.deadQueue)).toHaveLength(0);
  await after.deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('a broker that stays away past AGENT_BROKER_CONNECT_SECONDS ends the worker with "dependency unreachable"', async () => {
  const setup = testSetup('broker-gone');
  const worker = startWorker(setup.env({ TASK_QUEUE_URL: rabbit.url, AGENT_BROKER_CONNECT_SECONDS: '2' }));
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  await rabbit.pause();
  try {
    expect((await worker.waitForExit()).code).toBe(ExitCode.dependencyUnreachable);
    expect(worker.lines.some((l) => l.msg === 'the broker stayed unreachable; exiting')).toBe(true);
  } finally {
    await rabbit.resume();
  }
  await waitFor('the broker back', async () => (await openClient()) !== undefined);
});

test('under restartPolicy Always (a pool) a broker that stays away is waited for, not exited on', async () => {
  const setup = testSetup('pool-broker-gone');
  const worker = startWorker(
    setup.env({
      TASK_QUEUE_URL: rabbit.url,
      AGENT_BROKER_CONNECT_SECONDS: '1',
      AGENT_RESTART_POLICY: 'Always',
      AGENT_MAX_TASKS: '0',
      AGENT_IDLE_EXIT_SECONDS: '0',
    }),
  );
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  await rabbit.pause();
  try {
    // Four failed reconnects take well over the 1 s a Job's worker would have waited.
    await waitFor(
      'four reconnect attempts',
      async () =>
        worker.lines.filter((l) => l.msg === 'cannot reconnect to the broker; retrying').length >= 4,
      30_000,
    );
    expect(worker.hasExited).toBe(false);
  } finally {
    await rabbit.resume();
  }
  await worker.waitForLog('consuming again', (l) => l.msg === 'consuming again after reconnecting', 60_000);
  expect(worker.lines.some((l) => l.msg === 'the broker stayed unreachable; exiting')).toBe(false);
  worker.kill('SIGTERM');
  expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
  await waitFor('the broker back', async () => (await openClient()) !== undefined);
});

test('an outage longer than AGENT_IDLE_EXIT_SECONDS is not idleness: the worker exits 69, never 0', async () => {
  const setup = testSetup('outage-not-idle');
  await declareTopology(setup, rabbit.url);
  const c = await openClient();
  await c.publishTask(setup.taskQueue, 'in-flight', blockOnce);
  const worker = startWorker(
    setup.env({
      TASK_QUEUE_URL: rabbit.url,
      AGENT_BROKER_CONNECT_SECONDS: '4',
      AGENT_IDLE_EXIT_SECONDS: '1',
    }),
  );
  await worker.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
  await rabbit.pause();
  try {
    // The aborted task settles while the worker reconnects: nothing is in flight, nothing consumed.
    await worker.waitForLog('checkpoint on abort', (l) => l.fixture === 'checkpointed-on-abort');
    expect((await worker.waitForExit()).code).toBe(ExitCode.dependencyUnreachable);
    expect(worker.lines.some((l) => /AGENT_IDLE_EXIT_SECONDS/.test(l.msg))).toBe(false);
  } finally {
    await rabbit.resume();
  }
  await waitFor('the broker back', async () => (await openClient()) !== undefined);
});

test('consumer_timeout closes the channel of a long task: it stops at a checkpoint, the worker recovers and the redelivery resumes it', async () => {
  const strict = await startRabbit({ consumerTimeoutMs: 1000 });
  const own = await TestClient.open(strict.url);
  try {
    const setup = testSetup('consumer-timeout');
    await declareTopology(setup, strict.url);
    await own.publishTask(setup.taskQueue, 'long-task', blockOnce);
    const worker = startWorker(setup.env({ TASK_QUEUE_URL: strict.url, AGENT_BROKER_CONNECT_SECONDS: '30' }));
    await worker.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
    await worker.waitForLog(
      'the channel closed by the broker',
      (l) => /lost the broker connection or channel/.test(l.msg),
      120_000,
    );
    await worker.waitForLog('checkpoint on abort', (l) => l.fixture === 'checkpointed-on-abort');
    await worker.waitForLog('consuming again', (l) => l.msg === 'consuming again after reconnecting');
    const [result] = await own.waitForResults(setup.resultQueue, 1, 60_000);
    expect(result).toMatchObject({
      id: 'long-task',
      status: 'succeeded',
      output: { steps: 4, resumedFrom: 2 },
    });
    // The handler ran twice (blocked, then resumed), never concurrently, and finished once.
    expect(worker.lines.filter((l) => l.fixture === 'called')).toHaveLength(2);
    worker.kill('SIGTERM');
    expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
    expect(await own.drain(setup.resultQueue)).toHaveLength(0);
  } finally {
    await own.close();
    await strict.stop();
  }
});
