import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planInputFromFlags } from '../src/plan/command';
import { isPendingForKeda, type PollRow, simulatePlan } from '../src/plan/simulate';
import { cli } from './support/io';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-fleet-plan-pending-'));
/** `npm run synth`'s output, synthesized afresh from the compiled example app (built before jest). */
const MANIFEST = path.join(tmp, 'agent-fleet.k8s.yaml');
/** A hand-written ScaledJob in the construct's shape (value 5, pendingPodConditions [Ready], the gate). */
const FIXTURE = path.join(__dirname, 'fixtures', 'gated-scaledjob.k8s.yaml');

beforeAll(() => {
  execFileSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'examples', 'main.js')], {
    env: { ...process.env, CDK8S_OUTDIR: tmp },
  });
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * A burst of 10 one-minute tasks, one message per Job, `accurate` over amqp, polls every 30 s; each pod
 * is unschedulable for 90 s (nodes scaling up), then its agent needs `startup` more seconds.
 */
function scenario(startup: number, extra: string[] = []): string[] {
  return [
    '--burst',
    '10',
    '--value',
    '1',
    '--strategy',
    'accurate',
    '--protocol',
    'amqp',
    '--polling-interval',
    '30',
    '--pod-pending',
    '90',
    '--startup',
    String(startup),
    '--task-duration',
    '60',
    '--max-tasks',
    '1',
    '--idle-exit',
    '30',
    ...extra,
  ];
}

function run(args: string[]) {
  const { input } = planInputFromFlags(flagsOf(args));
  return simulatePlan(input);
}

/** The argv above as the flags object commander hands over. */
function flagsOf(args: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i]!.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    flags[key] = args[i + 1]!;
  }
  return flags;
}

const created = (polls: readonly PollRow[]) => polls.map((p) => [p.time, p.created]);

describe('KEDA pending rule (scale_jobs.go getPendingJobCount)', () => {
  test('without pendingPodConditions: pending until the pod runs', () => {
    expect(isPendingForKeda({ scheduled: false, started: false }, undefined)).toBe(true);
    expect(isPendingForKeda({ scheduled: true, started: false }, undefined)).toBe(true);
    expect(isPendingForKeda({ scheduled: true, started: true }, [])).toBe(false);
  });

  test('with pendingPodConditions: until all listed conditions are true', () => {
    const scheduledOnly = { scheduled: true, started: false };
    expect(isPendingForKeda(scheduledOnly, ['PodScheduled'])).toBe(false);
    expect(isPendingForKeda(scheduledOnly, ['Ready', 'PodScheduled'])).toBe(true);
    expect(isPendingForKeda({ scheduled: true, started: true }, ['Ready', 'PodScheduled'])).toBe(false);
    // A condition no pod reports never becomes true.
    expect(isPendingForKeda({ scheduled: true, started: true }, ['Readdy'])).toBe(true);
  });
});

describe('plan --pod-pending, hand-computed', () => {
  // t=0: metric 10, no Jobs: accurate creates min(100, ceil(10/1)) - 0 pending = 10 Jobs, scheduled at
  // 90 s, consuming at 100 s. Polls at 30, 60, 90 s: 10 ready, 10 unfinished, all 10 pending (pods not
  // Running; at 90 s the scheduling happens after the poll): 10 - 10 = 0. At 100 s the Jobs take the 10
  // messages; polls at 120 and 150 s read 0 ready (amqp) and create nothing; the tasks end at 160 s.
  test('without pendingPodConditions: 10 Jobs, none while the pods are Pending', () => {
    const result = run(scenario(10));
    expect(created(result.polls)).toEqual([
      [0, 10],
      [30, 0],
      [60, 0],
      [90, 0],
      [120, 0],
      [150, 0],
    ]);
    expect(result.polls.map((p) => p.pending)).toEqual([0, 10, 10, 10, 0, 0]);
    expect(result.polls.map((p) => p.running)).toEqual([0, 0, 0, 0, 10, 10]);
    expect(result.jobsCreated).toBe(10);
    expect(result.drainedAt).toBe(160);
  });

  test('pendingPodConditions Ready,PodScheduled counts the same Jobs as pending here', () => {
    const result = run(scenario(10, ['--pending-pod-conditions', 'Ready,PodScheduled']));
    expect(created(result.polls)).toEqual(created(run(scenario(10)).polls));
    expect(result.jobsCreated).toBe(10);
  });

  // Start-up 40 s: scheduled at 90 s, consuming at 130 s. With PodScheduled only, the poll at 120 s sees
  // 10 ready, 10 unfinished and 0 pending: 10 - 0 = 10 more Jobs (scheduled at 210 s, consuming at
  // 250 s) for the same 10 messages. At 130 s the first Jobs take them; polls from 150 s read 0 ready.
  // The second Jobs find nothing at 250 s and exit idle at 280 s: 20 Jobs for 10 tasks.
  test('pendingPodConditions PodScheduled: a poll during start-up doubles the Jobs', () => {
    const result = run(scenario(40, ['--pending-pod-conditions', 'PodScheduled']));
    expect(created(result.polls)).toEqual([
      [0, 10],
      [30, 0],
      [60, 0],
      [90, 0],
      [120, 10],
      [150, 0],
      [180, 0],
      [210, 0],
      [240, 0],
      [270, 0],
    ]);
    expect(result.polls.map((p) => p.pending)).toEqual([0, 10, 10, 10, 0, 10, 10, 10, 0, 0]);
    expect(result.jobsCreated).toBe(20);
    expect(result.drainedAt).toBe(190);

    const rule = run(scenario(40));
    expect(rule.polls.map((p) => p.created)).toEqual([10, 0, 0, 0, 0, 0, 0]);
    expect(rule.jobsCreated).toBe(10);
  });

  test('an unknown condition is never true and gets a note', async () => {
    const { notes } = planInputFromFlags(flagsOf(scenario(10, ['--pending-pod-conditions', 'Readdy'])));
    expect(notes.join('\n')).toMatch(/Readdy is never true/);
  });

  test('the table and JSON carry the same pending count', async () => {
    const args = ['plan', ...scenario(40, ['--pending-pod-conditions', 'PodScheduled'])];
    const text = await cli(args);
    expect(text.code).toBe(0);
    const row120 = text.stdout.split('\n').find((l) => /^\s*120\s/.test(l));
    // time ready unacked metric running pending created
    expect(row120?.trim().split(/\s+/)).toEqual(['120', '10', '0', '10', '10', '0', '10']);
    expect(text.stdout).toMatch(/pod pending 90 s then pod start-up 40 s/);
    const json = JSON.parse((await cli([...args, '--json'])).stdout) as {
      input: { pendingPodConditions: string[]; podPending: unknown };
      polls: PollRow[];
      summary: { jobsCreated: number };
    };
    expect(json.input.pendingPodConditions).toEqual(['PodScheduled']);
    expect(json.input.podPending).toEqual({ kind: 'fixed', seconds: 90 });
    expect(json.polls.find((p) => p.time === 120)).toMatchObject({ pending: 0, running: 10, created: 10 });
    expect(json.summary.jobsCreated).toBe(20);
  });
});

