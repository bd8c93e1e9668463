/**
 * Scenario figures of the plan model with what AgentScaledJob renders for a trigger value v: strategy
 * accurate over amqp, pendingPodConditions [Ready], AGENT_CONCURRENCY = AGENT_MAX_TASKS = v, polls every
 * 30 s, idle exit 30 s, maxReplicaCount unset (KEDA: 100). Every figure below is what the model computes;
 * docs/cli.md quotes them.
 */
import * as path from 'node:path';
import {
  decideScaledJobScale,
  MultipleScalersCalculation,
  ScalingStrategy,
  TOKEN_BUDGET_GATE,
  tokenBudgetGateReading,
} from '@agent-fleet/cdk8s';
import * as fc from 'fast-check';
import { type PlanFlags, planInputFromFlags } from '../src/plan/command';
import { simulatePlan } from '../src/plan/simulate';
import { constructFlags } from './support/construct-flags';
import { cli } from './support/io';

const FIXTURE = path.join(__dirname, 'fixtures', 'gated-scaledjob.k8s.yaml');

const construct = constructFlags;

const plan = (flags: PlanFlags) => simulatePlan(planInputFromFlags(flags).input);

/** At most 10 % above the ideal ceil(N / v) Jobs. */
const bound = (tasks: number, v: number) => Math.ceil(Math.ceil(tasks / v) * 1.1);

const figures = (r: ReturnType<typeof plan>) => ({
  created: r.jobsCreated,
  peakJobs: r.peakJobs,
  drainedAt: r.drainedAt,
  maxWait: r.maxWaitSeconds,
});

const fig = (created: number, peakJobs: number, drainedAt: number, maxWait: number) => ({
  created,
  peakJobs,
  drainedAt,
  maxWait,
});

/**
 * Per trigger value v: the figures of a burst of 200 tasks and of 30 tasks/min for 20 min (Jobs created,
 * peak Jobs, drained at, longest wait). v = 1 in the burst is held back by maxReplicaCount 100: 100 Jobs
 * at once, then one per finished Job.
 */
const FIGURES = [
  [1, fig(200, 100, 410, 230), fig(600, 83, 1397, 48)],
  [2, fig(100, 100, 200, 20), fig(300, 47, 1397, 48)],
  [5, fig(40, 40, 200, 20), fig(120, 21, 1397, 40)],
  [10, fig(20, 20, 200, 20), fig(60, 11, 1397, 40)],
  [50, fig(4, 4, 200, 20), fig(12, 3, 1371, 40)],
] as const;

describe('a burst of 200 tasks (uniform 1-3 min, start-up 20 s)', () => {
  test.each(FIGURES.map(([v, burst]) => [v, burst] as const))(
    'v = %i: each Job takes its v messages as it joins, so Jobs created = ceil(200 / v)',
    (v, expected) => {
      const r = plan(construct(v, { burst: '200' }));
      expect(figures(r)).toEqual(expected);
      expect(r.jobsCreated).toBeLessThanOrEqual(bound(200, v));
      expect(r.completedTasks).toBe(200);
    },
  );

  test('property: for any v in 1..50 and burst N in 1..500, Jobs created <= ceil(ceil(N / v) * 1.1), and it drains', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 1000 }),
        (v, n, seed) => {
          const r = plan(construct(v, { burst: String(n), seed: String(seed) }));
          expect(r.jobsCreated).toBeLessThanOrEqual(bound(n, v));
          expect(r.completedTasks).toBe(n);
          expect(r.drainedAt).toBeDefined();
        },
      ),
      { numRuns: 200 },
    );
  });

  test('one task at a time (concurrency 1) with v = 5 over amqp: the old over-creation', () => {
    // The example's settings (pollingInterval 15 s, maxReplicaCount 500): a started Job lowers the
    // ready count by 1, not 5, so every poll creates Jobs again for messages running Jobs will take.
    const example = plan(construct(5, { burst: '200', concurrency: '1', pollingInterval: '15', max: '500' }));
    expect(figures(example)).toEqual({ created: 138, peakJobs: 138, drainedAt: 353, maxWait: 174 });
    expect(example.jobsCreated).toBeGreaterThan(bound(200, 5));
    // With the library's defaults maxReplicaCount 100 is what stops it.
    const defaults = plan(construct(5, { burst: '200', concurrency: '1' }));
    expect(figures(defaults)).toEqual({ created: 100, peakJobs: 100, drainedAt: 397, maxWait: 219 });
  });
});

