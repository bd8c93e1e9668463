/**
 * File mode's durable outcomes, in the checkpoint store next to the tasks' checkpoints:
 *
 * - `<sha256>.result.json`: the task's result, exactly the contract's `ResultMessage`, written once
 *   (atomic and fsynced). Its existence is the task's done marker: a task with a result file is
 *   never run again, so each task has exactly one result. `agent-fleet results` reads them.
 * - `<sha256>.attempts.json`: the attempts a task has spent and when it may next run. It replaces
 *   the broker's attempt headers and delayed-retry queues: a replacement pod continues counting.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { type ResultMessage, resultFileNameFor } from '@agent-fleet/contract';
import { storageFailure } from './errors';
import { retryOnFileLimit } from './file-limits';
import { fileStemFor, writeFileAtomic } from './store';

export function resultFileFor(taskId: string): string {
  return resultFileNameFor(taskId);
}

export function attemptsFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.attempts.json`;
}

/** What a task has spent so far (file mode). */
export interface TaskAttempts {
  readonly taskId: string;
  /** Attempts started, crashes included; an attempt a shutdown interrupted is given back. */
  readonly spent: number;
  /** Epoch ms before which the next attempt must not start (the retry delay); absent: at once. */
  readonly retryAt?: number;
  /** Why the last attempt failed, for the logs of the pod that continues. */
  readonly lastError?: string;
}

/** Reads and writes a task's result and attempts files in `dir`. */
export class ResultFiles {
  constructor(readonly dir: string) {}

  resultPath(taskId: string): string {
    return path.join(this.dir, resultFileFor(taskId));
  }

  attemptsPath(taskId: string): string {
    return path.join(this.dir, attemptsFileFor(taskId));
  }

  /**
   * The task's result, or undefined when it has none. A file that is not a result of this task
   * (damaged, or another id's) throws `UnusableResultFileError`.
   */
  async readResult(taskId: string): Promise<ResultMessage | undefined> {
    const file = this.resultPath(taskId);
    const data = await this.readJson(file, 'read a result');
    if (data === undefined) {
      return undefined;
    }
    const result = data.value as Partial<ResultMessage> | undefined;
    if (data.error !== undefined || typeof result !== 'object' || result === null || result.id !== taskId) {
      throw new UnusableResultFileError(file, data.error ?? new Error('not a result of this task id'));
    }
    return result as ResultMessage;
  }

  /** Writes the result durably (temp file, fsync, rename, fsync of the directory). */
  async writeResult(result: ResultMessage): Promise<string> {
    const file = this.resultPath(result.id);
    await this.write(file, JSON.stringify(result), 'write a result');
    return file;
  }

  /** The task's attempts; a missing or unusable file counts as none spent. */
  async readAttempts(taskId: string): Promise<TaskAttempts> {
    const data = await this.readJson(this.attemptsPath(taskId), 'read the attempts');
    const value = data?.value as Partial<TaskAttempts> | undefined;
    if (
      value === undefined ||
      value === null ||
      value.taskId !== taskId ||
      !Number.isInteger(value.spent) ||
      (value.spent as number) < 0
    ) {
      return { taskId, spent: 0 };
    }
    return value as TaskAttempts;
  }

  async writeAttempts(attempts: TaskAttempts): Promise<void> {
    await this.write(this.attemptsPath(attempts.taskId), JSON.stringify(attempts), 'write the attempts');
  }

  async removeAttempts(taskId: string): Promise<void> {
    await fs.unlink(this.attemptsPath(taskId)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw storageFailure('remove the attempts', this.dir, error);
    });
  }

  private async write(file: string, text: string, operation: string): Promise<void> {
    try {
      await retryOnFileLimit(() => writeFileAtomic(file, text), { operation, dir: this.dir });
    } catch (error) {
      throw storageFailure(operation, this.dir, error);
    }
  }

  /** The file's JSON; undefined when absent; `error` when it does not parse. */
  private async readJson(
    file: string,
    operation: string,
  ): Promise<{ value: unknown; error?: undefined } | { value?: undefined; error: unknown } | undefined> {
    let text: string;
    try {
      text = await retryOnFileLimit(() => fs.readFile(file, 'utf8'), { operation, dir: this.dir });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return undefined;
      }
      throw storageFailure(operation, this.dir, error);
    }
    try {
      return { value: JSON.parse(text) };
    } catch (error) {
      return { error };
    }
  }
}

/** A result file that exists but is not a result of its task (damaged, or copied over). */
export class UnusableResultFileError extends Error {
  constructor(file: string, cause: unknown) {
    super(`result file ${file} is not a result of this task`, { cause });
    this.name = 'UnusableResultFileError';
  }
}
