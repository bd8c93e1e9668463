import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Env, ExitCode, type ResultMessage } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { backoffDelayMs, type RetryPolicy, retryTiersMs, tierFor } from './backoff';
import { Broker } from './broker';
import type { ResolvedOptions } from './config';
import { ConfigError, errorText, isStorageError, PermanentError } from './errors';
import type { WorkerEvents } from './events';
import { DependencyGuards, dependencyUnavailable, type GuardOptions } from './guard';
import type { Logger } from './logger';
import { cgroupMemorySource, type MemorySource, memoryHigh } from './memory';
import { CorruptCheckpointError, type DoneMarker, type Outcome, TaskCheckpoints } from './store';
import { attemptOf, decideFailure, exceededAttempts, parseTask } from './task';

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
  /**
   * Calls a dependency (`name`, e.g. "llm") with a timeout, retries with backoff and jitter, and a
   * circuit breaker shared by all tasks of this worker. While the breaker is open the call throws
   * `DependencyUnavailableError`; let it propagate: the task returns to the queue without spending
   * an attempt and the worker takes no new tasks until the breaker lets a probe through.
   */
  guard<T>(name: string, fn: (signal: AbortSignal) => Promise<T> | T, options?: GuardOptions): Promise<T>;
  /**
   * Registers a callback the worker calls when it wants a checkpoint *now* (memory above
   * `AGENT_MEMORY_HIGH_FRACTION` of the limit: an OOM kill gives no warning). Call
   * `ctx.checkpoint()` from it; the task keeps running.
   */
  onCheckpointRequest(callback: () => void | Promise<void>): void;
}

/** The user's code: gets the task input and a context, returns the output (JSON). */
// biome-ignore lint/suspicious/noExplicitAny: handlers choose their own input and state types.
export type AgentHandler<I = any, O = unknown, S = any> = (input: I, ctx: TaskContext<S>) => O | Promise<O>;

/** Why a worker stopped; each maps to one exit code. */
export type StopReason =
  | 'memory-high'
  | 'signal'
  | 'max-tasks'
  | 'idle'
  | 'consumer-cancelled'
  | 'broker-lost'
  | 'storage-unavailable';

