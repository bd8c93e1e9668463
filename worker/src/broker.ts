import { randomUUID } from 'node:crypto';
import {
  Defaults,
  deadLetterExchangeFor,
  deadLetterQueueFor,
  Headers,
  retryQueueArguments,
  retryQueueFor,
  taskQueueArguments,
} from '@agent-fleet/contract';
import * as amqp from 'amqplib';
import { headersForCopy, type PublishLimits, type PublishProperties, publishViolation } from './amqp-limits';
import { BrokerTimeoutError, PermanentPublishError } from './errors';

/**
 * Broker I/O, kept apart from the loop: connect, declare the topology, consume, publish with
 * confirms, delayed retries through TTL queues. `connect()` may be called again after a loss:
 * each connection is a new *generation*, and a delivery can only be acked or nacked on the
 * generation that received it (a delivery tag of a closed channel means nothing on a new one).
 *
 * Every wait on the broker is bounded. amqplib has no deadline of its own: against a peer that
 * accepts TCP and then says nothing, `connect()` never settles, and on a connection whose peer
 * went silent a confirm, a declaration, a consume, a cancel or a close waits forever. A wait that
 * times out rejects with `BrokerTimeoutError`, and the connection is then given up as lost (its
 * socket destroyed, `onLost` reported), as if the broker had closed it.
 *
 * Publishes are checked against what AMQP, amqplib and the broker accept before they are sent
 * (see amqp-limits.ts): one that can never be sent throws `PermanentPublishError` and leaves the
 * channel open.
 */

/** Deadlines and limits of a `Broker`. */
export interface BrokerOptions {
  /**
   * Deadline of one `connect()`: TCP (and TLS), the AMQP handshake, the channel and the topology.
   * @default 10000
   */
  readonly connectTimeoutMs?: number;
  /** Deadline of every other round-trip: a publish's confirm, consume, cancel, close. @default 30000 */
  readonly operationTimeoutMs?: number;
  /** The broker's `max_message_size`. @default 134217728 (`Defaults.maxMessageBytes`) */
  readonly maxMessageBytes?: number;
}

export const BROKER_DEFAULTS: Required<BrokerOptions> = {
  connectTimeoutMs: 10_000,
  operationTimeoutMs: 30_000,
  maxMessageBytes: Defaults.maxMessageBytes,
};

/** What amqplib keeps about a connection beyond its typings: the socket and the negotiated frame size. */
interface ConnectionInternals {
  readonly stream?: { destroy(error?: Error): void };
  readonly frameMax?: number;
}

function internalsOf(connection: amqp.ChannelModel): ConnectionInternals {
  return connection.connection as unknown as ConnectionInternals;
}

/** Ends a connection at once, without the close handshake a silent peer would never answer. */
function destroyConnection(connection: amqp.ChannelModel, error: Error): void {
  try {
    internalsOf(connection).stream?.destroy(error);
  } catch {
    // already gone
  }
}

/**
 * Settles like `promise`, or rejects with `BrokerTimeoutError` after `ms` (calling `onTimeout`
 * first). A late settlement of `promise` is ignored, never reported as unhandled.
 */
function bounded<T>(
  promise: Promise<T>,
  ms: number,
  operation: string,
  onTimeout?: (error: BrokerTimeoutError) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new BrokerTimeoutError(operation, ms);
      onTimeout?.(error);
      reject(error);
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Settles like `promise`, or rejects with the signal's reason once it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) {
      onAbort();
    } else {
      signal.addEventListener('abort', onAbort, { once: true });
    }
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The properties a copy of a task message keeps (headers are set by each caller); always persistent. */
function copiedProperties(message: amqp.Message): amqp.Options.Publish {
  const p = message.properties;
  return {
    messageId: p.messageId,
    correlationId: p.correlationId,
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    type: p.type,
    appId: p.appId,
    timestamp: p.timestamp,
    persistent: true,
  };
}

/** Longest dead-letter detail header written, in characters. */
const MAX_DETAIL = 1000;

export interface BrokerTopology {
  readonly taskQueueName: string;
  readonly resultQueueName: string;
  /** Delays of the retry tiers, in ms: one TTL queue each. @default - none */
  readonly retryTiersMs?: readonly number[];
}

