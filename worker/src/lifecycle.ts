import { ExitCode } from '@agent-fleet/contract';

/** Why a worker stopped; each maps to one exit code. */
export type StopReason =
  | 'memory-high'
  | 'signal'
  | 'max-tasks'
  | 'idle'
  | 'consumer-cancelled'
  | 'broker-lost'
  | 'storage-unavailable';

/** The exit code for each way of stopping. Only the ones that leave no work of ours unfinished are 0. */
export const EXIT_CODE_FOR: Readonly<Record<StopReason, number>> = {
  signal: ExitCode.interrupted,
  'max-tasks': ExitCode.succeeded,
  idle: ExitCode.succeeded,
  'consumer-cancelled': ExitCode.dependencyUnreachable,
  'broker-lost': ExitCode.dependencyUnreachable,
  'storage-unavailable': ExitCode.dependencyUnreachable,
  // Not 0: a fresh pod (fresh memory) should take the remaining work.
  'memory-high': ExitCode.interrupted,
};

/**
 * Where a worker is in its life. Exactly one value at a time; what the worker may do (take a
 * delivery, arm the idle timer, reconnect, resume consuming) is a question asked of it.
 *
 * - `starting`: connecting and declaring. The consumer exists before `start()` returns, so a
 *   delivery can arrive here already: it is taken as in `running`.
 * - `running`: consuming.
 * - `paused`: a dependency's circuit breaker opened; no deliveries are taken until its probe time.
 * - `reconnecting`: the broker connection or channel was lost and is being re-established.
 *   Deliveries of the new connection are taken, unless a breaker opened meanwhile (`circuit`):
 *   then the worker is `paused` once reconnected.
 * - `draining`: no new deliveries; the in-flight ones finish, then the worker stops for `reason`.
 *   `reconnecting` while the lost broker is being re-established (a drain does not cancel it: the
 *   in-flight tasks still need a channel to settle on).
 * - `stopping`: `close()` runs: handlers are signalled, then forced, then the connection closes.
 * - `stopped`: closed; `code` is the process's exit code.
 *
 * Once draining, a breaker opening changes nothing (no delivery would be taken anyway); once
 * stopping, neither does a lost broker.
 */
export type LifecycleState =
  | { readonly kind: 'starting' }
  | { readonly kind: 'running' }
  | { readonly kind: 'paused'; readonly circuit: string }
  | { readonly kind: 'reconnecting'; readonly circuit: string | undefined }
  | { readonly kind: 'draining'; readonly reason: StopReason; readonly reconnecting: boolean }
  | { readonly kind: 'stopping'; readonly reason: StopReason }
  | { readonly kind: 'stopped'; readonly reason: StopReason; readonly code: number };

/** What happens to a worker; `transition` says where each one leads. */
export type LifecycleEvent =
  /** Startup connected, declared the topology and consumes. */
  | { readonly type: 'started' }
  /** A dependency's breaker opened (`dependency` names it). */
  | { readonly type: 'circuit-opened'; readonly dependency: string }
  /** The open breaker's interval passed: it may let a probe through. */
  | { readonly type: 'pause-ended' }
  /** The connection or channel died. */
  | { readonly type: 'broker-lost' }
  /** The reconnect after a `broker-lost` is over, connected or not. */
  | { readonly type: 'reconnect-ended' }
  /** Stop taking tasks, finish the in-flight ones, then stop for `reason`. */
  | { readonly type: 'drain'; readonly reason: StopReason }
  /** `close(reason)` was called. */
  | { readonly type: 'stop'; readonly reason: StopReason }
  /** `close()` finished: the connection is closed. */
  | { readonly type: 'closed' };

/**
 * The state `event` leads to from `state`, or undefined when the event does not apply there (the
 * state stays as it is). Pure: the worker performs the I/O around it.
 */
