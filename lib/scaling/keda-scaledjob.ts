/**
 * KEDA 2.16 ScaledJob arithmetic: how many Jobs one polling cycle creates.
 *
 * This reproduces, as a pure function, the decision KEDA's operator takes on every `pollingInterval`
 * for a ScaledJob. It exists so that users (and the `agent-fleet plan` simulator) can see what a
 * configuration will do before it reaches a cluster, with every intermediate figure KEDA logs. The
 * scaling vocabulary ({@link ScalingStrategy}, {@link MultipleScalersCalculation},
 * {@link RabbitMqProtocol}) lives here, in this dependency-free module, so that the constructs that
 * render a ScaledJob and the tools that simulate one share it.
 *
 * Sources read for this port (kedacore/keda, release line 2.16; paths only):
 * - `pkg/scaling/scaledjob/metrics.go` — `CalculateQueueLengthAndMaxValue` (per trigger:
 *   `maxValue = min(queueLength / targetAverageValue, MaxReplicaCount())` in float64, 0 when the
 *   target is 0) and `IsScaledJobActive` (the `multipleScalersCalculation` loops `max`/`min`/`avg`/`sum`
 *   over *active* triggers only, `minReplicaCount > 0` forces active, then
 *   `maxValue = min(maxValue, MaxReplicaCount())` and both figures go through `int64(math.Ceil(x))`).
 * - `pkg/scaling/scale_handler.go` — `getScaledJobMetrics` / `isScaledJobActive` / `checkScalers`:
 *   the ceiled queue length becomes `scaleTo`, the ceiled max value becomes `maxScale`, both passed to
 *   `RequestJobScale`; a trigger whose metric read fails is skipped for that cycle.
 * - `pkg/scaling/executor/scale_jobs.go` — `RequestJobScale`, `getScalingDecision` (when running Jobs
 *   are below `MinReplicaCount()` it creates exactly the shortfall and ignores the queue; otherwise the
 *   strategy gets `runningJobCount - minReplicaCount`), the four `GetEffectiveMaxScale`
 *   implementations, the clamp of a negative effective max scale to 0, and `createJobs`
 *   (`scaleTo = min(scaleTo, effectiveMaxScale)`, nothing when `effectiveMaxScale <= 0` or when no
 *   trigger is active). `NewScalingStrategy` falls back to `default` when
 *   `customScalingRunningJobPercentage` does not parse as a float (including when it is empty), which
 *   {@link ScalingStrategy.fromSpec} reproduces.
 *   Running = Jobs without a Complete/Failed condition; pending = unfinished Jobs with no pod Running or
 *   Succeeded (or, with `pendingPodConditions`, not all listed conditions true) — a subset of running.
 * - `apis/keda/v1alpha1/scaledjob_types.go` — `MaxReplicaCount()` is `maxReplicaCount - MinReplicaCount()`
 *   when `maxReplicaCount` is set (just `maxReplicaCount` when min > max) and 100 when it is unset
 *   (min is then *not* subtracted); `MinReplicaCount()` is clamped to `maxReplicaCount`, default 0.
 * - `pkg/scalers/rabbitmq_scaler.go` — over `amqp` the metric is the passive queue-declare message count
 *   (ready messages only); over `http` it is the management API's `messages` (ready + unacknowledged),
 *   or `messages_ready` with `excludeUnacknowledged`, which KEDA accepts only with `http`. QueueLength
 *   mode is active when the count is greater than `activationValue` (default 0).
 * - keda-docs `content/docs/2.16/reference/scaledjob-spec.md` (strategies, defaults: see
 *   {@link KedaDefaults}, min 0, multipleScalersCalculation `max`) and
 *   `content/docs/2.16/scalers/rabbitmq-queue.md`.
 *
 * Known consequence (kedacore/keda issue 6571): over `amqp` the metric already excludes the messages that
 * running Jobs hold, and the `default` strategy subtracts the running Jobs again, so ready work can wait
 * while there is room under `maxReplicaCount`. Use `accurate` with `amqp`, or `http` with `default`.
 *
 * Not modelled: KEDA passes metric values through milli-unit quantities (3 decimals), which only matters
 * for fractional metrics; which Jobs count as running or pending (the caller supplies the counts).
 *
 * @module
 */

