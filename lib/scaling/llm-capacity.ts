/**
 * LLM capacity guard: the largest `maxReplicaCount` a fleet of agent Jobs can run without exceeding the
 * LLM gateway's rate limits.
 *
 * Model. A task issues `requestsPerTask` requests and `tokensPerTask` tokens over `taskDuration`, and
 * a Job runs `concurrency` tasks at once (`AGENT_CONCURRENCY`). A busy Job's steady rates are therefore
 *
 *   requests/min per Job = concurrency * requestsPerTask * 60 / taskDurationSeconds
 *   tokens/min per Job   = concurrency * tokensPerTask   * 60 / taskDurationSeconds
 *
 * and N busy Jobs use N times that. The fleet may use `maxUtilization` of each gateway limit (default
 * 0.8, leaving 20% for bursts within a task, retries and other clients). The safe `maxReplicaCount` is
 * the largest N whose load fits both budgets: `floor(budget / perJobRate)` for each limit, the smaller
 * one binds. It is a worst case (every Job busy at once), which is what `maxReplicaCount` allows.
 *
 * Pure and dependency-free; pass a cdk8s `Duration` (or anything with `toSeconds()`) as the duration.
 *
 * @module
 */

import { show } from '../internal/show';
import { INT32_MAX } from './keda-defaults';

/** Anything that converts to seconds, such as cdk8s `Duration`. */
export interface DurationLike {
  /** Seconds in this duration; called with `{ integral: false }` so fractional seconds are allowed. */
  toSeconds(opts?: { readonly integral?: boolean }): number;
}

/** The gateway's rate limits for the key (or pool) the fleet uses. */
export interface LlmGatewayCapacity {
  /** Requests per minute the gateway allows. Must be greater than 0. */
  readonly requestsPerMinute: number;
  /** Tokens per minute the gateway allows (as the gateway counts them, usually input + output). > 0. */
  readonly tokensPerMinute: number;
}

/** What one agent task costs, on average. */
export interface LlmTaskProfile {
  /** LLM requests one task makes (an average may be fractional). Must be greater than 0. */
  readonly requestsPerTask: number;
  /** Tokens one task consumes across its requests (an average may be fractional). Must be greater than 0. */
  readonly tokensPerTask: number;
  /** Typical wall-clock time of one task, e.g. cdk8s `Duration.minutes(2)`. Must be greater than 0. */
  readonly taskDuration: DurationLike;
}

/** Default share of each gateway limit the fleet may use. */
export const DEFAULT_LLM_MAX_UTILIZATION = 0.8;

/** Input of {@link llmCapacityGuard}. */
export interface LlmCapacityInput {
  readonly gateway: LlmGatewayCapacity;
  readonly task: LlmTaskProfile;
  /**
   * Share of each gateway limit the fleet may use, in (0, 1]. `1 - maxUtilization` is the headroom.
   * @default 0.8
   */
  readonly maxUtilization?: number;
  /**
   * Tasks one Job runs at once (`AGENT_CONCURRENCY`): a Job's load is this many tasks' load.
   * @default 1
   */
  readonly concurrency?: number;
}

/** Which gateway limit caps the fleet. `both` when they allow the same number of Jobs. */
export type LlmBindingLimit = 'requests' | 'tokens' | 'both';

/** LLM load of a number of busy Jobs. */
export interface LlmLoad {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
}

/** Result of {@link llmCapacityGuard}. */
export interface LlmCapacityResult {
  /** The largest safe `maxReplicaCount` (0 when even one Job would exceed a budget). */
  readonly maxReplicaCount: number;
  /** The limit that caps `maxReplicaCount`. */
  readonly bindingLimit: LlmBindingLimit;
  /** Largest Job count under the request budget (capped at the int32 maximum, 2147483647). */
  readonly maxJobsByRequests: number;
  /** Largest Job count under the token budget (capped at the int32 maximum, 2147483647). */
  readonly maxJobsByTokens: number;
  /** One busy Job's request rate (`concurrency` tasks at once). */
  readonly requestsPerMinutePerJob: number;
  /** One busy Job's token rate (`concurrency` tasks at once). */
  readonly tokensPerMinutePerJob: number;
  /** Tasks one Job runs at once, as used. */
  readonly concurrency: number;
  /** `gateway.requestsPerMinute * maxUtilization`. */
  readonly requestBudgetPerMinute: number;
  /** `gateway.tokensPerMinute * maxUtilization`. */
  readonly tokenBudgetPerMinute: number;
  /** The utilization used. */
  readonly maxUtilization: number;
  /** Task duration in seconds, as used. */
  readonly taskDurationSeconds: number;
  /** The load when `maxReplicaCount` Jobs are all busy. */
  readonly peakLoad: LlmLoad;
}

/**
 * Computes the largest `maxReplicaCount` whose worst-case LLM load stays within `maxUtilization` of the
 * gateway's request and token limits, and which limit binds. Throws on invalid input, naming the field.
 */
