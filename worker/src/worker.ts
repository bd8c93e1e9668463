import { EventEmitter } from 'node:events';
import { Env } from '@agent-fleet/contract';
import { type RetryPolicy, retryTiersMs } from './backoff';
import { Broker } from './broker';
import type { ResolvedOptions } from './config';
import { DeliveryPipeline } from './delivery-pipeline';
import { ConfigError, errorText, isStorageError } from './errors';
import type { WorkerEvents } from './events';
import { DependencyGuards } from './guard';
import { IntakeControl, withTimeout } from './intake-control';
import { EXIT_CODE_FOR, isReady, isStopping, Lifecycle, type StopReason } from './lifecycle';
import type { Logger } from './logger';
import { cgroupMemorySource, type MemorySource } from './memory';
import { TaskCheckpoints } from './store';
import type { AgentHandler } from './task-context';

export { EXIT_CODE_FOR, type StopReason } from './lifecycle';
export type { AgentHandler, TaskContext } from './task-context';

/** A dependency (the broker, the checkpoint store) did not answer at startup: exit "dependency unreachable". */
export class DependencyUnavailableAtStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DependencyUnavailableAtStartError';
  }
}

/** The broker could not be reached or refused the topology at startup. */
export class BrokerUnavailableError extends DependencyUnavailableAtStartError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

/**
 * The agent loop: one consumer, one function per delivery (`DeliveryPipeline.handle`), a memoized
 * `close()` with a finish-then-force deadline. It never touches process signals or `process.exit`:
 * the entrypoint (`runAgent`, the `agent-worker` bin) owns those. Metrics subscribe to its typed
 * events. Its whole lifecycle is one state in its `lifecycle` field (see `lifecycle.ts`);
 * `IntakeControl` decides what work is taken, `DeliveryPipeline` takes each delivery to its end.
 */
export class AgentWorker extends EventEmitter<WorkerEvents> {
  private readonly lifecycle = new Lifecycle();
  private readonly broker: Broker;
  private readonly store: TaskCheckpoints;
  private readonly pipeline: DeliveryPipeline;
  private readonly intake: IntakeControl;
  private resolveDone!: (code: number) => void;
  private rejectDone!: (error: unknown) => void;
  /** Settles once `close()` finished: the exit code, for every caller of `close()` and `run()`. */
  private readonly done = new Promise<number>((resolve, reject) => {
    this.resolveDone = resolve;
    this.rejectDone = reject;
  });

  constructor(
    handler: AgentHandler,
    private readonly options: ResolvedOptions,
    private readonly log: Logger,
    memorySource?: MemorySource,
  ) {
    super();
    this.store = new TaskCheckpoints(options.checkpointDir);
    const retry: RetryPolicy = {
      baseDelayMs: Math.round(options.retryDelaySeconds * 1000),
      maxDelayMs: Math.round(options.retryMaxDelaySeconds * 1000),
    };
    const retryTiers = retryTiersMs(retry);
    const guards = new DependencyGuards({
      onCircuit: (dependency, open, retryAfterMs) => this.intake.onCircuit(dependency, open, retryAfterMs),
      onOverflow: ({ maxValues, firstRefused }) =>
        log.warn(
          { maxValues, firstRefused },
          'ctx.guard() was called with more dependency names than the worker keeps breakers for; further names share the breaker "other"',
        ),
    });
    this.broker = new Broker(
      options.taskQueueUrl,
      {
        taskQueueName: options.taskQueueName,
        resultQueueName: options.resultQueueName,
        retryTiersMs: retryTiers,
      },
      {
        onDelivery: (message) => this.intake.onDelivery(message),
        onCancelled: () => this.intake.onConsumerCancelled(),
        onLost: (error) => this.intake.onBrokerLost(error),
        onError: (error, source) => this.log.error({ err: error, source }, `broker ${source} error`),
      },
      { maxMessageBytes: options.maxMessageBytes },
    );
    this.pipeline = new DeliveryPipeline({
      handler,
      options,
      log,
      broker: this.broker,
      store: this.store,
      guards,
      retry,
      retryTiers,
      events: this,
      onStorageFailure: () => this.intake.drain('storage-unavailable'),
    });
    this.intake = new IntakeControl({
      options,
      log,
      broker: this.broker,
      memorySource: memorySource ?? cgroupMemorySource(options.cgroupRoot),
      lifecycle: this.lifecycle,
      events: this,
      handle: (delivery) => this.pipeline.handle(delivery),
      close: (reason) => this.close(reason),
    });
  }

  /** What `/readyz` answers: from joining the task queue until stopping (see `isReady`). */
  get ready(): boolean {
    return isReady(this.lifecycle.state);
  }