import { show } from '../internal/show';
import { INT32_MAX, KedaDefaults } from './keda-defaults';

/** The value of `spec.scalingStrategy.strategy`: the formula KEDA uses for the Jobs a cycle may create. */
export type ScalingStrategyName = 'default' | 'custom' | 'accurate' | 'eager';

/**
 * How KEDA combines several triggers (`spec.scalingStrategy.multipleScalersCalculation`). KEDA treats
 * an unknown string as `max`; {@link decideScaledJobScale} and the manifest readers reject it instead,
 * since it is almost always a typo.
 */
export enum MultipleScalersCalculation {
  MAX = 'max',
  MIN = 'min',
  AVG = 'avg',
  SUM = 'sum',
}

/**
 * How KEDA's RabbitMQ scaler reads the queue: the trigger's `protocol` once resolved (KEDA's `auto`
 * resolves from the host URL scheme: amqp/amqps to AMQP, http/https to HTTP).
 */
export enum RabbitMqProtocol {
  /** AMQP passive declare: counts ready messages only. */
  AMQP = 'amqp',
  /** Management API: counts ready + unacknowledged unless `excludeUnacknowledged`. */
  HTTP = 'http',
}

/**
 * KEDA's strategies for how many Jobs to create per polling cycle (`spec.scalingStrategy`). The
 * constructs render it into a ScaledJob; {@link decideScaledJobScale} computes with it.
 */
export class ScalingStrategy {
  /** Create `maxScale − running` Jobs. Right when the metric includes in-flight work. */
  static default(): ScalingStrategy {
    return new ScalingStrategy('default');
  }

  /**
   * Create `maxScale − pending` Jobs (or fill up to max). Right when the metric excludes in-flight
   * work, as RabbitMQ over amqp does (ready messages only).
   */
  static accurate(): ScalingStrategy {
    return new ScalingStrategy('accurate');
  }

  /** Fill every free slot up to maxReplicaCount while messages wait. */
  static eager(): ScalingStrategy {
    return new ScalingStrategy('eager');
  }

  /**
   * `min(maxScale − queueLengthDeduction − trunc(running × runningJobPercentage), max)`, where `running`
   * counts the Jobs above `minReplicaCount`. Checked where it is used: {@link decideScaledJobScale}
   * accepts what KEDA accepts (an int32 deduction, any finite percentage); `AgentScaledJob` asks for a
   * deduction of 0 or more and a percentage between 0 and 1.
   */
  static custom(options: {
    /** Jobs subtracted from `maxScale` (`customScalingQueueLengthDeduction`, an int32). */
    readonly queueLengthDeduction: number;
    /** Share of the running Jobs subtracted from `maxScale` (`customScalingRunningJobPercentage`). */
    readonly runningJobPercentage: number;
  }): ScalingStrategy {
    return new ScalingStrategy('custom', options.queueLengthDeduction, options.runningJobPercentage);
  }

  /**
   * The strategy KEDA 2.16 runs for the raw fields of a manifest's `spec.scalingStrategy`, parsed as KEDA
   * parses them (`scale_jobs.go` `NewScalingStrategy`):
   * - `strategy` unset is `default`. An unknown string throws, naming the field: KEDA would silently use
   *   `default`, and it is almost always a typo.
   * - `custom` whose `customScalingRunningJobPercentage` is unset, empty or does not parse as a float
   *   (KEDA stores it as a string) becomes `default`, as in KEDA. A number is taken as is.
   * - `custom` whose percentage parses needs `customScalingQueueLengthDeduction` (KEDA 2.16 dereferences
   *   it without a nil check), an int32; throws otherwise.
   */
  static fromSpec(spec: {
    readonly strategy?: string;
    readonly customScalingQueueLengthDeduction?: number;
    readonly customScalingRunningJobPercentage?: number | string;
  }): ScalingStrategy {
    if (typeof spec !== 'object' || spec === null) {
      throw new Error(
        `keda-scaledjob: scalingStrategy must be an object like { strategy: 'accurate' }, got ${show(spec)}. ` +
          'Pass the fields of spec.scalingStrategy, or {} when the manifest has none.',
      );
    }
    const name = spec.strategy ?? 'default';
    if (name === 'default' || name === 'accurate' || name === 'eager') {
      return new ScalingStrategy(name);
    }
    if (name !== 'custom') {
      throw unknownStrategy('scalingStrategy.strategy', name, "Leave it unset for 'default'.");
    }
    const percentage = parsePercentage(spec.customScalingRunningJobPercentage);
    if (percentage === undefined) {
      // scale_jobs.go NewScalingStrategy: a percentage that fails strconv.ParseFloat selects `default`.
      return ScalingStrategy.default();
    }
    if (spec.customScalingQueueLengthDeduction === undefined) {
      throw new Error(
        'keda-scaledjob: scalingStrategy.customScalingQueueLengthDeduction is unset while ' +
          'customScalingRunningJobPercentage is set; KEDA 2.16 dereferences it unconditionally for the custom ' +
          'strategy. Set it (0 for no deduction).',
      );
    }
    const deduction = requireDeduction(
      'scalingStrategy.customScalingQueueLengthDeduction',
      spec.customScalingQueueLengthDeduction,
    );
    return ScalingStrategy.custom({ queueLengthDeduction: deduction, runningJobPercentage: percentage });
  }

