import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { type DeadLetterReason, type ResultMessage, taskFileStem } from '@agent-fleet/contract';
import { kernelFileSystemOf } from './config';
import { syncDirectory } from './directory-sync';
import { StorageError, storageFailure } from './errors';
import { retryOnFileLimit } from './file-limits';

/**
 * The stems of the ids of the tasks in flight, and then some: each of a task's file names hashes
 * its id, about ten times per task, and one SHA-256 per task is enough. Cleared whole when full:
 * simpler than an LRU, and refilled by the next few deliveries.
 */
const recentStems = new Map<string, string>();
const RECENT_STEMS = 1024;

/**
 * The checkpoint store: files under CHECKPOINT_DIR keyed by **task id**, never by agent index,
 * because a redelivered task can land on any pod (DESIGN fact 10).
 *
 * File names are the SHA-256 of the task id in hex, so any id (slashes, `..`, unicode, 255
 * characters) maps to a short, safe, collision-free name; the id itself is stored inside the file.
 */
export function fileStemFor(taskId: string): string {
  let stem = recentStems.get(taskId);
  if (stem === undefined) {
    stem = taskFileStem(taskId);
    if (recentStems.size >= RECENT_STEMS) recentStems.clear();
    recentStems.set(taskId, stem);
  }
  return stem;
}

/**
 * The subdirectory of CHECKPOINT_DIR holding every file of task `taskId`: the first two hex digits
 * of its stem, so 256 directories. Creating, renaming or unlinking a file holds its directory's
 * lock for the whole operation, on NFS as on any Linux file system, and on a network volume that
 * is a round trip: with every file in one directory the tasks of a process (and of every pod on
 * the volume) would wait for each other's round trips. Spread over 256, they rarely meet.
 */
export function shardDirFor(taskId: string): string {
  return fileStemFor(taskId).slice(0, 2);
}

/** Files a worker of the flat layout (every file in CHECKPOINT_DIR itself) left behind. */
const FLAT_LAYOUT_FILE = /^[0-9a-f]{64}\.(checkpoint|checkpoint\.prev|lease|done|published)\.json$/;

export function checkpointFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.checkpoint.json`;
}

/** The checkpoint generation before the current one, kept as a fallback for a corrupt current file. */
export function previousCheckpointFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.checkpoint.prev.json`;
}

export function leaseFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.lease.json`;
}

/** Who works a task, and until when (epoch ms), unless renewed. */
export interface Lease {
  readonly taskId: string;
  readonly holder: string;
  readonly expiresAt: number;
}

export type LeaseAttempt =
  | { readonly acquired: true }
  | { readonly acquired: false; readonly holder: string; readonly expiresInMs: number };

export function doneFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.done.json`;
}

/** The done marker once the broker confirmed the outcome: the `done` file, renamed. */
export function publishedFileFor(taskId: string): string {
  return `${fileStemFor(taskId)}.published.json`;
}

/** Unique per process, so temp files of pods sharing a volume (all pid 1) never collide. */
const WRITER_ID = `${process.pid}.${randomBytes(6).toString('hex')}`;
let tempCounter = 0;

