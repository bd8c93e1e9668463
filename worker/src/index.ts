export {
  type ResolvedOptions,
  redactUrl,
  resolveOptions,
  WORKER_DEFAULTS,
  type WorkerOptions,
} from './config';
export * from './contract';
export { ConfigError, type ConfigProblem, isPermanentError, PermanentError } from './errors';
export type { WorkerEvents } from './events';
export { loadHandler } from './load';
export type { Logger } from './logger';
export { CHECKPOINT_WRITE_BUCKETS, TASK_DURATION_BUCKETS, WorkerMetrics } from './metrics';
export { type RunAgentOptions, runAgent } from './run';
export { checkpointFileFor, doneFileFor, TaskCheckpoints, writeFileAtomic } from './store';
export { attemptOf, decideFailure, type FailureDecision, type FailureInput, parseTask } from './task';
export {
  type AgentHandler,
  AgentWorker,
  BrokerUnavailableError,
  EXIT_CODE_FOR,
  type StopReason,
  type TaskContext,
} from './worker';
