/**
 * A lease file next to the task's checkpoint. A delivery of a task whose lease
 * another live worker holds is not run (it comes back later, attempt not spent); the lease is
 * renewed while the task runs and released at the end; an expired lease is taken over.
 */
import { type SmallRecordFormat, TaskCheckpoints } from '../src/store';
import { declareTopology, startWorker, testSetup, useTestClient, waitFor } from './support/harness';

const client = useTestClient();

// The other pod's lease in either format: a symbolic link, or a regular file (a volume that refuses
// symbolic links, an older worker); the worker writes its own as what its volume holds.
test.each<SmallRecordFormat>(['symlink', 'file'])(
  'a live lease held by another pod (as a %s) keeps the task from running until it expires; then it runs once',
  async (smallRecords) => {
    const setup = testSetup(`lease-live-${smallRecords}`);
    await declareTopology(setup);
    const store = new TaskCheckpoints(setup.checkpointDir);
    const otherPod = new TaskCheckpoints(setup.checkpointDir, { smallRecords });
    expect(await otherPod.acquireLease('leased', 'other-pod/1/x', 60_000)).toEqual({ acquired: true });
    await client().publishTask(setup.taskQueue, 'leased', { mode: 'echo', value: 'v' });
    const worker = startWorker(setup.env());
    await waitFor(
      'two deliveries refused because of the lease',
      () =>
        worker.lines.filter(
          (l) => l.msg === 'task is leased by another live worker; not running it, retrying later',
        ).length >= 2,
    );
    expect(worker.lines.filter((l) => l.fixture === 'called')).toHaveLength(0);
    expect(await client().drain(setup.resultQueue)).toHaveLength(0);
    // The worker says at startup what it writes: its volume (this machine's) holds symbolic links.
    expect(worker.lines.find((l) => l.msg === 'consuming')?.smallRecords).toBe('symlink');
    // The other pod's lease expires (it died; here its last renewal ran out a millisecond ago): the
    // next delivery takes it over and runs the task.
    expect(await otherPod.renewLease('leased', 'other-pod/1/x', -1)).toBe(true);
    expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
      // Refused deliveries spent no attempt.
      { id: 'leased', status: 'succeeded', output: { echo: 'v', attempt: 1 }, attempts: 1 },
    ]);
    expect(worker.lines.filter((l) => l.fixture === 'called')).toHaveLength(1);
    await waitFor('the lease released', async () => (await store.readLease('leased')) === undefined);
    worker.kill('SIGTERM');
    await worker.waitForExit();
    await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
  },
);

test('the lease is renewed while a long task runs, and a second pod given the same task does not run it', async () => {
  const setup = testSetup('lease-renew');
  await declareTopology(setup);
  const store = new TaskCheckpoints(setup.checkpointDir);
  await client().publishTask(setup.taskQueue, 'long', { mode: 'block-once', steps: 3, blockAfter: 1 });
  const first = startWorker(setup.env({ AGENT_LEASE_SECONDS: '0.6', AGENT_INDEX: '0' }));
  await first.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
  const initial = await store.readLease('long');
  expect(initial?.holder).toMatch(/^pod-lease-renew\//);
  await waitFor(
    'a renewal',
    async () => ((await store.readLease('long'))?.expiresAt ?? 0) > initial!.expiresAt,
  );

  // The same task delivered to a second pod (as after a closed channel) while the first still runs it.
  await client().publishTask(setup.taskQueue, 'long', { mode: 'block-once', steps: 3, blockAfter: 1 });
  const second = startWorker(setup.env({ AGENT_LEASE_SECONDS: '0.6', AGENT_INDEX: '1' }));
  await second.waitForLog(
    'refusal',
    (l) => l.msg === 'task is leased by another live worker; not running it, retrying later',
  );
  expect(second.lines.filter((l) => l.fixture === 'called')).toHaveLength(0);
  second.kill('SIGTERM');
  await second.waitForExit();

  // The first pod stops at a checkpoint and releases the lease; whoever gets the task next resumes it.
  first.kill('SIGTERM');
  await first.waitForExit();
  expect(await store.readLease('long')).toBeUndefined();
  const third = startWorker(setup.env({ AGENT_INDEX: '2' }));
  const results = await client().waitForResults(setup.resultQueue, 1);
  expect(results[0]).toMatchObject({ id: 'long', status: 'succeeded', output: { steps: 3, resumedFrom: 1 } });
  // The duplicate copy finds the done marker and is acked without running.
  await third.waitForLog('duplicate acked', (l) => /without running it/.test(l.msg));
  expect(await client().drain(setup.resultQueue)).toHaveLength(0);
  third.kill('SIGTERM');
  await third.waitForExit();
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
