import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Defaults, taskQueueArguments } from '@agent-fleet/contract';
import * as amqp from 'amqplib';
import * as fc from 'fast-check';
import { freePort } from '../../testkit/ports';
import { brokerForTestFile, type FileBroker } from '../../testkit/rabbitmq';
import { parseTasksJsonl } from '../src/seed';
import { cli } from './support/io';
import { brokerUrlWith, expectNoSecret, passwords, tokens } from './support/secrets';

// A real, throwaway RabbitMQ (or RABBITMQ_URL); starting it takes a while.
jest.setTimeout(120_000);

let broker: FileBroker | undefined;
let url: string;
let password: string;
let connection: amqp.ChannelModel;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-fleet-seed-'));
let queueSeq = 0;

beforeAll(async () => {
  broker = await brokerForTestFile();
  ({ url, password } = broker);
  connection = await amqp.connect(url);
});

afterAll(async () => {
  await connection?.close();
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Declares a fresh task queue the way the worker does (quorum, dead-letter arguments). */
async function workerQueue(): Promise<string> {
  const name = `cli-seed-${process.pid}-${++queueSeq}`;
  const channel = await connection.createChannel();
  await channel.assertQueue(name, { durable: true, arguments: taskQueueArguments(name) });
  await channel.close();
  return name;
}

async function drain(queue: string): Promise<amqp.GetMessage[]> {
  const channel = await connection.createChannel();
  const messages: amqp.GetMessage[] = [];
  for (;;) {
    const m = await channel.get(queue, { noAck: true });
    if (m === false) {
      break;
    }
    messages.push(m);
  }
  await channel.close();
  return messages;
}

function expectNoPassword(...texts: string[]): void {
  for (const t of texts) {
    expect(t).not.toContain(password);
  }
}

describe('seed against a real RabbitMQ', () => {
  test('--count publishes test tasks in the contract shape, confirmed', async () => {
    const queue = await workerQueue();
    const run = await cli(['seed', '--count', '5', '--queue', queue, '--url', url, '--id-prefix', 'run1']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /published 5 task\(s\) to queue "cli-seed-.*" \(all confirmed by the broker\), ids run1-1 \.\. run1-5/,
    );
    const messages = await drain(queue);
    expect(messages.map((m) => JSON.parse(m.content.toString()))).toEqual(
      [1, 2, 3, 4, 5].map((seq) => ({ id: `run1-${seq}`, input: { seq, seededAt: expect.any(String) } })),
    );
    for (const m of messages) {
      expect(m.properties.messageId).toBe(JSON.parse(m.content.toString()).id);
      expect(m.properties.contentType).toBe('application/json');
      expect(m.properties.deliveryMode).toBe(2);
    }
    expectNoPassword(run.stdout, run.stderr);
  });

  test('--url-env reads the URL from the named variable; the default variable is TASK_QUEUE_URL', async () => {
    const queue = await workerQueue();
    const named = await cli(['seed', '--count', '2', '--queue', queue, '--url-env', 'MY_BROKER'], {
      env: { MY_BROKER: url },
    });
    expect(named.code).toBe(0);
    const fallback = await cli(['seed', '--count', '1', '--queue', queue], { env: { TASK_QUEUE_URL: url } });
    expect(fallback.code).toBe(0);
    expect(await drain(queue)).toHaveLength(3);
    const missing = await cli(['seed', '--count', '1', '--queue', queue, '--url-env', 'NOPE'], { env: {} });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no broker URL: .* or set NOPE/);
  });

  test('--file publishes one task per JSONL line; ids default to <prefix>-<line>', async () => {
    const queue = await workerQueue();
    const file = path.join(tmp, 'tasks.jsonl');
    writeFileSync(file, '{"id":"a","input":{"q":"one"}}\n\n{"input":[1,2]}\n{"id":"c","input":null}\n');
    const run = await cli(['seed', '--file', file, '--queue', queue, '--url', url, '--id-prefix', 'f']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/published 3 task\(s\)/);
    const bodies = (await drain(queue)).map((m) => JSON.parse(m.content.toString()));
    expect(bodies).toEqual([
      { id: 'a', input: { q: 'one' } },
      { id: 'f-3', input: [1, 2] },
      { id: 'c', input: null },
    ]);
  });

  test('a malformed JSONL line is named, and nothing is published', async () => {
    const queue = await workerQueue();
    const file = path.join(tmp, 'bad.jsonl');
    writeFileSync(file, '{"id":"a","input":1}\n{"id":"b","input":2}\n{"id":"c", input: 3}\n');
    const run = await cli(['seed', '--file', file, '--queue', queue, '--url', url]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/bad\.jsonl line 3: not valid JSON/);
    expect(await drain(queue)).toHaveLength(0);
    expect(() => parseTasksJsonl('{"id":"a"}\n', 'p', 'f')).toThrow(
      /f line 1: the task has no "input" field/,
    );
    expect(() => parseTasksJsonl('1\n{"input":1}\n[2]\n', 'p', 'f')).toThrow(
      /f line 1: expected a task object/,
    );
    expect(() => parseTasksJsonl('{"input":1}\n{"id":7,"input":1}\n', 'p', 'f')).toThrow(
      /f line 2: "id" must be a non-empty string/,
    );
    expect(() => parseTasksJsonl('\n\n', 'p', 'f')).toThrow(/holds no tasks/);
  });

  test('publisher confirms: messages the broker rejects (a full reject-publish queue) fail the command', async () => {
    const queue = `cli-seed-full-${process.pid}`;
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, {
      durable: true,
      // A classic queue enforces the length limit exactly (a quorum queue's check lags behind).
      arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' },
    });
    await channel.close();
    const run = await cli(['seed', '--count', '5', '--queue', queue, '--url', url, '--no-progress']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/the broker did not accept task "seed-[0-9a-f]+-3" \(nack\)/);
    expect(run.stderr).toMatch(/ 2 of 5 task\(s\) were confirmed before\./);
    expect(run.stdout).toBe('');
    expect(await drain(queue)).toHaveLength(2);
    expectNoPassword(run.stdout, run.stderr);
  });

  test('a missing queue is an error that says how to create it; nothing is declared', async () => {
    const queue = `cli-seed-missing-${process.pid}`;
    const run = await cli(['seed', '--count', '1', '--queue', queue, '--url', url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`queue "${queue}" does not exist on the broker. Start a worker first`),
    );
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await expect(channel.checkQueue(queue)).rejects.toThrow(/404/);
  });

  test('wrong credentials: a clear error, exit 1, the password never printed', async () => {
    const u = new URL(url);
    u.password = `${password}-wrong`;
    const run = await cli(['seed', '--count', '1', '--queue', Defaults.taskQueueName, '--url', u.toString()]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /refused the credentials \(ACCESS_REFUSED\): check the user name and password/,
    );
    expect(run.stderr).toContain('***');
    expect(run.stderr).not.toContain(`${password}-wrong`);
    expectNoPassword(run.stdout, run.stderr);
  });

  test('an unreachable broker (connection refused): a clear error, exit 1', async () => {
    const port = await freePort();
    const run = await cli(['seed', '--count', '1', '--url', `amqp://agent:s3cret-pw@127.0.0.1:${port}/`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`cannot reach the broker at amqp://agent:\\*\\*\\*@127.0.0.1:${port}/: connection refused`),
    );
    expect(run.stderr).not.toContain('s3cret-pw');
  });

  test('a progress bar is drawn on a terminal only', async () => {
    const queue = await workerQueue();
    const tty = await cli(['seed', '--count', '3', '--queue', queue, '--url', url], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/seeding cli-seed-\S+ \[[^\]]*\] 3\/3 confirmed/);
    const pipe = await cli(['seed', '--count', '3', '--queue', queue, '--url', url]);
    expect(pipe.stderr).toBe('');
    const off = await cli(['seed', '--count', '3', '--queue', queue, '--url', url, '--no-progress'], {
      tty: true,
    });
    expect(off.stderr).toBe('');
    expect(await drain(queue)).toHaveLength(9);
  });
});

