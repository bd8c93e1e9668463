/** `agent-fleet plan`: flags and manifest → simulation → table, summary, SVG and HTML. */
import { writeFileSync } from 'node:fs';
import {
  KedaDefaults,
  LlmCapacityAnnotations,
  MultipleScalersCalculation,
  RabbitMqProtocol,
  ScalingStrategy,
  type ScalingStrategyName,
  TOKEN_BUDGET_TRIGGER_NAME,
} from '@agent-fleet/cdk8s';
import { concurrencyViolation, Defaults, Env } from '@agent-fleet/contract';
import { type CliIo, parseDurationFlag, parseIntFlag, parseNumberFlag, usageError, writeLine } from '../io';
import { renderHtml, renderSvg } from './chart';
import {
  customFallbackNote,
  KUEUE_QUEUE_NAME_LABEL,
  type LlmAnnotationValues,
  readScaledJob,
  type ScaledJobSettings,
  strategyFromSpec,
  WORKER_PLAN_DEFAULTS,
} from './manifest';
import { runPoolPlan, wantsPool } from './pool-command';
import { describeDistribution, parseDistribution } from './random';
import {
  type ArrivalPattern,
  MODELLED_POD_CONDITIONS,
  type PlanInput,
  type PlanResult,
  simulatePlan,
} from './simulate';

/** Flags of `agent-fleet plan`, as commander hands them over (strings). */
export interface PlanFlags {
  readonly from?: string;
  readonly name?: string;
  readonly value?: string;
  readonly activationValue?: string;
  readonly max?: string;
  readonly min?: string;
  readonly pollingInterval?: string;
  readonly strategy?: string;
  readonly customDeduction?: string;
  readonly customPercentage?: string;
  readonly protocol?: string;
  readonly excludeUnacknowledged?: boolean;
  readonly maxTasks?: string;
  readonly concurrency?: string;
  readonly idleExit?: string;
  readonly burst?: string;
  readonly rate?: string;
  readonly for?: string;
  readonly taskDuration?: string;
  readonly startup?: string;
  readonly podPending?: string;
  readonly pendingPodConditions?: string;
  readonly seed?: string;
  readonly horizon?: string;
  readonly llmRpm?: string;
  readonly llmTpm?: string;
  readonly llmRequestsPerTask?: string;
  readonly llmTokensPerTask?: string;
  readonly llmUtilization?: string;
  readonly tokenBudget?: string;
  readonly tokenWindow?: string;
  /** Kueue's quota in agent pods: Jobs wait suspended for admission. */
  readonly kueueQuota?: string;
  readonly svg?: string;
  readonly html?: string;
  readonly json?: boolean;
  /** Simulate an AgentPool (Deployment + ScaledObject) next to the ScaledJob. */
  readonly pool?: boolean;
}

/** Every strategy name, in the order `--help` lists them (the record makes the compiler check the list). */
const STRATEGIES = Object.keys({
  default: true,
  accurate: true,
  eager: true,
  custom: true,
} satisfies Record<ScalingStrategyName, true>);

/** Defaults of the plan model for what neither the manifest nor a flag sets. */
export const PLAN_DEFAULTS = {
  value: 1,
  taskDuration: '60s',
  startupSeconds: 10,
  seed: 1,
  horizonSeconds: 3600,
  /** The gate query's `rate()` window when neither the manifest nor `--token-window` gives one. */
  tokenWindowSeconds: 120,
  /** Largest horizon accepted (7 days, simulated second by second). */
  maxHorizonSeconds: 7 * 24 * 3600,
} as const;

