import fc from 'fast-check';
import {
  checkpointSafeScaleDown,
  decideScaledObjectReplicas,
  HpaDefaults,
  hpaAverageValueReplicas,
  ScaledObjectDefaults,
  type ScaledObjectScaleInput,
} from '../../lib';

/** One cycle with one trigger; no history unless given. */
function decide(
  currentReplicas: number,
  metric: number,
  target: number,
  rest: Partial<ScaledObjectScaleInput> = {},
) {
  return decideScaledObjectReplicas({
    currentReplicas,
    scalers: [{ queueLength: metric, targetValue: target }],
    recommendations: [],
    ...rest,
  });
}

describe('hpaAverageValueReplicas (Kubernetes HPA algorithm, AverageValue on an External metric)', () => {
  test('the docs’ example: twice the target per pod doubles the replicas, half of it halves them', () => {
    // 200m against 100m per pod on 4 pods: the total is 800m.
    expect(hpaAverageValueReplicas(4, 0.8, 0.1)).toBe(8);
    expect(hpaAverageValueReplicas(4, 0.2, 0.1)).toBe(2);
  });

  test('within the 10% tolerance the count stays', () => {
    expect(hpaAverageValueReplicas(10, 105, 10)).toBe(10);
    expect(hpaAverageValueReplicas(10, 95, 10)).toBe(10);
    expect(hpaAverageValueReplicas(10, 111, 10)).toBe(12);
  });

  test('outside it the proposal is ceil(total / target), whatever the current count', () => {
    expect(hpaAverageValueReplicas(3, 25, 2)).toBe(13);
    expect(hpaAverageValueReplicas(3, 0, 2)).toBe(0);
  });

  test('property: the count stays within the tolerance, and is ceil(total / target) outside it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 50 }),
        (n, total, target) => {
          const r = hpaAverageValueReplicas(n, total, target);
          const within = Math.abs(1 - total / (target * n)) <= HpaDefaults.tolerance;
          expect(r).toBe(within ? n : Math.ceil(total / target));
        },
      ),
    );
  });
});

describe('decideScaledObjectReplicas: KEDA’s own moves', () => {
  test('defaults are KEDA 2.16’s', () => {
    expect(ScaledObjectDefaults).toEqual({
      pollingIntervalSeconds: 30,
      cooldownPeriodSeconds: 300,
      minReplicaCount: 0,
      maxReplicaCount: 100,
    });
  });

  test('from zero, an active trigger scales to minReplicaCount, or 1 when it is 0', () => {
    expect(decide(0, 50, 5)).toMatchObject({ replicas: 1, path: 'keda-activate', isActive: true });
    expect(decide(0, 50, 5, { minReplicaCount: 3 })).toMatchObject({ replicas: 3, path: 'keda-activate' });
  });

  test('idle: at idleReplicaCount, an active trigger brings minReplicaCount at once', () => {
    expect(decide(0, 1, 5, { minReplicaCount: 2, idleReplicaCount: 0 })).toMatchObject({
      replicas: 2,
      path: 'keda-activate',
    });
  });

  test('no trigger active: down to 0 (or idle) only after the cooldown', () => {
    expect(decide(4, 0, 5, { secondsSinceLastActive: 120 })).toMatchObject({ path: 'keda-cooldown' });
    expect(decide(4, 0, 5, { secondsSinceLastActive: 301 })).toMatchObject({
      replicas: 0,
      path: 'keda-idle',
    });
    expect(decide(4, 0, 5)).toMatchObject({ replicas: 0, path: 'keda-idle' });
    expect(
      decide(4, 0, 5, { minReplicaCount: 2, idleReplicaCount: 0, secondsSinceLastActive: 600 }),
    ).toMatchObject({
      replicas: 0,
      path: 'keda-idle',
    });
  });

  test('during the cooldown the HPA keeps at least one replica', () => {
    expect(decide(1, 0, 5, { secondsSinceLastActive: 10 })).toMatchObject({
      replicas: 1,
      path: 'keda-cooldown',
    });
  });

  test('inactive with a minimum: the minimum is restored, zero stays zero', () => {
    expect(decide(0, 0, 5, { minReplicaCount: 2 })).toMatchObject({ replicas: 2, path: 'keda-minimum' });
    expect(decide(0, 0, 5)).toMatchObject({ replicas: 0, path: 'idle' });
  });

  test('activation: a metric at or below activationValue is inactive', () => {
    const input = { currentReplicas: 0, scalers: [{ queueLength: 3, targetValue: 1, activationValue: 3 }] };
    expect(decideScaledObjectReplicas(input)).toMatchObject({ replicas: 0, isActive: false });
  });
});

