/**
 * Issue 7: the chaos and fault suite. One throwaway broker (low consumer_timeout), a local LLM
 * gateway stand-in, a fleet of real `agent-worker` processes respawned whenever they exit, and
 * while they work through the tasks: seeded random SIGTERMs and SIGKILLs, one broker restart,
 * poison tasks (always throw; malformed JSON), a gateway outage, a corrupted checkpoint and a
 * consumer_timeout expiry on a long task. Then it accounts for every task and prints the figures.
 * `npm run test:chaos`; CHAOS_SEED=<n> picks another seed. See worker/README.md, "Chaos suite".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type * as amqp from 'amqplib';
import { ceilingDelayMs, retryTiersMs } from '../src/backoff';
import { type DeadLetterReason, Headers, type ResultMessage, retryQueueFor } from '../src/contract';
import { TaskCheckpoints } from '../src/store';
import {
  Fleet,
  type FleetMember,
  findReexecutions,
  type Gateway,
  interleavedRuns,
  parseStepLog,
  prng,
  resumedRuns,
  startGateway,
} from './support/chaos';
import {
  declareTopology,
  FIXTURES,
  killAll,
  makeTempDir,
  startWorker,
  TestClient,
  testSetup,
  waitFor,
} from './support/harness';
import { startRabbit, type TestRabbit } from './support/rabbitmq';

const SEED = Number(process.env.CHAOS_SEED ?? 20261127);
const WORKERS = 4;
const TASKS = 60;
const SIGTERMS = 6;
const SIGKILLS = 6;
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
// Injection times, ms after the fleet started.
const KILLS_BETWEEN: [number, number] = [2000, 28_000];
const OUTAGE: [number, number] = [6000, 10_000];
const BROKER_RESTART_AT = 16_000;

jest.setTimeout(240_000);

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
  for (let i = 0; i < TASKS - 2; i++) {
    const steps = 3 + Math.floor(random() * 3);
    const stepMs = 300 + Math.floor(random() * 300);
    inputs.set(`task-${String(i).padStart(2, '0')}`, { steps, stepMs, llm: true });
  }
  const poison = ['poison-1', 'poison-2'];
  const malformed = [
    { id: 'bad-json-1', body: '{"id": "bad-json-1", "input": ', messageId: 'bad-json-1' },
    { id: 'bad-json-2', body: 'bad-json-2: not JSON at all', messageId: undefined },
  ];
  const allIds = [...inputs.keys(), ...poison, ...malformed.map((m) => m.id)];
  let n = 0;
  for (const [id, input] of inputs) {
    await c.publishTask(setup.taskQueue, id, input);
    n += 1;
    if (n === 10) await c.publishTask(setup.taskQueue, poison[0], { mode: 'poison' });
    if (n === 20)
      await c.publishRaw(setup.taskQueue, malformed[0].body, { messageId: malformed[0].messageId });
    if (n === 30) await c.publishTask(setup.taskQueue, poison[1], { mode: 'poison' });
    if (n === 40) await c.publishRaw(setup.taskQueue, malformed[1].body);
  }

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
  const kills: Array<{ at: number; signal: NodeJS.Signals; pid: number; task: string | undefined }> = [];
  const killPlan = [
    ...Array.from({ length: SIGTERMS }, () => 'SIGTERM' as const),
    ...Array.from({ length: SIGKILLS }, () => 'SIGKILL' as const),
  ]
    .map((signal) => ({ signal, at: KILLS_BETWEEN[0] + random() * (KILLS_BETWEEN[1] - KILLS_BETWEEN[0]) }))
    .sort((a, b) => a.at - b.at);
  const killing = (async () => {
    for (const planned of killPlan) {
      await sleep(Math.max(0, t0 + planned.at - Date.now()));
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
        100,
      );
      const victim = candidates[Math.floor(random() * candidates.length)];
      kills.push({ at: Date.now() - t0, signal: planned.signal, pid: victim.pid, task: runningTask(victim) });
      fleet.signal(victim, planned.signal);
    }
  })();

  let outage: [number, number] = [0, 0];
  const outageDone = (async () => {
    await sleep(t0 + OUTAGE[0] - Date.now());
    const start = Date.now();
    gateway.mode = '503';
    await sleep((OUTAGE[1] - OUTAGE[0]) / 2);
    gateway.mode = 'reset'; // second half: connections reset instead of 503
    await sleep((OUTAGE[1] - OUTAGE[0]) / 2);
    gateway.mode = 'up';
    outage = [start, Date.now()];
  })();

  let brokerDown: [number, number] = [0, 0];
  const brokerRestart = (async () => {
    await sleep(t0 + BROKER_RESTART_AT - Date.now());
    const start = Date.now();
    await rabbit.pause();
    await rabbit.resume();
    brokerDown = [start, Date.now()];
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

  // --- collect -------------------------------------------------------------------------------
  const results: ResultMessage[] = [];
  const deadLetters: DeadLetter[] = [];
  const collect = async () => {
    try {
      const cl = client ?? (await openClient());
      for (const m of await cl.drain(setup.resultQueue)) {
        results.push(JSON.parse(m.content.toString('utf8')) as ResultMessage);
      }
      for (const m of await cl.drain(setup.deadQueue)) deadLetters.push(deadLetterOf(m));
    } catch {
      await client?.close();
      client = undefined; // the broker restarts: reopen on the next round
    }
  };
  const accountedFor = (id: string) =>
    results.some((r) => r.id === id) ||
    deadLetters.some((d) => d.id === id || (id === 'bad-json-2' && d.body === malformed[1].body));
  await Promise.all([killing, outageDone, brokerRestart, corruption, consumerTimeout]);
  await waitFor(
    'every task accounted for',
    async () => {
      await collect();
      return allIds.every(accountedFor);
    },
    150_000,
    250,
  ).catch((error: Error) => {
    const missing = allIds.filter((id) => !accountedFor(id));
    throw new Error(`${error.message}; not accounted for: ${missing.join(', ')}`);
  });

  // Quiesce: nothing left in the task queue or a retry tier, then stop the fleet (no respawns).
  const cl = client ?? (await openClient());
  const queues = [setup.taskQueue, ...retryTiersMs(RETRY).map((ms) => retryQueueFor(setup.taskQueue, ms))];
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
  let leftovers = 0;
  for (const q of queues) leftovers += await cl.messageCount(q);
  if (leftovers > 0) {
    const last = startWorker(workerEnv({ AGENT_IDLE_EXIT_SECONDS: '3', POD_NAME: 'chaos-sweeper' }));
    await last.waitForExit(60_000);
  }
  await sleep(500);
  await collect();
  const runMs = Date.now() - t0;

  // --- analysis ------------------------------------------------------------------------------
  const steps = readLog();
  const resultsById = new Map<string, ResultMessage[]>();
  for (const r of results) resultsById.set(r.id, [...(resultsById.get(r.id) ?? []), r]);
  const duplicates = [...resultsById]
    .filter(([, rs]) => rs.length > 1)
    .map(([id, rs]) => `${id}×${rs.length}`);
  const lost = allIds.filter((id) => !accountedFor(id));
  const unknownResults = [...resultsById.keys()].filter((id) => !allIds.includes(id));
  const deadByReason = new Map<string, number>();
  for (const d of deadLetters)
    deadByReason.set(d.reason ?? '(none)', (deadByReason.get(d.reason ?? '(none)') ?? 0) + 1);
  const deadWithoutReason = deadLetters.filter((d) => d.reason === undefined);
  const regular = [...inputs.keys()];
  const succeeded = regular.filter((id) => resultsById.get(id)?.[0]?.status === 'succeeded');
  const wrongOutput = succeeded.filter(
    (id) =>
      (resultsById.get(id)?.[0]?.output as { steps?: number } | undefined)?.steps !== inputs.get(id)?.steps,
  );
  const regularDead = regular.filter((id) => !succeeded.includes(id));

  const corruptions = new Map(corrupted ? [[corrupted.taskId, corrupted]] : []);
  const reexecuted = findReexecutions(steps, corruptions);
  const disallowed = reexecuted.filter((r) => !r.allowed);
  const interleaved = interleavedRuns(steps);
  const workerLines = fleet.members.flatMap((m) => m.proc.lines);
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

  // Poison: deliveries (handler runs) per task and the gap after each delayed retry.
  const poisonFigures = poison.map((id) => {
    const runs = steps.filter((l) => l.taskId === id && l.step === 'poison');
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
    return { id, deliveries: runs.length, gaps, interrupted, reason: dead?.reason };
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
  const rows: Array<[string, string | number]> = [
    ['seed', SEED],
    ['workers (slots) / processes started', `${WORKERS} / ${fleet.members.length}`],
    ['worker exits by code/signal', [...exits].map(([k, v]) => `${k}:${v}`).join(' ')],
    ['other worker exits (reason: last warning)', otherExits.join('; ') || 'none'],
    ['tasks published', allIds.length],
    ['results', results.length],
    ['  succeeded (regular tasks)', `${succeeded.length} of ${regular.length}`],
    ['dead-lettered', deadLetters.length],
    ...[...deadByReason].map(([reason, count]): [string, number] => [`  reason ${reason}`, count]),
    ['regular tasks dead-lettered', regularDead.length],
    ['lost', lost.length],
    ['duplicate results', duplicates.length],
    [
      're-executed steps (allowed / not allowed)',
      `${reexecuted.length - disallowed.length} / ${disallowed.length}`,
    ],
    ['concurrent runs of one task', interleaved.length],
    ['resumed tasks', resumedTasks.size],
    ['kills SIGTERM / SIGKILL', `${terms} / ${killed}`],
    ['broker restarts (down ms)', `1 (${brokerDown[1] - brokerDown[0]})`],
    ['consumer_timeout channel closures (long task resumed)', `${timeouts} (${longResumed})`],
    [
      'corrupted checkpoint (steps, fallbacks logged)',
      corrupted ? `${corrupted.fromStep}..${corrupted.toStep}, ${fallbacks}` : 'not done',
    ],
    [
      'gateway calls during outage / bound',
      `${outageCalls.length} / ${outageBound} (${outage[1] - outage[0]} ms)`,
    ],
    [
      'poison deliveries (limit)',
      `${poisonFigures.map((p) => `${p.id}:${p.deliveries}`).join(' ')} (${MAX_ATTEMPTS})`,
    ],
    ['poison min gap / backoff floor ms', `${minGap} / ${minFloor}`],
    ['run time s', (runMs / 1000).toFixed(1)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
  const summary = `tasks ${allIds.length} results ${results.length} dead-lettered ${deadLetters.length} lost ${lost.length} duplicates ${duplicates.length} resumed ${resumedTasks.size} kills ${terms + killed} broker-restarts 1`;
  // On a failure, the worker log lines and step log lines of the tasks concerned.
  const suspects = new Set([
    ...lost,
    ...duplicates.map((d) => d.split('×')[0]),
    ...disallowed.map((r) => r.taskId),
    ...interleaved,
  ]);
  for (const id of suspects) {
    const lines = fleet.members.flatMap((m) =>
      m.proc.lines.filter((l) => l.taskId === id).map((l) => `  ${l.time} ${m.pid} ${l.attempt} ${l.msg}`),
    );
    const stepLines = steps
      .filter((l) => l.taskId === id)
      .map((l) => `  step ${l.step} run ${l.run} at ${l.at}`);
    process.stdout.write(
      `\n${id}: worker log\n${lines.sort().join('\n')}\n${id}: step log\n${stepLines.join('\n')}\n`,
    );
  }
  process.stdout.write(`\nchaos suite figures\n${table}\n${summary}\n`);

  // --- the checks ----------------------------------------------------------------------------
  const detail = (what: string, items: unknown[]) => ({ what, items });
  expect(detail('lost task ids', lost)).toEqual(detail('lost task ids', []));
  expect(detail('duplicate results', duplicates)).toEqual(detail('duplicate results', []));
  expect(detail('results for unknown ids', unknownResults)).toEqual(detail('results for unknown ids', []));
  expect(detail('dead letters without a reason', deadWithoutReason)).toEqual(
    detail('dead letters without a reason', []),
  );
  // Every task: exactly one result, or a dead letter with a reason (a task with an id gets both).
  for (const id of allIds) {
    const count = resultsById.get(id)?.length ?? 0;
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
    expect(p.deliveries).toBeLessThanOrEqual(MAX_ATTEMPTS);
    expect(p.gaps.length).toBeGreaterThan(0);
  }
  expect(detail('poison redeliveries sooner than the backoff floor', gapsBelowFloor)).toEqual(
    detail('poison redeliveries sooner than the backoff floor', []),
  );
  for (const m of malformed) {
    const dead = deadLetters.filter((d) => d.id === m.id || d.body === m.body);
    expect({ id: m.id, reasons: dead.map((d) => d.reason) }).toEqual({ id: m.id, reasons: ['invalid-json'] });
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
  expect(brokerDown[1]).toBeGreaterThan(brokerDown[0]);
});
