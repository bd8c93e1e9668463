import { Chart, Duration, Testing } from 'cdk8s';
import fc from 'fast-check';
import {
  AgentScaledJob,
  decideScaledJobScale,
  MultipleScalersCalculation,
  QueueConnection,
  type ScalerMetric,
  ScalingStrategy,
  TOKEN_BUDGET_GATE,
  tokenBudgetGateQuery,
  tokenBudgetGateReading,
} from '../../lib';
import { only, synthValid } from '../support/manifests';
import { testRules } from '../support/promtool';

const accurate = ScalingStrategy.accurate();
const MIN = MultipleScalersCalculation.MIN;

const cycle = fc.record({
  ready: fc.integer({ min: 0, max: 5000 }),
  value: fc.integer({ min: 1, max: 50 }),
  running: fc.integer({ min: 0, max: 200 }),
  pendingShare: fc.double({ min: 0, max: 1, noNaN: true }),
  max: fc.integer({ min: 1, max: 300 }),
});

type Cycle = typeof cycle extends fc.Arbitrary<infer T> ? T : never;

function input(c: Cycle, scalers: ScalerMetric[]) {
  const running = Math.min(c.running, c.max);
  return {
    scalers,
    runningJobs: running,
    pendingJobs: Math.floor(running * c.pendingShare),
    maxReplicaCount: c.max,
    scalingStrategy: accurate,
    multipleScalersCalculation: MIN,
  };
}

describe("the token budget gate under KEDA 2.16's multi-trigger arithmetic", () => {
  test('open: the queue alone decides, as if the gate were not there', () => {
    fc.assert(
      fc.property(cycle, (c) => {
        const queue = { queueLength: c.ready, targetValue: c.value };
        const alone = decideScaledJobScale({ ...input(c, [queue]), multipleScalersCalculation: undefined });
        const gated = decideScaledJobScale(input(c, [queue, tokenBudgetGateReading(1000, 160_000)]));
        expect(gated.jobsToCreate).toBe(alone.jobsToCreate);
      }),
    );
  });

  test('closed: no Job is created, whatever the queue holds', () => {
    fc.assert(
      fc.property(cycle, fc.integer({ min: 160_000, max: 10_000_000 }), (c, tpm) => {
        const queue = { queueLength: c.ready, targetValue: c.value };
        const gated = decideScaledJobScale(input(c, [queue, tokenBudgetGateReading(tpm, 160_000)]));
        expect(gated.jobsToCreate).toBe(0);
      }),
    );
  });

  test('why a gate, placed last: a "remaining budget" trigger, or the gate placed first, caps nothing', () => {
    const queue = { queueLength: 200, targetValue: 5 };
    const base = {
      runningJobs: 0,
      pendingJobs: 0,
      scalingStrategy: accurate,
      multipleScalersCalculation: MIN,
    };
    // Remaining budget 0 with the default activation 0: inactive, so `min` ignores it.
    const remaining = { queueLength: 0, targetValue: 1 };
    expect(decideScaledJobScale({ ...base, scalers: [queue, remaining] }).jobsToCreate).toBe(40);
    // The closed gate seen first: `min` replaces a 0 minimum with the next trigger's reading.
    const closed = tokenBudgetGateReading(200_000, 160_000);
    expect(decideScaledJobScale({ ...base, scalers: [closed, queue] }).jobsToCreate).toBe(40);
    expect(decideScaledJobScale({ ...base, scalers: [queue, closed] }).jobsToCreate).toBe(0);
    // An empty queue and an open gate: nothing is active, nothing is created.
    const open = tokenBudgetGateReading(0, 160_000);
    expect(
      decideScaledJobScale({ ...base, scalers: [{ queueLength: 0, targetValue: 5 }, open] }).isActive,
    ).toBe(false);
  });

  test('the query rejects a budget that is not a positive number', () => {
    expect(() => tokenBudgetGateQuery({ tokenBudgetPerMinute: 0, tokensPerMinute: 'x' })).toThrow(
      /tokenBudgetPerMinute must be a finite number > 0, got 0/,
    );
  });
});

describe('the synthesized gate query under a real PromQL engine (promtool)', () => {
  // 50000 tpm gateway at 0.8 utilization: the gate closes at 40000 tokens/min.
  const chart = new Chart(Testing.app(), 'fleet', { namespace: 'agents' });
  new AgentScaledJob(chart, 'Agents', {
    name: 'research',
    image: 'registry.example.com/agent:1.0.0',
    queue: QueueConnection.fromSecretName('agent-secrets', 'url'),
    llmCapacity: {
      gateway: { requestsPerMinute: 1000, tokensPerMinute: 50_000 },
      task: { requestsPerTask: 1, tokensPerTask: 1000, taskDuration: Duration.minutes(1) },
      tokenBudgetGate: { prometheusUrl: 'http://prometheus.monitoring.svc:9090' },
    },
  });
  const scaledJob = only(synthValid(chart), 'ScaledJob');
  const query: string = scaledJob.spec.triggers[1].metadata.query;
  const series = '{namespace="agents",agent_fleet_dev_workload="research",pod="research-abcde-fghij"}';

  /** promtool's verdict on "the gate query evaluates to `value` at `evalTime`" for `values`. */
  function holds(values: string, evalTime: string, value: number, labels = series) {
    const tests = [
      {
        interval: '15s',
        input_series: [{ series: `agent_llm_tokens_total${labels}`, values }],
        promql_expr_test: [{ expr: query, eval_time: evalTime, exp_samples: [{ labels: '{}', value }] }],
      },
    ];
    return testRules([], tests, '15s');
  }

  // 5 min at 1000 tokens / 15 s (4000/min), 5 min at 12000 / 15 s (48000/min), then nothing.
  const values = '0+1000x20 20000+12000x20 260000+0x40';

  test.each([
    ['4m', 'below the budget', TOKEN_BUDGET_GATE.open],
    ['9m', 'above the budget', TOKEN_BUDGET_GATE.closed],
    ['19m', 'once the window has passed', TOKEN_BUDGET_GATE.open],
  ])('at %s (%s) it reads %p, and not the other value', (at, _why, value) => {
    const r = holds(values, at, value);
    expect(r.output).not.toMatch(/FAILED/);
    expect(r.ok).toBe(true);
    const other = value === TOKEN_BUDGET_GATE.open ? TOKEN_BUDGET_GATE.closed : TOKEN_BUDGET_GATE.open;
    expect(holds(values, at, other).ok).toBe(false);
  });

  test('a fleet that exported no token series yet is not held back', () => {
    const r = holds('0+99999x20', '4m', TOKEN_BUDGET_GATE.open, '{namespace="other"}');
    expect(r.output).not.toMatch(/FAILED/);
    expect(r.ok).toBe(true);
  });
});
