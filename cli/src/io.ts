import { redact } from '@agent-fleet/contract';

/**
 * What every command gets instead of `process`: output streams, the environment and whether stderr is a
 * terminal. Commands return an exit code; only `main.ts` touches `process.exitCode`.
 */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal: progress bars and live lines are drawn only then. */
  readonly stderrIsTTY: boolean;
}

/**
 * The credentials a command has learned (its broker URL's, its kubeconfig's), so that whatever it
 * writes passes through the contract's `redact` with them as `known`.
 */
export class Secrets {
  private readonly values = new Set<string>();

  add(...values: ReadonlyArray<string | undefined>): void {
    for (const value of values) {
      if (value !== undefined && value !== '') {
        this.values.add(value);
      }
    }
  }

  get size(): number {
    return this.values.size;
  }

  /**
   * Longest first: were a short secret replaced inside a longer one first, the rest of the longer one
   * would stay readable.
   */
  get known(): string[] {
    return [...this.values].sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    return redact(text, this.known);
  }
}

/**
 * What `runCli` hands a command: the caller's streams wrapped so that every write is redacted with
 * `secrets`, to which the command adds each credential as soon as it reads one.
 */
export interface CommandIo extends CliIo {
  readonly secrets: Secrets;
}

/** Exit codes of the `agent-fleet` CLI. */
export const CliExit = {
  ok: 0,
  /** The command ran and its check failed (verify), or a runtime error (broker, cluster). */
  failure: 1,
  /** Bad flags or input files: nothing was done. */
  usage: 2,
} as const;

/** An error with a message meant for the user (no stack) and the exit code to return. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = CliExit.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A usage error: bad flag values or input. */
export function usageError(message: string): CliError {
  return new CliError(message, CliExit.usage);
}

export function writeLine(stream: NodeJS.WritableStream, line = ''): void {
  stream.write(`${line}\n`);
}

/** Parses a non-negative (or positive) integer flag value, naming the flag on failure. */
export function parseIntFlag(flag: string, value: string, options: { min?: number } = {}): number {
  const min = options.min ?? 0;
  if (!/^\d+$/.test(value.trim())) {
    throw usageError(`${flag} must be a whole number >= ${min}, got "${value}".`);
  }
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n < min) {
    throw usageError(`${flag} must be a whole number >= ${min}, got "${value}".`);
  }
  return n;
}

/** Parses a finite number flag value (> 0 unless `allowZero`). */
export function parseNumberFlag(flag: string, value: string, options: { allowZero?: boolean } = {}): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && !options.allowZero)) {
    throw usageError(`${flag} must be a number ${options.allowZero ? '>= 0' : '> 0'}, got "${value}".`);
  }
  return n;
}

/**
 * Parses a duration in seconds: `90`, `90s`, `2m`, `1.5h`, `500ms`. Returns seconds (may be fractional).
 */
export function parseDurationFlag(
  flag: string,
  value: string,
  options: { allowZero?: boolean } = {},
): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) {
    throw usageError(`${flag} must be a duration such as 90, 90s, 2m or 1h, got "${value}".`);
  }
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const seconds = Number(m[1]) * factor;
  if (seconds === 0 && !options.allowZero) {
    throw usageError(`${flag} must be longer than 0, got "${value}".`);
  }
  return seconds;
}
