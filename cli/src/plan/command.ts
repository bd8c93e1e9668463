/** `agent-fleet plan`: flags and manifest → simulation → table, summary, SVG and HTML. */
import { writeFileSync } from 'node:fs';
import {
  KedaDefaults,
  RabbitMqProtocol,
  ScalingStrategy,
  type ScalingStrategyName,
} from '@agent-fleet/cdk8s';
import { type CliIo, parseDurationFlag, parseIntFlag, parseNumberFlag, usageError, writeLine } from '../io';
import { renderHtml, renderSvg } from './chart';
import {
  customFallbackNote,
  readScaledJob,
  type ScaledJobSettings,
  strategyFromSpec,
  WORKER_PLAN_DEFAULTS,
} from './manifest';
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
  readonly svg?: string;
  readonly html?: string;
  readonly json?: boolean;
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

  const llmAny =
    flags.llmRpm ??
    flags.llmTpm ??
    flags.llmRequestsPerTask ??
    flags.llmTokensPerTask ??
    flags.llmUtilization;
  let llm: PlanInput['llm'];
  if (llmAny !== undefined) {
    if (flags.llmRequestsPerTask === undefined || flags.llmTokensPerTask === undefined) {
      throw usageError('the LLM figures need --llm-requests-per-task and --llm-tokens-per-task.');
    }
    if ((flags.llmRpm === undefined) !== (flags.llmTpm === undefined)) {
      throw usageError('pass both --llm-rpm and --llm-tpm (the gateway limits), or neither.');
    }
    const utilization =
      flags.llmUtilization !== undefined
        ? parseNumberFlag('--llm-utilization', flags.llmUtilization)
        : undefined;
    if (utilization !== undefined && utilization > 1) {
      throw usageError(`--llm-utilization is a fraction in (0, 1], got "${flags.llmUtilization}".`);
    }
    llm = {
      requestsPerTask: parseNumberFlag('--llm-requests-per-task', flags.llmRequestsPerTask),
      tokensPerTask: parseNumberFlag('--llm-tokens-per-task', flags.llmTokensPerTask),
      requestsPerMinute: flags.llmRpm !== undefined ? parseNumberFlag('--llm-rpm', flags.llmRpm) : undefined,
      tokensPerMinute: flags.llmTpm !== undefined ? parseNumberFlag('--llm-tpm', flags.llmTpm) : undefined,
      maxUtilization: utilization,
    };
  }

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
      multipleScalersCalculation: base?.multipleScalersCalculation,
      protocol,
      excludeUnacknowledged: flags.excludeUnacknowledged ?? base?.excludeUnacknowledged,
    },
    maxTasks,
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
  };
  return { input, notes, name: base?.name ?? 'flags' };
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

/** The poll table as rows of strings (header first). */
export function pollTable(result: PlanResult): string[][] {
  return [
    ['time (s)', 'ready', 'unacked', 'metric', 'running', 'pending', 'created'],
    ...result.polls.map((p) =>
      [p.time, p.ready, p.unacked, p.metric, p.running, p.pending, p.created].map((n) => String(n)),
    ),
  ];
}

function formatTable(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
}

const round = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

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
  const lines = [
    `ScaledJob ${name}: value ${sj.value}, maxReplicaCount ${sj.maxReplicaCount ?? UNSET_MAX}, minReplicaCount ${sj.minReplicaCount ?? 0}, pollingInterval ${sj.pollingInterval} s, strategy ${sj.scalingStrategy.name}, protocol ${sj.protocol}`,
    `workload: ${result.totalTasks} task(s) (${input.arrivals.kind === 'burst' ? 'burst at 0 s' : `${input.arrivals.perMinute}/min for ${input.arrivals.durationSeconds} s`}), task duration ${describeDistribution(input.taskDuration)}, ${input.podPending ? `pod pending ${describeDistribution(input.podPending)} then ` : ''}pod start-up ${input.startupSeconds} s, ${input.maxTasks === 0 ? 'no task limit per Job' : `${input.maxTasks} task(s) per Job`}, idle exit ${input.idleExitSeconds} s, seed ${input.seed}`,
    ...(input.pendingPodConditions
      ? [
          `pending Jobs (KEDA): unfinished with pendingPodConditions ${input.pendingPodConditions.join(', ')} not all true (PodScheduled once scheduled, Ready once the agent takes messages)`,
        ]
      : []),
    `Jobs created: ${result.jobsCreated}${jobsPerTask(input, result)}; peak Jobs ${result.peakJobs} (incl. starting), peak pods running ${result.peakPods}, peak Jobs busy ${result.peakBusyJobs}`,
    result.drainedAt !== undefined
      ? `time to drain: ${result.drainedAt} s (all ${result.totalTasks} tasks completed); longest wait in queue ${result.maxWaitSeconds} s`
      : `NOT drained within the ${input.horizonSeconds} s horizon: ${result.completedTasks}/${result.totalTasks} tasks completed; longest wait in queue >= ${result.maxWaitSeconds} s`,
  ];
  if (result.llmPeak) {
    lines.push(
      `LLM load at peak (${result.peakBusyJobs} busy Jobs): ${round(result.llmPeak.requestsPerMinute)} requests/min, ${round(result.llmPeak.tokensPerMinute)} tokens/min`,
    );
  }
  const cap = result.llmCapacity;
  if (cap && result.llmPeak) {
    const over =
      result.llmPeak.requestsPerMinute > cap.requestBudgetPerMinute ||
      result.llmPeak.tokensPerMinute > cap.tokenBudgetPerMinute;
    lines.push(
      `LLM budget (${Math.round(cap.maxUtilization * 100)}% of the gateway): ${round(cap.requestBudgetPerMinute)} requests/min, ${round(cap.tokenBudgetPerMinute)} tokens/min -> ${over ? 'OVER BUDGET at peak' : 'within budget at peak'}; safe maxReplicaCount ${cap.maxReplicaCount} (bound by ${cap.bindingLimit})`,
    );
    const max = sj.maxReplicaCount;
    if (max === undefined || max > cap.maxReplicaCount) {
      lines.push(
        `warning: maxReplicaCount ${max ?? UNSET_MAX} allows more busy Jobs than the LLM budget (${cap.maxReplicaCount}).`,
      );
    }
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
