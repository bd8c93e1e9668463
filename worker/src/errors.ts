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