/** Turns flags (and the `--from` manifest) into the simulator's input. Throws usage errors. */
export function planInputFromFlags(flags: PlanFlags): { input: PlanInput; notes: string[]; name: string } {
  let base: ScaledJobSettings | undefined;
  if (flags.from !== undefined) {
    base = readScaledJob(flags.from, flags.name);
  } else if (flags.name !== undefined) {
    throw usageError('--name picks a ScaledJob from the --from file; pass --from too.');
  }
  const notes = [...(base?.notes ?? [])];
  const value =
    flags.value !== undefined
      ? parseNumberFlag('--value', flags.value)
      : (base?.value ?? PLAN_DEFAULTS.value);
  const scalingStrategy = strategyFromFlags(flags, base?.scalingStrategy, notes);
  const rawProtocol = flags.protocol ?? base?.protocol ?? RabbitMqProtocol.AMQP;
  const protocol = Object.values(RabbitMqProtocol).find((p) => p === rawProtocol);
  if (protocol === undefined) {
    throw usageError(
      `--protocol must be ${Object.values(RabbitMqProtocol).join(' or ')}, got "${rawProtocol}".`,
    );
  }
  const pollingInterval =
    flags.pollingInterval !== undefined
      ? Math.round(parseDurationFlag('--polling-interval', flags.pollingInterval))
      : (base?.pollingInterval ?? KedaDefaults.pollingIntervalSeconds);
  if (pollingInterval < 1) {
    throw usageError('--polling-interval must be at least 1 second.');
  }
  let maxTasks: number;
  if (flags.maxTasks !== undefined) {
    maxTasks = parseIntFlag('--max-tasks', flags.maxTasks);
  } else if (base) {
    maxTasks = base.maxTasks ?? WORKER_PLAN_DEFAULTS.maxTasks;
  } else {
    maxTasks = Math.max(1, Math.ceil(value));
    notes.push(`--max-tasks not given: each Job takes ${maxTasks} task(s) (the trigger value), then exits.`);
  }
  const concurrency = concurrencyFrom(flags, base, value, maxTasks, notes);
  const idleExitSeconds =
    flags.idleExit !== undefined
      ? Math.round(parseDurationFlag('--idle-exit', flags.idleExit, { allowZero: true }))
      : (base?.idleExitSeconds ?? WORKER_PLAN_DEFAULTS.idleExitSeconds);

  const arrivals = arrivalsFromFlags(flags);
  const taskDuration = parseDistribution('--task-duration', flags.taskDuration ?? PLAN_DEFAULTS.taskDuration);
  const startupSeconds =
    flags.startup !== undefined
      ? Math.round(parseDurationFlag('--startup', flags.startup, { allowZero: true }))
      : PLAN_DEFAULTS.startupSeconds;
  const podPending = podPendingFromFlag(flags.podPending);
  const pendingPodConditions = pendingPodConditionsFrom(flags, base, notes);
  const seed = flags.seed !== undefined ? parseIntFlag('--seed', flags.seed) : PLAN_DEFAULTS.seed;
  const horizonSeconds =
    flags.horizon !== undefined
      ? Math.round(parseDurationFlag('--horizon', flags.horizon))
      : PLAN_DEFAULTS.horizonSeconds;
  if (horizonSeconds > PLAN_DEFAULTS.maxHorizonSeconds) {
    throw usageError(
      `--horizon is at most ${PLAN_DEFAULTS.maxHorizonSeconds} s (7 days), got ${horizonSeconds} s.`,
    );
  }

  const annotated = base?.llm ?? {};
  const figure = llmFigures(flags, annotated, notes);
  const tokenBudget = tokenBudgetFrom(flags, base, figure.tokensPerTask, notes);
  const llm = llmFrom(figure, annotated.taskDurationSeconds, tokenBudget !== undefined);
  const kueue = kueueFrom(flags, base, notes);

  const input: PlanInput = {
    scaledJob: {
      value,
      activationValue:
        flags.activationValue !== undefined
          ? parseNumberFlag('--activation-value', flags.activationValue, { allowZero: true })
          : base?.activationValue,
      maxReplicaCount: flags.max !== undefined ? parseIntFlag('--max', flags.max) : base?.maxReplicaCount,
      minReplicaCount: flags.min !== undefined ? parseIntFlag('--min', flags.min) : base?.minReplicaCount,
      pollingInterval,
      scalingStrategy,
      // The gate works only as the last trigger under min; tokenBudgetFrom rejects any other setting.
      multipleScalersCalculation:
        tokenBudget !== undefined ? MultipleScalersCalculation.MIN : base?.multipleScalersCalculation,
      protocol,
      excludeUnacknowledged: flags.excludeUnacknowledged ?? base?.excludeUnacknowledged,
    },
    maxTasks,
    concurrency,
    idleExitSeconds,
    startupSeconds,
    // Left undefined when unset, so JSON output without them is unchanged.
    podPending,
    pendingPodConditions,
    arrivals,
    taskDuration,
    seed,
    horizonSeconds,
    llm,
    tokenBudget,
    kueue,
  };
  return { input, notes, name: base?.name ?? 'flags' };
}

