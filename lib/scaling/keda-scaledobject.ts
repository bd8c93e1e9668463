/**
 * KEDA 2.16 ScaledObject arithmetic: how many replicas a Deployment scaled by a ScaledObject gets in
 * one cycle. A ScaledObject scales in two hands: KEDA itself moves the Deployment between 0 (or
 * `idleReplicaCount`) and its minimum, and the HorizontalPodAutoscaler KEDA creates moves it between
 * its minimum and `maxReplicaCount` on the triggers' metrics. This module reproduces both, as pure
 * functions, so a simulator can step a pool next to a ScaledJob for the same workload.
 *
 * Sources (paths only):
 * - Kubernetes docs, `content/en/docs/tasks/run-application/horizontal-pod-autoscale.md` ("Algorithm
 *   details", "Configurable scaling behavior", "Default Behavior"): `desiredReplicas =
 *   ceil(currentReplicas × currentMetricValue / desiredMetricValue)`, skipped within the tolerance
 *   (0.1, `--horizontal-pod-autoscaler-tolerance`); the largest proposal among several metrics wins;
 *   stabilization windows (scale-up 0 s, scale-down 300 s by default) and rate policies (scale-up:
 *   the larger of +100% and +4 pods per 15 s; scale-down: −100% per 15 s).
 * - kubernetes/kubernetes `pkg/controller/podautoscaler/replica_calculator.go`
 *   `GetExternalPerPodMetricReplicas` (an `AverageValue` target on an External metric, which is what
 *   KEDA writes: `usageRatio = total / (target × currentReplicas)`; outside the tolerance the
 *   proposal is `ceil(total / target)`, whatever the current count) and `horizontal.go`
 *   (`reconcileAutoscaler`: target at 0 replicas disables autoscaling, current above max or below
 *   min is clamped first; `stabilizeRecommendationWithBehaviors`: up = min, down = max of the
 *   recommendations inside each window; `calculateScaleUpLimitWithScalingRules` /
 *   `calculateScaleDownLimitWithBehaviors`: the replica count at the start of each policy's period,
 *   `Pods` adds or removes `value`, `Percent` is `ceil(start × (1 + p/100))` up and
 *   `trunc(start × (1 − p/100))` down, `selectPolicy` Max picks the largest change, Min the
 *   smallest, Disabled none).
 * - keda-docs `content/docs/2.16/reference/scaledobject-spec.md` (defaults: pollingInterval 30,
 *   cooldownPeriod 300, minReplicaCount 0, maxReplicaCount 100; `idleReplicaCount` only 0) and
 *   `content/docs/2.16/concepts/scaling-deployments.md`.
 * - kedacore/keda `pkg/scaling/executor/scale_scaledobjects.go` `RequestScale` (active and at 0, or
 *   idle below min: scale to `minReplicaCount`, or 1 when it is 0; inactive above idle, or above 0
 *   with min 0: scale to idle/0 once `cooldownPeriod` has passed since the last active cycle, at once
 *   when it was never active; inactive below min without idle: scale to min) and
 *   `pkg/scaling/resolver/scale_resolvers.go` / `pkg/controller/keda/hpa.go` (the HPA's minReplicas
 *   is `minReplicaCount`, or 1 when that is 0; its maxReplicas `maxReplicaCount`; one External metric
 *   per trigger with an `AverageValue` target of the trigger's value). A ScaledObject is active when
 *   any trigger is (its metric above its activation value).
 *
 * Not modelled: `fallback`, paused scaling, `scalingModifiers`, metrics that fail to read, and pods
 * that are not ready yet (the HPA treats missing and unready pods specially only for resource
 * metrics; KEDA's are External).
 *
 * @module
 */

import { show } from '../internal/show';
import { INT32_MAX } from './keda-defaults';
import type { ScalerMetric } from './keda-scaledjob';

/** KEDA 2.16's defaults for a ScaledObject's unset fields (`scaledobject-spec.md`). */
export const ScaledObjectDefaults = {
  pollingIntervalSeconds: 30,
  /** Seconds after the last active cycle before KEDA scales to 0 (or idle). */
  cooldownPeriodSeconds: 300,
  minReplicaCount: 0,
  maxReplicaCount: 100,
} as const;

/** Kubernetes' HPA defaults (kube-controller-manager flags and `behavior` defaults). */
export const HpaDefaults = {
  /** `--horizontal-pod-autoscaler-sync-period`: seconds between two HPA decisions. */
  syncPeriodSeconds: 15,
  /** `--horizontal-pod-autoscaler-tolerance`: no change while the usage ratio is within 1 ± this. */
  tolerance: 0.1,
  /** Largest `stabilizationWindowSeconds` and `periodSeconds` the API accepts. */
  maxStabilizationWindowSeconds: 3600,
  maxPolicyPeriodSeconds: 1800,
} as const;