describe('--from and the defaults', () => {
  test('--pod-pending 0 reproduces the example manifest exactly (table and JSON)', async () => {
    const base = ['plan', '--from', MANIFEST, '--burst', '50', '--task-duration', 'uniform:30-90'];
    for (const extra of [[], ['--json']]) {
      const before = await cli([...base, ...extra]);
      const zero = await cli([...base, '--pod-pending', '0', ...extra]);
      const zeroS = await cli([...base, '--pod-pending', '0s', ...extra]);
      expect(before.code).toBe(0);
      expect(zero.stdout).toBe(before.stdout);
      expect(zeroS.stdout).toBe(before.stdout);
    }
    const json = JSON.parse((await cli([...base, '--json'])).stdout) as { input: object };
    expect(json.input).not.toHaveProperty('podPending');
  });

  test("the construct's pendingPodConditions [Ready] counts as KEDA's rule without a list does", async () => {
    // Ready holds once the agent holds its messages, which is when the model's pod runs.
    const base = ['plan', '--from', MANIFEST, '--burst', '50', '--task-duration', 'uniform:30-90', '--json'];
    const ready = JSON.parse((await cli(base)).stdout) as { input: object; polls: unknown; summary: unknown };
    const cleared = JSON.parse((await cli([...base, '--pending-pod-conditions', ''])).stdout) as typeof ready;
    expect(ready.input).toHaveProperty('pendingPodConditions', ['Ready']);
    expect(cleared.input).not.toHaveProperty('pendingPodConditions');
    expect(cleared.polls).toEqual(ready.polls);
    expect(cleared.summary).toEqual(ready.summary);
  });

  test('pod-pending draws do not change the task durations', () => {
    const flags = { ...flagsOf(scenario(10)), taskDuration: 'uniform:30-90', podPending: 'uniform:30-120' };
    const a = simulatePlan(planInputFromFlags(flags).input);
    const b = simulatePlan(planInputFromFlags({ ...flags, podPending: '0' }).input);
    expect(a.totalTasks).toBe(b.totalTasks);
    // Same tasks, later Jobs: the work takes at least as long.
    expect(a.drainedAt!).toBeGreaterThanOrEqual(b.drainedAt!);
  });

  test('pendingPodConditions is read from the manifest; the flag overrides it', async () => {
    const withConditions = path.join(tmp, 'with-conditions.k8s.yaml');
    const fixture = readFileSync(FIXTURE, 'utf8');
    expect(fixture).toMatch(/pendingPodConditions:\n\s*- Ready\n/);
    writeFileSync(
      withConditions,
      fixture.replace(/(pendingPodConditions:\n\s*)- Ready\n/, '$1- PodScheduled\n'),
    );
    const { input } = planInputFromFlags({ from: withConditions, burst: '10' });
    expect(input.pendingPodConditions).toEqual(['PodScheduled']);
    const cleared = planInputFromFlags({ from: withConditions, burst: '10', pendingPodConditions: '' });
    expect(cleared.input.pendingPodConditions).toBeUndefined();
    const what = planInputFromFlags({
      from: FIXTURE,
      burst: '10',
      pendingPodConditions: 'Ready, PodScheduled',
    });
    expect(what.input.pendingPodConditions).toEqual(['Ready', 'PodScheduled']);
  });
});