/**
 * `--concurrency`, else the manifest's AGENT_CONCURRENCY (the worker's default when it sets none), else,
 * with flags only, the per-Job tasks as `AgentScaledJob` writes them: the trigger value, at most
 * `--max-tasks`. Checked with the contract's rule, the one the worker applies at startup.
 */
function concurrencyFrom(
  flags: PlanFlags,
  base: ScaledJobSettings | undefined,
  value: number,
  maxTasks: number,
  notes: string[],
): number {
  let concurrency: number;
  if (flags.concurrency !== undefined) {
    concurrency = parseIntFlag('--concurrency', flags.concurrency, { min: 1 });
  } else if (base) {
    concurrency = base.concurrency ?? Defaults.concurrency;
    if (base.concurrency === undefined) {
      notes.push(
        `the manifest sets no ${Env.AGENT_CONCURRENCY}: each Job runs ${concurrency} task(s) at a time (the worker's default).`,
      );
    }
  } else {
    const perJob = Math.max(1, Math.ceil(value));
    concurrency = maxTasks > 0 ? Math.min(perJob, maxTasks) : perJob;
    notes.push(
      `--concurrency not given: each Job runs up to ${concurrency} task(s) at once (the trigger value${concurrency < perJob ? ', at most --max-tasks' : ''}, as AgentScaledJob sets ${Env.AGENT_CONCURRENCY}).`,
    );
  }
  const violation = concurrencyViolation(concurrency, maxTasks);
  if (violation) {
    throw usageError(`concurrency ${concurrency} ${violation.problem}. Fix: ${violation.fix}.`);
  }
  return concurrency;
}

/** The LLM figures a flag or an annotation gives, as numbers (flags win). */
interface LlmFigures {
  readonly requestsPerTask?: number;
  readonly tokensPerTask?: number;
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
  readonly maxUtilization?: number;
}

/** Each LLM flag, the annotation it overrides, and the field it fills. */
const LLM_FLAGS = [
  ['--llm-requests-per-task', 'llmRequestsPerTask', 'requestsPerTask', 'requestsPerTask'],
  ['--llm-tokens-per-task', 'llmTokensPerTask', 'tokensPerTask', 'tokensPerTask'],
  ['--llm-rpm', 'llmRpm', 'gatewayRequestsPerMinute', 'requestsPerMinute'],
  ['--llm-tpm', 'llmTpm', 'gatewayTokensPerMinute', 'tokensPerMinute'],
  ['--llm-utilization', 'llmUtilization', 'maxUtilization', 'maxUtilization'],
] as const satisfies ReadonlyArray<
  readonly [string, keyof PlanFlags, keyof typeof LlmCapacityAnnotations, keyof LlmFigures]
>;

/**
 * The LLM figures from the flags, else from the manifest's annotations (the figures the construct's
 * guard used); a flag that overrides a different annotated value gets a note.
 */
function llmFigures(flags: PlanFlags, annotated: LlmAnnotationValues, notes: string[]): LlmFigures {
  const figures: Record<string, number | undefined> = {};
  for (const [flag, key, annotation, field] of LLM_FLAGS) {
    const raw = flags[key] as string | undefined;
    const fromFlag = raw === undefined ? undefined : parseNumberFlag(flag, raw);
    const fromManifest = annotated[annotation];
    if (fromFlag !== undefined && fromManifest !== undefined && fromFlag !== fromManifest) {
      notes.push(
        `${flag} ${fromFlag} overrides the manifest's ${LlmCapacityAnnotations[annotation]} (${fromManifest}).`,
      );
    }
    figures[field] = fromFlag ?? fromManifest;
  }
  const utilization = figures.maxUtilization;
  if (utilization !== undefined && utilization > 1) {
    throw usageError(`--llm-utilization is a fraction in (0, 1], got ${utilization}.`);
  }
  return figures;
}