/** A temp name for `file` unique to this writer, in its directory (so a rename replaces it atomically). */
function tempNameFor(file: string): string {
  tempCounter += 1;
  return path.join(path.dirname(file), `.${path.basename(file)}.${WRITER_ID}.${tempCounter}.tmp`);
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
 * `published`: the broker confirmed the outcome; a redelivery is acked and nothing else. The
 * state is the file's name (`<sha256>.done.json`, renamed to `<sha256>.published.json`), so
 * marking a result published costs one rename.
 */
export interface DoneMarker {
  readonly taskId: string;
  readonly state: 'publishing' | 'published';
  readonly outcome: Outcome;
  readonly at: string;
  /**
   * The fingerprint of the finished task's input (`inputFingerprint`): a later message with this
   * id and another input is another task, not a redelivery. Absent in markers of older workers.
   */
  readonly input?: string;
}

interface CheckpointFile {
  readonly taskId: string;
  readonly savedAt: string;
  /** The fingerprint of the input of the task that saved it; absent in older workers' files. */
  readonly input?: string;
  readonly state: unknown;
  /** SHA-256 (hex) of `JSON.stringify(state)`: catches files that parse but were damaged. */
  readonly sha256: string;
}

function checksum(stateJson: string): string {
  return createHash('sha256').update(stateJson, 'utf8').digest('hex');
}

/** A checkpoint file that exists but cannot be read as one (torn, damaged, not ours). */
export class CorruptCheckpointError extends Error {
  constructor(file: string, cause: unknown) {
    super(`checkpoint ${file} is not valid JSON`, { cause });
    this.name = 'CorruptCheckpointError';
  }
}

/** Told about each unusable checkpoint generation the reader skipped. */
export type CheckpointProblem = (message: string, error: unknown) => void;

/**
 * Durable, atomic file writes: a temp file with a name unique to this writer in the same
 * directory, fsync, rename over the target, fsync the directory. A crash (of the process or the
 * node) leaves the old file or the new one, never a torn one; concurrent writers never share a
 * temp file. Readers open the file anew each time (close-to-open consistency on NFS/EFS).
 */
export async function writeFileAtomic(
  file: string,
  data: string | Buffer,
  options: { keepPreviousAs?: string } = {},
): Promise<void> {
  const dir = path.dirname(file);
  const temp = tempNameFor(file);
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
    if (options.keepPreviousAs !== undefined) {
      // current → previous, then temp → current. A crash between the two leaves only the previous
      // generation, which the reader falls back to.
      await fs.rename(file, options.keepPreviousAs).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  // Shared with the writes of other tasks to the same directory (group commit).
  await syncDirectory(dir);
}

/*
 * Small per-task records (leases, done markers): asynchronous like everything else of the store.
 * On a network volume each metadata operation (lookup, create, rename, unlink) is a round trip to
 * the server; a synchronous call would hold the event loop, and with it every other task, lease
 * renewals, /healthz, /metrics and the broker's heartbeats, for that long. On the thread pool the
 * operations of concurrent tasks overlap instead. They are not fsynced: see `writeDone`.
 *
 * A record is a symbolic link whose target is the record's JSON, as Mercurial's lock files and
 * Emacs's `.#` lock files are: symlink() creates it whole or not at all, exclusively (EEXIST
 * whatever holds the name, on NFS too), in one operation; readlink() reads it in one. A regular
 * file takes three to create (open, write, close) and four to read (open, fstat, read, close), each
 * a hop through the thread pool and, on NFS, most of them a round trip.
 */

/**
 * How a store writes leases and done markers. `symlink`: a symbolic link whose target is the
 * record's JSON (a record over `MAX_SYMLINK_RECORD_BYTES` is a regular file all the same). `file`:
 * a regular file, for volumes that refuse symbolic links (SMB/CIFS without `mfsymlinks`, some FUSE
 * stores). Readers take both formats, their store's own first, so workers writing either share a
 * volume and lose nothing.
 */
export type SmallRecordFormat = 'symlink' | 'file';

/**
 * The largest record, in bytes of UTF-8, written as a symbolic link; a larger one (a marker with a
 * large output) is a regular file. Linux caps a link's target at 4095 bytes and some file systems
 * cap it lower; 2048 keeps well inside the page-sized caps and still holds a lease (a task id is at
 * most 255 bytes) and the marker of a typical result. A file system with a cap lower still (XFS and
 * SMB's `mfsymlinks`: about 1 KiB) answers ENAMETOOLONG: that record, and from then on every record
 * as long, is written as a regular file instead.
 */
export const MAX_SYMLINK_RECORD_BYTES = 2048;

/**
 * What `prepare()` writes as a symbolic link and reads back: JSON with the characters records hold
 * (a slash, a backslash escape, a colon, non-ASCII), so a volume that mangles any of them is caught.
 */
const SYMLINK_PROBE_TARGET = JSON.stringify({ probe: 'a/b\\c:d \u00fc\u2713' });

/**
 * The probe's symlink() or readlink() failing with these says the volume holds no symbolic links,
 * not that it is broken.
 */
const SYMLINKS_REFUSED = new Set(['EPERM', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'EINVAL']);

/** What the symlink probe of `prepare()` saw: an error, or the target it read back. */
export type SymlinkProbeOutcome = { readonly error: unknown } | { readonly readBack: string };

/**
 * The record format a symlink probe calls for: `symlink` when its target read back unchanged,
 * `file` when the volume refused symbolic links or changed the target; any other error is thrown,
 * as for the rest of the probe.
 */
export function smallRecordFormatFor(outcome: SymlinkProbeOutcome): SmallRecordFormat {
  if ('readBack' in outcome) {
    return outcome.readBack === SYMLINK_PROBE_TARGET ? 'symlink' : 'file';
  }
  const code = (outcome.error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && SYMLINKS_REFUSED.has(code)) {
    return 'file';
  }
  throw outcome.error;
}

/** Whether `dir` holds symbolic links that read back as written: the record format it calls for. */
async function probeSmallRecordFormat(dir: string): Promise<SmallRecordFormat> {
  const link = path.join(dir, `.probe.${WRITER_ID}.${++tempCounter}.link`);
  try {
    await fs.symlink(SYMLINK_PROBE_TARGET, link);
  } catch (error) {
    return smallRecordFormatFor({ error });
  }
  let outcome: SymlinkProbeOutcome;
  try {
    outcome = { readBack: await fs.readlink(link, 'utf8') };
  } catch (error) {
    outcome = { error };
  } finally {
    await fs.unlink(link);
  }
  return smallRecordFormatFor(outcome);
}

/**
 * Creates a small regular file that must not exist yet (`O_EXCL`, so EEXIST tells a contender it
 * lost) and writes it whole. A write that fails removes the file again: it was ours, and half of it
 * protects nothing.
 */
async function writeSmallFile(file: string, data: string): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o640);
  try {
    await handle.writeFile(data);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlinkIfPresent(file).catch(() => undefined);
    throw error;
  }
  await handle.close();
}

