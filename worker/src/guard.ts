import type * as Cockatiel from 'cockatiel';
import type { CircuitBreakerPolicy, IPolicy } from 'cockatiel';
import { errorText, isPermanentError } from './errors';
import { BoundedLabels, type LabelOverflow, OVERFLOW_LABEL_VALUE } from './label-values';

let loaded: typeof Cockatiel | undefined;
/**
 * cockatiel, loaded on the first guarded call: module loading is most of a worker's cold start,
 * and an agent that never calls `ctx.guard` should not pay for it.
 */
function cockatiel(): typeof Cockatiel {
  // A synchronous lazy require: `import()` would make the first guarded call wait a tick longer.
  loaded ??= require('cockatiel') as typeof Cockatiel;
  return loaded;
}

/**
 * `ctx.guard(name, fn, opts)`: an outbound call wrapped in a timeout, retries with exponential
 * backoff and jitter, and a circuit breaker shared by every task of this worker for the
 * dependency `name`. Built on cockatiel (a maintained resilience library) rather than a home-made
 * breaker: its half-open probing and state machine are already tested.
 */
export interface GuardOptions {
  /** Time limit of one call; the `signal` passed to `fn` fires when it passes. @default 30000 */
  readonly timeoutMs?: number;
  /** Retries of a failed call within this guard (not counting the first call). @default 2 */
  readonly retries?: number;
  /** First retry delay (exponential, decorrelated jitter). @default 200 */
  readonly retryDelayMs?: number;
  /** Upper bound of a retry delay. @default 5000 */
  readonly retryMaxDelayMs?: number;
  /** Consecutive failed calls that open the breaker. @default 5 */
  readonly consecutiveFailures?: number;
  /**
   * How long the breaker stays open before one probe call is let through (half-open). While open,
   * the worker takes no new tasks, so calls to the dependency per worker are bounded by one per
   * this interval. @default 30000
   */
  readonly halfOpenAfterMs?: number;
}

export const GUARD_DEFAULTS: Required<GuardOptions> = {
  timeoutMs: 30_000,
  retries: 2,
  retryDelayMs: 200,
  retryMaxDelayMs: 5000,
  consecutiveFailures: 5,
  halfOpenAfterMs: 30_000,
};

/**
 * Thrown by `ctx.guard` when the dependency's breaker is open (the call was not made, or its
 * failure opened the breaker). The worker returns the task without spending an attempt.
 */
export class DependencyUnavailableError extends Error {
  constructor(
    readonly dependency: string,
    readonly retryAfterMs: number,
    cause: unknown,
  ) {
    super(`dependency "${dependency}" is unavailable (circuit open): ${errorText(cause)}`, { cause });
    this.name = 'DependencyUnavailableError';
  }
}

/** True when `error`, or an error in its `cause` chain, is a `DependencyUnavailableError`. */
export function dependencyUnavailable(error: unknown): DependencyUnavailableError | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof DependencyUnavailableError) {
      return e;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface GuardEvents {
  /** The breaker of `dependency` opened (true) or closed again (false). */
  onCircuit(dependency: string, open: boolean, retryAfterMs: number): void;
  /**
   * Handler code used more dependency names than a worker keeps breakers for; later names share
   * the breaker `other`. Told once. @default - a process warning
   */
  onOverflow?: LabelOverflow;
}

interface Guarded {
  readonly breaker: CircuitBreakerPolicy;
  readonly policy: IPolicy;
  readonly options: Required<GuardOptions>;
}

/**
 * One breaker per dependency name, shared by all tasks of a worker. Names come from handler code,
 * so they are bounded like label values (label-values.ts): the first 32 distinct names (cut to 64
 * characters) get a breaker each, later ones share the breaker `other`, so a handler that passes a
 * URL or a request id as the name cannot grow the map without limit.
 */
export class DependencyGuards {
  private readonly guards = new Map<string, Guarded>();
  private readonly names: BoundedLabels;

  constructor(private readonly events: GuardEvents) {
    this.names = new BoundedLabels('dependency', {
      onOverflow:
        events.onOverflow ??
        (({ maxValues, firstRefused }) =>
          process.emitWarning(
            `ctx.guard() was called with more than ${maxValues} dependency names (the latest: ${JSON.stringify(firstRefused)}); further names share the circuit breaker "${OVERFLOW_LABEL_VALUE}"`,
            { code: 'AGENT_GUARD_NAMES' },
          )),
    });
  }

  /** The breaker key for a dependency name: the name, cut to 64 characters, or `other` past the cap. */
  keyFor(name: string): string {
    return this.names.value(name);
  }

  /** Breakers held (at most the cap plus `other`). */
  get size(): number {
    return this.guards.size;
  }

  /** Names of the dependencies whose breaker is not closed. */
  openDependencies(): string[] {
    if (this.guards.size === 0) {
      return [];
    }
    const { CircuitState } = cockatiel();
    return [...this.guards].filter(([, g]) => g.breaker.state !== CircuitState.Closed).map(([name]) => name);
  }

  private guardFor(name: string, opts: GuardOptions): Guarded {
    const existing = this.guards.get(name);
    if (existing) {
      return existing;
    }
    const options = { ...GUARD_DEFAULTS, ...opts };
    const {
      BrokenCircuitError,
      ConsecutiveBreaker,
      circuitBreaker,
      ExponentialBackoff,
      handleWhen,
      retry,
      TimeoutStrategy,
      timeout,
      wrap,
    } = cockatiel();
    // Neither a permanent error nor an open breaker is worth retrying.
    const retryable = handleWhen(
      (error) => !isPermanentError(error) && !(error instanceof BrokenCircuitError),
    );
    const breaker = circuitBreaker(
      handleWhen((error) => !isPermanentError(error)),
      {
        halfOpenAfter: options.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(options.consecutiveFailures),
      },
    );
    breaker.onBreak(() => this.events.onCircuit(name, true, options.halfOpenAfterMs));
    breaker.onReset(() => this.events.onCircuit(name, false, 0));
    const policy = wrap(
      retry(retryable, {
        maxAttempts: options.retries,
        backoff: new ExponentialBackoff({
          initialDelay: options.retryDelayMs,
          maxDelay: options.retryMaxDelayMs,
        }),
      }),
      breaker,
      timeout(options.timeoutMs, TimeoutStrategy.Aggressive),
    );
    const guarded = { breaker, policy, options };
    this.guards.set(name, guarded);
    return guarded;
  }

  /**
   * Runs `fn` under the dependency's policy. `signal` (the task's) cancels the call and its
   * retries. The first call for a name fixes that dependency's options.
   */
  async run<T>(
    name: string,
    fn: (signal: AbortSignal) => Promise<T> | T,
    opts: GuardOptions,
    signal: AbortSignal,
  ): Promise<T> {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError('ctx.guard(name, fn) needs a dependency name');
    }
    const key = this.keyFor(name);
    const guard = this.guardFor(key, opts);
    const { BrokenCircuitError, CircuitState } = cockatiel();
    try {
      return (await guard.policy.execute(({ signal: callSignal }) => fn(callSignal), signal)) as T;
    } catch (error) {
      if (error instanceof BrokenCircuitError || guard.breaker.state === CircuitState.Open) {
        throw new DependencyUnavailableError(key, guard.options.halfOpenAfterMs, error);
      }
      throw error;
    }
  }
}
