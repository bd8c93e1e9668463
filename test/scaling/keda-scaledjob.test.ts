import fc from 'fast-check';
import {
  decideScaledJobScale,
  KedaDefaults,
  kedaMaxReplicaCount,
  MultipleScalersCalculation,
  RabbitMqProtocol,
  rabbitMqQueueLengthMetric,
  type ScaledJobScaleInput,
  ScalingStrategy,
  type ScalingStrategyName,
} from '../../lib';

const { AMQP, HTTP } = RabbitMqProtocol;

/** Jobs created for a single trigger. */
function jobs(
  queueLength: number,
  targetValue: number,
  rest: Omit<ScaledJobScaleInput, 'scalers'> = { runningJobs: 0 },
): number {
  return decideScaledJobScale({ scalers: [{ queueLength, targetValue }], ...rest }).jobsToCreate;
}

describe('decideScaledJobScale: the tutorial', () => {
  test('50 ready messages, value 5, idle fleet -> 10 Jobs', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 50, targetValue: 5 }],
      runningJobs: 0,
      maxReplicaCount: 500,
    });
    expect(d).toMatchObject({
      jobsToCreate: 10,
      isActive: true,
      queueLength: 50,
      maxScale: 10,
      maxScaleUnrounded: 10,
      kedaMaxReplicaCount: 500,
      path: 'strategy',
      effectiveStrategy: 'default',
      rawEffectiveMaxScale: 10,
      effectiveMaxScale: 10,
      scaleTo: 50,
    });
  });

  test('10 messages, value 5 -> 2 Jobs', () => {
    expect(jobs(10, 5, { runningJobs: 0, maxReplicaCount: 500 })).toBe(2);
  });

  test('an empty queue creates nothing and is not active', () => {
    const d = decideScaledJobScale({ scalers: [{ queueLength: 0, targetValue: 5 }], runningJobs: 0 });
    expect(d.jobsToCreate).toBe(0);
    expect(d.isActive).toBe(false);
  });
});

describe('decideScaledJobScale: amqp counts ready messages only (kedacore/keda#6571)', () => {
  // 10 Jobs are running, each holding one unacknowledged message; 10 more messages are ready.
  const depth = { ready: 10, unacknowledged: 10 };
  const base = { runningJobs: 10, pendingJobs: 0, maxReplicaCount: 20 };

  test('the amqp metric is 10 and the http metric is 20', () => {
    expect(rabbitMqQueueLengthMetric(depth, { protocol: AMQP })).toBe(10);
    expect(rabbitMqQueueLengthMetric(depth, { protocol: HTTP })).toBe(20);
    expect(rabbitMqQueueLengthMetric(depth, { protocol: HTTP, excludeUnacknowledged: true })).toBe(10);
  });

  test('default over amqp subtracts in-flight work twice and creates nothing: the stall', () => {
    const queueLength = rabbitMqQueueLengthMetric(depth, { protocol: AMQP });
    const d = decideScaledJobScale({ scalers: [{ queueLength, targetValue: 1 }], ...base });
    expect(d).toMatchObject({ maxScale: 10, rawEffectiveMaxScale: 0, jobsToCreate: 0, isActive: true });
  });

  test('accurate over amqp creates one Job per ready message', () => {
    const queueLength = rabbitMqQueueLengthMetric(depth, { protocol: AMQP });
    const d = decideScaledJobScale({
      scalers: [{ queueLength, targetValue: 1 }],
      ...base,
      scalingStrategy: ScalingStrategy.accurate(),
    });
    // maxScale + running = 20, not above 20, so accurate returns maxScale - pending = 10.
    expect(d).toMatchObject({ maxScale: 10, rawEffectiveMaxScale: 10, jobsToCreate: 10 });
  });

  test('default over http (ready + unacked) also creates the 10 Jobs', () => {
    const queueLength = rabbitMqQueueLengthMetric(depth, { protocol: HTTP });
    expect(jobs(queueLength, 1, base)).toBe(10);
  });

  test('the same stall at the tutorial value 5: 50 ready, 10 Jobs busy', () => {
    const rest = { runningJobs: 10, maxReplicaCount: 500 };
    expect(jobs(50, 5, rest)).toBe(0);
    expect(jobs(50, 5, { ...rest, scalingStrategy: ScalingStrategy.accurate() })).toBe(10);
  });
});

