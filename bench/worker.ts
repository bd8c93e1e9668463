/**
 * Benchmarks 2–5: the worker runtime (`agent-worker`, a real process on a real broker) against
 * hand-written baselines doing the same work, measured in the same run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Env, ExitCode } from '@agent-fleet/contract';
import { TaskCheckpoints } from '@agent-fleet/worker';
import * as amqp from 'amqplib';
import { freePort } from '../testkit/ports';
import { readFileWaits, readProfile, type TimeByComponent, timeByComponent } from './profile';

const ROOT = join(__dirname, '..', '..', '..');
const WORKER_BIN = join(ROOT, 'worker', 'dist', 'bin.js');
const BENCH_DIR = join(ROOT, 'bench');

interface Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Resolves when a stdout line contains `text`. */
  line(text: string): Promise<void>;
}

function start(command: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer = (buffer + chunk.toString()).slice(-4096);
    for (const w of waiters.splice(0)) {
      if (buffer.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // 'close' comes after the last stdout data, unlike 'exit'.
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    exited,
    line: (text) =>
      new Promise((resolve, reject) => {
        if (buffer.includes(text)) return resolve();
        waiters.push({ text, resolve });
        closed.then((code) => reject(new Error(`${command} exited (${code}) before printing "${text}"`)));
      }),
  };
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

/** Rejects after `ms`, naming `what`: a stuck phase fails the benchmark instead of hanging it. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no progress within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error('no VmRSS');
  return Number(match[1]);
}

/** A worker process on its own queues with its own checkpoint directory. */
async function workerEnv(
  url: string,
  handler: string,
  extra: Record<string, string> = {},
  checkpointBase = tmpdir(),
) {
  const id = randomBytes(4).toString('hex');
  const checkpointDir = mkdtempSync(join(checkpointBase, 'bench-ckpt-'));
  const port = await freePort();
  return {
    queue: `bench-${id}`,
    results: `bench-${id}-results`,
    checkpointDir,
    port,
    env: {
      [Env.TASK_QUEUE_URL]: url,
      [Env.TASK_QUEUE_NAME]: `bench-${id}`,
      [Env.RESULT_QUEUE_NAME]: `bench-${id}-results`,
      [Env.AGENT_HANDLER]: join(BENCH_DIR, 'handlers', handler),
      [Env.CHECKPOINT_DIR]: checkpointDir,
      [Env.METRICS_PORT]: String(port),
      [Env.AGENT_IDLE_EXIT_SECONDS]: '600',
      [Env.AGENT_SHUTDOWN_SECONDS]: '10',
      [Env.POD_NAME]: `bench-${id}`,
      // No Prometheus scrapes the benchmark: exit without waiting for a last scrape.
      [Env.AGENT_SCRAPE_WAIT_SECONDS]: '0',
      ...extra,
    },
  };
}

/**
 * Starts the worker of `w` once, unmeasured, and stops it when ready: that start declares its
 * topology (quorum queue, dead-lettering) and makes its store's task subdirectories, as the first
 * pod on a queue and a volume does; measured starts then find both, as every later pod does.
 */
async function primeWorker(w: { env: Record<string, string>; port: number }): Promise<void> {
  const primer = start(process.execPath, [WORKER_BIN], w.env);
  await until('worker ready', async () => (await httpStatus(w.port, '/readyz')) === 200);
  primer.child.kill('SIGTERM');
  await primer.exited;
}

async function publishTasks(channel: amqp.ConfirmChannel, queue: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    channel.publish('', queue, Buffer.from(JSON.stringify({ id: `t-${i}`, input: { i } })), {
      persistent: true,
    });
  }
  await channel.waitForConfirms();
}

/** CLOCK_MONOTONIC in µs: the clock of V8's CPU profiles, the same in every process. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The results of a run: their rate, and when the first and the last arrived (monotonic µs). */
interface ResultWindow {
  readonly perSec: number;
  readonly firstUs: number;
  readonly lastUs: number;
}

/** Messages/s between the first and the last result on `resultQueue`. */
async function resultRate(
  channel: amqp.Channel,
  resultQueue: string,
  count: number,
  run: () => Promise<void>,
): Promise<ResultWindow> {
  await channel.assertQueue(resultQueue, { durable: true });
  let first = 0;
  let last = 0;
  let seen = 0;
  const done = new Promise<void>((resolve) => {
    void channel.consume(
      resultQueue,
      () => {
        seen += 1;
        if (seen === 1) first = monotonicUs();
        if (seen === count) {
          last = monotonicUs();
          resolve();
        }
      },
      { noAck: true },
    );
  });
  await run();
  await done;
  return { perSec: ((count - 1) * 1e6) / (last - first), firstUs: first, lastUs: last };
}

/** Event-loop delay a benchmarked process saw (bench/eld-preload.js), in ms. */
export interface LoopDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** NODE_OPTIONS and the output file that make a child record its event-loop delay. */
function loopDelayProbe() {
  const file = join(mkdtempSync(join(tmpdir(), 'bench-eld-')), 'eld.json');
  return {
    env: { NODE_OPTIONS: `--require ${join(BENCH_DIR, 'eld-preload.js')}`, BENCH_ELD_OUT: file },
    read: (): LoopDelay => {
      const value = JSON.parse(readFileSync(file, 'utf8')) as LoopDelay;
      rmSync(join(file, '..'), { recursive: true, force: true });
      return value;
    },
  };
}

/** Time of one GET on a fresh connection (as the kubelet probes), or undefined when refused. */
function probeLatency(port: number, path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : undefined));
    });
    req.on('error', () => resolve(undefined));
  });
}

