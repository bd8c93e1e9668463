import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { DeadLetterReasons, Headers, type ResultMessage } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { type RetryPolicy, tierFor } from './backoff';
import type { Broker } from './broker';
import type { ResolvedOptions } from './config';
import { errorText, isStorageError, PermanentError, PermanentPublishError } from './errors';
import type { WorkerEvents } from './events';
import { inputFingerprint } from './fingerprint';
import { type DependencyGuards, dependencyUnavailable } from './guard';
import type { Logger } from './logger';
import { CorruptCheckpointError, type DoneMarker, type Outcome, type TaskCheckpoints } from './store';
import { attemptOf, decideFailure, exceededAttempts, type ParsedTask, parseTask } from './task';
import { type AgentHandler, createTaskContext, readResumeState, type TaskRun } from './task-context';

/** One message being handled by this worker. */
export interface Delivery extends TaskRun {
  readonly message: amqp.ConsumeMessage;
  /** Set once acked or requeued: the other must never follow. */
  settled: boolean;
  /** The broker connection that delivered it: only that one can ack or nack it. */
  readonly generation: number;
  taskId?: string;
  /** The lease was already dropped (before giving the task back): never drop it again. */
  leaseReleased?: boolean;
  /**
   * This delivery's identity in lease files: the process's plus a per-delivery number, so two
   * deliveries of one task id in one process (concurrency > 1) never share a lease.
   */
  leaseHolder?: string;
}

/** A delivery as it arrives: not settled, no task id known yet. */
export function newDelivery(message: amqp.ConsumeMessage, generation: number): Delivery {
  return { message, controller: new AbortController(), settled: false, generation, checkpointRequests: [] };
}

/** What the pipeline works with; the worker builds these once and shares them. */
export interface DeliveryPipelineParts {
  readonly handler: AgentHandler;
  readonly options: ResolvedOptions;
  readonly log: Logger;
  readonly broker: Broker;
  readonly store: TaskCheckpoints;
  /** The breakers shared by all tasks of the worker (`ctx.guard`). */
  readonly guards: DependencyGuards;
  /** Delays of the worker's own retries (the broker's retry tiers are built from it). */
  readonly retry: RetryPolicy;
  readonly retryTiers: readonly number[];
  /** Where the worker's typed events go (the worker itself). */
  readonly events: Pick<EventEmitter<WorkerEvents>, 'emit'>;
  /**
   * The checkpoint store failed during a task (after it went back to the queue): the worker
   * drains and exits "dependency unreachable", as a restarted pod may get a working mount.
   */
  readonly onStorageFailure: () => void;
}

/**
 * Takes one delivery to its end (`handle`): parse, lease, done marker and checkpoint reads, the
 * handler, then exactly one of ack with a published result, dead-letter, retry copy or requeue.
 * It decides nothing about intake or shutdown beyond reading the delivery's abort signal.
 */
export class DeliveryPipeline {
  private readonly handler: AgentHandler;
  private readonly options: ResolvedOptions;
  private readonly log: Logger;
  private readonly broker: Broker;
  private readonly store: TaskCheckpoints;
  private readonly guards: DependencyGuards;
  private readonly retry: RetryPolicy;
  private readonly retryTiers: readonly number[];
  private readonly events: Pick<EventEmitter<WorkerEvents>, 'emit'>;
  private readonly onStorageFailure: () => void;
  /** This process's identity in lease files; each delivery adds its own number. */
  private readonly processHolder: string;
  private deliverySeq = 0;

  constructor(parts: DeliveryPipelineParts) {
    this.handler = parts.handler;
    this.options = parts.options;
    this.log = parts.log;
    this.broker = parts.broker;
    this.store = parts.store;
    this.guards = parts.guards;
    this.retry = parts.retry;
    this.retryTiers = parts.retryTiers;
    this.events = parts.events;
    this.onStorageFailure = parts.onStorageFailure;
    this.processHolder = `${parts.options.podName}/${process.pid}/${randomBytes(4).toString('hex')}`;
  }