/** The exit code for each way of stopping. Only the ones that leave no work of ours unfinished are 0. */
export const EXIT_CODE_FOR: Readonly<Record<StopReason, number>> = {
  signal: ExitCode.interrupted,
  'max-tasks': ExitCode.succeeded,
  idle: ExitCode.succeeded,
  'consumer-cancelled': ExitCode.dependencyUnreachable,
  'broker-lost': ExitCode.dependencyUnreachable,
  'storage-unavailable': ExitCode.dependencyUnreachable,
  // Not 0: a fresh pod (fresh memory) should take the remaining work.
  'memory-high': ExitCode.interrupted,
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
  /** The broker connection that delivered it: only that one can ack or nack it. */
  readonly generation: number;
  taskId?: string;
  /** Set when the checkpoint store failed during this delivery: not the task's fault. */
  storageFailed?: boolean;
  /** Callbacks from `ctx.onCheckpointRequest`. */
  readonly checkpointRequests: Array<() => void | Promise<void>>;
  /** The task has checkpoint files to remove once finished (resumed from one, or wrote one). */
  hasCheckpoint?: boolean;
  /** The lease was already dropped (before giving the task back): never drop it again. */
  leaseReleased?: boolean;
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
  private reconnecting: Promise<void> | undefined;
  private readonly guards: DependencyGuards;
  /** Set while a dependency's breaker is open: no new deliveries are taken. */
  private paused = false;
  private resumeTimer: NodeJS.Timeout | undefined;
  /** This process's identity in lease files. */
  private readonly leaseHolder: string;
  private readonly memorySource: MemorySource;
  private memoryTimer: NodeJS.Timeout | undefined;
  private readonly retry: RetryPolicy;
  private readonly retryTiers: number[];
  private resolveDone!: (code: number) => void;
  private readonly done = new Promise<number>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly handler: AgentHandler,
    private readonly options: ResolvedOptions,
    private readonly log: Logger,
    memorySource?: MemorySource,
  ) {
    super();
    this.memorySource = memorySource ?? cgroupMemorySource(options.cgroupRoot);
    this.store = new TaskCheckpoints(options.checkpointDir);
    this.retry = {
      baseDelayMs: Math.round(options.retryDelaySeconds * 1000),
      maxDelayMs: Math.round(options.retryMaxDelaySeconds * 1000),
    };
    this.retryTiers = retryTiersMs(this.retry);
    this.leaseHolder = `${options.podName}/${process.pid}/${randomBytes(4).toString('hex')}`;
    this.guards = new DependencyGuards({
      onCircuit: (dependency, open, retryAfterMs) => this.onCircuit(dependency, open, retryAfterMs),
    });
    this.broker = new Broker(
      options.taskQueueUrl,
      {
        taskQueueName: options.taskQueueName,
        resultQueueName: options.resultQueueName,
        retryTiersMs: this.retryTiers,
      },
      {
        onDelivery: (message) => this.onDelivery(message),
        onCancelled: () => {
          this.log.warn(
            'the broker cancelled the consumer (queue deleted?); finishing in-flight work, then exiting',
          );
          this.emit('consuming', false);
          this.drain('consumer-cancelled');
        },
        onLost: (error) => this.onBrokerLost(error),
        onError: (error, source) => this.log.error({ err: error, source }, `broker ${source} error`),
      },
    );
  }

  /** True while consuming (drives `/readyz`). */
  get ready(): boolean {
    return this.broker.consuming && !this.stopping && this.accepting && !this.paused;
  }

  /**
   * A breaker opened: stop taking deliveries until it may let a probe through, then consume again
   * (the next task's call is the probe). Calls per worker to a failing dependency are thus bounded
   * by one per `halfOpenAfterMs`. A breaker that closed again changes nothing but the gauge.
   */
  private onCircuit(dependency: string, open: boolean, retryAfterMs: number): void {
    this.emit('circuit', { dependency, open });
    if (!open) {
      this.log.info({ dependency }, 'circuit closed; the dependency answers again');
      return;
    }
    this.log.warn({ dependency, retryAfterMs }, 'circuit open; taking no new tasks until the next probe');
    this.paused = true;
    this.clearIdleTimer();
    this.emit('consuming', false);
    this.broker
      .stopConsuming()
      .catch((error) => this.log.warn({ err: error }, 'could not pause the consumer'));
    clearTimeout(this.resumeTimer);
    clearInterval(this.memoryTimer);
    this.resumeTimer = setTimeout(() => void this.resumeIntake(), retryAfterMs);
  }

  private async resumeIntake(): Promise<void> {
    this.resumeTimer = undefined;
    this.paused = false;
    if (this.stopping || !this.accepting || this.reconnecting || this.broker.consuming) {
      return;
    }
    try {
      await this.broker.consume(this.options.prefetch);
      this.emit('consuming', true);
      this.log.info('taking tasks again (a probe may go to the dependency)');
      this.armIdleTimer();
    } catch (error) {
      this.log.warn({ err: error }, 'could not resume consuming');
    }
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
      await this.connectWithBackoff('startup');
    } catch (error) {
      await this.broker.close();
      if (this.stopping) {
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
    if (this.stopping) {
      // A signal arrived while connecting: doClose() is already resolving the exit code.
      await this.broker.close();
      return;
    }
    this.emit('consuming', true);
    this.watchMemory();
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

  /**
   * Connects, declares and consumes, retrying with exponential backoff and jitter until
   * `brokerConnectSeconds` have passed (then throws the last error). A refused declaration (406) is
   * a configuration error and is thrown at once.
   */
  private async connectWithBackoff(why: 'startup' | 'reconnect'): Promise<void> {
    const deadline = Date.now() + this.options.brokerConnectSeconds * 1000;
    const policy: RetryPolicy = { baseDelayMs: 250, maxDelayMs: 5000 };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.broker.connect();
        await this.broker.consume(this.options.prefetch);
        if (attempt > 1 || why === 'reconnect') {
          this.log.info({ attempt }, 'connected to the broker');
        }
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code === 406 || this.stopping) {
          throw error;
        }
        const delayMs = Math.min(backoffDelayMs(attempt, policy), deadline - Date.now());
        if (delayMs <= 0) {
          throw error;
        }
        this.log.warn(
          { err: error, attempt, retryInMs: delayMs },
          why === 'startup'
            ? 'cannot reach the broker; retrying'
            : 'cannot reconnect to the broker; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (this.stopping) {
          throw error;
        }
      }
    }
  }

  /**
   * The connection or channel died (broker restart, network split, `consumer_timeout`): stop the
   * in-flight handlers at a checkpoint (their deliveries are already back in the queue), then
   * reconnect with backoff and consume again. Exits "dependency unreachable" when the broker stays
   * away past `brokerConnectSeconds`.
   */
  private onBrokerLost(error: Error | undefined): void {
    if (this.stopping || this.reconnecting) {
      return;
    }
    this.log.error(
      { err: error, inFlight: this.deliveries.size },
      'lost the broker connection or channel; in-flight deliveries return to the queue; reconnecting',
    );
    this.emit('consuming', false);
    this.clearIdleTimer();
    for (const delivery of this.deliveries) {
      delivery.controller.abort(new Error('the broker connection was lost; checkpoint and stop'));
    }
    this.reconnecting = (async () => {
      // Let the aborted handlers checkpoint and return before taking new work (bounded).
      await withTimeout(this.allSettled(), this.options.shutdownSeconds * 1000).catch(() => undefined);
      if (this.stopping) {
        return;
      }
      try {
        await this.connectWithBackoff('reconnect');
      } catch (reconnectError) {
        if (!this.stopping) {
          this.log.error({ err: reconnectError }, 'the broker stayed unreachable; exiting');
          void this.close('broker-lost');
        }
        return;
      }
      if (this.stopping) {
        await this.broker.close();
        return;
      }
      if (!this.accepting || this.paused) {
        await this.broker.stopConsuming().catch(() => undefined);
        if (this.deliveries.size === 0 && this.draining !== undefined) {
          void this.close(this.draining);
        }
        return;
      }
      this.emit('consuming', true);
      this.log.info('consuming again after reconnecting');
      this.armIdleTimer();
    })().finally(() => {
      this.reconnecting = undefined;
    });
  }

  /**
   * Samples memory every second. Above `memoryHighFraction` of the limit: ask every running task
   * for a checkpoint (bounding what an OOM kill loses) and stop taking tasks; the worker exits
   * "interrupted" once the running ones finish, so a fresh pod takes the rest.
   */
  private watchMemory(): void {
    const check = async () => {
      const sample = await this.memorySource().catch(() => undefined);
      if (
        this.stopping ||
        this.draining !== undefined ||
        !memoryHigh(sample, this.options.memoryHighFraction)
      ) {
        return;
      }
      this.log.warn(
        { ...sample, fraction: this.options.memoryHighFraction, inFlight: this.deliveries.size },
        'memory above the high-water mark; requesting checkpoints and taking no new tasks',
      );
      for (const delivery of this.deliveries) {
        for (const callback of delivery.checkpointRequests) {
          Promise.resolve()
            .then(callback)
            .catch((error) =>
              this.log.warn({ err: error, taskId: delivery.taskId }, 'checkpoint request failed'),
            );
        }
      }
      this.drain('memory-high');
    };
    this.memoryTimer = setInterval(() => void check(), 1000);
    this.memoryTimer.unref();
  }

  /** Starts, then resolves with the exit code once the worker stopped. */
  async run(): Promise<number> {
    await this.start();
    return this.done;
  }

  private onDelivery(message: amqp.ConsumeMessage): void {
    this.clearIdleTimer();
    if (!this.accepting || this.paused) {
      // Arrived after we stopped taking work (prefetch > 1, or racing the cancel): give it back untouched.
      this.broker.requeue(message);
      return;
    }
    this.taken += 1;
    const delivery: Delivery = {
      message,
      controller: new AbortController(),
      settled: false,
      generation: this.broker.generation,
      checkpointRequests: [],
    };
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
      await this.underLease(delivery, id, attempt, log, async () => {
        // Under the lease, so no other worker is finishing or checkpointing the task meanwhile.
        const [marker, resumed] = await Promise.all([
          this.readDoneMarker(id, log),
          this.readResumeState(id, log),
        ]);
        if (await this.finishedBefore(delivery, id, marker, started, log)) {
          return;
        }
        const exceeded = exceededAttempts(attempt, this.options.maxAttempts);
        if (exceeded?.action === 'dead-letter') {
          log.warn(
            { reason: exceeded.reason, detail: exceeded.detail },
            'attempt limit reached; dead-lettering it',
          );
          const result: ResultMessage = { id, status: 'failed', error: exceeded.detail, attempts: attempt };
          await this.finish(delivery, id, { result, deadLetter: exceeded }, started, log);
          return;
        }
        delivery.hasCheckpoint = resumed !== undefined;
        const outcome = await this.runHandler(delivery, id, input, attempt, resumed, log);
        if (outcome !== undefined) {
          await this.finish(delivery, id, outcome, started, log);
        }
      });
    } catch (error) {
      if (isStorageError(error) || delivery.storageFailed) {
        await this.returnForStorage(delivery, id, attempt, error, log);
        return;
      }
      this.release(delivery, id, errorText(error), log);
    }
  }

  /**
   * Runs `work` while holding the task's lease (renewed every third of its lifetime). A task whose
   * lease another live worker holds (a redelivery while its first holder still runs it, e.g. after
   * a closed channel or a network split) is not run: it goes back through a retry tier, attempt
   * not spent. Losing the lease mid-task aborts the task's signal.
   */
  private async underLease(
    delivery: Delivery,
    id: string,
    attempt: number,
    log: Logger,
    work: () => Promise<void>,
  ): Promise<void> {
    const ttlMs = this.options.leaseSeconds * 1000;
    let lease = await this.store.acquireLease(id, this.leaseHolder, ttlMs);
    if (!lease.acquired) {
      // Hold the delivery for up to one lease lifetime: a holder that died (SIGKILL, OOM) leaves a
      // lease that expires soon, and waiting for it beats a trip through the retry queue.
      log.info(
        { holder: lease.holder, expiresInMs: lease.expiresInMs },
        'task is leased; waiting for the lease',
      );
      const waitUntil = Date.now() + Math.min(lease.expiresInMs, ttlMs) + 50;
      while (!lease.acquired && Date.now() < waitUntil && !delivery.controller.signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(250, ttlMs / 4)));
        lease = await this.store.acquireLease(id, this.leaseHolder, ttlMs);
      }
    }
    if (!lease.acquired) {
      const delayMs = Math.min(Math.max(lease.expiresInMs, this.retry.baseDelayMs), this.retry.maxDelayMs);
      log.warn(
        { holder: lease.holder, expiresInMs: lease.expiresInMs },
        'task is leased by another live worker; not running it, retrying later',
      );
      await this.scheduleRetry(delivery, id, attempt - 1, delayMs, `leased by ${lease.holder}`, log);
      return;
    }
    let writtenAt = Date.now();
    const renewal = setInterval(() => {
      const renewedAt = Date.now();
      this.store.renewLease(id, this.leaseHolder, ttlMs).then(
        (held) => {
          if (held) {
            writtenAt = renewedAt;
          }
          if (!held && !delivery.controller.signal.aborted) {
            log.error('lost the task lease to another worker; stopping the task');
            delivery.controller.abort(new Error('the task lease was taken over'));
          }
        },
        (error) => log.warn({ err: error }, 'could not renew the task lease'),
      );
    }, ttlMs / 3);
    try {
      await work();
    } finally {
      clearInterval(renewal);
      // Within half its lifetime of the last write the lease is surely still ours (only an expired
      // lease can be taken over; the margin absorbs clock skew between pods): skip the check read.
      if (!delivery.leaseReleased) {
        await this.store
          .releaseLease(id, this.leaseHolder, { stillLive: Date.now() - writtenAt < ttlMs / 2 })
          .catch((error) => log.warn({ err: error }, 'could not release the task lease'));
      }
    }
  }

  private readDoneMarker(id: string, log: Logger): Promise<DoneMarker | undefined> {
    return this.store.readDone(id).catch((error) => {
      if (!(error instanceof CorruptCheckpointError)) throw error;
      log.warn({ err: error }, 'done marker unreadable; treating the task as unfinished');
      return undefined;
    });
  }

  /** The task's last checkpoint; a corrupt one (every generation) is logged and ignored. */
  private readResumeState(id: string, log: Logger): Promise<{ state: unknown } | undefined> {
    return this.store
      .readCheckpoint(id, (problem, error) => log.warn({ err: error }, `checkpoint unusable: ${problem}`))
      .catch((error) => {
        if (!(error instanceof CorruptCheckpointError)) throw error;
        log.warn({ err: error }, 'checkpoint unreadable; starting the task afresh');
        return undefined;
      });
  }

  /** Handles a redelivery of a task that finished before; true when nothing else is to be done. */
  private async finishedBefore(
    delivery: Delivery,
    id: string,
    marker: DoneMarker | undefined,
    started: number,
    log: Logger,
  ): Promise<boolean> {
    if (marker?.state === 'published') {
      log.info('task already finished and its result published; acking the redelivery without running it');
      this.settle(delivery, 'ack', log);
      return true;
    }
    if (marker?.state === 'publishing') {
      log.info(
        'task finished before but its result may not have been published; publishing the stored outcome',
      );
      await this.finish(delivery, id, marker.outcome, started, log);
      return true;
    }
    return false;
  }

  /**
   * The checkpoint store failed (read-only, full, unmounted): the task goes back through the
   * shortest retry tier *without* spending an attempt, and this worker stops taking tasks and
   * exits "dependency unreachable" (a restarted pod may get a working mount).
   */
  private async returnForStorage(
    delivery: Delivery,
    id: string,
    attempt: number,
    error: unknown,
    log: Logger,
  ): Promise<void> {
    log.error(
      { err: error, checkpointDir: this.options.checkpointDir },
      'the checkpoint store is unusable; returning the task without counting the attempt and stopping',
    );
    await this.scheduleRetry(
      delivery,
      id,
      attempt - 1,
      this.retry.baseDelayMs,
      `checkpoint store unusable: ${errorText(error)}`,
      log,
    );
    this.drain('storage-unavailable');
  }

  /** Runs the handler; returns the outcome to publish, or undefined when the delivery was requeued. */
  private async runHandler(
    delivery: Delivery,
    id: string,
    input: unknown,
    attempt: number,
    resumed: { state: unknown } | undefined,
    log: Logger,
  ): Promise<Outcome | undefined> {
    const ctx: TaskContext = {
      taskId: id,
      attempt,
      state: resumed?.state,
      signal: delivery.controller.signal,
      log,
      checkpoint: async (state: unknown) => {
        const t0 = performance.now();
        delivery.hasCheckpoint = true;
        await this.store.writeCheckpoint(id, state).catch((error) => {
          if (isStorageError(error)) {
            delivery.storageFailed = true;
          }
          throw error;
        });
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
      guard: (name, fn, options = {}) => this.guards.run(name, fn, options, delivery.controller.signal),
      onCheckpointRequest: (callback) => {
        delivery.checkpointRequests.push(callback);
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
      if (isStorageError(error) || delivery.storageFailed) {
        throw error;
      }
      const unavailable = dependencyUnavailable(error);
      if (unavailable && !delivery.controller.signal.aborted) {
        // Not the task's fault: back after the breaker's interval, attempt not spent.
        await this.scheduleRetry(
          delivery,
          id,
          attempt - 1,
          unavailable.retryAfterMs,
          unavailable.message,
          log,
        );
        return undefined;
      }
      const decision = decideFailure({
        error,
        attempt,
        shuttingDown: delivery.controller.signal.aborted,
        maxAttempts: this.options.maxAttempts,
        retry: this.retry,
      });
      if (decision.action === 'requeue') {
        this.release(delivery, id, decision.why, log);
        return undefined;
      }
      if (decision.action === 'interrupted') {
        await this.returnInterrupted(delivery, id, attempt, decision.why, log);
        return undefined;
      }
      if (decision.action === 'retry') {
        await this.scheduleRetry(delivery, id, attempt, decision.delayMs, decision.why, log);
        return undefined;
      }
      log.warn(
        { reason: decision.reason, detail: decision.detail },
        decision.reason === 'max-attempts'
          ? 'task failed on its last allowed attempt; dead-lettering it'
          : 'task failed permanently; dead-lettering it',
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
    if (delivery.hasCheckpoint !== false) {
      // Unknown (a stored outcome republished) or true: remove whatever is there.
      await this.store
        .removeCheckpoint(id)
        .catch((error) => log.warn({ err: error }, 'could not remove the checkpoint'));
    }
  }

  /**
   * Sends the task to its retry tier (a TTL queue that dead-letters back to the task queue after
   * `delayMs`) with the attempts spent so far, then acks this delivery. If publishing fails the
   * delivery is requeued instead (the attempt still counts through `x-delivery-count`).
   */
  private async scheduleRetry(
    delivery: Delivery,
    id: string,
    attemptsSpent: number,
    delayMs: number,
    why: string,
    log: Logger,
  ): Promise<void> {
    const tierMs = tierFor(delayMs, this.retryTiers);
    if (await this.replaceWithCopy(delivery, id, { delayMs, tierMs, attempts: attemptsSpent }, why, log)) {
      log.warn(
        { why, attempt: attemptsSpent, retryInMs: delayMs, tierMs },
        'task failed; retrying after a delay',
      );
    }
  }

  /**
   * A task stopped by a shutdown goes straight back to the task queue with its attempt unspent
   * (a requeue would count through `x-delivery-count`, and five node drains would dead-letter a
   * healthy task). The lease goes first, so the next worker need not wait for it.
   */
  private async returnInterrupted(
    delivery: Delivery,
    id: string,
    attempt: number,
    why: string,
    log: Logger,
  ): Promise<void> {
    delivery.leaseReleased = true;
    await this.store
      .releaseLease(id, this.leaseHolder)
      .catch((error) => log.warn({ err: error }, 'could not release the task lease'));
    const copy = { delayMs: 0, tierMs: 0, attempts: attempt - 1 };
    if (await this.replaceWithCopy(delivery, id, copy, why, log)) {
      log.warn({ why, attempt }, 'task returned to the queue, attempt not spent');
    }
  }

  /**
   * Replaces the delivery by a confirmed copy (a retry tier, or the task queue itself when
   * `tierMs` is 0) carrying `attempts`, then acks it. If the copy cannot be published the delivery
   * is requeued instead (the attempt then counts through `x-delivery-count`). True when copied.
   */
  private async replaceWithCopy(
    delivery: Delivery,
    id: string,
    copy: { delayMs: number; tierMs: number; attempts: number },
    why: string,
    log: Logger,
  ): Promise<boolean> {
    try {
      if (delivery.generation !== this.broker.generation) {
        throw new Error('the channel that delivered the task is gone');
      }
      await this.broker.publishRetry(delivery.message, { ...copy, lastError: why });
    } catch (error) {
      this.release(delivery, id, `${why}; publishing its copy failed: ${errorText(error)}`, log);
      return false;
    }
    this.settle(delivery, 'ack', log);
    this.emit('taskReleased', { taskId: id, why });
    return true;
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
    const sent =
      action === 'ack'
        ? this.broker.ack(delivery.message, delivery.generation)
        : this.broker.requeue(delivery.message, delivery.generation);
    if (!sent) {
      log.warn({ action }, 'channel closed before settling; the broker redelivers the task');
    }
  }

  private armIdleTimer(): void {
    this.clearIdleTimer();
    const seconds = this.options.idleExitSeconds;
    if (seconds <= 0 || !this.accepting || this.paused || this.deliveries.size > 0) {
      return;
    }
    this.idleTimer = setTimeout(() => {
      if (this.accepting && !this.paused && this.deliveries.size === 0) {
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
    clearTimeout(this.resumeTimer);
    this.emit('consuming', false);
    this.log.info({ reason, inFlight: this.deliveries.size }, 'shutting down');

    // Cancel and signal the handlers at once: their checkpoints overlap the cancel's round-trip.
    // A delivery racing the cancel is given back untouched (onDelivery: not accepting).
    const cancelled = withTimeout(this.broker.stopConsuming(), Math.max(0, finishBy - Date.now())).catch(
      (error) => this.log.warn({ err: error }, 'could not cancel the consumer'),
    );
    for (const delivery of this.deliveries) {
      delivery.controller.abort(new Error(`worker shutting down (${reason})`));
    }
    await cancelled;
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
