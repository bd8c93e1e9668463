import { ExitCode } from '@agent-fleet/contract';
import fc from 'fast-check';
import {
  acceptsDeliveries,
  drainReason,
  EXIT_CODE_FOR,
  isReady,
  isReconnecting,
  isStopping,
  isWindingDown,
  Lifecycle,
  type LifecycleEvent,
  type LifecycleState,
  mayResumeConsuming,
  type StopReason,
  transition,
} from '../src/lifecycle';

const reasons = Object.keys(EXIT_CODE_FOR) as StopReason[];
const reason = fc.constantFrom(...reasons);
const dependency = fc.constantFrom('llm', 'search', 'vector-db');

const state: fc.Arbitrary<LifecycleState> = fc.oneof(
  fc.constant<LifecycleState>({ kind: 'starting' }),
  fc.constant<LifecycleState>({ kind: 'running' }),
  dependency.map((circuit): LifecycleState => ({ kind: 'paused', circuit })),
  fc
    .option(dependency, { nil: undefined })
    .map((circuit): LifecycleState => ({ kind: 'reconnecting', circuit })),
  fc
    .tuple(reason, fc.boolean())
    .map(([r, reconnecting]): LifecycleState => ({ kind: 'draining', reason: r, reconnecting })),
  reason.map((r): LifecycleState => ({ kind: 'stopping', reason: r })),
  reason.map((r): LifecycleState => ({ kind: 'stopped', reason: r, code: EXIT_CODE_FOR[r] })),
);

const event: fc.Arbitrary<LifecycleEvent> = fc.oneof(
  fc.constant<LifecycleEvent>({ type: 'started' }),
  dependency.map((d): LifecycleEvent => ({ type: 'circuit-opened', dependency: d })),
  fc.constant<LifecycleEvent>({ type: 'pause-ended' }),
  fc.constant<LifecycleEvent>({ type: 'broker-lost' }),
  fc.constant<LifecycleEvent>({ type: 'reconnect-ended' }),
  reason.map((r): LifecycleEvent => ({ type: 'drain', reason: r })),
  reason.map((r): LifecycleEvent => ({ type: 'stop', reason: r })),
  fc.constant<LifecycleEvent>({ type: 'closed' }),
);

/** The states a run of events passes through (a no-op event repeats the state). */
function walk(from: LifecycleState, events: readonly LifecycleEvent[]): LifecycleState[] {
  const states = [from];
  for (const e of events) {
    const last = states[states.length - 1];
    states.push(transition(last, e) ?? last);
  }
  return states;
}

