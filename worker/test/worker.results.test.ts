/**
 * Consume, results, dead-lettering and done markers with the real
 * broker and real `agent-worker` processes.
 */
import { existsSync } from 'node:fs';
import {
  DeadLetterReasons,
  deadLetterExchangeFor,
  ExitCode,
  Headers,
  retryQueueFor,
} from '@agent-fleet/contract';
import { TaskCheckpoints } from '../src/store';
import {
  declareTopology,
  expectNoPasswordInWorkerOutput,
  startWorker,
  TestClient,
  testSetup,
  useTestClient,
} from './support/harness';

const client = useTestClient();
afterAll(expectNoPasswordInWorkerOutput);

test('declares a durable quorum task queue with an at-least-once dead-letter exchange and queue', async () => {
  const setup = testSetup('topology');
  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '1' }));
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  // Redeclaring with the same arguments succeeds; with other arguments it fails (406), which proves the type.
  const task = await client().channel.checkQueue(setup.taskQueue);
  expect(task.queue).toBe(setup.taskQueue);
  await client().channel.checkQueue(setup.deadQueue);
  await client().channel.checkExchange(deadLetterExchangeFor(setup.taskQueue));
  await client().channel.checkQueue(setup.resultQueue);
  const probe = await TestClient.open();
  await expect(probe.channel.assertQueue(setup.taskQueue, { durable: true })).rejects.toThrow(
    /PRECONDITION_FAILED/,
  );
  await probe.close();
  await client().publishTask(setup.taskQueue, 'topology-1', { mode: 'echo', value: 1 });
  expect((await worker.waitForExit()).code).toBe(0);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test.each([
  ['the task queue', (q: string) => q],
  ['a retry tier', (q: string) => retryQueueFor(q, 400)],
])(
  '%s declared elsewhere with other arguments: exit "config error" naming TASK_QUEUE_NAME',
  async (_, queueOf) => {
    const setup = testSetup('mismatch');
    const queue = queueOf(setup.taskQueue);
    await client().channel.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 7 } });
    const worker = startWorker(
      setup.env({ AGENT_RETRY_DELAY_SECONDS: '0.4', AGENT_RETRY_MAX_DELAY_SECONDS: '0.8' }),
    );
    expect((await worker.waitForExit()).code).toBe(ExitCode.configError);
    expect(worker.stderr).toMatch(
      /TASK_QUEUE_NAME=".*": a queue of the topology exists with other arguments/,
    );
    await client().deleteQueues(queue, setup.taskQueue, setup.deadQueue, setup.resultQueue);
  },
);

