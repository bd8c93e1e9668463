import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Metrics, taskQueueArguments } from '@agent-fleet/contract';
import * as amqp from 'amqplib';
import * as fc from 'fast-check';
import { freePort } from '../../testkit/ports';
import { brokerForTestFile, type FileBroker } from '../../testkit/rabbitmq';
import { Secrets } from '../src/io';
import { parseCompletedCounter } from '../src/verify';
import {
  completedMetrics,
  emptyState,
  FAKE_TOKEN,
  type FakeApiServer,
  jobAndPod,
  kubeconfigFor,
  scaledJob,
  selfSignedCert,
  startFakeApiServer,
  type Tls,
} from './support/fake-kube';
import { cli } from './support/io';
import { brokerUrlWith, expectNoSecret, passwords, tokens } from './support/secrets';

/**
 * `verify` against a fake API server (support/fake-kube.ts) and a real RabbitMQ. The CLI runs as the
 * compiled bin in a child process: @kubernetes/client-node 1.4 is an ES module, which Jest's CommonJS
 * runtime cannot load (`npm test` builds dist/ before jest).
 */
jest.setTimeout(120_000);

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'cli', 'dist', 'main.js');
const NS = 'agents';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-fleet-verify-'));

let broker: FileBroker | undefined;
let url: string;
let password: string;
let connection: amqp.ChannelModel;
let seq = 0;
let tls: Tls;

beforeAll(async () => {
  if (!existsSync(BIN)) {
    throw new Error(`${BIN} is missing: run \`npx tsc -b\` (npm test does) before jest`);
  }
  broker = await brokerForTestFile();
  ({ url, password } = broker);
  connection = await amqp.connect(url);
  tls = selfSignedCert();
});

