/**
 * File mode: the worker of Job index *i* runs the tasks of shard file *i* without a broker. Same
 * handler API, checkpoints keyed by task id in the same store, one lease per task, and each task
 * ends as one result file (`result-files.ts`) plus one log line. The Job does what the broker did:
 * a pod that exits 75 (SIGTERM) or dies is replaced (podFailurePolicy, backoffLimitPerIndex) and
 * the replacement skips the tasks with a result and resumes the others from their checkpoints.
 *
 * Retries without a delayed-retry queue: a failed attempt waits its backoff delay in the process
 * (the same schedule as the queue's retry tiers) and runs again, up to AGENT_MAX_ATTEMPTS. The
 * attempts spent and the time of the next one are stored per task, so a replacement pod continues
 * counting and waits out the rest of the delay.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { DeadLetterReasons, Env, ExitCode, type ResultMessage, shardFileName } from '@agent-fleet/contract';
import type { RetryPolicy } from './backoff';
import type { ResolvedOptions } from './config';
import { ConfigError, errorText, isStorageError, PermanentError, StorageError } from './errors';
import type { WorkerEvents } from './events';
import { DependencyGuards, dependencyUnavailable } from './guard';
import type { Logger } from './logger';
import { type MemorySource, memoryHigh } from './memory';
import { ResultFiles, type TaskAttempts, UnusableResultFileError } from './result-files';
import { readShardFile, type ShardEntry } from './shard-file';
import { TaskCheckpoints } from './store';
import { decideFailure, exceededAttempts } from './task';
import { type AgentHandler, createTaskContext, readResumeState, type TaskRun } from './task-context';

/** Why a shard run stopped. */
export type ShardStopReason =
  /** Every task of the shard has its result. */
  | 'finished'
  /** SIGTERM/SIGINT: running tasks were aborted and checkpointed. */
  | 'signal'
  /** Memory above AGENT_MEMORY_HIGH_FRACTION: running tasks finished, no new one taken. */
  | 'memory-high'
  /** The checkpoint store failed. */
  | 'storage-unavailable';

/**
 * The one state of a shard run. `stopping`: no new task is taken (after a signal the running ones
 * were aborted too); `stopped`: `code` is the exit code.
 */
export type ShardState =
  | { readonly kind: 'starting' }
  | { readonly kind: 'running' }
  | { readonly kind: 'stopping'; readonly reason: ShardStopReason }
  | { readonly kind: 'stopped'; readonly reason: ShardStopReason; readonly code: number };

/**
 * The exit code of a shard run, for the Job's podFailurePolicy: 0 when every task succeeded; 65
 * (FailIndex) when every task has its result and one or more failed: the failures are final
 * (permanent, or out of attempts), so retrying the index could only skip them again, and the Job
 * shows the index as failed; 75 after a signal or high memory and 69 when the store failed (both
 * retried by the Job, the replacement resumes). Pure.
 */
export function shardExitCode(reason: ShardStopReason, failedResults: number): number {
  switch (reason) {
    case 'finished':
      return failedResults > 0 ? ExitCode.permanentFailure : ExitCode.succeeded;
    case 'signal':
    case 'memory-high':
      return ExitCode.interrupted;
    case 'storage-unavailable':
      return ExitCode.dependencyUnreachable;
  }
}

/** How one entry's turn under its lease ended. */
type EntryEnd = 'done' | 'interrupted' | 'lease-lost';

/** Resolves after `ms`, or at once when one of `signals` fires. */
function pause(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signals.some((signal) => signal.aborted)) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const signal of signals) signal.addEventListener('abort', done, { once: true });
  });
}