/** Polls `/healthz` every `intervalMs` until stopped; resolves with the latencies of the answers. */
function pollHealthz(port: number, intervalMs: number) {
  let stopped = false;
  const samples: number[] = [];
  const polling = (async () => {
    while (!stopped) {
      const ms = await probeLatency(port, '/healthz');
      if (ms !== undefined && !stopped) samples.push(ms);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await polling;
      return samples;
    },
  };
}

/** Where a worker keeps its checkpoints in a throughput run. */
export interface CheckpointStoreUnderTest {
  /** Short name for the tables. */
  readonly name: string;
  /** What it is, for the text. */
  readonly description: string;
  /** Directory in which each run makes its checkpoint directory. */
  readonly base: string;
  /** Tasks per run on this store (a slow store gets fewer; the rate is per second either way). */
  readonly tasks: number;
  /** The daemon's round-trip counter, when the store is the latency file system. */
  readonly roundTrips?: () => number;
}

/** One worker run: its rate, the loop delay inside it, /healthz latencies polled during it. */
export interface WorkerRun {
  readonly perSec: number;
  readonly loopDelay: LoopDelay;
  readonly healthzMs: number[];
  /** File-system round trips per task (latency store only), startup included. */
  readonly roundTripsPerTask?: number;
}

/** One raw-loop run: its rate and the loop delay inside it. */
export interface RawRun {
  readonly perSec: number;
  readonly loopDelay: LoopDelay;
}

/** A tmpfs mount for the "without disk cost" variant, when the machine has one. */
export const TMPFS = existsSync('/dev/shm') ? '/dev/shm' : undefined;

/** How often /healthz is polled during a throughput run. */
const HEALTHZ_POLL_MS = 20;

async function workerThroughput(
  url: string,
  channel: amqp.ConfirmChannel,
  handler: string,
  concurrency: number,
  store: CheckpointStoreUnderTest,
): Promise<WorkerRun> {
  const tasks = store.tasks;
  const w = await workerEnv(
    url,
    handler,
    { [Env.AGENT_MAX_TASKS]: String(tasks), [Env.AGENT_CONCURRENCY]: String(concurrency) },
    store.base,
  );
  await primeWorker(w);
  await publishTasks(channel, w.queue, tasks);
  const probe = loopDelayProbe();
  const roundTrips0 = store.roundTrips?.();
  let healthzMs: number[] = [];
  const { perSec } = await resultRate(channel, w.results, tasks, async () => {
    const proc = start(process.execPath, [WORKER_BIN], { ...w.env, ...probe.env });
    const poller = pollHealthz(w.port, HEALTHZ_POLL_MS);
    const code = await withTimeout(proc.exited, 600_000, 'draining the queue');
    healthzMs = await poller.stop();
    if (code !== ExitCode.succeeded) throw new Error(`worker exited ${code}`);
  });
  const roundTripsPerTask =
    roundTrips0 === undefined ? undefined : ((store.roundTrips?.() ?? 0) - roundTrips0) / tasks;
  rmSync(w.checkpointDir, { recursive: true, force: true });
  return { perSec, loopDelay: probe.read(), healthzMs, roundTripsPerTask };
}

async function rawThroughput(
  url: string,
  channel: amqp.ConfirmChannel,
  prefetch: number,
  tasks: number,
): Promise<RawRun> {
  const id = randomBytes(4).toString('hex');
  const queue = `bench-raw-${id}`;
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await publishTasks(channel, queue, tasks);
  const probe = loopDelayProbe();
  const { perSec } = await resultRate(channel, `${queue}-results`, tasks, async () => {
    const proc = start(
      process.execPath,
      [
        join(BENCH_DIR, 'baselines', 'raw-consumer.js'),
        url,
        queue,
        `${queue}-results`,
        String(prefetch),
        String(tasks),
      ],
      probe.env,
    );
    const code = await withTimeout(proc.exited, 600_000, 'draining the queue');
    if (code !== 0) throw new Error(`raw consumer exited ${code}`);
  });
  await channel.deleteQueue(queue);
  await channel.deleteQueue(`${queue}-results`);
  return { perSec, loopDelay: probe.read() };
}

export interface ThroughputResult {
  /** AGENT_CONCURRENCY of the worker, and the prefetch of the raw loop. */
  readonly prefetch: number;
  readonly store: string;
  /** The raw loop at this prefetch, run right before the workers of the same round. */
  readonly raw: RawRun[];
  /** The runtime with a no-op handler. */
  readonly worker: WorkerRun[];
  /** The runtime with a handler writing one checkpoint per task (first store only). */
  readonly checkpoint: WorkerRun[];
}

export interface StoreOpsResult {
  readonly store: string;
  /** ms per task of the protocol's file operations alone (lease, markers), on that store. */
  readonly ms: number[];
}

/**
 * Throughput of the raw loop and of the runtime for each prefetch, the runtime once per checkpoint
 * store; rounds interleave all of them, so drift of the machine spreads over every figure.
 */
export async function benchThroughput(
  url: string,
  prefetches: number[],
  stores: CheckpointStoreUnderTest[],
  runs: number,
  rawTasks: number,
) {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  const results: ThroughputResult[] = [];
  for (const store of stores) {
    for (const prefetch of prefetches) {
      results.push({ prefetch, store: store.name, raw: [], worker: [], checkpoint: [] });
    }
  }
  const storeOps: StoreOpsResult[] = stores.map((s) => ({ store: s.name, ms: [] }));
  for (let i = 0; i < runs; i++) {
    for (const prefetch of prefetches) {
      const raw = await rawThroughput(url, channel, prefetch, rawTasks);
      for (const [k, store] of stores.entries()) {
        const r = results.find((x) => x.store === store.name && x.prefetch === prefetch)!;
        r.raw.push(raw);
        r.worker.push(await workerThroughput(url, channel, 'noop.js', prefetch, store));
        if (k === 0)
          r.checkpoint.push(await workerThroughput(url, channel, 'checkpoint.js', prefetch, store));
      }
    }
    for (const [k, store] of stores.entries()) {
      // Fewer tasks on the network-like store: each takes tens of ms there.
      storeOps[k].ms.push(
        await benchStoreOps(store.roundTrips ? Math.min(store.tasks, 50) : store.tasks, store.base),
      );
    }
  }
  await connection.close();
  return { results, storeOps };
}

/** How often the V8 CPU profiler samples a profiled run, µs. */
export const PROFILE_INTERVAL_US = 250;

/** Node arguments that make a child write a CPU profile into a fresh directory, and its reader. */
function profiled() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-prof-'));
  const fileWaits = join(dir, 'fs-waits.json');
  return {
    args: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${PROFILE_INTERVAL_US}`],
    env: { NODE_OPTIONS: `--require ${join(BENCH_DIR, 'fs-wait-preload.js')}`, BENCH_FS_OUT: fileWaits },
    read: (fromUs: number, toUs: number): TimeByComponent => {
      const profile = readProfile(dir);
      const waits = readFileWaits(fileWaits).intervals;
      return timeByComponent(profile, waits, fromUs, toUs);
    },
    /** CommonJS modules the process had loaded when it exited. */
    modules: () => readFileWaits(fileWaits).modules,
    remove: () => rmSync(dir, { recursive: true, force: true }),
    /** When the profiler started (monotonic µs): the node's own boot came before. */
    startedUs: () => readProfile(dir).startTime,
  };
}

/** One profiled run: ms per task by component, between the first and the last result. */
export interface ProfiledRun {
  readonly msPerTask: TimeByComponent;
  readonly wallMsPerTask: number;
}

export interface BreakdownResult {
  readonly prefetch: number;
  readonly raw: ProfiledRun;
  readonly worker: ProfiledRun;
}

function perTask(window: ResultWindow, tasks: number, time: TimeByComponent): ProfiledRun {
  const per = (ms: number) => ms / (tasks - 1);
  return {
    msPerTask: Object.fromEntries(Object.entries(time).map(([k, v]) => [k, per(v)])) as TimeByComponent,
    wallMsPerTask: per((window.lastUs - window.firstUs) / 1000),
  };
}

/**
 * One more run of the raw loop and of the runtime (no-op handler) per prefetch, each under the V8
 * CPU profiler and with its file operations timed: what each spends per task, by component.
 */
export async function benchBreakdown(
  url: string,
  prefetches: number[],
  tasks: number,
  checkpointBase = tmpdir(),
): Promise<BreakdownResult[]> {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  const results: BreakdownResult[] = [];
  for (const prefetch of prefetches) {
    const id = randomBytes(4).toString('hex');
    const queue = `bench-prof-raw-${id}`;
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await publishTasks(channel, queue, tasks);
    const rawProfile = profiled();
    const rawWindow = await resultRate(channel, `${queue}-results`, tasks, async () => {
      const script = join(BENCH_DIR, 'baselines', 'raw-consumer.js');
      const args = [url, queue, `${queue}-results`, String(prefetch), String(tasks)];
      const proc = start(process.execPath, [...rawProfile.args, script, ...args], rawProfile.env);
      const code = await withTimeout(proc.exited, 600_000, 'draining the queue');
      if (code !== 0) throw new Error(`raw consumer exited ${code}`);
    });
    await channel.deleteQueue(queue);
    await channel.deleteQueue(`${queue}-results`);
    const raw = perTask(rawWindow, tasks, rawProfile.read(rawWindow.firstUs, rawWindow.lastUs));
    rawProfile.remove();

    const w = await workerEnv(
      url,
      'noop.js',
      { [Env.AGENT_MAX_TASKS]: String(tasks), [Env.AGENT_CONCURRENCY]: String(prefetch) },
      checkpointBase,
    );
    await primeWorker(w);
    await publishTasks(channel, w.queue, tasks);
    const workerProfile = profiled();
    const workerWindow = await resultRate(channel, w.results, tasks, async () => {
      const proc = start(process.execPath, [...workerProfile.args, WORKER_BIN], {
        ...w.env,
        ...workerProfile.env,
      });
      const code = await withTimeout(proc.exited, 600_000, 'draining the queue');
      if (code !== ExitCode.succeeded) throw new Error(`worker exited ${code}`);
    });
    rmSync(w.checkpointDir, { recursive: true, force: true });
    const worker = perTask(
      workerWindow,
      tasks,
      workerProfile.read(workerWindow.firstUs, workerWindow.lastUs),
    );
    workerProfile.remove();
    results.push({ prefetch, raw, worker });
  }
  await connection.close();
  return results;
}

export interface StartupResult {
  readonly rawColdStartMs: number[];
  readonly workerColdStartMs: number[];
  readonly rawIdleRssKiB: number[];
  readonly workerIdleRssKiB: number[];
  /** `node -e "require(...)"`, spawn to exit: the worker package vs amqplib + prom-client. */
  readonly rawRequireMs: number[];
  readonly workerRequireMs: number[];
  /** Spawn until the worker logs "agent worker starting" (node, modules, settings, handler). */
  readonly workerLoadedMs: number[];
  /** From that line until it logs "consuming" (metrics server, store, connection, topology, consume). */
  readonly workerConnectMs: number[];
  /** One more start of each under the CPU profiler: where spawn → ready went. */
  readonly rawProfiled: ProfiledStart;
  readonly workerProfiled: ProfiledStart;
}

/** A profiled start: Node's boot before the profiler ran, then the profile by component, in ms. */
export interface ProfiledStart {
  readonly bootMs: number;
  readonly time: TimeByComponent;
  readonly totalMs: number;
  /** CommonJS modules loaded (by exit, a moment after ready). */
  readonly modules: number;
}

/** Spawn → exit of `node -e <code>` run from the repository root (so packages resolve). */
async function timeRequire(code: string): Promise<number> {
  const t0 = performance.now();
  // The environment of every measured child (see `start`): variables such as NODE_EXTRA_CA_CERTS,
  // which makes each Node process read a CA bundle at boot, would otherwise count here only.
  const child = spawn(process.execPath, ['-e', code], {
    cwd: ROOT,
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '' },
  });
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (status !== 0) throw new Error(`node -e "${code}" exited ${status}`);
  return performance.now() - t0;
}

/** Cold start (spawn → consumer registered and /readyz 200) and idle RSS one second later. */
export async function benchStartup(url: string, runs: number): Promise<StartupResult> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const result: Omit<StartupResult, 'rawProfiled' | 'workerProfiled'> = {
    rawColdStartMs: [],
    workerColdStartMs: [],
    rawIdleRssKiB: [],
    workerIdleRssKiB: [],
    rawRequireMs: [],
    workerRequireMs: [],
    workerLoadedMs: [],
    workerConnectMs: [],
  };
  const idleQueue = `bench-idle-${randomBytes(4).toString('hex')}`;
  await channel.assertQueue(idleQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  // Both sides start against queues that exist (every pod after the first does): the baseline's
  // queue is declared above, the worker's topology by one unmeasured start here.
  const w = await workerEnv(url, 'noop.js');
  await primeWorker(w);
  for (let i = 0; i < runs; i++) {
    const raw0 = performance.now();
    const raw = start(process.execPath, [join(BENCH_DIR, 'baselines', 'idle-consumer.js'), url, idleQueue]);
    await withTimeout(raw.line('BENCH ready'), 30_000, 'baseline consumer start');
    result.rawColdStartMs.push(performance.now() - raw0);
    await new Promise((r) => setTimeout(r, 1000));
    result.rawIdleRssKiB.push(rssKiB(raw.child.pid!));
    raw.child.kill('SIGKILL');
    await raw.exited;

    const w0 = performance.now();
    const worker = start(process.execPath, [WORKER_BIN], w.env);
    const loaded = worker.line('"msg":"agent worker starting"').then(() => performance.now());
    const consuming = worker.line('"msg":"consuming"').then(() => performance.now());
    await until('worker ready', async () => (await httpStatus(w.port, '/readyz')) === 200);
    result.workerColdStartMs.push(performance.now() - w0);
    result.workerLoadedMs.push((await loaded) - w0);
    result.workerConnectMs.push((await consuming) - (await loaded));
    await new Promise((r) => setTimeout(r, 1000));
    result.workerIdleRssKiB.push(rssKiB(worker.child.pid!));
    worker.child.kill('SIGTERM');
    await worker.exited;
    result.rawRequireMs.push(await timeRequire("require('amqplib'); require('prom-client')"));
    result.workerRequireMs.push(await timeRequire("require('@agent-fleet/worker')"));
  }
  const rawProfile = profiled();
  const raw0 = monotonicUs();
  const raw = start(
    process.execPath,
    [...rawProfile.args, join(BENCH_DIR, 'baselines', 'idle-consumer.js'), url, idleQueue],
    rawProfile.env,
  );
  await withTimeout(raw.line('BENCH ready'), 30_000, 'baseline consumer start');
  const rawReady = monotonicUs();
  raw.child.kill('SIGTERM');
  await raw.exited;
  const workerProfile = profiled();
  const worker0 = monotonicUs();
  const worker = start(process.execPath, [...workerProfile.args, WORKER_BIN], {
    ...w.env,
    ...workerProfile.env,
  });
  await until('worker ready', async () => (await httpStatus(w.port, '/readyz')) === 200);
  const workerReady = monotonicUs();
  worker.child.kill('SIGTERM');
  await worker.exited;
  const startOf = (p: ReturnType<typeof profiled>, spawnedUs: number, readyUs: number): ProfiledStart => {
    const startedUs = p.startedUs();
    const profiledStart = {
      bootMs: (startedUs - spawnedUs) / 1000,
      time: p.read(startedUs, readyUs),
      totalMs: (readyUs - spawnedUs) / 1000,
      modules: p.modules(),
    };
    p.remove();
    return profiledStart;
  };
  rmSync(w.checkpointDir, { recursive: true, force: true });
  await connection.close();
  return {
    ...result,
    rawProfiled: startOf(rawProfile, raw0, rawReady),
    workerProfiled: startOf(workerProfile, worker0, workerReady),
  };
}

export interface ShutdownSide {
  /** SIGTERM → the 1 MB of state is durable. */
  readonly durableMs: number[];
  /** SIGTERM → the process exited. */
  readonly exitMs: number[];
}

export interface ShutdownResult {
  /** Writes 1 MB durably and exits: no broker. */
  readonly fileOnly: ShutdownSide;
  /** Hand-written amqplib: cancel, 1 MB durably, publish the task back (confirmed), ack, close. */
  readonly amqp: ShutdownSide;
  /** The runtime, handler checkpointing 1 MB on `ctx.signal`. */
  readonly worker: ShutdownSide;
}

/** SIGTERM on a process holding one task and 1 MB of state, until the state is durable and until exit. */
async function timeShutdown(
  proc: Proc,
  side: { durableMs: number[]; exitMs: number[] },
  durableLine: boolean,
) {
  await withTimeout(proc.line('BENCH working'), 30_000, 'waiting for the task to run');
  const t0 = performance.now();
  const durable = durableLine ? proc.line('BENCH durable').then(() => performance.now() - t0) : undefined;
  proc.child.kill('SIGTERM');
  const code = await withTimeout(proc.exited, 20_000, 'shutdown');
  const exitMs = performance.now() - t0;
  side.exitMs.push(exitMs);
  side.durableMs.push(durable ? await durable : exitMs);
  return code;
}

/** SIGTERM → 1 MB checkpoint durable → task back in the queue → exit, vs two hand-written baselines. */
export async function benchShutdown(url: string, runs: number): Promise<ShutdownResult> {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  const side = () => ({ durableMs: [] as number[], exitMs: [] as number[] });
  const result: ShutdownResult = { fileOnly: side(), amqp: side(), worker: side() };
  const w = await workerEnv(url, 'shutdown.js');
  const rawQueue = `bench-shutdown-raw-${randomBytes(4).toString('hex')}`;
  await channel.assertQueue(rawQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await publishTasks(channel, rawQueue, 1);
  let published = false;
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-shutdown-'));
    await timeShutdown(
      start(process.execPath, [join(BENCH_DIR, 'baselines', 'shutdown.js'), dir]),
      result.fileOnly,
      false,
    );
    const raw = start(process.execPath, [
      join(BENCH_DIR, 'baselines', 'shutdown-amqp.js'),
      url,
      rawQueue,
      dir,
    ]);
    const rawCode = await timeShutdown(raw, result.amqp, true);
    if (rawCode !== ExitCode.interrupted) throw new Error(`amqplib baseline exited ${rawCode}`);
    rmSync(dir, { recursive: true, force: true });

    const worker = start(process.execPath, [WORKER_BIN], w.env);
    if (!published) {
      await until('worker ready', async () => (await httpStatus(w.port, '/readyz')) === 200);
      await publishTasks(channel, w.queue, 1);
      published = true;
    }
    const code = await timeShutdown(worker, result.worker, true);
    if (code !== ExitCode.interrupted)
      throw new Error(`worker exited ${code}, expected ${ExitCode.interrupted}`);
  }
  if (!existsSync(w.checkpointDir)) throw new Error('checkpoint directory vanished');
  rmSync(w.checkpointDir, { recursive: true, force: true });
  await channel.deleteQueue(rawQueue);
  await connection.close();
  return result;
}

/**
 * The file operations the runtime's per-task protocol does, without the broker or a handler: take
 * the lease, read the done marker and the checkpoint, write the `publishing` marker, rename it
 * `published`, drop the lease. Explains the throughput gap: the raw loop does none of them.
 */
export async function benchStoreOps(tasks: number, checkpointBase = tmpdir()): Promise<number> {
  const dir = mkdtempSync(join(checkpointBase, 'bench-store-'));
  const store = new TaskCheckpoints(dir);
  // As the worker does: finds which record format the volume takes.
  await store.prepare();
  const outcome = { result: { id: '', status: 'succeeded' as const, output: {}, attempts: 1 } };
  const t0 = performance.now();
  for (let i = 0; i < tasks; i++) {
    const id = `t-${i}`;
    await store.acquireLease(id, 'bench', 30_000);
    await Promise.all([store.readDone(id), store.readCheckpoint(id)]);
    await store.writeDone(id, 'publishing', outcome);
    await store.writeDone(id, 'published', outcome);
    await store.releaseLease(id, 'bench', { stillLive: true });
  }
  const msPerTask = (performance.now() - t0) / tasks;
  rmSync(dir, { recursive: true, force: true });
  return msPerTask;
}
