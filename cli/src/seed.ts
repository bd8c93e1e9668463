import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Defaults, type TaskMessage } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { SingleBar } from 'cli-progress';
import { brokerSecrets, checkQueue, connectBroker, resolveBrokerUrl, scrub } from './amqp';
import { CliError, type CliIo, type CommandIo, parseIntFlag, usageError, writeLine } from './io';

/** Flags of `agent-fleet seed`, as commander hands them over (strings). */
export interface SeedFlags {
  readonly count?: string;
  readonly file?: string;
  readonly queue?: string;
  readonly url?: string;
  readonly urlEnv?: string;
  readonly idPrefix?: string;
  readonly progress?: boolean;
}

/** Test tasks for `--count`: ids `<prefix>-<n>` (1-based), input `{ seq, seededAt }`. */
export function generatedTasks(count: number, prefix: string, now = new Date()): TaskMessage[] {
  const tasks: TaskMessage[] = [];
  for (let i = 1; i <= count; i++) {
    tasks.push({ id: `${prefix}-${i}`, input: { seq: i, seededAt: now.toISOString() } });
  }
  return tasks;
}

/**
 * Parses a JSONL file of tasks: one JSON object per non-blank line, `{ "id"?: string, "input": any }`.
 * A missing id becomes `<prefix>-<line number>`. Errors name the line (1-based).
 */
export function parseTasksJsonl(text: string, prefix: string, fileName = 'the file'): TaskMessage[] {
  const tasks: TaskMessage[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.trim() === '') {
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw usageError(`${fileName} line ${lineNo}: not valid JSON (${(error as Error).message}).`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw usageError(
        `${fileName} line ${lineNo}: expected a task object {"id": "...", "input": ...}, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}.`,
      );
    }
    const record = value as Record<string, unknown>;
    if (!('input' in record)) {
      throw usageError(
        `${fileName} line ${lineNo}: the task has no "input" field ({"id": "...", "input": ...}).`,
      );
    }
    if (record.id !== undefined && (typeof record.id !== 'string' || record.id === '')) {
      throw usageError(
        `${fileName} line ${lineNo}: "id" must be a non-empty string, got ${JSON.stringify(record.id)}.`,
      );
    }
    tasks.push({ id: (record.id as string | undefined) ?? `${prefix}-${lineNo}`, input: record.input });
  });
  if (tasks.length === 0) {
    throw usageError(`${fileName} holds no tasks (every line is blank).`);
  }
  return tasks;
}

/**
 * Publishes tasks to the queue (default exchange, persistent, JSON, `messageId` = task id) on a confirm
 * channel, honouring back-pressure, and resolves once the broker confirmed every message. Calls
 * `onConfirmed` after each confirm. Rejects when the broker nacks a message (e.g. a full queue with
 * `x-overflow: reject-publish`).
 */
export async function publishTasks(
  connection: amqp.ChannelModel,
  queue: string,
  tasks: readonly TaskMessage[],
  onConfirmed: (confirmed: number) => void = () => {},
): Promise<number> {
  const channel = await connection.createConfirmChannel();
  let channelError: Error | undefined;
  channel.on('error', (error: Error) => {
    channelError = error;
  });
  let confirmed = 0;
  let failure: Error | undefined;
  const confirms: Promise<void>[] = [];
  for (const task of tasks) {
    if (failure || channelError) {
      break;
    }
    const body = Buffer.from(JSON.stringify(task));
    let ok = true;
    confirms.push(
      new Promise<void>((resolve) => {
        ok = channel.sendToQueue(
          queue,
          body,
          { persistent: true, messageId: task.id, contentType: 'application/json' },
          (error: unknown) => {
            if (error) {
              const nacked = /nack/i.test(String((error as Error)?.message));
              failure ??= new CliError(
                nacked
                  ? `the broker did not accept task "${task.id}" (nack): is queue "${queue}" full (x-overflow: reject-publish)?`
                  : `the broker closed the channel before confirming task "${task.id}": ${(error as Error)?.message ?? error}`,
              );
            } else {
              confirmed++;
              onConfirmed(confirmed);
            }
            resolve();
          },
        );
      }),
    );
    if (!ok) {
      // Back-pressure: wait for the socket buffer to drain before the next publish.
      await new Promise<void>((resolve) => {
        const done = () => {
          channel.off('drain', done);
          channel.off('close', done);
          resolve();
        };
        channel.on('drain', done);
        channel.on('close', done);
      });
    }
  }
  await Promise.all(confirms);
  try {
    await channel.close();
  } catch {
    // closed already; the error is reported below
  }
  if (failure) {
    throw new CliError(`${failure.message} ${confirmed} of ${tasks.length} task(s) were confirmed before.`);
  }
  if (channelError) {
    throw new CliError(`the broker closed the channel while publishing: ${channelError.message}`);
  }
  return confirmed;
}