/**
 * The LLM load and capacity figures. Any LLM figure asks for both per-task figures, except the tokens
 * per task alone, which the token-budget gate needs by itself.
 */
function llmFrom(
  figures: LlmFigures,
  taskDurationSeconds: number | undefined,
  gate: boolean,
): PlanInput['llm'] {
  const { requestsPerTask, tokensPerTask, requestsPerMinute, tokensPerMinute, maxUtilization } = figures;
  const any = [requestsPerTask, requestsPerMinute, tokensPerMinute, maxUtilization].some(
    (v) => v !== undefined,
  );
  if (!any && (gate || tokensPerTask === undefined)) {
    return undefined;
  }
  if (requestsPerTask === undefined || tokensPerTask === undefined) {
    throw usageError('the LLM figures need --llm-requests-per-task and --llm-tokens-per-task.');
  }
  if ((requestsPerMinute === undefined) !== (tokensPerMinute === undefined)) {
    throw usageError('pass both --llm-rpm and --llm-tpm (the gateway limits), or neither.');
  }
  return {
    requestsPerTask,
    tokensPerTask,
    requestsPerMinute,
    tokensPerMinute,
    maxUtilization,
    // The manifest's task duration is the one its guard used, so the safe maxReplicaCount matches it.
    taskDurationSeconds,
  };
}

/**
 * The token-budget gate: modelled when the manifest has the gate trigger, or with `--token-budget`.
 * Budget and window come from the flags, else from the manifest's annotations.
 */
function tokenBudgetFrom(
  flags: PlanFlags,
  base: ScaledJobSettings | undefined,
  tokensPerTask: number | undefined,
  notes: string[],
): PlanInput['tokenBudget'] {
  const inManifest = base?.tokenBudgetGate ?? false;
  if (!inManifest && flags.tokenBudget === undefined) {
    if (flags.tokenWindow !== undefined) {
      throw usageError('--token-window goes with --token-budget (or a manifest with the gate trigger).');
    }
    return undefined;
  }
  const annotated = base?.llm ?? {};
  const budgetFlag =
    flags.tokenBudget === undefined ? undefined : parseNumberFlag('--token-budget', flags.tokenBudget);
  const windowFlag =
    flags.tokenWindow === undefined ? undefined : parseDurationFlag('--token-window', flags.tokenWindow);
  for (const [flag, given, key] of [
    ['--token-budget', budgetFlag, 'tokenBudgetPerMinute'],
    ['--token-window', windowFlag, 'tokenBudgetWindowSeconds'],
  ] as const) {
    const manifest = annotated[key];
    if (inManifest && given !== undefined && manifest !== undefined && given !== manifest) {
      notes.push(`${flag} ${given} overrides the manifest's ${LlmCapacityAnnotations[key]} (${manifest}).`);
    }
  }
  const budgetPerMinute = budgetFlag ?? (inManifest ? annotated.tokenBudgetPerMinute : undefined);
  if (budgetPerMinute === undefined || budgetPerMinute <= 0) {
    throw usageError(
      `${base?.name ?? 'the ScaledJob'} has the token-budget gate (trigger ${TOKEN_BUDGET_TRIGGER_NAME}) but no ` +
        `annotation ${LlmCapacityAnnotations.tokenBudgetPerMinute} > 0; pass --token-budget TOKENS_PER_MINUTE.`,
    );
  }
  if (tokensPerTask === undefined) {
    throw usageError(
      `the token-budget gate needs the tokens one task consumes: pass --llm-tokens-per-task (or the annotation ${LlmCapacityAnnotations.tokensPerTask}).`,
    );
  }
  const calculation = base?.multipleScalersCalculation;
  if (!inManifest) {
    if (calculation !== undefined && calculation !== MultipleScalersCalculation.MIN) {
      throw usageError(
        `--token-budget models the gate trigger ${TOKEN_BUDGET_TRIGGER_NAME}, which needs scalingStrategy.multipleScalersCalculation min; the manifest sets ${calculation}.`,
      );
    }
    if (base) {
      notes.push(
        `modelling the token-budget gate (trigger ${TOKEN_BUDGET_TRIGGER_NAME}, last, with multipleScalersCalculation min), which the manifest does not have.`,
      );
    }
  }
  // The simulation keeps the token counter per second: the window is a whole number of them.
  const windowSeconds = Math.round(
    windowFlag ??
      (inManifest ? annotated.tokenBudgetWindowSeconds : undefined) ??
      PLAN_DEFAULTS.tokenWindowSeconds,
  );
  if (windowSeconds < 1) {
    throw usageError(
      `the gate's rate window must be at least 1 second (--token-window or ${LlmCapacityAnnotations.tokenBudgetWindowSeconds}).`,
    );
  }
  return { budgetPerMinute, windowSeconds, tokensPerTask };
}

