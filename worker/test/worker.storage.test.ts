/**
 * Checkpoints with checksums and a previous generation; a torn or damaged file
 * never crash-loops a task; an unusable checkpoint volume returns the task (attempt not spent)
 * and stops the worker with a clear error. Real processes, real broker.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ExitCode } from '@agent-fleet/contract';
import { TaskCheckpoints } from '../src/store';
import { declareTopology, startWorker, testSetup, useTestClient } from './support/harness';

/** Writes a file of the store by hand, creating its task subdirectory as the store would. */
function writeStoreFile(file: string, data: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
}

const client = useTestClient();

test('a damaged checkpoint falls back to the previous generation; both damaged starts afresh; both logged', async () => {
  const setup = testSetup('corrupt-ckpt');
  await declareTopology(setup);
  const store = new TaskCheckpoints(setup.checkpointDir);
  await store.writeCheckpoint('torn', { step: 1 });
  await store.writeCheckpoint('torn', { step: 2 });
  writeFileSync(
    store.checkpointPath('torn'),
    readFileSync(store.checkpointPath('torn'), 'utf8').slice(0, 20),
  );
  await store.writeCheckpoint('ruined', { step: 1 });
  writeStoreFile(store.checkpointPath('ruined'), 'not json');
  await client().publishTask(setup.taskQueue, 'torn', { mode: 'steps', steps: 3 });
  await client().publishTask(setup.taskQueue, 'ruined', { mode: 'steps', steps: 3 });
  writeStoreFile(store.previousCheckpointPath('ruined'), '{"also":"broken"}');

  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '2' }));
  expect((await worker.waitForExit()).code).toBe(0);
  const results = await client().waitForResults(setup.resultQueue, 2);
  expect(results.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
    { id: 'ruined', status: 'succeeded', output: { steps: 3, resumedFrom: null, attempt: 1 }, attempts: 1 },
    { id: 'torn', status: 'succeeded', output: { steps: 3, resumedFrom: 1, attempt: 1 }, attempts: 1 },
  ]);
  expect(
    worker.lines.some(
      (l) => l.taskId === 'torn' && /checkpoint unusable: .*trying the previous generation/.test(l.msg),
    ),
  ).toBe(true);
  expect(
    worker.lines.some(
      (l) => l.taskId === 'ruined' && l.msg === 'checkpoint unreadable; starting the task afresh',
    ),
  ).toBe(true);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('an unusable checkpoint volume: clear error, the task returns without spending an attempt, the worker exits 69', async () => {
  const setup = testSetup('broken-volume');
  await declareTopology(setup);
  const worker = startWorker(setup.env());
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  // The volume goes away under the running worker (a file where the directory was: ENOTDIR).
  rmSync(setup.checkpointDir, { recursive: true, force: true });
  writeFileSync(setup.checkpointDir, '');
  await client().publishTask(setup.taskQueue, 'kept', { mode: 'steps', steps: 2 });
  expect((await worker.waitForExit()).code).toBe(ExitCode.dependencyUnreachable);
  const line = worker.lines.find((l) => /checkpoint store is unusable/.test(l.msg));
  expect(line).toMatchObject({ taskId: 'kept' });
  expect(JSON.stringify(line)).toMatch(/ENOTDIR/);
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);
  expect(await client().drain(setup.deadQueue)).toHaveLength(0);

  // The volume is back: the next worker runs the task as its first attempt.
  rmSync(setup.checkpointDir, { force: true });
  mkdirSync(setup.checkpointDir);
  const next = startWorker(setup.env({ AGENT_MAX_TASKS: '1' }));
  expect((await next.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'kept', status: 'succeeded', output: { steps: 2, resumedFrom: null, attempt: 1 }, attempts: 1 },
  ]);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