describe('transition', () => {
  test('a worker starts, runs, and stops with the exit code of its reason', () => {
    const lifecycle = new Lifecycle();
    expect(lifecycle.state).toEqual({ kind: 'starting' });
    expect(lifecycle.advance({ type: 'started' })).toBe(true);
    expect(lifecycle.state).toEqual({ kind: 'running' });
    expect(lifecycle.advance({ type: 'stop', reason: 'idle' })).toBe(true);
    expect(lifecycle.state).toEqual({ kind: 'stopping', reason: 'idle' });
    expect(lifecycle.advance({ type: 'closed' })).toBe(true);
    expect(lifecycle.state).toEqual({ kind: 'stopped', reason: 'idle', code: ExitCode.succeeded });
  });

  test('an event that does not apply leaves the state as it is and says so', () => {
    const lifecycle = new Lifecycle();
    lifecycle.advance({ type: 'started' });
    const before = lifecycle.state;
    expect(lifecycle.advance({ type: 'reconnect-ended' })).toBe(false);
    expect(lifecycle.advance({ type: 'pause-ended' })).toBe(false);
    expect(lifecycle.advance({ type: 'closed' })).toBe(false);
    expect(lifecycle.state).toBe(before);
  });

  test('a breaker pauses intake until its interval ends; the latest breaker is the one named', () => {
    let s = transition({ kind: 'running' }, { type: 'circuit-opened', dependency: 'llm' });
    expect(s).toEqual({ kind: 'paused', circuit: 'llm' });
    s = transition(s!, { type: 'circuit-opened', dependency: 'search' });
    expect(s).toEqual({ kind: 'paused', circuit: 'search' });
    expect(transition(s!, { type: 'pause-ended' })).toEqual({ kind: 'running' });
    expect(transition({ kind: 'starting' }, { type: 'circuit-opened', dependency: 'llm' })).toEqual({
      kind: 'paused',
      circuit: 'llm',
    });
  });

  test('a lost broker reconnects once at a time, and a pause survives the reconnect', () => {
    expect(transition({ kind: 'running' }, { type: 'broker-lost' })).toEqual({
      kind: 'reconnecting',
      circuit: undefined,
    });
    expect(transition({ kind: 'reconnecting', circuit: undefined }, { type: 'broker-lost' })).toBeUndefined();
    const paused = transition({ kind: 'paused', circuit: 'llm' }, { type: 'broker-lost' });
    expect(paused).toEqual({ kind: 'reconnecting', circuit: 'llm' });
    expect(transition(paused!, { type: 'reconnect-ended' })).toEqual({ kind: 'paused', circuit: 'llm' });
    // The breaker's interval ends during the reconnect: running once reconnected.
    const resumed = transition(paused!, { type: 'pause-ended' });
    expect(resumed).toEqual({ kind: 'reconnecting', circuit: undefined });
    expect(transition(resumed!, { type: 'reconnect-ended' })).toEqual({ kind: 'running' });
    // A breaker opening during the reconnect: paused once reconnected.
    expect(
      transition({ kind: 'reconnecting', circuit: undefined }, { type: 'circuit-opened', dependency: 'llm' }),
    ).toEqual({ kind: 'reconnecting', circuit: 'llm' });
  });

  test('a drain keeps its first reason and carries a reconnect in progress', () => {
    const draining = transition({ kind: 'running' }, { type: 'drain', reason: 'max-tasks' });
    expect(draining).toEqual({ kind: 'draining', reason: 'max-tasks', reconnecting: false });
    expect(transition(draining!, { type: 'drain', reason: 'memory-high' })).toBeUndefined();
    expect(transition(draining!, { type: 'circuit-opened', dependency: 'llm' })).toBeUndefined();
    const lost = transition(draining!, { type: 'broker-lost' });
    expect(lost).toEqual({ kind: 'draining', reason: 'max-tasks', reconnecting: true });
    expect(transition(lost!, { type: 'broker-lost' })).toBeUndefined();
    expect(transition(lost!, { type: 'reconnect-ended' })).toEqual(draining);
    expect(
      transition({ kind: 'reconnecting', circuit: 'llm' }, { type: 'drain', reason: 'storage-unavailable' }),
    ).toEqual({ kind: 'draining', reason: 'storage-unavailable', reconnecting: true });
  });

  test('close() applies once, from every state before stopping, with the first reason', () => {
    for (const from of [
      { kind: 'starting' },
      { kind: 'running' },
      { kind: 'paused', circuit: 'llm' },
      { kind: 'reconnecting', circuit: undefined },
      { kind: 'draining', reason: 'max-tasks', reconnecting: true },
    ] satisfies LifecycleState[]) {
      const stopping = transition(from, { type: 'stop', reason: 'signal' });
      expect(stopping).toEqual({ kind: 'stopping', reason: 'signal' });
      expect(transition(stopping!, { type: 'stop', reason: 'idle' })).toBeUndefined();
      expect(transition(stopping!, { type: 'broker-lost' })).toBeUndefined();
    }
  });

  test('each reason stops with its exit code', () => {
    for (const r of reasons) {
      expect(transition({ kind: 'stopping', reason: r }, { type: 'closed' })).toEqual({
        kind: 'stopped',
        reason: r,
        code: EXIT_CODE_FOR[r],
      });
    }
    expect(EXIT_CODE_FOR.signal).not.toBe(ExitCode.succeeded);
    expect(EXIT_CODE_FOR['memory-high']).not.toBe(ExitCode.succeeded);
  });
});

// Keyed by kind, so the compiler insists on a sample of every state.
const samples: Record<LifecycleState['kind'], LifecycleState[]> = {
  starting: [{ kind: 'starting' }],
  running: [{ kind: 'running' }],
  paused: [{ kind: 'paused', circuit: 'llm' }],
  reconnecting: [
    { kind: 'reconnecting', circuit: undefined },
    { kind: 'reconnecting', circuit: 'llm' },
  ],
  draining: [
    { kind: 'draining', reason: 'idle', reconnecting: false },
    { kind: 'draining', reason: 'idle', reconnecting: true },
  ],
  stopping: [
    { kind: 'stopping', reason: 'signal' },
    { kind: 'stopping', reason: 'max-tasks' },
  ],
  stopped: [
    { kind: 'stopped', reason: 'signal', code: ExitCode.interrupted },
    { kind: 'stopped', reason: 'idle', code: ExitCode.succeeded },
  ],
};

describe('questions asked of the state', () => {
  test.each(Object.values(samples).flat())('%o', (s) => {
    const paused = s.kind === 'paused' || (s.kind === 'reconnecting' && s.circuit !== undefined);
    const reconnecting = s.kind === 'reconnecting' || (s.kind === 'draining' && s.reconnecting);
    const stopping = s.kind === 'stopping' || s.kind === 'stopped';
    const windingDown = stopping || s.kind === 'draining';
    expect(acceptsDeliveries(s)).toBe(!windingDown && !paused);
    expect(mayResumeConsuming(s)).toBe(!windingDown && !paused && !reconnecting);
    expect(isReconnecting(s)).toBe(reconnecting);
    expect(isStopping(s)).toBe(stopping);
    expect(isWindingDown(s)).toBe(windingDown);
    expect(drainReason(s)).toBe(s.kind === 'draining' ? s.reason : undefined);
  });
});