describe('decideScaledJobScale: one case where every strategy differs', () => {
  // queue 5, value 1, max 10, 3 running of which 1 pending -> maxScale 5.
  const rest = { runningJobs: 3, pendingJobs: 1, maxReplicaCount: 10 };
  const cases: Array<[string, ScalingStrategy, number]> = [
    ['default: maxScale - running = 5 - 3', ScalingStrategy.default(), 2],
    [
      'custom: maxScale - 1 - trunc(3 * 0.5) = 5 - 1 - 1',
      ScalingStrategy.fromSpec({
        strategy: 'custom',
        customScalingQueueLengthDeduction: 1,
        customScalingRunningJobPercentage: '0.5',
      }),
      3,
    ],
    ['accurate: 5 + 3 <= 10, so maxScale - pending = 5 - 1', ScalingStrategy.accurate(), 4],
    ['eager: min(10 - 3 - 1, 5)', ScalingStrategy.eager(), 5],
  ];
  test.each(cases)('%s', (_name, scalingStrategy, expected) => {
    expect(jobs(5, 1, { ...rest, scalingStrategy })).toBe(expected);
  });
});

describe('decideScaledJobScale: KEDA unit-test figures (pkg/scaling/executor/scale_jobs_test.go)', () => {
  test('default: (maxScale 3, running 2, max 5) -> 1 and (2, 0, 5) -> 2', () => {
    expect(jobs(3, 1, { runningJobs: 2, maxReplicaCount: 5 })).toBe(1);
    expect(jobs(2, 1, { runningJobs: 0, maxReplicaCount: 5 })).toBe(2);
  });

  test('custom (deduction 1, "0.5"): (3, 2, max 5) -> 1 and (10, 0, max 10) -> 9', () => {
    const scalingStrategy = ScalingStrategy.fromSpec({
      strategy: 'custom',
      customScalingQueueLengthDeduction: 1,
      customScalingRunningJobPercentage: '0.5',
    });
    expect(jobs(3, 1, { runningJobs: 2, maxReplicaCount: 5, scalingStrategy })).toBe(1);
    expect(jobs(10, 1, { runningJobs: 0, maxReplicaCount: 10, scalingStrategy })).toBe(9);
  });

  test('custom (deduction 2, "0"): (3, 2, max 5) -> 1', () => {
    const scalingStrategy = ScalingStrategy.fromSpec({
      strategy: 'custom',
      customScalingQueueLengthDeduction: 2,
      customScalingRunningJobPercentage: '0',
    });
    expect(jobs(3, 1, { runningJobs: 2, maxReplicaCount: 5, scalingStrategy })).toBe(1);
  });

  test('custom (deduction -2, "0"): effective max scale capped at max 4, Jobs capped by the queue (3)', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 3, targetValue: 1 }],
      runningJobs: 2,
      maxReplicaCount: 4,
      scalingStrategy: ScalingStrategy.fromSpec({
        strategy: 'custom',
        customScalingQueueLengthDeduction: -2,
        customScalingRunningJobPercentage: '0',
      }),
    });
    expect(d.rawEffectiveMaxScale).toBe(4);
    expect(d.jobsToCreate).toBe(3);
  });

  test('accurate: (3, 2, 0, 5) -> 3; (5, 2, 0, 5) -> 3; (3, 4, 2, 10) -> 1; (5, 4, 2, 5) -> 1', () => {
    const accurate = ScalingStrategy.accurate();
    expect(jobs(3, 1, { runningJobs: 2, maxReplicaCount: 5, scalingStrategy: accurate })).toBe(3);
    expect(jobs(5, 1, { runningJobs: 2, maxReplicaCount: 5, scalingStrategy: accurate })).toBe(3);
    expect(
      jobs(3, 1, { runningJobs: 4, pendingJobs: 2, maxReplicaCount: 10, scalingStrategy: accurate }),
    ).toBe(1);
    expect(
      jobs(5, 1, { runningJobs: 4, pendingJobs: 2, maxReplicaCount: 5, scalingStrategy: accurate }),
    ).toBe(1);
  });

  test('eager: (4, 3, 0, 10) -> 4 with scaleTo 10; (4, 7, 0, 10) -> 3', () => {
    const eager = ScalingStrategy.eager();
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 4, targetValue: 1 }],
      runningJobs: 3,
      maxReplicaCount: 10,
      scalingStrategy: eager,
    });
    expect(d).toMatchObject({ rawEffectiveMaxScale: 4, scaleTo: 10, jobsToCreate: 4 });
    expect(jobs(4, 1, { runningJobs: 7, maxReplicaCount: 10, scalingStrategy: eager })).toBe(3);
  });

  test('minReplicaCount 2: 0 running -> 2, 1 running -> 1, whatever the queue', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 0, targetValue: 1 }],
      runningJobs: 0,
      minReplicaCount: 2,
      maxReplicaCount: 10,
    });
    expect(d).toMatchObject({ path: 'minReplicaCount', isActive: true, jobsToCreate: 2, scaleTo: 2 });
    expect(jobs(0, 1, { runningJobs: 1, minReplicaCount: 2, maxReplicaCount: 10 })).toBe(1);
    expect(jobs(500, 1, { runningJobs: 1, minReplicaCount: 2, maxReplicaCount: 10 })).toBe(1);
  });

  test('minReplicaCount 1 with 1 running hands 0 running Jobs to the strategy: (2, 1) -> 2', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 2, targetValue: 1 }],
      runningJobs: 1,
      minReplicaCount: 1,
      maxReplicaCount: 10,
    });
    expect(d).toMatchObject({
      path: 'strategy',
      strategyRunningJobs: 0,
      kedaMaxReplicaCount: 9,
      jobsToCreate: 2,
    });
  });
});

