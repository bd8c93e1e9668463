import { DeadLetterReasons } from '@agent-fleet/contract';
import fc from 'fast-check';
import { backoffDelayMs, ceilingDelayMs, type RetryPolicy, retryTiersMs, tierFor } from '../src/backoff';
import { decideFailure, exceededAttempts } from '../src/task';

const policy = fc
  .record({ baseDelayMs: fc.integer({ min: 1, max: 60_000 }), extra: fc.integer({ min: 0, max: 3_600_000 }) })
  .map(({ baseDelayMs, extra }): RetryPolicy => ({ baseDelayMs, maxDelayMs: baseDelayMs + extra }));
const attempt = fc.integer({ min: 1, max: 200 });
const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

test('the delay stays within [ceiling/2, ceiling] and never exceeds the cap', () => {
  fc.assert(
    fc.property(policy, attempt, random, (p, a, r) => {
      const ceiling = ceilingDelayMs(a, p);
      const delay = backoffDelayMs(a, p, () => r);
      return delay >= 1 && delay >= Math.floor(ceiling / 2) && delay <= ceiling && delay <= p.maxDelayMs;
    }),
  );
});

test('the ceiling grows exponentially until the cap, and never shrinks', () => {
  fc.assert(
    fc.property(policy, attempt, (p, a) => {
      const now = ceilingDelayMs(a, p);
      const next = ceilingDelayMs(a + 1, p);
      return (
        next >= now &&
        (now === p.maxDelayMs || next === Math.min(p.maxDelayMs, now * 2) || next - now <= 1 + now)
      );
    }),
  );
  expect([1, 2, 3, 4, 5, 6].map((a) => ceilingDelayMs(a, { baseDelayMs: 1000, maxDelayMs: 10_000 }))).toEqual(
    [1000, 2000, 4000, 8000, 10_000, 10_000],
  );
});

test('every delay has a tier that holds it: one retry queue per tier, ascending, the last one the cap', () => {
  fc.assert(
    fc.property(policy, attempt, random, (p, a, r) => {
      const tiers = retryTiersMs(p);
      const delay = backoffDelayMs(a, p, () => r);
      const tier = tierFor(delay, tiers);
      const ascending = tiers.every((t, i) => i === 0 || t > tiers[i - 1]);
      return ascending && tiers.includes(tier) && delay <= tier && tiers[tiers.length - 1] === p.maxDelayMs;
    }),
  );
  expect(retryTiersMs({ baseDelayMs: 5000, maxDelayMs: 300_000 })).toEqual([
    5000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000,
  ]);
});

test('jitter spreads retries of tasks failing together', () => {
  const p = { baseDelayMs: 1000, maxDelayMs: 60_000 };
  const delays = new Set(Array.from({ length: 50 }, (_, i) => backoffDelayMs(3, p, () => i / 50)));
  expect(delays.size).toBeGreaterThan(40);
});

test('retryable failures are retried with a delay until the attempt limit, then dead-lettered', () => {
  const retry = { baseDelayMs: 100, maxDelayMs: 1000 };
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 25 }), random, (max, a, r) => {
      const decision = decideFailure({
        error: new Error('boom'),
        attempt: a,
        shuttingDown: false,
        maxAttempts: max,
        retry,
        random: () => r,
      });
      if (a >= max) {
        return decision.action === 'dead-letter' && decision.reason === DeadLetterReasons.maxAttempts;
      }
      return decision.action === 'retry' && decision.delayMs === backoffDelayMs(a, retry, () => r);
    }),
  );
  // A shutdown is not the task's fault: returned unspent, even on the last attempt.
  expect(
    decideFailure({ error: new Error('aborted'), attempt: 5, shuttingDown: true, maxAttempts: 5, retry })
      .action,
  ).toBe('interrupted');
  expect(exceededAttempts(3, 3)).toBeUndefined();
  expect(exceededAttempts(4, 3)).toMatchObject({
    action: 'dead-letter',
    reason: DeadLetterReasons.maxAttempts,
  });
});