  private constructor(
    /** Which formula KEDA uses (`spec.scalingStrategy.strategy`). */
    readonly name: ScalingStrategyName,
    /** `custom` only: Jobs subtracted from `maxScale` (`customScalingQueueLengthDeduction`). */
    readonly queueLengthDeduction?: number,
    /** `custom` only: share of the running Jobs subtracted from `maxScale` (`customScalingRunningJobPercentage`). */
    readonly runningJobPercentage?: number,
  ) {}
}

/** One trigger's reading in one polling cycle. */
export interface ScalerMetric {
  /**
   * The metric value the scaler reports (for RabbitMQ `mode: QueueLength`, the message count that
   * {@link rabbitMqQueueLengthMetric} derives for the trigger's protocol). Any finite number: a
   * prometheus trigger reports what its query returns, negative values included.
   */
  readonly queueLength: number;
  /** The trigger's target `value`: messages per Job. Must be greater than 0. */
  readonly targetValue: number;
  /**
   * The trigger's `activationValue` (`activationThreshold` for prometheus): the trigger is active when
   * `queueLength` is greater than this. Any finite number.
   * @default 0
   */
  readonly activationValue?: number;
}

/** Everything KEDA 2.16 uses to decide one polling cycle of a ScaledJob. */
export interface ScaledJobScaleInput {
  /**
   * One reading per trigger that answered this cycle. KEDA skips a trigger whose metric read fails, so
   * an empty list models "every trigger errored" (no Jobs unless `minReplicaCount` asks for them).
   */
  readonly scalers: readonly ScalerMetric[];
  /** Jobs owned by the ScaledJob that have not finished (KEDA's running count; includes pending ones). */
  readonly runningJobs: number;
  /**
   * Unfinished Jobs whose pod is not Running or Succeeded yet (a subset of `runningJobs`).
   * @default 0
   */
  readonly pendingJobs?: number;
  /**
   * `spec.minReplicaCount`.
   * @default 0
   */
  readonly minReplicaCount?: number;
  /**
   * `spec.maxReplicaCount`: a cap on Jobs, not pods.
   * @default - unset: KEDA uses `KedaDefaults.maxReplicaCount` (100) and does not subtract
   * `minReplicaCount` from it
   */
  readonly maxReplicaCount?: number;
  /**
   * `spec.scalingStrategy`: the strategy KEDA runs. From a manifest's raw fields, build it with
   * {@link ScalingStrategy.fromSpec}, which applies KEDA's fallbacks.
   * @default ScalingStrategy.default()
   */
  readonly scalingStrategy?: ScalingStrategy;
  /**
   * `spec.scalingStrategy.multipleScalersCalculation`: how several triggers combine into one queue
   * length and max scale.
   * @default MultipleScalersCalculation.MAX
   */
  readonly multipleScalersCalculation?: MultipleScalersCalculation;
}

/** One trigger's figures as KEDA computes them before combining triggers. */
export interface ScalerFigures {
  readonly queueLength: number;
  readonly targetValue: number;
  /** `min(queueLength / targetValue, kedaMaxReplicaCount)`, unrounded. */
  readonly maxValue: number;
  readonly isActive: boolean;
}

