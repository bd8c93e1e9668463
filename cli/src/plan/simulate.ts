/**
 * The `plan` simulator: a second-by-second model of a RabbitMQ queue, KEDA's ScaledJob controller and
 * the agent Jobs it creates. KEDA's decision on every poll is {@link decideScaledJobScale}, fed with the
 * metric {@link rabbitMqQueueLengthMetric} derives for the trigger's protocol; this file only moves
 * messages and Jobs between polls.
 *
 * Each simulated second `t`, in this order:
 * 1. Tasks arriving at `t` join the queue as ready messages.
 * 2. When `t` is a multiple of `pollingInterval`, KEDA polls: it reads the metric from the queue's ready and
 *    unacknowledged counts, counts unfinished Jobs (running) and the pending ones as KEDA counts them
 *    ({@link isPendingForKeda}), and creates the Jobs `decideScaledJobScale` returns. A new Job's pod stays
 *    Pending (unschedulable, e.g. while nodes scale up) for a `podPending` draw, is then scheduled, and
 *    its agent takes messages `startupSeconds` after that.
 * 3. Every unfinished Job, oldest first: its pod is scheduled and starts when due; a task whose time is up is acked
 *    (completed); a Job that has now taken `maxTasks` tasks exits (AGENT_MAX_TASKS, 0 = no limit);
 *    an idle running Job takes the next ready message (prefetch 1, one task at a time), or exits once it
 *    has been idle `idleExitSeconds` (AGENT_IDLE_EXIT_SECONDS).
 *
 * Not modelled: the API server's and kubelet's latency beyond the two delays, failures and retries (so
 * neither failed Jobs nor several pods per Job), KEDA's history limits, several triggers.
 */
import {
  decideScaledJobScale,
  type LlmCapacityResult,
  type LlmLoad,
  llmCapacityGuard,
  llmLoadForJobs,
  type MultipleScalersCalculation,
  type RabbitMqProtocol,
  rabbitMqQueueLengthMetric,
  type ScalingStrategy,
} from '@agent-fleet/cdk8s';
import { type DurationDistribution, drawSeconds, meanSeconds, mulberry32 } from './random';

/**
 * The pod conditions the simulation models, and when each becomes true. PodScheduled (and Initialized: no
 * init containers are modelled) once the pod-pending delay has passed; ContainersReady and Ready once the
 * start-up delay has passed too, i.e. when the agent takes messages. Any other condition never becomes
 * true, as KEDA would see a condition type no pod reports.
 */
export const MODELLED_POD_CONDITIONS = {
  PodScheduled: 'scheduled',
  Initialized: 'scheduled',
  ContainersReady: 'started',
  Ready: 'started',
} as const satisfies Record<string, 'scheduled' | 'started'>;

/** The ScaledJob fields that drive the simulation. */
export interface PlanScaledJob {
  /** The RabbitMQ trigger's `value`: messages per Job. */
  readonly value: number;
  /** @default 0 */
  readonly activationValue?: number;
  /** @default - unset (KEDA: `KedaDefaults.maxReplicaCount`, 100) */
  readonly maxReplicaCount?: number;
  /** @default 0 */
  readonly minReplicaCount?: number;
  /** Seconds between polls. */
  readonly pollingInterval: number;
  readonly scalingStrategy: ScalingStrategy;
  /**
   * How several triggers combine (the simulation has one trigger, so only a bad value matters).
   * @default MultipleScalersCalculation.MAX
   */
  readonly multipleScalersCalculation?: MultipleScalersCalculation;
  readonly protocol: RabbitMqProtocol;
  /** @default false */
  readonly excludeUnacknowledged?: boolean;
}

export type ArrivalPattern =
  | { readonly kind: 'burst'; readonly count: number }
  | { readonly kind: 'rate'; readonly perMinute: number; readonly durationSeconds: number };

