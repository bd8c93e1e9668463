import { Duration } from 'cdk8s';
import fc from 'fast-check';
import {
  DEFAULT_LLM_MAX_UTILIZATION,
  type LlmCapacityInput,
  type LlmTaskProfile,
  llmCapacityGuard,
  llmLoadForTasks,
} from '../../lib';

describe('llmCapacityGuard: hand-computed cases', () => {
  test('tokens bind: 500 rpm / 200k tpm gateway, 10 requests and 20k tokens per 2-minute task', () => {
    // Per Job: 10 * 60 / 120 = 5 rpm, 20000 * 60 / 120 = 10000 tpm.
    // Budgets at 80%: 400 rpm -> 80 Jobs; 160000 tpm -> 16 Jobs.
    const r = llmCapacityGuard({
      gateway: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
      task: { requestsPerTask: 10, tokensPerTask: 20_000, taskDuration: Duration.minutes(2) },
    });
    expect(r).toEqual({
      maxReplicaCount: 16,
      bindingLimit: 'tokens',
      maxJobsByRequests: 80,
      maxJobsByTokens: 16,
      requestsPerMinutePerJob: 5,
      tokensPerMinutePerJob: 10_000,
      requestBudgetPerMinute: 400,
      tokenBudgetPerMinute: 160_000,
      concurrency: 1,
      maxUtilization: 0.8,
      taskDurationSeconds: 120,
      peakLoad: { requestsPerMinute: 80, tokensPerMinute: 160_000 },
    });
  });

  test('a Job running 5 tasks at once counts as 5 tasks: 16 tasks fit, so 3 Jobs', () => {
    // Per Job: 5 * 10000 = 50000 tpm; 160000 / 50000 = 3.2 -> 3 Jobs (15 tasks at once).
    const r = llmCapacityGuard({
      gateway: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
      task: { requestsPerTask: 10, tokensPerTask: 20_000, taskDuration: Duration.minutes(2) },
      concurrency: 5,
    });
    expect(r).toMatchObject({
      maxReplicaCount: 3,
      bindingLimit: 'tokens',
      maxJobsByRequests: 16,
      tokensPerMinutePerJob: 50_000,
      concurrency: 5,
      peakLoad: { requestsPerMinute: 75, tokensPerMinute: 150_000 },
    });
  });

  test.each([0, 1.5, -2])('rejects concurrency %p, naming the field', (concurrency) => {
    expect(() =>
      llmCapacityGuard({
        gateway: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
        task: { requestsPerTask: 10, tokensPerTask: 20_000, taskDuration: Duration.minutes(2) },
        concurrency,
      }),
    ).toThrow(/concurrency must be a whole number of at least 1, got -?[\d.]+\..*AGENT_CONCURRENCY/);
  });

  test('requests bind: 60 rpm gateway, 6 requests per 30-second task', () => {
    // Per Job: 12 rpm, 6000 tpm. Budgets: 48 rpm -> 4 Jobs; 800000 tpm -> 133 Jobs (133.3).
    const r = llmCapacityGuard({
      gateway: { requestsPerMinute: 60, tokensPerMinute: 1_000_000 },
      task: { requestsPerTask: 6, tokensPerTask: 3000, taskDuration: Duration.seconds(30) },
    });
    expect(r).toMatchObject({
      maxReplicaCount: 4,
      bindingLimit: 'requests',
      maxJobsByRequests: 4,
      maxJobsByTokens: 133,
    });
  });

  test('both bind at full utilization: 120 rpm / 120k tpm, 2 requests and 2k tokens per minute-long task', () => {
    const r = llmCapacityGuard({
      gateway: { requestsPerMinute: 120, tokensPerMinute: 120_000 },
      task: { requestsPerTask: 2, tokensPerTask: 2000, taskDuration: Duration.minutes(1) },
      maxUtilization: 1,
    });
    expect(r).toMatchObject({
      maxReplicaCount: 60,
      bindingLimit: 'both',
      peakLoad: { requestsPerMinute: 120 },
    });
  });

  test('one Job already too heavy: 0', () => {
    // 20 requests per minute-long task = 20 rpm per Job; budget 8 rpm.
    const r = llmCapacityGuard({
      gateway: { requestsPerMinute: 10, tokensPerMinute: 1_000_000 },
      task: { requestsPerTask: 20, tokensPerTask: 100, taskDuration: Duration.minutes(1) },
    });
    expect(r).toMatchObject({
      maxReplicaCount: 0,
      bindingLimit: 'requests',
      peakLoad: { requestsPerMinute: 0 },
    });
  });

  test('fractional figures and a plain duration object: 2.5 requests per 90 s, 45% of 100 rpm', () => {
    // Per Job: 2.5 * 60 / 90 = 1.6667 rpm; budget 45 rpm -> 27 Jobs (27 * 1.6667 = 45).
    const r = llmCapacityGuard({
      gateway: { requestsPerMinute: 100, tokensPerMinute: 10_000_000 },
      task: { requestsPerTask: 2.5, tokensPerTask: 1234.5, taskDuration: { toSeconds: () => 90 } },
      maxUtilization: 0.45,
    });
    expect(r.maxJobsByRequests).toBe(27);
    expect(r.maxReplicaCount).toBe(27);
  });

  test('sub-second precision is kept: Duration.millis(1500)', () => {
    const r = llmCapacityGuard({
      gateway: { requestsPerMinute: 1000, tokensPerMinute: 1_000_000 },
      task: { requestsPerTask: 1, tokensPerTask: 10, taskDuration: Duration.millis(1500) },
    });
    expect(r.taskDurationSeconds).toBe(1.5);
    expect(r.requestsPerMinutePerJob).toBe(40);
    expect(r.maxReplicaCount).toBe(20); // 800 / 40
  });

  test('the default utilization is 80%', () => {
    expect(DEFAULT_LLM_MAX_UTILIZATION).toBe(0.8);
  });

  test('llmLoadForTasks gives the load of a number of busy tasks', () => {
    const task = { requestsPerTask: 10, tokensPerTask: 20_000, taskDuration: Duration.minutes(2) };
    expect(llmLoadForTasks(3, task)).toEqual({ requestsPerMinute: 15, tokensPerMinute: 30_000 });
    expect(llmLoadForTasks(0, task)).toEqual({ requestsPerMinute: 0, tokensPerMinute: 0 });
  });
});

