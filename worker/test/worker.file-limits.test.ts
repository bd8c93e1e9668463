/**
 * A real worker under `ulimit -n`: a handler that exhausts the process's file descriptors makes
 * the checkpoint store's operations fail with EMFILE. A passing shortage is ridden out by the
 * store's retries; a lasting one fails the attempt as "too many open files" (a retry follows), and
 * neither is mistaken for an unusable checkpoint store (which would stop the worker, exit 69).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import {
  allWorkers,
  BIN,
  FIXTURES,
  type TestSetup,
  testSetup,
  useTestClient,
  WorkerProcess,
} from './support/harness';

const client = useTestClient();

/** The bin under `ulimit -n 256`, through a shell, as an image entrypoint might set it. */
function startLimitedWorker(setup: TestSetup): WorkerProcess {
  const env = setup.env({ AGENT_HANDLER: path.join(FIXTURES, 'fd-hog-handler.js') });
  const child = spawn('sh', ['-c', 'ulimit -n 256 && exec "$0" "$1"', process.execPath, BIN], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const worker = new WorkerProcess(child);
  allWorkers.push(worker);
  return worker;
}

function expectNoStoreFailure(worker: WorkerProcess): void {
  expect(worker.stdout).not.toMatch(/checkpoint store is unusable/);
  expect(worker.hasExited).toBe(false);
}

test('a passing shortage of file descriptors is ridden out: the checkpoint succeeds on a later try', async () => {
  const setup = testSetup('fd-passing');
  const worker = startLimitedWorker(setup);
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  await client().publishTask(setup.taskQueue, 'fd-1', { releaseAfterMs: 150 });
  const [result] = await client().waitForResults(setup.resultQueue, 1);
  expect(result).toMatchObject({ id: 'fd-1', status: 'succeeded', output: { attempt: 1 }, attempts: 1 });
  expect(worker.lines.some((l) => l.fixture === 'exhausted' && (l.held as number) > 0)).toBe(true);
  expectNoStoreFailure(worker);
  worker.kill('SIGTERM');
  await worker.waitForExit();
});

test('a lasting shortage fails the attempt as "too many open files", not as an unusable store', async () => {
  const setup = testSetup('fd-lasting');
  const worker = startLimitedWorker(setup);
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  await client().publishTask(setup.taskQueue, 'fd-2', {});
  const [result] = await client().waitForResults(setup.resultQueue, 1);
  expect(result).toMatchObject({ id: 'fd-2', status: 'succeeded', output: { attempt: 2 }, attempts: 2 });
  const retry = worker.lines.find((l) => l.msg === 'task failed; retrying after a delay');
  expect(retry?.why).toMatch(
    /cannot write a checkpoint in .*: the worker process has too many open files \(EMFILE\), still after 5 tries; this is not a problem of the checkpoint store/,
  );
  expectNoStoreFailure(worker);
  worker.kill('SIGTERM');
  await worker.waitForExit();
});