/** The decision for one polling cycle and every intermediate figure behind it. */
export interface ScaledJobScaleDecision {
  /** Jobs KEDA creates this cycle. */
  readonly jobsToCreate: number;
  /** Whether KEDA treats the ScaledJob as active (no Jobs are created otherwise). */
  readonly isActive: boolean;
  /** The strategy applied: the input's `scalingStrategy.name`, `default` when it is unset. */
  readonly effectiveStrategy: ScalingStrategyName;
  /** `minReplicaCount` after KEDA clamps it to `maxReplicaCount`. */
  readonly minReplicaCount: number;
  /** KEDA's `MaxReplicaCount()`: `maxReplicaCount - minReplicaCount`, or 100 (`KedaDefaults`) when unset. */
  readonly kedaMaxReplicaCount: number;
  /** Per-trigger figures, in input order. */
  readonly scalers: readonly ScalerFigures[];
  /** Combined queue length before rounding. */
  readonly queueLengthUnrounded: number;
  /** `ceil` of the combined queue length: KEDA's initial `scaleTo`. */
  readonly queueLength: number;
  /** Combined max value capped at `kedaMaxReplicaCount`, before rounding (KEDA logs it as `maxValue`). */
  readonly maxScaleUnrounded: number;
  /** `ceil(maxScaleUnrounded)`: KEDA's `maxScale`. */
  readonly maxScale: number;
  /**
   * `minReplicaCount` when running Jobs are below the minimum (the queue is ignored and the shortfall is
   * created), `strategy` otherwise.
   */
  readonly path: 'minReplicaCount' | 'strategy';
  /** Running Jobs handed to the strategy: `runningJobs - minReplicaCount` (0 on the minReplicaCount path). */
  readonly strategyRunningJobs: number;
  /** The strategy's (or the shortfall's) effective max scale, before the clamp at 0. */
  readonly rawEffectiveMaxScale: number;
  /** `max(0, rawEffectiveMaxScale)`. */
  readonly effectiveMaxScale: number;
  /** `scaleTo` after the strategy (`eager` replaces it with `kedaMaxReplicaCount`). */
  readonly scaleTo: number;
}

/** Queue depth as RabbitMQ reports it for one queue. */
export interface RabbitMqQueueDepth {
  /** Messages ready for delivery. */
  readonly ready: number;
  /** Messages delivered to consumers and not yet acknowledged (work in flight). */
  readonly unacknowledged: number;
}

/** The RabbitMQ trigger settings that decide which messages count. */
export interface RabbitMqMetricOptions {
  /** The trigger's protocol: `amqp` counts ready messages only. */
  readonly protocol: RabbitMqProtocol;
  /**
   * `excludeUnacknowledged`: count ready messages only. KEDA accepts it only with `http`.
   * @default false
   */
  readonly excludeUnacknowledged?: boolean;
}

/**
 * The `queueLength` metric KEDA 2.16's RabbitMQ scaler reports in `mode: QueueLength`.
 *
 * Over `amqp` this is the passive queue-declare count, which excludes unacknowledged messages; over
 * `http` it is the management API's `messages` (ready + unacknowledged) unless `excludeUnacknowledged`.
 * Source: kedacore/keda `pkg/scalers/rabbitmq_scaler.go`; keda-docs `content/docs/2.16/scalers/rabbitmq-queue.md`.
 */
export function rabbitMqQueueLengthMetric(depth: RabbitMqQueueDepth, options: RabbitMqMetricOptions): number {
  const ready = requireCount('depth.ready', depth.ready, 'Pass the number of ready messages (0 or more).');
  const unacked = requireCount(
    'depth.unacknowledged',
    depth.unacknowledged,
    'Pass the number of unacknowledged (in-flight) messages (0 or more).',
  );
  const protocol = options.protocol;
  if (protocol !== RabbitMqProtocol.AMQP && protocol !== RabbitMqProtocol.HTTP) {
    throw new Error(
      `keda-scaledjob: options.protocol must be 'amqp' or 'http', got ${show(protocol)}. ` +
        "Resolve 'auto' from the host URL scheme (amqp/amqps -> 'amqp', http/https -> 'http').",
    );
  }
  const exclude = options.excludeUnacknowledged ?? false;
  if (protocol === RabbitMqProtocol.AMQP) {
    if (exclude) {
      throw new Error(
        "keda-scaledjob: options.excludeUnacknowledged is true with protocol 'amqp'; KEDA rejects that " +
          "trigger. Over amqp only ready messages are counted already: drop excludeUnacknowledged, or use 'http'.",
      );
    }
    return ready;
  }
  return exclude ? ready : ready + unacked;
}