/** How a direction's policies combine (`selectPolicy`). */
export type HpaSelectPolicy = 'Max' | 'Min' | 'Disabled';

/** One HPA scaling policy (`behavior.scaleUp/scaleDown.policies[]`). */
export interface HpaScalingPolicy {
  readonly type: 'Pods' | 'Percent';
  /** Pods, or percent of the replicas at the start of the period. > 0. */
  readonly value: number;
  /** Seconds the change is measured over, 1–1800. */
  readonly periodSeconds: number;
}

/** One direction of `behavior` (`HPAScalingRules`). */
export interface HpaScalingRules {
  /**
   * Seconds of past recommendations considered.
   * @default 0 for scale-up, 300 for scale-down
   */
  readonly stabilizationWindowSeconds?: number;
  /**
   * Which policy wins.
   * @default 'Max'
   */
  readonly selectPolicy?: HpaSelectPolicy;
  /**
   * Rate limits.
   * @default - scale-up: Percent 100 and Pods 4 per 15 s; scale-down: Percent 100 per 15 s
   */
  readonly policies?: readonly HpaScalingPolicy[];
}

/** `spec.behavior` of an HPA, or `advanced.horizontalPodAutoscalerConfig.behavior` of a ScaledObject. */
export interface HpaBehavior {
  /**
   * @default - Kubernetes' scale-up defaults
   */
  readonly scaleUp?: HpaScalingRules;
  /**
   * @default - Kubernetes' scale-down defaults
   */
  readonly scaleDown?: HpaScalingRules;
}

const DEFAULT_SCALE_UP: Required<HpaScalingRules> = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ],
};
const DEFAULT_SCALE_DOWN: Required<HpaScalingRules> = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

/** A past HPA recommendation (the replicas it computed from the metrics, before limits). */
export interface HpaRecommendation {
  /** Seconds before this cycle it was made. */
  readonly ageSeconds: number;
  readonly replicas: number;
}

/** A past change of the replica count made by the HPA. */
export interface HpaScaleEvent {
  /** Seconds before this cycle it happened. */
  readonly ageSeconds: number;
  /** Replicas added (scale-up) or removed (scale-down), > 0. */
  readonly replicaChange: number;
}

/** Everything one cycle of a ScaledObject (KEDA and its HPA) decides on. */
export interface ScaledObjectScaleInput {
  /** The Deployment's replicas now. */
  readonly currentReplicas: number;
  /** One reading per trigger: the metric, the trigger's `value` per replica and its activation value. */
  readonly scalers: readonly ScalerMetric[];
  /**
   * `spec.minReplicaCount`.
   * @default 0
   */
  readonly minReplicaCount?: number;
  /**
   * `spec.maxReplicaCount`.
   * @default 100
   */
  readonly maxReplicaCount?: number;
  /**
   * `spec.idleReplicaCount` (KEDA accepts only 0, below `minReplicaCount`).
   * @default - unset
   */
  readonly idleReplicaCount?: number;
  /**
   * `spec.cooldownPeriod` in seconds.
   * @default 300
   */
  readonly cooldownPeriodSeconds?: number;
  /**
   * Seconds since the last cycle in which a trigger was active.
   * @default - never active: KEDA scales to 0 (or idle) without waiting for the cooldown
   */
  readonly secondsSinceLastActive?: number;
  /**
   * The HPA's behaviour.
   * @default - Kubernetes' defaults
   */
  readonly behavior?: HpaBehavior;
  /**
   * The HPA's recommendations of earlier cycles (for the stabilization windows).
   * @default - none: the HPA starts its scale-down window with the current count
   */
  readonly recommendations?: readonly HpaRecommendation[];
  /**
   * The HPA's earlier scale-ups (for the rate policies).
   * @default - none
   */
  readonly scaleUpEvents?: readonly HpaScaleEvent[];
  /**
   * The HPA's earlier scale-downs (for the rate policies).
   * @default - none
   */
  readonly scaleDownEvents?: readonly HpaScaleEvent[];
  /**
   * The HPA tolerance.
   * @default 0.1
   */
  readonly tolerance?: number;
}

