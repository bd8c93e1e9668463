/** `agent-fleet plan --pool`: an AgentPool next to a ScaledJob for the same arrivals. */
import { readFileSync } from 'node:fs';
import { type CliIo, parseDurationFlag, parseIntFlag, parseNumberFlag, usageError, writeLine } from '../io';
import { PLAN_DEFAULTS, type PlanFlags, planInputFromFlags } from './command';
import { scaledJobsIn } from './manifest';
import {
  hasPool,
  objectsIn,
  type PlanPool,
  type PoolPlanInput,
  type PoolPlanResult,
  pickPool,
  poolFromFlags,
  simulatePool,
} from './pool';
import { describeDistribution } from './random';
import { type PlanInput, type PlanResult, simulatePlan } from './simulate';

/** Flags that shape only the ScaledJob side of the comparison. */
const SCALED_JOB_ONLY = [
  'maxTasks',
  'idleExit',
  'strategy',
  'podPending',
  'pendingPodConditions',
  'kueueQuota',
] as const;

/** Whether `plan` should simulate a pool: `--pool`, or `--from` a file with a pool and no ScaledJob. */
export function wantsPool(flags: PlanFlags): boolean {
  if (flags.pool) return true;
  if (flags.from === undefined) return false;
  const text = readText(flags.from);
  return scaledJobsIn(text, flags.from).length === 0 && hasPool(objectsIn(text, flags.from));
}

function readText(fileName: string): string {
  try {
    return readFileSync(fileName, 'utf8');
  } catch (error) {
    throw usageError(
      `cannot read --from ${fileName}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`,
    );
  }
}

/**
 * The pool (from the `--from` ScaledObject, else the construct's defaults under the flags) and the
 * ScaledJob it is compared with: the flags' ScaledJob, whose trigger value and concurrency default to
 * the pool's, so both sides get the same work per pod.
 */
