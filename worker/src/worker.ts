import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type * as amqp from 'amqplib';
import { Broker } from './broker';
import type { ResolvedOptions } from './config';
import { Env, ExitCode, type ResultMessage } from './contract';
import { ConfigError, errorText, PermanentError } from './errors';
import type { WorkerEvents } from './events';
import type { Logger } from './logger';
import { CorruptCheckpointError, type Outcome, TaskCheckpoints } from './store';
import { attemptOf, decideFailure, parseTask } from './task';

/** What a handler gets besides the task's input. */
export interface TaskContext<S = unknown> {
  /** The task id (body `id`, else the AMQP `messageId`). */
  readonly taskId: string;
  /** 1 on the first delivery, then 2, 3, … across pods. */
  readonly attempt: number;
  /** The last state passed to `checkpoint()` by any earlier attempt, on any pod; undefined on a fresh start. */
  readonly state: S | undefined;
  /** Durably saves `state` (JSON) for this task; resolves once it is on disk. */
  checkpoint(state: S): Promise<void>;
  /** Fires when the worker shuts down: checkpoint, then return or throw promptly. */
  readonly signal: AbortSignal;
  /** Adds `count` tokens used with `model` to `agent_llm_tokens_total`. */
  recordTokens(model: string, count: number): void;
  /** A logger bound to this task (task id, attempt, agent index, pod). */
  readonly log: Logger;
}

/** The user's code: gets the task input and a context, returns the output (JSON). */
// biome-ignore lint/suspicious/noExplicitAny: handlers choose their own input and state types.
export type AgentHandler<I = any, O = unknown, S = any> = (input: I, ctx: TaskContext<S>) => O | Promise<O>;

/** Why a worker stopped; each maps to one exit code. */
export type StopReason = 'signal' | 'max-tasks' | 'idle' | 'consumer-cancelled' | 'broker-lost';

/** The exit code for each way of stopping. Only the ones that leave no work of ours unfinished are 0. */
export const EXIT_CODE_FOR: Readonly<Record<StopReason, number>> = {
  signal: ExitCode.interrupted,
  'max-tasks': ExitCode.succeeded,
  idle: ExitCode.succeeded,
  'consumer-cancelled': ExitCode.dependencyUnreachable,
  'broker-lost': ExitCode.dependencyUnreachable,
};

/** The broker could not be reached or refused the topology at startup. */
export class BrokerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

interface Delivery {
  readonly message: amqp.ConsumeMessage;
  readonly controller: AbortController;
  /** Set once acked or requeued: the other must never follow. */
  settled: boolean;
  taskId?: string;
}

/**
 * The agent loop: one consumer, one function per delivery (`handle`), a memoized `close()` with a
 * finish-then-force deadline. It never touches process signals or `process.exit`: the entrypoint
 * (`runAgent`, the `agent-worker` bin) owns those. Metrics subscribe to its typed events.
 */