/** Who decided the cycle's replica count. */
export type ScaledObjectScalePath =
  /** KEDA: a trigger turned active at 0 (or idle): scale to the minimum, at least 1. */
  | 'keda-activate'
  /** KEDA: no trigger active and the cooldown has passed: scale to 0 (or idle). */
  | 'keda-idle'
  /**
   * No trigger active and KEDA waits for the cooldown before scaling to 0 (or idle); meanwhile the HPA
   * runs, at its minimum of at least one replica.
   */
  | 'keda-cooldown'
  /** KEDA: no trigger active below the minimum: scale to the minimum. */
  | 'keda-minimum'
  /** Nothing runs and nothing is active: stays at 0 (or idle). */
  | 'idle'
  /** The HPA's metric arithmetic with its behaviour. */
  | 'hpa';

/** The decision of one cycle and the figures behind it. */
export interface ScaledObjectScaleDecision {
  /** The Deployment's replicas after this cycle. */
  readonly replicas: number;
  readonly path: ScaledObjectScalePath;
  /** Whether a trigger is active (its metric above its activation value). */
  readonly isActive: boolean;
  /** The HPA's bounds as KEDA writes them. */
  readonly hpaMinReplicas: number;
  readonly hpaMaxReplicas: number;
  /** Per trigger, the HPA's proposal (`ceil(metric / value)`, or the current count within the tolerance). */
  readonly metricReplicas: readonly number[];
  /**
   * The HPA's recommendation from the metrics (the largest proposal), before stabilization and rate
   * limits: what the next cycle's `recommendations` should record. Undefined when the HPA did not run.
   */
  readonly recommendation?: number;
  /** The recommendation after the stabilization windows. */
  readonly stabilizedReplicas?: number;
}

/**
 * The HPA's proposal for one External metric with an `AverageValue` target (what KEDA writes for a
 * trigger): the current count while `total / (target × current)` is within `1 ± tolerance`, else
 * `ceil(total / target)`.
 */
export function hpaAverageValueReplicas(
  currentReplicas: number,
  metricTotal: number,
  targetAverageValue: number,
  tolerance: number = HpaDefaults.tolerance,
): number {
  const current = requireCount('currentReplicas', currentReplicas);
  requireFinite('metricTotal', metricTotal);
  if (!(targetAverageValue > 0) || !Number.isFinite(targetAverageValue)) {
    throw new Error(
      `keda-scaledobject: targetAverageValue must be a finite number > 0, got ${show(targetAverageValue)}. ` +
        "Pass the trigger's value per replica.",
    );
  }
  const usageRatio = metricTotal / (targetAverageValue * current);
  if (current > 0 && Math.abs(1 - usageRatio) <= tolerance) return current;
  return Math.ceil(metricTotal / targetAverageValue);
}

/**
 * One cycle of a KEDA 2.16 ScaledObject over a Deployment: KEDA's activation and scale to zero, then
 * the HPA's arithmetic and behaviour. Pure; throws on invalid input, naming the field. See the module
 * documentation for the sources.
 */
