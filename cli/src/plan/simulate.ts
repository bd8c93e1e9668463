/**
 * The `plan` simulator: a second-by-second model of a RabbitMQ queue, KEDA's ScaledJob controller and
 * the agent Jobs it creates. KEDA's decision on every poll is {@link decideScaledJobScale}, fed with the
 * metric {@link rabbitMqQueueLengthMetric} derives for the trigger's protocol (and, with a token budget,
 * the gate trigger's reading from {@link tokenBudgetGateReading}); this file only moves messages, tokens
 * and Jobs between polls.
 *
 * A Job's agent does what the worker does (`worker/src/intake-control.ts`): it consumes with prefetch
 * `concurrency` (AGENT_CONCURRENCY) and runs every message it holds at once; it counts the messages it
 * has taken, and once that count reaches `maxTasks` (AGENT_MAX_TASKS, 0 = no limit) it takes no more
 * and exits when its last task finishes; with nothing in flight it exits after `idleExitSeconds`
 * (AGENT_IDLE_EXIT_SECONDS, 0 = never) without a delivery.
 *
 * Each simulated second `t`, in this order:
 * 1. Tasks arriving at `t` join the queue; a started Job with room takes them at once (the broker pushes
 *    to a consumer with prefetch credit), the rest stay ready messages.
 * 2. When `t` is a multiple of `pollingInterval`, KEDA polls: it reads the metric from the queue's ready and
 *    unacknowledged counts (and, with a token budget, the fleet's token rate over the gate's window),
 *    counts unfinished Jobs (running) and the pending ones as KEDA counts them ({@link isPendingForKeda}),
 *    and creates the Jobs `decideScaledJobScale` returns. A new Job's pod stays Pending (unschedulable,
 *    e.g. while nodes scale up) for a `podPending` draw, is then scheduled, and its agent joins the
 *    queue `startupSeconds` after that.
 * 3. Every unfinished Job, oldest first: its pod is scheduled and starts when due; each task whose time is
 *    up is acked (completed); a Job that has taken `maxTasks` messages and has none left in flight exits;
 *    otherwise it takes ready messages while it holds fewer than `concurrency` and has taken fewer than
 *    `maxTasks`, or, holding none, exits once `idleExitSeconds` have passed since it last held one (or
 *    since it started).
 *
 * Kueue ({@link PlanInput.kueue}): a new Job is created suspended and has no pod. At the start of step 3,
 * Kueue admits the waiting Jobs, oldest first, while the admitted unfinished Jobs (one pod each) fit
 * the quota; only then does the pod-pending delay start. A Job created by a poll is admitted in the same
 * second when the quota has room, so an unbounded quota gives the run without Kueue; quota a Job frees
 * by exiting is given to a waiting Job the next second. KEDA sees a waiting Job as unfinished (running)
 * and, having no pod, as pending whatever `pendingPodConditions` say.
 *
 * Tokens: a running task consumes its `tokensPerTask` evenly over its own duration. The gate's reading
 * is the tokens consumed in the `windowSeconds` before the poll times 60 / window, what Prometheus'
 * `rate()` over that window gives for a counter that grows smoothly.
 *
 * Not modelled: the API server's and kubelet's latency beyond the two delays, readiness-probe periods
 * (the pod is Ready the second its agent joins the queue), how RabbitMQ spreads messages over consumers
 * (oldest Job first here), failures and retries (so neither failed Jobs nor several pods per Job), Kueue's
 * preemption, fair sharing between LocalQueues and resources other than one quota slot per pod, KEDA's
 * history limits, triggers other than the RabbitMQ one and the token-budget gate, Prometheus' scrape
 * interval and the steps in which a real token counter grows.
 */
import {
  decideScaledJobScale,
  type LlmCapacityResult,
  type LlmLoad,
  llmCapacityGuard,
  llmLoadForTasks,
  MultipleScalersCalculation,
  type RabbitMqProtocol,
  rabbitMqQueueLengthMetric,
  type ScalerMetric,
  type ScalingStrategy,
  TOKEN_BUDGET_TRIGGER_NAME,
  tokenBudgetGateReading,
} from '@agent-fleet/cdk8s';
import { Defaults } from '@agent-fleet/contract';
import { type DurationDistribution, drawSeconds, meanSeconds, mulberry32 } from './random';

/**
 * Kueue admission of the ScaledJob's Jobs (the ScaledJob carries the label `kueue.x-k8s.io/queue-name`,
 * which KEDA copies onto every Job): Jobs wait suspended until the quota has room for their pod.
 */
