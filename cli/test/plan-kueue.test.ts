/**
 * Kueue admission in the plan model: Jobs created suspended, admitted oldest first while the admitted
 * unfinished Jobs' pods fit the quota. Checks the claims of docs/batches.md ("Kueue and KEDA's
 * ScaledJob") against the model for what AgentScaledJob renders: accurate over amqp with
 * pendingPodConditions [Ready], AGENT_CONCURRENCY = AGENT_MAX_TASKS = v. docs/cli.md quotes the figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentScaledJob, LocalQueue, Quantity, QueueConnection } from '@agent-fleet/cdk8s';
import { Chart, Testing } from 'cdk8s';
import * as fc from 'fast-check';
import { stringify } from 'yaml';
import { type PlanFlags, planInputFromFlags } from '../src/plan/command';
import { type PlanResult, percentile, simulatePlan } from '../src/plan/simulate';
import { constructFlags } from './support/construct-flags';
import { cli } from './support/io';

/** The construct's ScaledJob for trigger value `v`, as plan flags, over a 24 h horizon. */
function construct(v: number, extra: PlanFlags = {}): PlanFlags {
  return constructFlags(v, { horizon: '24h', ...extra });
}

/** The same ScaledJob with `strategy: default` and no pendingPodConditions (what default ignores). */
const withDefault = (v: number, extra: PlanFlags = {}): PlanFlags =>
  construct(v, { strategy: 'default', pendingPodConditions: '', ...extra });

const plan = (flags: PlanFlags) => simulatePlan(planInputFromFlags(flags).input);

/** At most 10 % above the ideal ceil(N / v) Jobs. */
const bound = (tasks: number, v: number) => Math.ceil(Math.ceil(tasks / v) * 1.1);

/**
 * Polls after which some ready messages have no Job that will take them: ready above v × (Jobs KEDA
 * counts as pending, which will each take v messages when their agent joins, plus the Jobs the poll
 * created), while maxReplicaCount left room. Such messages wait for a later poll: the stall.
 */
function uncoveredPolls(r: PlanResult, v: number, max: number): number {
  return r.polls.filter(
    (p) => p.ready > v * (p.pending + p.created) && p.running + p.pending + p.created < max,
  ).length;
}

describe('the admission model, hand-computed', () => {
  // 6 one-minute tasks, one per Job, start-up 10 s, quota 2 pods: Jobs are admitted two at a time; each
  // pair starts 10 s after admission, finishes 60 s later and frees the quota, which the next pair gets
  // one second later (0, 71, 142 s).
  const flags: PlanFlags = {
    burst: '6',
    value: '1',
    maxTasks: '1',
    taskDuration: '60',
    startup: '10',
    pollingInterval: '30',
    idleExit: '30',
    strategy: 'accurate',
    pendingPodConditions: 'Ready',
    kueueQuota: '2',
  };

  test('FIFO admission within the quota; waiting Jobs count as running and pending', () => {
    const r = plan(flags);
    expect(r.jobsCreated).toBe(6);
    expect(r.drainedAt).toBe(212);
    expect(r.peakPods).toBe(2);
    expect(r.kueue).toEqual({
      quotaPods: 2,
      queueName: undefined,
      admittedJobs: 6,
      waitingAtEnd: 0,
      peakWaitingJobs: 4,
      peakAdmittedJobs: 2,
      admissionWaitP50Seconds: 71,
      admissionWaitP95Seconds: 142,
      admissionWaitMaxSeconds: 142,
    });
    // At 30 s: 2 Jobs running their tasks, 4 waiting for admission, counted pending; 4 ready messages,
    // so accurate creates ceil(4 / 1) − 4 = 0.
    expect(r.polls[1]).toEqual({
      time: 30,
      ready: 4,
      unacked: 2,
      metric: 4,
      running: 2,
      pending: 4,
      created: 0,
      waiting: 4,
    });
  });

  test('the pod-pending delay starts at admission, not at creation', () => {
    // Pods Pending 90 s after admission: the pairs start at 100, 191 (admitted 91) and 282 s.
    const r = plan({ ...flags, podPending: '90' });
    expect(r.drainedAt).toBe(212 + 3 * 90);
    expect(r.kueue?.admissionWaitMaxSeconds).toBe(2 * 161);
  });

  test('a waiting Job is pending even for conditions KEDA would see true once the pod runs', () => {
    // PodScheduled: a suspended Job has no pod, so no condition holds.
    const r = plan({ ...flags, pendingPodConditions: 'PodScheduled' });
    expect(r.polls[1]).toMatchObject({ pending: 4, waiting: 4, created: 0 });
  });

  test('percentile is the nearest rank', () => {
    expect(percentile([], 0.5)).toBe(0);
    expect(percentile([0, 0, 71, 71, 142, 142], 0.5)).toBe(71);
    expect(percentile([0, 0, 71, 71, 142, 142], 0.95)).toBe(142);
    expect(percentile([5], 0.95)).toBe(5);
  });
});

