import { Env, ExitCode, redact } from '@agent-fleet/contract';
import type { ResolvedOptions, WorkerOptions } from './config';
import { resolveOptions } from './config';
import { ConfigError, errorText } from './errors';
import { HealthServer } from './http';
import { createLogger, type Logger } from './logger';
import type { MemorySource } from './memory';
import { WorkerMetrics } from './metrics';
import { type AgentHandler, AgentWorker, BrokerUnavailableError } from './worker';

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
 * `/metrics`, `/healthz` and `/readyz`, consumes tasks until the worker stops, and exits with the
 * contract's code for the reason it stopped. This is the entrypoint: it wires the signals, the
 * worker class does not.
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
  const exit = (code: number): number => {
    if (exitProcess) {
      process.exit(code);
    }
    return code;
  };

  let resolved: ResolvedOptions;
  try {
    resolved = resolveOptions(workerOptions, env);
  } catch (error) {
    if (error instanceof ConfigError && exitProcess) {
      reportConfigError(error, createLogger({ agentIndex: 'unknown', pod: 'unknown' }));
      return exit(ExitCode.configError);
    }
    throw error;
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
      prefetch: resolved.prefetch,
    },
    'agent worker starting',
  );

  const metrics = new WorkerMetrics();
  const worker = new AgentWorker(handler as AgentHandler, resolved, log, memorySource);
  metrics.observe(worker);
  const server = new HealthServer(metrics.registry, () => worker.ready);

  let hardDeadline: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received; checkpointing and requeueing in-flight work');
    if (exitProcess && hardDeadline === undefined) {
      // Backstop: whatever happens, the process is gone by the deadline, and never with 0.
      hardDeadline = setTimeout(() => {
        log.error({ shutdownSeconds: resolved.shutdownSeconds }, 'shutdown deadline passed; exiting now');
        process.exit(ExitCode.interrupted);
      }, resolved.shutdownSeconds * 1000);
      hardDeadline.unref();
    }
    void worker.close('signal');
  };
  if (handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const cleanup = async () => {
    if (handleSignals) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    await server.close();
  };

  try {
    const port = await server.listen(resolved.metricsPort).catch((error) => {
      throw new ConfigError([
        {
          variable: Env.METRICS_PORT,
          value: String(resolved.metricsPort),
          message: `cannot listen (${errorText(error)}); pick a free port`,
        },
      ]);
    });
    log.info({ port }, 'serving /metrics, /healthz and /readyz');
    const code = await worker.run();
    await cleanup();
    return exit(code);
  } catch (error) {
    await worker.close('signal').catch(() => undefined);
    await cleanup();
    if (error instanceof ConfigError) {
      if (!exitProcess) {
        throw error;
      }
      reportConfigError(error, log);
      return exit(ExitCode.configError);
    }
    if (error instanceof BrokerUnavailableError) {
      log.fatal({ err: error }, error.message);
      if (!exitProcess) {
        throw error;
      }
      return exit(ExitCode.dependencyUnreachable);
    }
    throw error;
  }
}

/** One JSON log line for machines and the plain message on stderr for people. */
export function reportConfigError(error: ConfigError, log: Logger): void {
  log.fatal({ problems: error.problems }, error.message);
  process.stderr.write(`${error.message}\n`);
}