afterAll(async () => {
  await connection?.close();
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface BinRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled bin without a kubeconfig of the machine's (HOME is an empty directory). */
function runBin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<BinRun> {
  const home = mkdtempSync(path.join(tmp, 'home-'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: home, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function workerQueue(): Promise<string> {
  const name = `cli-verify-${process.pid}-${++seq}`;
  const channel = await connection.createChannel();
  await channel.assertQueue(name, { durable: true, arguments: taskQueueArguments(name) });
  await channel.close();
  return name;
}

function kubeconfigFile(
  server: string,
  token?: string,
  options: { insecureSkipTlsVerify?: boolean; caCert?: string } = {},
): string {
  const file = path.join(tmp, `kubeconfig-${++seq}`);
  writeFileSync(file, kubeconfigFor(server, options.caCert ?? tls.cert, token, options));
  return file;
}

/** `https://127.0.0.1:port` with a userinfo, as a kubeconfig may carry it. */
function withUserinfo(server: string, userinfo: string): string {
  return server.replace('https://', `https://${userinfo}@`);
}

async function queueDepth(queue: string): Promise<number> {
  const channel = await connection.createChannel();
  const { messageCount } = await channel.checkQueue(queue);
  await channel.close();
  return messageCount;
}

/**
 * A stand-in for KEDA plus one agent: on the first task it "creates" a Job and its Running pod, then
 * acks every task and counts it in the pod's completed counter (as `failed` when `fail` is set).
 */
async function fakeAgent(api: FakeApiServer, queue: string, options: { fail?: boolean } = {}) {
  const channel = await connection.createChannel();
  await channel.prefetch(1);
  let succeeded = 0;
  let failed = 0;
  const { job, pod } = jobAndPod('agent-workers', NS, `agent-workers-${seq}`);
  const podName = (pod.metadata as { name: string }).name;
  const { consumerTag } = await channel.consume(queue, (message) => {
    if (!message) {
      return;
    }
    if (!api.state.jobs.includes(job)) {
      api.state.jobs.push(job);
      api.state.pods.push(pod);
    }
    JSON.parse(message.content.toString()); // a task in the contract shape
    if (options.fail) {
      failed++;
    } else {
      succeeded++;
    }
    api.state.metrics.set(podName, completedMetrics(Metrics.tasksCompleted, succeeded, failed));
    channel.ack(message);
  });
  return {
    stop: async () => {
      await channel.cancel(consumerTag);
      await channel.close();
    },
  };
}

/** A fleet: namespace, KEDA, the ScaledJob, and an older Job whose pod already counted 7 tasks. */
function fleetState(queue: string) {
  const state = emptyState();
  state.namespaces.add(NS);
  state.scaledJobs.set(NS, [scaledJob('agent-workers', NS, queue)]);
  const old = jobAndPod('agent-workers', NS, 'agent-workers-old');
  state.jobs.push(old.job);
  state.pods.push(old.pod);
  state.metrics.set('agent-workers-old-pod', completedMetrics(Metrics.tasksCompleted, 7, 0));
  return state;
}

describe('verify against a fake API server and a real RabbitMQ', () => {
  test('seeds, watches Jobs and pods, reads the counters through the pod proxy: PASS', async () => {
    const queue = await workerQueue();
    const api = await startFakeApiServer(tls, fleetState(queue));
    const agent = await fakeAgent(api, queue);
    try {
      const run = await runBin(
        [
          'verify',
          '-n',
          NS,
          '--count',
          '10',
          '--kubeconfig',
          kubeconfigFile(api.url),
          '--interval',
          '200ms',
          '--timeout',
          '60s',
        ],
        { TASK_QUEUE_URL: url },
      );
      expect(run.stderr).toMatch(
        new RegExp(`verify: ScaledJob agents/agent-workers, queue "${queue}", 10 task\\(s\\)`),
      );
      expect(run.stdout).toMatch(/verify agents\/agent-workers: PASS/);
      // The older pod's 7 are the baseline: only this run's 10 count.
      expect(run.stdout).toMatch(
        /ok {3}agent_tasks_completed_total\{status="succeeded"\} rose by 10 across 2 agent pod\(s\)/,
      );
      expect(run.stdout).toMatch(new RegExp(`ok {3}queue "${queue}" has 0 ready message\\(s\\) left`));
      expect(run.stdout).toMatch(/ok {3}1 Job\(s\) created by ScaledJob agent-workers/);
      expect(run.code).toBe(0);
      // It used the API paths the docs list, including the pod proxy with the named metrics port.
      expect(api.requests).toEqual(
        expect.arrayContaining([
          `/api/v1/namespaces/${NS}`,
          `/apis/keda.sh/v1alpha1/namespaces/${NS}/scaledjobs`,
          `/apis/batch/v1/namespaces/${NS}/jobs`,
          `/api/v1/namespaces/${NS}/pods`,
          `/api/v1/namespaces/${NS}/pods/agent-workers-old-pod:8080/proxy/metrics`,
        ]),
      );
      expect(api.requests.some((p) => /\/pods\/agent-workers-\d+-pod:8080\/proxy\/metrics$/.test(p))).toBe(
        true,
      );
      expect(run.stdout + run.stderr).not.toContain(password);
    } finally {
      await agent.stop();
      await api.close();
    }
  });

  test('tasks the agents fail make verify FAIL with exit 1', async () => {
    const queue = await workerQueue();
    const api = await startFakeApiServer(tls, fleetState(queue));
    const agent = await fakeAgent(api, queue, { fail: true });
    try {
      const run = await runBin([
        'verify',
        '-n',
        NS,
        '--count',
        '3',
        '--kubeconfig',
        kubeconfigFile(api.url),
        '--interval',
        '200ms',
        '--url',
        url,
      ]);
      expect(run.stdout).toMatch(/verify agents\/agent-workers: FAIL/);
      expect(run.stdout).toMatch(/FAIL agent_tasks_completed_total\{status="succeeded"\} rose by 0/);
      expect(run.stdout).toMatch(/FAIL agent_tasks_completed_total\{status="failed"\} rose by 3/);
      expect(run.code).toBe(1);
    } finally {
      await agent.stop();
      await api.close();
    }
  });

  test('nobody consumes: FAIL after --timeout, with the tasks still in the queue', async () => {
    const queue = await workerQueue();
    const api = await startFakeApiServer(tls, fleetState(queue));
    try {
      const run = await runBin([
        'verify',
        '-n',
        NS,
        '--count',
        '4',
        '--kubeconfig',
        kubeconfigFile(api.url),
        '--interval',
        '200ms',
        '--timeout',
        '1s',
        '--url',
        url,
      ]);
      expect(run.stdout).toMatch(/FAIL \(timed out after 1 s\)/);
      expect(run.stdout).toMatch(new RegExp(`FAIL queue "${queue}" has 4 ready message\\(s\\) left`));
      expect(run.code).toBe(1);
    } finally {
      await api.close();
    }
  });
});

describe('verify preflight errors (nothing is published)', () => {
  let api: FakeApiServer;
  let queue: string;
  beforeAll(async () => {
    queue = await workerQueue();
    api = await startFakeApiServer(tls, emptyState());
  });
  afterAll(() => api.close());

  async function expectNothingPublished() {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    await channel.close();
    expect(messageCount).toBe(0);
  }

  test('no kubeconfig anywhere', async () => {
    const run = await runBin(['verify', '-n', NS, '--url', url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config/,
    );
    const flag = await runBin(['verify', '-n', NS, '--url', url, '--kubeconfig', path.join(tmp, 'nope')]);
    expect(flag.stderr).toMatch(/no kubeconfig: --kubeconfig .*nope does not exist/);
    const env = await runBin(['verify', '-n', NS, '--url', url], { KUBECONFIG: path.join(tmp, 'nope') });
    expect(env.stderr).toMatch(/none of the files in \$KUBECONFIG exists/);
  });

  test('the namespace does not exist', async () => {
    api.state.namespaces.clear();
    const run = await runBin(['verify', '-n', 'missing-ns', '--url', url], {
      KUBECONFIG: kubeconfigFile(api.url),
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /namespace "missing-ns" does not exist in the cluster at https:\/\/127\.0\.0\.1:\d+; check -n/,
    );
    await expectNothingPublished();
  });

  test('a user who may not read namespaces: the ScaledJob list decides', async () => {
    api.state.namespaceReadForbidden = true;
    const run = await runBin([
      'verify',
      '-n',
      'other-ns',
      '--url',
      url,
      '--kubeconfig',
      kubeconfigFile(api.url),
    ]);
    api.state.namespaceReadForbidden = false;
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /no ScaledJob in namespace "other-ns": .*or check -n \(reading the namespace was forbidden/,
    );
    await expectNothingPublished();
  });

  test('KEDA CRDs are absent', async () => {
    api.state.namespaces.add(NS);
    api.state.kedaInstalled = false;
    const run = await runBin(['verify', '-n', NS, '--url', url, '--kubeconfig', kubeconfigFile(api.url)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /KEDA is not installed: the API server has no scaledjobs\.keda\.sh\/v1alpha1 resource \(CRDs absent\)/,
    );
    await expectNothingPublished();
  });

  test('no ScaledJob in the namespace; several need --name', async () => {
    api.state.namespaces.add(NS);
    api.state.kedaInstalled = true;
    api.state.scaledJobs.set(NS, []);
    const none = await runBin(['verify', '-n', NS, '--url', url, '--kubeconfig', kubeconfigFile(api.url)]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no ScaledJob in namespace "agents": deploy the fleet's manifests first/);
    api.state.scaledJobs.set(NS, [scaledJob('a', NS, queue), scaledJob('b', NS, queue)]);
    const two = await runBin(['verify', '-n', NS, '--url', url, '--kubeconfig', kubeconfigFile(api.url)]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/has 2 ScaledJobs \(a, b\); pick one with --name/);
    const wrong = await runBin([
      'verify',
      '-n',
      NS,
      '--name',
      'c',
      '--url',
      url,
      '--kubeconfig',
      kubeconfigFile(api.url),
    ]);
    expect(wrong.stderr).toMatch(/no ScaledJob named "c" in namespace "agents"; found: a, b/);
    await expectNothingPublished();
  });

  test('wrong credentials for the API server, and an unreachable one', async () => {
    api.state.namespaces.add(NS);
    const denied = await runBin([
      'verify',
      '-n',
      NS,
      '--url',
      url,
      '--kubeconfig',
      kubeconfigFile(api.url, 'bad-token'),
    ]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/rejected the credentials \(401\)/);
    const port = await freePort();
    const down = await runBin([
      'verify',
      '-n',
      NS,
      '--url',
      url,
      '--kubeconfig',
      kubeconfigFile(`https://127.0.0.1:${port}`),
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(new RegExp(`cannot reach the API server at https://127.0.0.1:${port}`));
  });

  test('an unreachable broker is reported after the cluster checks, before anything is watched', async () => {
    api.state.namespaces.add(NS);
    api.state.kedaInstalled = true;
    api.state.scaledJobs.set(NS, [scaledJob('agent-workers', NS, queue)]);
    const port = await freePort();
    const run = await runBin([
      'verify',
      '-n',
      NS,
      '--url',
      `amqp://agent:pw-secret@127.0.0.1:${port}/`,
      '--kubeconfig',
      kubeconfigFile(api.url),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /cannot reach the broker at amqp:\/\/agent:\*\*\*@127\.0\.0\.1:\d+\/: connection refused/,
    );
    expect(run.stderr).not.toContain('pw-secret');
  });
});

describe('verify flags and parsing (in-process)', () => {
  test.each([
    [['--count', '10'], /required option '-n, --namespace <namespace>' not specified/],
    [['-n', NS, '--count', 'x', '--url', 'amqp://h'], /--count must be a whole number >= 1, got "x"/],
    [['-n', NS, '--timeout', 'forever', '--url', 'amqp://h'], /--timeout must be a duration/],
    [
      ['-n', NS, '--url', 'ftp://h'],
      /uses the scheme "ftp:\/\/" \(ftp:\/\/h\)\. Fix: use amqp:\/\/ or amqps:\/\//,
    ],
    [['-n', NS], /no broker URL/],
    [['-n', NS, '--url', 'amqp://h', '--watch'], /unknown option '--watch'/],
  ])('verify %j exits 2', async (args, message) => {
    const run = await cli(['verify', ...args], { env: {} });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  test('known credentials are hidden longest first, so a shorter one inside a longer one leaves nothing', () => {
    const secrets = new Secrets();
    secrets.add('abc123', 'zz-abc123-zz', undefined, '');
    expect(secrets.known).toEqual(['zz-abc123-zz', 'abc123']);
    expect(secrets.redact('token zz-abc123-zz, password abc123, url https://u:zz-abc123-zz@h')).toBe(
      'token ***, password ***, url https://u:***@h',
    );
  });

  test('the counter parser sums series by status and ignores other metrics', () => {
    const text = [
      `# TYPE ${Metrics.tasksCompleted} counter`,
      `${Metrics.tasksCompleted}{status="succeeded",model="x"} 4`,
      `${Metrics.tasksCompleted}{model="y",status="succeeded"} 2`,
      `${Metrics.tasksCompleted}{status="failed"} 1`,
      `${Metrics.tasksCompleted}_created{status="failed"} 1700000000`,
      'agent_tasks_in_flight 1',
    ].join('\n');
    expect(parseCompletedCounter(text)).toEqual({ succeeded: 6, failed: 1 });
    expect(parseCompletedCounter('agent_tasks_in_flight 1\n')).toBeUndefined();
  });
});

describe("broker credentials never reach verify's output (the bin)", () => {
  type Kind = 'token' | 'password';
  type Via = '--url' | 'TASK_QUEUE_URL';
  const cases = (['token', 'password'] as Kind[]).flatMap((kind) =>
    (['--url', 'TASK_QUEUE_URL'] as Via[]).map((via) => [kind, via] as const),
  );
  const secrets = (kind: Kind) => (kind === 'token' ? tokens : passwords);
  let api: FakeApiServer;
  let queue: string;
  beforeAll(async () => {
    queue = await workerQueue();
    api = await startFakeApiServer(tls, fleetState(queue));
  });
  afterAll(() => api.close());

  function verifyWith(via: Via, brokerUrl: string) {
    const args = [
      'verify',
      '-n',
      NS,
      '--count',
      '1',
      '--kubeconfig',
      kubeconfigFile(api.url),
      '--timeout',
      '5s',
    ];
    return via === '--url'
      ? runBin([...args, '--url', brokerUrl])
      : runBin(args, { TASK_QUEUE_URL: brokerUrl });
  }

  // Each run spawns the bin twice: a few generated credentials only.
  test.each(cases)(
    '%s via %s: a refused connection, and credentials the broker refuses',
    async (kind, via) => {
      const port = await freePort();
      const broker = new URL(url).host;
      await fc.assert(
        fc.asyncProperty(secrets(kind), async (secret) => {
          const refused = await verifyWith(via, brokerUrlWith(kind, secret, `127.0.0.1:${port}`));
          expect(refused.code).toBe(1);
          expect(refused.stderr).toMatch(
            kind === 'token'
              ? /cannot reach the broker at amqp:\/\/\*\*\*@127\.0\.0\.1:\d+\/: connection refused/
              : /cannot reach the broker at amqp:\/\/agent:\*\*\*@127\.0\.0\.1:\d+\/: connection refused/,
          );
          const denied = await verifyWith(via, brokerUrlWith(kind, secret, broker));
          expect(denied.code).toBe(1);
          expect(denied.stderr).toMatch(/refused the credentials \(ACCESS_REFUSED\)/);
          expectNoSecret([refused.stdout, refused.stderr, denied.stdout, denied.stderr], [secret]);
        }),
        { numRuns: 2, endOnFailure: true },
      );
      expect(await queueDepth(queue)).toBe(0);
    },
  );

  test.each(cases)(
    '%s via %s: malformed URLs are usage errors that do not show them (in-process)',
    async (kind, via) => {
      await fc.assert(
        fc.asyncProperty(secrets(kind), async (secret) => {
          const userinfo =
            kind === 'token' ? encodeURIComponent(secret) : `agent:${encodeURIComponent(secret)}`;
          for (const text of [
            `amqp:${userinfo}@127.0.0.1:5672/`,
            `amqp://${userinfo}@127.0.0.1:56x72/`,
            `https://${userinfo}@127.0.0.1/`,
            `amqp://agent:4321/${secret}@127.0.0.1:5672/`,
          ]) {
            const run =
              via === '--url'
                ? await cli(['verify', '-n', NS, '--url', text], { env: {} })
                : await cli(['verify', '-n', NS], { env: { TASK_QUEUE_URL: text } });
            expect(run.code).toBe(2);
            expect(run.stderr).toMatch(/not shown|\*\*\*/);
            expectNoSecret([run.stdout, run.stderr], [secret]);
          }
        }),
        { numRuns: 8 },
      );
    },
  );
});

describe("kubeconfig credentials never reach verify's output", () => {
  test('a server URL with user:password@ and a bearer token: PASS, and neither is printed', async () => {
    await fc.assert(
      fc.asyncProperty(passwords, tokens, async (serverPassword, token) => {
        const queue = await workerQueue();
        const api = await startFakeApiServer(tls, fleetState(queue), { token });
        const agent = await fakeAgent(api, queue);
        try {
          const server = withUserinfo(api.url, `admin:${encodeURIComponent(serverPassword)}`);
          const run = await runBin(
            [
              'verify',
              '-n',
              NS,
              '--count',
              '3',
              '--kubeconfig',
              kubeconfigFile(server, token),
              '--interval',
              '200ms',
            ],
            { TASK_QUEUE_URL: url },
          );
          expect(run.stdout).toMatch(/verify agents\/agent-workers: PASS/);
          expect(run.code).toBe(0);
          expect(run.stderr).toMatch(/API server https:\/\/admin:\*\*\*@127\.0\.0\.1:\d+/);
          expectNoSecret([run.stdout, run.stderr], [serverPassword, token, password]);
        } finally {
          await agent.stop();
          await api.close();
        }
      }),
      { numRuns: 1, endOnFailure: true },
    );
  });

  test('failures name the server without them: missing namespace, 401, unreachable, untrusted certificate, bad YAML', async () => {
    const otherCa = selfSignedCert();
    await fc.assert(
      fc.asyncProperty(passwords, tokens, tokens, async (serverPassword, token, wrongToken) => {
        const api = await startFakeApiServer(tls, emptyState(), { token });
        const down = `https://127.0.0.1:${await freePort()}`;
        const userinfo = `admin:${encodeURIComponent(serverPassword)}`;
        const badYaml = path.join(tmp, `kubeconfig-bad-${++seq}`);
        writeFileSync(
          badYaml,
          [
            'apiVersion: v1',
            'clusters:',
            `  - name: fake\n    cluster:\n      server: ${withUserinfo(api.url, userinfo)}`,
            'users:',
            `  - name: tester\n    user:\n      token: ${token}\n      : : not yaml`,
            '',
          ].join('\n'),
        );
        try {
          const runs: Array<[string, RegExp]> = [
            [
              kubeconfigFile(withUserinfo(api.url, userinfo), token),
              /namespace "agents" does not exist in the cluster at https:\/\/admin:\*\*\*@127\.0\.0\.1:\d+; check -n/,
            ],
            [
              kubeconfigFile(withUserinfo(api.url, userinfo), wrongToken),
              /at https:\/\/admin:\*\*\*@127\.0\.0\.1:\d+ rejected the credentials \(401\)/,
            ],
            [
              kubeconfigFile(withUserinfo(down, userinfo), token),
              /cannot reach the API server at https:\/\/admin:\*\*\*@127\.0\.0\.1:\d+ \(ECONNREFUSED\): request to https:\/\/admin:\*\*\*@127/,
            ],
            // Username-only userinfo, as token auth puts it.
            [
              kubeconfigFile(withUserinfo(down, encodeURIComponent(token)), token),
              /cannot reach the API server at https:\/\/\*\*\*@127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
            ],
            [
              kubeconfigFile(withUserinfo(api.url, userinfo), token, { caCert: otherCa.cert }),
              /API server at https:\/\/admin:\*\*\*@127\.0\.0\.1:\d+.*certificate/,
            ],
            [badYaml, /cannot load the kubeconfig .*: not valid YAML: .*\(line 10, column \d+\)/],
          ];
          for (const [kubeconfig, message] of runs) {
            const run = await runBin(['verify', '-n', NS, '--url', url, '--kubeconfig', kubeconfig]);
            expect(run.code).toBe(1);
            expect(run.stderr).toMatch(message);
            expectNoSecret([run.stdout, run.stderr], [serverPassword, token, wrongToken, password]);
          }
        } finally {
          await api.close();
        }
      }),
      { numRuns: 1, endOnFailure: true },
    );
  });
});

describe('an API server whose certificate is not verified', () => {
  test('insecure-skip-tls-verify: a warning naming the cluster and the fix, then a refusal (exit 2) before any request', async () => {
    const queue = await workerQueue();
    const api = await startFakeApiServer(tls, fleetState(queue));
    try {
      const server = withUserinfo(api.url, 'admin:s3cret%2Fpw');
      const run = await runBin([
        'verify',
        '-n',
        NS,
        '--url',
        url,
        '--kubeconfig',
        kubeconfigFile(server, undefined, { insecureSkipTlsVerify: true }),
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        /agent-fleet: warning: TLS verification is off for the API server of cluster "fake" \(context "fake"\) at https:\/\/admin:\*\*\*@127\.0\.0\.1:\d+: the kubeconfig sets insecure-skip-tls-verify: true for cluster "fake"/,
      );
      expect(run.stderr).toMatch(
        /verify would send the bearer token of user "tester" to whatever answers at that address: anyone in the middle of the connection could read it/,
      );
      expect(run.stderr).toMatch(
        /Fix: set certificate-authority .* or certificate-authority-data .* and remove insecure-skip-tls-verify/,
      );
      expect(run.stderr).toMatch(
        /not contacting the API server: .* pass --allow-insecure-tls to send the credentials anyway/,
      );
      expect(run.stdout).toBe('');
      expectNoSecret([run.stderr], ['s3cret/pw', FAKE_TOKEN]);
      // Nothing was sent to the server, and nothing published.
      expect(api.requests).toEqual([]);
      expect(await queueDepth(queue)).toBe(0);
    } finally {
      await api.close();
    }
  });

  test('with --allow-insecure-tls the warning comes first, then the run proceeds: PASS', async () => {
    const queue = await workerQueue();
    const api = await startFakeApiServer(tls, fleetState(queue));
    const agent = await fakeAgent(api, queue);
    try {
      const run = await runBin(
        [
          'verify',
          '-n',
          NS,
          '--count',
          '3',
          '--kubeconfig',
          kubeconfigFile(api.url, undefined, { insecureSkipTlsVerify: true }),
          '--interval',
          '200ms',
          '--allow-insecure-tls',
        ],
        { TASK_QUEUE_URL: url },
      );
      expect(run.stdout).toMatch(/verify agents\/agent-workers: PASS/);
      expect(run.code).toBe(0);
      const warning = run.stderr.indexOf('warning: TLS verification is off');
      expect(warning).toBeGreaterThanOrEqual(0);
      expect(warning).toBeLessThan(run.stderr.indexOf('verify: ScaledJob agents/agent-workers'));
      expect(api.requests).toContain(`/api/v1/namespaces/${NS}`);
      expectNoSecret([run.stdout, run.stderr], [FAKE_TOKEN, password]);
    } finally {
      await agent.stop();
      await api.close();
    }
  });

  test('NODE_TLS_REJECT_UNAUTHORIZED=0 turns verification off too: the same refusal', async () => {
    const api = await startFakeApiServer(tls, emptyState());
    try {
      const run = await runBin(['verify', '-n', NS, '--url', url, '--kubeconfig', kubeconfigFile(api.url)], {
        NODE_TLS_REJECT_UNAUTHORIZED: '0',
      });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        /warning: TLS verification is off .*NODE_TLS_REJECT_UNAUTHORIZED=0 .* Fix: unset NODE_TLS_REJECT_UNAUTHORIZED/,
      );
      expect(run.stderr).toMatch(/--allow-insecure-tls/);
      expect(api.requests).toEqual([]);
    } finally {
      await api.close();
    }
  });
});