describe('seed flags (no broker needed)', () => {
  test.each([
    [['--count', 'ten', '--url', 'amqp://localhost'], /--count must be a whole number >= 1, got "ten"/],
    [['--count', '0', '--url', 'amqp://localhost'], /--count must be a whole number >= 1/],
    [['--url', 'amqp://localhost'], /pass --count N .* or --file tasks.jsonl/],
    [['--count', '1', '--file', 'x.jsonl', '--url', 'amqp://localhost'], /either --count or --file/],
    [
      ['--file', '/nonexistent/tasks.jsonl', '--url', 'amqp://localhost'],
      /cannot read --file \/nonexistent\/tasks.jsonl: ENOENT/,
    ],
    [
      ['--count', '1', '--url', 'http://user:hunter2@localhost:15672/'],
      /--url uses the scheme "http:\/\/" \(http:\/\/user:\*\*\*@localhost:15672\/\)\. Fix: use amqp:\/\/ or amqps:\/\//,
    ],
    [
      ['--count', '1', '--url', 'not a url :hunter2'],
      /--url is not a URL \(not shown: it may hold a password\)/,
    ],
    [['--count', '1', '--url', 'amqp://x', '--url-env', 'Y'], /either --url or --url-env/],
    [['--count', '1'], /no broker URL: pass --url .* or set TASK_QUEUE_URL/],
  ])('seed %j exits 2 with a usage error', async (args, message) => {
    const run = await cli(['seed', ...args], { env: {} });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toContain('hunter2');
  });

  test('an unknown option exits 2', async () => {
    const run = await cli(['seed', '--count', '1', '--rate', '5']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown option '--rate'/);
  });
});

/**
 * Token auth (`amqp://TOKEN@host`) and passwords with "/", "@" and "%": whatever fails, the credential
 * shows up in no output, in no encoding. In-process (cheap), so each property runs a few generated
 * credentials; verify.test.ts runs the bin.
 */