describe('properties of admission', () => {
  const arbitrary = fc.record({
    v: fc.integer({ min: 1, max: 10 }),
    quota: fc.integer({ min: 1, max: 30 }),
    n: fc.integer({ min: 1, max: 150 }),
    polling: fc.integer({ min: 5, max: 60 }),
    startup: fc.integer({ min: 0, max: 60 }),
    pending: fc.integer({ min: 0, max: 240 }),
    seed: fc.integer({ min: 1, max: 1000 }),
  });
  const flagsOf = (a: {
    v: number;
    n: number;
    polling: number;
    startup: number;
    pending: number;
    seed: number;
  }) =>
    construct(a.v, {
      burst: String(a.n),
      pollingInterval: String(a.polling),
      startup: String(a.startup),
      podPending: a.pending === 0 ? '0' : `uniform:1-${a.pending + 1}`,
      taskDuration: 'uniform:30-90',
      seed: String(a.seed),
      horizon: '168h',
    });

  test('never more admitted Jobs, so never more pods, than the quota', () => {
    fc.assert(
      fc.property(arbitrary, (a) => {
        const r = plan({ ...flagsOf(a), kueueQuota: String(a.quota) });
        expect(r.kueue!.peakAdmittedJobs).toBeLessThanOrEqual(a.quota);
        expect(r.peakPods).toBeLessThanOrEqual(a.quota);
        for (const s of r.samples) {
          expect(s.runningPods).toBeLessThanOrEqual(a.quota);
        }
      }),
      { numRuns: 50 },
    );
  });

  test('a quota no Job count reaches gives the run without Kueue', () => {
    fc.assert(
      fc.property(arbitrary, (a) => {
        const flags = flagsOf(a);
        const without = plan(flags);
        // maxReplicaCount is unset (100): at most 100 unfinished Jobs, so a quota of 100 never binds.
        const withKueue = plan({ ...flags, kueueQuota: '100' });
        expect(withKueue.polls.map(({ waiting, ...p }) => p)).toEqual(without.polls);
        expect(withKueue.samples.map(({ waitingJobs, ...s }) => s)).toEqual(without.samples);
        expect(withKueue.drainedAt).toBe(without.drainedAt);
        expect(withKueue.kueue!.admissionWaitMaxSeconds).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});

describe('a burst of 200 tasks under a quota (accurate, [Ready], concurrency = value)', () => {
  // maxReplicaCount twice the Jobs the backlog asks for, as docs/batches.md advises.
  test.each([
    // v, quota, drained at, longest wait for admission (s)
    [1, 4, 7040, 6849],
    [1, 20, 1508, 1315],
    [2, 4, 4088, 3890],
    [2, 20, 915, 717],
    [5, 4, 1883, 1683],
    [5, 20, 401, 201],
    [10, 4, 992, 792],
    [10, 20, 200, 0],
  ])('v = %i, quota %i pods: ceil(200 / v) Jobs, drains at %i s', (v, quota, drainedAt, admissionMax) => {
    const max = 2 * Math.ceil(200 / v);
    const r = plan(construct(v, { burst: '200', max: String(max), kueueQuota: String(quota) }));
    expect(r.jobsCreated).toBe(Math.ceil(200 / v));
    expect(r.jobsCreated).toBeLessThanOrEqual(bound(200, v));
    expect(r.completedTasks).toBe(200);
    expect(r.drainedAt).toBe(drainedAt);
    expect(r.peakPods).toBeLessThanOrEqual(quota);
    expect(r.kueue?.admissionWaitMaxSeconds).toBe(admissionMax);
    expect(uncoveredPolls(r, v, max)).toBe(0);
  });

  test('property: any v 1..10, quota 1..30, burst 1..300, with maxReplicaCount 2 × ceil(N / v): at most the bound, drained', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 240 }),
        fc.integer({ min: 1, max: 1000 }),
        (v, quota, n, pending, seed) => {
          const r = plan(
            construct(v, {
              burst: String(n),
              max: String(2 * Math.ceil(n / v)),
              kueueQuota: String(quota),
              podPending: pending === 0 ? '0' : `uniform:1-${pending + 1}`,
              taskDuration: 'uniform:30-90',
              seed: String(seed),
              horizon: '168h',
            }),
          );
          expect(r.jobsCreated).toBeLessThanOrEqual(bound(n, v));
          expect(r.completedTasks).toBe(n);
          expect(r.drainedAt).toBeDefined();
        },
      ),
      { numRuns: 100 },
    );
  });

  test.each([
    // v, quota, Jobs created with maxReplicaCount unset (100)
    [1, 4, 294],
    [1, 20, 275],
    [2, 4, 195],
    [2, 20, 176],
    [5, 4, 40],
    [10, 20, 20],
  ])('v = %i, quota %i, maxReplicaCount unset (100): %i Jobs', (v, quota, created) => {
    // Where ceil(200 / v) reaches maxReplicaCount, KEDA's accurate branch for "maxScale + running >
    // maxReplicaCount" creates maxReplicaCount − running without subtracting the Jobs waiting in Kueue,
    // which still count as running: Jobs for messages waiting Jobs already cover. It still drains.
    const r = plan(construct(v, { burst: '200', kueueQuota: String(quota) }));
    expect(r.jobsCreated).toBe(created);
    expect(r.completedTasks).toBe(200);
    if (Math.ceil(200 / v) >= 100) {
      expect(r.jobsCreated).toBeGreaterThan(bound(200, v));
      // Without Kueue the same ScaledJob creates the ideal 200 / v.
      expect(plan(construct(v, { burst: '200' })).jobsCreated).toBe(Math.ceil(200 / v));
    } else {
      expect(r.jobsCreated).toBe(Math.ceil(200 / v));
    }
  });
});

