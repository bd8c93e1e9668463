import {
  deadLetterExchangeFor,
  deadLetterQueueFor,
  Headers,
  retryQueueArguments,
  retryQueueFor,
  taskQueueArguments,
} from '@agent-fleet/contract';
import * as amqp from 'amqplib';

/**
 * Broker I/O, kept apart from the loop: connect, declare the topology, consume, publish with
 * confirms, delayed retries through TTL queues. `connect()` may be called again after a loss:
 * each connection is a new *generation*, and a delivery can only be acked or nacked on the
 * generation that received it (a delivery tag of a closed channel means nothing on a new one).
 */

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
  /** Increases with every successful `connect()`; deliveries remember theirs. */
  generation = 0;

  constructor(
    private readonly url: string,
    private readonly topology: BrokerTopology,
    private readonly handlers: BrokerHandlers,
  ) {}

  /** Connects and declares the dead-letter exchange and queue, the task queue and the result queue. */
  async connect(): Promise<void> {
    await this.dropConnection();
    const generation = this.generation + 1;
    const connection = await amqp.connect(this.url, {
      clientProperties: { connection_name: 'agent-worker' },
      // amqplib leaves Nagle's algorithm on: every handshake step, request and confirm then waits
      // for the peer's delayed ACK, which dominated a cold start and the latency of each task.
      noDelay: true,
    });
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
      channel = await connection.createConfirmChannel();
    } catch (error) {
      await connection.close().catch(() => undefined);
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
    this.generation = generation;
    try {
      await this.declare(connection, channel);
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
      await connection.close().catch(() => undefined);
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

  /** True while the consumer is registered and the channel is open. */
  get consuming(): boolean {
    return this.consumerTag !== undefined && !this.lost && !this.closing;
  }

  /** Starts consuming with a per-consumer prefetch (quorum queues reject a global one) and manual acks. */
  async consume(prefetch: number): Promise<void> {
    const channel = this.requireChannel();
    await channel.prefetch(prefetch, false);
    const reply = await channel.consume(
      this.topology.taskQueueName,
      (message) => {
        if (message === null) {
          this.consumerTag = undefined;
          this.handlers.onCancelled();
        } else {
          this.handlers.onDelivery(message);
        }
      },
      { noAck: false },
    );
    this.consumerTag = reply.consumerTag;
  }

  /** Stops new deliveries; deliveries already received stay ours to ack or nack. */
  async stopConsuming(): Promise<void> {
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (tag !== undefined && this.channel && !this.lost) {
      await this.channel.cancel(tag);
    }
  }

  private requireChannel(): amqp.ConfirmChannel {
    if (!this.channel || this.lost) {
      throw new Error('the broker channel is closed');
    }
    return this.channel;
  }

  /** Publishes to the result queue and resolves once the broker confirmed it (persisted). */
  publishResult(taskId: string, body: unknown): Promise<void> {
    return this.publishConfirmed('', this.topology.resultQueueName, Buffer.from(JSON.stringify(body)), {
      messageId: taskId,
      contentType: 'application/json',
      persistent: true,
      timestamp: Math.floor(Date.now() / 1000),
    });
  }

  /**
   * Publishes a copy of `message` to the dead-letter exchange with the reason in a header, and
   * resolves once confirmed. (A nack cannot add headers; publishing a copy, then acking the original,
   * keeps the reason and never loses the message.)
   */
  publishDeadLetter(message: amqp.Message, reason: string, detail: string): Promise<void> {
    const p = message.properties;
    return this.publishConfirmed(
      deadLetterExchangeFor(this.topology.taskQueueName),
      this.topology.taskQueueName,
      message.content,
      {
        ...copiedProperties(message),
        headers: {
          ...(p.headers ?? {}),
          [Headers.deadLetterReason]: reason,
          [Headers.deadLetterDetail]: detail.slice(0, MAX_DETAIL),
        },
      },
    );
  }

  private publishConfirmed(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: amqp.Options.Publish,
  ): Promise<void> {
    const channel = this.requireChannel();
    return new Promise((resolve, reject) => {
      channel.publish(exchange, routingKey, content, options, (error: unknown) => {
        if (error) {
          reject(
            error instanceof Error
              ? error
              : new Error(`publish to "${exchange || routingKey}" was not confirmed`),
          );
        } else {
          resolve();
        }
      });
    });
  }

  /**
   * Publishes a copy of the task to the retry tier `tierMs`, to come back to the task queue after
   * `delayMs` (≤ `tierMs`), or straight to the task queue when `tierMs` is 0 (an interruption),
   * with `Headers.attempts` = attempts spent so far and without the broker's `x-delivery-count`
   * (the copy starts a fresh count). Resolves once confirmed; the caller then acks the original.
   */
  publishRetry(
    message: amqp.Message,
    opts: { delayMs: number; tierMs: number; attempts: number; lastError: string },
  ): Promise<void> {
    const p = message.properties;
    const headers: Record<string, unknown> = { ...(p.headers ?? {}) };
    delete headers['x-delivery-count'];
    headers[Headers.attempts] = opts.attempts;
    headers[Headers.lastError] = opts.lastError.slice(0, MAX_DETAIL);
    const direct = opts.tierMs <= 0;
    return this.publishConfirmed(
      '',
      direct ? this.topology.taskQueueName : retryQueueFor(this.topology.taskQueueName, opts.tierMs),
      message.content,
      {
        ...copiedProperties(message),
        expiration: direct ? undefined : String(Math.max(0, Math.min(opts.delayMs, opts.tierMs))),
        headers,
      },
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

  /** Closes the channel and the connection. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.closing) {
      return;
    }
    this.closing = true;
    this.consumerTag = undefined;
    try {
      if (this.channel && !this.channelClosed) {
        await this.channel.close();
      }
    } catch {
      // already closed
    }
    try {
      if (this.connection && !this.connectionClosed) {
        await this.connection.close();
      }
    } catch {
      // already closed
    }
  }
}
