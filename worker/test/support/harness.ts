/**
 * Helpers for tests that run the real `agent-worker` bin against the real broker: unique queue
 * names per test, publishing tasks, reading results and dead letters, and bounded polls (no
 * timed assertions: wait for a condition, fail with what was seen when it never comes).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deadLetterQueueFor, Env, type ResultMessage } from '@agent-fleet/contract';
import * as amqp from 'amqplib';
import { waitFor } from '../../../testkit/wait';
import { Broker } from '../../src/broker';

/** Re-exported so worker tests find every helper in one import. */
export { waitFor };

export const WORKER_ROOT = path.join(__dirname, '..', '..');
export const BIN = path.join(WORKER_ROOT, 'dist', 'bin.js');
export const FIXTURES = path.join(WORKER_ROOT, 'test', 'fixtures');

export function brokerUrl(): string {
  const url = process.env.AGENT_TEST_AMQP_URL;
  if (!url) {
    throw new Error('AGENT_TEST_AMQP_URL is unset: run through the worker jest project (global setup)');
  }
  return url;
}

export function brokerPassword(): string {
  return process.env.AGENT_TEST_AMQP_PASSWORD ?? '';
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly agentIndex?: string;
  readonly pod?: string;
  readonly [key: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Every worker process started by this test file: its output is checked for secrets. */
export const allWorkers: WorkerProcess[] = [];

/** Temp directories made by this test file, removed by `killAll`. */
export const tempDirs: string[] = [];

/** A fresh temp directory, removed after the test file. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export class WorkerProcess {
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.stdout += chunk;
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (line.trim() !== '') {
          this.lines.push(JSON.parse(line) as LogLine);
        }
      }
    });
    child.stderr.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** Waits for a log line matching `match`; fails early if the process exits first. */
  waitForLog(what: string, match: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return waitFor(
      `log line: ${what}\n--- stdout ---\n${this.stdout.slice(-2000)}\n--- stderr ---\n${this.stderr.slice(-2000)}`,
      () => {
        const line = this.lines.find(match);
        if (line) {
          return line;
        }
        if (this.exit) {
          throw new Error(
            `worker exited (${JSON.stringify(this.exit)}) before logging ${what}\n${this.stdout.slice(-3000)}\n${this.stderr.slice(-2000)}`,
          );
        }
        return undefined;
      },
      timeoutMs,
    );
  }

  /** The port the metrics server bound (METRICS_PORT=0 in tests). */
  async metricsPort(): Promise<number> {
    const line = await this.waitForLog(
      'metrics port',
      (l) => l.msg === 'serving /metrics, /healthz and /readyz',
    );
    return line.port as number;
  }

  /** Waits for the process to end; kills it and fails if it does not within `timeoutMs`. */
  async waitForExit(timeoutMs = 30_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(
          new Error(
            `worker did not exit within ${timeoutMs} ms\n${this.stdout.slice(-3000)}\n${this.stderr}`,
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Queue names and a checkpoint dir that belong to one test only. */
export interface TestSetup {
  readonly taskQueue: string;
  readonly resultQueue: string;
  readonly deadQueue: string;
  readonly checkpointDir: string;
  /** Env for a worker of this test (override or add with `extra`). */
  env(extra?: Record<string, string>): Record<string, string>;
}

export function testSetup(name: string): TestSetup {
  const suffix = randomBytes(4).toString('hex');
  const taskQueue = `t.${name}.${suffix}`;
  const resultQueue = `${taskQueue}.results`;
  const checkpointDir = makeTempDir(`agent-ckpt-${name}-`);
  return {
    taskQueue,
    resultQueue,
    deadQueue: deadLetterQueueFor(taskQueue),
    checkpointDir,
    env: (extra = {}) => ({
      [Env.TASK_QUEUE_URL]: brokerUrl(),
      [Env.TASK_QUEUE_NAME]: taskQueue,
      [Env.RESULT_QUEUE_NAME]: resultQueue,
      [Env.CHECKPOINT_DIR]: checkpointDir,
      [Env.METRICS_PORT]: '0',
      [Env.AGENT_HANDLER]: path.join(FIXTURES, 'handler.js'),
      [Env.AGENT_IDLE_EXIT_SECONDS]: '0',
      [Env.AGENT_SHUTDOWN_SECONDS]: '5',
      [Env.AGENT_INDEX]: '3',
      [Env.POD_NAME]: `pod-${name}`,
      // Short retry delays and broker patience keep the suite fast; tests that need others override them.
      [Env.AGENT_RETRY_DELAY_SECONDS]: '0.2',
      [Env.AGENT_RETRY_MAX_DELAY_SECONDS]: '1',
      [Env.AGENT_BROKER_CONNECT_SECONDS]: '2',
      // A SIGKILLed worker's lease blocks its task until it expires: keep that short here.
      [Env.AGENT_LEASE_SECONDS]: '1.5',
      // Nothing scrapes these workers: exit without waiting for a last scrape (the tests of that
      // wait set their own).
      [Env.AGENT_SCRAPE_WAIT_SECONDS]: '0',
      ...extra,
    }),
  };
}

/** Starts `node worker/dist/bin.js` with exactly `env` (plus PATH). */
export function startWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [BIN], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const worker = new WorkerProcess(child);
  allWorkers.push(worker);
  return worker;
}

/** Kills every worker still running and removes the temp directories (afterAll). */
export async function killAll(): Promise<void> {
  for (const worker of allWorkers) {
    if (!worker.hasExited) {
      worker.kill('SIGKILL');
      await worker.exited;
    }
  }
  for (const dir of tempDirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A connection for the test's own publishing and reading. */
export class TestClient {
  private constructor(
    private readonly connection: amqp.ChannelModel,
    readonly channel: amqp.ConfirmChannel,
  ) {}

  static async open(url = brokerUrl()): Promise<TestClient> {
    const connection = await amqp.connect(url);
    connection.on('error', () => undefined);
    const channel = await connection.createConfirmChannel();
    // A refused declaration closes the channel with an error event; the awaited call rejects too.
    channel.on('error', () => undefined);
    return new TestClient(connection, channel);
  }

  /** Publishes raw bytes to the task queue (declared by the worker, or here the same way). */
  async publishRaw(queue: string, body: Buffer | string, options: amqp.Options.Publish = {}): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.channel.sendToQueue(
        queue,
        Buffer.from(body),
        { persistent: true, ...options },
        (error: unknown) => (error ? reject(error) : resolve()),
      );
    });
  }

  publishTask(queue: string, id: string, input: unknown): Promise<void> {
    return this.publishRaw(queue, JSON.stringify({ id, input }), { contentType: 'application/json' });
  }

  /** Reads (and acks) every message currently in `queue`. */
  async drain(queue: string): Promise<amqp.GetMessage[]> {
    const messages: amqp.GetMessage[] = [];
    for (;;) {
      const message = await this.channel.get(queue, { noAck: true });
      if (message === false) {
        return messages;
      }
      messages.push(message);
    }
  }

  /** Waits until `count` messages have been read from `queue` in total; returns them. */
  async waitForMessages(queue: string, count: number, timeoutMs = 30_000): Promise<amqp.GetMessage[]> {
    const seen: amqp.GetMessage[] = [];
    await waitFor(
      `${count} message(s) on ${queue}`,
      async () => {
        seen.push(...(await this.drain(queue)));
        return seen.length >= count ? true : undefined;
      },
      timeoutMs,
    );
    return seen;
  }

  async waitForResults(queue: string, count: number, timeoutMs = 30_000): Promise<ResultMessage[]> {
    const messages = await this.waitForMessages(queue, count, timeoutMs);
    return messages.map((m) => JSON.parse(m.content.toString('utf8')) as ResultMessage);
  }

  /** Message count of a queue (ready messages). */
  async messageCount(queue: string): Promise<number> {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  async deleteQueues(...queues: string[]): Promise<void> {
    for (const queue of queues) {
      await this.channel.deleteQueue(queue).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

/** Declares the task queue as the worker does, so tests can publish before a worker starts. */
export async function declareTopology(setup: TestSetup, url = brokerUrl()): Promise<void> {
  const broker = new Broker(
    url,
    { taskQueueName: setup.taskQueue, resultQueueName: setup.resultQueue },
    {
      onDelivery: () => undefined,
      onCancelled: () => undefined,
      onLost: () => undefined,
      onError: () => undefined,
    },
  );
  await broker.connect();
  await broker.close();
}

/** GET on the worker's metrics server. */
export async function httpGet(port: number, pathname: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`);
  return { status: response.status, body: await response.text() };
}

/** The value of one series in Prometheus text format, or undefined when absent. */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) {
      return Number(line.slice(series.length + 1));
    }
  }
  return undefined;
}

/**
 * One broker client per test file: opened before its tests; afterwards its workers are killed and
 * the client closed. Returns an accessor, since the client exists only once `beforeAll` ran.
 */
export function useTestClient(): () => TestClient {
  let client: TestClient | undefined;
  beforeAll(async () => {
    client = await TestClient.open();
  });
  afterAll(async () => {
    await killAll();
    await client?.close();
  });
  return () => {
    if (!client) throw new Error('useTestClient(): the client is only available inside tests');
    return client;
  };
}

/** The queue URL's password never reaches a log line of any worker started so far. */
export function expectNoPasswordInWorkerOutput(): void {
  const password = brokerPassword();
  expect(password.length).toBeGreaterThan(0);
  for (const worker of allWorkers) {
    expect(worker.stdout).not.toContain(password);
    expect(worker.stderr).not.toContain(password);
  }
}