export class ShardRunner extends EventEmitter<WorkerEvents> {
  private current: ShardState = { kind: 'starting' };
  private readonly store: TaskCheckpoints;
  private readonly results: ResultFiles;
  private readonly guards: DependencyGuards;
  private readonly retry: RetryPolicy;
  private readonly holder: string;
  private leaseSeq = 0;
  /** Fires on any stop: lease waits and retry delays end at once (handlers only on a signal). */
  private readonly stopController = new AbortController();
  /** Runs of handlers in progress (their `ctx.onCheckpointRequest` callbacks). */
  private readonly running = new Set<TaskRun>();
  private failedResults = 0;
  private memoryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly handler: AgentHandler,
    private readonly options: ResolvedOptions,
    private readonly log: Logger,
    private readonly memorySource?: MemorySource,
  ) {
    super();
    if (options.shardIndex === undefined) {
      throw new ConfigError([
        {
          variable: Env.AGENT_INDEX,
          value: options.agentIndex,
          message: 'file mode needs a completion index',
        },
      ]);
    }
    this.store = new TaskCheckpoints(options.checkpointDir);
    this.results = new ResultFiles(options.checkpointDir);
    this.retry = {
      baseDelayMs: Math.round(options.retryDelaySeconds * 1000),
      maxDelayMs: Math.round(options.retryMaxDelaySeconds * 1000),
    };
    this.guards = new DependencyGuards({
      onCircuit: (dependency, open) => this.emit('circuit', { dependency, open }),
      onOverflow: ({ maxValues, firstRefused }) =>
        log.warn(
          { maxValues, firstRefused },
          'ctx.guard() was called with more dependency names than the worker keeps breakers for; further names share the breaker "other"',
        ),
    });
    this.holder = `${options.podName}/${process.pid}/${randomBytes(4).toString('hex')}`;
  }

  private get signalled(): boolean {
    const state = this.current;
    return (state.kind === 'stopping' || state.kind === 'stopped') && state.reason === 'signal';
  }

  get state(): ShardState {
    return this.current;
  }

  /** What `/readyz` answers: from the shard's start until a stop that leaves work undone. */
  get ready(): boolean {
    const state = this.current;
    return state.kind === 'running' || (state.kind !== 'starting' && state.reason === 'finished');
  }

  /**
   * Stops taking tasks; after a signal also aborts every running handler (`ctx.signal`), lease
   * wait and retry delay. The first reason wins.
   */
  stop(reason: ShardStopReason): void {
    if (this.current.kind === 'stopping' || this.current.kind === 'stopped') {
      return;
    }
    this.current = { kind: 'stopping', reason };
    this.emit('consuming', false);
    this.stopController.abort(new Error(`worker shutting down (${reason})`));
    if (reason === 'signal') {
      for (const run of this.running) {
        run.controller.abort(new Error('worker shutting down (signal)'));
      }
    }
  }

  /**
   * Prepares the store, reads the shard and runs its tasks (`AGENT_CONCURRENCY` at a time, in file
   * order); resolves with the exit code. Throws `ConfigError` (unwritable store, missing shard)
   * or `StorageError` (a store that does not answer).
   */
  async run(): Promise<number> {
    await this.prepareStore();
    const index = this.options.shardIndex as number;
    const { file, entries } = await readShardFile(this.options.taskDir, index);
    if (this.current.kind !== 'starting') {
      return this.finish();
    }
    this.current = { kind: 'running' };
    this.emit('consuming', true);
    const tasks = entries.filter((entry) => entry.kind !== 'repeat').length;
    this.log.info(
      { shard: file, lines: entries.length, tasks, concurrency: this.options.concurrency },
      'running the shard',
    );
    for (const entry of entries) {
      if (entry.kind === 'repeat') {
        this.log.info(
          { line: entry.line, taskId: entry.id, firstLine: entry.firstLine },
          'line repeats an earlier task (same id and input); it shares that task result',
        );
      }
    }
    this.watchMemory();
    let next = 0;
    const worker = async () => {
      while (this.current.kind === 'running' && next < entries.length) {
        const entry = entries[next++];
        if (entry.kind !== 'repeat') {
          await this.runEntry(entry);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.options.concurrency, entries.length) }, worker));
    } finally {
      clearInterval(this.memoryTimer);
    }
    if (this.current.kind === 'running') {
      this.current = { kind: 'stopping', reason: 'finished' };
    }
    return this.finish();
  }

  private finish(): number {
    const reason = this.current.kind === 'stopping' ? this.current.reason : 'signal';
    const code = shardExitCode(reason, this.failedResults);
    this.log.info(
      {
        reason,
        exitCode: code,
        failedResults: this.failedResults,
        shard: shardFileName(this.options.shardIndex as number),
      },
      'stopped',
    );
    this.current = { kind: 'stopped', reason, code };
    return code;
  }

  private async prepareStore(): Promise<void> {
    try {
      await this.store.prepare();
    } catch (error) {
      if (isStorageError(error) && (error as { code?: unknown }).code === 'ETIMEDOUT') {
        throw error;
      }
      throw new ConfigError([
        {
          variable: Env.CHECKPOINT_DIR,
          value: this.options.checkpointDir,
          message: `is not a writable directory (${errorText(error)}); mount the checkpoint volume there or point ${Env.CHECKPOINT_DIR} at one`,
        },
      ]);
    }
  }

  /** Like the queue worker: above the memory fraction, ask for checkpoints and take no new task. */
  private watchMemory(): void {
    if (this.memorySource === undefined) return;
    const source = this.memorySource;
    this.memoryTimer = setInterval(() => {
      source().then(
        (sample) => {
          if (this.current.kind !== 'running' || !memoryHigh(sample, this.options.memoryHighFraction)) return;
          this.log.warn(
            { usedBytes: sample?.usedBytes, limitBytes: sample?.limitBytes },
            'memory high; asking running tasks to checkpoint and taking no new task',
          );
          for (const run of this.running) {
            for (const callback of run.checkpointRequests) {
              Promise.resolve()
                .then(callback)
                .catch((error) => this.log.warn({ err: error }, 'checkpoint request failed'));
            }
          }
          this.stop('memory-high');
        },
        () => undefined,
      );
    }, 1000);
    this.memoryTimer.unref();
  }

  /**
   * One line's task to its end in this process: under the task's lease, skip it when it has a
   * result, else run it (or file the malformed line's failed result). A lost lease means another
   * pod of this index took the task over: wait for the lease again, then find its result.
   */
  private async runEntry(entry: Exclude<ShardEntry, { kind: 'repeat' }>): Promise<void> {
    const id = entry.kind === 'task' ? entry.task.id : entry.id;
    const log = this.log.child({ taskId: id, line: entry.line });
    try {
      for (;;) {
        const holder = `${this.holder}#${++this.leaseSeq}`;
        if (!(await this.waitForLease(id, holder, log))) return;
        const end = await this.underLease(id, holder, log, (lease) => this.attemptEntry(entry, lease, log));
        if (end !== 'lease-lost') return;
        log.warn('lost the task lease to another worker; waiting for it to finish the task');
      }
    } catch (error) {
      if (isStorageError(error)) {
        log.error(
          { err: error, checkpointDir: this.options.checkpointDir },
          'the checkpoint store is unusable; stopping (the Job retries this index)',
        );
        this.stop('storage-unavailable');
        return;
      }
      throw error;
    }
  }

  /** Takes the task's lease, waiting while another live holder has it; false once stopping by signal. */
  private async waitForLease(id: string, holder: string, log: Logger): Promise<boolean> {
    const ttlMs = this.options.leaseSeconds * 1000;
    let warned = false;
    for (;;) {
      if (this.stopController.signal.aborted) return false;
      const lease = await this.store.acquireLease(id, holder, ttlMs);
      if (lease.acquired) return true;
      if (!warned) {
        // Another pod of this index (a replacement started while the old one terminates, or a
        // pod the kubelet lost touch with) holds it: it finishes the task or its lease expires.
        log.info(
          { holder: lease.holder, expiresInMs: lease.expiresInMs },
          'task is leased; waiting for the lease',
        );
        warned = true;
      }
      await pause(Math.min(250, ttlMs / 4), this.stopController.signal);
    }
  }

  /** Runs `work` holding the lease (renewed every third of its lifetime); releases it after. */
  private async underLease(
    id: string,
    holder: string,
    log: Logger,
    work: (lease: AbortController) => Promise<EntryEnd>,
  ): Promise<EntryEnd> {
    const ttlMs = this.options.leaseSeconds * 1000;
    const lease = new AbortController();
    const renewal = setInterval(() => {
      this.store.renewLease(id, holder, ttlMs).then(
        (held) => {
          if (!held) lease.abort(new Error('the task lease was taken over'));
        },
        (error) => log.warn({ err: error }, 'could not renew the task lease'),
      );
    }, ttlMs / 3);
    try {
      const end = await work(lease);
      return lease.signal.aborted ? 'lease-lost' : end;
    } finally {
      clearInterval(renewal);
      await this.store
        .releaseLease(id, holder)
        .catch((error) => log.warn({ err: error }, 'could not release the task lease'));
    }
  }

  /** Under the lease: skip a task with a result, file a malformed line's result, or run the task. */
  private async attemptEntry(
    entry: Exclude<ShardEntry, { kind: 'repeat' }>,
    lease: AbortController,
    log: Logger,
  ): Promise<EntryEnd> {
    const id = entry.kind === 'task' ? entry.task.id : entry.id;
    const existing = await this.results.readResult(id).catch((error) => {
      if (!(error instanceof UnusableResultFileError)) throw error;
      log.warn({ err: error }, 'result file unusable; treating the task as unfinished');
      return undefined;
    });
    if (existing !== undefined) {
      log.info({ status: existing.status }, 'task already has a result; skipping it');
      if (existing.status === 'failed') this.failedResults += 1;
      // Left behind when a pod died between filing the result and cleaning up after it.
      await this.cleanUpAfter(id, true, log);
      return 'done';
    }
    if (entry.kind === 'malformed') {
      log.warn({ reason: entry.reason, detail: entry.detail }, 'malformed task line; filing a failed result');
      await this.writeResult(
        { id, status: 'failed', error: `${entry.reason}: ${entry.detail}`, attempts: 1 },
        entry.reason,
        performance.now(),
        log,
      );
      return 'done';
    }
    return this.runTask(entry, lease, log);
  }

  /** The task's attempts, each with its handler run, until a result is written or the run stops. */
  private async runTask(
    entry: Extract<ShardEntry, { kind: 'task' }>,
    lease: AbortController,
    log: Logger,
  ): Promise<EntryEnd> {
    const { id, input } = entry.task;
    const started = performance.now();
    const resumed = await readResumeState(this.store, id, log);
    if (resumed?.input !== undefined && resumed.input !== entry.fingerprint) {
      const detail = `task id ${JSON.stringify(id)} has a checkpoint of another input in the store; this line was not run. Give each task its own id, or clear the store of an earlier batch`;
      await this.writeResult(
        { id, status: 'failed', error: `${DeadLetterReasons.idConflict}: ${detail}`, attempts: 1 },
        DeadLetterReasons.idConflict,
        started,
        log,
      );
      return 'done';
    }
    let state = resumed?.state;
    let hasCheckpoint = resumed !== undefined;
    let attempts: TaskAttempts = await this.results.readAttempts(id);
    for (;;) {
      const waitMs = (attempts.retryAt ?? 0) - Date.now();
      if (waitMs > 0) {
        log.info({ retryInMs: waitMs, attempt: attempts.spent + 1 }, 'waiting out the retry delay');
        await pause(waitMs, this.stopController.signal, lease.signal);
      }
      // Any stop ends the shard here: the attempt is not started, the replacement continues.
      if (this.stopController.signal.aborted) return 'interrupted';
      if (lease.signal.aborted) return 'lease-lost';
      const attempt = attempts.spent + 1;
      const exceeded = exceededAttempts(attempt, this.options.maxAttempts);
      if (exceeded?.action === 'dead-letter') {
        log.warn(
          { reason: exceeded.reason, detail: exceeded.detail },
          'attempt limit reached; failing the task',
        );
        await this.writeResult(
          { id, status: 'failed', error: `${exceeded.reason}: ${exceeded.detail}`, attempts: attempts.spent },
          exceeded.reason,
          started,
          log,
          hasCheckpoint,
        );
        return 'done';
      }
      // Spent before the run: a process that dies during it (SIGKILL, OOM) has used the attempt,
      // as a broker redelivery after a crash counts one.
      attempts = { taskId: id, spent: attempt };
      await this.results.writeAttempts(attempts);
      const runLog = log.child({ attempt });
      const run: TaskRun = {
        controller: new AbortController(),
        checkpointRequests: [],
        fingerprint: entry.fingerprint,
      };
      const outcome = await this.runHandler(run, id, input, attempt, state, lease, runLog);
      hasCheckpoint ||= run.hasCheckpoint === true;
      if (outcome.kind === 'succeeded') {
        await this.writeResult(
          { id, status: 'succeeded', output: outcome.output, attempts: attempt },
          undefined,
          started,
          runLog,
          hasCheckpoint,
        );
        return 'done';
      }
      const { error } = outcome;
      if (isStorageError(error) || run.storageFailed) {
        await this.results.writeAttempts({ taskId: id, spent: attempt - 1 }).catch(() => undefined);
        throw isStorageError(error)
          ? error
          : new StorageError('write a checkpoint', this.options.checkpointDir, error);
      }
      if (lease.signal.aborted && !this.signalled) {
        return 'lease-lost';
      }
      // Read again: a checkpoint written before the failure is where the next attempt resumes.
      state = (await readResumeState(this.store, id, runLog))?.state;
      const unavailable = dependencyUnavailable(error);
      if (unavailable && !run.controller.signal.aborted) {
        // Not the task's fault: the attempt is given back, and the breaker's interval waited out.
        attempts = {
          taskId: id,
          spent: attempt - 1,
          retryAt: Date.now() + unavailable.retryAfterMs,
          lastError: unavailable.message,
        };
        await this.results.writeAttempts(attempts);
        runLog.warn(
          { retryInMs: unavailable.retryAfterMs },
          'dependency unavailable; trying again once its breaker lets a probe through',
        );
        this.emit('taskReleased', { taskId: id, why: unavailable.message });
        continue;
      }
      const decision = decideFailure({
        error,
        attempt,
        shuttingDown: run.controller.signal.aborted,
        maxAttempts: this.options.maxAttempts,
        retry: this.retry,
      });
      if (decision.action === 'interrupted') {
        // Stopped by the shutdown, not by the task: the attempt is not spent.
        await this.results.writeAttempts({ taskId: id, spent: attempt - 1 });
        runLog.warn('task interrupted by shutdown; its checkpoint stays for the replacement pod');
        this.emit('taskReleased', { taskId: id, why: decision.why });
        return 'interrupted';
      }
      if (decision.action === 'dead-letter') {
        runLog.warn(
          { reason: decision.reason, detail: decision.detail },
          'task failed; filing a failed result',
        );
        await this.writeResult(
          { id, status: 'failed', error: `${decision.reason}: ${decision.detail}`, attempts: attempt },
          decision.reason,
          started,
          runLog,
          hasCheckpoint,
        );
        return 'done';
      }
      const delayMs = decision.action === 'retry' ? decision.delayMs : 0;
      attempts = { taskId: id, spent: attempt, retryAt: Date.now() + delayMs, lastError: decision.why };
      await this.results.writeAttempts(attempts);
      runLog.warn({ why: decision.why, retryInMs: delayMs }, 'task failed; retrying after a delay');
      this.emit('taskReleased', { taskId: id, why: decision.why });
    }
  }

  /** One run of the handler; its `ctx.signal` fires on a signal stop or a lost lease. */
  private async runHandler(
    run: TaskRun,
    id: string,
    input: unknown,
    attempt: number,
    state: unknown,
    lease: AbortController,
    log: Logger,
  ): Promise<{ kind: 'succeeded'; output: unknown } | { kind: 'failed'; error: unknown }> {
    const onLeaseLost = () => run.controller.abort(lease.signal.reason);
    lease.signal.addEventListener('abort', onLeaseLost, { once: true });
    if (this.signalled) run.controller.abort(this.stopController.signal.reason);
    const ctx = createTaskContext({ store: this.store, guards: this.guards, events: this }, run, {
      taskId: id,
      attempt,
      state,
      log,
    });
    log.info(
      { resumed: state !== undefined },
      state !== undefined ? 'task resumed from its checkpoint' : 'task started',
    );
    this.emit('taskStarted', { taskId: id, attempt, resumed: state !== undefined });
    this.running.add(run);
    this.emit('inFlight', this.running.size);
    try {
      const output = await this.handler(input, ctx);
      try {
        JSON.stringify(output);
      } catch (error) {
        throw new PermanentError(`the handler's output is not JSON-serializable: ${errorText(error)}`);
      }
      return { kind: 'succeeded', output };
    } catch (error) {
      return { kind: 'failed', error };
    } finally {
      this.running.delete(run);
      this.emit('inFlight', this.running.size);
      lease.signal.removeEventListener('abort', onLeaseLost);
    }
  }

  /**
   * Files the task's result (durable before anything else happens), logs it as one JSON line
   * (`msg` "task result", the result under `result`), then removes the checkpoint and attempts,
   * which the result makes moot. A death between the write and the log line leaves the file, and
   * a replacement skips the task: the file is the record, the log line a copy.
   */
  private async writeResult(
    result: ResultMessage,
    reason: string | undefined,
    started: number,
    log: Logger,
    hasCheckpoint = false,
  ): Promise<void> {
    const file = await this.results.writeResult(result);
    const durationSeconds = (performance.now() - started) / 1000;
    if (result.status === 'failed') this.failedResults += 1;
    log.info(
      { status: result.status, attempts: result.attempts, reason, resultFile: file, durationSeconds, result },
      'task result',
    );
    this.emit('taskFinished', { taskId: result.id, status: result.status, durationSeconds });
    await this.cleanUpAfter(result.id, hasCheckpoint, log);
  }

  /** Removes what a task's result makes moot: its attempts and (when it has one) its checkpoint. */
  private async cleanUpAfter(id: string, hasCheckpoint: boolean, log: Logger): Promise<void> {
    await this.results
      .removeAttempts(id)
      .catch((error) => log.warn({ err: error }, 'could not remove the attempts file'));
    if (hasCheckpoint) {
      await this.store
        .removeCheckpoint(id)
        .catch((error) => log.warn({ err: error }, 'could not remove the checkpoint'));
    }
  }
}
