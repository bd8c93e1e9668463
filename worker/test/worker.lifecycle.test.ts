/**
 * Lifecycle: SIGTERM and SIGKILL mid-task with resume from the
 * checkpoint in a second process, the shutdown deadline, idle and max-task exits, a consumer
 * cancelled by the server, an unreachable broker and invalid settings, all with real processes.
 */
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ExitCode } from '@agent-fleet/contract';
import { TaskCheckpoints } from '../src/store';
import {
  declareTopology,
  expectNoPasswordInWorkerOutput,
  FIXTURES,
  httpGet,
  startWorker,
  testSetup,
  useTestClient,
  waitFor,
} from './support/harness';

const client = useTestClient();
afterAll(expectNoPasswordInWorkerOutput);

import { freePort } from '../../testkit/ports';

const blocking = { mode: 'steps', steps: 4, blockOnAttempt: 1, blockAfter: 2 };

test('SIGTERM mid-task: checkpoint, return unspent, exit "interrupted"; a second process resumes from the checkpoint', async () => {
  const setup = testSetup('sigterm');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'long-1', blocking);
  // One attempt allowed: an interruption must not spend it (a requeue would dead-letter the task).
  const first = startWorker(setup.env({ AGENT_INDEX: '0', AGENT_MAX_ATTEMPTS: '1' }));
  const port = await first.metricsPort();
  await first.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
  expect((await httpGet(port, '/readyz')).status).toBe(200);

  first.kill('SIGTERM');
  expect(await first.waitForExit()).toEqual({ code: ExitCode.interrupted, signal: null });
  expect(first.lines.some((l) => l.fixture === 'checkpointed-on-abort')).toBe(true);
  expect(
    first.lines.some(
      (l) => l.msg === 'task returned to the queue, attempt not spent' && l.taskId === 'long-1',
    ),
  ).toBe(true);
  const store = new TaskCheckpoints(setup.checkpointDir);
  expect(await store.readCheckpoint('long-1')).toMatchObject({ state: { step: 2, interrupted: true } });
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);

  // Another agent (another index) takes the redelivery and resumes it.
  const second = startWorker(setup.env({ AGENT_INDEX: '1', AGENT_MAX_TASKS: '1', AGENT_MAX_ATTEMPTS: '1' }));
  expect((await second.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'long-1', status: 'succeeded', output: { steps: 4, resumedFrom: 2, attempt: 1 }, attempts: 1 },
  ]);
  expect(await client().drain(setup.deadQueue)).toHaveLength(0);
  expect(second.lines.find((l) => l.msg === 'task resumed from its checkpoint')).toMatchObject({
    taskId: 'long-1',
    attempt: 1,
    agentIndex: '1',
  });
  expect(existsSync(store.checkpointPath('long-1'))).toBe(false);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('SIGKILL mid-task: the broker redelivers and the next process resumes from the last checkpoint', async () => {
  const setup = testSetup('sigkill');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'long-2', blocking);
  const first = startWorker(setup.env());
  await first.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
  first.kill('SIGKILL');
  expect((await first.waitForExit()).signal).toBe('SIGKILL');

  const second = startWorker(setup.env({ AGENT_MAX_TASKS: '1' }));
  expect((await second.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'long-2', status: 'succeeded', output: { steps: 4, resumedFrom: 2, attempt: 2 }, attempts: 2 },
  ]);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('a handler ignoring the signal is requeued at the deadline and the worker still exits "interrupted"', async () => {
  const setup = testSetup('hang');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'hang-1', { mode: 'hang' });
  const worker = startWorker(setup.env({ AGENT_SHUTDOWN_SECONDS: '5' }));
  await worker.waitForLog('handler hanging', (l) => l.fixture === 'blocked');
  worker.kill('SIGTERM');
  expect((await worker.waitForExit(15_000)).code).toBe(ExitCode.interrupted);
  expect(worker.lines.some((l) => l.why === 'still running at the shutdown deadline')).toBe(true);
  await waitFor(
    'the task back in the queue',
    async () => (await client().messageCount(setup.taskQueue)) === 1,
  );
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('SIGTERM while the handler module is still loading exits "interrupted", not by the signal', async () => {
  const setup = testSetup('early-term');
  const worker = startWorker(setup.env({ AGENT_HANDLER: path.join(FIXTURES, 'slow-loading-handler.js') }));
  await worker.waitForLog('handler module loading', (l) => l.fixture === 'loading');
  worker.kill('SIGTERM');
  expect(await worker.waitForExit()).toEqual({ code: ExitCode.interrupted, signal: null });
  expect(worker.lines.some((l) => l.msg === 'consuming')).toBe(false);
});

test('SIGTERM while idle exits "interrupted", never 0', async () => {
  const setup = testSetup('idle-term');
  const worker = startWorker(setup.env());
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  worker.kill('SIGINT');
  expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('exits 0 once the queue stayed empty AGENT_IDLE_EXIT_SECONDS', async () => {
  const setup = testSetup('idle');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'before-idle', { mode: 'echo', value: 1 });
  const worker = startWorker(setup.env({ AGENT_IDLE_EXIT_SECONDS: '1' }));
  expect((await worker.waitForExit()).code).toBe(0);
  expect(worker.lines.some((l) => /AGENT_IDLE_EXIT_SECONDS/.test(l.msg))).toBe(true);
  expect(await client().waitForResults(setup.resultQueue, 1)).toHaveLength(1);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('a consumer cancelled by the server (queue deleted) stops the worker with "dependency unreachable"', async () => {
  const setup = testSetup('cancel');
  const worker = startWorker(setup.env());
  const port = await worker.metricsPort();
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  expect((await httpGet(port, '/readyz')).status).toBe(200);
  await client().channel.deleteQueue(setup.taskQueue);
  expect((await worker.waitForExit()).code).toBe(ExitCode.dependencyUnreachable);
  expect(worker.lines.some((l) => /cancelled the consumer/.test(l.msg))).toBe(true);
  await client().deleteQueues(setup.deadQueue, setup.resultQueue);
});

test('an unreachable broker at startup exits "dependency unreachable" without logging the password', async () => {
  const setup = testSetup('unreachable');
  const port = await freePort();
  const worker = startWorker(
    setup.env({ TASK_QUEUE_URL: `amqp://agent:s3cret-unreachable@127.0.0.1:${port}/` }),
  );
  expect((await worker.waitForExit()).code).toBe(ExitCode.dependencyUnreachable);
  expect(worker.stdout).toContain('amqp://agent:***@127.0.0.1');
  expect(worker.stdout + worker.stderr).not.toContain('s3cret-unreachable');
});

describe('invalid settings exit "config error" at startup, naming the variable, the value and the fix', () => {
  test.each([
    [{ AGENT_MAX_TASKS: 'ten' }, /AGENT_MAX_TASKS="ten": is not a whole number; set it to a whole number/],
    [{ METRICS_PORT: '70000' }, /METRICS_PORT="70000": is outside 0\.\.65535/],
    [{ AGENT_SHUTDOWN_SECONDS: '2' }, /AGENT_SHUTDOWN_SECONDS="2": is outside 5\.\./],
    [
      { TASK_QUEUE_URL: 'http://agent:s3cret-config@host/' },
      /TASK_QUEUE_URL="http:\/\/agent:\*\*\*@host\/": uses the scheme "http:\/\/"; use amqp:\/\/ or amqps:\/\//,
    ],
    [{ TASK_QUEUE_URL: '' }, /TASK_QUEUE_URL \(unset\): is required/],
    [{ AGENT_HANDLER: '' }, /AGENT_HANDLER \(unset\): is required/],
    [{ AGENT_HANDLER: path.join(FIXTURES, 'missing.js') }, /AGENT_HANDLER=".*missing\.js": no such file/],
    [{ AGENT_HANDLER: path.join(FIXTURES, 'not-a-handler.js') }, /has no default export function/],
  ])('%j', async (override, expected) => {
    const setup = testSetup('config');
    const worker = startWorker(
      setup.env({ TASK_QUEUE_URL: 'amqp://agent:s3cret-config@127.0.0.1:1/', ...override }),
    );
    expect((await worker.waitForExit()).code).toBe(ExitCode.configError);
    expect(worker.stderr).toMatch(expected);
    expect(worker.lines.some((l) => l.level === 60)).toBe(true);
    expect(worker.stdout + worker.stderr).not.toContain('s3cret-config');
  });

  test('a checkpoint dir that is not a writable directory', async () => {
    const setup = testSetup('config-dir');
    const file = path.join(setup.checkpointDir, 'a-file');
    writeFileSync(file, 'x');
    const worker = startWorker(setup.env({ CHECKPOINT_DIR: path.join(file, 'sub') }));
    expect((await worker.waitForExit()).code).toBe(ExitCode.configError);
    expect(worker.stderr).toMatch(/CHECKPOINT_DIR=".*a-file\/sub": is not a writable directory/);
  });
});

test('loads an ES module handler (export default)', async () => {
  const setup = testSetup('esm');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'esm-1', 42);
  const worker = startWorker(
    setup.env({ AGENT_HANDLER: path.join(FIXTURES, 'handler.mjs'), AGENT_MAX_TASKS: '1' }),
  );
  expect((await worker.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'esm-1', status: 'succeeded', output: { esm: true, input: 42, taskId: 'esm-1' }, attempts: 1 },
  ]);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