describe('steady arrivals: 30 tasks/min for 20 min', () => {
  test.each(FIGURES.map(([v, , steady]) => [v, steady] as const))(
    'v = %i never stalls: every task completes, none waits longer than a poll and a start-up',
    (v, expected) => {
      const r = plan(construct(v, { rate: '30', for: '20m' }));
      expect(figures(r)).toEqual(expected);
      expect(r.completedTasks).toBe(600);
      expect(r.maxWaitSeconds).toBeLessThanOrEqual(30 + 20);
      expect(r.jobsCreated).toBeLessThanOrEqual(bound(600, v));
    },
  );
});

describe('pods Pending for 2-4 min (slow node scale-up)', () => {
  const slow = (v: number, conditions: string) =>
    plan(construct(v, { burst: '200', podPending: 'uniform:2m-4m', pendingPodConditions: conditions }));

  test.each([
    // v, [Ready], [PodScheduled]
    [1, 220, 220],
    [2, 100, 100],
    [5, 40, 47],
    [10, 20, 24],
    [50, 4, 5],
  ])('v = %i: [Ready] creates %i Jobs, within the bound; [PodScheduled] %i', (v, ready, scheduled) => {
    expect(slow(v, 'Ready').jobsCreated).toBe(ready);
    expect(ready).toBeLessThanOrEqual(bound(200, v));
    // PodScheduled ends "pending" 20 s before the agent holds its messages: a poll in that gap
    // counts them again.
    expect(slow(v, 'PodScheduled').jobsCreated).toBe(scheduled);
  });

  test('[PodScheduled] multiplies Jobs beyond the bound, which is why the construct rejects it', () => {
    for (const v of [5, 10]) {
      expect(slow(v, 'PodScheduled').jobsCreated).toBeGreaterThan(bound(200, v));
    }
  });

  test("near maxReplicaCount accurate does not subtract pending Jobs (KEDA's formula): 57 tasks, v = 1", () => {
    // accurate: maxScale + running > maxReplicaCount ? maxReplicaCount - running : maxScale - pending.
    // At 30 s: 57 ready, 57 Jobs all Pending; 57 + 57 > 100, so 100 - 57 = 43 more Jobs for messages the
    // Pending Jobs will take.
    const capped = plan(construct(1, { burst: '57', podPending: 'uniform:2m-4m' }));
    expect(capped.polls.slice(0, 3).map((p) => p.created)).toEqual([57, 43, 0]);
    expect(capped.jobsCreated).toBe(101);
    expect(capped.jobsCreated).toBeGreaterThan(bound(57, 1));
    // With maxReplicaCount at least twice the Jobs the backlog asks for, that branch is never taken.
    expect(plan(construct(1, { burst: '57', podPending: 'uniform:2m-4m', max: '114' })).jobsCreated).toBe(57);
  });
});