/**
 * Kueue admission: modelled with `--kueue-quota`, which a manifest whose ScaledJob carries the label
 * `kueue.x-k8s.io/queue-name` requires: the quota lives in a ClusterQueue, usually not in the chart, and
 * without it the plan would show agents starting that Kueue keeps waiting.
 */
function kueueFrom(
  flags: PlanFlags,
  base: ScaledJobSettings | undefined,
  notes: string[],
): PlanInput['kueue'] {
  const queueName = base?.kueueQueueName;
  if (flags.kueueQuota === undefined) {
    if (queueName !== undefined) {
      throw usageError(
        `ScaledJob ${base?.name} carries the label ${KUEUE_QUEUE_NAME_LABEL}: ${queueName}, so Kueue admits its Jobs only ` +
          `within the ClusterQueue's quota, which plan cannot read from the manifest; pass --kueue-quota PODS ` +
          `(the agent pods the quota fits at once: the smallest of quota / one pod's request over the resources).`,
      );
    }
    return undefined;
  }
  const quotaPods = parseIntFlag('--kueue-quota', flags.kueueQuota, { min: 1 });
  if (base && queueName === undefined) {
    notes.push(
      `modelling Kueue admission (quota ${quotaPods} pods), which the manifest does not ask for: its ScaledJob has no label ${KUEUE_QUEUE_NAME_LABEL}.`,
    );
  }
  return { quotaPods, queueName };
}

/**
 * The strategy from `--strategy`, `--custom-deduction` and `--custom-percentage`, each overriding the
 * manifest's field, read as KEDA reads a manifest ({@link ScalingStrategy.fromSpec}).
 */
function strategyFromFlags(
  flags: PlanFlags,
  base: ScalingStrategy | undefined,
  notes: string[],
): ScalingStrategy {
  const fromManifest = base ?? ScalingStrategy.default();
  if (
    flags.strategy === undefined &&
    flags.customDeduction === undefined &&
    flags.customPercentage === undefined
  ) {
    return fromManifest;
  }
  if (flags.strategy !== undefined && !STRATEGIES.includes(flags.strategy)) {
    throw usageError(`--strategy must be one of ${STRATEGIES.join(', ')}, got "${flags.strategy}".`);
  }
  const fields = {
    strategy: flags.strategy ?? fromManifest.name,
    customScalingQueueLengthDeduction:
      flags.customDeduction !== undefined
        ? intSigned('--custom-deduction', flags.customDeduction)
        : fromManifest.queueLengthDeduction,
    customScalingRunningJobPercentage: flags.customPercentage ?? fromManifest.runningJobPercentage,
  };
  const strategy = strategyFromSpec(fields, '--strategy, --custom-deduction, --custom-percentage');
  if (fields.strategy === 'custom' && strategy.name !== 'custom') {
    notes.push(customFallbackNote('--custom-percentage', fields.customScalingRunningJobPercentage));
  }
  return strategy;
}

/** `--pod-pending`: 0 (the default) means no delay; otherwise the syntax of `--task-duration`. */
function podPendingFromFlag(value: string | undefined): PlanInput['podPending'] {
  if (value === undefined || /^0+(\.0+)?(s|m|h)?$/.test(value.trim())) {
    return undefined;
  }
  return parseDistribution('--pod-pending', value);
}

