/**
 * The chaos and fault suite. One throwaway broker (low consumer_timeout), a local LLM
 * gateway stand-in, a fleet of real `agent-worker` processes respawned whenever they exit, and
 * while they work through the tasks: seeded random SIGTERMs and SIGKILLs, one broker restart,
 * poison tasks (always throw; malformed JSON), a gateway outage, a corrupted checkpoint and a
 * consumer_timeout expiry on a long task. Then it accounts for every task and prints the figures.
 *
 * `npm run test:chaos [-- --large] [--seed <n>] [--write-doc [path]]` (scripts/chaos.js), which sets:
 *   CHAOS_SIZE=default|large   4 workers, 500 tasks, 20 SIGTERM + 20 SIGKILL | 8, 5000, 100 + 100
 *   CHAOS_SEED=<n>             the seed of the tasks, the injection plan and the victims
 *   CHAOS_SUMMARY_FILE=<path>  where to write the one-line summary (the runner prints it last)
 *   CHAOS_WRITE_DOC=<path>     write the figures as Markdown there (docs/RELIABILITY.md) on success
 * See worker/README.md, "Chaos suite".
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { type DeadLetterReason, Headers, type ResultMessage, retryQueueFor } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { startRabbit, type TestRabbit } from '../../testkit/rabbitmq';
import { ceilingDelayMs, retryTiersMs } from '../src/backoff';
import { TaskCheckpoints } from '../src/store';
import {
  brokerLog,
  Fleet,
  type FleetMember,
  findReexecutions,
  type Gateway,
  interleavedRuns,
  machineDescription,
  parseStepLog,
  prng,
  reliabilityDoc,
  resumedRuns,
  startGateway,
} from './support/chaos';
import {
  declareTopology,
  FIXTURES,
  killAll,
  type LogLine,
  makeTempDir,
  startWorker,
  TestClient,
  testSetup,
  type WorkerProcess,
  waitFor,
} from './support/harness';

const FILE_STARTED = Date.now();
const DEFAULT_SEED = 20261127;
/** Sizes: `default` fits CI (about 2.5 min on 2 cores with the broker start), `large` is a soak. */
const SIZES = {
  default: { workers: 4, tasks: 500, sigterms: 20, sigkills: 20, jestTimeoutMs: 10 * 60_000 },
  large: { workers: 8, tasks: 5000, sigterms: 100, sigkills: 100, jestTimeoutMs: 30 * 60_000 },
} as const;
type SizeName = keyof typeof SIZES;
const SIZE_NAME = (process.env.CHAOS_SIZE || 'default') as SizeName;
if (!Object.hasOwn(SIZES, SIZE_NAME)) {
  throw new Error(`CHAOS_SIZE=${SIZE_NAME}: expected one of ${Object.keys(SIZES).join(', ')}`);
}
const SIZE = SIZES[SIZE_NAME];
const SEED = Number(process.env.CHAOS_SEED || DEFAULT_SEED);
if (!Number.isSafeInteger(SEED)) throw new Error(`CHAOS_SEED=${process.env.CHAOS_SEED}: expected an integer`);
const WORKERS = SIZE.workers;
/** Every message published: regular tasks, the long one, the corrupted one, 2 poison, 2 malformed. */
const TASKS = SIZE.tasks;
const SIGTERMS = SIZE.sigterms;
const SIGKILLS = SIZE.sigkills;
const CONSUMER_TIMEOUT_MS = 8000;
const MAX_ATTEMPTS = 6;
const RETRY = { baseDelayMs: 250, maxDelayMs: 2000 };
const GUARD = {
  timeoutMs: 2000,
  retries: 1,
  retryDelayMs: 50,
  retryMaxDelayMs: 200,
  consecutiveFailures: 3,
  halfOpenAfterMs: 1000,
};
// Injections are placed by progress (the share of messages accounted for: a result or a dead
// letter), so they land while the fleet works whatever the size and the machine's speed.
/** Kills at seeded progress points drawn uniformly from this range. */
const KILLS_BETWEEN: [number, number] = [0.02, 0.9];
/** The gateway outage starts at this progress and lasts OUTAGE_MS (503s, then connection resets). */
const OUTAGE_AT = 0.25;
const OUTAGE_MS = 4000;
/** The broker restart: at this progress, once the consumer_timeout expiry has been seen. */
const BROKER_RESTART_AT = 0.5;
/** Regular tasks: 3-5 steps of 2-8 ms each (each also calls the gateway and checkpoints). */
const STEPS: [number, number] = [3, 5];
const STEP_MS: [number, number] = [2, 8];
/** Bounds of the waits, scaled with the size. */
/** Waiting for the last messages ends when none came for this long and no queue holds one. */
const STALL_MS = 60_000;
/** Everything (injections, then every message accounted for) must be done this long after the start. */
const RUN_TIMEOUT_MS = SIZE_NAME === 'large' ? 25 * 60_000 : 6 * 60_000;

jest.setTimeout(SIZE.jestTimeoutMs);

let rabbit: TestRabbit;
let gateway: Gateway;
let client: TestClient | undefined;

beforeAll(async () => {
  rabbit = await startRabbit({ consumerTimeoutMs: CONSUMER_TIMEOUT_MS });
  gateway = await startGateway();
});
afterAll(async () => {
  await killAll();
  await client?.close();
  await gateway?.close();
  await rabbit?.stop();
});