describe('the token-budget gate', () => {
  const arrivals = { rate: '30', for: '20m', llmTokensPerTask: '20000' };

  test('a naive "remaining budget" trigger under min caps nothing; the gate caps', () => {
    const queue = { queueLength: 10, targetValue: 1 };
    const decide = (scalers: Parameters<typeof decideScaledJobScale>[0]['scalers']) =>
      decideScaledJobScale({
        scalers,
        runningJobs: 0,
        scalingStrategy: ScalingStrategy.accurate(),
        multipleScalersCalculation: MultipleScalersCalculation.MIN,
      }).jobsToCreate;
    // Budget spent: a trigger reporting the remaining budget reads 0, which is not above its
    // activation 0, so min ignores it, before or after the queue.
    const spent = { queueLength: 0, targetValue: 1, activationValue: 0 };
    expect(decide([queue, spent])).toBe(10);
    expect(decide([spent, queue])).toBe(10);
    // The gate reads an active 0 once the budget is spent; last, it replaces the queue's reading.
    expect(tokenBudgetGateReading(300_000, 300_000).queueLength).toBe(TOKEN_BUDGET_GATE.closed);
    expect(decide([queue, tokenBudgetGateReading(300_000, 300_000)])).toBe(0);
    // While tokens remain it reads -1, inactive: the queue alone decides.
    expect(decide([queue, tokenBudgetGateReading(299_999, 300_000)])).toBe(10);
  });

  test('tasks keep arriving above the budget: no Job while closed, it reopens and Jobs resume', () => {
    // 30 tasks/min of 20000 tokens over 1-3 min each ask for about 600000 tokens/min; budget 300000.
    const r = plan(construct(5, { ...arrivals, tokenBudget: '300000' }));
    const closed = r.polls.filter((p) => p.gateClosed);
    expect(closed.length).toBeGreaterThan(0);
    expect(closed.every((p) => p.created === 0)).toBe(true);
    // Reopened polls that create Jobs, after a closed one.
    const resumed = r.polls.filter(
      (p, i) => i > 0 && r.polls[i - 1]!.gateClosed && !p.gateClosed && p.created > 0,
    );
    expect(resumed.map((p) => [p.time, p.created])).toEqual([
      [270, 15],
      [510, 21],
      [750, 21],
      [990, 21],
      [1230, 17],
    ]);
    expect(r.polls.find((p) => p.gateClosed)).toMatchObject({ time: 150, ready: 11, created: 0 });
    expect(r.tokenBudget).toMatchObject({
      budgetPerMinute: 300_000,
      windowSeconds: 120,
      closedPolls: 33,
      closedSeconds: 977,
      jobsCreatedWhileClosed: 0,
    });
    expect(Math.round(r.tokenBudget!.peakTokensPerMinute)).toBe(1_021_435);
    expect(figures(r)).toEqual({ created: 120, peakJobs: 24, drainedAt: 1427, maxWait: 220 });
    expect(r.completedTasks).toBe(600);
  });

  test('the gate does not bound the rate; maxReplicaCount from the capacity guard does', () => {
    // A gate that never closes is no gate at all: the same Jobs as without one.
    const open = plan(construct(5, { ...arrivals, tokenBudget: '1e12' }));
    expect(open.tokenBudget!.closedPolls).toBe(0);
    expect(figures(open)).toEqual(figures(plan(construct(5, { rate: '30', for: '20m' }))));
    expect(Math.round(open.tokenBudget!.peakTokensPerMinute)).toBe(626_189);
    // Closed, the backlog grows; reopened, accurate creates Jobs for all of it at once: the measured
    // peak rises above the ungated one.
    const gated = plan(construct(5, { ...arrivals, tokenBudget: '300000' }));
    expect(gated.tokenBudget!.peakTokensPerMinute).toBeGreaterThan(open.tokenBudget!.peakTokensPerMinute);
    // The guard's maxReplicaCount for this budget: 300000 / (5 tasks x 10000 tokens/min) = 6 Jobs.
    const capped = plan(construct(5, { ...arrivals, tokenBudget: '300000', max: '6', horizon: '3h' }));
    expect(capped.tokenBudget!.closedPolls).toBe(0);
    expect(Math.round(capped.tokenBudget!.peakTokensPerMinute)).toBe(257_604);
    expect(figures(capped)).toEqual({ created: 120, peakJobs: 6, drainedAt: 4037, maxWait: 2680 });
  });

  test("with the guard's maxReplicaCount, tasks costing twice their profile close the gate", () => {
    // The guard sized 6 Jobs for 20000-token tasks (300000 / (5 × 10000)); they cost 40000.
    const costly = {
      ...{ rate: '30', for: '20m', llmTokensPerTask: '40000', llmRequestsPerTask: '10' },
      ...{ max: '6', horizon: '3h' },
    };
    const ungated = plan(construct(5, costly));
    const gated = plan(construct(5, { ...costly, tokenBudget: '300000' }));
    expect(ungated.llmPeak?.tokensPerMinute).toBe(600_000);
    expect(gated.tokenBudget).toMatchObject({
      closedPolls: 80,
      closedSeconds: 2387,
      jobsCreatedWhileClosed: 0,
    });
    expect(gated.polls).toHaveLength(141);
    // Jobs already running finish the tasks they hold: the measured rate falls with that lag.
    expect(Math.round(gated.tokenBudget!.peakTokensPerMinute)).toBe(529_698);
    expect(figures(ungated)).toEqual({ created: 120, peakJobs: 6, drainedAt: 4037, maxWait: 2680 });
    expect(figures(gated)).toEqual({ created: 120, peakJobs: 6, drainedAt: 4217, maxWait: 2900 });
  });

  test('the gate needs min and the tokens per task', () => {
    expect(() => planInputFromFlags(construct(5, { burst: '10', tokenBudget: '1000' }))).toThrow(
      /token-budget gate needs the tokens one task consumes: pass --llm-tokens-per-task/,
    );
    expect(() => planInputFromFlags(construct(5, { burst: '10', tokenWindow: '1m' }))).toThrow(
      /--token-window goes with --token-budget/,
    );
  });
});

