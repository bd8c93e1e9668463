import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RabbitMqProtocol, ScalingStrategy } from '@agent-fleet/cdk8s';
import { planInputFromFlags, pollTable } from '../src/plan/command';
import { drawSeconds, mulberry32, parseDistribution } from '../src/plan/random';
import { arrivalTimes, type PlanInput, type PollRow, simulatePlan } from '../src/plan/simulate';
import { cli } from './support/io';
import { allElements, parseXml } from './support/xml';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-fleet-plan-'));
/** `npm run synth`'s output, synthesized afresh from the compiled example app (built before jest). */
const MANIFEST = path.join(tmp, 'agent-fleet.k8s.yaml');

beforeAll(() => {
  execFileSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'examples', 'main.js')], {
    env: { ...process.env, CDK8S_OUTDIR: tmp },
  });
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Flags of a small scenario whose polls are computed by hand below (one task at a time per Job). */
const SMALL = [
  '--concurrency',
  '1',
  '--burst',
  '10',
  '--value',
  '2',
  '--max',
  '3',
  '--polling-interval',
  '10',
  '--startup',
  '5',
  '--task-duration',
  '20',
  '--max-tasks',
  '2',
  '--idle-exit',
  '30',
  '--strategy',
  'accurate',
  '--protocol',
  'amqp',
];

/** The stall scenario: a steady stream of 5-minute tasks, one task per Job, over amqp. */
function stallScenario(strategy: string, protocol = 'amqp'): string[] {
  return [
    '--value',
    '1',
    '--max',
    '100',
    '--polling-interval',
    '30',
    '--strategy',
    strategy,
    '--protocol',
    protocol,
    '--max-tasks',
    '1',
    '--rate',
    '6',
    '--for',
    '10m',
    '--task-duration',
    '5m',
    '--startup',
    '10',
    '--horizon',
    '2h',
  ];
}

/** One poll as the table shows it: time, ready, unacked, metric, running, pending, created. */
const row = (p: PollRow) => [p.time, p.ready, p.unacked, p.metric, p.running, p.pending, p.created];

/** Accurate over amqp with trigger value `value`, start-up 5 s, idle exit 30 s, seed 1, plus `rest`. */
function accurateInput(
  value: number,
  pollingInterval: number,
  rest: Pick<PlanInput, 'maxTasks' | 'arrivals' | 'taskDuration' | 'horizonSeconds'> & Partial<PlanInput>,
): PlanInput {
  return {
    scaledJob: {
      value,
      pollingInterval,
      scalingStrategy: ScalingStrategy.accurate(),
      protocol: RabbitMqProtocol.AMQP,
    },
    idleExitSeconds: 30,
    startupSeconds: 5,
    seed: 1,
    ...rest,
  };
}

