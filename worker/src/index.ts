export { backoffDelayMs, ceilingDelayMs, type RetryPolicy, retryTiersMs, tierFor } from './backoff';
export {
  type ResolvedOptions,
  redactUrl,
  resolveOptions,
  WORKER_DEFAULTS,
  type WorkerOptions,
} from './config';
export * from './contract';
export {
  ConfigError,
  type ConfigProblem,
  isPermanentError,
  isStorageError,
  PermanentError,
  StorageError,
} from './errors';
export type { WorkerEvents } from './events';
export { DependencyUnavailableError, GUARD_DEFAULTS, type GuardOptions } from './guard';
export { loadHandler } from './load';
export type { Logger } from './logger';
export { cgroupMemorySource, type MemorySample, type MemorySource, memoryHigh } from './memory';
export { CHECKPOINT_WRITE_BUCKETS, TASK_DURATION_BUCKETS, WorkerMetrics } from './metrics';
export { type RunAgentOptions, runAgent } from './run';
export {
  CorruptCheckpointError,
  checkpointFileFor,
  doneFileFor,
  type Lease,
  leaseFileFor,
  previousCheckpointFileFor,
  publishedFileFor,
  TaskCheckpoints,
  writeFileAtomic,
} from './store';
export {
  attemptOf,
  decideFailure,
  exceededAttempts,
  type FailureDecision,
  type FailureInput,
  parseTask,
} from './task';
export {
  type AgentHandler,
  AgentWorker,
  BrokerUnavailableError,
  EXIT_CODE_FOR,
  type StopReason,
  type TaskContext,
} from './worker';