export interface LlmPlanOptions {
  readonly requestsPerTask: number;
  readonly tokensPerTask: number;
  /** Gateway limits; the capacity comparison is made only when both are given. */
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
  /** @default 0.8 */
  readonly maxUtilization?: number;
}

export interface PlanInput {
  readonly scaledJob: PlanScaledJob;
  /** Tasks one Job takes before exiting (AGENT_MAX_TASKS; 0 = no limit). */
  readonly maxTasks: number;
  /** AGENT_IDLE_EXIT_SECONDS. */
  readonly idleExitSeconds: number;
  /** Seconds from the pod's scheduling (Job creation when `podPending` is unset) to its agent consuming. */
  readonly startupSeconds: number;
  /**
   * How long a new Job's pod stays Pending before it is scheduled (e.g. while nodes scale up), drawn per
   * Job from a PRNG of its own, so task durations do not change with it.
   * @default - 0 s
   */
  readonly podPending?: DurationDistribution;
  /**
   * `spec.scalingStrategy.pendingPodConditions`: what KEDA counts as a pending Job (see {@link isPendingForKeda}).
   * @default - unset: pending until the pod runs
   */
  readonly pendingPodConditions?: readonly string[];
  readonly arrivals: ArrivalPattern;
  readonly taskDuration: DurationDistribution;
  /** PRNG seed for task durations. */
  readonly seed: number;
  /** Seconds to simulate at most. */
  readonly horizonSeconds: number;
  readonly llm?: LlmPlanOptions;
}

/** One KEDA poll, as KEDA saw it, and what it did. */
export interface PollRow {
  readonly time: number;
  /** Ready messages. */
  readonly ready: number;
  /** Unacknowledged messages (tasks in progress). */
  readonly unacked: number;
  /** The trigger's metric for the protocol (amqp: ready only). */
  readonly metric: number;
  /**
   * Unfinished Jobs KEDA does not count as pending; without `pendingPodConditions`, those whose pod runs.
   * (KEDA's own "running" count, which `decideScaledJobScale` receives, is `running + pending`.)
   */
  readonly running: number;
  /** Unfinished Jobs KEDA counts as pending ({@link isPendingForKeda}): what `accurate` and `eager` subtract. */
  readonly pending: number;
  /** Jobs created by this poll. */
  readonly created: number;
}

/** The state at the end of one simulated second (for the chart). */
export interface Sample {
  readonly time: number;
  readonly ready: number;
  readonly unacked: number;
  readonly runningPods: number;
  readonly pendingJobs: number;
}

export interface PlanResult {
  readonly polls: readonly PollRow[];
  readonly samples: readonly Sample[];
  readonly totalTasks: number;
  readonly completedTasks: number;
  /** Second at which the last task completed, or undefined when the queue did not drain in the horizon. */
  readonly drainedAt?: number;
  /** Last simulated second. */
  readonly endTime: number;
  readonly jobsCreated: number;
  /** Most unfinished Jobs at once (pending included). */
  readonly peakJobs: number;
  /** Most pods running at once. */
  readonly peakPods: number;
  /** Most Jobs working on a task at once. */
  readonly peakBusyJobs: number;
  /** Longest time a task waited in the queue, in seconds. */
  readonly maxWaitSeconds: number;
  /** LLM load of `peakBusyJobs`, when per-task figures were given. */
  readonly llmPeak?: LlmLoad;
  /** The capacity guard for the gateway limits, when given. */
  readonly llmCapacity?: LlmCapacityResult;
}

interface Task {
  readonly arrival: number;
  readonly duration: number;
}

interface Job {
  readonly scheduleAt: number;
  readonly startAt: number;
  scheduled: boolean;
  started: boolean;
  done: boolean;
  tasksDone: number;
  busyUntil?: number;
  idleSince: number;
}

