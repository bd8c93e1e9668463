/**
 * Delayed, bounded retries through broker-side TTL queues, attempts counted
 * across pods, dead-lettering with a reason and a failed result after the limit.
 */
import { DeadLetterReasons, Headers, retryQueueFor } from '@agent-fleet/contract';
import { declareTopology, startWorker, testSetup, useTestClient } from './support/harness';

const client = useTestClient();

test('a failing task is retried after growing delays, never hot, then dead-lettered with a failed result', async () => {
  const setup = testSetup('retry-limit');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'always-fails', { mode: 'flaky', succeedOnAttempt: 99 });
  const worker = startWorker(
    setup.env({
      AGENT_MAX_ATTEMPTS: '3',
      AGENT_RETRY_DELAY_SECONDS: '0.4',
      AGENT_RETRY_MAX_DELAY_SECONDS: '0.8',
    }),
  );
  const [dead] = await client().waitForMessages(setup.deadQueue, 1);
  expect(dead.properties.headers?.[Headers.deadLetterReason]).toBe(DeadLetterReasons.maxAttempts);
  expect(String(dead.properties.headers?.[Headers.deadLetterDetail])).toMatch(/failed 3 of 3 attempts/);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    {
      id: 'always-fails',
      status: 'failed',
      error: expect.stringMatching(/failed 3 of 3 attempts; last error: transient failure on attempt 3/),
      attempts: 3,
    },
  ]);
  const calls = worker.lines.filter((l) => l.fixture === 'called');
  expect(calls.map((l) => l.attempt)).toEqual([1, 2, 3]);
  // The broker holds each retry for at least half its exponential delay (equal jitter): 200, 400 ms.
  const times = calls.map((l) => Date.parse(l.time as string));
  expect(times[1] - times[0]).toBeGreaterThanOrEqual(200);
  expect(times[2] - times[1]).toBeGreaterThanOrEqual(400);
  const retries = worker.lines.filter((l) => l.msg === 'task failed; retrying after a delay');
  expect(retries.map((l) => l.tierMs)).toEqual([400, 800]);
  // Both tiers exist as queues, and nothing is left in them or in the task queue.
  for (const tier of [400, 800]) {
    expect(await client().messageCount(retryQueueFor(setup.taskQueue, tier))).toBe(0);
  }
  expect(await client().messageCount(setup.taskQueue)).toBe(0);
  worker.kill('SIGTERM');
  await worker.waitForExit();
  await client().deleteQueues(
    setup.taskQueue,
    setup.deadQueue,
    setup.resultQueue,
    retryQueueFor(setup.taskQueue, 400),
    retryQueueFor(setup.taskQueue, 800),
  );
});

test('attempts are counted across pods: each process takes one attempt, the third succeeds', async () => {
  const setup = testSetup('retry-pods');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'needs-three', { mode: 'flaky', succeedOnAttempt: 3 });
  for (const index of ['0', '1']) {
    const worker = startWorker(setup.env({ AGENT_INDEX: index, AGENT_MAX_TASKS: '1' }));
    expect((await worker.waitForExit()).code).toBe(0);
    expect(worker.lines.filter((l) => l.msg === 'task failed; retrying after a delay')).toHaveLength(1);
  }
  const last = startWorker(setup.env({ AGENT_INDEX: '2', AGENT_MAX_TASKS: '1' }));
  expect((await last.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'needs-three', status: 'succeeded', output: { attempt: 3 }, attempts: 3 },
  ]);
  expect(await client().drain(setup.deadQueue)).toHaveLength(0);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('a task delivered past the limit (it crashed its workers) is dead-lettered without running', async () => {
  const setup = testSetup('retry-crashloop');
  await declareTopology(setup);
  await client().publishRaw(setup.taskQueue, JSON.stringify({ id: 'crashy', input: { mode: 'echo' } }), {
    headers: { [Headers.attempts]: 3 },
  });
  const worker = startWorker(setup.env({ AGENT_MAX_ATTEMPTS: '3', AGENT_MAX_TASKS: '1' }));
  expect((await worker.waitForExit()).code).toBe(0);
  const [dead] = await client().waitForMessages(setup.deadQueue, 1);
  expect(dead.properties.headers?.[Headers.deadLetterReason]).toBe(DeadLetterReasons.maxAttempts);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'crashy', status: 'failed', error: expect.stringMatching(/delivered 4 times/), attempts: 4 },
  ]);
  expect(worker.lines.filter((l) => l.fixture === 'called')).toHaveLength(0);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
