/**
 * Checkpoint before an OOM kill. The memory source (a cgroup v2 directory
 * standing in for /sys/fs/cgroup) crosses the high-water mark while a task runs: the worker asks
 * the handler for a checkpoint, takes no new task, and exits "interrupted" after finishing.
 * The mark applies to the working set (usage − inactive_file), as the kubelet's: page cache a
 * handler's file writes leave behind is reclaimed before an OOM kill and must not stop the worker.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Env, ExitCode } from '@agent-fleet/contract';
import { declareTopology, makeTempDir, startWorker, testSetup, useTestClient } from './support/harness';

const client = useTestClient();

test('memory above the high-water mark: checkpoint requested, no new tasks, exit "interrupted"', async () => {
  const setup = testSetup('memory');
  await declareTopology(setup);
  // No memory.stat here: the raw usage is all the worker can judge, so it counts in full.
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

test('usage over the mark but mostly inactive page cache: the worker keeps taking tasks', async () => {
  const setup = testSetup('memory-cache');
  await declareTopology(setup);
  // 850 kB used of 1 MB with the mark at 80 %, but 400 kB of it inactive file pages: the working
  // set is 450 kB.
  const cgroup = makeTempDir('agent-cgroup-');
  writeFileSync(path.join(cgroup, 'memory.max'), '1000000\n');
  writeFileSync(path.join(cgroup, 'memory.current'), '850000\n');
  writeFileSync(
    path.join(cgroup, 'memory.stat'),
    [
      'anon 300000',
      'file 550000',
      'inactive_anon 300000',
      'active_anon 0',
      'inactive_file 400000',
      'active_file 150000',
      'unevictable 0',
      'workingset_refault_file 0',
      '',
    ].join('\n'),
  );
  await client().publishTask(setup.taskQueue, 'first', { mode: 'echo', value: 1 });
  const worker = startWorker(
    setup.env({
      AGENT_CGROUP_ROOT: cgroup,
      AGENT_MEMORY_HIGH_FRACTION: '0.8',
      // Exit 0 after the second task: a drain for memory would exit 75 instead.
      [Env.AGENT_MAX_TASKS]: '2',
    }),
  );
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'first', status: 'succeeded', output: { echo: 1, attempt: 1 }, attempts: 1 },
  ]);

  // The worker samples memory every second: give it a few samples before the next task.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  expect(worker.hasExited).toBe(false);
  expect(worker.lines.filter((l) => /high-water mark/.test(l.msg))).toEqual([]);

  await client().publishTask(setup.taskQueue, 'second', { mode: 'echo', value: 2 });
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'second', status: 'succeeded', output: { echo: 2, attempt: 1 }, attempts: 1 },
  ]);
  expect((await worker.waitForExit()).code).toBe(ExitCode.succeeded);
  expect(worker.lines.filter((l) => /high-water mark/.test(l.msg))).toEqual([]);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
