export {
  DeadLetterReasons,
  Env,
  ExitCode,
  Headers,
  Metrics,
  RESULT_FILE_SUFFIX,
  type ResultMessage,
  shardFileName,
  TaskFileEnv,
  type TaskMessage,
  type TaskSource,
  TaskSources,
  type TaskStatus,
} from '@agent-fleet/contract';
export { type ResolvedOptions, resolveOptions, WORKER_DEFAULTS, type WorkerOptions } from './config';
export { ConfigError, type ConfigProblem, isPermanentError, PermanentError } from './errors';
export { DependencyUnavailableError, GUARD_DEFAULTS, type GuardOptions } from './guard';
export type { Logger } from './logger';
export type { MemorySample, MemorySource } from './memory';
export { resultFileFor } from './result-files';
export { type RunAgentOptions, runAgent } from './run';
export { type RunShardOptions, runShard } from './run-shard';
export {
  CorruptCheckpointError,
  type SmallRecordFormat,
  TaskCheckpoints,
  type TaskCheckpointsOptions,
} from './store';
export type { AgentHandler, StopReason, TaskContext } from './worker';
