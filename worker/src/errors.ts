import { describeViolation, type PublishViolation } from './amqp-limits';

/**
 * A handler error that retrying cannot fix (bad input, a refused request, a task that makes no sense).
 * The task is dead-lettered at once with a failed result instead of being requeued.
 *
 * Any error with `permanent: true` counts as permanent too, so a handler bundling its own copy of
 * this package (another `PermanentError` class) is still understood.
 */
export class PermanentError extends Error {
  readonly permanent = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** True for `PermanentError` and for any error marked `permanent: true`. */
export function isPermanentError(error: unknown): boolean {
  if (error instanceof PermanentError) {
    return true;
  }
  return typeof error === 'object' && error !== null && (error as { permanent?: unknown }).permanent === true;
}

/** One problem with one setting: which variable, the bad value (secrets redacted) and how to fix it. */
export interface ConfigProblem {
  /** The environment variable (or option) at fault. */
  readonly variable: string;
  /** The offending value as it may be shown (passwords replaced by `***`). */
  readonly value: string | undefined;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

/** The worker's configuration is invalid; the bin exits with `ExitCode.configError`. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      `invalid worker configuration:\n${problems
        .map(
          (p) =>
            `  - ${p.variable}${p.value === undefined ? ' (unset)' : `=${JSON.stringify(p.value)}`}: ${p.message}`,
        )
        .join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Text of any thrown value, for logs and result messages. */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    return error.message || error.name;
  }
  return String(error);
}

/**
 * The checkpoint store cannot be read or written (read-only or full volume, unmounted or
 * misconfigured directory). Not the task's fault: the worker returns the task without spending an
 * attempt and stops taking tasks.
 */
export class StorageError extends Error {
  /** The OS error code (EROFS, ENOSPC, EACCES, ENOTDIR, …) when there is one. */
  readonly code: string | undefined;

  constructor(operation: string, dir: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const hint =
      code === 'EROFS'
        ? 'the volume is mounted read-only'
        : code === 'ENOSPC' || code === 'EDQUOT'
          ? 'the volume is full'
          : code === 'EACCES' || code === 'EPERM'
            ? 'the worker lacks write permission (check fsGroup / runAsUser)'
            : code !== undefined && FILE_LIMIT_CODES.includes(code)
              ? 'too many open files: the process is out of file descriptors, the store may be fine'
              : code === 'ETIMEDOUT'
                ? 'the volume does not answer: is its server reachable?'
                : 'is the checkpoint volume mounted?';
    super(`cannot ${operation} in the checkpoint store ${dir}: ${errorText(cause)} (${hint})`, { cause });
    this.name = 'StorageError';
    this.code = code;
  }
}

/**
 * `EMFILE` (this process) or `ENFILE` (the whole host) ran out of file descriptors: a problem of
 * the process's resources, not of the checkpoint store, and often a passing one (descriptors of
 * finished operations are being closed).
 */
export const FILE_LIMIT_CODES: readonly string[] = ['EMFILE', 'ENFILE'];

/** The OS error code of `error` or of an error in its `cause` chain, when there is one. */
function errnoCodeOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      return code;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when `error` (or its cause) says the process or the host has too many open files. */
export function isFileLimitError(error: unknown): boolean {
  if (error instanceof FileLimitError || (error as { name?: unknown } | null)?.name === 'FileLimitError') {
    return true;
  }
  const code = errnoCodeOf(error);
  return code !== undefined && FILE_LIMIT_CODES.includes(code);
}

/**
 * A store operation kept failing with `EMFILE`/`ENFILE` after its retries: the worker process (or
 * the host) is out of file descriptors. Not a `StorageError`: the checkpoint store itself is fine,
 * and a process with fewer files open (or a higher limit) can use it.
 */
export class FileLimitError extends Error {
  /** `EMFILE` or `ENFILE`. */
  readonly code: string;

  constructor(
    /** What was being done, e.g. "write a checkpoint". */
    readonly operation: string,
    readonly dir: string,
    cause: unknown,
    /** How often the operation was tried. */
    readonly tries = 1,
  ) {
    const code = errnoCodeOf(cause) ?? 'EMFILE';
    const whose = code === 'ENFILE' ? 'the host' : 'the worker process';
    super(
      `cannot ${operation} in ${dir}: ${whose} has too many open files (${code})` +
        `${tries > 1 ? `, still after ${tries} tries` : ''}; this is not a problem of the checkpoint store: ` +
        `raise the open-file limit (ulimit -n, the container runtime's nofile) or open fewer files in the handler`,
      { cause },
    );
    this.name = 'FileLimitError';
    this.code = code;
  }
}

/**
 * The error for a failed store operation: `FileLimitError` when the process ran out of file
 * descriptors, `StorageError` otherwise.
 */
export function storageFailure(operation: string, dir: string, cause: unknown): Error {
  if (cause instanceof FileLimitError) {
    return cause;
  }
  return isFileLimitError(cause)
    ? new FileLimitError(operation, dir, cause)
    : new StorageError(operation, dir, cause);
}

/** True when `error` is, or was caused by, a `StorageError`. */
export function isStorageError(error: unknown): boolean {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof StorageError || (e as { name?: unknown }).name === 'StorageError') {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A publish that can never succeed as planned (a body over the broker's `max_message_size`, a
 * `messageId` over 255 bytes, headers amqplib cannot encode). Thrown *before* sending, so the
 * channel stays open (the broker would close it for an oversized body); retrying the same publish
 * cannot help. The caller publishes something smaller instead (a failed result saying why).
 */
export class PermanentPublishError extends Error {
  constructor(
    /** Where it was to go: the queue, or the exchange. */
    readonly destination: string,
    /** The limit it breaks. */
    readonly violation: PublishViolation,
  ) {
    super(`cannot publish to "${destination}": ${describeViolation(violation)}`);
    this.name = 'PermanentPublishError';
  }
}

/**
 * The broker did not answer within the deadline of an operation (connect and handshake, a
 * confirm, a declaration, consume, cancel, close). The connection is then treated as lost.
 */
export class BrokerTimeoutError extends Error {
  constructor(
    /** What was waited for. */
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`the broker did not answer ${operation} within ${timeoutMs} ms`);
    this.name = 'BrokerTimeoutError';
  }
}