export interface KueuePlanOptions {
  /** The ClusterQueue's quota in agent pods: at most this many admitted Jobs are unfinished at once. */
  readonly quotaPods: number;
  /** The LocalQueue the label names, for the summary. */
  readonly queueName?: string;
}

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
   * How the triggers combine. Only matters with the token-budget gate, which needs `min`.
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
  /**
   * The task duration the per-task rates are computed with (a manifest's annotation carries the one the
   * construct's guard used).
   * @default - the mean of `taskDuration`
   */
  readonly taskDurationSeconds?: number;
}

/**
 * The run-time token budget: a prometheus trigger named {@link TOKEN_BUDGET_TRIGGER_NAME}, last among the
 * ScaledJob's triggers, combined with `multipleScalersCalculation: min`.
 */
export interface TokenBudgetPlanOptions {
  /** Tokens per minute at or above which the gate closes. */
  readonly budgetPerMinute: number;
  /** The `rate()` window of the gate's query, in seconds. */
  readonly windowSeconds: number;
  /** Tokens one task consumes, evenly over its duration. */
  readonly tokensPerTask: number;
}

export interface PlanInput {
  readonly scaledJob: PlanScaledJob;
  /** Messages one Job takes before it stops taking and exits (AGENT_MAX_TASKS; 0 = no limit). */
  readonly maxTasks: number;
  /**
   * Messages one Job holds and runs at once (AGENT_CONCURRENCY, the consumer's prefetch).
   * @default 1 (the worker's default)
   */
  readonly concurrency?: number;
  /** AGENT_IDLE_EXIT_SECONDS (0 = never exit when idle). */
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
  /** @default - no gate */
  readonly tokenBudget?: TokenBudgetPlanOptions;
  /** @default - no Kueue: a Job's pod exists from its creation */
  readonly kueue?: KueuePlanOptions;
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
  /** With a token budget: the token rate the gate's query measured (tokens/min). */
  readonly tokensPerMinute?: number;
  /** With a token budget: whether the gate was closed (its reading active, so no Job is created). */
  readonly gateClosed?: boolean;
  /** With Kueue: Jobs waiting for admission (suspended, no pod), part of `pending`. */
  readonly waiting?: number;
}

/** The state at the end of one simulated second (for the chart). */
export interface Sample {
  readonly time: number;
  readonly ready: number;
  readonly unacked: number;
  readonly runningPods: number;
  /** Unfinished Jobs whose agent has not started (with Kueue, those waiting for admission included). */
  readonly pendingJobs: number;
  /** With Kueue: Jobs waiting for admission. */
  readonly waitingJobs?: number;
}

/** What Kueue's admission did over the run. */
export interface KueueSummary {
  readonly quotaPods: number;
  readonly queueName?: string;
  /** Jobs Kueue admitted. */
  readonly admittedJobs: number;
  /** Jobs still waiting for admission at the end. */
  readonly waitingAtEnd: number;
  /** Most Jobs waiting for admission at once. */
  readonly peakWaitingJobs: number;
  /** Most admitted unfinished Jobs at once (never above the quota). */
  readonly peakAdmittedJobs: number;
  /** Median seconds an admitted Job waited from creation to admission (0 without admitted Jobs). */
  readonly admissionWaitP50Seconds: number;
  /** 95th percentile of the same. */
  readonly admissionWaitP95Seconds: number;
  /** Longest wait for admission, Jobs still waiting at the end included (as waited so far). */
  readonly admissionWaitMaxSeconds: number;
}

/** What the token-budget gate did over the run. */
export interface TokenBudgetSummary {
  readonly budgetPerMinute: number;
  readonly windowSeconds: number;
  /** Polls that found the gate closed. */
  readonly closedPolls: number;
  /** Seconds from each closed poll to the next poll (or the end), summed. */
  readonly closedSeconds: number;
  /** The highest token rate a poll measured (tokens/min). */
  readonly peakTokensPerMinute: number;
  /** Jobs created by polls that found the gate closed (only `minReplicaCount` can make them). */
  readonly jobsCreatedWhileClosed: number;
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
  /** Most Jobs working on at least one task at once. */
  readonly peakBusyJobs: number;
  /** Most tasks running at once, over all Jobs. */
  readonly peakBusyTasks: number;
  /** Longest time a task waited in the queue, in seconds. */
  readonly maxWaitSeconds: number;
  /** LLM load of `peakBusyTasks`, when per-task figures were given. */
  readonly llmPeak?: LlmLoad;
  /** The capacity guard for the gateway limits (with the Jobs' concurrency), when given. */
  readonly llmCapacity?: LlmCapacityResult;
  /** With a token budget: what the gate did. */
  readonly tokenBudget?: TokenBudgetSummary;
  /** With Kueue: what admission did. */
  readonly kueue?: KueueSummary;
}