/** A short random id prefix so repeated runs do not reuse task ids. */
export function defaultIdPrefix(command: string): string {
  return `${command}-${randomBytes(4).toString('hex')}`;
}

export interface SeedSummary {
  readonly queue: string;
  readonly published: number;
  readonly firstId: string;
  readonly lastId: string;
}

/** Resolves the tasks (count or file), checks the queue, publishes with confirms and a progress bar. */
export async function seedTasks(
  connectionUrl: string,
  queue: string,
  tasks: readonly TaskMessage[],
  io: CliIo,
  options: { progress: boolean; connectionName: string },
): Promise<SeedSummary> {
  const connection = await connectBroker(connectionUrl, options.connectionName);
  connection.on('error', () => {
    // surfaced by the failing operation
  });
  try {
    await checkQueue(connection, queue);
    const bar =
      options.progress && io.stderrIsTTY
        ? new SingleBar({
            stream: io.stderr as NodeJS.WriteStream,
            format: `seeding ${queue} [{bar}] {value}/{total} confirmed | {eta_formatted} left`,
            hideCursor: false,
            clearOnComplete: false,
          })
        : undefined;
    bar?.start(tasks.length, 0);
    try {
      const published = await publishTasks(connection, queue, tasks, (n) => bar?.update(n));
      return { queue, published, firstId: tasks[0]!.id, lastId: tasks[tasks.length - 1]!.id };
    } finally {
      bar?.stop();
    }
  } catch (error) {
    if (error instanceof CliError) {
      throw new CliError(scrub(error.message, connectionUrl), error.exitCode);
    }
    throw new CliError(scrub(`seeding failed: ${(error as Error).message}`, connectionUrl));
  } finally {
    try {
      await connection.close();
    } catch {
      // already closed
    }
  }
}

/** Validates the flags and loads the tasks; throws usage errors before any network I/O. */
export function tasksFromFlags(flags: SeedFlags, prefix: string): TaskMessage[] {
  if (flags.count !== undefined && flags.file !== undefined) {
    throw usageError('pass either --count or --file, not both (--file publishes one task per line).');
  }
  if (flags.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.file, 'utf8');
    } catch (error) {
      throw usageError(
        `cannot read --file ${flags.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
      );
    }
    return parseTasksJsonl(text, prefix, flags.file);
  }
  if (flags.count === undefined) {
    throw usageError('pass --count N (test tasks to publish) or --file tasks.jsonl.');
  }
  const count = parseIntFlag('--count', flags.count, { min: 1 });
  return generatedTasks(count, prefix);
}

/** `agent-fleet seed`. */
export async function runSeed(flags: SeedFlags, io: CommandIo): Promise<number> {
  const prefix = flags.idPrefix ?? defaultIdPrefix('seed');
  const tasks = tasksFromFlags(flags, prefix);
  const queue = flags.queue ?? Defaults.taskQueueName;
  const url = resolveBrokerUrl({ url: flags.url, urlEnv: flags.urlEnv }, io.env);
  io.secrets.add(...brokerSecrets(url));
  const summary = await seedTasks(url, queue, tasks, io, {
    progress: flags.progress !== false,
    connectionName: 'agent-fleet-seed',
  });
  writeLine(
    io.stdout,
    `published ${summary.published} task(s) to queue "${summary.queue}" (all confirmed by the broker), ids ${summary.firstId} .. ${summary.lastId}`,
  );
  return 0;
}
