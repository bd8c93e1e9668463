/**
 * Publishes the broker or amqplib would refuse are classified before they are sent: an oversized
 * result throws `PermanentPublishError` and the channel stays open (the broker would close it,
 * taking every unconfirmed publish and unacked delivery with it); a retry or dead-letter copy of a
 * message whose own headers leave no room for the worker's drops them and says how much it dropped.
 * A small AGENT_MAX_MESSAGE_BYTES stands in for the broker's 128 MiB.
 */
import { Headers } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { AMQPLIB_TABLE_BUFFER_BYTES } from '../src/amqp-limits';
import { Broker } from '../src/broker';
import { PermanentPublishError } from '../src/errors';
import { brokerUrl, type TestSetup, testSetup, useTestClient, waitFor } from './support/harness';

const client = useTestClient();
const brokers: Broker[] = [];

afterEach(async () => {
  for (const broker of brokers.splice(0)) await broker.close();
});

async function connected(setup: TestSetup) {
  const lost: unknown[] = [];
  const deliveries: amqp.ConsumeMessage[] = [];
  const broker = new Broker(
    brokerUrl(),
    { taskQueueName: setup.taskQueue, resultQueueName: setup.resultQueue },
    {
      onDelivery: (message) => deliveries.push(message),
      onCancelled: () => undefined,
      onLost: (error) => lost.push(error),
      onError: () => undefined,
    },
    { maxMessageBytes: 4096 },
  );
  brokers.push(broker);
  await broker.connect();
  await broker.consume(1);
  return { broker, lost, deliveries };
}

test('an oversized result throws PermanentPublishError without sending; the next publish on the same Broker succeeds', async () => {
  const setup = testSetup('limits-result');
  const { broker, lost } = await connected(setup);
  const big = { id: 't-big', status: 'succeeded', output: 'x'.repeat(10_000), attempts: 1 };
  const error = await broker.publishResult('t-big', big).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PermanentPublishError);
  expect((error as PermanentPublishError).violation).toEqual({
    what: 'body',
    bytes: Buffer.byteLength(JSON.stringify(big)),
    limit: 4096,
  });
  expect((error as Error).message).toMatch(/max_message_size of 4096 bytes \(AGENT_MAX_MESSAGE_BYTES\)/);

  // A task id the protocol cannot carry as messageId: refused the same way.
  const longId = '€'.repeat(100);
  await expect(broker.publishResult(longId, { id: longId })).rejects.toMatchObject({
    name: 'PermanentPublishError',
    violation: { what: 'messageId', bytes: 300, limit: 255 },
  });

  // The channel is still open: a normal publish is confirmed, the consumer still registered.
  await broker.publishResult('t-small', { id: 't-small', status: 'failed', error: 'too large', attempts: 1 });
  expect(broker.consuming).toBe(true);
  expect(lost).toEqual([]);
  const results = await client().waitForResults(setup.resultQueue, 1);
  expect(results.map((r) => r.id)).toEqual(['t-small']);
  expect(await client().messageCount(setup.resultQueue)).toBe(0);
});

describe("copies of a message whose headers leave no room for the worker's", () => {
  // Close to what amqplib can encode at all: the publisher's own copy just fits.
  const blob = 'b'.repeat(AMQPLIB_TABLE_BUFFER_BYTES - 200);
  const original = { blob, trace: 'abc-123', 'x-origin': 'test' };

  async function deliveredBigTask(setup: TestSetup) {
    const state = await connected(setup);
    await client().publishRaw(setup.taskQueue, JSON.stringify({ id: 't-h', input: 1 }), {
      contentType: 'application/json',
      messageId: 't-h',
      headers: original,
    });
    await waitFor('the delivery', () => state.deliveries.length >= 1, 10_000);
    await state.broker.stopConsuming();
    const big = state.deliveries.find((m) => m.properties.messageId === 't-h');
    if (!big) throw new Error('the task with large headers was not delivered');
    return { ...state, big };
  }

  test("a retry copy drops the application headers, keeps x- headers and the worker's, and says how many bytes went", async () => {
    const setup = testSetup('limits-retry');
    const { broker, big, deliveries } = await deliveredBigTask(setup);
    await broker.publishRetry(big, { delayMs: 0, tierMs: 0, attempts: 1, lastError: 'e'.repeat(500) });
    for (const message of deliveries) broker.ack(message);
    const [copy] = await client().waitForMessages(setup.taskQueue, 1);
    const headers = copy.properties.headers ?? {};
    expect(headers.blob).toBeUndefined();
    expect(headers.trace).toBeUndefined();
    expect(headers['x-origin']).toBe('test');
    expect(headers[Headers.attempts]).toBe(1);
    expect(headers[Headers.lastError]).toBe('e'.repeat(500));
    expect(headers[Headers.droppedHeaderBytes]).toBeGreaterThan(blob.length);
    expect(copy.properties.messageId).toBe('t-h');
    expect(copy.content.toString()).toBe(JSON.stringify({ id: 't-h', input: 1 }));
  });

  test('a dead-letter copy does the same', async () => {
    const setup = testSetup('limits-dead');
    const { broker, big, deliveries } = await deliveredBigTask(setup);
    await broker.publishDeadLetter(big, 'permanent-error', 'd'.repeat(900));
    for (const message of deliveries) broker.ack(message);
    const [dead] = await client().waitForMessages(setup.deadQueue, 1);
    const headers = dead.properties.headers ?? {};
    expect(headers.blob).toBeUndefined();
    expect(headers[Headers.deadLetterReason]).toBe('permanent-error');
    expect(headers[Headers.deadLetterDetail]).toBe('d'.repeat(900));
    expect(headers[Headers.droppedHeaderBytes]).toBeGreaterThan(blob.length);
  });

  test('a copy whose headers fit is unchanged (no dropped-bytes header)', async () => {
    const setup = testSetup('limits-fits');
    const { broker, deliveries } = await connected(setup);
    await client().publishRaw(setup.taskQueue, JSON.stringify({ id: 't-s', input: 1 }), {
      headers: { trace: 'abc' },
    });
    await waitFor('the delivery', () => deliveries.length >= 1, 10_000);
    await broker.stopConsuming();
    await broker.publishRetry(deliveries[0], { delayMs: 0, tierMs: 0, attempts: 2, lastError: 'boom' });
    broker.ack(deliveries[0]);
    const [copy] = await client().waitForMessages(setup.taskQueue, 1);
    expect(copy.properties.headers).toMatchObject({ trace: 'abc', [Headers.attempts]: 2 });
    expect(copy.properties.headers?.[Headers.droppedHeaderBytes]).toBeUndefined();
  });
});