export function transition(state: LifecycleState, event: LifecycleEvent): LifecycleState | undefined {
  switch (event.type) {
    case 'started':
      return state.kind === 'starting' ? { kind: 'running' } : undefined;
    case 'circuit-opened':
      switch (state.kind) {
        case 'starting':
        case 'running':
        case 'paused':
          return { kind: 'paused', circuit: event.dependency };
        case 'reconnecting':
          return { kind: 'reconnecting', circuit: event.dependency };
        default:
          return undefined;
      }
    case 'pause-ended':
      if (state.kind === 'paused') {
        return { kind: 'running' };
      }
      return state.kind === 'reconnecting' && state.circuit !== undefined
        ? { kind: 'reconnecting', circuit: undefined }
        : undefined;
    case 'broker-lost':
      switch (state.kind) {
        case 'starting':
        case 'running':
          return { kind: 'reconnecting', circuit: undefined };
        case 'paused':
          return { kind: 'reconnecting', circuit: state.circuit };
        case 'draining':
          return state.reconnecting ? undefined : { ...state, reconnecting: true };
        default:
          return undefined;
      }
    case 'reconnect-ended':
      if (state.kind === 'reconnecting') {
        return state.circuit === undefined ? { kind: 'running' } : { kind: 'paused', circuit: state.circuit };
      }
      return state.kind === 'draining' && state.reconnecting ? { ...state, reconnecting: false } : undefined;
    case 'drain':
      switch (state.kind) {
        case 'starting':
        case 'running':
        case 'paused':
          return { kind: 'draining', reason: event.reason, reconnecting: false };
        case 'reconnecting':
          return { kind: 'draining', reason: event.reason, reconnecting: true };
        default:
          return undefined;
      }
    case 'stop':
      return isStopping(state) ? undefined : { kind: 'stopping', reason: event.reason };
    case 'closed':
      return state.kind === 'stopping'
        ? { kind: 'stopped', reason: state.reason, code: EXIT_CODE_FOR[state.reason] }
        : undefined;
  }
}

/** A delivery that arrives now is handled (otherwise it goes back to the queue untouched). */
export function acceptsDeliveries(state: LifecycleState): boolean {
  return (
    state.kind === 'starting' ||
    state.kind === 'running' ||
    (state.kind === 'reconnecting' && state.circuit === undefined)
  );
}

/**
 * `/readyz` answers 200: the worker's consumer has joined the task queue, and it has not begun to
 * stop. A latch, not "consuming right now": it holds while a breaker pauses intake, while a lost
 * broker is reconnected and while the last tasks drain (e.g. after AGENT_MAX_TASKS). The pod's
 * Ready condition is how KEDA (`pendingPodConditions: [Ready]`) tells a Job that holds its
 * messages from one still pending; a Job that took its messages and counted as pending again
 * would make KEDA's `accurate` strategy hold back Jobs for messages nobody holds.
 *
 * `starting` is not ready, even though its consumer may already take deliveries: readiness begins
 * with `started`. Every other way out of `starting` but a stop comes from the consumer's own work
 * (a delivery reaching AGENT_MAX_TASKS, a task's breaker, a cancelled consumer), so it is ready
 * too; the one exception is a connection lost between declaring and consuming at startup, ready
 * while its reconnect, which consumes next, is under way.
 *
 * A stop that leaves nothing of the worker's undone (exit 0: AGENT_MAX_TASKS reached, idle) keeps
 * it ready until the process exits: the entrypoint then waits for a last scrape of its metrics,
 * and a Job whose agent finished its tasks must not count as pending meanwhile. Any other stop
 * gave work back to the queue (a signal, a lost broker, memory): not ready from its start.
 */
export function isReady(state: LifecycleState): boolean {
  switch (state.kind) {
    case 'running':
    case 'paused':
    case 'reconnecting':
    case 'draining':
      return true;
    case 'starting':
      return false;
    case 'stopping':
    case 'stopped':
      return EXIT_CODE_FOR[state.reason] === ExitCode.succeeded;
  }
}

/** Consuming may start again after a pause: taking work, and no reconnect owns the consumer. */
export function mayResumeConsuming(state: LifecycleState): boolean {
  return acceptsDeliveries(state) && !isReconnecting(state);
}

/** A reconnect after a lost broker is under way. */
export function isReconnecting(state: LifecycleState): boolean {
  return state.kind === 'reconnecting' || (state.kind === 'draining' && state.reconnecting);
}

/** Draining or beyond: the worker will take no new task again. */
export function isWindingDown(state: LifecycleState): boolean {
  return state.kind === 'draining' || isStopping(state);
}

/** `close()` was called. */
export function isStopping(state: LifecycleState): boolean {
  return state.kind === 'stopping' || state.kind === 'stopped';
}

/** The reason to close with once the in-flight deliveries are done; undefined when not draining. */
export function drainReason(state: LifecycleState): StopReason | undefined {
  return state.kind === 'draining' ? state.reason : undefined;
}

/**
 * The one place a worker's lifecycle state lives; the worker and its intake control share it. It
 * only stores what `transition` returns.
 */
export class Lifecycle {
  private current: LifecycleState = { kind: 'starting' };

  get state(): LifecycleState {
    return this.current;
  }

  /** Applies `event`; false (state unchanged) when it does not apply in the current state. */
  advance(event: LifecycleEvent): boolean {
    const next = transition(this.current, event);
    if (next === undefined) {
      return false;
    }
    this.current = next;
    return true;
  }
}
