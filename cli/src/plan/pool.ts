/**
 * The `plan --pool` simulator: a second-by-second model of a RabbitMQ queue and an `AgentPool` (a
 * Deployment of long-running agents scaled by a KEDA ScaledObject). The replica count on every poll is
 * {@link decideScaledObjectReplicas}, fed with the trigger's metric over http (ready + unacknowledged:
 * the construct refuses ready-only metrics for a pool); this file only moves messages and pods.
 *
 * The agents never exit on their own (AGENT_MAX_TASKS=0, AGENT_IDLE_EXIT_SECONDS=0): each holds up to
 * `concurrency` messages at once, as long as it runs.
 *
 * Each simulated second `t`, in this order:
 * 1. Tasks arriving at `t` join the queue; a started pod with room takes them at once.
 * 2. When `t` is a multiple of `pollingInterval`, KEDA and the HPA decide the Deployment's replicas from
 *    the metric, the past recommendations and the past scale events. Added pods take messages
 *    `startupSeconds` later. Removed pods are those the ReplicaSet removes first (not yet started, then
 *    the newest); their agents checkpoint on SIGTERM and their tasks go back to the head of the queue
 *    with the time they had left.
 * 3. Every started pod acks its finished tasks and takes ready messages while it holds fewer than
 *    `concurrency`.
 *
 * Not modelled: the HPA's own 15 s sync period (one decision per poll), the time removed agents take to
 * checkpoint (their tasks are ready again at once), rolling updates, pod scheduling delays and failures.
 */

import {
  AgentFleetValidationError,
  AgentPool,
  decideScaledObjectReplicas,
  type HpaBehavior,
  HpaDefaults,
  type HpaRecommendation,
  type HpaScaleEvent,
  QueueConnection,
  RabbitMqProtocol,
  ScaledJobTrigger,
  ScaledObjectDefaults,
  secretKey,
  TriggerAuth,
} from '@agent-fleet/cdk8s';
import { Defaults, Env } from '@agent-fleet/contract';
import { App, Chart, Duration } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { usageError } from '../io';
import { type DurationDistribution, drawSeconds, mulberry32 } from './random';
import { type ArrivalPattern, arrivalTimes } from './simulate';

/** The ScaledObject and Deployment fields that drive the pool simulation. */
export interface PlanPool {
  readonly name: string;
  /** The trigger's `value`: messages per replica. */
  readonly value: number;
  readonly activationValue?: number;
  readonly minReplicaCount: number;
  readonly maxReplicaCount: number;
  /** `idleReplicaCount` (0 with the construct's `scaleToZero`). */
  readonly idleReplicaCount?: number;
  readonly cooldownPeriodSeconds?: number;
  readonly pollingInterval: number;
  /** `advanced.horizontalPodAutoscalerConfig.behavior`, as written. */
  readonly behavior?: HpaBehavior;
  /** AGENT_CONCURRENCY of the Deployment's agent. */
  readonly concurrency: number;
}

export interface PoolPlanInput {
  readonly pool: PlanPool;
  readonly arrivals: ArrivalPattern;
  readonly taskDuration: DurationDistribution;
  /** Same seed, same task durations as the ScaledJob simulation. */
  readonly seed: number;
  readonly startupSeconds: number;
  readonly horizonSeconds: number;
}

/** One poll: what the ScaledObject saw and decided. */
export interface PoolPollRow {
  readonly time: number;
  readonly ready: number;
  readonly unacked: number;
  readonly metric: number;
  /** Replicas before and after the decision. */
  readonly from: number;
  readonly replicas: number;
  /** Who decided (KEDA's own move or the HPA). */
  readonly path: string;
  /** Tasks put back on the queue by the pods this poll removed. */
  readonly requeued: number;
}

export interface PoolSample {
  readonly time: number;
  readonly ready: number;
  readonly unacked: number;
  /** Pods whose agent takes messages. */
  readonly runningPods: number;
  /** Pods still starting. */
  readonly startingPods: number;
}

export interface PoolPlanResult {
  readonly polls: readonly PoolPollRow[];
  readonly samples: readonly PoolSample[];
  readonly totalTasks: number;
  readonly completedTasks: number;
  readonly drainedAt?: number;
  /** When the replicas were back at their floor after the queue drained (undefined: not in the horizon). */
  readonly settledAt?: number;
  readonly endTime: number;
  /** Most replicas at once (starting pods included). */
  readonly peakReplicas: number;
  /** Most pods running (taking messages) at once. */
  readonly peakPods: number;
  readonly peakBusyTasks: number;
  /** Longest time a task stayed ready (from arrival, or from its requeue), in seconds. */
  readonly maxWaitSeconds: number;
  readonly requeuedTasks: number;
  /** Pod-seconds of running pods: what the pool costs next to a ScaledJob. */
  readonly podSeconds: number;
}

