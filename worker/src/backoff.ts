/**
 * Pure backoff arithmetic for delayed retries (no I/O, no clock): exponential growth with a cap,
 * "equal jitter", and the fixed delay tiers that become one broker-side retry queue each.
 *
 * Why tiers: RabbitMQ expires per-message TTLs only at the head of a queue, so one retry queue
 * holding both 1 s and 5 min messages would hold the 1 s ones behind the 5 min one. One queue per
 * tier (queue TTL = the tier's delay) keeps every message in its queue of equal-or-shorter delays;
 * the jittered per-message expiration never exceeds its tier's TTL, so a message waits at most its
 * tier's delay.
 */

export interface RetryPolicy {
  /** Delay before the second attempt, in ms (the first retry). */
  readonly baseDelayMs: number;
  /** Upper bound of any delay, in ms. */
  readonly maxDelayMs: number;
}

/** Delay without jitter after `attempt` failed (1-based): base · 2^(attempt−1), capped at the max. */
export function ceilingDelayMs(attempt: number, policy: RetryPolicy): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  return Math.min(policy.maxDelayMs, Math.round(policy.baseDelayMs * 2 ** exponent));
}

/**
 * Delay before retrying after `attempt` failed, with "equal jitter": uniformly in
 * [ceiling/2, ceiling], so retries of many tasks failing together spread out, yet never come
 * sooner than half the exponential delay. `random` returns a number in [0, 1).
 */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = ceilingDelayMs(attempt, policy);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.max(1, Math.min(ceiling, Math.round(ceiling / 2 + (ceiling / 2) * r)));
}

/** The distinct ceilings the policy can produce, ascending: one broker retry queue each. */
export function retryTiersMs(policy: RetryPolicy): number[] {
  const tiers: number[] = [];
  for (let attempt = 1; ; attempt++) {
    const ceiling = ceilingDelayMs(attempt, policy);
    if (tiers[tiers.length - 1] !== ceiling) {
      tiers.push(ceiling);
    }
    if (ceiling >= policy.maxDelayMs || attempt > 60) {
      return tiers;
    }
  }
}

/** The smallest tier that holds `delayMs` (the last tier when none does). */
export function tierFor(delayMs: number, tiers: readonly number[]): number {
  for (const tier of tiers) {
    if (delayMs <= tier) {
      return tier;
    }
  }
  return tiers[tiers.length - 1];
}
