import { Env, ExitCode, redact, TaskSources } from '@agent-fleet/contract';
import type { ResolvedOptions, WorkerOptions } from './config';
import { resolveOptions } from './config';
import { ConfigError, errorText } from './errors';
import { HealthServer } from './http';
import { createLogger, type Logger } from './logger';
import type { MemorySource } from './memory';
import { WorkerMetrics } from './metrics';
import { waitForLastScrape } from './scrape-tracker';
import { type AgentHandler, AgentWorker, DependencyUnavailableAtStartError } from './worker';

/**
 * What a wait for a last scrape leaves before the shutdown deadline after a signal: time to close
 * the server and exit before the backstop (exit 75) would.
 */
export const SCRAPE_WAIT_RESERVE_MS = 500;

export interface RunAgentOptions<I = unknown, O = unknown, S = unknown> extends WorkerOptions {
  /** The task handler. */
  readonly handler: AgentHandler<I, O, S>;
  /**
   * Stop gracefully on SIGTERM and SIGINT (exit code `ExitCode.interrupted`).
   * @default true
   */
  readonly handleSignals?: boolean;
  /**
   * Call `process.exit()` with the exit code when the worker stops (a handler ignoring its
   * signal must not keep the pod alive past the deadline). When false, resolve with the code and
   * throw `ConfigError` for invalid settings instead of exiting.
   * @default true
   */
  readonly exitProcess?: boolean;
  /** Environment to read the options from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where memory use and limit come from. @default - the cgroup files under `AGENT_CGROUP_ROOT` */
  readonly memorySource?: MemorySource;
}

/**
 * Runs an agent: reads and validates the options (from the contract env by default), serves
 * `/metrics`, `/healthz` and `/readyz`, consumes tasks until the worker stops, waits (bounded by
 * `AGENT_SCRAPE_WAIT_SECONDS`, and after a signal by the shutdown deadline) until Prometheus has
 * read its last metric changes, and exits with the contract's code for the reason it stopped. This
 * is the entrypoint: it wires the signals, the worker class does not. With
 * `AGENT_TASK_SOURCE=file` it runs the shard of `AGENT_INDEX` instead ({@link runShard}).
 *
 * ```ts
 * import { runAgent } from '@agent-fleet/worker';
 * runAgent({ handler: async (input, ctx) => ({ echo: input }) });
 * ```
 */
