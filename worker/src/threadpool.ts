import { Env } from '@agent-fleet/contract';

/**
 * Every operation of the checkpoint store runs on libuv's thread pool, which holds 4 threads
 * unless `UV_THREADPOOL_SIZE` says otherwise. On a network volume a thread waits a round trip per
 * metadata operation, so 4 threads cap the store at 4 operations per round trip for the whole
 * process, whatever `AGENT_CONCURRENCY` is. A fresh task has up to 4 operations under way at once
 * (its done-marker and checkpoint lookups), so the pool gets 4 threads per task held at once, plus
 * 4 for everything else (handlers' own file, DNS and crypto calls), at most libuv's limit.
 */
export const MAX_THREADPOOL_SIZE = 1024;

export function threadpoolSizeFor(concurrency: number): number {
  const tasks = Number.isInteger(concurrency) && concurrency >= 1 ? concurrency : 1;
  return Math.min(MAX_THREADPOOL_SIZE, 4 + 4 * tasks);
}

/**
 * Sets `UV_THREADPOOL_SIZE` from `AGENT_CONCURRENCY` unless it is set already (a value the operator
 * chose wins). libuv reads it once, when the pool starts (the first asynchronous file, DNS or crypto
 * call of the process), so this must run before any of those: first thing in the entrypoint. An
 * invalid `AGENT_CONCURRENCY` is left to the settings check, which reports it.
 */
export function sizeThreadpool(env: NodeJS.ProcessEnv = process.env): void {
  if (env.UV_THREADPOOL_SIZE !== undefined && env.UV_THREADPOOL_SIZE !== '') {
    return;
  }
  const raw = env[Env.AGENT_CONCURRENCY]?.trim();
  const concurrency = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : 1;
  env.UV_THREADPOOL_SIZE = String(threadpoolSizeFor(concurrency));
}