async function planJson(args: string[]) {
  const run = await cli(['plan', ...args, '--json']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as {
    polls: Array<Record<string, number>>;
    summary: Record<string, unknown> & { drainedAt?: number };
  };
}

describe('plan arithmetic against hand-computed polls', () => {
  // burst 10, value 2, max 3, poll every 10 s, pods start 5 s after creation, tasks 20 s, 2 tasks per Job,
  // accurate over amqp. By hand:
  //  t=0  ready 10: maxScale ceil(min(10/2, 3)) = 3, accurate 3 - pending 0 -> create 3 (start at 5)
  //  t=5  3 Jobs take a task each (done at 25): ready 7, unacked 3
  //  t=10 metric 7 -> maxScale 3; 3 + running 3 > 3 -> 3 - 3 = 0. Same at t=20.
  //  t=25 first tasks done, next taken (done at 45): ready 4. t=30, 40: nothing created.
  //  t=45 second tasks done: every Job reached 2 tasks and exits. 6 completed.
  //  t=50 ready 4, no Jobs: maxScale 2 -> create 2 (start at 55). t=55 both take a task (done 75): ready 2.
  //  t=60 metric 2 -> maxScale 1; 1 + 2 > 3 is false -> 1 - pending 0 = 1 -> create 1 (start 65, takes one: ready 1)
  //  t=70 metric 1 -> maxScale 1; 1 + 3 > 3 -> 3 - 3 = 0.
  //  t=75 Jobs 4 and 5 finish; Job 4 (oldest) takes the last task (done 95), Job 5 goes idle.
  //  t=85 Job 6 finishes its task; t=95 Job 4 finishes its second task and exits: drained at 95.
  //  t=105 Job 5 idle for 30 s exits; t=115 Job 6 idle for 30 s exits: the simulation ends.
  const expected = [
    // time, ready, unacked, metric, running, pending, created
    [0, 10, 0, 10, 0, 0, 3],
    [10, 7, 3, 7, 3, 0, 0],
    [20, 7, 3, 7, 3, 0, 0],
    [30, 4, 3, 4, 3, 0, 0],
    [40, 4, 3, 4, 3, 0, 0],
    [50, 4, 0, 4, 0, 0, 2],
    [60, 2, 2, 2, 2, 0, 1],
    [70, 1, 3, 1, 3, 0, 0],
    [80, 0, 2, 0, 3, 0, 0],
    [90, 0, 1, 0, 3, 0, 0],
    [100, 0, 0, 0, 2, 0, 0],
    [110, 0, 0, 0, 1, 0, 0],
  ];

  test('every poll matches', async () => {
    const { polls, summary } = await planJson(SMALL);
    expect(polls.map((p) => [p.time, p.ready, p.unacked, p.metric, p.running, p.pending, p.created])).toEqual(
      expected,
    );
    expect(summary).toMatchObject({
      totalTasks: 10,
      completedTasks: 10,
      drainedAt: 95,
      endTime: 115,
      jobsCreated: 6,
      peakJobs: 3,
      peakPods: 3,
      peakBusyJobs: 3,
      maxWaitSeconds: 75,
    });
  });

  test('the table printed by default shows the same polls', async () => {
    const run = await cli(['plan', ...SMALL]);
    expect(run.code).toBe(0);
    const rows = run.stdout
      .split('\n')
      .filter((l) => /^\s*\d+(\s+\d+){6}\s*$/.test(l))
      .map((l) => l.trim().split(/\s+/).map(Number));
    expect(rows).toEqual(expected);
    expect(run.stdout).toMatch(/time to drain: 95 s/);
    expect(run.stdout).toMatch(/peak Jobs 3 \(incl\. starting\), peak pods running 3/);
  });

  test('pending Jobs are counted while pods start (default strategy subtracts them as running)', () => {
    // burst 6, value 1, max 10, startup 15 s > pollingInterval 10 s, tasks 100 s, default over http.
    // t=0: metric 6 -> create 6. t=10: pods still starting: running 0, pending 6; http metric 6
    // (nothing consumed yet); default: 6 - 6 = 0. t=20: all 6 busy: metric 6 (ready 0 + unacked 6) - 6 = 0.
    const input: PlanInput = {
      scaledJob: {
        value: 1,
        maxReplicaCount: 10,
        pollingInterval: 10,
        scalingStrategy: ScalingStrategy.default(),
        protocol: RabbitMqProtocol.HTTP,
      },
      maxTasks: 1,
      idleExitSeconds: 30,
      startupSeconds: 15,
      arrivals: { kind: 'burst', count: 6 },
      taskDuration: { kind: 'fixed', seconds: 100 },
      seed: 1,
      horizonSeconds: 300,
    };
    const result = simulatePlan(input);
    expect(result.polls.slice(0, 3)).toEqual([
      { time: 0, ready: 6, unacked: 0, metric: 6, running: 0, pending: 0, created: 6 },
      { time: 10, ready: 6, unacked: 0, metric: 6, running: 0, pending: 6, created: 0 },
      { time: 20, ready: 0, unacked: 6, metric: 6, running: 6, pending: 0, created: 0 },
    ]);
    expect(result.drainedAt).toBe(115);
    expect(pollTable(result)[0]).toEqual([
      'time (s)',
      'ready',
      'unacked',
      'metric',
      'running',
      'pending',
      'created',
    ]);
  });

  test('a Job holds up to concurrency messages at once and counts the messages it took', () => {
    // burst 5, value 2, 2 tasks per Job, 2 at once, polls every 10 s, start-up 5 s, tasks 20 s. By hand:
    //  t=0  ready 5: ceil(5/2) = 3 Jobs (start at 5).
    //  t=5  Job 1 takes 2, Job 2 takes 2 (both reached 2: they take no more), Job 3 takes the last one.
    //  t=25 every task completes; Jobs 1 and 2 exit (2 taken, none in flight): drained at 25.
    //       Job 3 took 1 of 2 and holds none: idle from 25, it exits at 55 (idle exit 30 s).
    const base = accurateInput(2, 10, {
      maxTasks: 2,
      concurrency: 2,
      arrivals: { kind: 'burst', count: 5 },
      taskDuration: { kind: 'fixed', seconds: 20 },
      horizonSeconds: 300,
    });
    const result = simulatePlan({ ...base, scaledJob: { ...base.scaledJob, maxReplicaCount: 10 } });
    expect(result.polls.map(row)).toEqual([
      [0, 5, 0, 5, 0, 0, 3],
      [10, 0, 5, 0, 3, 0, 0],
      [20, 0, 5, 0, 3, 0, 0],
      [30, 0, 0, 0, 1, 0, 0],
      [40, 0, 0, 0, 1, 0, 0],
      [50, 0, 0, 0, 1, 0, 0],
    ]);
    expect(result).toMatchObject({
      drainedAt: 25,
      endTime: 55,
      jobsCreated: 3,
      peakBusyTasks: 5,
      peakBusyJobs: 3,
    });
  });

  test('a message arriving while a started Job has room goes to it before the poll reads the queue', () => {
    // rate 6/min for 1 min (arrivals at 0, 10, ..., 50), value 4, 4 tasks per Job, 4 at once, polls
    // every 30 s, start-up 5 s, tasks 100 s. By hand:
    //  t=0  ready 1: 1 Job (starts at 5, takes task 0). t=10, 20: it takes tasks 1 and 2 on arrival.
    //  t=30 task 3 arrives and goes to Job 1 at once (its 4th: it takes no more): the poll reads 0 ready.
    //  t=40, 50: tasks 4 and 5 wait. t=60: 2 ready -> ceil(2/4) = 1 Job (starts at 65, takes both).
    //  Job 1's tasks end at 105, 110, 120, 130: it exits at 130. Job 2's end at 165 (drained); it took 2
    //  of 4, so it waits idle and exits at 195.
    const result = simulatePlan(
      accurateInput(4, 30, {
        maxTasks: 4,
        concurrency: 4,
        arrivals: { kind: 'rate', perMinute: 6, durationSeconds: 60 },
        taskDuration: { kind: 'fixed', seconds: 100 },
        horizonSeconds: 600,
      }),
    );
    expect(result.polls.map(row)).toEqual([
      [0, 1, 0, 1, 0, 0, 1],
      [30, 0, 4, 0, 1, 0, 0],
      [60, 2, 4, 2, 1, 0, 1],
      [90, 0, 6, 0, 2, 0, 0],
      [120, 0, 4, 0, 2, 0, 0],
      [150, 0, 2, 0, 1, 0, 0],
      [180, 0, 0, 0, 1, 0, 0],
    ]);
    expect(result).toMatchObject({ drainedAt: 165, endTime: 195, jobsCreated: 2, maxWaitSeconds: 25 });
  });

  test('idle exit 0 never ends a Job (the worker reads 0 as "never")', () => {
    const result = simulatePlan(
      accurateInput(1, 30, {
        maxTasks: 0,
        idleExitSeconds: 0,
        arrivals: { kind: 'burst', count: 1 },
        taskDuration: { kind: 'fixed', seconds: 10 },
        horizonSeconds: 120,
      }),
    );
    expect(result).toMatchObject({ drainedAt: 15, endTime: 120, jobsCreated: 1 });
    expect(result.samples.at(-1)).toMatchObject({ runningPods: 1 });
  });

  test('rate arrivals are evenly spaced', () => {
    expect(arrivalTimes({ kind: 'rate', perMinute: 4, durationSeconds: 60 })).toEqual([0, 15, 30, 45]);
    expect(arrivalTimes({ kind: 'rate', perMinute: 7, durationSeconds: 30 })).toEqual([0, 8, 17]);
    expect(arrivalTimes({ kind: 'burst', count: 3 })).toEqual([0, 0, 0]);
  });
});

describe('default over amqp (kedacore/keda issue 6571)', () => {
  test('the same stream drains much slower with default than with accurate over amqp', async () => {
    const accurate = (await planJson(stallScenario('accurate'))).summary;
    const stalled = (await planJson(stallScenario('default'))).summary;
    const http = (await planJson(stallScenario('default', 'http'))).summary;
    // Numbers of this model (tasks arrive 6/min for 10 min, 5 min each): accurate keeps up.
    expect(accurate.drainedAt).toBe(910);
    expect(http.drainedAt).toBe(910);
    // default over amqp: ready work waits while running Jobs are subtracted again.
    expect(stalled.drainedAt).toBe(2380);
    expect(stalled.drainedAt! / accurate.drainedAt!).toBeGreaterThan(2);
    expect(stalled.maxWaitSeconds as number).toBeGreaterThan(20 * (accurate.maxWaitSeconds as number));
  });

  test('with a short horizon default does not drain at all, and the output says so', async () => {
    const run = await cli(['plan', ...stallScenario('default'), '--horizon', '1500']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/NOT drained within the 1500 s horizon: \d+\/60 tasks completed/);
    expect(run.stdout).toMatch(/issue 6571/);
    const ok = await cli(['plan', ...stallScenario('accurate'), '--horizon', '1500']);
    expect(ok.stdout).toMatch(/time to drain: 910 s/);
  });

  test('a poll of the stall: ready work waits although maxReplicaCount has room', async () => {
    const { polls } = await planJson(stallScenario('default'));
    const stuck = polls.filter((p) => p.metric > 0 && p.created === 0 && p.running + p.pending < 100);
    expect(stuck.length).toBeGreaterThan(5);
  });
});

describe('plan input', () => {
  test('--from reads the synthesized ScaledJob (value 5, max 500, accurate, polling 15 s, 5 tasks per Job)', async () => {
    const { polls, summary } = await planJson(['--from', MANIFEST, '--burst', '10', '--task-duration', '60']);
    // t=0: 10 ready / 5 = 2 Jobs; the next poll is at 15 s.
    expect(polls[0]).toEqual({
      time: 0,
      ready: 10,
      unacked: 0,
      metric: 10,
      running: 0,
      pending: 0,
      created: 2,
    });
    expect(polls[1]!.time).toBe(15);
    expect(summary.totalTasks).toBe(10);
    const text = await cli(['plan', '--from', MANIFEST, '--burst', '10']);
    expect(text.stdout).toMatch(
      /ScaledJob agent-workers: value 5, maxReplicaCount 500, minReplicaCount 0, pollingInterval 15 s, strategy accurate, protocol amqp/,
    );
    expect(text.stdout).toMatch(/5 task\(s\) per Job, 5 at once, idle exit 30 s/);
  });

  test('the summary sets Jobs created against the ideal ceil(tasks / tasks per Job)', async () => {
    const args = [
      'plan',
      '--from',
      MANIFEST,
      '--burst',
      '200',
      '--task-duration',
      'uniform:1m-3m',
      '--startup',
      '20s',
    ];
    // The example: each Job takes its 5 messages the moment it joins (AGENT_CONCURRENCY 5), so the ready
    // count KEDA reads over amqp falls by 5 per Job and no poll counts them again.
    const example = await cli(args);
    expect(example.stdout).toMatch(
      /Jobs created: 40 for 200 task\(s\) \(0\.20 per task\); ideal at 5 task\(s\) per Job: 40 \(1\.00× the ideal\)/,
    );
    expect(example.stdout).not.toMatch(/warning/);
    // One task at a time (the worker's default before AGENT_CONCURRENCY): the ready count falls by one
    // per started Job, and accurate keeps creating Jobs for messages the running ones will take.
    const oneAtATime = await cli([...args, '--concurrency', '1']);
    expect(oneAtATime.stdout).toMatch(
      /Jobs created: 138 for 200 task\(s\) \(0\.69 per task\); ideal at 5 task\(s\) per Job: 40 \(3\.45× the ideal\)/,
    );
    expect(oneAtATime.stdout).toMatch(
      /warning: AGENT_CONCURRENCY 1 is below the trigger value 5: KEDA creates one Job per 5 ready messages .*Jobs multiply/,
    );
    // Counting in-flight messages (http) with the default strategy creates the ideal number either way.
    for (const concurrency of ['1', '5']) {
      const http = await cli([
        ...args,
        '--strategy',
        'default',
        '--protocol',
        'http',
        '--concurrency',
        concurrency,
      ]);
      expect(http.stdout).toMatch(
        /Jobs created: 40 for 200 task\(s\) \(0\.20 per task\); ideal at 5 task\(s\) per Job: 40 \(1\.00× the ideal\)/,
      );
      expect(http.stdout).not.toMatch(/AGENT_CONCURRENCY/);
    }
  });

  test('--name picks one of several ScaledJobs; several without --name is an error', async () => {
    const sj = (name: string, value: number) =>
      [
        'apiVersion: keda.sh/v1alpha1',
        'kind: ScaledJob',
        `metadata: { name: ${name} }`,
        'spec:',
        '  pollingInterval: 10',
        '  maxReplicaCount: 4',
        '  triggers:',
        `    - { type: rabbitmq, metadata: { mode: QueueLength, protocol: amqp, queueName: q, value: "${value}" } }`,
      ].join('\n');
    const file = path.join(tmp, 'two.k8s.yaml');
    writeFileSync(
      file,
      `${sj('alpha', 1)}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n---\n${sj('beta', 4)}\n`,
    );
    const two = await cli(['plan', '--from', file, '--burst', '8']);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/holds 2 ScaledJobs \(alpha, beta\); pick one with --name/);
    const beta = await planJson(['--from', file, '--name', 'beta', '--burst', '8']);
    expect(beta.polls[0]).toMatchObject({ metric: 8, created: 2 }); // 8 / 4
    const alpha = await planJson(['--from', file, '--name', 'alpha', '--burst', '8']);
    expect(alpha.polls[0]).toMatchObject({ created: 4 }); // min(8 / 1, max 4)
    const missing = await cli(['plan', '--from', file, '--name', 'gamma', '--burst', '8']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no ScaledJob named "gamma"; it has: alpha, beta/);
  });

  test('--from reads spec.scalingStrategy as KEDA does: fallbacks noted, unknown strings rejected naming the field', async () => {
    const sj = (scalingStrategy: string) =>
      [
        'apiVersion: keda.sh/v1alpha1',
        'kind: ScaledJob',
        'metadata: { name: gamma }',
        'spec:',
        '  pollingInterval: 10',
        '  maxReplicaCount: 10',
        `  scalingStrategy: ${scalingStrategy}`,
        '  triggers:',
        '    - { type: rabbitmq, metadata: { mode: QueueLength, protocol: amqp, queueName: q, value: "1" } }',
      ].join('\n');
    const file = path.join(tmp, 'strategy.k8s.yaml');
    const plan = (scalingStrategy: string) => {
      writeFileSync(file, `${sj(scalingStrategy)}\n`);
      return cli(['plan', '--from', file, '--burst', '4']);
    };
    // custom with a percentage KEDA cannot parse runs as default: 4 ready, nothing running -> 4 Jobs.
    const fallback = await plan(
      '{ strategy: custom, customScalingQueueLengthDeduction: 1, customScalingRunningJobPercentage: half }',
    );
    expect(fallback.code).toBe(0);
    expect(fallback.stdout).toMatch(
      /note: custom strategy with scalingStrategy\.customScalingRunningJobPercentage "half", which KEDA cannot parse as a number: KEDA falls back to default/,
    );
    expect(fallback.stdout).toMatch(/strategy default, protocol amqp/);
    // custom that parses: min(maxScale 4 - deduction 1 - trunc(0 * 0.5), 10) = 3 Jobs at t=0.
    const custom = await planJson([
      '--from',
      file,
      '--burst',
      '4',
      '--custom-deduction',
      '1',
      '--custom-percentage',
      '0.5',
      '--strategy',
      'custom',
    ]);
    expect(custom.polls[0]).toMatchObject({ metric: 4, created: 3 });
    const typo = await plan('{ strategy: acurate }');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(
      /ScaledJob "gamma": scalingStrategy\.strategy must be 'default', 'custom', 'accurate' or 'eager', got "acurate"/,
    );
    const calc = await plan('{ strategy: accurate, multipleScalersCalculation: median }');
    expect(calc.code).toBe(2);
    expect(calc.stderr).toMatch(
      /ScaledJob "gamma": scalingStrategy\.multipleScalersCalculation must be one of max, min, avg, sum, got "median"/,
    );
    const noDeduction = await plan('{ strategy: custom, customScalingRunningJobPercentage: "0.5" }');
    expect(noDeduction.code).toBe(2);
    expect(noDeduction.stderr).toMatch(/scalingStrategy\.customScalingQueueLengthDeduction is unset/);
  });

  test('task-duration distributions are deterministic with --seed and differ across seeds', async () => {
    const args = [
      '--burst',
      '40',
      '--value',
      '2',
      '--max',
      '10',
      '--task-duration',
      'exp:60',
      '--horizon',
      '4h',
    ];
    const a = await planJson([...args, '--seed', '7']);
    const b = await planJson([...args, '--seed', '7']);
    const c = await planJson([...args, '--seed', '8']);
    expect(a).toEqual(b);
    expect(JSON.stringify(c.polls)).not.toEqual(JSON.stringify(a.polls));
    const r1 = mulberry32(42);
    const r2 = mulberry32(42);
    const d = parseDistribution('--task-duration', 'uniform:30-90');
    const xs = Array.from({ length: 50 }, () => drawSeconds(d, r1));
    expect(xs).toEqual(Array.from({ length: 50 }, () => drawSeconds(d, r2)));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(30);
    expect(Math.max(...xs)).toBeLessThanOrEqual(90);
    expect(parseDistribution('x', '2m')).toEqual({ kind: 'fixed', seconds: 120 });
    expect(parseDistribution('x', 'normal:60,15')).toEqual({ kind: 'normal', mean: 60, stddev: 15 });
  });

  test('LLM load at peak against the budget, with the capacity guard', async () => {
    // Peak 3 tasks at once (the hand-computed scenario); 10 requests / 20000 tokens per 20 s task:
    // per task 30 req/min and 60000 tok/min -> 90 req/min and 180000 tok/min at peak.
    const run = await cli([
      'plan',
      ...SMALL,
      '--llm-requests-per-task',
      '10',
      '--llm-tokens-per-task',
      '20000',
      '--llm-rpm',
      '100',
      '--llm-tpm',
      '200000',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /LLM load at peak \(3 tasks running at once\): 90 requests\/min, 180000 tokens\/min/,
    );
    // Budget 80%: 80 req/min, 160000 tok/min -> over; safe maxReplicaCount = floor(80 / 30) = 2.
    expect(run.stdout).toMatch(
      /80 requests\/min, 160000 tokens\/min -> OVER BUDGET at peak; safe maxReplicaCount 2 \(bound by both, 1 task\(s\) per Job at once\)/,
    );
    expect(run.stdout).toMatch(/warning: maxReplicaCount 3 allows more busy Jobs than the LLM budget \(2\)/);
    const fits = await cli([
      'plan',
      ...SMALL,
      '--llm-requests-per-task',
      '10',
      '--llm-tokens-per-task',
      '20000',
      '--llm-rpm',
      '1000',
      '--llm-tpm',
      '2000000',
    ]);
    expect(fits.stdout).toMatch(/within budget at peak/);
  });
});

describe('plan picture', () => {
  test('writes a well-formed SVG and an HTML page embedding it', async () => {
    const svgFile = path.join(tmp, 'plan.svg');
    const htmlFile = path.join(tmp, 'plan.html');
    const run = await cli(['plan', ...stallScenario('default'), '--svg', svgFile, '--html', htmlFile]);
    expect(run.code).toBe(0);
    const svg = readFileSync(svgFile, 'utf8');
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    expect(root.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    const elements = allElements(root);
    const byId = (id: string) => elements.find((e) => e.attributes.id === id);
    for (const id of ['queue-depth', 'running-jobs']) {
      const d = byId(id)?.attributes.d ?? '';
      expect(d).toMatch(/^M-?\d+(\.\d+)?,-?\d+(\.\d+)?( L-?\d+(\.\d+)?,-?\d+(\.\d+)?)+$/);
      // Every point lies inside the 900 x 420 canvas.
      for (const [, x, y] of d.matchAll(/(-?[\d.]+),(-?[\d.]+)/g)) {
        expect(Number(x)).toBeGreaterThanOrEqual(0);
        expect(Number(x)).toBeLessThanOrEqual(900);
        expect(Number(y)).toBeGreaterThanOrEqual(0);
        expect(Number(y)).toBeLessThanOrEqual(420);
      }
    }
    expect(elements.find((e) => e.name === 'title')?.text).toMatch(/default over amqp/);
    const html = readFileSync(htmlFile, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // The page embeds the same SVG inline, which is well-formed on its own.
    const inline = html.slice(html.indexOf('<svg'), html.indexOf('</svg>') + '</svg>'.length);
    expect(parseXml(inline).name).toBe('svg');
    expect(svg).toContain(inline);
    expect(html).toMatch(/time to drain: 2380 s/);
  });

  test('the well-formedness check itself rejects broken markup', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow(/does not match/);
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow(/bare "&"/);
    expect(() => parseXml('<svg width=10></svg>')).toThrow(/not quoted/);
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow(/duplicate/);
    expect(() => parseXml('<svg/><svg/>')).toThrow(/second root/);
    expect(() => parseXml('<svg><g>')).toThrow(/unclosed/);
    expect(parseXml('<?xml version="1.0"?>\n<svg><text>a &amp; b</text></svg>').children[0]!.text).toBe(
      'a &amp; b',
    );
  });
});

describe('plan flags', () => {
  test.each([
    [['--value', '2'], /arrival pattern: --burst N .* or --rate N --for DURATION/],
    [['--burst', '5', '--rate', '2', '--for', '1m'], /either --burst N or --rate/],
    [['--rate', '2'], /--rate needs --for/],
    [['--burst', 'many'], /--burst must be a whole number >= 1, got "many"/],
    [['--burst', '0'], /--burst must be a whole number >= 1/],
    [
      ['--burst', '5', '--strategy', 'fastest'],
      /--strategy must be one of default, accurate, eager, custom, got "fastest"/,
    ],
    [['--burst', '5', '--protocol', 'auto'], /--protocol must be amqp or http/],
    [['--burst', '5', '--task-duration', 'gauss:3'], /--task-duration must be a duration/],
    [['--burst', '5', '--task-duration', 'uniform:90-30'], /upper bound is below the lower bound/],
    [['--burst', '5', '--polling-interval', 'soon'], /--polling-interval must be a duration/],
    [['--burst', '5', '--value', '0'], /--value must be a number > 0/],
    [['--burst', '5', '--llm-rpm', '100'], /--llm-requests-per-task and --llm-tokens-per-task/],
    [
      ['--burst', '5', '--llm-requests-per-task', '1', '--llm-tokens-per-task', '1', '--llm-rpm', '10'],
      /both --llm-rpm and --llm-tpm/,
    ],
    [
      ['--burst', '5', '--protocol', 'amqp', '--exclude-unacknowledged'],
      /excludeUnacknowledged is true with protocol 'amqp'/,
    ],
    [['--burst', '5', '--name', 'x'], /--name picks a ScaledJob from the --from file/],
    [
      ['--burst', '5', '--from', '/nonexistent/file.yaml'],
      /cannot read --from \/nonexistent\/file.yaml: ENOENT/,
    ],
    [['--burst', '5', '--horizon', '30d'], /--horizon must be a duration/],
    [['--burst', '5', '--concurrency', '0'], /--concurrency must be a whole number >= 1, got "0"/],
    [
      ['--burst', '5', '--max-tasks', '2', '--concurrency', '3'],
      /concurrency 3 exceeds AGENT_MAX_TASKS \(2\): .*Fix: lower AGENT_CONCURRENCY to at most 2, or raise AGENT_MAX_TASKS/,
    ],
    [['--burst', '5', '--token-budget', '1000'], /token-budget gate needs the tokens one task consumes/],
    [
      ['--burst', '5', '--token-budget', '0', '--llm-tokens-per-task', '1'],
      /--token-budget must be a number > 0/,
    ],
    [['--burst', '5', '--llm-tokens-per-task', '10'], /--llm-requests-per-task and --llm-tokens-per-task/],
    [
      ['--burst', '5', '--token-budget', '1000', '--llm-tokens-per-task', '1', '--token-window', '200ms'],
      /the gate's rate window must be at least 1 second/,
    ],
    [
      [
        '--burst',
        '5',
        '--llm-requests-per-task',
        '1',
        '--llm-tokens-per-task',
        '1',
        '--llm-utilization',
        '2',
      ],
      /--llm-utilization is a fraction in \(0, 1\], got 2/,
    ],
  ])('plan %j fails with a usage error', async (args, message) => {
    const run = await cli(['plan', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  test('unknown options and commands exit 2; --help exits 0', async () => {
    const unknown = await cli(['plan', '--burst', '5', '--speed', '3']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--speed'/);
    const command = await cli(['deploy']);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/unknown command 'deploy'/);
    const none = await cli([]);
    expect(none.code).toBe(2);
    const help = await cli(['plan', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--task-duration <dist>/);
  });

  test('--concurrency defaults: the trigger value with flags only, the worker default for a manifest without it', () => {
    const flagsOnly = planInputFromFlags({ burst: '5', value: '4' });
    expect(flagsOnly.input).toMatchObject({ maxTasks: 4, concurrency: 4 });
    expect(flagsOnly.notes).toContain(
      '--concurrency not given: each Job runs up to 4 task(s) at once (the trigger value, as AgentScaledJob sets AGENT_CONCURRENCY).',
    );
    const capped = planInputFromFlags({ burst: '5', value: '4', maxTasks: '2' });
    expect(capped.input.concurrency).toBe(2);
    expect(capped.notes.join('\n')).toMatch(
      /up to 2 task\(s\) at once \(the trigger value, at most --max-tasks/,
    );
    const file = path.join(tmp, 'no-concurrency.k8s.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: keda.sh/v1alpha1',
        'kind: ScaledJob',
        'metadata: { name: plain }',
        'spec:',
        '  triggers:',
        '    - { type: rabbitmq, metadata: { mode: QueueLength, protocol: amqp, queueName: q, value: "3" } }',
      ].join('\n'),
    );
    const manifest = planInputFromFlags({ from: file, burst: '5' });
    expect(manifest.input.concurrency).toBe(1);
    expect(manifest.notes).toContain(
      "the manifest sets no AGENT_CONCURRENCY: each Job runs 1 task(s) at a time (the worker's default).",
    );
  });

  test.each([
    [
      'multipleScalersCalculation other than min',
      (y: string) => y.replace('multipleScalersCalculation: min', 'multipleScalersCalculation: max'),
      /the token-budget gate \(trigger llm-token-budget\) needs scalingStrategy\.multipleScalersCalculation min, got max/,
    ],
    [
      'no multipleScalersCalculation',
      (y: string) => y.replace(/\n {4}multipleScalersCalculation: min/, ''),
      /needs scalingStrategy\.multipleScalersCalculation min, got unset \(max\)/,
    ],
    [
      'the gate before the queue trigger',
      (y: string) => {
        const [head, triggers] = y.split('  triggers:\n');
        const [queue, gate] = triggers!.split(/(?= {4}- metadata:\n {8}activationThreshold)/);
        return `${head}  triggers:\n${gate}${queue}`;
      },
      /trigger llm-token-budget must be the last trigger/,
    ],
    [
      'another activation threshold',
      (y: string) => y.replace('activationThreshold: "-0.5"', 'activationThreshold: "0"'),
      /trigger llm-token-budget is not the gate plan models: .*activationThreshold -0\.5.*got type "prometheus", activationThreshold "0"/,
    ],
    [
      'no budget annotation',
      (y: string) => y.replace(/\n {4}agent-fleet\.dev\/llm-token-budget-per-minute: "300000"/, ''),
      /gated-workers has the token-budget gate .* but no annotation agent-fleet\.dev\/llm-token-budget-per-minute > 0; pass --token-budget/,
    ],
  ])('a gate trigger with %s is a usage error', async (_, edit, message) => {
    const file = path.join(tmp, 'gate-edit.k8s.yaml');
    const fixture = readFileSync(path.join(__dirname, 'fixtures', 'gated-scaledjob.k8s.yaml'), 'utf8');
    const edited = edit(fixture);
    expect(edited).not.toBe(fixture);
    writeFileSync(file, edited);
    const run = await cli(['plan', '--from', file, '--burst', '10']);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
  });

  test('--token-budget on a manifest without the gate models it, with a note; an explicit max is refused', async () => {
    const { input, notes } = planInputFromFlags({
      from: MANIFEST,
      burst: '10',
      tokenBudget: '1000',
      llmTokensPerTask: '100',
    });
    expect(input.scaledJob.multipleScalersCalculation).toBe('min');
    expect(input.tokenBudget).toEqual({ budgetPerMinute: 1000, windowSeconds: 120, tokensPerTask: 100 });
    expect(notes.join('\n')).toMatch(/modelling the token-budget gate .* which the manifest does not have/);
    const file = path.join(tmp, 'max.k8s.yaml');
    writeFileSync(
      file,
      readFileSync(MANIFEST, 'utf8').replace(
        /(\n(\s*)strategy: accurate\n)/,
        '$1$2multipleScalersCalculation: max\n',
      ),
    );
    expect(() =>
      planInputFromFlags({ from: file, burst: '10', tokenBudget: '1000', llmTokensPerTask: '100' }),
    ).toThrow(
      /--token-budget models the gate trigger llm-token-budget, which needs scalingStrategy\.multipleScalersCalculation min; the manifest sets max/,
    );
  });

  test('an invalid manifest names the file', async () => {
    const file = path.join(tmp, 'bad.yaml');
    writeFileSync(file, 'kind: ScaledJob\n  bad: [indent\n');
    const run = await cli(['plan', '--from', file, '--burst', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/bad\.yaml is not valid YAML/);
  });
});
