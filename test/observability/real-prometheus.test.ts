/**
 * The alerts and the dashboard against a real Prometheus (Debian's `prometheus` package) scraping
 * real `agent-worker` processes on a real RabbitMQ, through the scrape job the Prometheus Operator
 * generates for the synthesized PodMonitor (file-based discovery standing in for Kubernetes'),
 * with the synthesized rules loaded. kube-state-metrics' and KEDA's series come from a small
 * exporter in the test (support/fleet.ts), with the label sets of those projects' sources.
 *
 * Time runs 60 times faster for the rules: every duration in every rule and in the PodMonitor (a
 * minute) becomes a second, the same transformation everywhere. The worker's wait for a last scrape
 * is not scaled: Prometheus's discovery of a new target takes real seconds.
 *
 * One workload per situation, all at once on one Prometheus: each alert must fire in its situation
 * and in no other, every dashboard query must return data while its situation exists, and for every
 * workload Prometheus must have counted exactly the results and dead letters the broker holds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeadLetterReasons,
  deadLetterExchangeFor,
  deadLetterQueueFor,
  Env,
  Headers,
  Metrics,
  type ResultMessage,
  scrapeWaitSecondsFor,
  taskQueueArguments,
} from '@agent-fleet/contract';
import * as amqp from 'amqplib';
import { Chart, Duration, Testing } from 'cdk8s';
import { stringify } from 'yaml';
import {
  AgentAlert,
  AgentJob,
  AgentObservability,
  AgentScaledJob,
  type AgentScaledJobProps,
  type IAgentWorkload,
  QueueConnection,
  ScaledJobTrigger,
} from '../../lib';
import { WORKLOAD_TARGET_LABEL } from '../../lib/internal/promql';
import { counterIncrease } from '../../lib/observability/counter-increase';
import {
  parsePromDuration,
  shortenDurations,
  startPrometheus,
  type TestPrometheus,
} from '../../testkit/prometheus';
import { brokerForTestFile, type FileBroker } from '../../testkit/rabbitmq';
import { waitFor } from '../../testkit/wait';
import { type Manifest, only, synthValid } from '../support/manifests';
import { Fleet, type Workload } from './support/fleet';
import { exporterScrapeConfig, podMonitorScrapeConfig } from './support/scrape-config';

const ROOT = path.join(__dirname, '..', '..');
const NS = 'agents';
/** Rule time to test time: a minute of the rules is a second here. */
const SCALE = 60;
const shorten = (text: string) => shortenDurations(text, SCALE);
/** The worker tests' handler: what a task does is chosen by its input. */
const HANDLER = path.join(ROOT, 'worker', 'test', 'fixtures', 'handler.js');
const WORK = { mode: 'echo', value: 1 };
const PERMANENT = { mode: 'permanent', what: 'poison' };

/** The alerts each situation must fire (alert, or alert{label}); every other alert stays silent. */
const EXPECTED: Record<string, string[]> = {
  normal: [],
  poison: [
    AgentAlert.TASK_FAILURE_RATIO,
    `${AgentAlert.TASKS_DEAD_LETTERED}{${DeadLetterReasons.permanentError}}`,
    `${AgentAlert.TASKS_DEAD_LETTERED}{${DeadLetterReasons.maxAttempts}}`,
  ],
  badjson: [
    `${AgentAlert.TASKS_DEAD_LETTERED}{${DeadLetterReasons.invalidJson}}`,
    `${AgentAlert.TASKS_DEAD_LETTERED}{${DeadLetterReasons.invalidTask}}`,
  ],
  outage: [`${AgentAlert.CIRCUIT_OPEN}{llm}`],
  stopped: [AgentAlert.NO_TASK_COMPLETED],
  batch: [],
  batchfail: [
    AgentAlert.TASK_FAILURE_RATIO,
    `${AgentAlert.TASKS_DEAD_LETTERED}{${DeadLetterReasons.permanentError}}`,
  ],
  oom: [AgentAlert.OOM_KILLED],
  backlog: [AgentAlert.BACKLOG_AT_MAX],
  tokens: [AgentAlert.TOKEN_BURN],
};

/** How an alert of ALERTS is named in EXPECTED. */
function alertKey(labels: Record<string, string>): string {
  const detail = labels.reason ?? labels.dependency;
  return detail === undefined ? labels.alertname : `${labels.alertname}{${detail}}`;
}