interface Task {
  readonly arrival: number;
  /** Seconds of work left. */
  duration: number;
  readySince: number;
}

interface Held {
  readonly task: Task;
  readonly until: number;
}

interface Pod {
  readonly startAt: number;
  started: boolean;
  running: Held[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});

/** Runs the pool simulation. Pure and deterministic for a given input. */
export function simulatePool(input: PoolPlanInput): PoolPlanResult {
  const p = input.pool;
  const random = mulberry32(input.seed);
  const tasks: Task[] = arrivalTimes(input.arrivals).map((arrival) => ({
    arrival,
    duration: drawSeconds(input.taskDuration, random),
    readySince: arrival,
  }));
  const floor = p.idleReplicaCount ?? p.minReplicaCount;
  const queue: Task[] = [];
  let queueHead = 0;
  // The pool exists before the work arrives: its floor runs already.
  let pods: Pod[] = Array.from({ length: floor }, () => ({ startAt: 0, started: true, running: [] }));
  const recommendations: { time: number; replicas: number }[] = [];
  const ups: { time: number; change: number }[] = [];
  const downs: { time: number; change: number }[] = [];
  let lastActive: number | undefined;
  const polls: PoolPollRow[] = [];
  const samples: PoolSample[] = [];
  let next = 0;
  let inFlight = 0;
  let completed = 0;
  let requeuedTasks = 0;
  let drainedAt: number | undefined;
  let settledAt: number | undefined;
  let peakReplicas = pods.length;
  let peakPods = 0;
  let peakTasks = 0;
  let maxWait = 0;
  let podSeconds = 0;
  const take = (pod: Pod, now: number): void => {
    while (pod.running.length < p.concurrency && queueHead < queue.length) {
      const task = queue[queueHead++]!;
      inFlight++;
      pod.running.push({ task, until: now + task.duration });
      maxWait = Math.max(maxWait, now - task.readySince);
    }
  };
  // Past entries older than the longest window or period the HPA accepts no longer matter.
  const keep = (list: { time: number }[], now: number) => {
    while (list.length > 0 && now - list[0]!.time >= HpaDefaults.maxStabilizationWindowSeconds) list.shift();
  };
  let t = 0;
  for (; t <= input.horizonSeconds; t++) {
    const arrived = next;
    while (next < tasks.length && tasks[next]!.arrival <= t) {
      queue.push(tasks[next]!);
      next++;
    }
    if (next > arrived) {
      for (const pod of pods) if (pod.started) take(pod, t);
    }

    if (t % p.pollingInterval === 0) {
      const ready = queue.length - queueHead;
      const metric = ready + inFlight;
      keep(recommendations, t);
      keep(ups, t);
      keep(downs, t);
      const current = pods.length;
      const decision = decideScaledObjectReplicas({
        currentReplicas: current,
        scalers: [{ queueLength: metric, targetValue: p.value, activationValue: p.activationValue }],
        minReplicaCount: p.minReplicaCount,
        maxReplicaCount: p.maxReplicaCount,
        idleReplicaCount: p.idleReplicaCount,
        cooldownPeriodSeconds: p.cooldownPeriodSeconds,
        secondsSinceLastActive: lastActive === undefined ? undefined : t - lastActive,
        behavior: p.behavior,
        recommendations:
          recommendations.length === 0
            ? undefined
            : recommendations.map(
                (r): HpaRecommendation => ({ ageSeconds: t - r.time, replicas: r.replicas }),
              ),
        scaleUpEvents: ups.map((e): HpaScaleEvent => ({ ageSeconds: t - e.time, replicaChange: e.change })),
        scaleDownEvents: downs.map(
          (e): HpaScaleEvent => ({ ageSeconds: t - e.time, replicaChange: e.change }),
        ),
      });
      if (decision.isActive) lastActive = t;
      if (decision.recommendation !== undefined) {
        recommendations.push({ time: t, replicas: decision.recommendation });
      }
      const target = decision.replicas;
      let requeued = 0;
      if (target > current) {
        for (let i = current; i < target; i++) {
          pods.push({ startAt: t + input.startupSeconds, started: input.startupSeconds === 0, running: [] });
        }
        ups.push({ time: t, change: target - current });
      } else if (target < current) {
        // The ReplicaSet removes pods that are not ready first, then the most recently ready ones.
        const order = [...pods.filter((pod) => !pod.started), ...pods.filter((pod) => pod.started).reverse()];
        const removed = new Set(order.slice(0, current - target));
        const back: Task[] = [];
        for (const pod of removed) {
          for (const h of pod.running) {
            // The agent checkpoints on SIGTERM: the next agent resumes with the time that was left.
            h.task.duration = Math.max(1, h.until - t);
            h.task.readySince = t;
            back.push(h.task);
          }
        }
        inFlight -= back.length;
        requeued = back.length;
        requeuedTasks += requeued;
        queue.splice(queueHead, 0, ...back);
        pods = pods.filter((pod) => !removed.has(pod));
        downs.push({ time: t, change: current - target });
      }
      polls.push({
        time: t,
        ready,
        unacked: inFlight + requeued,
        metric,
        from: current,
        replicas: target,
        path: decision.path,
        requeued,
      });
    }

    let running = 0;
    let starting = 0;
    for (const pod of pods) {
      if (!pod.started) {
        if (pod.startAt > t) {
          starting++;
          continue;
        }
        pod.started = true;
      }
      const left = pod.running.filter((h) => h.until > t);
      const done = pod.running.length - left.length;
      inFlight -= done;
      completed += done;
      pod.running = left;
      take(pod, t);
      running++;
    }
    if (queueHead > 4096 && queueHead * 2 > queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
    peakReplicas = Math.max(peakReplicas, pods.length);
    peakPods = Math.max(peakPods, running);
    peakTasks = Math.max(peakTasks, inFlight);
    podSeconds += running;
    samples.push({
      time: t,
      ready: queue.length - queueHead,
      unacked: inFlight,
      runningPods: running,
      startingPods: starting,
    });
    if (drainedAt === undefined && next === tasks.length && completed === tasks.length) {
      drainedAt = t;
    }
    if (drainedAt !== undefined && pods.length === floor && starting === 0) {
      settledAt = t;
      break;
    }
  }
  const endTime = Math.min(t, input.horizonSeconds);
  for (let i = queueHead; i < queue.length; i++) {
    maxWait = Math.max(maxWait, endTime - queue[i]!.readySince);
  }
  return {
    polls,
    samples,
    totalTasks: tasks.length,
    completedTasks: completed,
    drainedAt,
    settledAt,
    endTime,
    peakReplicas,
    peakPods,
    peakBusyTasks: peakTasks,
    maxWaitSeconds: maxWait,
    requeuedTasks,
    podSeconds,
  };
}

/** The pool fields `plan --pool` takes from flags; unset ones get the construct's defaults. */
export interface PoolFlagValues {
  readonly value: number;
  readonly activationValue?: number;
  readonly minReplicaCount?: number;
  readonly maxReplicaCount?: number;
  readonly pollingIntervalSeconds?: number;
  readonly concurrency?: number;
}

/**
 * The pool `AgentPool` writes for these values, read back from its synthesized ScaledObject and
 * Deployment: the defaults (replica bounds, polling interval, the checkpoint-safe scale-down behaviour,
 * the concurrency) are the construct's own, so the plan follows the library when they change.
 */
export function poolFromFlags(values: PoolFlagValues): PlanPool {
  // cdk8s is a peer dependency of @agent-fleet/cdk8s, which the CLI needs anyway.
  const chart = new Chart(new App({ outdir: '.' }), 'plan');
  try {
    new AgentPool(chart, 'Pool', {
      name: 'pool',
      // Placeholders: the simulation reads the scaling fields only.
      image: 'plan.invalid/agent:0',
      queue: QueueConnection.fromSecretName('plan', 'queue-url'),
      triggers: [
        ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          value: values.value,
          activationValue: values.activationValue,
          auth: TriggerAuth.secrets({ host: secretKey('plan', 'management-url') }),
        }),
      ],
      minReplicaCount: values.minReplicaCount,
      maxReplicaCount: values.maxReplicaCount,
      pollingInterval:
        values.pollingIntervalSeconds === undefined
          ? undefined
          : Duration.seconds(values.pollingIntervalSeconds),
      concurrency: values.concurrency,
    });
  } catch (error) {
    if (error instanceof AgentFleetValidationError) {
      throw usageError(`--pool: ${error.message}`);
    }
    throw error;
  }
  return pickPool(chart.toJson() as Obj[], 'the flags', undefined);
}