  /** Handles one delivery to the end: ack with a published result, dead-letter, or requeue. */
  async handle(delivery: Delivery): Promise<void> {
    const { message } = delivery;
    const started = performance.now();
    const attempt = attemptOf(message.properties.headers);
    const parsed = parseTask(message.content, message.properties.messageId);
    if (!parsed.ok) {
      await this.rejectMalformed(delivery, parsed, attempt, this.log.child({ taskId: parsed.id, attempt }));
      return;
    }

    const { id, input } = parsed.task;
    delivery.taskId = id;
    delivery.fingerprint = inputFingerprint(input);
    const log = this.log.child({ taskId: id, attempt });
    try {
      await this.underLease(delivery, id, attempt, log, async () => {
        // Under the lease, so no other worker is finishing or checkpointing the task meanwhile.
        const [marker, resumed] = await Promise.all([
          this.readDoneMarker(id, log),
          readResumeState(this.store, id, log),
        ]);
        const conflict = conflictWith(delivery.fingerprint, marker, resumed);
        if (conflict !== undefined) {
          await this.rejectConflict(delivery, id, conflict, log);
          return;
        }
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
    const holder = `${this.processHolder}#${++this.deliverySeq}`;
    delivery.leaseHolder = holder;
    let lease = await this.store.acquireLease(id, holder, ttlMs);
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
        lease = await this.store.acquireLease(id, holder, ttlMs);
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
      this.store.renewLease(id, holder, ttlMs).then(
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
          .releaseLease(id, holder, { stillLive: Date.now() - writtenAt < ttlMs / 2 })
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
    this.onStorageFailure();
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
    const ctx = createTaskContext({ store: this.store, guards: this.guards, events: this.events }, delivery, {
      taskId: id,
      attempt,
      state: resumed?.state,
      log,
    });
    log.info(
      { resumed: resumed !== undefined },
      resumed ? 'task resumed from its checkpoint' : 'task started',
    );
    this.events.emit('taskStarted', { taskId: id, attempt, resumed: resumed !== undefined });
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
   * 3. ack, at once: the result is safe with the broker, and the next delivery need not wait for
   *    the file system.
   * 4. done marker `published` (one rename), still under the task's lease, so a redelivery (an
   *    ack lost with the channel) reads the marker only once the rename is done, finds
   *    `published` and is acked without a rerun and without a second result. A crash between the
   *    confirm and this rename is the only way to publish a result twice: the redelivery (if the
   *    ack never reached the broker) publishes the stored outcome again, an identical copy (same
   *    body, `messageId` = task id), which result consumers can drop. No ordering avoids that
   *    window: writing `published` before the confirm would turn the same crash into a lost
   *    result, which is worse. Acking before the rename narrows it: an ack written to the socket
   *    reaches the broker even if the process dies right after.
   */
  private async finish(
    delivery: Delivery,
    id: string,
    decided: Outcome,
    started: number,
    log: Logger,
  ): Promise<void> {
    // Made publishable before it is stored: a stored outcome is what every redelivery publishes.
    let outcome = this.publishableOutcome(id, decided, log);
    await this.store.writeDone(id, 'publishing', outcome, delivery.fingerprint);
    try {
      await this.publishOutcome(delivery, id, outcome);
    } catch (error) {
      if (!(error instanceof PermanentPublishError)) {
        throw error;
      }
      // A limit the size check above does not know (e.g. a smaller frame): the same replacement.
      outcome = unpublishableOutcome(id, outcome.result.attempts, error.message);
      log.warn({ err: error }, 'the outcome cannot be published; publishing a failed result instead');
      await this.store.writeDone(id, 'publishing', outcome, delivery.fingerprint);
      await this.publishOutcome(delivery, id, outcome);
    }
    this.settle(delivery, 'ack', log);
    const durationSeconds = (performance.now() - started) / 1000;
    this.events.emit('taskFinished', { taskId: id, status: outcome.result.status, durationSeconds });
    log.info({ status: outcome.result.status, durationSeconds }, 'task finished; result published');
    // Both after the ack and before the lease goes (the caller releases it once these settled);
    // they overlap. Neither may fail the task now: it is acked, and a copy sent back to the queue
    // would publish its result again.
    await Promise.all([
      this.store.writeDone(id, 'published', outcome, delivery.fingerprint).catch((error: unknown) => {
        log.warn(
          { err: error },
          'could not mark the result published; a redelivery would publish it again, identically',
        );
        if (isStorageError(error)) {
          this.onStorageFailure();
        }
      }),
      // Unknown (a stored outcome republished) or true: remove whatever is there.
      delivery.hasCheckpoint === false
        ? undefined
        : this.store
            .removeCheckpoint(id)
            .catch((error) => log.warn({ err: error }, 'could not remove the checkpoint')),
    ]);
  }
  /** The dead-letter copy (if any), then the result, each confirmed by the broker. */
  private async publishOutcome(delivery: Delivery, id: string, outcome: Outcome): Promise<void> {
    if (outcome.deadLetter) {
      await this.broker.publishDeadLetter(
        delivery.message,
        outcome.deadLetter.reason,
        outcome.deadLetter.detail,
      );
      this.events.emit('deadLettered', { taskId: id, reason: outcome.deadLetter.reason });
    }
    await this.broker.publishResult(id, outcome.result);
  }

  /**
   * `outcome`, or a failed one saying why when its result would exceed the broker's
   * `max_message_size` (`AGENT_MAX_MESSAGE_BYTES`): the broker would close the channel, taking
   * every in-flight task of this worker with it, on every redelivery. Nothing gets better on retry,
   * so the task fails now, on this attempt.
   */
  private publishableOutcome(id: string, outcome: Outcome, log: Logger): Outcome {
    const bytes = Buffer.byteLength(JSON.stringify(outcome.result), 'utf8');
    const limit = this.options.maxMessageBytes;
    if (bytes <= limit) {
      return outcome;
    }
    const why =
      `the result is ${bytes} bytes, over the broker's max_message_size of ${limit} bytes ` +
      '(AGENT_MAX_MESSAGE_BYTES); its output was dropped. Return a smaller output (e.g. a reference to ' +
      'where the full output is stored)';
    log.warn(
      { bytes, limit },
      'the result is too large for the broker; the task fails with a result saying so',
    );
    return unpublishableOutcome(id, outcome.result.attempts, why);
  }

  /**
   * A message that is not a task (`invalid-json`, `invalid-task`): dead-lettered with the reason,
   * and answered with a failed result when it names a usable id that no task has finished under.
   * It never takes the id's lease nor writes its markers: a well-formed task with the same id,
   * before or after, keeps its own fate. Its result carries the dead-letter reason as a header, so
   * consumers can tell it answers the malformed message, not a run of the task.
   */
  private async rejectMalformed(
    delivery: Delivery,
    parsed: Extract<ParsedTask, { ok: false }>,
    attempt: number,
    log: Logger,
  ): Promise<void> {
    log.warn({ reason: parsed.reason, detail: parsed.detail }, 'malformed task message; dead-lettering it');
    try {
      await this.broker.publishDeadLetter(delivery.message, parsed.reason, parsed.detail);
      this.events.emit('deadLettered', { taskId: parsed.id, reason: parsed.reason });
      if (parsed.id !== undefined && (await this.mayAnswerMalformed(parsed.id, log))) {
        const result: ResultMessage = {
          id: parsed.id,
          status: 'failed',
          error: parsed.detail,
          attempts: attempt,
        };
        await this.broker.publishResult(parsed.id, result, { [Headers.deadLetterReason]: parsed.reason });
      }
      this.settle(delivery, 'ack', log);
    } catch (error) {
      this.release(delivery, parsed.id ?? '<no id>', `dead-lettering failed: ${errorText(error)}`, log);
    }
  }

  /** No task finished (or is finishing) under `id`, as far as the store tells without writing. */
  private async mayAnswerMalformed(id: string, log: Logger): Promise<boolean> {
    try {
      return (await this.store.readDone(id)) === undefined;
    } catch (error) {
      log.warn({ err: error }, 'cannot tell whether a task finished under this id; no failed result');
      return false;
    }
  }

  /**
   * Another task already used this id with another input (its done marker or checkpoint says so):
   * this message is not run, not acked as done, and gets no result (the id's result is the other
   * task's). It is dead-lettered as `id-conflict`, where the producer can see it.
   */
  private async rejectConflict(delivery: Delivery, id: string, conflict: string, log: Logger): Promise<void> {
    const detail =
      `task id ${JSON.stringify(id)} ${conflict} with a different input; this message was not run. ` +
      'Give each task its own id';
    log.warn({ reason: DeadLetterReasons.idConflict }, detail);
    try {
      await this.broker.publishDeadLetter(delivery.message, DeadLetterReasons.idConflict, detail);
      this.events.emit('deadLettered', { taskId: id, reason: DeadLetterReasons.idConflict });
      this.settle(delivery, 'ack', log);
    } catch (error) {
      this.release(delivery, id, `dead-lettering failed: ${errorText(error)}`, log);
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
      .releaseLease(id, delivery.leaseHolder ?? '')
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
    this.events.emit('taskReleased', { taskId: id, why });
    return true;
  }

  /**
   * Returns the delivery to the queue (or leaves it to the broker when the channel is gone). Also the
   * shutdown's last resort for a handler still running at the finish deadline.
   */
  release(delivery: Delivery, id: string, why: string, log: Logger): void {
    log.warn({ why }, 'task returned to the queue');
    this.settle(delivery, 'requeue', log);
    this.events.emit('taskReleased', { taskId: id, why });
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
}

/** A failed outcome for a task whose real outcome the broker cannot carry. */
function unpublishableOutcome(id: string, attempts: number, why: string): Outcome {
  return {
    result: { id, status: 'failed', error: why, attempts },
    deadLetter: { reason: DeadLetterReasons.unpublishable, detail: why },
  };
}

/**
 * Why this delivery is another task than the one the store knows under its id, or undefined: a
 * done marker or checkpoint saved for a different input. (Files of older workers carry no
 * fingerprint and are taken as the same task.)
 */
function conflictWith(
  fingerprint: string | undefined,
  marker: DoneMarker | undefined,
  resumed: { input?: string } | undefined,
): string | undefined {
  if (fingerprint === undefined) {
    return undefined;
  }
  if (marker?.input !== undefined && marker.input !== fingerprint) {
    return marker.state === 'published' ? 'already finished' : 'is finishing';
  }
  if (resumed?.input !== undefined && resumed.input !== fingerprint) {
    return 'is in progress';
  }
  return undefined;
}
