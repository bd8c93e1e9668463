/**
 * What a handler sees of its task (`TaskContext`), built the same way whatever delivered the task:
 * a queue message or a line of a shard file.
 */
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { isStorageError } from './errors';
import type { WorkerEvents } from './events';
import type { DependencyGuards, GuardOptions } from './guard';
import type { Logger } from './logger';
import { CorruptCheckpointError, type TaskCheckpoints } from './store';

/** What a handler gets besides the task's input. */
export interface TaskContext<S = unknown> {
  /** The task id (body `id`, else the AMQP `messageId`). */
  readonly taskId: string;
  /** 1 on the first delivery, then 2, 3, … across pods. */
  readonly attempt: number;
  /** The last state passed to `checkpoint()` by any earlier attempt, on any pod; undefined on a fresh start. */
  readonly state: S | undefined;
  /** Durably saves `state` (JSON) for this task; resolves once it is on disk. */
  checkpoint(state: S): Promise<void>;
  /** Fires when the worker shuts down: checkpoint, then return or throw promptly. */
  readonly signal: AbortSignal;
  /** Adds `count` tokens used with `model` to `agent_llm_tokens_total`. */
  recordTokens(model: string, count: number): void;
  /** A logger bound to this task (task id, attempt, agent index, pod). */
  readonly log: Logger;
  /**
   * Calls a dependency (`name`, e.g. "llm") with a timeout, retries with backoff and jitter, and a
   * circuit breaker shared by all tasks of this worker. While the breaker is open the call throws
   * `DependencyUnavailableError`; let it propagate: the task returns to the queue without spending
   * an attempt and the worker takes no new tasks until the breaker lets a probe through.
   */
  guard<T>(name: string, fn: (signal: AbortSignal) => Promise<T> | T, options?: GuardOptions): Promise<T>;
  /**
   * Registers a callback the worker calls when it wants a checkpoint *now* (memory above
   * `AGENT_MEMORY_HIGH_FRACTION` of the limit: an OOM kill gives no warning). Call
   * `ctx.checkpoint()` from it; the task keeps running.
   */
  onCheckpointRequest(callback: () => void | Promise<void>): void;
}

/** The user's code: gets the task input and a context, returns the output (JSON). */
// biome-ignore lint/suspicious/noExplicitAny: handlers choose their own input and state types.
export type AgentHandler<I = any, O = unknown, S = any> = (input: I, ctx: TaskContext<S>) => O | Promise<O>;

/** One run of a task's handler, as the context's callbacks see and mark it. */
export interface TaskRun {
  /** Aborted when the worker shuts down (the handler's `ctx.signal`). */
  readonly controller: AbortController;
  /** Set when the checkpoint store failed during this run: not the task's fault. */
  storageFailed?: boolean;
  /** Callbacks from `ctx.onCheckpointRequest`. */
  readonly checkpointRequests: Array<() => void | Promise<void>>;
  /** The task has checkpoint files to remove once finished (resumed from one, or wrote one). */
  hasCheckpoint?: boolean;
  /** The fingerprint of the task's input, stored with its checkpoints and done marker. */
  fingerprint?: string;
}

/** What the context's callbacks reach: shared by every task of the worker. */
export interface TaskContextParts {
  readonly store: TaskCheckpoints;
  /** The breakers shared by all tasks of the worker (`ctx.guard`). */
  readonly guards: DependencyGuards;
  /** Where checkpoint timings and token counts go (the worker's metrics listen). */
  readonly events: Pick<EventEmitter<WorkerEvents>, 'emit'>;
}

/** The handler's context for one run of task `taskId`; its callbacks mark `run`. */
export function createTaskContext(
  parts: TaskContextParts,
  run: TaskRun,
  task: { readonly taskId: string; readonly attempt: number; readonly state: unknown; readonly log: Logger },
): TaskContext {
  const { taskId } = task;
  return {
    taskId,
    attempt: task.attempt,
    state: task.state,
    signal: run.controller.signal,
    log: task.log,
    checkpoint: async (state: unknown) => {
      const t0 = performance.now();
      run.hasCheckpoint = true;
      await parts.store.writeCheckpoint(taskId, state, run.fingerprint).catch((error) => {
        if (isStorageError(error)) {
          run.storageFailed = true;
        }
        throw error;
      });
      parts.events.emit('checkpointWritten', { taskId, seconds: (performance.now() - t0) / 1000 });
    },
    recordTokens: (model: string, count: number) => {
      if (typeof model !== 'string' || model === '' || !Number.isFinite(count) || count < 0) {
        throw new TypeError(
          `recordTokens(model, count) needs a model name and a count >= 0, got (${model}, ${count})`,
        );
      }
      parts.events.emit('tokens', { model, count });
    },
    guard: <T>(name: string, fn: (signal: AbortSignal) => Promise<T> | T, options: GuardOptions = {}) =>
      parts.guards.run(name, fn, options, run.controller.signal),
    onCheckpointRequest: (callback) => {
      run.checkpointRequests.push(callback);
    },
  };
}

/** The task's last checkpoint (`ctx.state`); a corrupt one (every generation) is logged and ignored. */
export function readResumeState(
  store: TaskCheckpoints,
  taskId: string,
  log: Logger,
): Promise<{ state: unknown; input?: string } | undefined> {
  return store
    .readCheckpoint(taskId, (problem, error) => log.warn({ err: error }, `checkpoint unusable: ${problem}`))
    .catch((error) => {
      if (!(error instanceof CorruptCheckpointError)) throw error;
      log.warn({ err: error }, 'checkpoint unreadable; starting the task afresh');
      return undefined;
    });
}