let broker: FileBroker;
let connection: amqp.ChannelModel;
let channel: amqp.ConfirmChannel;
let prometheus: TestPrometheus;
let fleet: Fleet;
let exporter: http.Server;
let gateway: http.Server;
let gatewayDown = false;
const dirs: string[] = [];

const suffix = Math.random().toString(36).slice(2, 8);
const queueOf = (name: string) => `prom.${name}.${suffix}`;

beforeAll(async () => {
  // The tests run the real `agent-worker` bin.
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'worker'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  broker = await brokerForTestFile();
  connection = await amqp.connect(broker.url);
  channel = await connection.createConfirmChannel();
  gateway = http.createServer((_req, res) => {
    res.writeHead(gatewayDown ? 503 : 200, { 'content-type': 'application/json' });
    res.end(gatewayDown ? '{}' : '{"answer":42}');
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
}, 180_000);

afterAll(async () => {
  await fleet?.killAll();
  await prometheus?.stop();
  await new Promise((resolve) => exporter?.close(resolve) ?? resolve(undefined));
  await new Promise((resolve) => gateway?.close(resolve) ?? resolve(undefined));
  for (const name of Object.keys(EXPECTED)) {
    const q = queueOf(name);
    for (const queue of [q, `${q}.results`, deadLetterQueueFor(q)]) {
      await channel?.deleteQueue(queue).catch(() => undefined);
    }
  }
  await connection?.close().catch(() => undefined);
  await broker?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The fleet: one workload per situation, watched by one AgentObservability. */
function synthesizeFleet() {
  const chart = new Chart(Testing.app(), 'fleet', { namespace: NS });
  const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
  const common = (name: string) => ({
    image: 'registry.example.com/agent:1.0.0',
    queue,
    name,
    queueName: queueOf(name),
    resultQueueName: `${queueOf(name)}.results`,
  });
  const scaled = (name: string, value: number, extra: Partial<AgentScaledJobProps> = {}) =>
    new AgentScaledJob(chart, name, {
      ...common(name),
      triggers: [ScaledJobTrigger.rabbitmq({ value })],
      ...extra,
    });
  const fixed = (name: string, completions: number, parallelism: number, maxTasks?: number) =>
    new AgentJob(chart, name, { ...common(name), completions, parallelism, maxTasks });
  const agents: IAgentWorkload[] = [
    scaled('normal', 2),
    scaled('poison', 3),
    scaled('badjson', 2),
    // A pool of two agents that take tasks until the queue stays empty.
    fixed('outage', 2, 2, 0),
    scaled('stopped', 5),
    fixed('batch', 20, 2),
    fixed('batchfail', 6, 2),
    fixed('oom', 3, 1),
    scaled('backlog', 1, { maxReplicaCount: 1 }),
    scaled('tokens', 2, {
      llmCapacity: {
        gateway: { requestsPerMinute: 1000, tokensPerMinute: 200_000 },
        task: { requestsPerTask: 10, tokensPerTask: 20_000, taskDuration: Duration.minutes(2) },
      },
    }),
  ];
  const obs = new AgentObservability(chart, 'Observability', {
    agents,
    name: 'agent-fleet',
    scrapeInterval: Duration.minutes(1),
    // Longer than a fleet's start plus a task, as the prop asks: here a few seconds.
    alerts: { stallWindow: Duration.minutes(20) },
  });
  return { obs, manifests: synthValid(chart) };
}

/** AGENT_MAX_TASKS and AGENT_CONCURRENCY as the workload's pod template sets them. */
function podEnv(manifests: Manifest[], name: string): Record<string, string> {
  const object = manifests.find(
    (m) => (m.kind === 'Job' || m.kind === 'ScaledJob') && m.metadata.name === name,
  );
  const template = object.kind === 'Job' ? object.spec.template : object.spec.jobTargetRef.template;
  const env: { name: string; value?: string }[] = template.spec.containers[0].env;
  const pick = (n: string) => env.find((e) => e.name === n)?.value as string;
  return {
    [Env.AGENT_MAX_TASKS]: pick(Env.AGENT_MAX_TASKS),
    [Env.AGENT_CONCURRENCY]: pick(Env.AGENT_CONCURRENCY),
  };
}

async function declareQueues(taskQueue: string, resultQueue: string): Promise<void> {
  await channel.assertQueue(taskQueue, { durable: true, arguments: taskQueueArguments(taskQueue) });
  await channel.assertQueue(resultQueue, { durable: true });
  await channel.assertExchange(deadLetterExchangeFor(taskQueue), 'fanout', { durable: true });
  await channel.assertQueue(deadLetterQueueFor(taskQueue), {
    durable: true,
    arguments: { 'x-queue-type': 'quorum' },
  });
  await channel.bindQueue(deadLetterQueueFor(taskQueue), deadLetterExchangeFor(taskQueue), '');
}

async function publishRaw(w: Workload, body: string): Promise<void> {
  channel.sendToQueue(w.taskQueue, Buffer.from(body), { persistent: true });
  await channel.waitForConfirms();
}

let taskSeq = 0;
const publish = (w: Workload, input: Record<string, unknown>) =>
  publishRaw(w, JSON.stringify({ id: `${w.name}-${++taskSeq}`, input }));

/** Results and dead letters read from the broker so far, per workload. */
const results = new Map<string, ResultMessage[]>();
const deadLetters = new Map<string, string[]>();

async function drainResults(w: Workload): Promise<ResultMessage[]> {
  const seen = results.get(w.name) ?? [];
  results.set(w.name, seen);
  for (
    let m = await channel.get(w.resultQueue, { noAck: true });
    m;
    m = await channel.get(w.resultQueue, { noAck: true })
  ) {
    seen.push(JSON.parse(m.content.toString('utf8')) as ResultMessage);
  }
  return seen;
}

async function drainDeadLetters(w: Workload): Promise<string[]> {
  const seen = deadLetters.get(w.name) ?? [];
  deadLetters.set(w.name, seen);
  const dlq = deadLetterQueueFor(w.taskQueue);
  for (let m = await channel.get(dlq, { noAck: true }); m; m = await channel.get(dlq, { noAck: true })) {
    seen.push(String(m.properties.headers?.[Headers.deadLetterReason]));
  }
  return seen;
}

/** Alerts seen firing (by `<workload>/<alert key>`), with when they were first seen. */
const firedAt = new Map<string, number>();
let startedAt = 0;
const isFiring = (workload: string, key: string) => firedAt.has(`${workload}/${key}`);

async function untilFiring(
  workload: string,
  keys: string[],
  what: () => Promise<void> | void,
  timeoutMs = 90_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!keys.every((k) => isFiring(workload, k))) {
    if (Date.now() > deadline) {
      throw new Error(`${workload}: ${keys.filter((k) => !isFiring(workload, k)).join(', ')} never fired`);
    }
    await what();
  }
}

test('each alert fires in its situation and in no other; every dashboard query has data in its situation; Prometheus counts what the broker holds', async () => {
  const { obs, manifests } = synthesizeFleet();
  const pm = only(manifests, 'PodMonitor');
  const scrapeIntervalSeconds = parsePromDuration(shorten(pm.spec.podMetricsEndpoints[0].interval));
  expect(scrapeIntervalSeconds).toBe(1);
  const groups = only(manifests, 'PrometheusRule').spec.groups.map((g: Manifest) => ({
    name: g.name,
    rules: g.rules.map((r: Manifest) => ({
      ...r,
      expr: shorten(r.expr),
      ...(r.for ? { for: shorten(r.for) } : {}),
    })),
  }));

  const workDir = mkdtempSync(path.join(tmpdir(), 'agent-fleet-prom-test-'));
  dirs.push(workDir);
  const workloads: Workload[] = obs.ruleGroups.map((g) => {
    const name = g.name.replace('agent-fleet.', '');
    const taskQueue = queueOf(name);
    return {
      name,
      scaling: ['batch', 'batchfail', 'oom', 'outage'].includes(name) ? 'fixed' : 'queue-driven',
      taskQueue,
      resultQueue: `${taskQueue}.results`,
      env: {
        [Env.TASK_QUEUE_URL]: broker.url,
        [Env.TASK_QUEUE_NAME]: taskQueue,
        [Env.RESULT_QUEUE_NAME]: `${taskQueue}.results`,
        [Env.CHECKPOINT_DIR]: path.join(workDir, name),
        [Env.METRICS_PORT]: '0',
        [Env.AGENT_HANDLER]: HANDLER,
        [Env.AGENT_IDLE_EXIT_SECONDS]: '2',
        [Env.AGENT_SHUTDOWN_SECONDS]: '5',
        [Env.AGENT_RETRY_DELAY_SECONDS]: '0.2',
        [Env.AGENT_RETRY_MAX_DELAY_SECONDS]: '1',
        [Env.AGENT_BROKER_CONNECT_SECONDS]: '5',
        [Env.AGENT_LEASE_SECONDS]: '1.5',
        [Env.AGENT_SCRAPE_WAIT_SECONDS]: String(scrapeWaitSecondsFor(scrapeIntervalSeconds)),
        ...podEnv(manifests, name),
        // Poison tasks use up their attempts fast; gateway calls failing before the breaker opens
        // spend attempts, which must not run out during the outage.
        ...(name === 'poison' ? { [Env.AGENT_MAX_ATTEMPTS]: '2' } : {}),
        ...(name === 'outage' ? { [Env.AGENT_MAX_ATTEMPTS]: '50' } : {}),
      },
    };
  });
  const byName = (name: string) => workloads.find((w) => w.name === name)!;
  for (const w of workloads) await declareQueues(w.taskQueue, w.resultQueue);

  exporter = http.createServer((req, res) => {
    const body =
      req.url === '/ksm' ? Promise.resolve(fleet.kubeStateMetricsText()) : fleet.kedaText(workloads);
    body.then(
      (text) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(text);
      },
      (error) => {
        res.writeHead(500);
        res.end(String(error));
      },
    );
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  const exporterAddress = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;

  prometheus = await startPrometheus({
    files: { 'rules.yaml': stringify({ groups }), 'pods.json': '[]' },
    config: (dir) => ({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ['rules.yaml'],
      scrape_configs: [
        podMonitorScrapeConfig(pm, path.join(dir, 'pods.json'), shorten),
        exporterScrapeConfig({
          job: 'kube-state-metrics',
          address: exporterAddress,
          path: '/ksm',
          honorLabels: true,
          namespace: 'kube-system',
        }),
        exporterScrapeConfig({
          job: 'keda-operator',
          address: exporterAddress,
          path: '/keda',
          honorLabels: false,
          namespace: 'keda',
        }),
      ],
    }),
  });
  fleet = new Fleet(NS, path.join(prometheus.dir, 'pods.json'), channel);
  startedAt = Date.now();

  // Watch: the alerts firing, and which dashboard queries returned data.
  const dashboardTargets: { panel: string; legend: string; expr: string; hadData: boolean }[] = (
    obs.dashboardJson.panels as Manifest[]
  ).flatMap((p) =>
    p.targets.map((t: Manifest) => ({
      panel: p.title,
      legend: t.legendFormat,
      expr: shorten(t.expr),
      hadData: false,
    })),
  );
  let watching = true;
  const watch = (async () => {
    for (let tick = 0; watching; tick++) {
      for (const s of await prometheus.query('ALERTS{alertstate="firing"}')) {
        const key = `${s.metric.workload}/${alertKey(s.metric)}`;
        if (!firedAt.has(key)) firedAt.set(key, Date.now() - startedAt);
      }
      if (tick % 2 === 0) {
        for (const t of dashboardTargets.filter((x) => !x.hadData)) {
          t.hadData = (await prometheus.query(t.expr)).some((s) => Number.isFinite(s.value));
        }
      }
      await sleep(1000);
    }
  })();

  const gate = path.join(workDir, 'oom-gate');
  const guard = { timeoutMs: 2000, retries: 0, consecutiveFailures: 2, halfOpenAfterMs: 1500 };
  const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/`;
  const situations: Record<string, () => Promise<void>> = {
    // A ScaledJob that KEDA does not scale (paused) while 10 tasks wait.
    stopped: async () => {
      for (let i = 0; i < 10; i++) await publish(byName('stopped'), WORK);
      await untilFiring('stopped', EXPECTED.stopped, () => sleep(500));
    },
    // A fleet scaled to zero: work arrives after a quiet period, twice.
    normal: async () => {
      const w = byName('normal');
      fleet.scaleOnQueue(w, 2, 100);
      await sleep(3000);
      for (let i = 0; i < 8; i++) await publish(w, { mode: 'steps', steps: 3, stepMs: 100 });
      await waitFor('8 normal results', async () => (await drainResults(w)).length >= 8, 60_000, 200);
      await sleep(5000);
      for (let i = 0; i < 6; i++) await publish(w, { mode: 'steps', steps: 2, stepMs: 300 });
      await waitFor('14 normal results', async () => (await drainResults(w)).length >= 14, 60_000, 200);
    },
    // A stream of tasks, two thirds of them poison: a PermanentError, and a task failing every attempt.
    poison: async () => {
      const w = byName('poison');
      fleet.scaleOnQueue(w, 3, 100);
      const inputs = [WORK, PERMANENT, { mode: 'flaky', succeedOnAttempt: 1000 }];
      let i = 0;
      await untilFiring('poison', EXPECTED.poison, async () => {
        await publish(w, inputs[i++ % inputs.length]);
        await sleep(700);
      });
    },
    // Bodies that are not JSON, and JSON that is not a task, among good tasks.
    badjson: async () => {
      const w = byName('badjson');
      fleet.scaleOnQueue(w, 2, 100);
      for (let i = 0; i < 3; i++) {
        await publish(w, WORK);
        await publishRaw(w, '{"id": "broken", "input": ');
        await publishRaw(w, '{"input": {"no": "id"}}');
        await sleep(1000);
      }
      await untilFiring('badjson', EXPECTED.badjson, () => sleep(500));
    },
    // The LLM gateway fails until the breaker alert fires, then recovers.
    outage: async () => {
      const w = byName('outage');
      const pool = fleet.runIndexedJob(w, 2, 2);
      const tick = async () => {
        await publish(w, { mode: 'gateway', url: gatewayUrl, guard });
        await publish(w, WORK);
        await sleep(500);
      };
      for (let i = 0; i < 6; i++) await tick();
      gatewayDown = true;
      await untilFiring('outage', EXPECTED.outage, tick);
      gatewayDown = false;
      for (let i = 0; i < 8; i++) await tick();
      await pool;
    },
    // An Indexed Job of 20 one-task pods, 2 at a time.
    batch: async () => {
      const w = byName('batch');
      for (let i = 0; i < 20; i++) await publish(w, WORK);
      await fleet.runIndexedJob(w, 20, 2);
    },
    // An Indexed Job of 6 one-task pods, 2 of whose tasks can never succeed.
    batchfail: async () => {
      const w = byName('batchfail');
      for (const input of [PERMANENT, WORK, WORK, PERMANENT, WORK, WORK]) await publish(w, input);
      await fleet.runIndexedJob(w, 6, 2);
      await untilFiring('batchfail', EXPECTED.batchfail, () => sleep(500));
    },
    // The first pod is OOM-killed mid-task; its replacement resumes the task.
    oom: async () => {
      const w = byName('oom');
      await publish(w, { mode: 'gate', gate });
      await publish(w, WORK);
      await publish(w, WORK);
      const job = fleet.runIndexedJob(w, 3, 1);
      const first = await waitFor(
        'a pod at the gate',
        () => fleet.pods.find((p) => p.workload === w && p.logged('at-gate')),
        60_000,
        100,
      );
      first.oomKill();
      await first.exited;
      writeFileSync(gate, '');
      await job;
      await untilFiring('oom', EXPECTED.oom, () => sleep(500));
    },
    // A ScaledJob at its maximum of one Job, whose pod finishes a task a second while two arrive.
    backlog: async () => {
      const w = byName('backlog');
      const job = `backlog-${Math.random().toString(36).slice(2, 7).padEnd(5, 'x')}`;
      const pod = fleet.startPod(w, job, `${job}-abcde`, {
        [Env.AGENT_MAX_TASKS]: '0',
        [Env.AGENT_CONCURRENCY]: '1',
        [Env.AGENT_IDLE_EXIT_SECONDS]: '0',
      });
      await untilFiring('backlog', EXPECTED.backlog, async () => {
        await publish(w, { mode: 'steps', steps: 1, stepMs: 1000 });
        await sleep(400);
      });
      // The fleet is stopped and the producer withdraws the backlog (with the task the pod gave
      // back on SIGTERM): nothing is left waiting.
      pod.kill('SIGTERM');
      await pod.exited;
      await channel.purgeQueue(w.taskQueue);
    },
    // Tasks that each report 400,000 LLM tokens, two a second.
    tokens: async () => {
      const w = byName('tokens');
      fleet.scaleOnQueue(w, 2, 100);
      await untilFiring('tokens', EXPECTED.tokens, async () => {
        await publish(w, { mode: 'echo', value: 1, tokens: 400_000, model: 'gpt-test' });
        await sleep(500);
      });
    },
  };
  try {
    await Promise.all(Object.values(situations).map((run) => run()));
    fleet.stopControllers();
    // Every pod ends (idle exit, then its wait for a last scrape); then one more evaluation.
    await waitFor('every pod to end', () => fleet.pods.every((p) => !p.running), 90_000, 200);
    await sleep(3000);
  } finally {
    watching = false;
    await watch.catch(() => undefined);
  }
  const elapsed = Math.ceil((Date.now() - startedAt) / 1000);

  // --- alerts: exactly the expected ones fired, per situation -------------------------------
  const fired = new Map<string, Set<string>>(Object.keys(EXPECTED).map((n) => [n, new Set<string>()]));
  for (const s of await prometheus.query(`max_over_time(ALERTS{alertstate="firing"}[${elapsed + 5}s])`)) {
    fired.get(s.metric.workload)?.add(alertKey(s.metric));
  }
  const figures = Object.keys(EXPECTED).map((name) => ({
    situation: name,
    fired: [...(fired.get(name) ?? [])]
      .sort()
      .map((k) => `${k} @${((firedAt.get(`${name}/${k}`) ?? Number.NaN) / 1000).toFixed(1)}s`),
    pods: fleet.pods.filter((p) => p.workload.name === name).length,
  }));
  console.log(
    `real Prometheus run: ${elapsed} s, ${fleet.pods.length} agent pods\n${figures
      .map(
        (f) =>
          `  ${f.situation.padEnd(10)} pods ${String(f.pods).padStart(2)}  fired: ${f.fired.join(', ') || '(none)'}`,
      )
      .join('\n')}`,
  );
  for (const [name, keys] of Object.entries(EXPECTED)) {
    expect({ situation: name, fired: [...(fired.get(name) ?? [])].sort() }).toEqual({
      situation: name,
      fired: [...keys].sort(),
    });
  }

  // --- the dashboard: every query had data while its situation existed -----------------------
  // Not every workload has every situation: the paused ScaledJob never runs a pod, and only the
  // OOM-killed workload has a failed pod.
  const noSituation = (t: { panel: string; legend: string }) =>
    t.legend === 'stopped running pods' ||
    (t.panel.startsWith('Failed agent pods') && !t.legend.startsWith('oom '));
  expect(
    dashboardTargets.filter((t) => !noSituation(t) && !t.hadData).map((t) => `${t.panel}: ${t.legend}`),
  ).toEqual([]);
  expect(dashboardTargets.find((t) => t.legend === 'oom {{reason}}')?.hadData).toBe(true);

  // --- nothing counted was lost: Prometheus's counts are the broker's --------------------------
  const window = elapsed + 60;
  const counted = async (metric: string, w: Workload, by: string) => {
    const series = `${metric}{namespace="${NS}",${WORKLOAD_TARGET_LABEL}="${w.name}"}`;
    const samples = await prometheus.query(`sum by (${by}) (${counterIncrease(series, window)}) > 0`);
    return Object.fromEntries(samples.map((s) => [s.metric[by], s.value]));
  };
  const tally = (values: string[]) => {
    const counts: Record<string, number> = {};
    for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
    return counts;
  };
  for (const w of workloads) {
    const byStatus = tally((await drainResults(w)).map((r) => r.status));
    const byReason = tally(await drainDeadLetters(w));
    expect({ workload: w.name, completed: await counted(Metrics.tasksCompleted, w, 'status') }).toEqual({
      workload: w.name,
      completed: byStatus,
    });
    expect({ workload: w.name, deadLettered: await counted(Metrics.deadLettered, w, 'reason') }).toEqual({
      workload: w.name,
      deadLettered: byReason,
    });
  }
  // The one-task batch: every completion of 20 pods that each ended right after their task.
  expect(tally((results.get('batch') ?? []).map((r) => r.status))).toEqual({ succeeded: 20 });
  expect(tally((results.get('batchfail') ?? []).map((r) => r.status))).toEqual({ succeeded: 4, failed: 2 });
  expect(existsSync(gate)).toBe(true);
}, 240_000);