describe('--from the construct-shaped manifest', () => {
  const workload = { rate: '30', for: '20m', taskDuration: 'uniform:1m-3m', startup: '20s' };

  test('reads concurrency, the LLM annotations and the gate: the same result as the equivalent flags', () => {
    const fromFile = planInputFromFlags({ from: FIXTURE, ...workload });
    expect(fromFile.notes).toEqual([]);
    expect(fromFile.input).toMatchObject({
      concurrency: 5,
      maxTasks: 5,
      idleExitSeconds: 30,
      pendingPodConditions: ['Ready'],
      scaledJob: { value: 5, maxReplicaCount: 40, multipleScalersCalculation: 'min' },
      llm: { requestsPerTask: 10, tokensPerTask: 20000, requestsPerMinute: 1000, tokensPerMinute: 375000 },
      tokenBudget: { budgetPerMinute: 300000, windowSeconds: 120, tokensPerTask: 20000 },
    });
    const flags = construct(5, {
      ...workload,
      max: '40',
      llmRequestsPerTask: '10',
      llmTokensPerTask: '20000',
      llmRpm: '1000',
      llmTpm: '375000',
      llmUtilization: '0.8',
      tokenBudget: '300000',
      tokenWindow: '2m',
    });
    const a = simulatePlan(fromFile.input);
    expect(a).toEqual(plan(flags));
    expect(a.tokenBudget!.closedPolls).toBeGreaterThan(0);
    // The guard with the manifest's figures and 5 tasks per Job at once.
    expect(a.llmCapacity).toMatchObject({ maxReplicaCount: 6, bindingLimit: 'tokens', concurrency: 5 });
  });

  test('the text output shows the gate columns, the figures and the guard', async () => {
    const workloadFlags = '--rate 30 --for 20m --task-duration uniform:1m-3m --startup 20s'.split(' ');
    const run = await cli(['plan', '--from', FIXTURE, ...workloadFlags]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /time \(s\) +ready +unacked +metric +running +pending +created +tokens\/min +gate/,
    );
    expect(run.stdout).toMatch(/^ +150 +11 +57 +11 +13 +0 +0 +336096\.6 +closed$/m);
    expect(run.stdout).toMatch(
      /token-budget gate \(llm-token-budget, budget 300000 tokens\/min over a 120 s window\): closed at 33 of 48 polls \(977 s\), Jobs created while closed 0; peak measured 1021435\.1 tokens\/min/,
    );
    expect(run.stdout).toMatch(/safe maxReplicaCount 6 \(bound by tokens, 5 task\(s\) per Job at once\)/);
    expect(run.stdout).toMatch(
      /LLM load at peak \(120 tasks running at once, 120 s per task from the manifest\)/,
    );
  });

  test('flags override the annotations, with a note', () => {
    const { input, notes } = planInputFromFlags({
      from: FIXTURE,
      burst: '10',
      tokenBudget: '250000',
      llmTpm: '400000',
      concurrency: '1',
    });
    expect(input.tokenBudget?.budgetPerMinute).toBe(250000);
    expect(input.llm?.tokensPerMinute).toBe(400000);
    expect(input.concurrency).toBe(1);
    expect(notes).toEqual([
      "--llm-tpm 400000 overrides the manifest's agent-fleet.dev/llm-gateway-tokens-per-minute (375000).",
      "--token-budget 250000 overrides the manifest's agent-fleet.dev/llm-token-budget-per-minute (300000).",
    ]);
  });
});