interface Task {
  readonly arrival: number;
  readonly duration: number;
}

/** A task a Job holds: when it completes, and the tokens it consumes each second until then. */
interface Running {
  readonly until: number;
  readonly tokensPerSecond: number;
}

interface Job {
  readonly createdAt: number;
  /** The pod-pending draw, counted from admission. */
  readonly pendingFor: number;
  /** Second of admission (creation without Kueue); undefined while suspended. */
  admittedAt?: number;
  scheduleAt: number;
  startAt: number;
  scheduled: boolean;
  started: boolean;
  /** Messages taken so far (the worker counts deliveries, not completions). */
  taken: number;
  running: Running[];
  /** When the Job last held no task (its idle countdown starts there). */
  idleSince: number;
  done: boolean;
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
  const concurrency = input.concurrency ?? Defaults.concurrency;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new Error(`concurrency must be a whole number of at least 1, got ${concurrency}.`);
  }
  const gate = input.tokenBudget;
  if (gate && sj.multipleScalersCalculation !== MultipleScalersCalculation.MIN) {
    // Under any other calculation the gate's active 0 never replaces the queue's reading.
    throw new Error(
      `the token-budget gate (trigger ${TOKEN_BUDGET_TRIGGER_NAME}) needs scalingStrategy.multipleScalersCalculation min, got ${sj.multipleScalersCalculation ?? 'unset (max)'}.`,
    );
  }
  const tokensPerTask = gate?.tokensPerTask ?? 0;
  const kueue = input.kueue;
  if (kueue && (!Number.isSafeInteger(kueue.quotaPods) || kueue.quotaPods < 1)) {
    throw new Error(`the Kueue quota must be a whole number of pods, at least 1, got ${kueue.quotaPods}.`);
  }
  /** Admitted unfinished Jobs (with Kueue). */
  let admitted = 0;
  let admittedJobs = 0;
  let peakAdmitted = 0;
  let peakWaiting = 0;
  const admissionWaits: number[] = [];
  // Its own stream, drawn only when there is a delay: task durations stay those of the seed alone.
  const podRandom = mulberry32((input.seed ^ 0x9e3779b9) >>> 0);
  const podPending = input.podPending;
  const queue: Task[] = [];
  let queueHead = 0;
  /** Unfinished Jobs, oldest first. */
  let active: Job[] = [];
  let jobsCreated = 0;
  const polls: PollRow[] = [];
  const samples: Sample[] = [];
  /** tokensBefore[s]: tokens the fleet consumed before second s (the counter the gate's rate reads). */
  const tokensBefore: number[] = [0];
  let tokensPerSecond = 0;
  let next = 0;
  let inFlight = 0;
  let completed = 0;
  let drainedAt: number | undefined;
  let peakJobs = 0;
  let peakPods = 0;
  let peakBusy = 0;
  let peakTasks = 0;
  let maxWait = 0;
  /** A started Job takes ready messages while it holds fewer than `concurrency` and may take more. */
  const take = (job: Job, now: number): void => {
    while (
      job.running.length < concurrency &&
      queueHead < queue.length &&
      (input.maxTasks === 0 || job.taken < input.maxTasks)
    ) {
      const task = queue[queueHead++]!;
      job.taken++;
      inFlight++;
      const rate = tokensPerTask / task.duration;
      tokensPerSecond += rate;
      job.running.push({ until: now + task.duration, tokensPerSecond: rate });
      maxWait = Math.max(maxWait, now - task.arrival);
    }
  };
  let t = 0;
  for (; t <= input.horizonSeconds; t++) {
    const arrived = next;
    while (next < tasks.length && tasks[next]!.arrival <= t) {
      queue.push(tasks[next]!);
      next++;
    }
    if (next > arrived) {
      // The broker pushes a new message to a consumer with prefetch credit at once: it is never ready
      // while a started Job could hold it, so the poll below cannot count it.
      for (const job of active) {
        if (job.started) {
          take(job, t);
        }
      }
    }
    const ready = queue.length - queueHead;

    if (t % sj.pollingInterval === 0) {
      const unfinished = active.length;
      const pending = active.filter((j) => isPendingForKeda(j, input.pendingPodConditions)).length;
      const waiting = kueue ? active.filter((j) => j.admittedAt === undefined).length : undefined;
      const metric = rabbitMqQueueLengthMetric(
        { ready, unacknowledged: inFlight },
        { protocol: sj.protocol, excludeUnacknowledged: sj.excludeUnacknowledged },
      );
      const scalers: ScalerMetric[] = [
        { queueLength: metric, targetValue: sj.value, activationValue: sj.activationValue },
      ];
      let gateFigures: Pick<PollRow, 'tokensPerMinute' | 'gateClosed'> = {};
      if (gate) {
        const from = tokensBefore[Math.max(0, t - gate.windowSeconds)]!;
        const tokensPerMinute = ((tokensBefore[t]! - from) * 60) / gate.windowSeconds;
        const reading = tokenBudgetGateReading(tokensPerMinute, gate.budgetPerMinute);
        // Last, as the construct renders it: `min` takes a later active reading over an earlier one.
        scalers.push(reading);
        gateFigures = {
          tokensPerMinute,
          gateClosed: reading.queueLength > (reading.activationValue ?? 0),
        };
      }
      const decision = decideScaledJobScale({
        scalers,
        runningJobs: unfinished,
        pendingJobs: pending,
        minReplicaCount: sj.minReplicaCount,
        maxReplicaCount: sj.maxReplicaCount,
        scalingStrategy: sj.scalingStrategy,
        multipleScalersCalculation: sj.multipleScalersCalculation,
      });
      for (let i = 0; i < decision.jobsToCreate; i++) {
        const pendingFor = podPending === undefined ? 0 : drawSeconds(podPending, podRandom);
        // Without Kueue the Job is admitted at creation; with it, the times are set at admission.
        active.push({
          createdAt: t,
          pendingFor,
          admittedAt: kueue ? undefined : t,
          scheduleAt: t + pendingFor,
          startAt: t + pendingFor + input.startupSeconds,
          scheduled: false,
          started: false,
          taken: 0,
          running: [],
          idleSince: 0,
          done: false,
        });
      }
      jobsCreated += decision.jobsToCreate;
      polls.push({
        time: t,
        ready,
        unacked: inFlight,
        metric,
        running: unfinished - pending,
        pending,
        created: decision.jobsToCreate,
        ...gateFigures,
        ...(waiting === undefined ? {} : { waiting }),
      });
    }

    let waitingJobs = 0;
    if (kueue) {
      // Oldest first: every Job asks for the same one pod, so Kueue's StrictFIFO and BestEffortFIFO agree.
      for (const job of active) {
        if (job.admittedAt !== undefined) {
          continue;
        }
        if (admitted >= kueue.quotaPods) {
          waitingJobs++;
          continue;
        }
        admitted++;
        admittedJobs++;
        job.admittedAt = t;
        job.scheduleAt = t + job.pendingFor;
        job.startAt = job.scheduleAt + input.startupSeconds;
        admissionWaits.push(t - job.createdAt);
      }
      peakAdmitted = Math.max(peakAdmitted, admitted);
      peakWaiting = Math.max(peakWaiting, waitingJobs);
    }

    let busy = 0;
    let pods = 0;
    let pendingJobs = 0;
    let exited = false;
    for (const job of active) {
      if (job.admittedAt === undefined) {
        // Suspended: no pod, no agent, no idle countdown.
        pendingJobs++;
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
      const left = job.running.filter((r) => r.until > t);
      if (left.length < job.running.length) {
        for (const r of job.running) {
          if (r.until <= t) {
            tokensPerSecond -= r.tokensPerSecond;
            inFlight--;
            completed++;
          }
        }
        job.running = left;
        if (left.length === 0) {
          job.idleSince = t;
        }
        if (inFlight === 0) {
          // No rounding residue of the additions above may outlive the last task.
          tokensPerSecond = 0;
        }
      }
      const maxTasksTaken = input.maxTasks > 0 && job.taken >= input.maxTasks;
      if (maxTasksTaken && job.running.length === 0) {
        // AGENT_MAX_TASKS reached and the last task done: the worker exits 0.
        job.done = exited = true;
        continue;
      }
      take(job, t);
      if (
        job.running.length === 0 &&
        input.idleExitSeconds > 0 &&
        t - job.idleSince >= input.idleExitSeconds
      ) {
        job.done = exited = true;
        continue;
      }
      pods++;
      if (job.running.length > 0) {
        busy++;
      }
    }
    if (exited) {
      if (kueue) {
        admitted -= active.filter((j) => j.done).length;
      }
      active = active.filter((j) => !j.done);
    }
    // Keep the queue array from growing without bound over long horizons.
    if (queueHead > 4096 && queueHead * 2 > queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
    tokensBefore.push(tokensBefore[t]! + tokensPerSecond);
    peakJobs = Math.max(peakJobs, pods + pendingJobs);
    peakPods = Math.max(peakPods, pods);
    peakBusy = Math.max(peakBusy, busy);
    peakTasks = Math.max(peakTasks, inFlight);
    samples.push({
      time: t,
      ready: queue.length - queueHead,
      unacked: inFlight,
      runningPods: pods,
      pendingJobs,
      ...(kueue ? { waitingJobs } : {}),
    });

    if (drainedAt === undefined && next === tasks.length && completed === tasks.length) {
      drainedAt = t;
    }
    if (drainedAt !== undefined && pods + pendingJobs === 0) {
      break;
    }
  }
  const endTime = Math.min(t, input.horizonSeconds);
  // Tasks still queued at the end waited at least this long.
  for (let i = queueHead; i < queue.length; i++) {
    maxWait = Math.max(maxWait, endTime - queue[i]!.arrival);
  }

  let llmPeak: LlmLoad | undefined;
  let llmCapacity: LlmCapacityResult | undefined;
  if (input.llm) {
    const seconds = input.llm.taskDurationSeconds ?? meanSeconds(input.taskDuration);
    const profile = {
      requestsPerTask: input.llm.requestsPerTask,
      tokensPerTask: input.llm.tokensPerTask,
      taskDuration: { toSeconds: () => seconds },
    };
    llmPeak = llmLoadForTasks(peakTasks, profile);
    if (input.llm.requestsPerMinute !== undefined && input.llm.tokensPerMinute !== undefined) {
      llmCapacity = llmCapacityGuard({
        gateway: {
          requestsPerMinute: input.llm.requestsPerMinute,
          tokensPerMinute: input.llm.tokensPerMinute,
        },
        task: profile,
        maxUtilization: input.llm.maxUtilization,
        concurrency,
      });
    }
  }

  return {
    polls,
    samples,
    totalTasks: tasks.length,
    completedTasks: completed,
    drainedAt,
    endTime,
    jobsCreated,
    peakJobs,
    peakPods,
    peakBusyJobs: peakBusy,
    peakBusyTasks: peakTasks,
    maxWaitSeconds: maxWait,
    llmPeak,
    llmCapacity,
    tokenBudget: gate ? gateSummary(gate, polls, sj.pollingInterval, endTime) : undefined,
    kueue: kueue
      ? kueueSummary(kueue, admittedJobs, admissionWaits, active, endTime, peakAdmitted, peakWaiting)
      : undefined,
  };
}

function kueueSummary(
  kueue: KueuePlanOptions,
  admittedJobs: number,
  waits: readonly number[],
  left: readonly Job[],
  endTime: number,
  peakAdmittedJobs: number,
  peakWaitingJobs: number,
): KueueSummary {
  const sorted = [...waits].sort((a, b) => a - b);
  const stillWaiting = left.filter((j) => j.admittedAt === undefined);
  const waitedSoFar = stillWaiting.map((j) => endTime - j.createdAt);
  return {
    quotaPods: kueue.quotaPods,
    queueName: kueue.queueName,
    admittedJobs,
    waitingAtEnd: stillWaiting.length,
    peakWaitingJobs,
    peakAdmittedJobs,
    admissionWaitP50Seconds: percentile(sorted, 0.5),
    admissionWaitP95Seconds: percentile(sorted, 0.95),
    admissionWaitMaxSeconds: Math.max(0, ...sorted, ...waitedSoFar),
  };
}

/** The nearest-rank percentile of an ascending list (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    return 0;
  }
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function gateSummary(
  gate: TokenBudgetPlanOptions,
  polls: readonly PollRow[],
  pollingInterval: number,
  endTime: number,
): TokenBudgetSummary {
  let closedPolls = 0;
  let closedSeconds = 0;
  let jobsCreatedWhileClosed = 0;
  let peakTokensPerMinute = 0;
  for (const p of polls) {
    peakTokensPerMinute = Math.max(peakTokensPerMinute, p.tokensPerMinute ?? 0);
    if (p.gateClosed) {
      closedPolls++;
      closedSeconds += Math.max(0, Math.min(p.time + pollingInterval, endTime) - p.time);
      jobsCreatedWhileClosed += p.created;
    }
  }
  return {
    budgetPerMinute: gate.budgetPerMinute,
    windowSeconds: gate.windowSeconds,
    closedPolls,
    closedSeconds,
    peakTokensPerMinute,
    jobsCreatedWhileClosed,
  };
}