export function decideScaledObjectReplicas(input: ScaledObjectScaleInput): ScaledObjectScaleDecision {
  const current = requireCount('currentReplicas', input.currentReplicas);
  const min = requireCount('minReplicaCount', input.minReplicaCount ?? ScaledObjectDefaults.minReplicaCount);
  const max = requireCount('maxReplicaCount', input.maxReplicaCount ?? ScaledObjectDefaults.maxReplicaCount);
  if (max < 1 || min > max) {
    throw new Error(
      `keda-scaledobject: maxReplicaCount (${max}) must be at least 1 and at least minReplicaCount (${min}). ` +
        'KEDA rejects the ScaledObject otherwise.',
    );
  }
  const idle = input.idleReplicaCount;
  if (idle !== undefined && (idle !== 0 || min < 1)) {
    throw new Error(
      `keda-scaledobject: idleReplicaCount must be 0 and below minReplicaCount, got ${show(idle)} with ` +
        `minReplicaCount ${min}. KEDA 2.16 supports only 0.`,
    );
  }
  const cooldown = requireCount(
    'cooldownPeriodSeconds',
    input.cooldownPeriodSeconds ?? ScaledObjectDefaults.cooldownPeriodSeconds,
  );
  const tolerance = input.tolerance ?? HpaDefaults.tolerance;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) {
    throw new Error(`keda-scaledobject: tolerance must be a finite number ≥ 0, got ${show(tolerance)}.`);
  }
  if (!Array.isArray(input.scalers) || input.scalers.length === 0) {
    throw new Error(
      `keda-scaledobject: scalers must list one reading per trigger, got ${show(input.scalers)}. ` +
        'Pass e.g. [{ queueLength: 12, targetValue: 4 }].',
    );
  }
  input.scalers.forEach((s, i) => {
    requireFinite(`scalers[${i}].queueLength`, s?.queueLength);
    requireFinite(`scalers[${i}].activationValue`, s.activationValue ?? 0);
  });
  const isActive = input.scalers.some((s) => s.queueLength > (s.activationValue ?? 0));
  const hpaMinReplicas = Math.max(min, 1);
  const base = { isActive, hpaMinReplicas, hpaMaxReplicas: max };
  const floor = idle ?? 0;

  // scale_scaledobjects.go RequestScale: KEDA's own moves.
  if (isActive && (current === 0 || (idle !== undefined && current < min))) {
    return { ...base, replicas: hpaMinReplicas, path: 'keda-activate', metricReplicas: [] };
  }
  let path: ScaledObjectScalePath = 'hpa';
  if (!isActive) {
    if ((idle !== undefined && current > idle) || (current > 0 && min === 0)) {
      const since = input.secondsSinceLastActive;
      if (since === undefined || since > cooldown) {
        return { ...base, replicas: floor, path: 'keda-idle', metricReplicas: [] };
      }
      path = 'keda-cooldown';
    } else if (current < min && idle === undefined) {
      return { ...base, replicas: min, path: 'keda-minimum', metricReplicas: [] };
    } else if (current === floor) {
      return { ...base, replicas: current, path: 'idle', metricReplicas: [] };
    }
  }
  // horizontal.go reconcileAutoscaler: the HPA does nothing for a target at 0 replicas.
  if (current === 0) {
    return { ...base, replicas: 0, path: 'idle', metricReplicas: [] };
  }
  const metricReplicas = input.scalers.map((s, i) => {
    try {
      return hpaAverageValueReplicas(current, s.queueLength, s.targetValue, tolerance);
    } catch (error) {
      throw new Error((error as Error).message.replace('targetAverageValue', `scalers[${i}].targetValue`));
    }
  });
  if (current > max) return { ...base, replicas: max, path, metricReplicas };
  if (current < hpaMinReplicas) return { ...base, replicas: hpaMinReplicas, path, metricReplicas };

  const recommendation = Math.max(...metricReplicas);
  const up = rules(input.behavior?.scaleUp, DEFAULT_SCALE_UP, 'behavior.scaleUp');
  const down = rules(input.behavior?.scaleDown, DEFAULT_SCALE_DOWN, 'behavior.scaleDown');
  // stabilizeRecommendationWithBehaviors; maybeInitScaleDownStabilizationWindow seeds the history
  // with the current count when there is none.
  const history = input.recommendations ?? [{ ageSeconds: 0, replicas: current }];
  let upRecommendation = recommendation;
  let downRecommendation = recommendation;
  for (const r of history) {
    if (r.ageSeconds < up.stabilizationWindowSeconds)
      upRecommendation = Math.min(upRecommendation, r.replicas);
    if (r.ageSeconds < down.stabilizationWindowSeconds) {
      downRecommendation = Math.max(downRecommendation, r.replicas);
    }
  }
  const stabilized = Math.min(Math.max(current, upRecommendation), downRecommendation);

  // convertDesiredReplicasWithBehaviorRate.
  const ups = input.scaleUpEvents ?? [];
  const downs = input.scaleDownEvents ?? [];
  let replicas = stabilized;
  if (stabilized > current) {
    const limit = Math.max(current, rateLimit(current, ups, downs, up, 'up'));
    replicas = Math.min(stabilized, max, limit);
  } else if (stabilized < current) {
    const limit = Math.min(current, rateLimit(current, ups, downs, down, 'down'));
    replicas = Math.max(stabilized, hpaMinReplicas, limit);
  }
  return { ...base, replicas, path, metricReplicas, recommendation, stabilizedReplicas: stabilized };
}

function rules(
  given: HpaScalingRules | undefined,
  defaults: Required<HpaScalingRules>,
  field: string,
): Required<HpaScalingRules> {
  const out = { ...defaults, ...(given ?? {}) } as Required<HpaScalingRules>;
  const window = out.stabilizationWindowSeconds;
  if (!Number.isInteger(window) || window < 0 || window > HpaDefaults.maxStabilizationWindowSeconds) {
    throw new Error(
      `keda-scaledobject: ${field}.stabilizationWindowSeconds must be a whole number from 0 to 3600, got ${show(window)}.`,
    );
  }
  if (!['Max', 'Min', 'Disabled'].includes(out.selectPolicy)) {
    throw new Error(
      `keda-scaledobject: ${field}.selectPolicy must be Max, Min or Disabled, got ${show(out.selectPolicy)}.`,
    );
  }
  out.policies.forEach((p, i) => {
    const ok =
      (p?.type === 'Pods' || p?.type === 'Percent') &&
      Number.isInteger(p.value) &&
      p.value > 0 &&
      Number.isInteger(p.periodSeconds) &&
      p.periodSeconds > 0 &&
      p.periodSeconds <= HpaDefaults.maxPolicyPeriodSeconds;
    if (!ok) {
      throw new Error(
        `keda-scaledobject: ${field}.policies[${i}] must be { type: 'Pods' | 'Percent', value > 0, ` +
          `periodSeconds 1–1800 }, got ${show(p)}.`,
      );
    }
  });
  return out;
}

