import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DeadLetterReason, ResultMessage } from './contract';

/**
 * The checkpoint store: files under CHECKPOINT_DIR keyed by **task id**, never by agent index,
 * because a redelivered task can land on any pod (DESIGN fact 10).
 *
 * File names are the SHA-256 of the task id in hex, so any id (slashes, `..`, unicode, 255
 * characters) maps to a short, safe, collision-free name; the id itself is stored inside the file.
 */
export function fileStemFor(taskId: string): string {
  return createHash('sha256').update(taskId, 'utf8').digest('hex');
}

export function checkpointFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.checkpoint.json`;
}

export function doneFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.done.json`;
}

/** What finishing a task publishes; stored in the done marker before it is published. */
export interface Outcome {
  /** The result message. (A message with no id at all gets no marker and no result.) */
  readonly result: ResultMessage;
  /** Set when the task message is also dead-lettered. */
  readonly deadLetter?: { readonly reason: DeadLetterReason; readonly detail: string };
}

/**
 * The done marker. `publishing`: the outcome was decided and may or may not have reached the
 * broker; a redelivery publishes this stored outcome again instead of running the handler.
 * `published`: the broker confirmed the outcome; a redelivery is acked and nothing else.
 */
export interface DoneMarker {
  readonly taskId: string;
  readonly state: 'publishing' | 'published';
  readonly outcome: Outcome;
  readonly at: string;
}

interface CheckpointFile {
  readonly taskId: string;
  readonly savedAt: string;
  readonly state: unknown;
}

/** A checkpoint file that exists but cannot be read as one (issue 6 adds generations). */
export class CorruptCheckpointError extends Error {
  constructor(file: string, cause: unknown) {
    super(`checkpoint ${file} is not valid JSON`, { cause });
    this.name = 'CorruptCheckpointError';
  }
}

/**
 * Durable, atomic file writes: a temp file with a name unique to this writer in the same directory,
 * fsync, rename over the target, fsync the directory. A crash leaves the old file or the new one,
 * never a torn one; concurrent writers never share a temp file. Readers open the file anew each time
 * (close-to-open consistency on NFS/EFS).
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', 0o640);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a directory (EINVAL/EISDIR); the rename is then as durable as they get.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF') {
      throw error;
    }
  } finally {
    await handle.close();
  }
}

async function readJson(file: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CorruptCheckpointError(file, error);
  }
}

export class TaskCheckpoints {
  constructor(readonly dir: string) {}

  /** Creates the directory if needed and proves it writable; throws with the OS error otherwise. */
  async prepare(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(path.join(this.dir, `.probe.${process.pid}`), 'ok');
    await fs.rm(path.join(this.dir, `.probe.${process.pid}`), { force: true });
  }

  checkpointPath(taskId: string): string {
    return path.join(this.dir, checkpointFileFor(taskId));
  }

  donePath(taskId: string): string {
    return path.join(this.dir, doneFileFor(taskId));
  }

  /** The task's last checkpointed state, or undefined when it has none. */
  async readCheckpoint(taskId: string): Promise<{ state: unknown } | undefined> {
    const data = (await readJson(this.checkpointPath(taskId))) as CheckpointFile | undefined;
    return data === undefined ? undefined : { state: data.state };
  }

  /** Durably saves the task's state; throws if `state` cannot be written as JSON. */
  async writeCheckpoint(taskId: string, state: unknown): Promise<void> {
    if (state === undefined || typeof state === 'function' || typeof state === 'symbol') {
      throw new TypeError(
        'checkpoint state must be JSON-serializable (got undefined, a function or a symbol)',
      );
    }
    const body: CheckpointFile = { taskId, savedAt: new Date().toISOString(), state };
    const text = JSON.stringify(body);
    await writeFileAtomic(this.checkpointPath(taskId), text);
  }

  async removeCheckpoint(taskId: string): Promise<void> {
    await fs.rm(this.checkpointPath(taskId), { force: true });
  }

  async readDone(taskId: string): Promise<DoneMarker | undefined> {
    return (await readJson(this.donePath(taskId))) as DoneMarker | undefined;
  }

  async writeDone(taskId: string, state: DoneMarker['state'], outcome: Outcome): Promise<void> {
    const marker: DoneMarker = { taskId, state, outcome, at: new Date().toISOString() };
    await writeFileAtomic(this.donePath(taskId), JSON.stringify(marker));
  }
}