describe('decideScaledJobScale: keda-docs 2.16 maxReplicaCount table (default strategy)', () => {
  test.each([
    [10, 3, 1, 0, 3],
    [10, 3, 2, 0, 3],
    [10, 3, 1, 1, 2],
    [10, 100, 1, 0, 10],
    [4, 3, 5, 0, 1],
  ])('queue %i, max %i, value %i, running %i -> %i', (queue, max, value, running, expected) => {
    expect(jobs(queue, value, { runningJobs: running, maxReplicaCount: max })).toBe(expected);
  });
});

describe('decideScaledJobScale: minReplicaCount and maxReplicaCount', () => {
  test('Jobs kept by minReplicaCount are not counted against the queue (docs: 2 warm, 3 messages -> 3 more)', () => {
    expect(jobs(3, 1, { runningJobs: 2, minReplicaCount: 2, maxReplicaCount: 10 })).toBe(3);
  });

  test('an explicit maxReplicaCount counts the warm Jobs: min 10, max 100 -> at most 90 more', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 200, targetValue: 1 }],
      runningJobs: 10,
      minReplicaCount: 10,
      maxReplicaCount: 100,
    });
    expect(d).toMatchObject({ kedaMaxReplicaCount: 90, maxScale: 90, jobsToCreate: 90 });
  });

  test('an unset maxReplicaCount is 100 *without* subtracting minReplicaCount: up to 110 Jobs', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 200, targetValue: 1 }],
      runningJobs: 10,
      minReplicaCount: 10,
    });
    expect(d).toMatchObject({ kedaMaxReplicaCount: 100, jobsToCreate: 100 });
    expect(kedaMaxReplicaCount(10, undefined)).toBe(100);
    expect(kedaMaxReplicaCount(undefined, undefined)).toBe(100);
  });

  test('minReplicaCount above maxReplicaCount is clamped as KEDA does (min 5, max 3)', () => {
    expect(kedaMaxReplicaCount(5, 3)).toBe(3);
    const first = decideScaledJobScale({
      scalers: [{ queueLength: 0, targetValue: 1 }],
      runningJobs: 0,
      minReplicaCount: 5,
      maxReplicaCount: 3,
    });
    expect(first).toMatchObject({ minReplicaCount: 3, path: 'minReplicaCount', jobsToCreate: 3 });
    // With 3 running and a queue, KEDA's MaxReplicaCount() is 3 again: 3 more Jobs (6 > 3). A KEDA quirk.
    expect(jobs(10, 1, { runningJobs: 3, minReplicaCount: 5, maxReplicaCount: 3 })).toBe(3);
  });

  test('minReplicaCount makes KEDA active, but an inactive trigger still contributes no queue', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 3, targetValue: 1, activationValue: 5 }],
      runningJobs: 1,
      minReplicaCount: 1,
      maxReplicaCount: 10,
    });
    expect(d.scalers[0]).toMatchObject({ isActive: false, maxValue: 3 });
    expect(d).toMatchObject({ isActive: true, queueLength: 0, maxScale: 0, jobsToCreate: 0 });
  });

  test('maxReplicaCount 0 creates nothing', () => {
    expect(jobs(50, 1, { runningJobs: 0, maxReplicaCount: 0 })).toBe(0);
  });
});