export interface BrokerHandlers {
  /** Every delivery of the task queue. */
  onDelivery(message: amqp.ConsumeMessage): void;
  /** The server cancelled the consumer (queue deleted, node gone). */
  onCancelled(): void;
  /** Connection or channel closed without `close()` being called. */
  onLost(error: Error | undefined): void;
  /** Errors to log. */
  onError(error: Error, source: 'connection' | 'channel'): void;
}

/** One connection, one confirm channel used for consuming, acking and publishing. */
export class Broker {
  private connection: amqp.ChannelModel | undefined;
  private channel: amqp.ConfirmChannel | undefined;
  private consumerTag: string | undefined;
  private closing = false;
  private lost = false;
  private channelClosed = false;
  private connectionClosed = false;
  /** The current connection's negotiated frame size (the content header of a publish must fit one frame). */
  private frameMax: number | undefined;
  private readonly options: Required<BrokerOptions>;
  /** Increases with every successful `connect()`; deliveries remember theirs. */
  generation = 0;

  constructor(
    private readonly url: string,
    private readonly topology: BrokerTopology,
    private readonly handlers: BrokerHandlers,
    options: BrokerOptions = {},
  ) {
    this.options = {
      connectTimeoutMs: options.connectTimeoutMs ?? BROKER_DEFAULTS.connectTimeoutMs,
      operationTimeoutMs: options.operationTimeoutMs ?? BROKER_DEFAULTS.operationTimeoutMs,
      maxMessageBytes: options.maxMessageBytes ?? BROKER_DEFAULTS.maxMessageBytes,
    };
  }

  /** What a publish on the current connection may carry. */
  get publishLimits(): PublishLimits {
    return { maxMessageBytes: this.options.maxMessageBytes, frameMax: this.frameMax };
  }