/**
 * `--pending-pod-conditions` (comma-separated; an empty value clears the manifest's list), else the
 * manifest's `scalingStrategy.pendingPodConditions`. Undefined means KEDA's rule without them.
 */
function pendingPodConditionsFrom(
  flags: PlanFlags,
  base: ScaledJobSettings | undefined,
  notes: string[],
): readonly string[] | undefined {
  const list =
    flags.pendingPodConditions !== undefined
      ? flags.pendingPodConditions
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== '')
      : base?.pendingPodConditions;
  if (list === undefined || list.length === 0) {
    return undefined;
  }
  const unknown = list.filter((c) => !Object.hasOwn(MODELLED_POD_CONDITIONS, c));
  if (unknown.length > 0) {
    // KEDA accepts any string; a condition no pod reports keeps every unfinished Job pending.
    notes.push(
      `pendingPodConditions ${unknown.join(', ')} is never true in the model (it models ${Object.keys(MODELLED_POD_CONDITIONS).join(', ')}): every unfinished Job counts as pending.`,
    );
  }
  return list;
}

function intSigned(flag: string, value: string): number {
  if (!/^-?\d+$/.test(value.trim())) {
    throw usageError(`${flag} must be a whole number, got "${value}".`);
  }
  return Number(value.trim());
}

function arrivalsFromFlags(flags: PlanFlags): ArrivalPattern {
  if (flags.burst !== undefined && flags.rate !== undefined) {
    throw usageError('pass either --burst N or --rate N --for DURATION, not both.');
  }
  if (flags.burst !== undefined) {
    if (flags.for !== undefined) {
      throw usageError('--for goes with --rate, not --burst.');
    }
    return { kind: 'burst', count: parseIntFlag('--burst', flags.burst, { min: 1 }) };
  }
  if (flags.rate !== undefined) {
    if (flags.for === undefined) {
      throw usageError('--rate needs --for DURATION (how long tasks keep arriving, e.g. 10m).');
    }
    const perMinute = parseNumberFlag('--rate', flags.rate);
    const durationSeconds = parseDurationFlag('--for', flags.for);
    if (Math.floor((perMinute * durationSeconds) / 60 + 1e-9) < 1) {
      throw usageError(
        `--rate ${flags.rate} for ${flags.for} brings no task; raise the rate or the duration.`,
      );
    }
    return { kind: 'rate', perMinute, durationSeconds };
  }
  throw usageError(
    'pass an arrival pattern: --burst N (N tasks at once) or --rate N --for DURATION (N tasks/min).',
  );
}

const round = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** The poll table as rows of strings (header first). */
export function pollTable(result: PlanResult): string[][] {
  const gate = result.tokenBudget !== undefined;
  const kueue = result.kueue !== undefined;
  const head = ['time (s)', 'ready', 'unacked', 'metric', 'running', 'pending', 'created'];
  return [
    [...head, ...(kueue ? ['waiting'] : []), ...(gate ? ['tokens/min', 'gate'] : [])],
    ...result.polls.map((p) => [
      ...[p.time, p.ready, p.unacked, p.metric, p.running, p.pending, p.created].map((n) => String(n)),
      ...(kueue ? [String(p.waiting ?? 0)] : []),
      ...(gate ? [round(p.tokensPerMinute ?? 0), p.gateClosed ? 'closed' : 'open'] : []),
    ]),
  ];
}

function formatTable(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
}

/** How the summary shows an unset `maxReplicaCount`. */
const UNSET_MAX = `unset (${KedaDefaults.maxReplicaCount})`;

/**
 * Jobs created per task next to the ideal, `ceil(tasks / tasks per Job)`: the factor by which KEDA
 * made more Jobs (pods, node scale-up, LLM concurrency) than the trigger's value asks for.
 */
export function jobsPerTask(input: PlanInput, result: PlanResult): string {
  if (result.totalTasks === 0) {
    return '';
  }
  const perTask = (result.jobsCreated / result.totalTasks).toFixed(2);
  if (input.maxTasks === 0) {
    return ` for ${result.totalTasks} task(s) (${perTask} per task)`;
  }
  const ideal = Math.ceil(result.totalTasks / input.maxTasks);
  const factor = (result.jobsCreated / ideal).toFixed(2);
  return ` for ${result.totalTasks} task(s) (${perTask} per task); ideal at ${input.maxTasks} task(s) per Job: ${ideal} (${factor}× the ideal)`;
}

