/**
 * File mode, one shard at a time, real processes and no broker: what each kind of line ends as,
 * the exit codes the Job's podFailurePolicy reads, attempts and retry delays that outlive a pod,
 * and startup errors.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Env, ExitCode, shardFileName, TaskFileEnv, TaskSources } from '@agent-fleet/contract';
import { readResults } from '../../cli/src/results';
import { runAgent } from '../src/run';
import {
  FIXTURES,
  httpGet,
  killAll,
  makeTempDir,
  metricValue,
  startWorker,
  type WorkerProcess,
} from './support/harness';

afterAll(killAll);

interface Batch {
  readonly taskDir: string;
  readonly store: string;
  start(index: number, extra?: Record<string, string>): WorkerProcess;
}

/** A task directory holding `shards` (index → lines) and an empty store. */
function batch(name: string, shards: Record<number, string[]>, env: Record<string, string> = {}): Batch {
  const root = makeTempDir(`agent-file-${name}-`);
  const taskDir = path.join(root, 'tasks');
  const store = path.join(root, 'store');
  mkdirSync(taskDir);
  for (const [index, lines] of Object.entries(shards)) {
    writeFileSync(path.join(taskDir, shardFileName(Number(index))), `${lines.join('\n')}\n`);
  }
  return {
    taskDir,
    store,
    start: (index, extra = {}) =>
      startWorker({
        [TaskFileEnv.AGENT_TASK_SOURCE]: TaskSources.file,
        [TaskFileEnv.AGENT_TASK_DIR]: taskDir,
        [Env.AGENT_INDEX]: String(index),
        [Env.POD_NAME]: `pod-${name}`,
        [Env.CHECKPOINT_DIR]: store,
        [Env.AGENT_HANDLER]: path.join(FIXTURES, 'handler.js'),
        [Env.METRICS_PORT]: '0',
        [Env.AGENT_SHUTDOWN_SECONDS]: '5',
        [Env.AGENT_LEASE_SECONDS]: '0.5',
        [Env.AGENT_SCRAPE_WAIT_SECONDS]: '0',
        [Env.AGENT_RETRY_DELAY_SECONDS]: '0.2',
        [Env.AGENT_RETRY_MAX_DELAY_SECONDS]: '1',
        ...env,
        ...extra,
      }),
  };
}

const task = (id: string, input: unknown) => JSON.stringify({ id, input });

test('every line ends as one result: successes, retries, permanent and attempt-limit failures, malformed and conflicting lines; exit 65, and a rerun only reads them', async () => {
  const b = batch(
    'mixed',
    {
      3: [
        task('echo', { mode: 'echo', value: 1 }),
        'not json {',
        JSON.stringify({ id: 'no-input' }),
        task('perm', { mode: 'permanent', what: 'the impossible' }),
        task('flaky', { mode: 'flaky', succeedOnAttempt: 2 }),
        task('echo', { mode: 'echo', value: 1 }),
        task('echo', { mode: 'echo', value: 2 }),
        '',
        task('too-flaky', { mode: 'flaky', succeedOnAttempt: 9 }),
      ],
    },
    { [Env.AGENT_MAX_ATTEMPTS]: '3' },
  );
  const worker = b.start(3);
  // Failed results are final: the index is marked failed (FailIndex), not retried.
  expect(await worker.waitForExit()).toEqual({ code: ExitCode.permanentFailure, signal: null });
  const report = await readResults(b.store);
  expect(report.unusable).toEqual([]);
  const byId = new Map(report.results.map((r) => [r.id, r]));
  expect([...byId.keys()].sort()).toEqual(
    ['echo', 'flaky', 'no-input', 'perm', 'shard-00003.jsonl:2', 'shard-00003.jsonl:7', 'too-flaky'].sort(),
  );
  expect(byId.get('echo')).toEqual({
    id: 'echo',
    status: 'succeeded',
    output: { echo: 1, attempt: 1 },
    attempts: 1,
  });
  expect(byId.get('flaky')).toEqual({
    id: 'flaky',
    status: 'succeeded',
    output: { attempt: 2 },
    attempts: 2,
  });
  expect(byId.get('perm')).toMatchObject({ status: 'failed', attempts: 1 });
  expect(byId.get('perm')?.error).toMatch(/^permanent-error: cannot do the impossible$/);
  expect(byId.get('too-flaky')).toMatchObject({ status: 'failed', attempts: 3 });
  expect(byId.get('too-flaky')?.error).toMatch(/^max-attempts: failed 3 of 3 attempts/);
  expect(byId.get('shard-00003.jsonl:2')?.error).toMatch(/^invalid-json: line 2 of shard-00003\.jsonl/);
  expect(byId.get('no-input')?.error).toMatch(
    /^invalid-task: line 3 of shard-00003\.jsonl: task has no "input"/,
  );
  expect(byId.get('shard-00003.jsonl:7')?.error).toMatch(
    /^id-conflict: line 7 .* reuses the task id "echo" of line 1/,
  );
  // One result log line each, with the result and its reason.
  const logged = worker.lines.filter((l) => l.msg === 'task result');
  expect(logged.map((l) => l.taskId).sort()).toEqual([...byId.keys()].sort());
  for (const line of logged) {
    expect(line.result).toEqual(byId.get(line.taskId as string));
  }
  expect(logged.find((l) => l.taskId === 'shard-00003.jsonl:2')?.reason).toBe('invalid-json');
  // The in-process retries follow the backoff schedule: at least half the doubling delay.
  const retries = worker.lines.filter(
    (l) => l.msg === 'task failed; retrying after a delay' && l.taskId === 'too-flaky',
  );
  expect(retries.map((l) => l.attempt)).toEqual([1, 2]);
  expect(retries.map((l) => (l.retryInMs as number) >= 100 * 2 ** ((l.attempt as number) - 1))).toEqual([
    true,
    true,
  ]);

  const rerun = b.start(3);
  expect(await rerun.waitForExit()).toEqual({ code: ExitCode.permanentFailure, signal: null });
  expect(rerun.lines.filter((l) => l.msg === 'task result')).toEqual([]);
  expect(rerun.lines.filter((l) => l.msg === 'task already has a result; skipping it')).toHaveLength(7);
  expect((await readResults(b.store)).results).toEqual(report.results);
});

