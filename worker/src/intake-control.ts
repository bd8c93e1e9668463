import type { EventEmitter } from 'node:events';
import { RestartPolicies } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { backoffDelayMs, type RetryPolicy } from './backoff';
import type { Broker } from './broker';
import type { ResolvedOptions } from './config';
import { type Delivery, newDelivery } from './delivery-pipeline';
import type { WorkerEvents } from './events';
import {
  acceptsDeliveries,
  drainReason,
  isStopping,
  isWindingDown,
  type Lifecycle,
  mayResumeConsuming,
  type StopReason,
} from './lifecycle';
import type { Logger } from './logger';
import { type MemorySource, memoryHigh } from './memory';

/** What intake control works with; the worker builds these once and shares them. */
export interface IntakeControlParts {
  readonly options: ResolvedOptions;
  readonly log: Logger;
  readonly broker: Broker;
  readonly memorySource: MemorySource;
  /** The worker's lifecycle state: read here, advanced here for pauses, reconnects and drains. */
  readonly lifecycle: Lifecycle;
  /** Where the worker's typed events go (the worker itself). */
  readonly events: Pick<EventEmitter<WorkerEvents>, 'emit'>;
  /** Takes one accepted delivery to its end (the delivery pipeline). */
  readonly handle: (delivery: Delivery) => Promise<void>;
  /** The worker's memoized `close()`. */
  readonly close: (reason: StopReason) => Promise<number>;
}

/**
 * Governs taking work: which deliveries are accepted, the in-flight set, the idle exit, the memory
 * watch, the pause while a dependency's breaker is open, the reconnect after a lost broker, and
 * draining. Every decision reads the one lifecycle state; the timers it owns only schedule them.
 */
export class IntakeControl {
  private readonly options: ResolvedOptions;
  private readonly log: Logger;
  private readonly broker: Broker;
  private readonly memorySource: MemorySource;
  private readonly lifecycle: Lifecycle;
  private readonly events: Pick<EventEmitter<WorkerEvents>, 'emit'>;
  private readonly handle: (delivery: Delivery) => Promise<void>;
  private readonly close: (reason: StopReason) => Promise<number>;
  private readonly deliveries = new Set<Delivery>();
  private readonly settledAll = new Set<() => void>();
  private taken = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Ends a pause when the open breaker may let a probe through. */
  private resumeTimer: NodeJS.Timeout | undefined;
  private memoryTimer: NodeJS.Timeout | undefined;

  constructor(parts: IntakeControlParts) {
    this.options = parts.options;
    this.log = parts.log;
    this.broker = parts.broker;
    this.memorySource = parts.memorySource;
    this.lifecycle = parts.lifecycle;
    this.events = parts.events;
    this.handle = parts.handle;
    this.close = parts.close;
  }

  /** The deliveries being handled now. */
  get inFlight(): ReadonlySet<Delivery> {
    return this.deliveries;
  }

  /**
   * A breaker opened: stop taking deliveries until it may let a probe through, then consume again
   * (the next task's call is the probe). Calls per worker to a failing dependency are thus bounded
   * by one per `halfOpenAfterMs`. A breaker that closed again changes nothing but the gauge.
   */
  onCircuit(dependency: string, open: boolean, retryAfterMs: number): void {
    this.events.emit('circuit', { dependency, open });
    if (!open) {
      this.log.info({ dependency }, 'circuit closed; the dependency answers again');
      return;
    }
    this.log.warn({ dependency, retryAfterMs }, 'circuit open; taking no new tasks until the next probe');
    this.lifecycle.advance({ type: 'circuit-opened', dependency });
    this.clearIdleTimer();
    this.events.emit('consuming', false);
    this.broker
      .stopConsuming()
      .catch((error) => this.log.warn({ err: error }, 'could not pause the consumer'));
    clearTimeout(this.resumeTimer);
    // The memory watch goes on: tasks already running still grow, and may need a checkpoint.
    this.resumeTimer = setTimeout(() => void this.resumeIntake(), retryAfterMs);
  }

  private async resumeIntake(): Promise<void> {
    this.resumeTimer = undefined;
    this.lifecycle.advance({ type: 'pause-ended' });
    await this.consumeIfAllowed();
  }

