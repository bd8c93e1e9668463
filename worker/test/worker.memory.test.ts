/**
 * Issue 6, point 5: checkpoint before an OOM kill. The memory source (a cgroup v2 directory
 * standing in for /sys/fs/cgroup) crosses the high-water mark while a task runs: the worker asks
 * the handler for a checkpoint, takes no new task, and exits "interrupted" after finishing.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ExitCode } from '@agent-fleet/contract';
import { declareTopology, makeTempDir, startWorker, testSetup, useTestClient } from './support/harness';

const client = useTestClient();

test('memory above the high-water mark: checkpoint requested, no new tasks, exit "interrupted"', async () => {
  const setup = testSetup('memory');
  await declareTopology(setup);
  const cgroup = makeTempDir('agent-cgroup-');
  writeFileSync(path.join(cgroup, 'memory.max'), '1000000\n');
  writeFileSync(path.join(cgroup, 'memory.current'), '100000\n');
  await client().publishTask(setup.taskQueue, 'big', { mode: 'memory' });
  const worker = startWorker(setup.env({ AGENT_CGROUP_ROOT: cgroup, AGENT_MEMORY_HIGH_FRACTION: '0.8' }));
  await worker.waitForLog('handler running', (l) => l.fixture === 'blocked');
  await client().publishTask(setup.taskQueue, 'next', { mode: 'echo', value: 1 });

  writeFileSync(path.join(cgroup, 'memory.current'), '850000\n');
  await worker.waitForLog('high-water mark', (l) => /memory above the high-water mark/.test(l.msg));
  await worker.waitForLog('checkpoint on request', (l) => l.fixture === 'checkpoint-requested');
  expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'big', status: 'succeeded', output: { checkpointed: true }, attempts: 1 },
  ]);
  // The second task was left for a pod with memory to spare.
  expect(worker.lines.some((l) => l.taskId === 'next')).toBe(false);
  expect(await client().messageCount(setup.taskQueue)).toBe(1);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
