/**
 * Every wait on the broker is bounded. amqplib has no deadline of its own: against a peer that
 * accepts TCP and then says nothing it never settles `connect()`, and on a connection whose peer
 * went silent a confirm, a consume, a cancel or a close waits forever. These tests use such peers
 * (a silent server, a trickling one, a proxy to the real broker that goes silent) and check that
 * each wait ends with `BrokerTimeoutError`, the connection given up as lost.
 */
import { ExitCode } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { Broker, type BrokerHandlers } from '../src/broker';
import { BrokerTimeoutError } from '../src/errors';
import { brokerUrl, startWorker, type TestSetup, testSetup, useTestClient, waitFor } from './support/harness';
import {
  type FreezableProxy,
  freezableProxy,
  type SilentPeer,
  silentServer,
  tricklingServer,
  viaPort,
} from './support/silent-peers';

const client = useTestClient();
const peers: Array<SilentPeer | FreezableProxy> = [];
const brokers: Broker[] = [];

afterEach(async () => {
  for (const broker of brokers.splice(0)) await broker.close();
  for (const peer of peers.splice(0)) await peer.close();
});

/** Handlers that record what the broker reported. */
function recording() {
  const lost: Array<Error | undefined> = [];
  const deliveries: amqp.ConsumeMessage[] = [];
  const handlers: BrokerHandlers = {
    onDelivery: (message) => deliveries.push(message),
    onCancelled: () => undefined,
    onLost: (error) => lost.push(error),
    onError: () => undefined,
  };
  return { lost, deliveries, handlers };
}

function brokerAt(url: string, setup: TestSetup, handlers: BrokerHandlers, operationTimeoutMs = 500): Broker {
  const broker = new Broker(
    url,
    { taskQueueName: setup.taskQueue, resultQueueName: setup.resultQueue },
    handlers,
    { connectTimeoutMs: 500, operationTimeoutMs },
  );
  brokers.push(broker);
  return broker;
}

/** A broker connected (and consuming) through a proxy that can go silent. */
async function throughProxy(name: string) {
  const target = new URL(brokerUrl());
  const proxy = await freezableProxy({ host: target.hostname, port: Number(target.port || 5672) });
  peers.push(proxy);
  const recorded = recording();
  const setup = testSetup(name);
  const broker = brokerAt(viaPort(brokerUrl(), proxy.port), setup, recorded.handlers);
  await broker.connect({ timeoutMs: 10_000 });
  await broker.consume(1);
  return { proxy, broker, setup, ...recorded };
}

describe('connect', () => {
  test('a worker pointed at an endpoint that accepts TCP and never speaks AMQP exits 69', async () => {
    const server = await silentServer();
    peers.push(server);
    const setup = testSetup('silent-endpoint');
    const worker = startWorker(
      setup.env({
        TASK_QUEUE_URL: `amqp://agent:pw@127.0.0.1:${server.port}/`,
        AGENT_BROKER_CONNECT_SECONDS: '2',
      }),
    );
    // Generous bound: the exit, not its timing, is what is checked.
    const exit = await worker.waitForExit(30_000);
    expect(exit.code).toBe(ExitCode.dependencyUnreachable);
    expect(server.accepted).toBeGreaterThanOrEqual(1);
    const fatal = worker.lines.find((l) => l.level === 60);
    expect(fatal?.msg).toMatch(/cannot reach the broker: the broker did not answer the connection/);
    expect(fatal?.exitCode).toBe(ExitCode.dependencyUnreachable);
  });

  test.each([
    ['silent', silentServer],
    ['trickling', () => tricklingServer(50)],
  ])(
    'against a %s peer, connect() fails at its deadline and leaves no socket behind',
    async (_kind, make) => {
      const server = await make();
      peers.push(server);
      const broker = brokerAt(
        `amqp://agent:pw@127.0.0.1:${server.port}/`,
        testSetup('connect-deadline'),
        recording().handlers,
      );
      const error = await broker.connect({ timeoutMs: 400 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerTimeoutError);
      expect((error as BrokerTimeoutError).message).toMatch(
        /^the broker did not answer the connection \(TCP, TLS, AMQP handshake, channel, topology\) within 400 ms$/,
      );
      await waitFor('the abandoned socket to be closed', () => server.closedByClient >= 1, 10_000);
      // The option's default is used when connect() gets none.
      const again = await broker.connect().catch((e: unknown) => e);
      expect(again).toBeInstanceOf(BrokerTimeoutError);
      expect((again as Error).message).toMatch(/within 500 ms/);
    },
  );
});

describe('a connection whose peer goes silent', () => {
  test('an unconfirmed publish fails at its deadline and the connection is reported lost once', async () => {
    const { proxy, broker, lost } = await throughProxy('silent-publish');
    proxy.freeze();
    const error = await broker
      .publishResult('t-1', { id: 't-1', status: 'succeeded', attempts: 1 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(BrokerTimeoutError);
    expect((error as Error).message).toMatch(/the confirm of a publish to ".*\.results" within 500 ms/);
    await waitFor('onLost', () => lost.length >= 1, 5000);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toBe(error);
    expect(broker.consuming).toBe(false);
    // The given-up connection rejects further work at once instead of waiting again.
    await expect(broker.publishResult('t-2', {})).rejects.toThrow(/channel is closed/);
  });

  test('cancel (stopConsuming) fails at its deadline', async () => {
    const { proxy, broker, lost } = await throughProxy('silent-cancel');
    proxy.freeze();
    await expect(broker.stopConsuming()).rejects.toBeInstanceOf(BrokerTimeoutError);
    expect(lost[0]).toBeInstanceOf(BrokerTimeoutError);
  });

  test('consume fails at its deadline', async () => {
    const target = new URL(brokerUrl());
    const proxy = await freezableProxy({ host: target.hostname, port: Number(target.port || 5672) });
    peers.push(proxy);
    const { handlers, lost } = recording();
    const broker = brokerAt(viaPort(brokerUrl(), proxy.port), testSetup('silent-consume'), handlers);
    await broker.connect({ timeoutMs: 10_000 });
    proxy.freeze();
    await expect(broker.consume(1)).rejects.toBeInstanceOf(BrokerTimeoutError);
    expect(lost[0]).toBeInstanceOf(BrokerTimeoutError);
  });

  test('close() returns although the peer never answers the close handshake', async () => {
    const { proxy, broker } = await throughProxy('silent-close');
    proxy.freeze();
    await expect(broker.close()).resolves.toBeUndefined();
  });

  test('after a timeout the same Broker connects again and works', async () => {
    const { proxy, broker, lost, setup } = await throughProxy('silent-then-back');
    proxy.freeze();
    await expect(broker.stopConsuming()).rejects.toBeInstanceOf(BrokerTimeoutError);
    expect(lost).toHaveLength(1);
    proxy.thaw();
    await broker.connect({ timeoutMs: 10_000 });
    await broker.publishResult('t-3', { id: 't-3', status: 'succeeded', attempts: 1 });
    const results = await client().waitForResults(setup.resultQueue, 1);
    expect(results.map((r) => r.id)).toEqual(['t-3']);
  });
});
