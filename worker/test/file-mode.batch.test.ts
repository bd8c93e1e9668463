/**
 * File mode end to end, with real processes and no broker: a batch of 20 tasks in 20 shard files
 * run as 20 `agent-worker` processes with AGENT_INDEX 0..19 (plus a second process of one index
 * at once, as a replacement pod started while the first still runs). Some are SIGKILLed and some
 * SIGTERMed mid-task; their indexes run again as the Job controller would. Then every task has
 * exactly one result (read the way `agent-fleet results` reads them), one result log line, and no
 * step ran twice after its checkpoint.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Env, ExitCode, shardFileName, TaskFileEnv, TaskSources } from '@agent-fleet/contract';
import { readResults } from '../../cli/src/results';
import { findReexecutions, interleavedRuns, parseStepLog, resumedRuns } from './support/chaos';
import { FIXTURES, killAll, makeTempDir, startWorker, type WorkerProcess, waitFor } from './support/harness';

afterAll(killAll);

const TASKS = 20;
const STEPS = 8;
const STEP_MS = 120;
const SIGKILLED = [1, 4, 7, 10, 13];
const SIGTERMED = [2, 5, 8, 11];
/** SIGTERMed, with the replacement started at once, while the old process still runs. */
const SIGTERMED_OVERLAPPING = [14, 17];
/** Run by two processes from the start. */
const DOUBLED = 19;

const taskId = (index: number) => `batch-task-${index}`;

