/**
 * The chaos suite's driver (worker/test/chaos.test.ts): a seeded PRNG, a fleet of `agent-worker`
 * processes respawned whenever they exit (as Kubernetes would), a local LLM gateway stand-in with
 * an outage switch, the pure analysis of the step log written by fixtures/chaos-handler.js, and the
 * Markdown page of the figures (docs/RELIABILITY.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startWorker, type WorkerProcess } from './harness';

export { prng } from '../../../testkit/random';

export interface FleetMember {
  readonly slot: number;
  readonly proc: WorkerProcess;
  readonly pid: number;
  readonly startedAt: number;
  exitedAt?: number;
  /** Set when the suite signalled it. */
  signalled?: NodeJS.Signals;
}

/** N worker slots; a worker that exits is replaced after `respawnDelayMs` until `stop()`. */
export class Fleet {
  readonly members: FleetMember[] = [];
  private respawning = true;

  constructor(
    private readonly size: number,
    private readonly envFor: (slot: number, incarnation: number) => Record<string, string>,
    private readonly respawnDelayMs = 300,
  ) {}

  start(): void {
    for (let slot = 0; slot < this.size; slot++) {
      this.spawn(slot);
    }
  }

  private spawn(slot: number): void {
    const incarnation = this.members.filter((m) => m.slot === slot).length;
    const proc = startWorker(this.envFor(slot, incarnation));
    const member: FleetMember = { slot, proc, pid: proc.child.pid ?? -1, startedAt: Date.now() };
    this.members.push(member);
    void proc.exited.then(() => {
      member.exitedAt = Date.now();
      if (this.respawning) {
        setTimeout(() => {
          if (this.respawning) this.spawn(slot);
        }, this.respawnDelayMs);
      }
    });
  }

  live(): FleetMember[] {
    return this.members.filter((m) => m.exitedAt === undefined && m.signalled === undefined);
  }

  byPid(pid: number): FleetMember | undefined {
    return this.members.find((m) => m.pid === pid);
  }

  signal(member: FleetMember, signal: NodeJS.Signals): void {
    member.signalled = signal;
    member.proc.kill(signal);
  }

  /** No more respawns; SIGTERM every live worker and wait for all of them. */
  async stop(): Promise<void> {
    this.respawning = false;
    for (const member of this.members) {
      if (member.exitedAt === undefined) member.proc.kill('SIGTERM');
    }
    await Promise.all(this.members.map((m) => m.proc.waitForExit(40_000)));
  }
}

export interface GatewayCall {
  readonly at: number;
  readonly pid: number;
  readonly status: number | 'reset';
}

export type GatewayMode = 'up' | '503' | 'reset';

/** A local HTTP stand-in for the LLM gateway: answers 200, or 503, or resets the connection. */
export interface Gateway {
  readonly url: string;
  readonly calls: GatewayCall[];
  mode: GatewayMode;
  close(): Promise<void>;
}