/**
 * Whether KEDA 2.16 counts an unfinished Job as pending, from kedacore/keda
 * `pkg/scaling/executor/scale_jobs.go`, `getPendingJobCount`: without `pendingPodConditions` a Job is
 * pending until any of its pods is Running or Succeeded (`isAnyPodRunningOrCompleted`), so a pod that is
 * unschedulable or still starting keeps it pending; with them, until every listed condition is true on
 * its pod (`areAllPendingPodConditionsFulfilled`). The simulation's one pod per Job runs when its agent
 * takes messages; {@link MODELLED_POD_CONDITIONS} says when each condition holds. Listing only
 * `PodScheduled` ends "pending" at scheduling, before the container takes messages, so polls during the
 * start-up create Jobs for the same messages again. `areAllPendingPodConditionsFulfilled` counts the
 * true conditions over *all* the Job's pods and compares that sum with the list's length, and
 * `isJobFinished` ends the count only with a Complete or Failed Job condition, so a Job retrying after a
 * failure can stay pending for good and hold `accurate` back; the simulation has no failures to show it.
 * Only unfinished Jobs reach this test.
 */
export function isPendingForKeda(
  job: { readonly scheduled: boolean; readonly started: boolean },
  pendingPodConditions: readonly string[] | undefined,
): boolean {
  if (pendingPodConditions === undefined || pendingPodConditions.length === 0) {
    return !job.started;
  }
  return !pendingPodConditions.every((c) => {
    const when = (MODELLED_POD_CONDITIONS as Record<string, 'scheduled' | 'started'>)[c];
    return when === undefined ? false : job[when];
  });
}

/** The arrival second of every task, in order. */
export function arrivalTimes(arrivals: ArrivalPattern): number[] {
  if (arrivals.kind === 'burst') {
    return new Array<number>(arrivals.count).fill(0);
  }
  const count = Math.floor((arrivals.perMinute * arrivals.durationSeconds) / 60 + 1e-9);
  const times: number[] = [];
  for (let k = 0; k < count; k++) {
    // Evenly spaced: task k arrives at floor(k * 60 / perMinute).
    times.push(Math.floor((k * 60) / arrivals.perMinute + 1e-9));
  }
  return times;
}

