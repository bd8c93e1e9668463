/**
 * `runShard`: the entrypoint of file mode (`AGENT_TASK_SOURCE=file`), as `runAgent` is of queue
 * mode: reads and validates the settings, serves `/metrics`, `/healthz` and `/readyz`, runs the
 * shard of `AGENT_INDEX`, waits for a last scrape, and exits with the contract's code. No broker
 * setting is read.
 */
import { ExitCode, shardFileName, TaskSources } from '@agent-fleet/contract';
import type { ResolvedOptions, WorkerOptions } from './config';
import { ConfigError, errorText, isStorageError } from './errors';
import { HealthServer } from './http';
import { createLogger } from './logger';
import { cgroupMemorySource } from './memory';
import { WorkerMetrics } from './metrics';
import type { RunAgentOptions } from './run';
import {
  exitWith,
  listenForStopSignals,
  reportConfigError,
  resolveOrReport,
  serveHealth,
  shutdownDeadline,
} from './run';
import { waitForLastScrape } from './scrape-tracker';
import { ShardRunner } from './shard-runner';
import type { AgentHandler } from './task-context';

/** The options of `runAgent`; the task source is always `file`. */
export type RunShardOptions<I = unknown, O = unknown, S = unknown> = Omit<
  RunAgentOptions<I, O, S>,
  'taskSource'
>;

/**
 * Runs the shard file of `AGENT_INDEX` from `AGENT_TASK_DIR` with `handler`, writing one result
 * file per task into `CHECKPOINT_DIR`. Exit codes: 0 every task succeeded; 65 every task has its
 * result and some failed; 75 after SIGTERM/SIGINT or high memory (checkpointed; the replacement
 * resumes); 69 the checkpoint store failed; 78 invalid settings (a missing shard file included).
 */
export async function runShard<I, O, S>(options: RunShardOptions<I, O, S>): Promise<number> {
  const { exitProcess = true, env = process.env } = options;
  const resolved = resolveOrReport(shardOptions(options), env, exitProcess);
  return typeof resolved === 'number' ? exitWith(exitProcess, resolved) : runResolvedShard(resolved, options);
}

/** The worker settings among `options`: what is neither the handler nor about the entrypoint. */
function shardOptions<I, O, S>(options: RunShardOptions<I, O, S>): WorkerOptions {
  const { handler, handleSignals, exitProcess, env, memorySource, ...workerOptions } = options;
  return { ...workerOptions, taskSource: TaskSources.file };
}

/** `runShard` with its settings resolved already (by it, or by `runAgent` finding file mode). */
export async function runResolvedShard<I, O, S>(
  resolved: ResolvedOptions,
  options: RunShardOptions<I, O, S>,
): Promise<number> {
  const { handler, handleSignals = true, exitProcess = true, memorySource } = options;
  const exit = (code: number): number => exitWith(exitProcess, code);

  const log = createLogger({ agentIndex: resolved.agentIndex, pod: resolved.podName });
  log.info(
    {
      taskSource: resolved.taskSource,
      taskDir: resolved.taskDir,
      shard: shardFileName(resolved.shardIndex as number),
      checkpointDir: resolved.checkpointDir,
      concurrency: resolved.concurrency,
      maxAttempts: resolved.maxAttempts,
      shutdownSeconds: resolved.shutdownSeconds,
      scrapeWaitSeconds: resolved.scrapeWaitSeconds,
    },
    'agent worker starting',
  );

  const metrics = new WorkerMetrics({ log });
  const runner = new ShardRunner(
    handler as AgentHandler,
    resolved,
    log,
    memorySource ?? cgroupMemorySource(resolved.cgroupRoot),
  );
  metrics.observe(runner);
  const server = new HealthServer(metrics.registry, () => runner.ready, metrics.scrapes);

  const startDeadline = shutdownDeadline(resolved.shutdownSeconds, metrics, log, exitProcess);
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received; checkpointing and stopping');
    startDeadline();
    runner.stop('signal');
  };
  const stopListening = listenForStopSignals(handleSignals, onSignal);
  const cleanup = async () => {
    stopListening();
    await server.close();
  };

  try {
    await serveHealth(server, resolved.metricsPort, log);
    const code = await runner.run();
    await waitForLastScrape(metrics.scrapes, resolved.scrapeWaitSeconds, log);
    await cleanup();
    return exit(code);
  } catch (error) {
    await cleanup();
    if (error instanceof ConfigError) {
      if (!exitProcess) {
        throw error;
      }
      reportConfigError(error, log);
      return exit(ExitCode.configError);
    }
    if (isStorageError(error)) {
      log.fatal({ err: error, exitCode: ExitCode.dependencyUnreachable }, errorText(error));
      if (!exitProcess) {
        throw error;
      }
      return exit(ExitCode.dependencyUnreachable);
    }
    log.fatal({ err: error }, 'unexpected error while running the shard');
    throw error;
  }
}