test('20 shards, 20 processes, no broker: kills and reruns leave exactly one result per task and no step run twice after its checkpoint', async () => {
  const root = makeTempDir('agent-file-batch-');
  const taskDir = path.join(root, 'tasks');
  const store = path.join(root, 'store');
  const stepLog = path.join(root, 'steps.log');
  mkdirSync(taskDir);
  writeFileSync(stepLog, '');
  for (let index = 0; index < TASKS; index++) {
    const task = { id: taskId(index), input: { steps: STEPS, stepMs: STEP_MS } };
    writeFileSync(path.join(taskDir, shardFileName(index)), `${JSON.stringify(task)}\n`);
  }
  let pods = 0;
  const all: Array<{ index: number; proc: WorkerProcess }> = [];
  const start = (index: number): WorkerProcess => {
    pods += 1;
    const proc = startWorker({
      [TaskFileEnv.AGENT_TASK_SOURCE]: TaskSources.file,
      [TaskFileEnv.AGENT_TASK_DIR]: taskDir,
      [Env.AGENT_INDEX]: String(index),
      [Env.POD_NAME]: `batch-${index}-${pods}`,
      [Env.CHECKPOINT_DIR]: store,
      [Env.AGENT_HANDLER]: path.join(FIXTURES, 'shard-steps-handler.js'),
      [Env.METRICS_PORT]: '0',
      [Env.AGENT_SHUTDOWN_SECONDS]: '5',
      // A SIGKILLed process's lease holds its task until it expires: keep that short here.
      [Env.AGENT_LEASE_SECONDS]: '1',
      [Env.AGENT_SCRAPE_WAIT_SECONDS]: '0',
      SHARD_STEP_LOG: stepLog,
    });
    all.push({ index, proc });
    return proc;
  };
  const first = Array.from({ length: TASKS }, (_, index) => start(index));
  const twin = start(DOUBLED);

  const reachedStep = (index: number, step: number) =>
    readFileSync(stepLog, 'utf8')
      .split('\n')
      .some((line) => line.startsWith(`${taskId(index)} ${step} `));
  const victim = async (index: number, signal: 'SIGKILL' | 'SIGTERM', overlap: boolean) => {
    const proc = first[index];
    await waitFor(`task ${index} at step 3`, () => reachedStep(index, 3), 30_000, 10);
    proc.kill(signal);
    if (overlap) {
      start(index);
    }
    const exit = await proc.waitForExit(15_000);
    if (signal === 'SIGKILL') {
      expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    } else {
      // The code the Job ignores for a disruption; the task checkpointed and stays for the next pod.
      expect(exit).toEqual({ code: ExitCode.interrupted, signal: null });
      expect(
        proc.lines.some(
          (l) => l.msg === 'task interrupted by shutdown; its checkpoint stays for the replacement pod',
        ),
      ).toBe(true);
    }
    if (!overlap) {
      start(index);
    }
  };
  await Promise.all([
    ...SIGKILLED.map((index) => victim(index, 'SIGKILL', false)),
    ...SIGTERMED.map((index) => victim(index, 'SIGTERM', false)),
    ...SIGTERMED_OVERLAPPING.map((index) => victim(index, 'SIGTERM', true)),
  ]);

  const victims = new Set([...SIGKILLED, ...SIGTERMED, ...SIGTERMED_OVERLAPPING]);
  for (const { index, proc } of all) {
    const exit = await proc.waitForExit(30_000);
    if (proc === first[index] && victims.has(index)) continue;
    expect({ index, pod: proc.lines[0]?.pod, exit }).toEqual({
      index,
      pod: proc.lines[0]?.pod,
      exit: { code: ExitCode.succeeded, signal: null },
    });
    expect(proc.stderr).toBe('');
  }

  // Exactly one result per task, read as `agent-fleet results` reads the store.
  const report = await readResults(store);
  expect(report.unusable).toEqual([]);
  expect(report.results.map((r) => r.id).sort()).toEqual(
    Array.from({ length: TASKS }, (_, i) => taskId(i)).sort(),
  );
  for (const result of report.results) {
    const index = Number(result.id.split('-').pop());
    expect(result).toEqual({
      id: result.id,
      status: 'succeeded',
      // A SIGKILL spends the attempt (as a crash does under the broker); a SIGTERM gives it back.
      attempts: SIGKILLED.includes(index) ? 2 : 1,
      output: { steps: STEPS, resumedFrom: expect.any(Number), attempt: SIGKILLED.includes(index) ? 2 : 1 },
    });
  }
  // One result log line per task, over every process.
  const resultLines = all.flatMap(({ proc }) => proc.lines.filter((l) => l.msg === 'task result'));
  expect(resultLines.map((l) => l.taskId).sort()).toEqual(report.results.map((r) => r.id).sort());
  // The store keeps the results only: checkpoints, attempts and leases of finished tasks are gone.
  for (const index of victims) {
    const stem = path.basename(
      (resultLines.find((l) => l.taskId === taskId(index))?.resultFile as string) ?? '',
      '.result.json',
    );
    const taskDir = path.join(store, stem.slice(0, 2));
    expect(existsSync(path.join(taskDir, `${stem}.checkpoint.json`))).toBe(false);
    expect(existsSync(path.join(store, `${stem}.attempts.json`))).toBe(false);
    // lstat: a lease is a symbolic link whose target names no file, so existsSync never finds one.
    expect(lstatSync(path.join(taskDir, `${stem}.lease.json`), { throwIfNoEntry: false })).toBeUndefined();
  }

  const steps = parseStepLog(readFileSync(stepLog, 'utf8'));
  const notAllowed = findReexecutions(steps, new Map()).filter((r) => !r.allowed);
  expect(notAllowed).toEqual([]);
  expect(interleavedRuns(steps)).toEqual([]);
  // Every task ran each of its steps, and every victim's replacement resumed from its checkpoint.
  for (let index = 0; index < TASKS; index++) {
    const own = new Set(steps.filter((l) => l.taskId === taskId(index)).map((l) => l.step));
    expect(own).toEqual(new Set([...Array.from({ length: STEPS }, (_, i) => i + 1), 'end']));
  }
  const resumed = new Set(resumedRuns(steps).map((r) => r.taskId));
  for (const index of victims) {
    expect(resumed).toContain(taskId(index));
  }
  // The two processes of one index ran its task once between them.
  const doubledRuns = new Set(steps.filter((l) => l.taskId === taskId(DOUBLED)).map((l) => l.run));
  expect(doubledRuns.size).toBe(1);
  expect(
    [first[DOUBLED], twin].some((p) =>
      p.lines.some((l) => l.msg === 'task already has a result; skipping it'),
    ),
  ).toBe(true);
}, 60_000);