export async function startGateway(): Promise<Gateway> {
  const calls: GatewayCall[] = [];
  const gateway = { mode: 'up' as GatewayMode };
  const server = http.createServer((req, res) => {
    const pid = Number(req.headers['x-chaos-pid'] ?? -1);
    const at = Date.now();
    req.resume();
    if (gateway.mode === 'reset') {
      calls.push({ at, pid, status: 'reset' });
      req.socket.destroy();
      return;
    }
    const status = gateway.mode === '503' ? 503 : 200;
    calls.push({ at, pid, status });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status === 200 ? { answer: 42 } : { error: 'unavailable' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  return Object.assign(gateway, {
    url,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** One line of the step log: `<taskId> <step|end|poison> <attempt> <pid> <run> <epochMs>`. */
export interface StepLine {
  readonly taskId: string;
  readonly step: number | 'end' | 'poison';
  readonly attempt: number;
  readonly pid: number;
  /** `<pid>:<run>`: one handler execution. */
  readonly run: string;
  readonly at: number;
}

export function parseStepLog(text: string): StepLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [taskId, step, attempt, pid, run, at] = line.split(' ');
      return {
        taskId,
        step: step === 'end' || step === 'poison' ? step : Number(step),
        attempt: Number(attempt),
        pid: Number(pid),
        run: `${pid}:${run}`,
        at: Number(at),
      };
    });
}

export interface Reexecution {
  readonly taskId: string;
  readonly step: number;
  /** The execution(s) before this one, and the one repeating it. */
  readonly earlier: readonly string[];
  readonly again: string;
  readonly allowed: boolean;
  readonly why: string;
}

/** Steps whose checkpoint the suite destroyed on purpose: re-running them is the documented fallback. */
export type Corruptions = ReadonlyMap<string, { readonly fromStep: number; readonly toStep: number }>;

/**
 * Re-executed steps, each judged allowed or not.
 *
 * The handler logs step k, then checkpoints { step: k }, then starts step k+1 (or logs `end` after
 * the last checkpoint). So an execution of step k by run R is **durable** (its checkpoint reached
 * the disk) exactly when R later logged step k+1, or R logged `end` and k is R's last step; a run
 * logs nothing after its checkpoint call failed or the process died. A re-execution of step k is
 * **allowed** when no earlier execution of k was durable (the step came after the task's last
 * durable checkpoint: the process died, was stopped or lost the broker before checkpointing it),
 * or when the suite corrupted the task's checkpoint of step k (the worker falls back to the
 * previous generation, documented). Anything else is a disallowed re-execution: a checkpoint that
 * was durable and got lost, or a task that ran from scratch despite its checkpoint.
 */
export function findReexecutions(lines: readonly StepLine[], corruptions: Corruptions): Reexecution[] {
  const byRun = new Map<string, StepLine[]>();
  for (const line of lines) {
    if (line.step === 'poison') continue;
    const key = `${line.taskId}|${line.run}`;
    byRun.set(key, [...(byRun.get(key) ?? []), line]);
  }
  const durable = (taskId: string, run: string, step: number): boolean => {
    const own = byRun.get(`${taskId}|${run}`) ?? [];
    const steps = own.map((l) => l.step).filter((s): s is number => typeof s === 'number');
    return (
      own.some((l) => l.step === step + 1) ||
      (own.some((l) => l.step === 'end') && step === Math.max(...steps))
    );
  };
  const seen = new Map<string, string[]>();
  const found: Reexecution[] = [];
  for (const line of lines) {
    if (typeof line.step !== 'number') continue;
    const key = `${line.taskId}|${line.step}`;
    const earlier = seen.get(key) ?? [];
    if (earlier.length > 0) {
      const durableBefore = earlier.filter((run) => durable(line.taskId, run, line.step as number));
      const corruption = corruptions.get(line.taskId);
      let allowed = true;
      let why = 'the earlier execution never reached its checkpoint';
      if (durableBefore.length > 0) {
        if (corruption && line.step >= corruption.fromStep && line.step <= corruption.toStep) {
          why = 'the checkpoint of this step was corrupted on purpose; fell back to the previous generation';
        } else {
          allowed = false;
          why = `step was checkpointed by ${durableBefore.join(', ')} and ran again`;
        }
      }
      found.push({ taskId: line.taskId, step: line.step, earlier, again: line.run, allowed, why });
    }
    seen.set(key, [...earlier, line.run]);
  }
  return found;
}

/** Tasks whose executions interleave in the log (two runs of one task at once: the lease failed). */
export function interleavedRuns(lines: readonly StepLine[]): string[] {
  const finished = new Map<string, Set<string>>();
  const current = new Map<string, string>();
  const bad = new Set<string>();
  for (const line of lines) {
    const done = finished.get(line.taskId) ?? new Set<string>();
    finished.set(line.taskId, done);
    const running = current.get(line.taskId);
    if (running !== undefined && running !== line.run) {
      done.add(running);
    }
    if (done.has(line.run)) {
      bad.add(line.taskId);
    }
    current.set(line.taskId, line.run);
  }
  return [...bad];
}

/** Runs that started from a checkpoint (their first logged step is above 1). */
export function resumedRuns(
  lines: readonly StepLine[],
): Array<{ taskId: string; run: string; from: number }> {
  const first = new Map<string, StepLine>();
  for (const line of lines) {
    const key = `${line.taskId}|${line.run}`;
    if (typeof line.step === 'number' && !first.has(key)) first.set(key, line);
  }
  return [...first.values()]
    .filter((l) => (l.step as number) > 1)
    .map((l) => ({ taskId: l.taskId, run: l.run, from: (l.step as number) - 1 }));
}

/** The machine a run measured: CPUs, memory, OS, Node and the broker package. */
export function machineDescription(): string {
  const cpus = os.cpus();
  let rabbit = 'RabbitMQ';
  try {
    // dpkg-query's own placeholder, not a template literal
    const version = execFileSync('dpkg-query', ['-W', '-f', '$' + '{Version}', 'rabbitmq-server'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (version) rabbit = `RabbitMQ ${version.replace(/-.*$/, '')} (Debian rabbitmq-server)`;
  } catch {
    // not a Debian package: leave the version out
  }
  return [
    `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}`,
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `${os.type()} ${os.release()}`,
    `Node ${process.version}`,
    rabbit,
  ].join(', ');
}

export interface ReliabilityReport {
  readonly date: string;
  readonly machine: string;
  readonly seed: number;
  readonly size: string;
  readonly command: string;
  readonly faults: readonly string[];
  readonly figures: ReadonlyArray<readonly [string, string | number]>;
}

/** docs/RELIABILITY.md: what one green run of the chaos suite injected and measured. */
export function reliabilityDoc(report: ReliabilityReport): string {
  const cell = (value: string | number) => String(value).replace(/\|/g, '\\|');
  return [
    '# Reliability',
    '',
    "Figures of one green run of the worker's chaos suite (`worker/test/chaos.test.ts`; what it runs and",
    'checks is described in `worker/README.md`, "Chaos suite"). Written by the suite itself',
    '(`npm run test:chaos -- --write-doc`); do not edit by hand.',
    '',
    `- Date: ${report.date}`,
    `- Machine: ${report.machine}`,
    `- Seed: ${report.seed}`,
    `- Size: ${report.size}`,
    '',
    '## Injected faults',
    '',
    ...report.faults.map((fault) => `- ${fault}`),
    '',
    '## Figures',
    '',
    '| Figure | Value |',
    '| --- | --- |',
    ...report.figures.map(([name, value]) => `| ${cell(name)} | ${cell(value)} |`),
    '',
    'The run passed every check of the suite: no task lost, no duplicate result (identical copies',
    'from the documented crash window, same `messageId`, are counted apart), no step re-run after its',
    'durable checkpoint (except the corrupted one), no task run by two workers at once,',
    'poison tasks dead-lettered within the attempt limit and never sooner than the backoff floor,',
    'gateway calls during the outage within the breaker bound.',
    '',
    '## Reproduce',
    '',
    '```sh',
    report.command,
    '```',
    '',
    'The seed fixes the tasks, the injection plan and the choice of victims; process scheduling does',
    'not repeat exactly, so the figures vary a little from run to run.',
    '',
  ].join('\n');
}

/**
 * The log of the throwaway broker listening at `url` (support/rabbitmq.ts keeps it in its temp
 * directory, warnings and up), for a failure report; empty when it cannot be found.
 */
export function brokerLog(url: string): string {
  const listener = `127.0.0.1:${new URL(url).port}`;
  try {
    for (const name of readdirSync(os.tmpdir())) {
      if (!name.startsWith('agent-fleet-rabbit-')) continue;
      const dir = path.join(os.tmpdir(), name);
      const conf = path.join(dir, 'rabbitmq.conf');
      if (!existsSync(conf) || !readFileSync(conf, 'utf8').includes(listener)) continue;
      const logDir = path.join(dir, 'log');
      return readdirSync(logDir)
        .filter((file) => file.endsWith('.log'))
        .map((file) => readFileSync(path.join(logDir, file), 'utf8'))
        .join('\n');
    }
  } catch {
    // best effort
  }
  return '';
}