async function openClient(): Promise<TestClient> {
  await client?.close();
  client = undefined;
  client = await waitFor(
    'a client connection',
    () => TestClient.open(rabbit.url).catch(() => undefined),
    60_000,
    500,
  );
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface DeadLetter {
  readonly id: string | undefined;
  readonly reason: string | undefined;
  readonly body: string;
}

function deadLetterOf(message: amqp.GetMessage): DeadLetter {
  const body = message.content.toString('utf8');
  let id = typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined;
  try {
    id = (JSON.parse(body) as { id?: string }).id ?? id;
  } catch {
    // malformed on purpose
  }
  const reason = message.properties.headers?.[Headers.deadLetterReason];
  return { id, reason: typeof reason === 'string' ? reason : undefined, body };
}

test('the fleet loses nothing under chaos, and prints its figures', async () => {
  const random = prng(SEED);
  const setup = testSetup('chaos');
  const stepLog = path.join(makeTempDir('agent-chaos-log-'), 'steps.log');
  writeFileSync(stepLog, '');
  const store = new TaskCheckpoints(setup.checkpointDir);
  await declareTopology(setup, rabbit.url);
  const c = await openClient();

  // --- the tasks ---------------------------------------------------------------------------
  const inputs = new Map<string, { steps: number; stepMs: number; llm: boolean }>();
  inputs.set('long-1', { steps: 8, stepMs: 1500, llm: false }); // ~12 s: outlives consumer_timeout
  inputs.set('corrupt-1', { steps: 5, stepMs: 800, llm: false }); // its checkpoint gets corrupted
  const poison = ['poison-1', 'poison-2'];
  const malformed = [
    { id: 'bad-json-1', body: '{"id": "bad-json-1", "input": ', messageId: 'bad-json-1' },
    { id: 'bad-json-2', body: 'bad-json-2: not JSON at all', messageId: undefined },
  ];
  const regularCount = TASKS - inputs.size - poison.length - malformed.length;
  const idWidth = String(regularCount - 1).length;
  const between = (range: [number, number]) => range[0] + Math.floor(random() * (range[1] - range[0] + 1));
  for (let i = 0; i < regularCount; i++) {
    inputs.set(`task-${String(i).padStart(idWidth, '0')}`, {
      steps: between(STEPS),
      stepMs: between(STEP_MS),
      llm: true,
    });
  }
  const allIds = [...inputs.keys(), ...poison, ...malformed.map((m) => m.id)];
  const known = new Set(allIds);
  // Poison and malformed messages go in at 1/5, 2/5, 3/5 and 4/5 of the queue.
  const extras = new Map<number, () => Promise<void>>([
    [Math.floor(inputs.size / 5), () => c.publishTask(setup.taskQueue, poison[0], { mode: 'poison' })],
    [
      Math.floor((inputs.size * 2) / 5),
      () => c.publishRaw(setup.taskQueue, malformed[0].body, { messageId: malformed[0].messageId }),
    ],
    [Math.floor((inputs.size * 3) / 5), () => c.publishTask(setup.taskQueue, poison[1], { mode: 'poison' })],
    [Math.floor((inputs.size * 4) / 5), () => c.publishRaw(setup.taskQueue, malformed[1].body)],
  ]);
  let n = 0;
  let pending: Array<Promise<void>> = [];
  for (const [id, input] of inputs) {
    pending.push(c.publishTask(setup.taskQueue, id, input));
    n += 1;
    const extra = extras.get(n);
    if (extra) pending.push(extra());
    if (pending.length >= 200) {
      await Promise.all(pending); // confirmed in batches: one channel keeps the order
      pending = [];
    }
  }
  await Promise.all(pending);

  // --- the fleet -----------------------------------------------------------------------------
  const workerEnv = (extra: Record<string, string> = {}) =>
    setup.env({
      TASK_QUEUE_URL: rabbit.url,
      AGENT_HANDLER: path.join(FIXTURES, 'chaos-handler.js'),
      AGENT_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      AGENT_RETRY_DELAY_SECONDS: String(RETRY.baseDelayMs / 1000),
      AGENT_RETRY_MAX_DELAY_SECONDS: String(RETRY.maxDelayMs / 1000),
      AGENT_BROKER_CONNECT_SECONDS: '90',
      AGENT_LEASE_SECONDS: '2',
      AGENT_SHUTDOWN_SECONDS: '5',
      CHAOS_STEP_LOG: stepLog,
      CHAOS_GATEWAY_URL: gateway.url,
      CHAOS_GUARD: JSON.stringify(GUARD),
      ...extra,
    });
  const fleet = new Fleet(WORKERS, (slot, incarnation) =>
    workerEnv({ AGENT_INDEX: String(slot), POD_NAME: `chaos-${slot}-${incarnation}` }),
  );
  const t0 = Date.now();
  fleet.start();

  // --- the kill plan: seeded signals at seeded progress points ------------------------------
  const kills: Array<{ at: number; signal: NodeJS.Signals; pid: number; task: string | undefined }> = [];
  const killPlan = [
    ...Array.from({ length: SIGTERMS }, () => 'SIGTERM' as const),
    ...Array.from({ length: SIGKILLS }, () => 'SIGKILL' as const),
  ]
    .map((signal) => ({ signal, at: KILLS_BETWEEN[0] + random() * (KILLS_BETWEEN[1] - KILLS_BETWEEN[0]) }))
    .sort((a, b) => a.at - b.at);

  // --- collect, all along: results and dead letters give the progress the injections wait on ---
  const results: ResultMessage[] = [];
  const resultCopies: Array<{ id: string; body: string; messageId: unknown; deadLetterReason: unknown }> = [];
  const deadLetters: DeadLetter[] = [];
  const accounted = new Set<string>();
  const account = (id: string | undefined) => {
    if (id !== undefined && known.has(id)) accounted.add(id);
  };
  const collect = async () => {
    try {
      const cl = client ?? (await openClient());
      // One message at a time (noAck): a get that fails halfway (the broker restarts) must not drop
      // the messages already taken off the queue.
      for (let m = await cl.channel.get(setup.resultQueue, { noAck: true }); m; ) {
        const body = m.content.toString('utf8');
        const result = JSON.parse(body) as ResultMessage;
        results.push(result);
        resultCopies.push({
          id: result.id,
          body,
          messageId: m.properties.messageId,
          deadLetterReason: m.properties.headers?.[Headers.deadLetterReason],
        });
        account(result.id);
        m = await cl.channel.get(setup.resultQueue, { noAck: true });
      }
      for (let m = await cl.channel.get(setup.deadQueue, { noAck: true }); m; ) {
        const dead = deadLetterOf(m);
        deadLetters.push(dead);
        account(dead.body === malformed[1].body ? malformed[1].id : dead.id);
        m = await cl.channel.get(setup.deadQueue, { noAck: true });
      }
    } catch {
      await client?.close();
      client = undefined; // the broker restarts: reopen on the next round
    }
  };
  let collecting = true;
  const collector = (async () => {
    let said = Date.now();
    while (collecting) {
      await collect();
      await sleep(200);
      if (Date.now() - said >= 15_000) {
        said = Date.now();
        process.stdout.write(
          `chaos: ${((said - t0) / 1000).toFixed(0)} s, ${accounted.size}/${allIds.length} accounted for, ${kills.length}/${killPlan.length} kills\n`,
        );
      }
    }
  })();
  const progress = () => accounted.size / allIds.length;
  const remainingMs = () => Math.max(1000, t0 + RUN_TIMEOUT_MS - Date.now());
  const progressReached = (fraction: number, what: string) =>
    waitFor(`${what} (progress ${fraction.toFixed(3)})`, () => progress() >= fraction, remainingMs(), 100);

  /** The task a worker runs now (last task it started or resumed), from its own log. */
  const runningTask = (member: FleetMember): string | undefined => {
    for (let i = member.proc.lines.length - 1; i >= 0; i--) {
      const line = member.proc.lines[i];
      if (line.msg === 'task started' || line.msg === 'task resumed from its checkpoint') return line.taskId;
    }
    return undefined;
  };
  const readLog = () => parseStepLog(readFileSync(stepLog, 'utf8'));
  let corrupted: { taskId: string; fromStep: number; toStep: number; at: number; pid: number } | undefined;
  // Until they happened, the long task (consumer_timeout) and the corruption target are spared.
  const protectedTasks = new Set(['long-1', 'corrupt-1']);

  // --- injections ----------------------------------------------------------------------------
  const killing = (async () => {
    for (const [i, planned] of killPlan.entries()) {
      await progressReached(planned.at, `kill ${i + 1}`);
      const candidates = await waitFor(
        'a worker to signal',
        () => {
          const live = fleet
            .live()
            .filter((m) => Date.now() - m.startedAt > 1000)
            .filter((m) => !protectedTasks.has(runningTask(m) ?? ''));
          return live.length > 0 ? live : undefined;
        },
        30_000,
        50,
      );
      const victim = candidates[Math.floor(random() * candidates.length)];
      kills.push({ at: Date.now() - t0, signal: planned.signal, pid: victim.pid, task: runningTask(victim) });
      fleet.signal(victim, planned.signal);
    }
  })();

  let outage: [number, number] = [0, 0];
  const outageDone = (async () => {
    await progressReached(OUTAGE_AT, 'the gateway outage');
    const start = Date.now();
    gateway.mode = '503';
    await sleep(OUTAGE_MS / 2);
    gateway.mode = 'reset'; // second half: connections reset instead of 503
    await sleep(OUTAGE_MS / 2);
    gateway.mode = 'up';
    outage = [start, Date.now()];
  })();

  const corruption = (async () => {
    // Once corrupt-1 has checkpointed step 2 or later, overwrite its current checkpoint file with
    // garbage and SIGKILL the worker running it: the next run must fall back to the previous generation.
    await waitFor(
      'corrupt-1 checkpointed step 2',
      async () => {
        const state = (await store.readCheckpoint('corrupt-1').catch(() => undefined))?.state as
          | { step: number }
          | undefined;
        return state !== undefined && state.step >= 2;
      },
      60_000,
      50,
    );
    const current = JSON.parse(readFileSync(store.checkpointPath('corrupt-1'), 'utf8')) as {
      state: { step: number };
    };
    const previous = JSON.parse(readFileSync(store.previousCheckpointPath('corrupt-1'), 'utf8')) as {
      state: { step: number };
    };
    writeFileSync(
      store.checkpointPath('corrupt-1'),
      '{"taskId":"corrupt-1","state":{"step":9\u0000\u00ff garbage',
    );
    const holder = readLog()
      .filter((l) => l.taskId === 'corrupt-1')
      .pop();
    const member = holder ? fleet.byPid(holder.pid) : undefined;
    corrupted = {
      taskId: 'corrupt-1',
      fromStep: previous.state.step + 1,
      toStep: current.state.step,
      at: Date.now() - t0,
      pid: member?.pid ?? -1,
    };
    if (member && member.exitedAt === undefined) {
      kills.push({ at: Date.now() - t0, signal: 'SIGKILL', pid: member.pid, task: 'corrupt-1' });
      fleet.signal(member, 'SIGKILL');
    }
    protectedTasks.delete('corrupt-1');
  })();

  // The long task: protected from kills until some worker lost its channel to consumer_timeout.
  const timeoutSeen = (member: FleetMember) =>
    member.proc.lines.some(
      (l) =>
        l.msg === 'broker channel error' &&
        /acknowledgement|timed out|timeout/i.test(JSON.stringify(l.err ?? '')),
    );
  const consumerTimeout = waitFor(
    'a consumer_timeout',
    () => fleet.members.some(timeoutSeen),
    120_000,
    200,
  ).then(() => protectedTasks.delete('long-1'));

  let brokerDown: [number, number] = [0, 0];
  const brokerRestart = (async () => {
    // After the consumer_timeout expiry: a restart first would close the long task's channel itself.
    await consumerTimeout;
    await progressReached(BROKER_RESTART_AT, 'the broker restart');
    const start = Date.now();
    await rabbit.pause();
    await rabbit.resume();
    brokerDown = [start, Date.now()];
  })();

  // --- wait for the injections, then for every message to be accounted for ------------------
  const injections = await Promise.allSettled([
    killing,
    outageDone,
    brokerRestart,
    corruption,
    consumerTimeout,
  ]);
  const injectionErrors = injections.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  const accountedFor = (id: string) => accounted.has(id);
  // Stalled: nothing accounted for in STALL_MS while the task queue and every retry tier are empty
  // (nothing left to deliver; the longest task takes ~12 s, a retry or lease wait 2 s at most).
  const retryQueues = retryTiersMs(RETRY).map((ms) => retryQueueFor(setup.taskQueue, ms));
  let lastCount = -1;
  let lastChange = Date.now();
  const stalled = async () => {
    if (accounted.size !== lastCount) {
      lastCount = accounted.size;
      lastChange = Date.now();
      return false;
    }
    if (Date.now() - lastChange < STALL_MS || !client) return false;
    try {
      for (const q of [setup.taskQueue, ...retryQueues]) if ((await client.messageCount(q)) > 0) return false;
      return true;
    } catch {
      return false;
    }
  };
  // On a timeout or a stall, carry on: the analysis below names the tasks never accounted for.
  const accounting = await waitFor(
    'every task accounted for',
    async () => (accounted.size === allIds.length ? 'done' : (await stalled()) ? 'stalled' : undefined),
    remainingMs(),
    250,
  ).catch(() => 'timed out' as const);
  const accountingTimedOut = accounting !== 'done';
  collecting = false;
  await collector;

  // Quiesce: nothing left in the task queue or a retry tier, then stop the fleet (no respawns).
  const cl = client ?? (await openClient());
  const queues = [setup.taskQueue, ...retryQueues];
  await waitFor(
    'empty task and retry queues',
    async () => {
      for (const q of queues) if ((await cl.messageCount(q)) > 0) return false;
      return true;
    },
    30_000,
    250,
  ).catch(() => undefined);
  await fleet.stop();
  // Whatever the broker still holds (a redelivery of a finished task) goes to one last worker.
  const depths = async () => {
    const counts: string[] = [];
    for (const q of [...queues, setup.resultQueue, setup.deadQueue])
      counts.push(`${q}:${await cl.messageCount(q)}`);
    return counts.join(' ');
  };
  const depthsAfterStop = await depths();
  let leftovers = 0;
  for (const q of queues) leftovers += await cl.messageCount(q);
  let sweeper: WorkerProcess | undefined;
  if (leftovers > 0) {
    sweeper = startWorker(workerEnv({ AGENT_IDLE_EXIT_SECONDS: '3', POD_NAME: 'chaos-sweeper' }));
    await sweeper.waitForExit(60_000).catch(() => undefined);
  }
  await sleep(500);
  await collect();
  const runMs = Date.now() - t0;

  // --- analysis ------------------------------------------------------------------------------
  const steps = readLog();
  // Every worker process: the fleet, and the sweeper when one ran.
  const processes = [
    ...fleet.members.map((m) => ({ pid: m.pid, proc: m.proc })),
    ...(sweeper ? [{ pid: sweeper.child.pid ?? -1, proc: sweeper }] : []),
  ];
  const workerLines = processes.flatMap((p) => p.proc.lines);
  const resultsById = new Map<string, ResultMessage[]>();
  for (const r of results) resultsById.set(r.id, [...(resultsById.get(r.id) ?? []), r]);
  // A repeated result is the documented crash window (worker/README.md, "Results": a worker dies
  // between the broker's confirm and its `published` marker; the redelivery republishes the stored
  // outcome) only when every copy is byte-identical with messageId = task id and each extra copy
  // matches a redelivery that logged republishing the stored outcome. A consumer drops those by
  // messageId. Anything else (a second run's result, a different body) is a duplicate.
  const republished = new Map<string, number>();
  for (const l of workerLines) {
    if (
      l.msg ===
      'task finished before but its result may not have been published; publishing the stored outcome'
    )
      republished.set(l.taskId as string, (republished.get(l.taskId as string) ?? 0) + 1);
  }
  // A malformed message's failed answer has the same window (killed between the answer's confirm
  // and the ack): its redelivery dead-letters it again and answers again, identically. Those copies
  // carry the dead-letter reason header and come at most once per dead-letter copy of the message.
  const deadCopies = (id: string) => deadLetters.filter((d) => d.id === id).length;
  const copiesById = new Map<string, typeof resultCopies>();
  for (const c of resultCopies) copiesById.set(c.id, [...(copiesById.get(c.id) ?? []), c]);
  const repeated = [...copiesById].filter(([, cs]) => cs.length > 1);
  const isIdenticalCopy = ([id, cs]: [string, typeof resultCopies]) =>
    cs.every(
      (c) => c.body === cs[0].body && c.messageId === id && c.deadLetterReason === cs[0].deadLetterReason,
    ) &&
    cs.length - 1 <=
      (republished.get(id) ?? 0) +
        (cs[0].deadLetterReason === undefined ? 0 : Math.max(0, deadCopies(id) - 1));
  const identicalCopies = repeated.filter(isIdenticalCopy).map(([id, cs]) => `${id}×${cs.length}`);
  const duplicates = repeated.filter((r) => !isIdenticalCopy(r)).map(([id, cs]) => `${id}×${cs.length}`);
  const lost = allIds.filter((id) => !accountedFor(id));
  const unknownResults = [...resultsById.keys()].filter((id) => !known.has(id));
  const deadByReason = new Map<string, number>();
  for (const d of deadLetters)
    deadByReason.set(d.reason ?? '(none)', (deadByReason.get(d.reason ?? '(none)') ?? 0) + 1);
  const deadWithoutReason = deadLetters.filter((d) => d.reason === undefined);
  const regular = [...inputs.keys()];
  const succeeded = regular.filter((id) => resultsById.get(id)?.[0]?.status === 'succeeded');
  const succeededSet = new Set(succeeded);
  const wrongOutput = succeeded.filter(
    (id) =>
      (resultsById.get(id)?.[0]?.output as { steps?: number } | undefined)?.steps !== inputs.get(id)?.steps,
  );
  const regularDead = regular.filter((id) => !succeededSet.has(id));

  const corruptions = new Map(corrupted ? [[corrupted.taskId, corrupted]] : []);
  const reexecuted = findReexecutions(steps, corruptions);
  const disallowed = reexecuted.filter((r) => !r.allowed);
  const interleaved = interleavedRuns(steps);
  const resumedTasks = new Set([
    ...workerLines.filter((l) => l.msg === 'task resumed from its checkpoint').map((l) => l.taskId as string),
    ...resumedRuns(steps).map((r) => r.taskId),
  ]);
  const fallbacks = workerLines.filter(
    (l) => l.taskId === 'corrupt-1' && /^checkpoint unusable/.test(l.msg),
  ).length;
  const timeouts = fleet.members.filter(timeoutSeen).length;
  const longResumed = workerLines.some(
    (l) => l.taskId === 'long-1' && l.msg === 'task resumed from its checkpoint',
  );

  // A task stopped by a SIGTERM goes back with its attempt unspent (worker/src: returnInterrupted).
  const returnedUnspent = workerLines.filter(
    (l) => l.msg === 'task returned to the queue, attempt not spent',
  );

  // Poison: deliveries (handler runs) per task and the gap after each delayed retry. A delivery a
  // SIGTERM interrupted does not spend an attempt, so it does not count against the limit.
  const poisonFigures = poison.map((id) => {
    const runs = steps.filter((l) => l.taskId === id && l.step === 'poison');
    const unspent = returnedUnspent.filter((l) => l.taskId === id).length;
    const gaps: Array<{ gap: number; floor: number }> = [];
    let interrupted = 0;
    for (let i = 1; i < runs.length; i++) {
      const before = runs[i - 1];
      const retried = fleet
        .byPid(before.pid)
        ?.proc.lines.some(
          (l) =>
            l.taskId === id &&
            l.msg === 'task failed; retrying after a delay' &&
            l.attempt === before.attempt,
        );
      if (!retried) {
        interrupted += 1; // the process died before scheduling the retry: redelivered at once, by design
        continue;
      }
      gaps.push({ gap: runs[i].at - before.at, floor: ceilingDelayMs(before.attempt, RETRY) / 2 });
    }
    const dead = deadLetters.find((d) => d.id === id);
    return {
      id,
      deliveries: runs.length,
      spent: runs.length - unspent,
      maxAttempt: Math.max(0, ...runs.map((r) => r.attempt)),
      spanMs: runs.length > 0 ? runs[runs.length - 1].at - runs[0].at : 0,
      gaps,
      interrupted,
      reason: dead?.reason,
    };
  });
  const minGap = Math.min(...poisonFigures.flatMap((p) => p.gaps.map((g) => g.gap)));
  const minFloor = Math.min(...poisonFigures.flatMap((p) => p.gaps.map((g) => g.floor)));
  const gapsBelowFloor = poisonFigures.flatMap((p) =>
    p.gaps.filter((g) => g.gap < g.floor).map((g) => ({ id: p.id, ...g })),
  );

  // Gateway calls during the outage, per worker process, against the breaker bound:
  // consecutiveFailures to open, then at most one probe per halfOpenAfterMs while it stays open, + 1.
  const outageCalls = gateway.calls.filter((call) => call.at >= outage[0] && call.at <= outage[1]);
  const perPid = new Map<number, number>();
  for (const call of outageCalls) perPid.set(call.pid, (perPid.get(call.pid) ?? 0) + 1);
  let outageBound = 0;
  const overBound: string[] = [];
  for (const member of fleet.members) {
    const from = Math.max(outage[0], member.startedAt);
    const to = Math.min(outage[1], member.exitedAt ?? outage[1]);
    if (to < from) continue;
    const bound = GUARD.consecutiveFailures + Math.floor((to - from) / GUARD.halfOpenAfterMs) + 1;
    outageBound += bound;
    const calls = perPid.get(member.pid) ?? 0;
    if (calls > bound) overBound.push(`pid ${member.pid}: ${calls} calls > bound ${bound}`);
  }

  const terms = kills.filter((k) => k.signal === 'SIGTERM').length;
  const killed = kills.filter((k) => k.signal === 'SIGKILL').length;
  const exits = new Map<string, number>();
  for (const m of fleet.members) {
    const exit = m.proc.hasExited ? await m.proc.exited : undefined;
    const key = exit ? (exit.signal ?? String(exit.code)) : 'running';
    exits.set(key, (exits.get(key) ?? 0) + 1);
  }
  // Exits other than the suite's own signals (e.g. 69 after the server cancelled a consumer), with why.
  const otherExits: string[] = [];
  for (const m of fleet.members) {
    const exit = m.proc.hasExited ? await m.proc.exited : undefined;
    if (!exit || exit.signal === 'SIGKILL' || exit.code === 75) continue;
    const stopped = m.proc.lines.find((l) => l.msg === 'stopped');
    const cause = m.proc.lines.filter((l) => l.level >= 40).pop();
    otherExits.push(`${exit.code ?? exit.signal} (${stopped?.reason ?? '?'}: ${cause?.msg ?? '-'})`);
  }
  const brokerRestarts = brokerDown[1] > brokerDown[0] ? 1 : 0;
  const wallMs = Date.now() - FILE_STARTED;
  const poisonDeliveries = poisonFigures
    .map((p) => `${p.id}:${p.deliveries} (${p.spent} spent) in ${(p.spanMs / 1000).toFixed(1)} s`)
    .join(', ');
  const rows: Array<[string, string | number]> = [
    ['seed / size', `${SEED} / ${SIZE_NAME}`],
    ['workers (slots) / processes started', `${WORKERS} / ${fleet.members.length}`],
    ['worker exits by code/signal', [...exits].map(([k, v]) => `${k}:${v}`).join(' ')],
    ['other worker exits (reason: last warning)', otherExits.join('; ') || 'none'],
    ['tasks published', allIds.length],
    ['results', results.length],
    ['  succeeded (regular tasks)', `${succeeded.length} of ${regular.length}`],
    ['dead-lettered', deadLetters.length],
    ...[...deadByReason].map(([reason, count]): [string, number] => [`  reason ${reason}`, count]),
    [
      'regular tasks dead-lettered (e.g. killed at every attempt)',
      regularDead.length > 0 ? `${regularDead.length}: ${regularDead.join(' ')}` : 0,
    ],
    ['lost', `${lost.length}${accountingTimedOut ? ` (${accounting} waiting for them)` : ''}`],
    ['duplicate results', duplicates.length],
    [
      'identical result copies (documented crash window, same messageId)',
      identicalCopies.join(' ') || 'none',
    ],
    [
      're-executed steps (allowed / not allowed)',
      `${reexecuted.length - disallowed.length} / ${disallowed.length}`,
    ],
    ['concurrent runs of one task', interleaved.length],
    ['resumed tasks', resumedTasks.size],
    ['kills SIGTERM / SIGKILL', `${terms} / ${killed}`],
    ['tasks returned unspent after a SIGTERM', returnedUnspent.length],
    ['broker restarts (down ms)', `${brokerRestarts} (${brokerDown[1] - brokerDown[0]})`],
    ['consumer_timeout channel closures (long task resumed)', `${timeouts} (${longResumed})`],
    [
      'corrupted checkpoint (steps, fallbacks logged)',
      corrupted ? `${corrupted.fromStep}..${corrupted.toStep}, ${fallbacks}` : 'not done',
    ],
    [
      'gateway calls during outage / bound',
      `${outageCalls.length} / ${outageBound} (${outage[1] - outage[0]} ms)`,
    ],
    ['poison deliveries (limit)', `${poisonDeliveries} (${MAX_ATTEMPTS})`],
    ['poison min gap / backoff floor ms', `${minGap} / ${minFloor}`],
    ['injection errors', injectionErrors.join('; ') || 'none'],
    ['run time s (fleet start to analysis)', (runMs / 1000).toFixed(1)],
    ['wall time s (incl. broker start)', (wallMs / 1000).toFixed(1)],
  ];
  const labelWidth = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `${k.padEnd(labelWidth)}  ${v}`).join('\n');
  const summary = `tasks ${allIds.length} results ${results.length} dead-lettered ${deadLetters.length} lost ${lost.length} duplicates ${duplicates.length} identical-copies ${identicalCopies.length} resumed ${resumedTasks.size} kills ${terms + killed} broker-restarts ${brokerRestarts}`;
  // On a failure, the worker log lines and step log lines of the tasks concerned.
  const suspects = [
    ...new Set([
      ...lost,
      ...duplicates.map((d) => d.split('×')[0]),
      ...disallowed.map((r) => r.taskId),
      ...interleaved,
    ]),
  ];
  const SHOWN = 25;
  // A worker's log lines about one task, and its lines about no task (connection, channel, stop)
  // within 3 s of them, whole.
  const around = (id: string) =>
    processes.flatMap(({ pid, proc }) => {
      const at = (l: LogLine) => Date.parse(String(l.time));
      const own = proc.lines.filter((l) => l.taskId === id);
      const times = own.map(at);
      const near = proc.lines.filter(
        (l) => l.taskId === undefined && times.some((t) => Math.abs(at(l) - t) <= 3000),
      );
      return [...own, ...near].map((l) => {
        const { time, level: _level, msg, ...rest } = l;
        return `  ${time} ${pid} ${msg} ${JSON.stringify(rest)}`;
      });
    });
  for (const id of suspects.slice(0, SHOWN)) {
    const lines = around(id);
    const stepLines = steps
      .filter((l) => l.taskId === id)
      .map((l) => `  step ${l.step} attempt ${l.attempt} run ${l.run} at ${l.at}`);
    process.stdout.write(
      `\n${id}: worker log\n${lines.sort().join('\n')}\n${id}: step log\n${stepLines.join('\n')}\n`,
    );
  }
  if (suspects.length > SHOWN) {
    process.stdout.write(`\n${suspects.length - SHOWN} more: ${suspects.slice(SHOWN).join(', ')}\n`);
  }
  if (suspects.length > 0) {
    process.stdout.write(
      `\nqueue depths after the fleet stopped: ${depthsAfterStop}\nnow: ${await depths()}\n`,
    );
    // The broker's warnings about queues (dropped commands, dead-lettering, leaders) first, then its tail.
    const log = brokerLog(rabbit.url);
    const about = log.split('\n').filter((l) => /drop|leader|dead|expir|queue '/i.test(l));
    process.stdout.write(
      `\nbroker log: lines about queues\n${about.slice(-50).join('\n')}\nbroker log: tail\n${log.slice(-3000)}\n`,
    );
  }
  process.stdout.write(`\nchaos suite figures\n${table}\n${summary}\n`);
  if (process.env.CHAOS_SUMMARY_FILE) writeFileSync(process.env.CHAOS_SUMMARY_FILE, `${summary}\n`);

  // --- the checks ----------------------------------------------------------------------------
  const detail = (what: string, items: unknown[]) => ({ what, items });
  expect(detail('lost task ids', lost)).toEqual(detail('lost task ids', []));
  expect(detail('duplicate results', duplicates)).toEqual(detail('duplicate results', []));
  expect(detail('results for unknown ids', unknownResults)).toEqual(detail('results for unknown ids', []));
  expect(detail('dead letters without a reason', deadWithoutReason)).toEqual(
    detail('dead letters without a reason', []),
  );
  // Every task: exactly one result (identical copies from the documented window count once), or a
  // dead letter with a reason (a task with an id gets both).
  const copiedIds = new Set(identicalCopies.map((c) => c.split('×')[0]));
  for (const id of allIds) {
    const count = copiedIds.has(id) ? 1 : (resultsById.get(id)?.length ?? 0);
    const dead = deadLetters.filter(
      (d) => d.id === id || (id === 'bad-json-2' && d.body === malformed[1].body),
    );
    expect({
      id,
      ok: count === 1 || (count === 0 && dead.length > 0 && dead.every((d) => d.reason)),
    }).toEqual({
      id,
      ok: true,
    });
    if (resultsById.get(id)?.[0]?.status === 'failed') {
      expect({ id, deadLettered: dead.length > 0 }).toEqual({ id, deadLettered: true });
    }
  }
  expect(detail('succeeded with the wrong step count', wrongOutput)).toEqual(
    detail('succeeded with the wrong step count', []),
  );
  expect(detail('disallowed re-executions', disallowed)).toEqual(detail('disallowed re-executions', []));
  expect(detail('tasks run twice at once', interleaved)).toEqual(detail('tasks run twice at once', []));
  expect(resumedTasks.size).toBeGreaterThan(0);

  // Poison: dead-lettered with max-attempts after at most the limit of deliveries, never a hot loop.
  for (const p of poisonFigures) {
    expect({ id: p.id, reason: p.reason }).toEqual({
      id: p.id,
      reason: 'max-attempts' satisfies DeadLetterReason,
    });
    // Deliveries that spent an attempt, and the highest attempt run, stay within the limit.
    expect({ id: p.id, spent: p.spent, maxAttempt: p.maxAttempt, withinLimit: true }).toEqual({
      id: p.id,
      spent: p.spent,
      maxAttempt: p.maxAttempt,
      withinLimit: p.spent <= MAX_ATTEMPTS && p.maxAttempt <= MAX_ATTEMPTS,
    });
    expect(p.gaps.length).toBeGreaterThan(0);
  }
  expect(detail('poison redeliveries sooner than the backoff floor', gapsBelowFloor)).toEqual(
    detail('poison redeliveries sooner than the backoff floor', []),
  );
  for (const m of malformed) {
    // At least once: a worker killed between the dead-letter's confirm and its ack makes the
    // redelivery dead-letter the same message again. Copies are allowed only if identical.
    const dead = deadLetters.filter((d) => d.id === m.id || d.body === m.body);
    expect({
      id: m.id,
      reasons: [...new Set(dead.map((d) => d.reason))],
      bodies: new Set(dead.map((d) => d.body)).size,
    }).toEqual({ id: m.id, reasons: ['invalid-json'], bodies: 1 });
  }

  // The injections happened and had their effect.
  // Every worker exit came from the suite's signals: 75 after SIGTERM, or SIGKILL.
  expect(detail('other worker exits', otherExits)).toEqual(detail('other worker exits', []));
  expect(terms).toBe(SIGTERMS);
  expect(killed).toBeGreaterThanOrEqual(SIGKILLS);
  expect(outageCalls.length).toBeGreaterThan(0);
  expect(detail('workers over the breaker bound', overBound)).toEqual(
    detail('workers over the breaker bound', []),
  );
  expect(timeouts).toBeGreaterThan(0);
  expect(corrupted).toBeDefined();
  expect(fallbacks).toBeGreaterThan(0);
  expect(brokerRestarts).toBe(1);
  expect(detail('injection errors', injectionErrors)).toEqual(detail('injection errors', []));

  // All green: the figures go into the reliability page when asked (CHAOS_WRITE_DOC).
  const docPath = process.env.CHAOS_WRITE_DOC;
  if (docPath) {
    const target = path.resolve(path.join(__dirname, '..', '..'), docPath);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(
      target,
      reliabilityDoc({
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        machine: machineDescription(),
        seed: SEED,
        size: `${SIZE_NAME}: ${WORKERS} workers, ${TASKS} tasks, ${SIGTERMS} SIGTERM + ${SIGKILLS} SIGKILL`,
        command: `npm run test:chaos --${SIZE_NAME === 'large' ? ' --large' : ''} --seed ${SEED}`,
        faults: [
          `${terms} SIGTERMs and ${SIGKILLS} SIGKILLs of random live workers at seeded points between ${KILLS_BETWEEN[0] * 100}% and ${KILLS_BETWEEN[1] * 100}% of the messages accounted for (one more SIGKILL with the corrupted checkpoint); a worker that exits is respawned`,
          `a broker restart (stop, start with the same data) at ${BROKER_RESTART_AT * 100}%, down ${((brokerDown[1] - brokerDown[0]) / 1000).toFixed(1)} s`,
          `a gateway outage of ${OUTAGE_MS / 1000} s at ${OUTAGE_AT * 100}% (503s, then connection resets)`,
          `2 poison tasks (the handler always throws) and 2 malformed JSON bodies (with and without a messageId)`,
          'a corrupted checkpoint: the current generation of a running task overwritten with garbage, its worker SIGKILLed',
          `a consumer_timeout expiry (${CONSUMER_TIMEOUT_MS / 1000} s) on a task of 8 × 1.5 s steps`,
        ],
        figures: [
          ['tasks (messages published)', allIds.length],
          ['results', `${results.length} (${succeeded.length} of ${regular.length} regular tasks succeeded)`],
          [
            'dead-lettered',
            `${deadLetters.length} (${[...deadByReason].map(([r, n]) => `${r} ${n}`).join(', ')})`,
          ],
          ['lost', lost.length],
          ['duplicate results', duplicates.length],
          [
            'identical result copies',
            `${identicalCopies.length} (a worker SIGKILLed between the broker's confirm and its published marker; the redelivery republished the stored outcome, same body and messageId)`,
          ],
          ['tasks resumed from a checkpoint', resumedTasks.size],
          ['SIGTERMs', `${terms} (${returnedUnspent.length} tasks returned to the queue, attempt not spent)`],
          ['SIGKILLs', killed],
          [
            'broker restarts',
            `${brokerRestarts} (down ${((brokerDown[1] - brokerDown[0]) / 1000).toFixed(1)} s)`,
          ],
          [
            're-executed steps',
            `${reexecuted.length}, of which legitimate ${reexecuted.length - disallowed.length} (after the last durable checkpoint, or the corrupted one), not allowed ${disallowed.length}`,
          ],
          ['concurrent runs of one task', interleaved.length],
          [
            'poison deliveries',
            `${poisonDeliveries}; limit ${MAX_ATTEMPTS} attempts; smallest gap after a delayed retry ${minGap} ms (backoff floor ${minFloor} ms)`,
          ],
          [
            'gateway calls during the outage',
            `${outageCalls.length}, bound ${outageBound} (breaker: ${GUARD.consecutiveFailures} failures to open, 1 probe per ${GUARD.halfOpenAfterMs / 1000} s per worker, over ${((outage[1] - outage[0]) / 1000).toFixed(1)} s)`,
          ],
          [
            'consumer_timeout channel closures',
            `${timeouts} (long task resumed from its checkpoint: ${longResumed ? 'yes' : 'no'})`,
          ],
          [
            'corrupted checkpoint',
            corrupted
              ? `steps ${corrupted.fromStep}..${corrupted.toStep} re-run from the previous generation, ${fallbacks} fallback(s) logged`
              : 'not done',
          ],
          ['worker processes started', `${fleet.members.length} (${WORKERS} slots)`],
          [
            'wall time',
            `${(runMs / 1000).toFixed(1)} s from the fleet start, ${(wallMs / 1000).toFixed(1)} s with the broker start`,
          ],
        ],
      }),
    );
    process.stdout.write(`chaos suite: wrote ${target}\n`);
  }
});