/** Every object in a YAML text. */
export function objectsIn(text: string, fileName: string): Obj[] {
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (!('errors' in doc) || doc.errors.length > 0) {
      const err = 'errors' in doc ? doc.errors[0] : undefined;
      throw usageError(`${fileName} is not valid YAML: ${err?.message ?? 'unknown error'}.`);
    }
    const value = doc.toJS() as unknown;
    if (isObj(value)) out.push(value);
  }
  return out;
}

/** Whether a YAML text holds a ScaledObject that scales a Deployment (what AgentPool writes). */
export function hasPool(objects: readonly Obj[]): boolean {
  return poolObjects(objects).length > 0;
}

function poolObjects(objects: readonly Obj[]): Obj[] {
  return objects.filter(
    (o) =>
      o.kind === 'ScaledObject' &&
      String(o.apiVersion ?? '').startsWith('keda.sh/') &&
      (obj(obj(o.spec).scaleTargetRef).kind ?? 'Deployment') === 'Deployment',
  );
}

/** Picks the ScaledObject over a Deployment (by name when several) and reads the pool's settings. */
export function pickPool(objects: readonly Obj[], fileName: string, name: string | undefined): PlanPool {
  const all = poolObjects(objects);
  const nameOf = (o: Obj) => String(obj(o.metadata).name ?? '');
  if (all.length === 0) {
    throw usageError(`${fileName} holds no KEDA ScaledObject scaling a Deployment.`);
  }
  let chosen: Obj;
  if (name !== undefined) {
    const found = all.find((o) => nameOf(o) === name);
    if (!found) {
      throw usageError(
        `${fileName} has no ScaledObject named "${name}"; it has: ${all.map(nameOf).join(', ')}.`,
      );
    }
    chosen = found;
  } else if (all.length > 1) {
    throw usageError(
      `${fileName} holds ${all.length} ScaledObjects (${all.map(nameOf).join(', ')}); pick one with --name.`,
    );
  } else {
    chosen = all[0]!;
  }
  const where = `${fileName}: ScaledObject ${nameOf(chosen)}`;
  const spec = obj(chosen.spec);
  const triggers = Array.isArray(spec.triggers) ? (spec.triggers as unknown[]).map(obj) : [];
  const rabbit = triggers.filter((tr) => tr.type === 'rabbitmq');
  if (rabbit.length !== 1 || triggers.length !== 1) {
    throw usageError(
      `${where}: plan models exactly one rabbitmq trigger, found ${triggers.map((tr) => String(tr.type)).join(', ') || 'none'}.`,
    );
  }
  const meta = obj(rabbit[0]!.metadata);
  if (meta.protocol !== 'http' || String(meta.excludeUnacknowledged ?? 'false') === 'true') {
    throw usageError(
      `${where}: its rabbitmq trigger reads ready messages only (protocol ${String(meta.protocol ?? 'unset')}${meta.excludeUnacknowledged ? ', excludeUnacknowledged' : ''}); a pool must count the work agents hold (protocol http), or the HPA removes busy agents.`,
    );
  }
  const value = number(meta.value, 'trigger value', where);
  if (value === undefined || value <= 0) {
    throw usageError(`${where}: its rabbitmq trigger has no value > 0 (messages per replica).`);
  }
  const targetName = String(obj(spec.scaleTargetRef).name ?? '');
  const deployment = objects.find(
    (o) => o.kind === 'Deployment' && String(obj(o.metadata).name ?? '') === targetName,
  );
  const containers = obj(obj(obj(deployment?.spec).template).spec).containers;
  const env = Array.isArray(containers) ? (obj(containers[0]).env as unknown) : undefined;
  const concurrencyVar = Array.isArray(env)
    ? env.map(obj).find((e) => e.name === Env.AGENT_CONCURRENCY)?.value
    : undefined;
  const behavior = obj(obj(obj(spec.advanced).horizontalPodAutoscalerConfig).behavior);
  return {
    name: nameOf(chosen),
    value,
    activationValue: number(meta.activationValue, 'trigger activationValue', where),
    minReplicaCount:
      number(spec.minReplicaCount, 'minReplicaCount', where) ?? ScaledObjectDefaults.minReplicaCount,
    maxReplicaCount:
      number(spec.maxReplicaCount, 'maxReplicaCount', where) ?? ScaledObjectDefaults.maxReplicaCount,
    idleReplicaCount: number(spec.idleReplicaCount, 'idleReplicaCount', where),
    cooldownPeriodSeconds: number(spec.cooldownPeriod, 'cooldownPeriod', where),
    pollingInterval:
      number(spec.pollingInterval, 'pollingInterval', where) ?? ScaledObjectDefaults.pollingIntervalSeconds,
    behavior: Object.keys(behavior).length > 0 ? (behavior as HpaBehavior) : undefined,
    // Without AGENT_CONCURRENCY the worker runs one task at a time.
    concurrency: number(concurrencyVar, Env.AGENT_CONCURRENCY, where) ?? Defaults.concurrency,
  };
}

function number(v: unknown, field: string, where: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(String(v));
  if (!Number.isFinite(n)) throw usageError(`${where}: ${field} is not a number (${JSON.stringify(v)}).`);
  return n;
}