/**
 * KEDA's `MaxReplicaCount()` for a ScaledJob: the Job budget its strategies work with.
 * Source: kedacore/keda `apis/keda/v1alpha1/scaledjob_types.go`.
 */
export function kedaMaxReplicaCount(
  minReplicaCount: number | undefined,
  maxReplicaCount: number | undefined,
): number {
  const min = minReplicaCount ?? 0;
  if (maxReplicaCount === undefined) {
    return KedaDefaults.maxReplicaCount;
  }
  return min > maxReplicaCount ? maxReplicaCount : maxReplicaCount - min;
}

/**
 * Reproduces one polling cycle of KEDA 2.16's ScaledJob controller: how many Jobs it creates given the
 * trigger readings, the Jobs already running and pending, and the ScaledJob's replica limits and
 * scaling strategy. Pure: same input, same output; throws on invalid input, naming the field.
 *
 * See the module documentation for the KEDA source files this follows.
 */
export function decideScaledJobScale(input: ScaledJobScaleInput): ScaledJobScaleDecision {
  const running = requireCount(
    'runningJobs',
    input.runningJobs,
    'Pass the number of unfinished Jobs owned by the ScaledJob (0 or more).',
  );
  const pending = requireCount(
    'pendingJobs',
    input.pendingJobs ?? 0,
    'Pass the number of unfinished Jobs whose pod is not running yet (0 or more).',
  );
  if (pending > running) {
    throw new Error(
      `keda-scaledjob: pendingJobs (${pending}) is greater than runningJobs (${running}). KEDA counts ` +
        'pending Jobs among the unfinished ones, so runningJobs must include them: pass runningJobs >= pendingJobs.',
    );
  }
  const specMin =
    input.minReplicaCount === undefined
      ? undefined
      : requireInt32(
          'minReplicaCount',
          input.minReplicaCount,
          'Use 0 (the default) or a positive Job count.',
        );
  const specMax =
    input.maxReplicaCount === undefined
      ? undefined
      : requireInt32(
          'maxReplicaCount',
          input.maxReplicaCount,
          `Use a Job count such as ${KedaDefaults.maxReplicaCount} (the KEDA default).`,
        );
  if (!Array.isArray(input.scalers)) {
    throw new Error(
      `keda-scaledjob: scalers must be an array of trigger readings, got ${show(input.scalers)}. ` +
        'Pass e.g. [{ queueLength: 50, targetValue: 5 }].',
    );
  }
  const calculation = input.multipleScalersCalculation ?? MultipleScalersCalculation.MAX;
  if (!Object.values(MultipleScalersCalculation).includes(calculation)) {
    throw new Error(
      `keda-scaledjob: multipleScalersCalculation must be one of ${Object.values(MultipleScalersCalculation)
        .map((c) => `'${c}'`)
        .join(', ')}, got ${show(calculation)}. Leave it unset for MultipleScalersCalculation.MAX.`,
    );
  }
  const strategy = resolveStrategy(input.scalingStrategy ?? ScalingStrategy.default());

  // scaledjob_types.go: MinReplicaCount() and MaxReplicaCount().
  const minReplicas =
    specMin === undefined ? 0 : specMax !== undefined && specMin > specMax ? specMax : specMin;
  const kedaMax = kedaMaxReplicaCount(specMin, specMax);

  // metrics.go: CalculateQueueLengthAndMaxValue, per trigger.
  const scalers: ScalerFigures[] = input.scalers.map((scaler, i) => {
    const field = `scalers[${i}]`;
    if (typeof scaler !== 'object' || scaler === null) {
      throw new Error(
        `keda-scaledjob: ${field} must be an object like { queueLength: 50, targetValue: 5 }, got ${show(scaler)}.`,
      );
    }
    // Scalers such as prometheus report any float, negative included; KEDA computes with it as is.
    const queueLength = requireFinite(
      `${field}.queueLength`,
      scaler.queueLength,
      'Pass the metric value the trigger reports (e.g. the message count).',
    );
    const targetValue = requirePositive(
      `${field}.targetValue`,
      scaler.targetValue,
      "Pass the trigger's `value` (messages per Job), e.g. 5.",
    );
    const activation = requireFinite(
      `${field}.activationValue`,
      scaler.activationValue ?? 0,
      'Use 0 (the default) or the metric value that must be exceeded before Jobs start.',
    );
    return {
      queueLength,
      targetValue,
      maxValue: Math.min(queueLength / targetValue, kedaMax),
      isActive: queueLength > activation,
    };
  });

  // metrics.go: IsScaledJobActive.
  const combined = combine(scalers, calculation);
  const isActive = combined.isActive || minReplicas > 0;
  const maxScaleUnrounded = Math.min(combined.maxValue, kedaMax);
  const queueLength = Math.ceil(combined.queueLength);
  const maxScale = Math.ceil(maxScaleUnrounded);

  // scale_jobs.go: getScalingDecision.
  let path: ScaledJobScaleDecision['path'];
  let strategyRunningJobs = 0;
  let rawEffectiveMaxScale: number;
  let scaleTo: number;
  if (running < minReplicas) {
    path = 'minReplicaCount';
    rawEffectiveMaxScale = minReplicas - running;
    scaleTo = rawEffectiveMaxScale;
  } else {
    path = 'strategy';
    strategyRunningJobs = running - minReplicas;
    const r = strategyRunningJobs;
    scaleTo = queueLength;
    switch (strategy.name) {
      case 'custom':
        rawEffectiveMaxScale = Math.min(
          maxScale - strategy.deduction - Math.trunc(r * strategy.percentage),
          kedaMax,
        );
        break;
      case 'accurate':
        rawEffectiveMaxScale = maxScale + r > kedaMax ? kedaMax - r : maxScale - pending;
        break;
      case 'eager':
        rawEffectiveMaxScale = Math.min(kedaMax - r - pending, maxScale);
        scaleTo = kedaMax;
        break;
      default:
        rawEffectiveMaxScale = maxScale - r;
    }
  }
  const effectiveMaxScale = Math.max(0, rawEffectiveMaxScale);

  // scale_jobs.go: RequestJobScale and createJobs.
  const jobsToCreate =
    isActive && effectiveMaxScale > 0 ? Math.max(0, Math.min(scaleTo, effectiveMaxScale)) : 0;

  return {
    jobsToCreate,
    isActive,
    effectiveStrategy: strategy.name,
    minReplicaCount: minReplicas,
    kedaMaxReplicaCount: kedaMax,
    scalers,
    queueLengthUnrounded: combined.queueLength,
    queueLength,
    maxScaleUnrounded,
    maxScale,
    path,
    strategyRunningJobs,
    rawEffectiveMaxScale,
    effectiveMaxScale,
    scaleTo,
  };
}