export function llmCapacityGuard(input: LlmCapacityInput): LlmCapacityResult {
  if (typeof input !== 'object' || input === null) {
    throw new Error(`llm-capacity: input must be an object with gateway and task, got ${show(input)}.`);
  }
  const gateway = requireObject(
    'gateway',
    input.gateway,
    '{ requestsPerMinute: 500, tokensPerMinute: 200000 }',
  );
  const task = requireObject(
    'task',
    input.task,
    '{ requestsPerTask: 10, tokensPerTask: 20000, taskDuration: Duration.minutes(2) }',
  );
  const rpm = requirePositive('gateway.requestsPerMinute', gateway.requestsPerMinute, 'e.g. 500');
  const tpm = requirePositive('gateway.tokensPerMinute', gateway.tokensPerMinute, 'e.g. 200000');
  const utilization = input.maxUtilization ?? DEFAULT_LLM_MAX_UTILIZATION;
  if (
    typeof utilization !== 'number' ||
    !Number.isFinite(utilization) ||
    utilization <= 0 ||
    utilization > 1
  ) {
    throw new Error(
      `llm-capacity: maxUtilization must be a fraction in (0, 1], got ${show(utilization)}. ` +
        'Use e.g. 0.8 to let the fleet use at most 80% of the gateway (the default).',
    );
  }
  const concurrency = input.concurrency ?? 1;
  if (typeof concurrency !== 'number' || !Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new Error(
      `llm-capacity: concurrency must be a whole number of at least 1, got ${show(concurrency)}. ` +
        'Pass the tasks one Job runs at once (AGENT_CONCURRENCY), e.g. 1.',
    );
  }
  const perTask = perTaskLoad(task);
  const load = {
    requestsPerMinute: concurrency * perTask.requestsPerMinute,
    tokensPerMinute: concurrency * perTask.tokensPerMinute,
    taskDurationSeconds: perTask.taskDurationSeconds,
  };
  const requestBudget = rpm * utilization;
  const tokenBudget = tpm * utilization;
  const byRequests = largestFitting(load.requestsPerMinute, requestBudget);
  const byTokens = largestFitting(load.tokensPerMinute, tokenBudget);
  const maxReplicaCount = Math.min(byRequests, byTokens);
  const bindingLimit: LlmBindingLimit =
    byRequests === byTokens ? 'both' : byRequests < byTokens ? 'requests' : 'tokens';
  return {
    maxReplicaCount,
    bindingLimit,
    maxJobsByRequests: byRequests,
    maxJobsByTokens: byTokens,
    requestsPerMinutePerJob: load.requestsPerMinute,
    tokensPerMinutePerJob: load.tokensPerMinute,
    concurrency,
    requestBudgetPerMinute: requestBudget,
    tokenBudgetPerMinute: tokenBudget,
    maxUtilization: utilization,
    taskDurationSeconds: load.taskDurationSeconds,
    peakLoad: {
      requestsPerMinute: maxReplicaCount * load.requestsPerMinute,
      tokensPerMinute: maxReplicaCount * load.tokensPerMinute,
    },
  };
}

/**
 * The LLM load of `busyTasks` tasks running at once, whatever Jobs run them (for simulators that report
 * the load at a given moment). Throws on invalid input, naming the field.
 */
export function llmLoadForTasks(busyTasks: number, task: LlmTaskProfile): LlmLoad {
  if (typeof busyTasks !== 'number' || !Number.isSafeInteger(busyTasks) || busyTasks < 0) {
    throw new Error(
      `llm-capacity: busyTasks must be a non-negative integer, got ${show(busyTasks)}. Pass the number of tasks running at once.`,
    );
  }
  const load = perTaskLoad(requireObject('task', task, '{ requestsPerTask, tokensPerTask, taskDuration }'));
  return {
    requestsPerMinute: busyTasks * load.requestsPerMinute,
    tokensPerMinute: busyTasks * load.tokensPerMinute,
  };
}

function perTaskLoad(task: LlmTaskProfile): LlmLoad & { readonly taskDurationSeconds: number } {
  const requests = requirePositive('task.requestsPerTask', task.requestsPerTask, 'e.g. 10 requests per task');
  const tokens = requirePositive('task.tokensPerTask', task.tokensPerTask, 'e.g. 20000 tokens per task');
  const duration = task.taskDuration;
  if (typeof duration !== 'object' || duration === null || typeof duration.toSeconds !== 'function') {
    throw new Error(
      `llm-capacity: task.taskDuration must be a duration with toSeconds(), got ${show(duration)}. ` +
        "Pass e.g. Duration.minutes(2) from 'cdk8s', or { toSeconds: () => 120 }.",
    );
  }
  const seconds = duration.toSeconds({ integral: false });
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new Error(
      `llm-capacity: task.taskDuration must be longer than 0 seconds, got ${show(seconds)} s. ` +
        'Pass the typical wall-clock time of one task, e.g. Duration.seconds(90).',
    );
  }
  return {
    requestsPerMinute: (requests * 60) / seconds,
    tokensPerMinute: (tokens * 60) / seconds,
    taskDurationSeconds: seconds,
  };
}

/**
 * The largest integer n >= 0 with `n * perJob <= budget`, evaluated with exactly that floating-point
 * expression (so the published figures satisfy it, and `n + 1` does not), capped at the ScaledJob CRD's
 * int32 maximum for `maxReplicaCount`.
 */
function largestFitting(perJob: number, budget: number): number {
  const estimate = Math.floor(budget / perJob);
  if (!(estimate < INT32_MAX)) {
    return INT32_MAX;
  }
  // The estimate is off by at most one or two where the division rounded; settle on the exact boundary.
  let n = estimate;
  while (n > 0 && n * perJob > budget) {
    n--;
  }
  while (n < INT32_MAX && (n + 1) * perJob <= budget) {
    n++;
  }
  return n;
}

function requireObject<T>(field: string, value: T, example: string): T {
  if (typeof value !== 'object' || value === null) {
    throw new Error(`llm-capacity: ${field} must be an object, got ${show(value)}. Pass e.g. ${example}.`);
  }
  return value;
}

function requirePositive(field: string, value: unknown, example: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(
      `llm-capacity: ${field} must be a finite number > 0, got ${show(value)}. Use ${example}.`,
    );
  }
  return value;
}