export class AgentWorker extends EventEmitter<WorkerEvents> {
  private readonly broker: Broker;
  private readonly store: TaskCheckpoints;
  private readonly deliveries = new Set<Delivery>();
  private readonly settledAll = new Set<() => void>();
  private accepting = true;
  private taken = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private draining: StopReason | undefined;
  private closing: Promise<number> | undefined;
  private stopping = false;
  private resolveDone!: (code: number) => void;
  private readonly done = new Promise<number>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly handler: AgentHandler,
    private readonly options: ResolvedOptions,
    private readonly log: Logger,
  ) {
    super();
    this.store = new TaskCheckpoints(options.checkpointDir);
    this.broker = new Broker(
      options.taskQueueUrl,
      { taskQueueName: options.taskQueueName, resultQueueName: options.resultQueueName },
      {
        onDelivery: (message) => this.onDelivery(message),
        onCancelled: () => {
          this.log.warn(
            'the broker cancelled the consumer (queue deleted?); finishing in-flight work, then exiting',
          );
          this.emit('consuming', false);
          this.drain('consumer-cancelled');
        },
        onLost: (error) => {
          this.log.error(
            { err: error },
            'lost the broker connection or channel; in-flight deliveries return to the queue',
          );
          void this.close('broker-lost');
        },
        onError: (error, source) => this.log.error({ err: error, source }, `broker ${source} error`),
      },
    );
  }

  /** True while consuming (drives `/readyz`). */
  get ready(): boolean {
    return this.broker.consuming && !this.stopping && this.accepting;
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
      throw new ConfigError([
        {
          variable: Env.CHECKPOINT_DIR,
          value: this.options.checkpointDir,
          message: `is not a writable directory (${errorText(error)}); mount the checkpoint volume there or point ${Env.CHECKPOINT_DIR} at one`,
        },
      ]);
    }
    try {
      await this.broker.connect();
      await this.broker.consume(this.options.prefetch);
    } catch (error) {
      await this.broker.close();
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
    if (this.stopping) {
      // A signal arrived while connecting: doClose() is already resolving the exit code.
      await this.broker.close();
      return;
    }
    this.emit('consuming', true);
    this.log.info(
      {
        taskQueue: this.options.taskQueueName,
        resultQueue: this.options.resultQueueName,
        prefetch: this.options.prefetch,
      },
      'consuming',
    );
    this.armIdleTimer();
  }

  /** Starts, then resolves with the exit code once the worker stopped. */
  async run(): Promise<number> {
    await this.start();
    return this.done;
  }

  private onDelivery(message: amqp.ConsumeMessage): void {
    this.clearIdleTimer();
    if (!this.accepting) {
      // Arrived after we stopped taking work (prefetch > 1, or racing the cancel): give it back untouched.
      this.broker.requeue(message);
      return;
    }
    this.taken += 1;
    const delivery: Delivery = { message, controller: new AbortController(), settled: false };
    this.deliveries.add(delivery);
    this.emit('inFlight', this.deliveries.size);
    if (this.options.maxTasks > 0 && this.taken >= this.options.maxTasks) {
      this.log.info({ maxTasks: this.options.maxTasks }, 'took the last task allowed by AGENT_MAX_TASKS');
      this.drain('max-tasks');
    }
    void this.handle(delivery)
      .catch((error) => this.log.error({ err: error }, 'unexpected error while handling a delivery'))
      .finally(() => {
        this.deliveries.delete(delivery);
        this.emit('inFlight', this.deliveries.size);
        if (this.deliveries.size === 0) {
          for (const notify of this.settledAll) {
            notify();
          }
          if (this.draining !== undefined) {
            void this.close(this.draining);
          } else {
            this.armIdleTimer();
          }
        }
      });
  }

  /** Handles one delivery to the end: ack with a published result, dead-letter, or requeue. */
  private async handle(delivery: Delivery): Promise<void> {
    const { message } = delivery;
    const started = performance.now();
    const attempt = attemptOf(message.properties.headers);
    const parsed = parseTask(message.content, message.properties.messageId);
    if (!parsed.ok) {
      const log = this.log.child({ taskId: parsed.id, attempt });
      log.warn({ reason: parsed.reason, detail: parsed.detail }, 'malformed task message; dead-lettering it');
      try {
        if (parsed.id === undefined) {
          // No id anywhere: no result can name the task, so it only goes to the dead-letter queue.
          await this.broker.publishDeadLetter(message, parsed.reason, parsed.detail);
          this.emit('deadLettered', { taskId: undefined, reason: parsed.reason });
          this.settle(delivery, 'ack', log);
        } else {
          const result: ResultMessage = {
            id: parsed.id,
            status: 'failed',
            error: parsed.detail,
            attempts: attempt,
          };
          await this.finish(delivery, parsed.id, { result, deadLetter: parsed }, started, log);
        }
      } catch (error) {
        this.release(delivery, parsed.id ?? '<no id>', `dead-lettering failed: ${errorText(error)}`, log);
      }
      return;
    }

    const { id, input } = parsed.task;
    delivery.taskId = id;
    const log = this.log.child({ taskId: id, attempt });
    try {
      const marker = await this.store.readDone(id);
      if (marker?.state === 'published') {
        log.info('task already finished and its result published; acking the redelivery without running it');
        this.settle(delivery, 'ack', log);
        return;
      }
      if (marker?.state === 'publishing') {
        log.info(
          'task finished before but its result may not have been published; publishing the stored outcome',
        );
        await this.finish(delivery, id, marker.outcome, started, log);
        return;
      }
      const outcome = await this.runHandler(delivery, id, input, attempt, log);
      if (outcome === undefined) {
        return;
      }
      await this.finish(delivery, id, outcome, started, log);
    } catch (error) {
      this.release(delivery, id, errorText(error), log);
    }
  }

  /** Runs the handler; returns the outcome to publish, or undefined when the delivery was requeued. */
  private async runHandler(
    delivery: Delivery,
    id: string,
    input: unknown,
    attempt: number,
    log: Logger,
  ): Promise<Outcome | undefined> {
    let resumed: { state: unknown } | undefined;
    try {
      resumed = await this.store.readCheckpoint(id);
    } catch (error) {
      if (!(error instanceof CorruptCheckpointError)) {
        throw error;
      }
      log.warn({ err: error }, 'checkpoint unreadable; starting the task afresh');
    }
    const ctx: TaskContext = {
      taskId: id,
      attempt,
      state: resumed?.state,
      signal: delivery.controller.signal,
      log,
      checkpoint: async (state: unknown) => {
        const t0 = performance.now();
        await this.store.writeCheckpoint(id, state);
        this.emit('checkpointWritten', { taskId: id, seconds: (performance.now() - t0) / 1000 });
      },
      recordTokens: (model: string, count: number) => {
        if (typeof model !== 'string' || model === '' || !Number.isFinite(count) || count < 0) {
          throw new TypeError(
            `recordTokens(model, count) needs a model name and a count >= 0, got (${model}, ${count})`,
          );
        }
        this.emit('tokens', { model, count });
      },
    };
    log.info(
      { resumed: resumed !== undefined },
      resumed ? 'task resumed from its checkpoint' : 'task started',
    );
    this.emit('taskStarted', { taskId: id, attempt, resumed: resumed !== undefined });
    try {
      const output = await this.handler(input, ctx);
      const result: ResultMessage = { id, status: 'succeeded', output, attempts: attempt };
      try {
        JSON.stringify(result);
      } catch (error) {
        throw new PermanentError(`the handler's output is not JSON-serializable: ${errorText(error)}`);
      }
      return { result };
    } catch (error) {
      const decision = decideFailure({ error, attempt, shuttingDown: delivery.controller.signal.aborted });
      if (decision.action === 'requeue') {
        this.release(delivery, id, decision.why, log);
        return undefined;
      }
      log.warn(
        { reason: decision.reason, detail: decision.detail },
        'task failed permanently; dead-lettering it',
      );
      const result: ResultMessage = { id, status: 'failed', error: decision.detail, attempts: attempt };
      return { result, deadLetter: { reason: decision.reason, detail: decision.detail } };
    }
  }

  /**
   * Publishes a task's outcome and acks it. The order makes results lossless and keeps duplicates
   * to one narrow crash window:
   *
   * 1. done marker `publishing` with the outcome (durable). A crash from here on never runs the
   *    handler again: the redelivery finds the marker and publishes the *stored* outcome.
   * 2. dead-letter copy (if any), then the result, each waiting for the broker's confirm.
   *    A crash before the confirm: the redelivery publishes it (no loss).
   * 3. done marker `published` (durable). A crash between the confirm and this rename is the only
   *    way to publish a result twice, and the copy is identical (same body, `messageId` = task id),
   *    so result consumers can drop it. No ordering avoids that window: writing `published` before
   *    the confirm would turn the same crash into a lost result, which is worse.
   * 4. ack. A crash before the ack: the redelivery finds `published` and is acked without a rerun
   *    and without a second result.
   */
  private async finish(
    delivery: Delivery,
    id: string,
    outcome: Outcome,
    started: number,
    log: Logger,
  ): Promise<void> {
    await this.store.writeDone(id, 'publishing', outcome);
    if (outcome.deadLetter) {
      await this.broker.publishDeadLetter(
        delivery.message,
        outcome.deadLetter.reason,
        outcome.deadLetter.detail,
      );
      this.emit('deadLettered', { taskId: id, reason: outcome.deadLetter.reason });
    }
    await this.broker.publishResult(id, outcome.result);
    await this.store.writeDone(id, 'published', outcome);
    this.settle(delivery, 'ack', log);
    const durationSeconds = (performance.now() - started) / 1000;
    this.emit('taskFinished', { taskId: id, status: outcome.result.status, durationSeconds });
    log.info({ status: outcome.result.status, durationSeconds }, 'task finished; result published');
    await this.store
      .removeCheckpoint(id)
      .catch((error) => log.warn({ err: error }, 'could not remove the checkpoint'));
  }

  /** Returns the delivery to the queue (or leaves it to the broker when the channel is gone). */
  private release(delivery: Delivery, id: string, why: string, log: Logger): void {
    log.warn({ why }, 'task returned to the queue');
    this.settle(delivery, 'requeue', log);
    this.emit('taskReleased', { taskId: id, why });
  }

  private settle(delivery: Delivery, action: 'ack' | 'requeue', log: Logger): void {
    if (delivery.settled) {
      return;
    }
    delivery.settled = true;
    const sent = action === 'ack' ? this.broker.ack(delivery.message) : this.broker.requeue(delivery.message);
    if (!sent) {
      log.warn({ action }, 'channel closed before settling; the broker redelivers the task');
    }
  }

  private armIdleTimer(): void {
    this.clearIdleTimer();
    const seconds = this.options.idleExitSeconds;
    if (seconds <= 0 || !this.accepting || this.deliveries.size > 0) {
      return;
    }
    this.idleTimer = setTimeout(() => {
      if (this.accepting && this.deliveries.size === 0) {
        this.log.info(
          { idleExitSeconds: seconds },
          'no task arrived within AGENT_IDLE_EXIT_SECONDS; exiting',
        );
        void this.close('idle');
      }
    }, seconds * 1000);
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  /** Stops taking tasks, lets the in-flight ones finish, then closes with `reason`. */
  private drain(reason: StopReason): void {
    if (this.draining !== undefined || this.closing !== undefined) {
      return;
    }
    this.draining = reason;
    this.accepting = false;
    this.clearIdleTimer();
    this.emit('consuming', false);
    this.broker
      .stopConsuming()
      .catch((error) => this.log.warn({ err: error }, 'could not cancel the consumer'));
    if (this.deliveries.size === 0) {
      void this.close(reason);
    }
  }

  /**
   * Stops the worker; memoized, so every caller gets the same exit code. For `signal` and
   * `broker-lost`: stop consuming, fire every in-flight `ctx.signal`, give handlers until the
   * finish deadline to checkpoint and return, then requeue whatever is still running (force), close
   * the connection and resolve, all within `shutdownSeconds`.
   */
  close(reason: StopReason = 'signal'): Promise<number> {
    this.closing ??= this.doClose(reason);
    return this.closing;
  }

  private async doClose(reason: StopReason): Promise<number> {
    const shutdownMs = this.options.shutdownSeconds * 1000;
    const deadline = Date.now() + shutdownMs;
    // Keep a reserve for requeueing and closing the connection after the handlers had their time.
    const finishBy = deadline - Math.min(2000, shutdownMs * 0.2);
    this.stopping = true;
    this.accepting = false;
    this.clearIdleTimer();
    this.emit('consuming', false);
    this.log.info({ reason, inFlight: this.deliveries.size }, 'shutting down');

    await withTimeout(this.broker.stopConsuming(), Math.max(0, finishBy - Date.now())).catch((error) =>
      this.log.warn({ err: error }, 'could not cancel the consumer'),
    );
    for (const delivery of this.deliveries) {
      delivery.controller.abort(new Error(`worker shutting down (${reason})`));
    }
    if (this.deliveries.size > 0) {
      await withTimeout(this.allSettled(), Math.max(0, finishBy - Date.now())).catch(() => undefined);
    }
    for (const delivery of this.deliveries) {
      // Force: the handler ignored the signal past the finish deadline. Its checkpoints are atomic.
      this.release(
        delivery,
        delivery.taskId ?? '<unparsed>',
        'still running at the shutdown deadline',
        this.log,
      );
    }
    await withTimeout(this.broker.close(), Math.max(100, deadline - Date.now())).catch(() => undefined);
    const code = EXIT_CODE_FOR[reason];
    this.log.info({ reason, exitCode: code }, 'stopped');
    this.resolveDone(code);
    return code;
  }

  private allSettled(): Promise<void> {
    if (this.deliveries.size === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const notify = () => {
        this.settledAll.delete(notify);
        resolve();
      };
      this.settledAll.add(notify);
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