describe('decideScaledJobScale: activation and rounding', () => {
  test('a queue at or below activationValue is not active', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 5, targetValue: 1, activationValue: 5 }],
      runningJobs: 0,
    });
    // Only active triggers are combined, so the inactive trigger's figures are dropped.
    expect(d).toMatchObject({ isActive: false, queueLength: 0, maxScale: 0, jobsToCreate: 0 });
    expect(jobs(6, 1, { runningJobs: 0 })).toBe(6);
  });

  test('maxScale is ceil(queue / value): 11 / 5 -> 3', () => {
    const d = decideScaledJobScale({ scalers: [{ queueLength: 11, targetValue: 5 }], runningJobs: 0 });
    expect(d.maxScaleUnrounded).toBeCloseTo(2.2);
    expect(d.maxScale).toBe(3);
    expect(d.jobsToCreate).toBe(3);
  });

  test('a fractional value above the queue is capped by the queue length (scaleTo): 3 messages, value 0.5', () => {
    const d = decideScaledJobScale({ scalers: [{ queueLength: 3, targetValue: 0.5 }], runningJobs: 0 });
    expect(d).toMatchObject({ maxScale: 6, scaleTo: 3, jobsToCreate: 3 });
  });

  test('eager ignores that cap (scaleTo becomes maxReplicaCount)', () => {
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 3, targetValue: 0.5 }],
      runningJobs: 0,
      scalingStrategy: ScalingStrategy.eager(),
    });
    expect(d).toMatchObject({ maxScale: 6, scaleTo: KedaDefaults.maxReplicaCount, jobsToCreate: 6 });
  });

  test('custom truncates the running share toward zero: trunc(3 * 0.9) = 2, trunc(3 * -0.5) = -1', () => {
    const custom = (p: number) =>
      jobs(10, 1, {
        runningJobs: 3,
        maxReplicaCount: 20,
        scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: 0, runningJobPercentage: p }),
      });
    expect(custom(0.9)).toBe(8);
    expect(custom(-0.5)).toBe(10); // min(10 - 0 + 1, 20) = 11, capped by the queue length 10
  });
});

describe('decideScaledJobScale: several triggers (multipleScalersCalculation)', () => {
  // A: 30 messages at 5 per Job (maxValue 6); B: 8 messages at 1 per Job (maxValue 8).
  const scalers = [
    { queueLength: 30, targetValue: 5 },
    { queueLength: 8, targetValue: 1 },
  ];
  test.each([
    [MultipleScalersCalculation.MAX, 6, 30],
    [MultipleScalersCalculation.MIN, 8, 8],
    [MultipleScalersCalculation.AVG, 7, 19],
    [MultipleScalersCalculation.SUM, 14, 38],
  ])('%s -> %i Jobs (queue length %i)', (calc, expected, queue) => {
    const d = decideScaledJobScale({ scalers, runningJobs: 0, multipleScalersCalculation: calc });
    expect(d.queueLength).toBe(queue);
    expect(d.jobsToCreate).toBe(expected);
  });

  test('max picks the trigger with the largest queue length, not the largest max value', () => {
    const d = decideScaledJobScale({ scalers, runningJobs: 0 });
    expect(d.maxScale).toBe(6);
  });

  test('inactive triggers take no part', () => {
    const withIdle = [scalers[0]!, { queueLength: 0, targetValue: 1 }];
    for (const calc of Object.values(MultipleScalersCalculation)) {
      const d = decideScaledJobScale({ scalers: withIdle, runningJobs: 0, multipleScalersCalculation: calc });
      expect(d.jobsToCreate).toBe(6);
    }
  });

  test('fractional max values are combined before ceil: avg(3.5, 1.5) -> 3, sum -> 5', () => {
    const frac = [
      { queueLength: 7, targetValue: 2 },
      { queueLength: 3, targetValue: 2 },
    ];
    const run = (calc: MultipleScalersCalculation) =>
      decideScaledJobScale({ scalers: frac, runningJobs: 0, multipleScalersCalculation: calc });
    expect(run(MultipleScalersCalculation.AVG).maxScale).toBe(3);
    expect(run(MultipleScalersCalculation.SUM).maxScale).toBe(5);
  });

  test('no trigger answered: nothing, unless minReplicaCount asks', () => {
    expect(decideScaledJobScale({ scalers: [], runningJobs: 0 }).jobsToCreate).toBe(0);
    expect(decideScaledJobScale({ scalers: [], runningJobs: 0, minReplicaCount: 2 }).jobsToCreate).toBe(2);
  });
});

