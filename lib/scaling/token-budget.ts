/**
 * The LLM token budget at run time: a KEDA trigger that stops a ScaledJob from creating Jobs while the
 * fleet's measured token rate is at or above its budget, and lets it resume once the rate falls back.
 *
 * Why a gate and not a "remaining budget" trigger. KEDA 2.16 combines a ScaledJob's triggers with
 * `multipleScalersCalculation` (`pkg/scaling/scaledjob/metrics.go`, `IsScaledJobActive`), and `min`
 * there only looks at *active* triggers and takes a reading whenever the running minimum is still 0:
 *
 *     if (queueLength == 0 || metrics.QueueLength < queueLength) && metrics.IsActive { ... }
 *
 * A trigger reporting the remaining budget is inactive at 0 (0 is not above an activation of 0), so
 * `min` ignores it exactly when the budget is spent; and a 0 seen first is replaced by the next
 * trigger's reading. So the gate trigger:
 * - reports {@link TOKEN_BUDGET_GATE.open} (-1) while tokens remain, which is not above its
 *   activation threshold (-0.5): inactive, `min` ignores it and the queue trigger alone decides;
 * - reports {@link TOKEN_BUDGET_GATE.closed} (0) while the budget is spent, which is above the
 *   threshold: active, and being the *last* trigger it replaces the queue's reading with 0, so the max
 *   scale is 0 and no Job is created (Jobs already running finish their tasks);
 * - with an empty queue and the budget spent, is the only active trigger, still with 0: no Job.
 * The prometheus scaler (`pkg/scalers/prometheus_scaler.go`) passes negative values through and parses
 * `activationThreshold` as any float. A failed query makes KEDA skip the trigger for that cycle
 * (`scale_handler.go`, `getScaledJobMetrics`): the gate fails open, and the queue alone decides.
 *
 * @module
 */

import type { ScalerMetric } from './keda-scaledjob';

/** The gate trigger's name in the ScaledJob (`triggers[].name`), which tools use to find it. */
export const TOKEN_BUDGET_TRIGGER_NAME = 'llm-token-budget';

/** The values the gate trigger reports and its thresholds. */
export const TOKEN_BUDGET_GATE = {
  /** Reported while tokens remain: below the activation threshold, so the trigger is inactive. */
  open: -1,
  /** Reported while the budget is spent: above the activation threshold, an active 0. */
  closed: 0,
  /** `activationThreshold`: between the two readings. */
  activationThreshold: -0.5,
  /** `threshold`: any value > 0; the readings are 0 or below, so the max scale they give is 0 or below. */
  threshold: 1,
} as const;

/** Input of {@link tokenBudgetGateQuery}. */
export interface TokenBudgetGateQueryOptions {
  /** The fleet's budget in tokens per minute; the gate closes at or above it. Must be greater than 0. */
  readonly tokenBudgetPerMinute: number;
  /**
   * A PromQL expression for the fleet's token rate in tokens per minute, e.g.
   * `sum(rate(agent_llm_tokens_total{namespace="agents"}[2m])) * 60`. An empty result counts as 0.
   */
  readonly tokensPerMinute: string;
}

/**
 * The gate's PromQL: `0` while `tokensPerMinute >= budget`, `-1` otherwise (also while the fleet has
 * exported no token series yet: `or vector(0)`, so a new fleet is not held back).
 */
export function tokenBudgetGateQuery(options: TokenBudgetGateQueryOptions): string {
  const budget = options.tokenBudgetPerMinute;
  if (typeof budget !== 'number' || !Number.isFinite(budget) || budget <= 0) {
    throw new Error(
      `token-budget: tokenBudgetPerMinute must be a finite number > 0, got ${String(budget)}. ` +
        'Pass the fleet budget in tokens per minute, e.g. 160000.',
    );
  }
  const rate = options.tokensPerMinute.trim();
  if (rate === '') {
    throw new Error(
      'token-budget: tokensPerMinute is empty. Pass a PromQL expression for tokens per minute, e.g. ' +
        'sum(rate(agent_llm_tokens_total[2m])) * 60.',
    );
  }
  return `(((${rate}) or vector(0)) >= bool ${budget}) - 1`;
}

/**
 * What the gate trigger reports to KEDA for a measured token rate: the reading to put last among a
 * ScaledJob's scaler readings (with `MultipleScalersCalculation.MIN`) in `decideScaledJobScale`.
 * Mirrors {@link tokenBudgetGateQuery}.
 */
export function tokenBudgetGateReading(tokensPerMinute: number, tokenBudgetPerMinute: number): ScalerMetric {
  return {
    queueLength: tokensPerMinute >= tokenBudgetPerMinute ? TOKEN_BUDGET_GATE.closed : TOKEN_BUDGET_GATE.open,
    targetValue: TOKEN_BUDGET_GATE.threshold,
    activationValue: TOKEN_BUDGET_GATE.activationThreshold,
  };
}

/**
 * Annotations an `AgentScaledJob` with `llmCapacity` writes on its ScaledJob, so that tools reading the
 * manifest (`agent-fleet plan --from`) use the figures the guard used.
 */
export const LlmCapacityAnnotations = {
  gatewayRequestsPerMinute: 'agent-fleet.dev/llm-gateway-requests-per-minute',
  gatewayTokensPerMinute: 'agent-fleet.dev/llm-gateway-tokens-per-minute',
  requestsPerTask: 'agent-fleet.dev/llm-requests-per-task',
  tokensPerTask: 'agent-fleet.dev/llm-tokens-per-task',
  taskDurationSeconds: 'agent-fleet.dev/llm-task-duration-seconds',
  maxUtilization: 'agent-fleet.dev/llm-max-utilization',
  /** The budget the gate trigger closes at, in tokens per minute (only with a run-time gate). */
  tokenBudgetPerMinute: 'agent-fleet.dev/llm-token-budget-per-minute',
  /** The rate window of the gate's query, in seconds (only with a run-time gate). */
  tokenBudgetWindowSeconds: 'agent-fleet.dev/llm-token-budget-window-seconds',
} as const;