/** Runs the simulation. Pure and deterministic for a given input (the seed drives task durations). */
export function simulatePlan(input: PlanInput): PlanResult {
  const random = mulberry32(input.seed);
  const tasks: Task[] = arrivalTimes(input.arrivals).map((arrival) => ({
    arrival,
    duration: drawSeconds(input.taskDuration, random),
  }));
  const sj = input.scaledJob;
  // Its own stream, drawn only when there is a delay: task durations stay those of the seed alone.
  const podRandom = mulberry32((input.seed ^ 0x9e3779b9) >>> 0);
  const podPending = input.podPending;
  const queue: Task[] = [];
  const jobs: Job[] = [];
  const polls: PollRow[] = [];
  const samples: Sample[] = [];
  let next = 0;
  let inFlight = 0;
  let completed = 0;
  let drainedAt: number | undefined;
  let peakJobs = 0;
  let peakPods = 0;
  let peakBusy = 0;
  let maxWait = 0;
  let t = 0;
  for (; t <= input.horizonSeconds; t++) {
    while (next < tasks.length && tasks[next]!.arrival <= t) {
      queue.push(tasks[next]!);
      next++;
    }

    if (t % sj.pollingInterval === 0) {
      const unfinished = jobs.filter((j) => !j.done);
      const pending = unfinished.filter((j) => isPendingForKeda(j, input.pendingPodConditions)).length;
      const metric = rabbitMqQueueLengthMetric(
        { ready: queue.length, unacknowledged: inFlight },
        { protocol: sj.protocol, excludeUnacknowledged: sj.excludeUnacknowledged },
      );
      const decision = decideScaledJobScale({
        scalers: [{ queueLength: metric, targetValue: sj.value, activationValue: sj.activationValue }],
        runningJobs: unfinished.length,
        pendingJobs: pending,
        minReplicaCount: sj.minReplicaCount,
        maxReplicaCount: sj.maxReplicaCount,
        scalingStrategy: sj.scalingStrategy,
        multipleScalersCalculation: sj.multipleScalersCalculation,
      });
      for (let i = 0; i < decision.jobsToCreate; i++) {
        const scheduleAt = t + (podPending === undefined ? 0 : drawSeconds(podPending, podRandom));
        jobs.push({
          scheduleAt,
          startAt: scheduleAt + input.startupSeconds,
          scheduled: false,
          started: false,
          done: false,
          tasksDone: 0,
          idleSince: 0,
        });
      }
      polls.push({
        time: t,
        ready: queue.length,
        unacked: inFlight,
        metric,
        running: unfinished.length - pending,
        pending,
        created: decision.jobsToCreate,
      });
    }

    let busy = 0;
    let pods = 0;
    let pendingJobs = 0;
    for (const job of jobs) {
      if (job.done) {
        continue;
      }
      if (!job.started) {
        if (!job.scheduled && job.scheduleAt <= t) {
          job.scheduled = true;
        }
        if (job.startAt > t) {
          pendingJobs++;
          continue;
        }
        job.started = true;
        job.idleSince = t;
      }
      if (job.busyUntil !== undefined && job.busyUntil <= t) {
        job.busyUntil = undefined;
        job.tasksDone++;
        inFlight--;
        completed++;
        job.idleSince = t;
        if (input.maxTasks > 0 && job.tasksDone >= input.maxTasks) {
          job.done = true;
          continue;
        }
      }
      if (job.busyUntil === undefined) {
        const task = queue.shift();
        if (task) {
          job.busyUntil = t + task.duration;
          inFlight++;
          maxWait = Math.max(maxWait, t - task.arrival);
        } else if (t - job.idleSince >= input.idleExitSeconds) {
          job.done = true;
          continue;
        }
      }
      pods++;
      if (job.busyUntil !== undefined) {
        busy++;
      }
    }
    peakJobs = Math.max(peakJobs, pods + pendingJobs);
    peakPods = Math.max(peakPods, pods);
    peakBusy = Math.max(peakBusy, busy);
    samples.push({ time: t, ready: queue.length, unacked: inFlight, runningPods: pods, pendingJobs });

    if (drainedAt === undefined && next === tasks.length && completed === tasks.length) {
      drainedAt = t;
    }
    if (drainedAt !== undefined && pods + pendingJobs === 0) {
      break;
    }
  }
  // Tasks still queued at the end waited at least this long.
  for (const task of queue) {
    maxWait = Math.max(maxWait, Math.min(t, input.horizonSeconds) - task.arrival);
  }

  let llmPeak: LlmLoad | undefined;
  let llmCapacity: LlmCapacityResult | undefined;
  if (input.llm) {
    const profile = {
      requestsPerTask: input.llm.requestsPerTask,
      tokensPerTask: input.llm.tokensPerTask,
      taskDuration: { toSeconds: () => meanSeconds(input.taskDuration) },
    };
    llmPeak = llmLoadForJobs(peakBusy, profile);
    if (input.llm.requestsPerMinute !== undefined && input.llm.tokensPerMinute !== undefined) {
      llmCapacity = llmCapacityGuard({
        gateway: {
          requestsPerMinute: input.llm.requestsPerMinute,
          tokensPerMinute: input.llm.tokensPerMinute,
        },
        task: profile,
        maxUtilization: input.llm.maxUtilization,
      });
    }
  }

  return {
    polls,
    samples,
    totalTasks: tasks.length,
    completedTasks: completed,
    drainedAt,
    endTime: Math.min(t, input.horizonSeconds),
    jobsCreated: jobs.length,
    peakJobs,
    peakPods,
    peakBusyJobs: peakBusy,
    maxWaitSeconds: maxWait,
    llmPeak,
    llmCapacity,
  };
}