test('a task that keeps killing its worker: attempts are counted across processes, and the limit files a failed result', async () => {
  const b = batch(
    'killer',
    { 0: [task('killer', { mode: 'gate', gate: '/nonexistent/gate' })] },
    { [Env.AGENT_MAX_ATTEMPTS]: '2' },
  );
  for (const attempt of [1, 2]) {
    const worker = b.start(0);
    const line = await worker.waitForLog('at the gate', (l) => l.msg === 'fixture waiting at the gate');
    expect(line.attempt).toBe(attempt);
    if (attempt === 1) {
      // While it works: alive, ready, one task in flight.
      const port = await worker.metricsPort();
      expect((await httpGet(port, '/healthz')).status).toBe(200);
      expect((await httpGet(port, '/readyz')).status).toBe(200);
      expect(metricValue((await httpGet(port, '/metrics')).body, 'agent_tasks_in_flight')).toBe(1);
    }
    worker.kill('SIGKILL');
    await worker.waitForExit();
  }
  const last = b.start(0);
  expect(await last.waitForExit()).toEqual({ code: ExitCode.permanentFailure, signal: null });
  expect(last.lines.some((l) => l.msg === 'fixture waiting at the gate')).toBe(false);
  const { results } = await readResults(b.store);
  expect(results).toEqual([
    {
      id: 'killer',
      status: 'failed',
      error: expect.stringMatching(/^max-attempts: delivered 3 times without finishing \(limit 2\)/),
      attempts: 2,
    },
  ]);
});

test('a retry delay outlives the pod: SIGTERM while waiting exits 75, the next pod waits out the rest and counts on', async () => {
  const b = batch(
    'delay',
    { 1: [task('flaky', { mode: 'flaky', succeedOnAttempt: 2 })] },
    { [Env.AGENT_RETRY_DELAY_SECONDS]: '4', [Env.AGENT_RETRY_MAX_DELAY_SECONDS]: '4' },
  );
  const worker = b.start(1);
  const failed = await worker.waitForLog('the retry', (l) => l.msg === 'task failed; retrying after a delay');
  expect(failed.retryInMs).toBeGreaterThanOrEqual(2000);
  worker.kill('SIGTERM');
  expect(await worker.waitForExit(4000)).toEqual({ code: ExitCode.interrupted, signal: null });
  const next = b.start(1);
  const waiting = await next.waitForLog('the wait', (l) => l.msg === 'waiting out the retry delay');
  expect(waiting.attempt).toBe(2);
  expect(waiting.retryInMs).toBeGreaterThan(0);
  expect(await next.waitForExit()).toEqual({ code: ExitCode.succeeded, signal: null });
  expect((await readResults(b.store)).results).toEqual([
    { id: 'flaky', status: 'succeeded', output: { attempt: 2 }, attempts: 2 },
  ]);
});

test('startup errors exit 78 naming the variable, without any broker setting', async () => {
  const b = batch('config', { 0: [task('a', { mode: 'echo', value: 1 })] });
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ [Env.AGENT_INDEX]: '' }, /AGENT_INDEX \(unset\): is not set; run file-mode workers in an Indexed Job/],
    [{ [Env.AGENT_INDEX]: '-1' }, /AGENT_INDEX="-1": is "-1", not a completion index/],
    [
      { [Env.AGENT_INDEX]: '4' },
      /AGENT_TASK_DIR=".*": has no shard file shard-00004\.jsonl for AGENT_INDEX=4 \(.*shard-00004\.jsonl\)/,
    ],
    [
      { [TaskFileEnv.AGENT_TASK_SOURCE]: 'files' },
      /AGENT_TASK_SOURCE="files": is not a task source; set it to queue or file/,
    ],
  ];
  for (const [env, message] of cases) {
    const worker = b.start(0, env);
    expect(await worker.waitForExit()).toEqual({ code: ExitCode.configError, signal: null });
    expect(worker.stderr).toMatch(message);
  }
});

test("runAgent from a user's own entrypoint runs the shard too: same results, no broker setting read", async () => {
  const b = batch('library', { 0: [task('lib-1', { mode: 'echo', value: 7 })] });
  const code = await runAgent({
    handler: (input: { value: number }, ctx) => ({ echo: input.value, attempt: ctx.attempt }),
    exitProcess: false,
    handleSignals: false,
    env: {
      [TaskFileEnv.AGENT_TASK_SOURCE]: TaskSources.file,
      [TaskFileEnv.AGENT_TASK_DIR]: b.taskDir,
      [Env.AGENT_INDEX]: '0',
      [Env.CHECKPOINT_DIR]: b.store,
      [Env.METRICS_PORT]: '0',
      [Env.AGENT_SCRAPE_WAIT_SECONDS]: '0',
      // A queue-mode worker would refuse this URL; file mode never reads it.
      [Env.TASK_QUEUE_URL]: 'not a url',
    },
  });
  expect(code).toBe(ExitCode.succeeded);
  const report = await readResults(b.store);
  expect(report.results).toEqual([
    { id: 'lib-1', status: 'succeeded', output: { echo: 7, attempt: 1 }, attempts: 1 },
  ]);
});