describe('llmCapacityGuard: validation', () => {
  const task: LlmTaskProfile = { requestsPerTask: 1, tokensPerTask: 1, taskDuration: Duration.seconds(10) };
  const ok: LlmCapacityInput = { gateway: { requestsPerMinute: 100, tokensPerMinute: 100 }, task };
  test.each<[string, LlmCapacityInput, RegExp]>([
    [
      'zero rpm',
      { ...ok, gateway: { requestsPerMinute: 0, tokensPerMinute: 100 } },
      /gateway\.requestsPerMinute must be a finite number > 0, got 0/,
    ],
    [
      'NaN tpm',
      { ...ok, gateway: { requestsPerMinute: 1, tokensPerMinute: Number.NaN } },
      /gateway\.tokensPerMinute .* got NaN/,
    ],
    ['negative tokens', { ...ok, task: { ...task, tokensPerTask: -1 } }, /task\.tokensPerTask .* got -1/],
    ['zero requests', { ...ok, task: { ...task, requestsPerTask: 0 } }, /task\.requestsPerTask .* got 0/],
    [
      'zero duration',
      { ...ok, task: { ...task, taskDuration: Duration.seconds(0) } },
      /task\.taskDuration must be longer than 0 seconds, got 0 s/,
    ],
    [
      'not a duration',
      { ...ok, task: { ...task, taskDuration: 120 as unknown as Duration } },
      /task\.taskDuration must be a duration with toSeconds\(\), got 120.*Duration\.minutes/,
    ],
    [
      'utilization above 1',
      { ...ok, maxUtilization: 1.5 },
      /maxUtilization must be a fraction in \(0, 1\], got 1\.5/,
    ],
    ['utilization 0', { ...ok, maxUtilization: 0 }, /maxUtilization .* got 0/],
    [
      'missing gateway',
      { ...ok, gateway: undefined as unknown as LlmCapacityInput['gateway'] },
      /gateway must be an object, got undefined/,
    ],
  ])('%s', (_name, input, message) => {
    expect(() => llmCapacityGuard(input)).toThrow(message);
  });

  test('llmLoadForTasks rejects a fractional task count', () => {
    expect(() => llmLoadForTasks(1.5, task)).toThrow(/busyTasks must be a non-negative integer, got 1\.5/);
  });
});

