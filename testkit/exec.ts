/**
 * Child processes for tests that drive real tools (npm, tsc, the cdk8s CLI, a nested jest): run a
 * command to completion with a deadline, capture its output and wall time, and fail with all of it
 * when asked to. Asynchronous, so independent commands (e.g. several `npm install`s) can overlap.
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  readonly command: string;
  readonly cwd: string;
  /** Exit code; null when the process died by a signal (see `signal`). */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time in milliseconds. */
  readonly ms: number;
}

export interface RunOptions {
  readonly cwd: string;
  /** @default cleanEnv() */
  readonly env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long. @default 180 s */
  readonly timeoutMs?: number;
}

/**
 * The environment for a nested tool: this process's, minus what npm and jest set for their own
 * children (`npm_*` from `npm test`, e.g. `npm_config_local_prefix` pointing at this repository,
 * `NODE_ENV=test`, `JEST_WORKER_ID`), so a nested `npm install` or `jest` behaves as it would in a
 * fresh shell. npm settings a user chose through the environment (registry, cache, userconfig) stay.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const keep = new Set([
    'npm_config_registry',
    'npm_config_cache',
    'npm_config_userconfig',
    'npm_config_globalconfig',
  ]);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    if (lower.startsWith('npm_') && !keep.has(lower)) continue;
    if (key === 'NODE_ENV' || key === 'JEST_WORKER_ID' || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const line = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${line} (in ${options.cwd}) did not start: ${error.message}`));
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        command: line,
        cwd: options.cwd,
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      });
    });
  });
}

/** Describes a finished command for an assertion message. */
export function describeRun(result: RunResult): string {
  return [
    `$ ${result.command}   (cwd ${result.cwd})`,
    `exit ${result.status ?? result.signal} after ${result.ms} ms`,
    `--- stdout ---\n${result.stdout.slice(-8000)}`,
    `--- stderr ---\n${result.stderr.slice(-8000)}`,
  ].join('\n');
}

/** Runs a command and returns its result, or throws with its whole output unless it exits 0. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.status !== 0) {
    throw new Error(`command failed:\n${describeRun(result)}`);
  }
  return result;
}