/** The summary lines printed under the table (and listed in the HTML page). */
export function summaryLines(input: PlanInput, result: PlanResult, name: string): string[] {
  const sj = input.scaledJob;
  const concurrency = input.concurrency ?? Defaults.concurrency;
  const lines = [
    `ScaledJob ${name}: value ${sj.value}, maxReplicaCount ${sj.maxReplicaCount ?? UNSET_MAX}, minReplicaCount ${sj.minReplicaCount ?? 0}, pollingInterval ${sj.pollingInterval} s, strategy ${sj.scalingStrategy.name}, protocol ${sj.protocol}`,
    `workload: ${result.totalTasks} task(s) (${input.arrivals.kind === 'burst' ? 'burst at 0 s' : `${input.arrivals.perMinute}/min for ${input.arrivals.durationSeconds} s`}), task duration ${describeDistribution(input.taskDuration)}, ${input.podPending ? `pod pending ${describeDistribution(input.podPending)} then ` : ''}pod start-up ${input.startupSeconds} s, ${input.maxTasks === 0 ? 'no task limit per Job' : `${input.maxTasks} task(s) per Job`}, ${concurrency} at once, idle exit ${input.idleExitSeconds === 0 ? 'never' : `${input.idleExitSeconds} s`}, seed ${input.seed}`,
    ...(input.pendingPodConditions
      ? [
          `pending Jobs (KEDA): unfinished with pendingPodConditions ${input.pendingPodConditions.join(', ')} not all true (PodScheduled once scheduled, Ready once the agent takes messages)`,
        ]
      : []),
    `Jobs created: ${result.jobsCreated}${jobsPerTask(input, result)}; peak Jobs ${result.peakJobs} (incl. starting), peak pods running ${result.peakPods}, peak Jobs busy ${result.peakBusyJobs}, peak tasks running ${result.peakBusyTasks}`,
    result.drainedAt !== undefined
      ? `time to drain: ${result.drainedAt} s (all ${result.totalTasks} tasks completed); longest wait in queue ${result.maxWaitSeconds} s`
      : `NOT drained within the ${input.horizonSeconds} s horizon: ${result.completedTasks}/${result.totalTasks} tasks completed; longest wait in queue >= ${result.maxWaitSeconds} s`,
  ];
  if (result.llmPeak) {
    const seconds = input.llm?.taskDurationSeconds;
    lines.push(
      `LLM load at peak (${result.peakBusyTasks} tasks running at once${seconds === undefined ? '' : `, ${round(seconds)} s per task from the manifest`}): ${round(result.llmPeak.requestsPerMinute)} requests/min, ${round(result.llmPeak.tokensPerMinute)} tokens/min`,
    );
  }
  const cap = result.llmCapacity;
  if (cap && result.llmPeak) {
    const over =
      result.llmPeak.requestsPerMinute > cap.requestBudgetPerMinute ||
      result.llmPeak.tokensPerMinute > cap.tokenBudgetPerMinute;
    lines.push(
      `LLM budget (${Math.round(cap.maxUtilization * 100)}% of the gateway): ${round(cap.requestBudgetPerMinute)} requests/min, ${round(cap.tokenBudgetPerMinute)} tokens/min -> ${over ? 'OVER BUDGET at peak' : 'within budget at peak'}; safe maxReplicaCount ${cap.maxReplicaCount} (bound by ${cap.bindingLimit}, ${cap.concurrency} task(s) per Job at once)`,
    );
    const max = sj.maxReplicaCount;
    if (max === undefined || max > cap.maxReplicaCount) {
      lines.push(
        `warning: maxReplicaCount ${max ?? UNSET_MAX} allows more busy Jobs than the LLM budget (${cap.maxReplicaCount}).`,
      );
    }
  }
  const gate = result.tokenBudget;
  if (gate) {
    lines.push(
      `token-budget gate (${TOKEN_BUDGET_TRIGGER_NAME}, budget ${round(gate.budgetPerMinute)} tokens/min over a ${gate.windowSeconds} s window): closed at ${gate.closedPolls} of ${result.polls.length} polls (${gate.closedSeconds} s), Jobs created while closed ${gate.jobsCreatedWhileClosed}; peak measured ${round(gate.peakTokensPerMinute)} tokens/min`,
    );
  }
  const kueue = result.kueue;
  if (kueue) {
    lines.push(
      `Kueue admission (${kueue.queueName === undefined ? '' : `LocalQueue ${kueue.queueName}, `}quota ${kueue.quotaPods} pod(s)): ${kueue.admittedJobs} of ${result.jobsCreated} Jobs admitted${kueue.waitingAtEnd > 0 ? `, ${kueue.waitingAtEnd} still waiting at the end` : ''}; wait for admission p50 ${kueue.admissionWaitP50Seconds} s, p95 ${kueue.admissionWaitP95Seconds} s, max ${kueue.waitingAtEnd > 0 ? '>= ' : ''}${kueue.admissionWaitMaxSeconds} s; peak Jobs waiting ${kueue.peakWaitingJobs}, peak admitted ${kueue.peakAdmittedJobs}`,
    );
  }
  const readyOnly = sj.protocol === RabbitMqProtocol.AMQP || (sj.excludeUnacknowledged ?? false);
  if (readyOnly && concurrency < sj.value) {
    lines.push(
      `warning: ${Env.AGENT_CONCURRENCY} ${concurrency} is below the trigger value ${sj.value}: KEDA creates one Job per ${sj.value} ready messages and counts ready messages only (${sj.protocol}${sj.protocol === RabbitMqProtocol.HTTP ? ' with excludeUnacknowledged' : ''}), but a new Job takes ${concurrency} at once, so the rest count again at the next poll and Jobs multiply; set ${Env.AGENT_CONCURRENCY} to the value (AgentScaledJob does).`,
    );
  }
  if (sj.protocol === RabbitMqProtocol.AMQP && sj.scalingStrategy.name === 'default') {
    lines.push(
      'warning: strategy default over amqp subtracts in-flight work twice (kedacore/keda issue 6571); compare with --strategy accurate.',
    );
  }
  return lines;
}