const inputArb: fc.Arbitrary<LlmCapacityInput> = fc.record({
  gateway: fc.record({
    requestsPerMinute: fc.oneof(
      fc.integer({ min: 1, max: 100_000 }),
      fc.double({ min: 0.5, max: 1e5, noNaN: true }),
    ),
    tokensPerMinute: fc.oneof(
      fc.integer({ min: 1, max: 10_000_000 }),
      fc.double({ min: 1, max: 1e7, noNaN: true }),
    ),
  }),
  task: fc.record({
    requestsPerTask: fc.oneof(
      fc.integer({ min: 1, max: 200 }),
      fc.double({ min: 0.1, max: 200, noNaN: true }),
    ),
    tokensPerTask: fc.oneof(
      fc.integer({ min: 1, max: 2_000_000 }),
      fc.double({ min: 1, max: 2e6, noNaN: true }),
    ),
    taskDuration: fc.integer({ min: 1, max: 7200 }).map((s) => Duration.seconds(s)),
  }),
  maxUtilization: fc.option(fc.double({ min: 0.05, max: 1, noNaN: true }), { nil: undefined }),
});

describe('llmCapacityGuard: properties', () => {
  test('maxReplicaCount busy Jobs fit both budgets, and one more Job exceeds at least one', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = llmCapacityGuard(input);
        const seconds = input.task.taskDuration.toSeconds();
        const utilization = input.maxUtilization ?? 0.8;
        // Recomputed from the inputs, independently of the result's own figures.
        const rpmPerJob = (input.task.requestsPerTask * 60) / seconds;
        const tpmPerJob = (input.task.tokensPerTask * 60) / seconds;
        const rpmBudget = input.gateway.requestsPerMinute * utilization;
        const tpmBudget = input.gateway.tokensPerMinute * utilization;
        const n = r.maxReplicaCount;
        expect(Number.isInteger(n) && n >= 0).toBe(true);
        expect(n * rpmPerJob).toBeLessThanOrEqual(rpmBudget);
        expect(n * tpmPerJob).toBeLessThanOrEqual(tpmBudget);
        expect((n + 1) * rpmPerJob > rpmBudget || (n + 1) * tpmPerJob > tpmBudget).toBe(true);
        // ...and it agrees with the plain real-number formula up to float rounding.
        const exact = Math.min(rpmBudget / rpmPerJob, tpmBudget / tpmPerJob);
        expect(Math.abs(n - Math.floor(exact))).toBeLessThanOrEqual(1);
      }),
    );
  });

  test('bindingLimit names the smaller per-limit count', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = llmCapacityGuard(input);
        expect(r.maxReplicaCount).toBe(Math.min(r.maxJobsByRequests, r.maxJobsByTokens));
        const expected =
          r.maxJobsByRequests === r.maxJobsByTokens
            ? 'both'
            : r.maxJobsByRequests < r.maxJobsByTokens
              ? 'requests'
              : 'tokens';
        expect(r.bindingLimit).toBe(expected);
      }),
    );
  });

  test('more gateway capacity or longer tasks never lower it; heavier tasks never raise it', () => {
    fc.assert(
      fc.property(inputArb, fc.double({ min: 1, max: 10, noNaN: true }), (input, factor) => {
        const base = llmCapacityGuard(input).maxReplicaCount;
        const biggerGateway = llmCapacityGuard({
          ...input,
          gateway: {
            requestsPerMinute: input.gateway.requestsPerMinute * factor,
            tokensPerMinute: input.gateway.tokensPerMinute * factor,
          },
        }).maxReplicaCount;
        const longerTasks = llmCapacityGuard({
          ...input,
          task: {
            ...input.task,
            taskDuration: Duration.seconds(Math.ceil(input.task.taskDuration.toSeconds() * factor)),
          },
        }).maxReplicaCount;
        const heavierTasks = llmCapacityGuard({
          ...input,
          task: { ...input.task, tokensPerTask: input.task.tokensPerTask * factor },
        }).maxReplicaCount;
        expect(biggerGateway).toBeGreaterThanOrEqual(base);
        expect(longerTasks).toBeGreaterThanOrEqual(base);
        expect(heavierTasks).toBeLessThanOrEqual(base);
      }),
    );
  });

  test('peakLoad is llmLoadForTasks(maxReplicaCount × concurrency), and one more Job would not fit', () => {
    fc.assert(
      fc.property(inputArb, fc.integer({ min: 1, max: 50 }), (input, concurrency) => {
        const r = llmCapacityGuard({ ...input, concurrency });
        const expected = llmLoadForTasks(r.maxReplicaCount * concurrency, input.task);
        expect(r.peakLoad.requestsPerMinute).toBeCloseTo(expected.requestsPerMinute, 6);
        expect(r.peakLoad.tokensPerMinute).toBeCloseTo(expected.tokensPerMinute, 6);
        const n = r.maxReplicaCount + 1;
        expect(
          n * r.requestsPerMinutePerJob > r.requestBudgetPerMinute ||
            n * r.tokensPerMinutePerJob > r.tokenBudgetPerMinute,
        ).toBe(true);
      }),
    );
  });
});