describe('decideScaledObjectReplicas: the HPA', () => {
  test('bounds as KEDA writes them: minReplicas ≥ 1, maxReplicas = maxReplicaCount', () => {
    expect(decide(2, 10, 5, { maxReplicaCount: 10 })).toMatchObject({
      hpaMinReplicas: 1,
      hpaMaxReplicas: 10,
    });
  });

  test('several triggers: the largest proposal wins', () => {
    const d = decideScaledObjectReplicas({
      currentReplicas: 2,
      scalers: [
        { queueLength: 4, targetValue: 2 },
        { queueLength: 12, targetValue: 2 },
      ],
      recommendations: [],
    });
    expect(d.metricReplicas).toEqual([2, 6]);
    expect(d.replicas).toBe(6);
  });

  test('default scale-up: the larger of +100% and +4 pods per 15 s', () => {
    expect(decide(2, 100, 1).replicas).toBe(6);
    expect(decide(10, 100, 1).replicas).toBe(20);
    expect(decide(10, 100, 1, { scaleUpEvents: [{ ageSeconds: 5, replicaChange: 5 }] }).replicas).toBe(10);
  });

  test('clamped to maxReplicaCount', () => {
    expect(decide(8, 1000, 1, { maxReplicaCount: 10 }).replicas).toBe(10);
    expect(decide(12, 0, 1, { maxReplicaCount: 10, minReplicaCount: 1 }).replicas).toBe(10);
  });

  test('default scale-down waits out the 300 s window, taking its highest recommendation', () => {
    const recent = [{ ageSeconds: 200, replicas: 8 }];
    expect(decide(8, 2, 1, { recommendations: recent }).replicas).toBe(8);
    const old = [{ ageSeconds: 301, replicas: 8 }];
    expect(decide(8, 2, 1, { recommendations: old }).replicas).toBe(2);
  });

  test('with no history the HPA seeds its window with the current count', () => {
    expect(
      decideScaledObjectReplicas({
        currentReplicas: 8,
        scalers: [{ queueLength: 0, targetValue: 1 }],
        minReplicaCount: 1,
      }).replicas,
    ).toBe(8);
  });

  test('Percent scale-down truncates, so every step removes at least one pod', () => {
    const scaleDown = checkpointSafeScaleDown({
      terminationGracePeriodSeconds: 60,
      maxScaleDownPercent: 10,
      stabilizationWindowSeconds: 0,
    });
    expect(decide(5, 0, 1, { minReplicaCount: 1, behavior: { scaleDown } }).replicas).toBe(4);
    expect(decide(30, 0, 1, { minReplicaCount: 1, behavior: { scaleDown } }).replicas).toBe(27);
    // Inside the period after a step, none.
    expect(
      decide(27, 0, 1, {
        minReplicaCount: 1,
        behavior: { scaleDown },
        scaleDownEvents: [{ ageSeconds: 59, replicaChange: 3 }],
      }).replicas,
    ).toBe(27);
  });

  test('selectPolicy Disabled: no change in that direction', () => {
    expect(decide(4, 100, 1, { behavior: { scaleUp: { selectPolicy: 'Disabled' } } }).replicas).toBe(4);
  });

  test('selectPolicy Min picks the smallest change', () => {
    const scaleUp = {
      selectPolicy: 'Min' as const,
      policies: [
        { type: 'Pods' as const, value: 1, periodSeconds: 60 },
        { type: 'Percent' as const, value: 100, periodSeconds: 60 },
      ],
    };
    expect(decide(4, 100, 1, { behavior: { scaleUp } }).replicas).toBe(5);
  });

  test('property: replicas stay within [hpaMin, max] whenever the HPA decides', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 5, max: 60 }),
        (current, metric, target, min, max) => {
          const d = decide(current, metric, target, {
            minReplicaCount: min,
            maxReplicaCount: max,
            secondsSinceLastActive: 0,
          });
          if (d.path === 'hpa' || d.path === 'keda-cooldown') {
            expect(d.replicas).toBeGreaterThanOrEqual(d.hpaMinReplicas);
            expect(d.replicas).toBeLessThanOrEqual(Math.max(max, d.hpaMinReplicas));
          }
        },
      ),
    );
  });
});

describe('decideScaledObjectReplicas and checkpointSafeScaleDown refuse bad input', () => {
  test.each<[Partial<ScaledObjectScaleInput>, RegExp]>([
    [{ currentReplicas: -1 }, /currentReplicas must be a whole number ≥ 0/],
    [
      { minReplicaCount: 5, maxReplicaCount: 2 },
      /maxReplicaCount \(2\) must be at least 1 and at least minReplicaCount \(5\)/,
    ],
    [{ idleReplicaCount: 1, minReplicaCount: 2 }, /idleReplicaCount must be 0/],
    [{ scalers: [] }, /scalers must list one reading per trigger/],
    [
      { scalers: [{ queueLength: 1, targetValue: 0 }] },
      /scalers\[0\]\.targetValue must be a finite number > 0/,
    ],
    [
      { behavior: { scaleDown: { stabilizationWindowSeconds: 4000 } } },
      /behavior\.scaleDown\.stabilizationWindowSeconds/,
    ],
    [
      { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 0 }] } } },
      /behavior\.scaleUp\.policies\[0\]/,
    ],
  ])('%j', (patch, pattern) => {
    expect(() =>
      decideScaledObjectReplicas({
        currentReplicas: 2,
        scalers: [{ queueLength: 10, targetValue: 1 }],
        ...patch,
      }),
    ).toThrow(pattern);
  });

  test('checkpointSafeScaleDown', () => {
    expect(
      checkpointSafeScaleDown({
        terminationGracePeriodSeconds: 90,
        maxScaleDownPercent: 20,
        stabilizationWindowSeconds: 300,
      }),
    ).toEqual({
      stabilizationWindowSeconds: 300,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 20, periodSeconds: 90 }],
    });
    expect(() =>
      checkpointSafeScaleDown({
        terminationGracePeriodSeconds: 3600,
        maxScaleDownPercent: 10,
        stabilizationWindowSeconds: 0,
      }),
    ).toThrow(/terminationGracePeriodSeconds must be a whole number from 1 to 1800/);
    expect(() =>
      checkpointSafeScaleDown({
        terminationGracePeriodSeconds: 60,
        maxScaleDownPercent: 0,
        stabilizationWindowSeconds: 0,
      }),
    ).toThrow(/maxScaleDownPercent/);
  });
});