/** Opens a record as a regular file, never following a symbolic link (ELOOP instead). */
const READ_REGULAR_RECORD = constants.O_RDONLY | constants.O_NOFOLLOW;

/** One way of reading a record: its text (undefined: no record), or that the name holds the other kind. */
type RecordRead = { readonly text: string | undefined } | { readonly otherKind: unknown };

/** readlink(): one operation; EINVAL means a regular file. */
async function readLinkRecord(file: string): Promise<RecordRead> {
  try {
    return { text: await fs.readlink(file, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { text: undefined };
    if (code === 'EINVAL') return { otherKind: error };
    throw storageFailure('read', path.dirname(file), error);
  }
}

/**
 * A regular file's content (open, fstat, read, close); ELOOP means a symbolic link, whose JSON is
 * never followed as if it were a path.
 */
async function readFileRecord(file: string): Promise<RecordRead> {
  try {
    return { text: await fs.readFile(file, { encoding: 'utf8', flag: READ_REGULAR_RECORD }) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { text: undefined };
    if (code === 'ELOOP') return { otherKind: error };
    throw storageFailure('read', path.dirname(file), error);
  }
}

/**
 * A record's JSON text in either format, undefined when there is none. Read first as the format
 * the store writes (`expected`): the right guess costs one operation for a symbolic link, as many
 * as before for a regular file; a name holding the other kind (a record of another format, over
 * the size limit, of an older worker or of the flat layout) is read again as that. A record
 * replaced by one of the other kind between two reads sends the reader back; three in a row is no
 * race any more but a volume that answers nonsense.
 */
async function readRecordText(file: string, expected: SmallRecordFormat): Promise<string | undefined> {
  let asLink = expected === 'symlink';
  for (let attempt = 1; ; attempt++) {
    const read = asLink ? await readLinkRecord(file) : await readFileRecord(file);
    if ('text' in read) return read.text;
    if (attempt === 3) throw storageFailure('read', path.dirname(file), read.otherKind);
    asLink = !asLink;
  }
}

/** A record's content; CorruptCheckpointError when it is not JSON (torn, damaged). */
async function readRecord(file: string, expected: SmallRecordFormat): Promise<unknown | undefined> {
  const text = await readRecordText(file, expected);
  return text === undefined ? undefined : parseJson(file, text);
}

/** A lease's content; undefined when absent, torn or not a lease (it then protects nothing). */
async function readLeaseFile(file: string, expected: SmallRecordFormat): Promise<Lease | undefined> {
  try {
    const lease = (await readRecord(file, expected)) as Partial<Lease> | undefined;
    return lease && typeof lease.holder === 'string' && typeof lease.expiresAt === 'number'
      ? (lease as Lease)
      : undefined;
  } catch (error) {
    if (error instanceof CorruptCheckpointError) {
      return undefined;
    }
    throw error;
  }
}

/** A settled read: what `readRecord` returned or threw, to be judged later. */
type ReadOutcome = { readonly data: unknown } | { readonly error: unknown };

function settledRead(file: string, expected: SmallRecordFormat): Promise<ReadOutcome> {
  return readRecord(file, expected).then(
    (data) => ({ data }),
    (error: unknown) => ({ error }),
  );
}

async function unlinkIfPresent(file: string): Promise<void> {
  await fs.unlink(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CorruptCheckpointError(file, error);
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
    throw storageFailure('read', path.dirname(file), error);
  }
  return parseJson(file, text);
}

/** Whether `dir` holds a task file of the flat layout; stops at the first one. */
async function holdsFlatLayout(dir: string): Promise<boolean> {
  const entries = await fs.opendir(dir);
  try {
    for await (const entry of entries) {
      if (FLAT_LAYOUT_FILE.test(entry.name)) return true;
    }
    return false;
  } finally {
    // The iterator closes the directory when it runs to the end or returns early; a second close throws.
    await entries.close().catch(() => undefined);
  }
}

/** The names of the task subdirectories ({@link shardDirFor}): `00` to `ff`. */
const TASK_DIRECTORIES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Created in CHECKPOINT_DIR once its 256 task subdirectories exist and their entries are durable,
 * so that a later start looks up this one name instead of listing the directory (which may hold
 * any number of old markers) or asking for 256.
 */
export const TASK_DIRECTORIES_MADE = '.task-directories';

/** Longest wait for `TaskCheckpoints.prepare()`: a volume that does not answer must not hang the start. */
export const PREPARE_TIMEOUT_MS = 20_000;

/**
 * `mkdir -p`, one level at a time. Node's `mkdir(…, { recursive: true })` never returns for a path
 * under `/proc/self` (the kernel answers ENOENT for a parent that exists, and Node tries again
 * forever, at 100 % CPU); a plain `mkdir` per missing level fails at once with that ENOENT.
 */
async function makeDirectories(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    try {
      await fs.stat(current);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      missing.push(current);
      if (path.dirname(current) === current) break;
    }
  }
  for (const level of missing.reverse()) {
    await fs.mkdir(level).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

export interface TaskCheckpointsOptions {
  /**
   * How leases and done markers are written (`SmallRecordFormat`). Given, it is used as it is and
   * `prepare()` does not probe the volume for symbolic links.
   *
   * @default detected by `prepare()`: `symlink` when the volume holds symbolic links, else `file`;
   * `file` until `prepare()` ran (the format every writable volume holds)
   */
  readonly smallRecords?: SmallRecordFormat;
}

export class TaskCheckpoints {
  /**
   * The directory also holds files of the flat layout, written by workers before the files of a
   * task moved into its subdirectory ({@link shardDirFor}): found by `prepare()`, and then every
   * read looks in both places (at once, so no round trip more) and every lease check honours a
   * flat lease, so a rolling upgrade loses no checkpoint, done marker or lease.
   */
  private flatLayout = false;

  /** How this store writes leases and done markers (it reads both formats). */
  private recordFormat: SmallRecordFormat;

  /** Whether the format was given, not left to `prepare()`. */
  private readonly recordFormatGiven: boolean;

  /**
   * The largest record written as a symbolic link: `MAX_SYMLINK_RECORD_BYTES`, lowered when the
   * volume refuses a shorter target (ENAMETOOLONG), so that later records as long go to a regular
   * file at once instead of failing the same way first.
   */
  private symlinkRecordMaxBytes = MAX_SYMLINK_RECORD_BYTES;

  constructor(
    readonly dir: string,
    options: TaskCheckpointsOptions = {},
  ) {
    this.recordFormat = options.smallRecords ?? 'file';
    this.recordFormatGiven = options.smallRecords !== undefined;
  }

  /** Whether `prepare()` found files of the flat layout (read as well as the current one). */
  get readsFlatLayout(): boolean {
    return this.flatLayout;
  }

  /** How this store writes leases and done markers: given, or what `prepare()` detected. */
  get smallRecords(): SmallRecordFormat {
    return this.recordFormat;
  }

  private taskFile(taskId: string, name: string): string {
    return path.join(this.dir, shardDirFor(taskId), name);
  }

  /**
   * Runs `write`, which creates a file of task `taskId`; when the task's subdirectory does not
   * exist yet (ENOENT), creates it, makes its entry durable (an fsync of CHECKPOINT_DIR: a
   * checkpoint must not vanish with its directory in a node crash) and runs `write` once more.
   * Checking first would cost a round trip on every write. `prepare()` made every subdirectory, so
   * this serves a store used before `prepare()`, or one whose subdirectories were removed since.
   */
  private async inTaskDirectory<T>(taskId: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await fs.mkdir(path.join(this.dir, shardDirFor(taskId))).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await syncDirectory(this.dir);
    return write();
  }

  /**
   * Creates the directory if needed and proves it writable (create, write, rename, remove); throws
   * with the OS error otherwise, or a `StorageError` (code ETIMEDOUT) after `PREPARE_TIMEOUT_MS`.
   * Unless the record format was given, it then creates a symbolic link, reads it back and removes
   * it: records are symbolic links when that works, regular files when the volume refuses symbolic
   * links or changes their target (`smallRecordFormatFor`).
   *
   * Asynchronous and bounded: a blocking call on a volume whose
   * server stopped answering (or one that never returns, see `makeDirectories`) would hold the
   * event loop, and with it SIGTERM, for as long as the kernel waits. A timed-out attempt may go on
   * in the thread pool; the process exits regardless.
   */
  async prepare(): Promise<void> {
    const dir = this.dir;
    const attempt = async () => {
      await makeDirectories(dir);
      const kernel = kernelFileSystemOf(await fs.realpath(dir));
      if (kernel !== undefined) {
        throw new Error(`${dir} lies on ${kernel}, a kernel file system that cannot hold checkpoints`);
      }
      const probe = path.join(dir, `.probe.${WRITER_ID}.${++tempCounter}`);
      const temp = `${probe}.tmp`;
      const handle = await fs.open(temp, 'wx', 0o640);
      try {
        await handle.writeFile('ok');
      } finally {
        await handle.close();
      }
      await fs.rename(temp, probe);
      await fs.unlink(probe);
      if (!this.recordFormatGiven) {
        this.recordFormat = await probeSmallRecordFormat(dir);
      }
      await this.makeTaskDirectories();
      this.flatLayout = await holdsFlatLayout(dir);
    };
    let timer: NodeJS.Timeout | undefined;
    // A volume that does not answer is a storage problem (retry later), not a configuration one.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const cause = Object.assign(new Error(`no answer within ${PREPARE_TIMEOUT_MS / 1000} s`), {
          code: 'ETIMEDOUT',
        });
        reject(new StorageError('create a probe file', dir, cause));
      }, PREPARE_TIMEOUT_MS);
    });
    try {
      await Promise.race([retryOnFileLimit(attempt, { operation: 'create a probe file', dir }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Creates the 256 task subdirectories, all at once, makes their entries durable with one fsync of
   * CHECKPOINT_DIR, then leaves `TASK_DIRECTORIES_MADE`: once per volume, by its first worker (its
   * other workers racing it find them made: EEXIST), and a later start costs one lookup. Left to
   * the first task of each, the creations would hold CHECKPOINT_DIR's lock and wait for its fsync
   * one after another, and the first few hundred tasks of a new volume on network storage would
   * run as if one at a time.
   */
  private async makeTaskDirectories(): Promise<void> {
    const made = path.join(this.dir, TASK_DIRECTORIES_MADE);
    try {
      await fs.stat(made);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await Promise.all(
      TASK_DIRECTORIES.map((name) =>
        fs.mkdir(path.join(this.dir, name)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        }),
      ),
    );
    await syncDirectory(this.dir);
    // Not fsynced: lost in a node crash, it is made again (the subdirectories exist: EEXIST).
    await fs.writeFile(made, '', { mode: 0o640 });
  }

  checkpointPath(taskId: string): string {
    return this.taskFile(taskId, checkpointFileFor(taskId));
  }

  donePath(taskId: string): string {
    return this.taskFile(taskId, doneFileFor(taskId));
  }

  previousCheckpointPath(taskId: string): string {
    return this.taskFile(taskId, previousCheckpointFileFor(taskId));
  }

  /**
   * The task's last checkpointed state, or undefined when it has none. A current file that is torn,
   * damaged (checksum) or belongs to another task is reported to `onProblem` and the previous
   * generation is used; when no generation is usable but one exists, throws
   * `CorruptCheckpointError` (the worker then starts afresh, logged). Unreadable storage throws
   * `StorageError`.
   */
  async readCheckpoint(
    taskId: string,
    onProblem?: CheckpointProblem,
  ): Promise<{ state: unknown; input?: string } | undefined> {
    let firstError: CorruptCheckpointError | undefined;
    // Both generations are read at once (one round-trip on a network volume); the previous one is
    // only used when the current one is missing or unusable.
    const files = [this.checkpointPath(taskId), this.previousCheckpointPath(taskId)];
    if (this.flatLayout) {
      files.push(
        path.join(this.dir, checkpointFileFor(taskId)),
        path.join(this.dir, previousCheckpointFileFor(taskId)),
      );
    }
    const reads = files.map((file) =>
      this.readGeneration(file, taskId).then(
        (data) => ({ data }),
        (error: unknown) => ({ error }),
      ),
    );
    for (const read of reads) {
      const outcome = await read;
      if ('data' in outcome) {
        if (outcome.data !== undefined) {
          return { state: outcome.data.state, input: outcome.data.input };
        }
        continue;
      }
      const { error } = outcome;
      if (!(error instanceof CorruptCheckpointError)) {
        throw error;
      }
      firstError ??= error;
      onProblem?.(`${error.message}; trying the previous generation`, error);
    }
    if (firstError) {
      throw firstError;
    }
    return undefined;
  }

  private async readGeneration(file: string, taskId: string): Promise<CheckpointFile | undefined> {
    const data = (await readJson(file)) as Partial<CheckpointFile> | undefined;
    if (data === undefined) {
      return undefined;
    }
    if (typeof data !== 'object' || data === null || data.taskId !== taskId || !('state' in data)) {
      throw new CorruptCheckpointError(file, new Error('not a checkpoint of this task'));
    }
    if (data.sha256 !== checksum(JSON.stringify(data.state))) {
      const error = new CorruptCheckpointError(file, new Error('checksum mismatch'));
      error.message = `checkpoint ${file} fails its checksum`;
      throw error;
    }
    return data as CheckpointFile;
  }

  /**
   * Durably saves the task's state, with the fingerprint of the task's input when given; throws if
   * `state` cannot be written as JSON.
   */
  async writeCheckpoint(taskId: string, state: unknown, input?: string): Promise<void> {
    if (state === undefined || typeof state === 'function' || typeof state === 'symbol') {
      throw new TypeError(
        'checkpoint state must be JSON-serializable (got undefined, a function or a symbol)',
      );
    }
    const stateJson = JSON.stringify(state);
    // The file is a CheckpointFile; spliced as text so a large state is serialized once, not
    // copied, re-parsed and serialized again.
    const inputField = input === undefined ? '' : `"input":${JSON.stringify(input)},`;
    const text = `{"taskId":${JSON.stringify(taskId)},"savedAt":"${new Date().toISOString()}",${inputField}"sha256":"${checksum(stateJson)}","state":${stateJson}}`;
    try {
      await this.inTaskDirectory(taskId, () =>
        writeFileAtomic(this.checkpointPath(taskId), text, {
          keepPreviousAs: this.previousCheckpointPath(taskId),
        }),
      );
    } catch (error) {
      throw storageFailure('write a checkpoint', this.dir, error);
    }
  }

  async removeCheckpoint(taskId: string): Promise<void> {
    const files = [this.checkpointPath(taskId), this.previousCheckpointPath(taskId)];
    if (this.flatLayout) {
      files.push(
        path.join(this.dir, checkpointFileFor(taskId)),
        path.join(this.dir, previousCheckpointFileFor(taskId)),
      );
    }
    await Promise.all(files.map(unlinkIfPresent));
  }

  /**
   * Creates a record that must not exist yet (EEXIST tells a contender it lost): a symbolic link in
   * the `symlink` format when it is short enough, else a regular file (`O_EXCL`).
   */
  private async createRecord(file: string, json: string): Promise<void> {
    if (this.recordFormat === 'symlink') {
      const bytes = Buffer.byteLength(json, 'utf8');
      if (bytes <= this.symlinkRecordMaxBytes) {
        try {
          await fs.symlink(json, file);
          return;
        } catch (error) {
          // The record's name is short, so the target is what is too long: see MAX_SYMLINK_RECORD_BYTES.
          if ((error as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw error;
          this.symlinkRecordMaxBytes = Math.min(this.symlinkRecordMaxBytes, bytes - 1);
        }
      }
    }
    await writeSmallFile(file, json);
  }

  /**
   * Replaces a record atomically: created under a temp name unique to this writer in the same
   * directory, then renamed over it. Survives process death (SIGKILL, OOM), not a node crash (no
   * fsync).
   */
  private async replaceRecord(file: string, json: string): Promise<void> {
    const temp = tempNameFor(file);
    try {
      await this.createRecord(temp, json);
      await fs.rename(temp, file);
    } catch (error) {
      await unlinkIfPresent(temp).catch(() => undefined); // the original error matters more
      throw error;
    }
  }

  leasePath(taskId: string): string {
    return this.taskFile(taskId, leaseFileFor(taskId));
  }

  async readLease(taskId: string): Promise<Lease | undefined> {
    return readLeaseFile(this.leasePath(taskId), this.recordFormat);
  }

  /**
   * Takes the task's lease for `ttlMs` unless another holder's lease is live. Creation is exclusive
   * (symlink(), or `O_EXCL`: either fails with EEXIST whatever holds the name, a lease of either
   * format); an expired or unreadable lease is first moved aside under a unique name, which only
   * one contender can do, so two pods never both take it over.
   */
  async acquireLease(taskId: string, holder: string, ttlMs: number, now = Date.now()): Promise<LeaseAttempt> {
    const file = this.leasePath(taskId);
    for (let round = 0; round < 3; round++) {
      const lease: Lease = { taskId, holder, expiresAt: now + ttlMs };
      try {
        // Not fsynced: a lease only has to outlive its holder's process; after a node crash it
        // expires anyway.
        await this.inTaskDirectory(taskId, () => this.createRecord(file, JSON.stringify(lease)));
        return await this.unlessFlatLeaseHeld(taskId, holder, now);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw storageFailure('take a lease', this.dir, error);
        }
      }
      const current = await readLeaseFile(file, this.recordFormat);
      if (current && current.holder !== holder && current.expiresAt > now) {
        return { acquired: false, holder: current.holder, expiresInMs: current.expiresAt - now };
      }
      // Expired, ours from an earlier delivery, or unreadable: move it aside, then try again.
      const aside = `${file}.${randomBytes(6).toString('hex')}.stale`;
      try {
        await fs.rename(file, aside);
      } catch {
        continue; // another contender moved it first
      }
      // Between the read and the rename another contender may have taken it over: then what we
      // moved is its live lease, which goes back (a hard link fails if a third one meanwhile
      // created a lease; the live holder's next renewal then notices it lost the lease). link()
      // does not follow a symbolic link on Linux: a lease of the `symlink` format goes back as it is.
      const moved = await readLeaseFile(aside, this.recordFormat);
      if (moved && moved.holder !== holder && moved.expiresAt > now) {
        await fs.link(aside, file).catch(() => undefined); // see above
        await unlinkIfPresent(aside);
        return { acquired: false, holder: moved.holder, expiresInMs: moved.expiresAt - now };
      }
      await unlinkIfPresent(aside);
    }
    const current = await readLeaseFile(file, this.recordFormat);
    return { acquired: false, holder: current?.holder ?? 'unknown', expiresInMs: ttlMs };
  }

  /**
   * Taken: unless a worker of the flat layout holds a live lease of the task in CHECKPOINT_DIR
   * itself, in which case ours is dropped again and the other holder wins.
   */
  private async unlessFlatLeaseHeld(taskId: string, holder: string, now: number): Promise<LeaseAttempt> {
    if (!this.flatLayout) {
      return { acquired: true };
    }
    const flat = await readLeaseFile(path.join(this.dir, leaseFileFor(taskId)), this.recordFormat);
    if (flat && flat.holder !== holder && flat.expiresAt > now) {
      await unlinkIfPresent(this.leasePath(taskId));
      return { acquired: false, holder: flat.holder, expiresInMs: flat.expiresAt - now };
    }
    return { acquired: true };
  }

  /** Extends our lease; false when it is no longer ours (taken over after expiring). */
  async renewLease(taskId: string, holder: string, ttlMs: number): Promise<boolean> {
    const current = await this.readLease(taskId);
    if (current?.holder !== holder) {
      return false;
    }
    const lease: Lease = { taskId, holder, expiresAt: Date.now() + ttlMs };
    await this.replaceRecord(this.leasePath(taskId), JSON.stringify(lease));
    return true;
  }

  /**
   * Drops our lease (never someone else's). `stillLive`: the caller knows its lease has not
   * expired (nobody can have taken it over), so the check read is skipped.
   */
  async releaseLease(taskId: string, holder: string, options: { stillLive?: boolean } = {}): Promise<void> {
    if (!options.stillLive) {
      const current = await this.readLease(taskId).catch(() => undefined);
      if (current?.holder !== holder) {
        return;
      }
    }
    await unlinkIfPresent(this.leasePath(taskId));
  }

  publishedPath(taskId: string): string {
    return this.taskFile(taskId, publishedFileFor(taskId));
  }

  /**
   * The task's done marker, if any. The id stored in the marker must be `taskId` exactly (file names
   * are hashes of the id): a marker of another id is reported as corrupt, never taken as this task's.
   */
  async readDone(taskId: string): Promise<DoneMarker | undefined> {
    const publishedFile = this.publishedPath(taskId);
    const doneFile = this.donePath(taskId);
    // Both names at once: a task seen for the first time has neither, and on a network volume two
    // lookups in parallel cost one round trip. The `published` one decides when it exists (even
    // unreadable); the `done` one only counts without it. Either may be a symbolic link or a
    // regular file (`readRecord`), whatever this store writes.
    // With the flat layout about, its two names are read at the same time, and count after ours.
    const publishedFiles = [publishedFile];
    const doneFiles = [doneFile];
    if (this.flatLayout) {
      publishedFiles.push(path.join(this.dir, publishedFileFor(taskId)));
      doneFiles.push(path.join(this.dir, doneFileFor(taskId)));
    }
    const reads = await Promise.all(
      [...publishedFiles, ...doneFiles].map((file) => settledRead(file, this.recordFormat)),
    );
    const published = reads.slice(0, publishedFiles.length);
    const done = reads.slice(publishedFiles.length);
    for (const [i, read] of published.entries()) {
      if ('error' in read) {
        throw read.error;
      }
      if (read.data !== undefined) {
        return { ...ownMarker(read.data as DoneMarker, taskId, publishedFiles[i]), state: 'published' };
      }
    }
    for (const [i, read] of done.entries()) {
      if ('error' in read) {
        throw read.error;
      }
      if (read.data !== undefined) {
        return ownMarker(read.data as DoneMarker, taskId, doneFiles[i]);
      }
    }
    return undefined;
  }

  /**
   * Not fsynced (two fsyncs per marker cost more than the rest of a short task): the marker
   * survives any death of the worker process, which is what it guards against. A node crash can
   * lose the latest marker; the redelivery then runs the handler again from its last checkpoint
   * (those are fsynced) and may publish a second result for the task, which carries the same
   * `messageId`.
   *
   * The first `publishing` marker of a task is created in place, exclusively, one operation fewer
   * than a temp name and a rename. As a symbolic link (up to `MAX_SYMLINK_RECORD_BYTES`) it is
   * created whole or not at all, so it is never torn. As a regular file (`O_EXCL`), a process
   * killed while writing it leaves a marker that is empty or cut short, which every reader takes as
   * unreadable (a proper prefix of a JSON object never parses), i.e. as "not finished", exactly
   * what the crash means, since nothing was published yet. Any later write replaces the marker
   * atomically (temp name, rename), so a complete marker is never turned back into a torn one.
   */
  async writeDone(
    taskId: string,
    state: DoneMarker['state'],
    outcome: Outcome,
    input?: string,
  ): Promise<void> {
    const marker: DoneMarker = { taskId, state, outcome, at: new Date().toISOString(), input };
    try {
      await this.inTaskDirectory(taskId, () => this.writeMarker(taskId, state, marker));
    } catch (error) {
      throw storageFailure('write a done marker', this.dir, error);
    }
  }

  /** The file operations of `writeDone`. */
  private async writeMarker(taskId: string, state: DoneMarker['state'], marker: DoneMarker): Promise<void> {
    if (state === 'published') {
      // The `publishing` marker already holds this outcome: one rename makes it `published`.
      try {
        await fs.rename(this.donePath(taskId), this.publishedPath(taskId));
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      await this.replaceRecord(this.publishedPath(taskId), JSON.stringify(marker));
      return;
    }
    try {
      await this.createRecord(this.donePath(taskId), JSON.stringify(marker));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // A marker exists already (a rewrite with another outcome, or one a killed process left
    // torn): replaced whole.
    await this.replaceRecord(this.donePath(taskId), JSON.stringify(marker));
  }
}

/** `marker` when it is a marker of `taskId`; otherwise the file is not this task's: corrupt. */
function ownMarker(marker: DoneMarker, taskId: string, file: string): DoneMarker {
  if (typeof marker !== 'object' || marker === null || marker.taskId !== taskId) {
    throw new CorruptCheckpointError(file, new Error('not a done marker of this task id'));
  }
  return marker;
}

/**
 * Every operation of the store is tried again, after a short pause, while it fails with
 * EMFILE/ENFILE (see `retryOnFileLimit`); when it still does, it throws `FileLimitError`, never
 * `StorageError`: the process is out of file descriptors, the store may well be fine. Applied here,
 * once for all operations, so none of them is left out; `satisfies` fails the build when one is
 * renamed.
 */
const RETRIED_ON_FILE_LIMIT = {
  readCheckpoint: 'read a checkpoint',
  writeCheckpoint: 'write a checkpoint',
  removeCheckpoint: 'remove a checkpoint',
  readLease: 'read a lease',
  acquireLease: 'take a lease',
  renewLease: 'renew a lease',
  releaseLease: 'release a lease',
  readDone: 'read a done marker',
  writeDone: 'write a done marker',
} as const satisfies Partial<Record<keyof TaskCheckpoints, string>>;

for (const [name, operation] of Object.entries(RETRIED_ON_FILE_LIMIT)) {
  const method = TaskCheckpoints.prototype[name as keyof typeof RETRIED_ON_FILE_LIMIT] as (
    this: TaskCheckpoints,
    ...args: unknown[]
  ) => unknown;
  Object.defineProperty(TaskCheckpoints.prototype, name, {
    configurable: true,
    writable: true,
    value: function (this: TaskCheckpoints, ...args: unknown[]): Promise<unknown> {
      return retryOnFileLimit(() => method.apply(this, args), { operation, dir: this.dir });
    },
  });
}