test('publishes one succeeded result per task, acks only after it, and exits 0 after AGENT_MAX_TASKS', async () => {
  const setup = testSetup('results');
  await declareTopology(setup);
  for (const n of [1, 2, 3]) {
    await client().publishTask(setup.taskQueue, `task-${n}`, { mode: 'echo', value: n });
  }
  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '3' }));
  expect((await worker.waitForExit()).code).toBe(0);
  const results = await client().waitForResults(setup.resultQueue, 3);
  expect(results.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
    { id: 'task-1', status: 'succeeded', output: { echo: 1, attempt: 1 }, attempts: 1 },
    { id: 'task-2', status: 'succeeded', output: { echo: 2, attempt: 1 }, attempts: 1 },
    { id: 'task-3', status: 'succeeded', output: { echo: 3, attempt: 1 }, attempts: 1 },
  ]);
  expect(await client().messageCount(setup.taskQueue)).toBe(0);
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);
  // Finished tasks leave a done marker and no checkpoint.
  const store = new TaskCheckpoints(setup.checkpointDir);
  expect((await store.readDone('task-1'))?.state).toBe('published');
  expect(existsSync(store.checkpointPath('task-1'))).toBe(false);
  // Logs are JSON lines bound to the task and the agent.
  const finished = worker.lines.find(
    (l) => l.msg === 'task finished; result published' && l.taskId === 'task-2',
  );
  expect(finished).toMatchObject({ taskId: 'task-2', attempt: 1, agentIndex: '3', pod: 'pod-results' });
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('dead-letters malformed messages and permanent errors at once, with the reason in a header and a failed result', async () => {
  const setup = testSetup('deadletter');
  await declareTopology(setup);
  await client().publishRaw(setup.taskQueue, '{not json', { messageId: 'bad-json-1' });
  await client().publishRaw(setup.taskQueue, JSON.stringify({ input: 1 }));
  await client().publishTask(setup.taskQueue, 'perm-1', { mode: 'permanent', what: 'the impossible' });
  await client().publishTask(setup.taskQueue, 'bigint-1', { mode: 'bad-output' });
  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '4' }));
  expect((await worker.waitForExit()).code).toBe(0);

  const dead = await client().waitForMessages(setup.deadQueue, 4);
  const reasons = dead.map((m) => [
    m.content.toString('utf8'),
    m.properties.headers?.[Headers.deadLetterReason],
  ]);
  expect(reasons).toEqual(
    expect.arrayContaining([
      ['{not json', DeadLetterReasons.invalidJson],
      [JSON.stringify({ input: 1 }), DeadLetterReasons.invalidTask],
      [
        JSON.stringify({ id: 'perm-1', input: { mode: 'permanent', what: 'the impossible' } }),
        DeadLetterReasons.permanentError,
      ],
      [JSON.stringify({ id: 'bigint-1', input: { mode: 'bad-output' } }), DeadLetterReasons.permanentError],
    ]),
  );
  const permanent = dead.find((m) => m.content.toString('utf8').includes('perm-1'));
  expect(permanent?.properties.headers?.[Headers.deadLetterDetail]).toBe('cannot do the impossible');

  // A failed result for every message with an id; the one without any id cannot have one.
  const results = await client().waitForResults(setup.resultQueue, 3);
  expect(results.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
    { id: 'bad-json-1', status: 'failed', error: expect.stringMatching(/not valid JSON/), attempts: 1 },
    { id: 'bigint-1', status: 'failed', error: expect.stringMatching(/not JSON-serializable/), attempts: 1 },
    { id: 'perm-1', status: 'failed', error: 'cannot do the impossible', attempts: 1 },
  ]);
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);
  expect(await client().messageCount(setup.taskQueue)).toBe(0);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('retries a task after a retryable error and succeeds on the redelivery (attempt 2)', async () => {
  const setup = testSetup('flaky');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'flaky-1', { mode: 'flaky', succeedOnAttempt: 2 });
  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '2' }));
  expect((await worker.waitForExit()).code).toBe(0);
  const results = await client().waitForResults(setup.resultQueue, 1);
  expect(results).toEqual([{ id: 'flaky-1', status: 'succeeded', output: { attempt: 2 }, attempts: 2 }]);
  // Retried through a delay queue, not requeued hot.
  expect(worker.lines.filter((l) => l.msg === 'task failed; retrying after a delay')).toHaveLength(1);
  expect(worker.lines.filter((l) => l.msg === 'task returned to the queue')).toHaveLength(0);
  expect(await client().drain(setup.deadQueue)).toHaveLength(0);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('acks a redelivered, already finished task without running it again: no duplicate result', async () => {
  const setup = testSetup('dedup');
  await declareTopology(setup);
  // The same task twice, as after a crash between the published result and the ack.
  await client().publishTask(setup.taskQueue, 'dup-1', { mode: 'echo', value: 'once' });
  await client().publishTask(setup.taskQueue, 'dup-1', { mode: 'echo', value: 'once' });
  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '2' }));
  expect((await worker.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'dup-1', status: 'succeeded', output: { echo: 'once', attempt: 1 }, attempts: 1 },
  ]);
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);
  expect(worker.lines.filter((l) => l.fixture === 'called')).toHaveLength(1);
  expect(worker.lines.some((l) => l.taskId === 'dup-1' && /without running it/.test(l.msg))).toBe(true);
  expect(await client().messageCount(setup.taskQueue)).toBe(0);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('publishes the stored outcome of a task that crashed between its done marker and its confirm, without rerunning it', async () => {
  const setup = testSetup('replay');
  await declareTopology(setup);
  const store = new TaskCheckpoints(setup.checkpointDir);
  await store.writeDone('replay-1', 'publishing', {
    result: { id: 'replay-1', status: 'succeeded', output: 'stored before the crash', attempts: 1 },
  });
  await client().publishTask(setup.taskQueue, 'replay-1', { mode: 'echo', value: 'must not run' });
  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '1' }));
  expect((await worker.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'replay-1', status: 'succeeded', output: 'stored before the crash', attempts: 1 },
  ]);
  expect(worker.lines.filter((l) => l.fixture === 'called')).toHaveLength(0);
  expect((await store.readDone('replay-1'))?.state).toBe('published');
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