describe('ScalingStrategy.fromSpec: KEDA parses the custom strategy parameters', () => {
  test('a percentage given as a string is parsed as a float', () => {
    const s = (p: number | string) =>
      ScalingStrategy.fromSpec({
        strategy: 'custom',
        customScalingQueueLengthDeduction: 0,
        customScalingRunningJobPercentage: p,
      });
    expect(s('0.25')).toEqual(s(0.25));
    expect(s('0.25')).toMatchObject({ name: 'custom', queueLengthDeduction: 0, runningJobPercentage: 0.25 });
    const rest = { runningJobs: 4, maxReplicaCount: 20 };
    expect(jobs(10, 1, { ...rest, scalingStrategy: s('0.25') })).toBe(
      jobs(10, 1, { ...rest, scalingStrategy: s(0.25) }),
    );
  });

  test.each([undefined, '', 'half', ' 0.5'])('percentage %p falls back to default, as KEDA does', (p) => {
    const scalingStrategy = ScalingStrategy.fromSpec({
      strategy: 'custom',
      customScalingQueueLengthDeduction: 3,
      customScalingRunningJobPercentage: p,
    });
    expect(scalingStrategy.name).toBe('default');
    const d = decideScaledJobScale({
      scalers: [{ queueLength: 10, targetValue: 1 }],
      runningJobs: 4,
      maxReplicaCount: 20,
      scalingStrategy,
    });
    expect(d.effectiveStrategy).toBe('default');
    expect(d.jobsToCreate).toBe(6);
  });

  test('a percentage without a deduction is an error (KEDA dereferences it)', () => {
    expect(() =>
      ScalingStrategy.fromSpec({ strategy: 'custom', customScalingRunningJobPercentage: '0.5' }),
    ).toThrow(/customScalingQueueLengthDeduction is unset.*Set it \(0 for no deduction\)/);
  });

  test('no strategy is default; the other names map to their factories and ignore the custom fields', () => {
    expect(ScalingStrategy.fromSpec({})).toEqual(ScalingStrategy.default());
    const customFields = { customScalingQueueLengthDeduction: 2, customScalingRunningJobPercentage: '0.5' };
    for (const name of ['default', 'accurate', 'eager'] as const) {
      expect(ScalingStrategy.fromSpec({ strategy: name, ...customFields })).toEqual(ScalingStrategy[name]());
    }
    expect(ScalingStrategy.fromSpec({ strategy: 'custom', ...customFields })).toEqual(
      ScalingStrategy.custom({ queueLengthDeduction: 2, runningJobPercentage: 0.5 }),
    );
  });
});