  /**
   * Consumes again when the state allows it and nobody else does: after a pause ends, and after a
   * reconnect that found the worker paused (the pause may have ended while it was finishing).
   * A reconnect in progress consumes again by itself; a drain or close never does.
   */
  private async consumeIfAllowed(): Promise<void> {
    if (!mayResumeConsuming(this.lifecycle.state) || this.broker.consuming) {
      return;
    }
    try {
      await this.broker.consume(this.options.concurrency);
      this.events.emit('consuming', true);
      this.log.info('taking tasks again (a probe may go to the dependency)');
      this.armIdleTimer();
    } catch (error) {
      this.log.warn({ err: error }, 'could not resume consuming');
    }
  }

  /**
   * Connects, declares and consumes, retrying with exponential backoff and jitter until
   * `brokerConnectSeconds` have passed (then throws the last error). A refused declaration (406) is
   * a configuration error and is thrown at once.
   */
  async connectWithBackoff(why: 'startup' | 'reconnect'): Promise<void> {
    const connectMs = this.options.brokerConnectSeconds * 1000;
    // Under restartPolicy Always (a pool) an exit would only restart the container in place, into the
    // kubelet's back-off (up to 5 min): a lost broker is waited for, however long it stays away.
    // Startup keeps its deadline, so a wrong URL still ends in "dependency unreachable".
    const forever = why === 'reconnect' && this.options.restartPolicy === RestartPolicies.always;
    const deadline = forever ? Number.POSITIVE_INFINITY : Date.now() + connectMs;
    const policy: RetryPolicy = { baseDelayMs: 250, maxDelayMs: 5000 };
    for (let attempt = 1; ; attempt++) {
      try {
        // The deadline covers each attempt's handshake too: a peer that accepts TCP and never
        // speaks AMQP must not hold the worker past AGENT_BROKER_CONNECT_SECONDS.
        await this.broker.connect({
          timeoutMs: forever ? Math.max(1000, connectMs) : Math.max(1, deadline - Date.now()),
        });
        await this.broker.consume(this.options.concurrency);
        if (attempt > 1 || why === 'reconnect') {
          this.log.info({ attempt }, 'connected to the broker');
        }
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code === 406 || isStopping(this.lifecycle.state)) {
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
        if (isStopping(this.lifecycle.state)) {
          throw error;
        }
      }
    }
  }

  /**
   * The connection or channel died (broker restart, network split, `consumer_timeout`): stop the
   * in-flight handlers at a checkpoint (their deliveries are already back in the queue), then
   * reconnect with backoff and consume again. Exits "dependency unreachable" when the broker stays
   * away past `brokerConnectSeconds` (under restartPolicy Always it keeps reconnecting instead).
   */
  onBrokerLost(error: Error | undefined): void {
    // Not while stopping (close() ends the connection anyway), nor twice at once.
    if (!this.lifecycle.advance({ type: 'broker-lost' })) {
      return;
    }
    this.log.error(
      { err: error, inFlight: this.deliveries.size },
      'lost the broker connection or channel; in-flight deliveries return to the queue; reconnecting',
    );
    this.events.emit('consuming', false);
    this.clearIdleTimer();
    for (const delivery of this.deliveries) {
      delivery.controller.abort(new Error('the broker connection was lost; checkpoint and stop'));
    }
    void (async () => {
      // Let the aborted handlers checkpoint and return before taking new work (bounded).
      await withTimeout(this.allSettled(), this.options.shutdownSeconds * 1000).catch(() => undefined);
      if (isStopping(this.lifecycle.state)) {
        return;
      }
      try {
        await this.connectWithBackoff('reconnect');
      } catch (reconnectError) {
        if (!isStopping(this.lifecycle.state)) {
          this.log.error({ err: reconnectError }, 'the broker stayed unreachable; exiting');
          void this.close('broker-lost');
        }
        return;
      }
      if (isStopping(this.lifecycle.state)) {
        await this.broker.close();
        return;
      }
      if (!acceptsDeliveries(this.lifecycle.state)) {
        // Paused by a breaker or draining: connected, but not consuming.
        await this.broker.stopConsuming().catch(() => undefined);
        const reason = drainReason(this.lifecycle.state);
        if (this.deliveries.size === 0 && reason !== undefined) {
          void this.close(reason);
        }
        return;
      }
      this.events.emit('consuming', true);
      this.log.info('consuming again after reconnecting');
      this.armIdleTimer();
    })().finally(() => {
      this.lifecycle.advance({ type: 'reconnect-ended' });
      // The idle countdown starts only now that the reconnect is over (see armIdleTimer).
      void this.consumeIfAllowed().then(() => this.armIdleTimer());
    });
  }