  /**
   * Connects and declares the dead-letter exchange and queue, the task queue and the result queue,
   * all within `timeoutMs` (default `connectTimeoutMs`; a caller retrying until a deadline passes
   * what is left of it). A silent or stalling peer fails with `BrokerTimeoutError` at the deadline.
   */
  async connect(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    await this.dropConnection();
    const timeoutMs = Math.max(1, Math.round(options.timeoutMs ?? this.options.connectTimeoutMs));
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new BrokerTimeoutError('the connection (TCP, TLS, AMQP handshake, channel, topology)', timeoutMs),
        ),
      timeoutMs,
    );
    try {
      await this.connectUntil(deadline.signal);
    } catch (error) {
      throw deadline.signal.aborted ? deadline.signal.reason : error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async connectUntil(signal: AbortSignal): Promise<void> {
    const generation = this.generation + 1;
    // The signal also reaches the socket: aborting destroys it, whatever step is under way, so
    // nothing of a timed-out attempt lingers.
    // (amqplib passes its socket options on to net.connect/tls.connect, which take the signal; its
    // typings do not list it.)
    const socketOptions: amqp.SocketOptions & { signal: AbortSignal } = {
      clientProperties: { connection_name: 'agent-worker' },
      // amqplib leaves Nagle's algorithm on: every handshake step, request and confirm then waits
      // for the peer's delayed ACK, which dominated a cold start and the latency of each task.
      noDelay: true,
      signal,
    };
    const connecting = amqp.connect(this.url, socketOptions as amqp.SocketOptions);
    connecting.then(
      (late) => {
        if (signal.aborted) destroyConnection(late, signal.reason as Error);
      },
      () => undefined,
    );
    const connection = await untilAborted(connecting, signal);
    if (this.closing) {
      // close() came during the handshake: this connection is nobody's to keep open.
      await bounded(connection.close(), this.options.operationTimeoutMs, 'closing the connection').catch(
        (error: Error) => destroyConnection(connection, error),
      );
      throw new Error('the broker connection was closed while connecting');
    }
    const current = () => this.generation === generation && this.connection === connection;
    connection.on('error', (error: Error) => this.handlers.onError(error, 'connection'));
    connection.on('close', (error?: Error) => {
      if (current()) {
        this.connectionClosed = true;
        this.channelClosed = true;
        this.markLost(error);
      }
    });
    let channel: amqp.ConfirmChannel;
    try {
      channel = await untilAborted(connection.createConfirmChannel(), signal);
    } catch (error) {
      await bounded(connection.close(), this.options.operationTimeoutMs, 'closing the connection').catch(() =>
        destroyConnection(connection, error as Error),
      );
      throw error;
    }
    channel.on('error', (error: Error) => this.handlers.onError(error, 'channel'));
    channel.on('close', () => {
      if (current()) {
        this.channelClosed = true;
        this.markLost(undefined);
      }
    });
    this.connection = connection;
    this.channel = channel;
    this.connectionClosed = false;
    this.channelClosed = false;
    this.frameMax = internalsOf(connection).frameMax;
    this.generation = generation;
    try {
      await untilAborted(this.declare(connection, channel), signal);
    } catch (error) {
      await this.dropConnection();
      throw error;
    }
    if (this.channelClosed) {
      await this.dropConnection();
      throw new Error('the broker closed the channel while declaring the topology');
    }
    // Only now can a close be reported as a loss: a failed declaration is the caller's error.
    this.lost = false;
  }

  /** Closes what is left of the current connection (after a loss, or a failed declaration). */
  private async dropConnection(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    this.consumerTag = undefined;
    this.lost = true;
    if (connection && !this.connectionClosed) {
      this.connectionClosed = true;
      await bounded(connection.close(), this.options.operationTimeoutMs, 'closing the connection').catch(
        (error: Error) => destroyConnection(connection, error),
      );
    }
  }

  /**
   * Declares the topology. amqplib sends one request per channel at a time, so the independent
   * parts go over short-lived extra channels at once: a cold start then waits for about a third of
   * the round-trips (one per retry tier on top of the rest). Any refusal (406) still
   * fails the whole declaration.
   */
  private async declare(connection: amqp.ChannelModel, channel: amqp.ConfirmChannel): Promise<void> {
    const { taskQueueName, resultQueueName } = this.topology;
    const dlx = deadLetterExchangeFor(taskQueueName);
    const dlq = deadLetterQueueFor(taskQueueName);
    const tiers = (this.topology.retryTiersMs ?? []).map(
      (delayMs) => (ch: amqp.Channel) =>
        ch.assertQueue(retryQueueFor(taskQueueName, delayMs), {
          durable: true,
          arguments: retryQueueArguments(taskQueueName, delayMs),
        }),
    );
    const half = Math.ceil(tiers.length / 2);
    type Declaration = (ch: amqp.Channel) => Promise<unknown>;
    const deadLetters: Declaration[] = [
      (ch) => ch.assertExchange(dlx, 'fanout', { durable: true }),
      (ch) => ch.assertQueue(dlq, { durable: true, arguments: { 'x-queue-type': 'quorum' } }),
      (ch) => ch.bindQueue(dlq, dlx, ''),
    ];
    const groups = [deadLetters, tiers.slice(0, half), tiers.slice(half)].filter((g) => g.length > 0);
    const onExtraChannel = async (group: Declaration[]) => {
      const ch = await connection.createChannel();
      // A refusal closes the channel with an 'error' event; the rejected request reports it.
      ch.on('error', () => undefined);
      for (const declare of group) {
        await declare(ch);
      }
      void ch.close().catch(() => undefined);
    };
    await Promise.all([
      (async () => {
        await channel.assertQueue(taskQueueName, {
          durable: true,
          arguments: taskQueueArguments(taskQueueName),
        });
        await channel.assertQueue(resultQueueName, { durable: true });
      })(),
      ...groups.map(onExtraChannel),
    ]);
  }

  private markLost(error: Error | undefined): void {
    if (this.closing || this.lost) {
      return;
    }
    this.lost = true;
    this.consumerTag = undefined;
    this.handlers.onLost(error);
  }

  /**
   * A wait on `connection` timed out: the peer is not answering, so the connection is given up as
   * if the broker had closed it (reported through `onLost`, once), and its socket destroyed, which
   * also fails whatever else was waiting on it.
   */
  private abandon(connection: amqp.ChannelModel | undefined, error: BrokerTimeoutError): void {
    if (connection === undefined) {
      return;
    }
    if (connection === this.connection) {
      this.connectionClosed = true;
      this.channelClosed = true;
      this.markLost(error);
    }
    destroyConnection(connection, error);
  }

  /** Waits for a round-trip on the current connection, at most `operationTimeoutMs`; then gives it up. */
  private roundTrip<T>(promise: Promise<T>, operation: string): Promise<T> {
    const connection = this.connection;
    return bounded(promise, this.options.operationTimeoutMs, operation, (error) =>
      this.abandon(connection, error),
    );
  }

  /** True from sending basic.consume until the consumer is cancelled, while the channel is open. */
  get consuming(): boolean {
    return this.consumerTag !== undefined && !this.lost && !this.closing;
  }

  /**
   * Starts consuming with a per-consumer prefetch (quorum queues reject a global one) and manual
   * acks. The consumer tag is chosen here, before basic.consume goes out: amqplib dispatches the
   * first deliveries before this call resumes, and a `stopConsuming()` they cause (the last task
   * AGENT_MAX_TASKS allows) must find the consumer to cancel. Left registered, it would be sent
   * more messages as tasks are acked, which the worker can only give back, each return counting
   * as a delivery of that task. amqplib sends such a cancel once the consume is answered.
   */
  async consume(prefetch: number): Promise<void> {
    const channel = this.requireChannel();
    await this.roundTrip(channel.prefetch(prefetch, false), 'basic.qos (prefetch)');
    const tag = `agent-worker.${randomUUID()}`;
    this.consumerTag = tag;
    try {
      await this.roundTrip(
        channel.consume(
          this.topology.taskQueueName,
          (message) => {
            if (message === null) {
              this.consumerTag = undefined;
              this.handlers.onCancelled();
            } else {
              this.handlers.onDelivery(message);
            }
          },
          { noAck: false, consumerTag: tag },
        ),
        `basic.consume on "${this.topology.taskQueueName}"`,
      );
    } catch (error) {
      if (this.consumerTag === tag) {
        this.consumerTag = undefined;
      }
      throw error;
    }
  }

  /** Stops new deliveries; deliveries already received stay ours to ack or nack. */
  async stopConsuming(): Promise<void> {
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (tag !== undefined && this.channel && !this.lost) {
      await this.roundTrip(this.channel.cancel(tag), 'basic.cancel');
    }
  }

  private requireChannel(): amqp.ConfirmChannel {
    if (!this.channel || this.lost) {
      throw new Error('the broker channel is closed');
    }
    return this.channel;
  }

  /**
   * Publishes to the result queue and resolves once the broker confirmed it (persisted). Throws
   * `PermanentPublishError`, without sending, when the result cannot be carried (a body over
   * `maxMessageBytes`, a task id over 255 bytes as `messageId`).
   */
  async publishResult(taskId: string, body: unknown, headers?: Record<string, unknown>): Promise<void> {
    return this.publishConfirmed('', this.topology.resultQueueName, Buffer.from(JSON.stringify(body)), {
      messageId: taskId,
      contentType: 'application/json',
      persistent: true,
      timestamp: Math.floor(Date.now() / 1000),
      ...(headers && { headers }),
    });
  }

  /**
   * Publishes a copy of `message` to the dead-letter exchange with the reason in a header, and
   * resolves once confirmed. (A nack cannot add headers; publishing a copy, then acking the original,
   * keeps the reason and never loses the message.) Original headers too large to publish again are
   * left out (see `copyHeaders`); a copy that still cannot be sent throws `PermanentPublishError`.
   */
  async publishDeadLetter(message: amqp.Message, reason: string, detail: string): Promise<void> {
    const properties = copiedProperties(message);
    return this.publishConfirmed(
      deadLetterExchangeFor(this.topology.taskQueueName),
      this.topology.taskQueueName,
      message.content,
      {
        ...properties,
        headers: this.copyHeaders(message, properties, {
          [Headers.deadLetterReason]: reason,
          [Headers.deadLetterDetail]: detail.slice(0, MAX_DETAIL),
        }),
      },
    );
  }

  /**
   * The headers of a copy of `message`: its own (minus `omit`) under the worker's `own`. When the
   * original's headers are too large to encode again (a publisher's 60 KiB header plus ours), its
   * application headers (not `x-…`), and if need be all of them, are left out and
   * `Headers.droppedHeaderBytes` says how many bytes: otherwise every retry would fail the same way.
   */
  private copyHeaders(
    message: amqp.Message,
    properties: PublishProperties,
    own: Record<string, unknown>,
    omit: readonly string[] = [],
  ): Record<string, unknown> {
    const limits = this.publishLimits;
    return headersForCopy(message.properties.headers, own, {
      omit,
      droppedHeader: Headers.droppedHeaderBytes,
      fits: (headers) =>
        publishViolation({ body: 0, properties: { ...properties, headers } }, limits)?.what !== 'headers',
    }).headers;
  }

  private async publishConfirmed(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: amqp.Options.Publish,
  ): Promise<void> {
    const destination = exchange || routingKey;
    // Checked before sending: the broker answers an oversized body by closing the channel (every
    // unconfirmed publish and unacked delivery with it), amqplib an oversized property or header
    // table by throwing; neither gets better on retry.
    const violation = publishViolation(
      { body: content, properties: options as PublishProperties },
      this.publishLimits,
    );
    if (violation) {
      throw new PermanentPublishError(destination, violation);
    }
    const channel = this.requireChannel();
    const confirmed = new Promise<void>((resolve, reject) => {
      channel.publish(exchange, routingKey, content, options, (error: unknown) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(`publish to "${destination}" was not confirmed`));
        } else {
          resolve();
        }
      });
    });
    await this.roundTrip(confirmed, `the confirm of a publish to "${destination}"`);
  }

  /**
   * Publishes a copy of the task to the retry tier `tierMs`, to come back to the task queue after
   * `delayMs` (≤ `tierMs`), or straight to the task queue when `tierMs` is 0 (an interruption),
   * with `Headers.attempts` = attempts spent so far and without the broker's `x-delivery-count`
   * (the copy starts a fresh count). Resolves once confirmed; the caller then acks the original.
   * Original headers too large to publish again are left out (see `copyHeaders`); a copy that
   * still cannot be sent throws `PermanentPublishError`.
   */
  async publishRetry(
    message: amqp.Message,
    opts: { delayMs: number; tierMs: number; attempts: number; lastError: string },
  ): Promise<void> {
    const direct = opts.tierMs <= 0;
    const properties: PublishProperties = {
      ...copiedProperties(message),
      expiration: direct ? undefined : String(Math.max(0, Math.min(opts.delayMs, opts.tierMs))),
    };
    const headers = this.copyHeaders(
      message,
      properties,
      { [Headers.attempts]: opts.attempts, [Headers.lastError]: opts.lastError.slice(0, MAX_DETAIL) },
      ['x-delivery-count'],
    );
    return this.publishConfirmed(
      '',
      direct ? this.topology.taskQueueName : retryQueueFor(this.topology.taskQueueName, opts.tierMs),
      message.content,
      { ...(properties as amqp.Options.Publish), headers },
    );
  }

  /** Acks a delivery; false when the channel is gone (the broker requeues the delivery itself). */
  ack(message: amqp.Message, generation = this.generation): boolean {
    if (!this.channel || this.lost || generation !== this.generation) {
      return false;
    }
    try {
      this.channel.ack(message);
      return true;
    } catch {
      return false;
    }
  }

  /** Returns a delivery to the queue; false when the channel is gone (the broker requeued it already). */
  requeue(message: amqp.Message, generation = this.generation): boolean {
    if (!this.channel || this.lost || generation !== this.generation) {
      return false;
    }
    try {
      this.channel.nack(message, false, true);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Closes the channel and the connection. Idempotent; never throws. Each close handshake waits at
   * most `operationTimeoutMs`; a peer that does not answer gets its socket destroyed instead.
   */
  async close(): Promise<void> {
    if (this.closing) {
      return;
    }
    this.closing = true;
    this.consumerTag = undefined;
    const connection = this.connection;
    try {
      if (this.channel && !this.channelClosed) {
        await bounded(this.channel.close(), this.options.operationTimeoutMs, 'closing the channel');
      }
    } catch (error) {
      if (error instanceof BrokerTimeoutError && connection) {
        this.connectionClosed = true;
        destroyConnection(connection, error);
      }
    }
    try {
      if (connection && !this.connectionClosed) {
        await bounded(connection.close(), this.options.operationTimeoutMs, 'closing the connection');
      }
    } catch (error) {
      if (error instanceof BrokerTimeoutError && connection) {
        destroyConnection(connection, error);
      }
    }
  }
}