/** `agent-fleet plan`. */
export async function runPlan(flags: PlanFlags, io: CliIo): Promise<number> {
  if (wantsPool(flags)) {
    return runPoolPlan(flags, io);
  }
  const { input, notes, name } = planInputFromFlags(flags);
  let result: PlanResult;
  try {
    result = simulatePlan(input);
  } catch (error) {
    // decideScaledJobScale and the LLM guard name the bad field; surface it as a usage error.
    throw usageError((error as Error).message);
  }
  const summary = summaryLines(input, result, name);
  if (flags.json) {
    writeLine(
      io.stdout,
      JSON.stringify(
        { input, polls: result.polls, summary: { ...result, polls: undefined, samples: undefined }, notes },
        null,
        2,
      ),
    );
  } else {
    for (const note of notes) {
      writeLine(io.stdout, `note: ${note}`);
    }
    for (const line of formatTable(pollTable(result))) {
      writeLine(io.stdout, line);
    }
    writeLine(io.stdout);
    for (const line of summary) {
      writeLine(io.stdout, line);
    }
  }
  const title = `agent-fleet plan: ${name} (${input.scaledJob.scalingStrategy.name} over ${input.scaledJob.protocol})`;
  if (flags.svg !== undefined || flags.html !== undefined) {
    const svg = renderSvg(result, {
      title,
      maxReplicaCount: input.scaledJob.maxReplicaCount ?? KedaDefaults.maxReplicaCount,
    });
    if (flags.svg !== undefined) {
      writeFileSync(flags.svg, svg);
      writeLine(io.stderr, `wrote ${flags.svg}`);
    }
    if (flags.html !== undefined) {
      writeFileSync(flags.html, renderHtml(svg, title, summary, pollTable(result)));
      writeLine(io.stderr, `wrote ${flags.html}`);
    }
  }
  return 0;
}
