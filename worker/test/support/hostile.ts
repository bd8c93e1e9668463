/**
 * Helpers for the hostile-input tests: a worker running the hostile fixture, the results and dead
 * letters as the tests judge them (body plus the headers that say what they answer), the fixture's
 * run log, and a fingerprint of the checkpoint directory to prove a message never touched it.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Env, Headers, type ResultMessage, taskFileStem } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import {
  FIXTURES,
  makeTempDir,
  startWorker,
  type TestClient,
  type TestSetup,
  type WorkerProcess,
} from './harness';

export const HOSTILE_HANDLER = path.join(FIXTURES, 'hostile-handler.js');

/** The UTF-8 byte-order mark some tools put in front of a JSON file. */
export const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A header of our own on every published message, so a dead letter names the message it copies. */
export const SEQ_HEADER = 'x-hostile-seq';

/** A worker running the hostile fixture, and the run log the fixture appends to. */
export interface HostileWorker {
  readonly worker: WorkerProcess;
  readonly runLog: string;
}

/** A fresh run log file name (the fixture creates the file on its first run). */
export function newRunLog(): string {
  return path.join(makeTempDir('agent-hostile-runs-'), 'runs.jsonl');
}

/**
 * Starts the real `agent-worker` with the hostile fixture and waits until it consumes. The worker's
 * "consuming" line says which AGENT_CONCURRENCY it got; one that did not get `concurrency` is
 * refused here, so no test silently runs one task at a time.
 */
export async function startHostileWorker(
  setup: TestSetup,
  options: { runLog?: string; concurrency?: number; env?: Record<string, string> } = {},
): Promise<HostileWorker> {
  const runLog = options.runLog ?? newRunLog();
  const concurrency = options.concurrency ?? 1;
  const worker = startWorker(
    setup.env({
      [Env.AGENT_HANDLER]: HOSTILE_HANDLER,
      [Env.AGENT_CONCURRENCY]: String(concurrency),
      HOSTILE_RUN_LOG: runLog,
      ...options.env,
    }),
  );
  const consuming = await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  if (consuming.concurrency !== concurrency) {
    worker.kill('SIGKILL');
    throw new Error(
      `the worker consumes with concurrency ${String(consuming.concurrency)}, not ${concurrency}`,
    );
  }
  return { worker, runLog };
}

/** A result as the tests judge it: its body and the properties that say what it answers. */
export interface ReceivedResult {
  readonly body: ResultMessage;
  /** Set only on a result that answers a malformed message, not a task. */
  readonly deadLetterReason: unknown;
  readonly messageId: unknown;
}

export function asResult(message: amqp.GetMessage): ReceivedResult {
  return {
    body: JSON.parse(message.content.toString('utf8')) as ResultMessage,
    deadLetterReason: message.properties.headers?.[Headers.deadLetterReason],
    messageId: message.properties.messageId,
  };
}

/** A dead-lettered copy: the original body and headers, plus the worker's reason. */
export interface DeadLetter {
  readonly content: Buffer;
  readonly reason: unknown;
  readonly seq: number | undefined;
  readonly headers: Record<string, unknown>;
  readonly messageId: unknown;
}

export function asDeadLetter(message: amqp.GetMessage): DeadLetter {
  const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
  const seq = headers[SEQ_HEADER];
  return {
    content: message.content,
    reason: headers[Headers.deadLetterReason],
    seq: seq === undefined ? undefined : Number(seq),
    headers,
    messageId: message.properties.messageId,
  };
}

/** Everything read so far from a queue; `read()` drains what arrived since. */
export class Collected {
  readonly messages: amqp.GetMessage[] = [];

  constructor(
    private readonly client: () => TestClient,
    readonly queue: string,
  ) {}

  async read(): Promise<amqp.GetMessage[]> {
    this.messages.push(...(await this.client().drain(this.queue)));
    return this.messages;
  }

  results(): ReceivedResult[] {
    return this.messages.map(asResult);
  }

  deadLetters(): DeadLetter[] {
    return this.messages.map(asDeadLetter);
  }
}