/** Replicas changed by `events` within the last `periodSeconds`. */
function changedWithin(events: readonly HpaScaleEvent[], periodSeconds: number): number {
  return events.filter((e) => e.ageSeconds < periodSeconds).reduce((sum, e) => sum + e.replicaChange, 0);
}

/**
 * The most (`up`) or fewest (`down`) replicas the policies allow now, from the count at the start of
 * each policy's period (`calculateScaleUpLimitWithScalingRules`, `calculateScaleDownLimitWithBehaviors`).
 */
function rateLimit(
  current: number,
  ups: readonly HpaScaleEvent[],
  downs: readonly HpaScaleEvent[],
  scaling: Required<HpaScalingRules>,
  direction: 'up' | 'down',
): number {
  if (scaling.selectPolicy === 'Disabled') return current;
  // Max picks the largest change: the highest limit up, the lowest down.
  const largest = scaling.selectPolicy === 'Max';
  const highest = (direction === 'up') === largest;
  const pick = (a: number, b: number) => (highest ? Math.max(a, b) : Math.min(a, b));
  let result = highest ? -INT32_MAX : INT32_MAX;
  for (const p of scaling.policies) {
    const start = current - changedWithin(ups, p.periodSeconds) + changedWithin(downs, p.periodSeconds);
    const proposed =
      direction === 'up'
        ? p.type === 'Pods'
          ? start + p.value
          : Math.ceil(start * (1 + p.value / 100))
        : p.type === 'Pods'
          ? start - p.value
          : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

function requireCount(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > INT32_MAX) {
    throw new Error(`keda-scaledobject: ${field} must be a whole number ≥ 0, got ${show(value)}.`);
  }
  return value;
}

function requireFinite(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`keda-scaledobject: ${field} must be a finite number, got ${show(value)}.`);
  }
  return value;
}

/** Input of {@link checkpointSafeScaleDown}. */
export interface CheckpointSafeScaleDownInput {
  /** The pods' grace period: how long a removed agent may take to checkpoint and requeue its tasks. */
  readonly terminationGracePeriodSeconds: number;
  /** Share of the replicas one step may remove, in (0, 100]. */
  readonly maxScaleDownPercent: number;
  /** Seconds of recommendations the HPA keeps before it scales down, 0–3600. */
  readonly stabilizationWindowSeconds: number;
}

/**
 * The scale-down rules of a pool of agents: one step removes at most `maxScaleDownPercent` of the
 * replicas (at least one pod: the HPA truncates `start × (1 − p/100)`), and the next step waits a
 * whole grace period, by which time the removed agents have checkpointed and requeued their tasks,
 * so the queue metric the next step reads counts that work again. Throws when the grace period is
 * longer than a policy period may be (1800 s).
 */
export function checkpointSafeScaleDown(input: CheckpointSafeScaleDownInput): HpaScalingRules {
  const grace = input.terminationGracePeriodSeconds;
  if (!Number.isInteger(grace) || grace < 1 || grace > HpaDefaults.maxPolicyPeriodSeconds) {
    throw new Error(
      `keda-scaledobject: terminationGracePeriodSeconds must be a whole number from 1 to 1800 (the longest ` +
        `HPA policy period), got ${show(grace)}.`,
    );
  }
  const percent = input.maxScaleDownPercent;
  if (!Number.isInteger(percent) || percent <= 0 || percent > 100) {
    throw new Error(
      `keda-scaledobject: maxScaleDownPercent must be a whole number in (0, 100], got ${show(percent)}.`,
    );
  }
  const window = input.stabilizationWindowSeconds;
  if (!Number.isInteger(window) || window < 0 || window > HpaDefaults.maxStabilizationWindowSeconds) {
    throw new Error(
      `keda-scaledobject: stabilizationWindowSeconds must be a whole number from 0 to 3600, got ${show(window)}.`,
    );
  }
  return {
    stabilizationWindowSeconds: window,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: percent, periodSeconds: grace }],
  };
}