describe('decideScaledJobScale: validation', () => {
  const ok: ScaledJobScaleInput = { scalers: [{ queueLength: 10, targetValue: 1 }], runningJobs: 0 };
  test.each<[string, ScaledJobScaleInput, RegExp]>([
    ['negative running', { ...ok, runningJobs: -1 }, /runningJobs must be a non-negative integer, got -1/],
    ['fractional running', { ...ok, runningJobs: 1.5 }, /runningJobs .* got 1\.5/],
    ['negative pending', { ...ok, pendingJobs: -2 }, /pendingJobs .* got -2/],
    [
      'pending above running',
      { ...ok, runningJobs: 1, pendingJobs: 2 },
      /pendingJobs \(2\) is greater than runningJobs \(1\).*runningJobs >= pendingJobs/,
    ],
    ['negative min', { ...ok, minReplicaCount: -1 }, /minReplicaCount .* got -1/],
    [
      'max above int32',
      { ...ok, maxReplicaCount: 3_000_000_000 },
      /maxReplicaCount must fit the CRD's int32/,
    ],
    [
      'zero value',
      { ...ok, scalers: [{ queueLength: 1, targetValue: 0 }] },
      /scalers\[0\]\.targetValue must be a finite number > 0, got 0/,
    ],
    [
      'NaN queue',
      { ...ok, scalers: [{ queueLength: Number.NaN, targetValue: 1 }] },
      /scalers\[0\]\.queueLength .* got NaN/,
    ],
    [
      'infinite activation',
      { ...ok, scalers: [{ queueLength: 1, targetValue: 1, activationValue: Number.POSITIVE_INFINITY }] },
      /activationValue must be a finite number, got Infinity/,
    ],
    [
      'unknown calculation',
      { ...ok, multipleScalersCalculation: 'median' as MultipleScalersCalculation },
      /multipleScalersCalculation .* got "median"/,
    ],
    ['scalers not an array', { ...ok, scalers: undefined as unknown as [] }, /scalers must be an array/],
    [
      'a strategy object that did not come from a factory, with an unknown name',
      { ...ok, scalingStrategy: { name: 'fast' as ScalingStrategyName } as ScalingStrategy },
      /scalingStrategy\.name must be 'default', 'custom', 'accurate' or 'eager', got "fast"/,
    ],
    [
      'a custom strategy with a NaN percentage',
      {
        ...ok,
        scalingStrategy: ScalingStrategy.custom({
          queueLengthDeduction: 0,
          runningJobPercentage: Number.NaN,
        }),
      },
      /scalingStrategy\.runningJobPercentage must be a finite number, got NaN/,
    ],
    [
      'a custom strategy with a fractional deduction',
      {
        ...ok,
        scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: 0.5, runningJobPercentage: 0 }),
      },
      /scalingStrategy\.queueLengthDeduction must be an int32 integer, got 0\.5/,
    ],
  ])('%s', (_name, input, message) => {
    expect(() => decideScaledJobScale(input)).toThrow(message);
  });

  test.each<[string, Parameters<typeof ScalingStrategy.fromSpec>[0], RegExp]>([
    [
      'unknown strategy',
      { strategy: 'fast' },
      /scalingStrategy\.strategy must be 'default', 'custom', 'accurate' or 'eager', got "fast"/,
    ],
    [
      'NaN percentage',
      { strategy: 'custom', customScalingQueueLengthDeduction: 0, customScalingRunningJobPercentage: 'NaN' },
      /customScalingRunningJobPercentage "NaN" is not a finite number/,
    ],
    [
      'fractional deduction',
      { strategy: 'custom', customScalingQueueLengthDeduction: 0.5, customScalingRunningJobPercentage: 0 },
      /customScalingQueueLengthDeduction must be an int32 integer, got 0\.5/,
    ],
    [
      'deduction above int32',
      {
        strategy: 'custom',
        customScalingQueueLengthDeduction: 2 ** 31,
        customScalingRunningJobPercentage: '0.5',
      },
      /customScalingQueueLengthDeduction must be an int32 integer, got 2147483648/,
    ],
    [
      'infinite percentage number',
      {
        strategy: 'custom',
        customScalingQueueLengthDeduction: 0,
        customScalingRunningJobPercentage: Number.POSITIVE_INFINITY,
      },
      /customScalingRunningJobPercentage must be a finite number, got Infinity/,
    ],
  ])('ScalingStrategy.fromSpec: %s', (_name, spec, message) => {
    expect(() => ScalingStrategy.fromSpec(spec)).toThrow(message);
  });

  test('rabbitMqQueueLengthMetric rejects excludeUnacknowledged over amqp and unresolved protocols', () => {
    expect(() =>
      rabbitMqQueueLengthMetric(
        { ready: 1, unacknowledged: 0 },
        { protocol: AMQP, excludeUnacknowledged: true },
      ),
    ).toThrow(
      /excludeUnacknowledged is true with protocol 'amqp'.*drop excludeUnacknowledged, or use 'http'/,
    );
    expect(() =>
      rabbitMqQueueLengthMetric({ ready: 1, unacknowledged: 0 }, { protocol: 'auto' as RabbitMqProtocol }),
    ).toThrow(/protocol must be 'amqp' or 'http', got "auto"/);
    expect(() => rabbitMqQueueLengthMetric({ ready: -1, unacknowledged: 0 }, { protocol: HTTP })).toThrow(
      /depth\.ready/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties. Each holds in KEDA 2.16's code for the stated conditions (derivations in the comments).
// ---------------------------------------------------------------------------------------------------

const strategyArb: fc.Arbitrary<ScalingStrategy> = fc.oneof(
  fc.constant(ScalingStrategy.default()),
  fc.constant(ScalingStrategy.accurate()),
  fc.constant(ScalingStrategy.eager()),
  fc
    .record({
      queueLengthDeduction: fc.integer({ min: -5, max: 5 }),
      runningJobPercentage: fc.double({ min: -1, max: 2, noNaN: true }),
    })
    .map((options) => ScalingStrategy.custom(options)),
);

const valueArb = fc.oneof(fc.integer({ min: 1, max: 50 }), fc.double({ min: 0.1, max: 50, noNaN: true }));

/** A consistent cluster state with an explicit maxReplicaCount and min <= max. */
const stateArb = fc
  .record({
    max: fc.integer({ min: 0, max: 300 }),
    minShare: fc.double({ min: 0, max: 1, noNaN: true }),
    running: fc.integer({ min: 0, max: 400 }),
    pendingShare: fc.double({ min: 0, max: 1, noNaN: true }),
    queue: fc.integer({ min: 0, max: 3000 }),
    value: valueArb,
    activation: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ max, minShare, running, pendingShare, queue, value, activation }) => ({
    max,
    min: Math.floor(max * minShare * 0.5),
    running,
    pending: Math.floor(running * pendingShare),
    queue,
    value,
    activation,
  }));

type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;
type State = ValueOf<typeof stateArb>;

function decide(s: State, strategy: ScalingStrategy, queue = s.queue) {
  return decideScaledJobScale({
    scalers: [{ queueLength: queue, targetValue: s.value, activationValue: s.activation }],
    runningJobs: s.running,
    pendingJobs: s.pending,
    minReplicaCount: s.min,
    maxReplicaCount: s.max,
    scalingStrategy: strategy,
  });
}

describe('decideScaledJobScale: properties', () => {
  test('always a non-negative integer, for any valid input (unset max, min > max, several triggers)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            queueLength: fc.integer({ min: 0, max: 5000 }),
            targetValue: valueArb,
            activationValue: fc.nat(3),
          }),
          { maxLength: 4 },
        ),
        fc.integer({ min: 0, max: 500 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
        strategyArb,
        fc.constantFrom(...Object.values(MultipleScalersCalculation)),
        (scalers, running, pendingShare, min, max, strategy, calc) => {
          const d = decideScaledJobScale({
            scalers,
            runningJobs: running,
            pendingJobs: Math.floor(running * pendingShare),
            minReplicaCount: min,
            maxReplicaCount: max,
            scalingStrategy: strategy,
            multipleScalersCalculation: calc,
          });
          expect(Number.isInteger(d.jobsToCreate)).toBe(true);
          expect(d.jobsToCreate).toBeGreaterThanOrEqual(0);
          expect(d.effectiveMaxScale).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });

  test('default, accurate and eager never take running + created above maxReplicaCount', () => {
    // min path: min - running <= max - running. default: maxScale - (r - min) <= (max - min) - r + min.
    // accurate: either (max - min) - (r - min) or maxScale - pending <= max - r. eager: <= kedaMax - r'.
    fc.assert(
      fc.property(
        stateArb,
        fc.constantFrom(ScalingStrategy.default(), ScalingStrategy.accurate(), ScalingStrategy.eager()),
        (s, strategy) => {
          const d = decide(s, strategy);
          expect(d.jobsToCreate).toBeLessThanOrEqual(Math.max(0, s.max - s.running));
        },
      ),
    );
  });

  test('eager (above minReplicaCount) also leaves room for the pending Jobs', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        fc.pre(s.running >= s.min);
        const d = decide(s, ScalingStrategy.eager());
        expect(d.jobsToCreate).toBeLessThanOrEqual(Math.max(0, s.max - s.running - s.pending));
      }),
    );
  });

  test('on the strategy path no strategy creates more than KEDA MaxReplicaCount() (custom included)', () => {
    fc.assert(
      fc.property(stateArb, strategyArb, (s, strategy) => {
        const d = decide(s, strategy);
        fc.pre(d.path === 'strategy');
        expect(d.jobsToCreate).toBeLessThanOrEqual(d.kedaMaxReplicaCount);
      }),
    );
  });

  test('monotone in queue length, every strategy, everything else fixed', () => {
    fc.assert(
      fc.property(stateArb, strategyArb, fc.integer({ min: 0, max: 500 }), (s, strategy, extra) => {
        expect(decide(s, strategy, s.queue + extra).jobsToCreate).toBeGreaterThanOrEqual(
          decide(s, strategy).jobsToCreate,
        );
      }),
    );
  });

  test('http (ready + unacked) never creates fewer Jobs than amqp (ready only) for the same queue', () => {
    fc.assert(
      fc.property(stateArb, strategyArb, fc.integer({ min: 0, max: 400 }), (s, strategy, unacked) => {
        const depth = { ready: s.queue, unacknowledged: unacked };
        const amqp = decide(s, strategy, rabbitMqQueueLengthMetric(depth, { protocol: AMQP }));
        const http = decide(s, strategy, rabbitMqQueueLengthMetric(depth, { protocol: HTTP }));
        expect(http.jobsToCreate).toBeGreaterThanOrEqual(amqp.jobsToCreate);
      }),
    );
  });

  test('with minReplicaCount 0, accurate creates at least as many Jobs as default (pending <= running)', () => {
    fc.assert(
      fc.property(stateArb, (s0) => {
        const s = { ...s0, min: 0 };
        expect(decide(s, ScalingStrategy.accurate()).jobsToCreate).toBeGreaterThanOrEqual(
          decide(s, ScalingStrategy.default()).jobsToCreate,
        );
      }),
    );
  });

  test('accurate with nothing pending fills min(maxScale, free slots): ready work never waits for a free slot', () => {
    fc.assert(
      fc.property(stateArb, (s0) => {
        fc.pre(Number.isInteger(s0.value));
        const s = { ...s0, min: 0, pending: 0 };
        const d = decide(s, ScalingStrategy.accurate());
        const expected = d.isActive ? Math.max(0, Math.min(d.maxScale, s.max - s.running)) : 0;
        expect(d.jobsToCreate).toBe(expected);
        if (d.isActive && s.running < s.max) {
          expect(d.jobsToCreate).toBeGreaterThanOrEqual(1);
        }
      }),
    );
  });

  test('an idle fleet gets the same answer from default, accurate and eager: min(ceil(queue), maxScale)', () => {
    fc.assert(
      fc.property(stateArb, (s0) => {
        const s = { ...s0, min: 0, running: 0, pending: 0 };
        const d = decide(s, ScalingStrategy.default());
        const expected = d.isActive ? Math.min(Math.ceil(s.queue), d.maxScale) : 0;
        expect(d.jobsToCreate).toBe(expected);
        expect(decide(s, ScalingStrategy.accurate()).jobsToCreate).toBe(expected);
        expect(decide(s, ScalingStrategy.eager()).jobsToCreate).toBe(
          d.maxScale > 0 && d.isActive ? d.maxScale : 0,
        );
      }),
    );
  });

  test('custom with deduction 0 and percentage 1 is the default strategy', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const custom = decide(
          s,
          ScalingStrategy.fromSpec({
            strategy: 'custom',
            customScalingQueueLengthDeduction: 0,
            customScalingRunningJobPercentage: '1',
          }),
        );
        expect(custom.effectiveStrategy).toBe('custom');
        expect(custom.jobsToCreate).toBe(decide(s, ScalingStrategy.default()).jobsToCreate);
      }),
    );
  });

  test('below minReplicaCount exactly the shortfall is created, whatever the queue and strategy', () => {
    fc.assert(
      fc.property(stateArb, strategyArb, (s, strategy) => {
        fc.pre(s.running < s.min);
        const d = decide(s, strategy);
        expect(d.path).toBe('minReplicaCount');
        expect(d.jobsToCreate).toBe(s.min - s.running);
      }),
    );
  });

  test('fromSpec reads a percentage written as a decimal string as the number itself', () => {
    // `+ 0` turns -0 into 0: String(-0) is "0", and the number and the string must say the same.
    const percentage = fc.double({ min: -1, max: 2, noNaN: true }).map((p) => p + 0);
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 5 }), percentage, (d, p) => {
        const spec = { strategy: 'custom', customScalingQueueLengthDeduction: d };
        const fromString = ScalingStrategy.fromSpec({
          ...spec,
          customScalingRunningJobPercentage: String(p),
        });
        expect(fromString).toEqual(
          ScalingStrategy.fromSpec({ ...spec, customScalingRunningJobPercentage: p }),
        );
        expect(fromString).toEqual(
          ScalingStrategy.custom({ queueLengthDeduction: d, runningJobPercentage: p }),
        );
      }),
    );
  });

  test('no active trigger and no minReplicaCount: nothing is created', () => {
    fc.assert(
      fc.property(stateArb, strategyArb, (s0, strategy) => {
        const s = { ...s0, min: 0, queue: Math.min(s0.queue, s0.activation) };
        const d = decide(s, strategy);
        expect(d.isActive).toBe(false);
        expect(d.jobsToCreate).toBe(0);
      }),
    );
  });
});