  /** The broker cancelled the consumer (queue deleted?): finish what runs, then stop. */
  onConsumerCancelled(): void {
    this.log.warn(
      'the broker cancelled the consumer (queue deleted?); finishing in-flight work, then exiting',
    );
    this.events.emit('consuming', false);
    this.drain('consumer-cancelled');
  }

  /**
   * Samples memory every second. Above `memoryHighFraction` of the limit: ask every running task
   * for a checkpoint (bounding what an OOM kill loses) and stop taking tasks; the worker exits
   * "interrupted" once the running ones finish, so a fresh pod takes the rest.
   */
  watchMemory(): void {
    const check = async () => {
      const sample = await this.memorySource().catch(() => undefined);
      if (isWindingDown(this.lifecycle.state) || !memoryHigh(sample, this.options.memoryHighFraction)) {
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

  /** A message from the consumer: handled when the worker takes work, else given back untouched. */
  onDelivery(message: amqp.ConsumeMessage): void {
    this.clearIdleTimer();
    if (!acceptsDeliveries(this.lifecycle.state)) {
      // Arrived after we stopped taking work (concurrency > 1, or racing the cancel): give it back untouched.
      this.broker.requeue(message);
      return;
    }
    this.taken += 1;
    const delivery = newDelivery(message, this.broker.generation);
    this.deliveries.add(delivery);
    this.events.emit('inFlight', this.deliveries.size);
    if (this.options.maxTasks > 0 && this.taken >= this.options.maxTasks) {
      this.log.info({ maxTasks: this.options.maxTasks }, 'took the last task allowed by AGENT_MAX_TASKS');
      this.drain('max-tasks');
    }
    void this.handle(delivery)
      .catch((error) => this.log.error({ err: error }, 'unexpected error while handling a delivery'))
      .finally(() => {
        this.deliveries.delete(delivery);
        this.events.emit('inFlight', this.deliveries.size);
        if (this.deliveries.size === 0) {
          for (const notify of this.settledAll) {
            notify();
          }
          const reason = drainReason(this.lifecycle.state);
          if (reason !== undefined) {
            void this.close(reason);
          } else {
            this.armIdleTimer();
          }
        }
      });
  }

  /** Starts the idle countdown when the worker takes work and nothing is in flight. */
  armIdleTimer(): void {
    this.clearIdleTimer();
    const seconds = this.options.idleExitSeconds;
    // Idle means "consuming and nothing arrives": never while a reconnect is under way, or a broker
    // outage longer than the idle time would end in exit 0 instead of "dependency unreachable".
    if (seconds <= 0 || !mayResumeConsuming(this.lifecycle.state) || this.deliveries.size > 0) {
      return;
    }
    this.idleTimer = setTimeout(() => {
      if (mayResumeConsuming(this.lifecycle.state) && this.broker.consuming && this.deliveries.size === 0) {
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

  /** `close()` began: no idle exit and no resume may follow. */
  stopTimers(): void {
    this.clearIdleTimer();
    clearTimeout(this.resumeTimer);
  }

  /** Stops taking tasks, lets the in-flight ones finish, then closes with `reason`. */
  drain(reason: StopReason): void {
    if (!this.lifecycle.advance({ type: 'drain', reason })) {
      return;
    }
    this.clearIdleTimer();
    this.events.emit('consuming', false);
    this.broker
      .stopConsuming()
      .catch((error) => this.log.warn({ err: error }, 'could not cancel the consumer'));
    if (this.deliveries.size === 0) {
      void this.close(reason);
    }
  }

  /** Resolves once no delivery is in flight. */
  allSettled(): Promise<void> {
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

/** `promise`, or a rejection once `ms` have passed. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