export async function runAgent<I, O, S>(options: RunAgentOptions<I, O, S>): Promise<number> {
  const {
    handler,
    handleSignals = true,
    exitProcess = true,
    env = process.env,
    memorySource,
    ...workerOptions
  } = options;
  const exit = (code: number): number => exitWith(exitProcess, code);
  const resolved = resolveOrReport(workerOptions, env, exitProcess);
  if (typeof resolved === 'number') {
    return exit(resolved);
  }

  if (resolved.taskSource === TaskSources.file) {
    // A batch from shard files has no broker and an entry of its own, which installs its signal
    // listeners before its first await as this one does. Loaded only when used.
    const { runResolvedShard } = require('./run-shard') as typeof import('./run-shard');
    return runResolvedShard(resolved, options);
  }

  const log = createLogger({ agentIndex: resolved.agentIndex, pod: resolved.podName });
  log.info(
    {
      broker: redact(resolved.taskQueueUrl),
      taskQueue: resolved.taskQueueName,
      resultQueue: resolved.resultQueueName,
      checkpointDir: resolved.checkpointDir,
      maxTasks: resolved.maxTasks,
      idleExitSeconds: resolved.idleExitSeconds,
      shutdownSeconds: resolved.shutdownSeconds,
      concurrency: resolved.concurrency,
      restartPolicy: resolved.restartPolicy,
      scrapeWaitSeconds: resolved.scrapeWaitSeconds,
    },
    'agent worker starting',
  );

  const metrics = new WorkerMetrics({ log });
  const worker = new AgentWorker(handler as AgentHandler, resolved, log, memorySource);
  metrics.observe(worker);
  const server = new HealthServer(metrics.registry, () => worker.ready, metrics.scrapes);

  const startDeadline = shutdownDeadline(resolved.shutdownSeconds, metrics, log, exitProcess);
  let signalled = false;
  let stopBySignal: (code: number) => void = () => undefined;
  /** Settles once a signal stopped the worker, with its exit code. */
  const stoppedBySignal = new Promise<number>((resolve) => {
    stopBySignal = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    signalled = true;
    log.info({ signal }, 'signal received; checkpointing and requeueing in-flight work');
    startDeadline();
    worker
      .close('signal')
      .then(stopBySignal, (error: unknown) =>
        log.error({ err: error }, 'stopping after the signal failed; the shutdown deadline ends the process'),
      );
  };
  const stopListening = listenForStopSignals(handleSignals, onSignal);
  const cleanup = async () => {
    stopListening();
    await server.close();
  };

  try {
    await serveHealth(server, resolved.metricsPort, log);
    const running = worker.run();
    // A signal during the start (a slow checkpoint volume, a broker being retried) ends the run
    // with the signal's exit code at once; the start still under way is abandoned, its late
    // failure ignored.
    running.catch(() => undefined);
    const code = await Promise.race([running, stoppedBySignal]);
    await waitForLastScrape(metrics.scrapes, resolved.scrapeWaitSeconds, log);
    await cleanup();
    return exit(code);
  } catch (error) {
    if (signalled) {
      // The start failed because a signal cut it short: the exit is the signal's.
      const code = await worker.close('signal');
      await waitForLastScrape(metrics.scrapes, resolved.scrapeWaitSeconds, log);
      await cleanup();
      return exit(code);
    }
    // No worker.close() here: a start that throws has already released what it took (nothing runs
    // yet), and closing would log a shutdown with a stop reason and exit code that are not the
    // ones this process ends with.
    await cleanup();
    if (error instanceof ConfigError) {
      if (!exitProcess) {
        throw error;
      }
      reportConfigError(error, log);
      return exit(ExitCode.configError);
    }
    if (error instanceof DependencyUnavailableAtStartError) {
      log.fatal({ err: error, exitCode: ExitCode.dependencyUnreachable }, error.message);
      if (!exitProcess) {
        throw error;
      }
      return exit(ExitCode.dependencyUnreachable);
    }
    log.fatal({ err: error }, 'unexpected error while starting the worker');
    throw error;
  }
}

/** Exits the process with `code` when `exitProcess`; returns `code` either way. */
export function exitWith(exitProcess: boolean, code: number): number {
  if (exitProcess) {
    process.exit(code);
  }
  return code;
}

/**
 * The settings of an entrypoint; invalid ones are reported and give `ExitCode.configError` when the
 * entrypoint exits the process, and throw `ConfigError` when it does not.
 */
export function resolveOrReport(
  workerOptions: WorkerOptions,
  env: Readonly<Record<string, string | undefined>>,
  exitProcess: boolean,
): ResolvedOptions | number {
  try {
    return resolveOptions(workerOptions, env);
  } catch (error) {
    if (error instanceof ConfigError && exitProcess) {
      reportConfigError(error, createLogger({ agentIndex: 'unknown', pod: 'unknown' }));
      return ExitCode.configError;
    }
    throw error;
  }
}

/**
 * What a signal starts, once: a wait for a last scrape, now or to come, ends before the shutdown
 * deadline (the kubelet's SIGKILL follows it by the margin, and the exit code is decided already);
 * and, when the entrypoint exits the process, a backstop: whatever happens (a handler ignoring its
 * signal included), the process is gone by the deadline, and never with 0.
 */
export function shutdownDeadline(
  shutdownSeconds: number,
  metrics: WorkerMetrics,
  log: Logger,
  exitProcess: boolean,
): () => void {
  let started = false;
  return () => {
    metrics.scrapes.limit(Date.now() + shutdownSeconds * 1000 - SCRAPE_WAIT_RESERVE_MS);
    if (!exitProcess || started) return;
    started = true;
    setTimeout(() => {
      log.error({ shutdownSeconds }, 'shutdown deadline passed; exiting now');
      process.exit(ExitCode.interrupted);
    }, shutdownSeconds * 1000).unref();
  };
}

/** Calls `onSignal` on SIGTERM and SIGINT (when `enabled`); returns what removes the listeners. */
export function listenForStopSignals(
  enabled: boolean,
  onSignal: (signal: NodeJS.Signals) => void,
): () => void {
  if (!enabled) return () => undefined;
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/** Serves `/metrics`, `/healthz` and `/readyz`; a port it cannot listen on is a configuration error. */
export async function serveHealth(server: HealthServer, port: number, log: Logger): Promise<number> {
  const listening = await server.listen(port).catch((error) => {
    throw new ConfigError([
      {
        variable: Env.METRICS_PORT,
        value: String(port),
        message: `cannot listen (${errorText(error)}); pick a free port`,
      },
    ]);
  });
  log.info({ port: listening }, 'serving /metrics, /healthz and /readyz');
  return listening;
}

/** One JSON log line for machines and the plain message on stderr for people. */
export function reportConfigError(error: ConfigError, log: Logger): void {
  log.fatal({ problems: error.problems, exitCode: ExitCode.configError }, error.message);
  process.stderr.write(`${error.message}\n`);
}