/** One line of the fixture's run log. */
export interface RunEvent {
  readonly id: string;
  readonly event: 'start' | 'end';
  readonly at: number;
  readonly pid: number;
  readonly run: number;
  readonly attempt: number;
  readonly outcome?: 'returned' | 'threw';
}

export function readRunLog(file: string): RunEvent[] {
  if (!existsSync(file)) {
    return [];
  }
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RunEvent);
}

/** How many runs of each id started. */
export function runCounts(events: readonly RunEvent[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.event === 'start') counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
  }
  return counts;
}

/**
 * Runs of one id that overlapped, judged by the order of the log's lines (one append per line, so
 * the order is the order of the events), never by timestamps: a start while another run of the
 * same id has started and not ended.
 */
export function overlappingRuns(events: readonly RunEvent[]): string[] {
  const open = new Map<string, Set<string>>();
  const problems: string[] = [];
  events.forEach((e, line) => {
    const runs = open.get(e.id) ?? new Set<string>();
    open.set(e.id, runs);
    const run = `${e.pid}/${e.run}`;
    if (e.event === 'start') {
      if (runs.size > 0) {
        problems.push(
          `${JSON.stringify(e.id)}: run ${run} started (line ${line + 1}) while ${[...runs].join(', ')} ran`,
        );
      }
      runs.add(run);
    } else {
      runs.delete(run);
    }
  });
  return problems;
}

/** Line index of the first event matching, or -1. */
export function lineOf(events: readonly RunEvent[], id: string, event: RunEvent['event']): number {
  return events.findIndex((e) => e.id === id && e.event === event);
}

/** The checkpoint store's file stem for a task id (the store names every file of a task by it). */
export function fileStem(taskId: string): string {
  return taskFileStem(taskId);
}

/**
 * Files of the checkpoint directory named after `taskId` (checkpoint, lease, done marker, …), in its
 * subdirectory and in the directory itself.
 */
export function storeFilesOf(dir: string, taskId: string): string[] {
  const stem = fileStem(taskId);
  return storeEntries(dir).filter((name) => path.basename(name).startsWith(stem));
}

/** Every entry under `dir`, as paths relative to it, subdirectories included. */
function storeEntries(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/**
 * A fingerprint of the checkpoint directory and its subdirectories: each directory's own mtime
 * (which changes when any entry is created, renamed or removed, so even a file created and removed
 * again shows) and each entry's name, size, mtime and content hash (of a lease or a done marker
 * that is a symbolic link: its target, the record).
 */
export function storeFingerprint(dir: string): string {
  const files = storeEntries(dir).map((name) => {
    const file = path.join(dir, name);
    const stat = lstatSync(file);
    const content = stat.isSymbolicLink()
      ? readlinkSync(file)
      : stat.isFile()
        ? readFileSync(file)
        : undefined;
    const hash = content === undefined ? 'dir' : createHash('sha256').update(content).digest('hex');
    return `${name} ${stat.size} ${stat.mtimeMs} ${hash}`;
  });
  return JSON.stringify({ dirMtimeMs: statSync(dir).mtimeMs, files }, null, 1);
}

/** The integers a text names, thousands separators allowed ("100,058 bytes" → 100058). */
export function numbersIn(text: string): number[] {
  return (text.match(/\d(?:[\d,_\u202f]*\d)?/g) ?? []).map((n) => Number(n.replace(/[,_\u202f]/g, '')));
}

/** The worker's log lines about `ids` (or without a task id), for failure messages. */
export function logLinesAbout(worker: WorkerProcess, ids: readonly string[], max = 60): string {
  const wanted = new Set(ids);
  return worker.lines
    .filter((l) => l.taskId === undefined || wanted.has(l.taskId))
    .slice(-max)
    .map((l) => JSON.stringify(l))
    .join('\n');
}

/** Log lines saying the worker lost its channel or connection (the broker closes a channel on a refused publish). */
export function brokerLossLines(worker: WorkerProcess): string[] {
  return worker.lines
    .filter((l) => /lost the broker|reconnect|channel (was )?closed/i.test(l.msg))
    .map((l) => JSON.stringify(l));
}