type ResolvedStrategy =
  | { readonly name: 'default' | 'accurate' | 'eager' }
  | { readonly name: 'custom'; readonly deduction: number; readonly percentage: number };

/**
 * Checks a {@link ScalingStrategy} at run time: JavaScript callers, and plain objects of the same shape,
 * bypass its factories.
 */
function resolveStrategy(s: ScalingStrategy): ResolvedStrategy {
  if (typeof s !== 'object' || s === null) {
    throw new Error(
      `keda-scaledjob: scalingStrategy must be a ScalingStrategy, got ${show(s)}. Use e.g. ` +
        'ScalingStrategy.accurate(), or ScalingStrategy.fromSpec(fields) for the fields of a manifest.',
    );
  }
  const name = s.name;
  if (name === 'default' || name === 'accurate' || name === 'eager') {
    return { name };
  }
  if (name !== 'custom') {
    throw unknownStrategy(
      'scalingStrategy.name',
      name,
      'Build the strategy with ScalingStrategy.default(), .accurate(), .eager(), .custom() or .fromSpec().',
    );
  }
  const deduction = requireDeduction('scalingStrategy.queueLengthDeduction', s.queueLengthDeduction);
  const percentage = s.runningJobPercentage;
  if (typeof percentage !== 'number' || !Number.isFinite(percentage)) {
    throw new Error(
      `keda-scaledjob: scalingStrategy.runningJobPercentage must be a finite number, got ${show(percentage)}. ` +
        'Use a fraction such as 0.5 in ScalingStrategy.custom().',
    );
  }
  return { name: 'custom', deduction, percentage };
}