export function poolPlanFromFlags(flags: PlanFlags): {
  pool: PoolPlanInput;
  scaledJob: PlanInput;
  notes: string[];
} {
  if (flags.svg !== undefined || flags.html !== undefined) {
    throw usageError('--svg and --html chart a ScaledJob only; drop them with --pool.');
  }
  let pool: PlanPool;
  const notes: string[] = [];
  if (flags.from !== undefined) {
    pool = pickPool(objectsIn(readText(flags.from), flags.from), flags.from, flags.name);
    for (const [flag, given] of [
      ['--value', flags.value],
      ['--activation-value', flags.activationValue],
      ['--min', flags.min],
      ['--max', flags.max],
      ['--polling-interval', flags.pollingInterval],
      ['--concurrency', flags.concurrency],
    ] as const) {
      if (given !== undefined)
        notes.push(`${flag} applies to the ScaledJob only; the pool is the manifest's.`);
    }
  } else {
    if (flags.name !== undefined) {
      throw usageError('--name picks a ScaledObject from the --from file; pass --from too.');
    }
    pool = poolFromFlags({
      value: flags.value !== undefined ? parseNumberFlag('--value', flags.value) : PLAN_DEFAULTS.value,
      activationValue:
        flags.activationValue !== undefined
          ? parseNumberFlag('--activation-value', flags.activationValue, { allowZero: true })
          : undefined,
      minReplicaCount: flags.min !== undefined ? parseIntFlag('--min', flags.min) : undefined,
      maxReplicaCount: flags.max !== undefined ? parseIntFlag('--max', flags.max) : undefined,
      pollingIntervalSeconds:
        flags.pollingInterval !== undefined
          ? Math.round(parseDurationFlag('--polling-interval', flags.pollingInterval))
          : undefined,
      concurrency:
        flags.concurrency !== undefined
          ? parseIntFlag('--concurrency', flags.concurrency, { min: 1 })
          : undefined,
    });
  }
  const jobFlags: PlanFlags = {
    ...flags,
    from: undefined,
    name: undefined,
    value: flags.value ?? String(pool.value),
    concurrency: flags.concurrency ?? String(pool.concurrency),
    pollingInterval: flags.pollingInterval ?? String(pool.pollingInterval),
  };
  const job = planInputFromFlags(jobFlags);
  notes.push(...job.notes.map((n) => `ScaledJob: ${n}`));
  for (const key of SCALED_JOB_ONLY) {
    if (flags[key] !== undefined) notes.push(`--${kebab(key)} applies to the ScaledJob only.`);
  }
  const input = job.input;
  return {
    pool: {
      pool,
      arrivals: input.arrivals,
      taskDuration: input.taskDuration,
      seed: input.seed,
      startupSeconds: input.startupSeconds,
      horizonSeconds: input.horizonSeconds,
    },
    scaledJob: input,
    notes,
  };
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Replica changes as `time s: replicas`, from the polls that changed the count. */
export function replicasOverTime(result: PoolPlanResult): string {
  const first = result.polls[0];
  const changes = result.polls.filter((p) => p.replicas !== p.from);
  const start = first ? `0 s: ${first.from}` : '';
  return [start, ...changes.map((p) => `${p.time} s: ${p.replicas}`)].filter((s) => s !== '').join(', ');
}

/** The pool table as rows of strings (header first). */
export function poolTable(result: PoolPlanResult): string[][] {
  return [
    ['time (s)', 'ready', 'unacked', 'metric', 'replicas', 'decided by', 'requeued'],
    ...result.polls.map((p) => [
      String(p.time),
      String(p.ready),
      String(p.unacked),
      String(p.metric),
      p.replicas === p.from ? String(p.replicas) : `${p.from}->${p.replicas}`,
      p.path,
      String(p.requeued),
    ]),
  ];
}

const drain = (drainedAt: number | undefined, horizon: number) =>
  drainedAt !== undefined ? `${drainedAt} s` : `not within ${horizon} s`;

/** The summary lines: the pool, then the ScaledJob for the same arrivals. */
export function poolSummaryLines(
  input: PoolPlanInput,
  result: PoolPlanResult,
  job: PlanInput,
  jobResult: PlanResult,
): string[] {
  const p = input.pool;
  const policies = p.behavior?.scaleDown?.policies ?? [];
  const scaleDown =
    policies.length > 0
      ? `scale-down at most ${policies.map((x) => `${x.value}${x.type === 'Percent' ? '%' : ' pod(s)'} per ${x.periodSeconds} s`).join(' or ')} after a ${p.behavior?.scaleDown?.stabilizationWindowSeconds ?? 'default'} s window`
      : "Kubernetes' default scale-down";
  const arrivals =
    input.arrivals.kind === 'burst'
      ? 'burst at 0 s'
      : `${input.arrivals.perMinute}/min for ${input.arrivals.durationSeconds} s`;
  return [
    `AgentPool ${p.name}: value ${p.value} per replica (ready + unacknowledged), minReplicaCount ${p.minReplicaCount}, maxReplicaCount ${p.maxReplicaCount}, pollingInterval ${p.pollingInterval} s, ${p.concurrency} task(s) per pod at once, ${scaleDown}`,
    `workload: ${result.totalTasks} task(s) (${arrivals}), task duration ${describeDistribution(input.taskDuration)}, pod start-up ${input.startupSeconds} s, seed ${input.seed}`,
    `pool replicas over time: ${replicasOverTime(result)}`,
    `pool: peak pods running ${result.peakPods} (peak replicas ${result.peakReplicas}), peak tasks running ${result.peakBusyTasks}, time to drain ${drain(result.drainedAt, input.horizonSeconds)}, longest wait in queue ${result.maxWaitSeconds} s, tasks requeued by scale-down ${result.requeuedTasks}, back at ${p.idleReplicaCount ?? p.minReplicaCount} replica(s) ${result.settledAt !== undefined ? `at ${result.settledAt} s` : `not within ${input.horizonSeconds} s`}, ${result.podSeconds} pod-seconds`,
    `ScaledJob (value ${job.scaledJob.value}, ${job.maxTasks === 0 ? 'no task limit' : `${job.maxTasks} task(s)`} per Job, strategy ${job.scaledJob.scalingStrategy.name} over ${job.scaledJob.protocol}): Jobs created ${jobResult.jobsCreated}, peak pods running ${jobResult.peakPods}, time to drain ${drain(jobResult.drainedAt, job.horizonSeconds)}, longest wait in queue ${jobResult.maxWaitSeconds} s, ${jobResult.samples.reduce((sum, s) => sum + s.runningPods, 0)} pod-seconds`,
  ];
}

function formatTable(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
}

/** Runs both simulations and prints the pool's table and both summaries. */
export async function runPoolPlan(flags: PlanFlags, io: CliIo): Promise<number> {
  const { pool, scaledJob, notes } = poolPlanFromFlags(flags);
  let result: PoolPlanResult;
  let jobResult: PlanResult;
  try {
    result = simulatePool(pool);
    jobResult = simulatePlan(scaledJob);
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const summary = poolSummaryLines(pool, result, scaledJob, jobResult);
  if (flags.json) {
    writeLine(
      io.stdout,
      JSON.stringify(
        {
          pool: {
            input: pool,
            polls: result.polls,
            summary: { ...result, polls: undefined, samples: undefined },
          },
          scaledJob: { input: scaledJob, summary: { ...jobResult, polls: undefined, samples: undefined } },
          summary,
          notes,
        },
        null,
        2,
      ),
    );
    return 0;
  }
  for (const note of notes) writeLine(io.stdout, `note: ${note}`);
  for (const line of formatTable(poolTable(result))) writeLine(io.stdout, line);
  writeLine(io.stdout);
  for (const line of summary) writeLine(io.stdout, line);
  return 0;
}
