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
            : 'is the checkpoint volume mounted?';
    super(`cannot ${operation} in the checkpoint store ${dir}: ${errorText(cause)} (${hint})`, { cause });
    this.name = 'StorageError';
    this.code = code;
  }
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