describe('steady arrivals under a quota: 30 tasks/min for 20 min', () => {
  // Jobs created, drained at, longest wait in the queue; maxReplicaCount 2000 keeps KEDA's
  // maxReplicaCount branch out of the way even where the quota is too small for the rate and the
  // backlog grows.
  test.each([
    [1, 4, 600, 21021, 19699],
    [1, 20, 600, 4329, 2958],
    [2, 4, 300, 12110, 10797],
    [2, 20, 300, 2533, 1169],
    [5, 4, 120, 5494, 4127],
    [5, 20, 120, 1397, 40],
    [10, 4, 60, 2955, 1608],
    [10, 20, 60, 1397, 40],
  ])(
    'v = %i, quota %i: never stalls (%i Jobs, drained at %i s, longest wait %i s)',
    (v, quota, created, drainedAt, wait) => {
      const r = plan(construct(v, { rate: '30', for: '20m', max: '2000', kueueQuota: String(quota) }));
      expect(r.completedTasks).toBe(600);
      expect([r.jobsCreated, r.drainedAt, r.maxWaitSeconds]).toEqual([created, drainedAt, wait]);
      // Every poll leaves each ready message to a Job that will take it: the queue waits for quota only.
      expect(uncoveredPolls(r, v, 2000)).toBe(0);
    },
  );

  test('maxReplicaCount below twice the backlog the quota lets grow: the accurate cap branch over-creates', () => {
    // v = 1, quota 4: the backlog reaches 564 ready messages, each covered by a waiting Job, so
    // ceil(ready) + unfinished passes 1000 and KEDA creates maxReplicaCount − unfinished.
    const capped = plan(construct(1, { rate: '30', for: '20m', max: '1000', kueueQuota: '4' }));
    expect(Math.max(...capped.samples.map((x) => x.ready))).toBe(564);
    expect(capped.jobsCreated).toBe(1594);
    expect(capped.completedTasks).toBe(600);
  });

  test('property: accurate with [Ready] leaves no ready message without a Job at any poll, and drains', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 2, max: 30 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 5, max: 60 }),
        fc.integer({ min: 1, max: 1000 }),
        (v, quota, perMinute, polling, seed) => {
          const r = plan(
            construct(v, {
              rate: String(perMinute),
              for: '10m',
              max: '2000',
              pollingInterval: String(polling),
              kueueQuota: String(quota),
              taskDuration: 'uniform:30-90',
              seed: String(seed),
              horizon: '168h',
            }),
          );
          expect(r.completedTasks).toBe(r.totalTasks);
          expect(uncoveredPolls(r, v, 2000)).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('the default strategy over amqp under Kueue', () => {
  test('steady arrivals: ready messages left without a Job poll after poll, so it drains later than accurate', () => {
    // v = 5, quota 20 (more than the 18 pods accurate needs): accurate drains at 1397 s with no task
    // waiting more than 40 s. default subtracts every unfinished Job, waiting ones included, from a
    // count that already leaves out the messages running Jobs hold.
    const flags = { rate: '30', for: '20m', max: '2000', kueueQuota: '20' };
    const accurate = plan(construct(5, flags));
    const dflt = plan(withDefault(5, flags));
    expect([accurate.drainedAt, accurate.maxWaitSeconds]).toEqual([1397, 40]);
    expect([dflt.drainedAt, dflt.maxWaitSeconds]).toEqual([2207, 840]);
    expect(uncoveredPolls(dflt, 5, 2000)).toBe(66);
    // Without Kueue the same default ScaledJob drains sooner: the waiting Jobs make it worse.
    const noKueue = plan(withDefault(5, { rate: '30', for: '20m', max: '2000' }));
    expect([noKueue.drainedAt, noKueue.maxWaitSeconds]).toEqual([2027, 660]);
  });

  test.each([1, 2, 5, 10])(
    'steady arrivals, v = %i: default drains later than accurate at quotas 4 and 20',
    (v) => {
      for (const quota of ['4', '20']) {
        const flags = { rate: '30', for: '20m', max: '2000', kueueQuota: quota };
        const accurate = plan(construct(v, flags));
        const dflt = plan(withDefault(v, flags));
        expect(dflt.completedTasks).toBe(600);
        expect(dflt.drainedAt!).toBeGreaterThan(accurate.drainedAt!);
        expect(uncoveredPolls(dflt, v, 2000)).toBeGreaterThan(0);
      }
    },
  );

  test.each([1, 2, 5, 10])(
    'a burst, v = %i: default gives what accurate gives (each waiting Job covers v ready messages)',
    (v) => {
      for (const quota of ['4', '20']) {
        const flags = { burst: '200', max: String(2 * Math.ceil(200 / v)), kueueQuota: quota };
        const accurate = plan(construct(v, flags));
        const dflt = plan(withDefault(v, flags));
        expect([dflt.jobsCreated, dflt.drainedAt]).toEqual([accurate.jobsCreated, accurate.drainedAt]);
      }
    },
  );
});

describe('agent-fleet plan with Kueue', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-fleet-plan-kueue-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** What AgentScaledJob synthesizes with `kueue`, written as a manifest file. */
  function kueueManifest(): string {
    const chart = new Chart(Testing.app(), 'fleet', { namespace: 'agents' });
    new AgentScaledJob(chart, 'Workers', {
      image: 'registry.example.com/agent:1.0.0',
      queue: QueueConnection.fromSecretName('agent-secrets', 'queue-url'),
      resources: { requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) } },
      kueue: { queue: new LocalQueue(chart, 'Queue', { name: 'team-a', clusterQueue: 'shared' }) },
      maxReplicaCount: 500,
    });
    const file = path.join(tmp, 'kueue.k8s.yaml');
    writeFileSync(
      file,
      Testing.synth(chart)
        .map((o) => stringify(o))
        .join('---\n'),
    );
    return file;
  }

  test('a manifest whose ScaledJob carries the queue-name label needs --kueue-quota', async () => {
    const file = kueueManifest();
    const refused = await cli(['plan', '--from', file, '--burst', '20']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /carries the label kueue\.x-k8s\.io\/queue-name: team-a.*pass --kueue-quota PODS/s,
    );

    const run = await cli(['plan', '--from', file, '--burst', '20', '--kueue-quota', '2']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ waiting\n/);
    expect(run.stdout).toMatch(
      /Kueue admission \(LocalQueue team-a, quota 2 pod\(s\)\): \d+ of \d+ Jobs admitted; wait for admission p50 \d+ s, p95 \d+ s, max \d+ s; peak Jobs waiting \d+, peak admitted 2/,
    );
  });

  test('--kueue-quota on flags only, and its errors', async () => {
    const run = await cli([
      'plan',
      '--value',
      '1',
      '--burst',
      '6',
      '--max-tasks',
      '1',
      '--task-duration',
      '60',
      '--startup',
      '10',
      '--strategy',
      'accurate',
      '--pending-pod-conditions',
      'Ready',
      '--kueue-quota',
      '2',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'Kueue admission (quota 2 pod(s)): 6 of 6 Jobs admitted; wait for admission p50 71 s, p95 142 s, max 142 s; peak Jobs waiting 4, peak admitted 2',
    );
    for (const bad of ['0', '-1', '2.5', 'x']) {
      const r = await cli(['plan', '--burst', '6', '--kueue-quota', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--kueue-quota');
    }
  });
});