describe('isReady: what /readyz answers', () => {
  // A stop is ready when it leaves nothing undone (exit 0): the process still waits for a last scrape.
  const stopReady = (s: LifecycleState) =>
    (s.kind === 'stopping' || s.kind === 'stopped') && EXIT_CODE_FOR[s.reason] === ExitCode.succeeded;
  // Keyed by kind, so a new state cannot go without an answer here.
  const ready: Record<LifecycleState['kind'], (s: LifecycleState) => boolean> = {
    starting: () => false,
    running: () => true,
    paused: () => true,
    reconnecting: () => true,
    draining: () => true,
    stopping: stopReady,
    stopped: stopReady,
  };

  test.each(Object.values(samples).flat())('%o', (s) => {
    expect(isReady(s)).toBe(ready[s.kind](s));
  });

  test('a worker that reached AGENT_MAX_TASKS stays ready while it drains, stops and waits to exit', () => {
    const lifecycle = new Lifecycle();
    expect(isReady(lifecycle.state)).toBe(false);
    lifecycle.advance({ type: 'started' });
    expect(isReady(lifecycle.state)).toBe(true);
    lifecycle.advance({ type: 'drain', reason: 'max-tasks' });
    expect(isReady(lifecycle.state)).toBe(true);
    lifecycle.advance({ type: 'broker-lost' });
    expect(isReady(lifecycle.state)).toBe(true);
    lifecycle.advance({ type: 'stop', reason: 'max-tasks' });
    expect(isReady(lifecycle.state)).toBe(true);
    lifecycle.advance({ type: 'closed' });
    expect(isReady(lifecycle.state)).toBe(true);
  });

  test('a stop that gives work back is not ready from its start', () => {
    for (const r of reasons.filter((x) => EXIT_CODE_FOR[x] !== ExitCode.succeeded)) {
      const lifecycle = new Lifecycle();
      lifecycle.advance({ type: 'started' });
      lifecycle.advance({ type: 'stop', reason: r });
      expect({ r, ready: isReady(lifecycle.state) }).toEqual({ r, ready: false });
    }
  });

  test('deliveries taken before `started` (the drain came first) leave the worker ready', () => {
    const draining = transition({ kind: 'starting' }, { type: 'drain', reason: 'max-tasks' });
    expect(draining).toBeDefined();
    expect(isReady(draining!)).toBe(true);
    expect(transition(draining!, { type: 'started' })).toBeUndefined();
  });

  test('a latch: from starting, ready at most once, and it falls only at a stop', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        const states = walk({ kind: 'starting' }, events);
        const answers = states.map(isReady);
        return answers.every((now, i) => {
          const before = answers[i - 1] ?? false;
          const fell = before && !now;
          const roseAgain = !before && now && answers.slice(0, i).includes(true);
          return !(fell && !isStopping(states[i])) && !roseAgain;
        });
      }),
    );
  });
});

describe('properties', () => {
  test('from any state, no sequence of events leads out of stopped', () => {
    fc.assert(
      fc.property(state, fc.array(event, { maxLength: 40 }), (from, events) => {
        const states = walk(from, events);
        const first = states.findIndex((s) => s.kind === 'stopped');
        return first === -1 || states.slice(first).every((s) => s === states[first]);
      }),
    );
  });

  test('stopped is reached only through stopping', () => {
    fc.assert(
      fc.property(state, fc.array(event, { maxLength: 40 }), (from, events) => {
        const states = walk(from, events);
        return states.every(
          (s, i) =>
            i === 0 || s.kind !== 'stopped' || states[i - 1].kind === 'stopping' || states[i - 1] === s,
        );
      }),
    );
  });

  test('stopping leads nowhere but stopped, and a drain never takes work again', () => {
    fc.assert(
      fc.property(state, event, (from, e) => {
        const next = transition(from, e);
        if (next === undefined) {
          return true;
        }
        if (from.kind === 'stopping' && next.kind !== 'stopped') {
          return false;
        }
        return !isWindingDown(from) || isWindingDown(next);
      }),
    );
  });

  test('close() applies from every state before stopping, and only there', () => {
    fc.assert(
      fc.property(state, reason, (from, r) => {
        const next = transition(from, { type: 'stop', reason: r });
        return isStopping(from) ? next === undefined : next?.kind === 'stopping' && next.reason === r;
      }),
    );
  });
});