describe('broker credentials never reach the output', () => {
  type Kind = 'token' | 'password';
  type Via = '--url' | 'TASK_QUEUE_URL' | '--url-env';
  const kinds: Kind[] = ['token', 'password'];
  const vias: Via[] = ['--url', 'TASK_QUEUE_URL', '--url-env'];
  const cases = kinds.flatMap((kind) => vias.map((via) => [kind, via] as const));
  const secrets = (kind: Kind) => (kind === 'token' ? tokens : passwords);
  const RUNS = { numRuns: 8 };

  function seedWith(via: Via, brokerUrlText: string, args: string[] = ['--count', '1']) {
    if (via === '--url') {
      return cli(['seed', ...args, '--url', brokerUrlText], { env: {} });
    }
    if (via === '--url-env') {
      return cli(['seed', ...args, '--url-env', 'MY_BROKER'], { env: { MY_BROKER: brokerUrlText } });
    }
    return cli(['seed', ...args], { env: { TASK_QUEUE_URL: brokerUrlText } });
  }

  test.each(cases)('%s via %s: a refused connection', async (kind, via) => {
    const port = await freePort();
    await fc.assert(
      fc.asyncProperty(secrets(kind), async (secret) => {
        const run = await seedWith(via, brokerUrlWith(kind, secret, `127.0.0.1:${port}`));
        expect(run.code).toBe(1);
        const shown = kind === 'token' ? '\\*\\*\\*' : 'agent:\\*\\*\\*';
        expect(run.stderr).toMatch(
          new RegExp(
            `cannot reach the broker at amqp://${shown}@127\\.0\\.0\\.1:${port}/: connection refused`,
          ),
        );
        expectNoSecret([run.stdout, run.stderr], [secret]);
      }),
      RUNS,
    );
  });

  test.each(cases)(
    '%s via %s: credentials the real broker refuses, and TLS it does not speak',
    async (kind, via) => {
      const hostPort = new URL(url).host;
      await fc.assert(
        fc.asyncProperty(secrets(kind), async (secret) => {
          const run = await seedWith(via, brokerUrlWith(kind, secret, hostPort));
          expect(run.code).toBe(1);
          expect(run.stderr).toMatch(/refused the credentials \(ACCESS_REFUSED\)/);
          // amqps:// to the plain port: the TLS library's own message, passed on as it is (redacted).
          const tls = await seedWith(via, brokerUrlWith(kind, secret, hostPort).replace('amqp:', 'amqps:'));
          expect(tls.code).toBe(1);
          expect(tls.stderr).toMatch(/the broker at amqps:\/\/(agent:)?\*\*\*@127\.0\.0\.1:\d+\/: \S/);
          expectNoSecret([run.stdout, run.stderr, tls.stdout, tls.stderr], [secret]);
          expectNoPassword(run.stdout, run.stderr);
        }),
        RUNS,
      );
    },
  );

  test.each(cases)('%s via %s: malformed URLs are usage errors that do not show them', async (kind, via) => {
    await fc.assert(
      fc.asyncProperty(secrets(kind), async (secret) => {
        const encoded = encodeURIComponent(secret);
        const userinfo = kind === 'token' ? encoded : `agent:${encoded}`;
        const malformed: Array<[string, RegExp]> = [
          // no "//": the parser sees an opaque path and no userinfo at all
          [`amqp:${userinfo}@127.0.0.1:5672/`, /has no host \(not shown: it may hold a password\)/],
          [`amqp://${userinfo}@127.0.0.1:56x72/`, /is not a URL \(not shown: it may hold a password\)/],
          [`amqp://${userinfo}@/vhost`, /is not a URL/],
          [
            `http://${userinfo}@127.0.0.1:5672/`,
            /uses the scheme "http:\/\/" \(http:\/\/(agent:)?\*\*\*@127/,
          ],
          // typed without percent-encoding: "/" ends the host early (port 4321), the rest is a "vhost"
          [`amqp://agent:4321/${secret}@127.0.0.1:5672/`, /has an "@" after the host \(not shown/],
        ];
        for (const [text, message] of malformed) {
          const run = await seedWith(via, text);
          expect(run.code).toBe(2);
          expect(run.stderr).toMatch(message);
          expectNoSecret([run.stdout, run.stderr], [secret]);
        }
      }),
      RUNS,
    );
  });

  test('a mistyped option repeating the URL does not show it; help keeps its example', async () => {
    const secret = fc.sample(tokens, 1)[0]!;
    const typo = await cli(['seed', '--count', '1', `--uri=amqp://${encodeURIComponent(secret)}@127.0.0.1/`]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option '--uri=amqp:\/\/\*\*\*@127\.0\.0\.1\/'/);
    expectNoSecret([typo.stdout, typo.stderr], [secret]);
    // Help keeps its example URL: nothing is redacted before a credential was read.
    const help = await cli(['seed', '--help']);
    expect(help.stdout).toContain('amqp://user:password@host:5672/vhost');
  });
});