function unknownStrategy(field: string, name: unknown, fix: string): Error {
  return new Error(
    `keda-scaledjob: ${field} must be 'default', 'custom', 'accurate' or 'eager', got ${show(name)}. ${fix}`,
  );
}

/** `customScalingQueueLengthDeduction`: KEDA stores it in an int32 and subtracts it as a Job count. */
function requireDeduction(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || Math.abs(value) > INT32_MAX) {
    throw new Error(
      `keda-scaledjob: ${field} must be an int32 integer, got ${show(value)}. ` +
        'Use a whole number of Jobs such as 0 or 1.',
    );
  }
  return value;
}

/**
 * The float KEDA parses from `customScalingRunningJobPercentage`, or undefined when KEDA's parse fails.
 * Decimal notation only: Go's hexadecimal float syntax is treated as unparseable (falls back to `default`).
 */
function parsePercentage(value: number | string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new Error(
        `keda-scaledjob: scalingStrategy.customScalingRunningJobPercentage must be a finite number, got ` +
          `${show(value)}. Use a fraction such as 0.5.`,
      );
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new Error(
      `keda-scaledjob: scalingStrategy.customScalingRunningJobPercentage must be a number or a numeric string, ` +
        `got ${show(value)}. Use a fraction such as 0.5 or "0.5".`,
    );
  }
  // Go's strconv.ParseFloat rejects surrounding whitespace, as does this pattern.
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(value)) {
    if (/^[+-]?(inf|infinity|nan)$/i.test(value)) {
      throw new Error(
        `keda-scaledjob: scalingStrategy.customScalingRunningJobPercentage ${show(value)} is not a finite ` +
          'number. Use a fraction such as "0.5".',
      );
    }
    return undefined;
  }
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
}

interface Combined {
  readonly queueLength: number;
  readonly maxValue: number;
  readonly isActive: boolean;
}

/** metrics.go IsScaledJobActive: combine triggers (only active ones take part). */
function combine(scalers: readonly ScalerFigures[], calculation: MultipleScalersCalculation): Combined {
  let queueLength = 0;
  let maxValue = 0;
  let isActive = false;
  switch (calculation) {
    case MultipleScalersCalculation.MIN:
      for (const m of scalers) {
        if ((queueLength === 0 || m.queueLength < queueLength) && m.isActive) {
          queueLength = m.queueLength;
          maxValue = m.maxValue;
          isActive = true;
        }
      }
      break;
    case MultipleScalersCalculation.AVG: {
      let queueSum = 0;
      let maxSum = 0;
      let n = 0;
      for (const m of scalers) {
        if (m.isActive) {
          queueSum += m.queueLength;
          maxSum += m.maxValue;
          isActive = true;
          n++;
        }
      }
      if (n !== 0) {
        queueLength = queueSum / n;
        maxValue = maxSum / n;
      }
      break;
    }
    case MultipleScalersCalculation.SUM:
      for (const m of scalers) {
        if (m.isActive) {
          queueLength += m.queueLength;
          maxValue += m.maxValue;
          isActive = true;
        }
      }
      break;
    default:
      for (const m of scalers) {
        if (m.queueLength > queueLength && m.isActive) {
          queueLength = m.queueLength;
          maxValue = m.maxValue;
          isActive = true;
        }
      }
  }
  return { queueLength, maxValue, isActive };
}

function requireCount(field: string, value: unknown, fix: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`keda-scaledjob: ${field} must be a non-negative integer, got ${show(value)}. ${fix}`);
  }
  return value;
}

function requireInt32(field: string, value: unknown, fix: string): number {
  const n = requireCount(field, value, fix);
  if (n > INT32_MAX) {
    throw new Error(
      `keda-scaledjob: ${field} must fit the CRD's int32 (at most ${INT32_MAX}), got ${n}. ${fix}`,
    );
  }
  return n;
}

function requireFinite(field: string, value: unknown, fix: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`keda-scaledjob: ${field} must be a finite number, got ${show(value)}. ${fix}`);
  }
  return value;
}

function requirePositive(field: string, value: unknown, fix: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`keda-scaledjob: ${field} must be a finite number > 0, got ${show(value)}. ${fix}`);
  }
  return value;
}