  /**
   * Prepares the checkpoint store, connects, declares the queues and starts consuming.
   * Throws `ConfigError` (bad CHECKPOINT_DIR, queue declared with other arguments) or
   * `BrokerUnavailableError`.
   */
  async start(): Promise<void> {
    try {
      await this.store.prepare();
    } catch (error) {
      if (isStorageError(error) && (error as { code?: unknown }).code === 'ETIMEDOUT') {
        // A volume that hangs is unavailable, not misconfigured: a restarted pod may get a working mount.
        throw new DependencyUnavailableAtStartError(
          `the checkpoint store at ${this.options.checkpointDir} does not answer: ${errorText(error)}`,
          { cause: error },
        );
      }
      throw new ConfigError([
        {
          variable: Env.CHECKPOINT_DIR,
          value: this.options.checkpointDir,
          message: `is not a writable directory (${errorText(error)}); mount the checkpoint volume there or point ${Env.CHECKPOINT_DIR} at one`,
        },
      ]);
    }
    try {
      await this.intake.connectWithBackoff('startup');
    } catch (error) {
      await this.broker.close();
      if (isStopping(this.lifecycle.state)) {
        // A signal arrived while retrying the connection: doClose() resolves "interrupted", not 69.
        return;
      }
      if ((error as { code?: unknown }).code === 406) {
        throw new ConfigError([
          {
            variable: Env.TASK_QUEUE_NAME,
            value: this.options.taskQueueName,
            message: `a queue of the topology exists with other arguments (${errorText(error)}); delete it or use another ${Env.TASK_QUEUE_NAME}`,
          },
        ]);
      }
      throw new BrokerUnavailableError(`cannot reach the broker: ${errorText(error)}`, { cause: error });
    }
    if (isStopping(this.lifecycle.state)) {
      // A signal arrived while connecting: doClose() is already resolving the exit code.
      await this.broker.close();
      return;
    }
    this.lifecycle.advance({ type: 'started' });
    this.emit('consuming', true);
    this.intake.watchMemory();
    this.log.info(
      {
        taskQueue: this.options.taskQueueName,
        resultQueue: this.options.resultQueueName,
        concurrency: this.options.concurrency,
        smallRecords: this.store.smallRecords,
      },
      'consuming',
    );
    this.intake.armIdleTimer();
  }

  /** Starts, then resolves with the exit code once the worker stopped. */
  async run(): Promise<number> {
    await this.start();
    return this.done;
  }

  /**
   * Stops the worker; memoized, so every caller gets the same exit code. For `signal` and
   * `broker-lost`: stop consuming, fire every in-flight `ctx.signal`, give handlers until the
   * finish deadline to checkpoint and return, then requeue whatever is still running (force), close
   * the connection and resolve, all within `shutdownSeconds`.
   */
  close(reason: StopReason = 'signal'): Promise<number> {
    if (this.lifecycle.advance({ type: 'stop', reason })) {
      void this.doClose(reason).catch(this.rejectDone);
    }
    return this.done;
  }

  private async doClose(reason: StopReason): Promise<void> {
    const shutdownMs = this.options.shutdownSeconds * 1000;
    const deadline = Date.now() + shutdownMs;
    // Keep a reserve for requeueing and closing the connection after the handlers had their time.
    const finishBy = deadline - Math.min(2000, shutdownMs * 0.2);
    const inFlight = this.intake.inFlight;
    this.intake.stopTimers();
    this.emit('consuming', false);
    this.log.info({ reason, inFlight: inFlight.size }, 'shutting down');

    // Cancel and signal the handlers at once: their checkpoints overlap the cancel's round-trip.
    // A delivery racing the cancel is given back untouched (onDelivery: not accepting).
    const cancelled = withTimeout(this.broker.stopConsuming(), Math.max(0, finishBy - Date.now())).catch(
      (error) => this.log.warn({ err: error }, 'could not cancel the consumer'),
    );
    for (const delivery of inFlight) {
      delivery.controller.abort(new Error(`worker shutting down (${reason})`));
    }
    await cancelled;
    if (inFlight.size > 0) {
      await withTimeout(this.intake.allSettled(), Math.max(0, finishBy - Date.now())).catch(() => undefined);
    }
    for (const delivery of inFlight) {
      // Force: the handler ignored the signal past the finish deadline. Its checkpoints are atomic.
      this.pipeline.release(
        delivery,
        delivery.taskId ?? '<unparsed>',
        'still running at the shutdown deadline',
        this.log,
      );
    }
    await withTimeout(this.broker.close(), Math.max(100, deadline - Date.now())).catch(() => undefined);
    const code = EXIT_CODE_FOR[reason];
    this.log.info({ reason, exitCode: code }, 'stopped');
    this.lifecycle.advance({ type: 'closed' });
    this.resolveDone(code);
  }
}
