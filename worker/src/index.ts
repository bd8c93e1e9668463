export {
  DeadLetterReasons,
  Env,
  ExitCode,
  Headers,
  Metrics,
  type ResultMessage,
  type TaskMessage,
  type TaskStatus,
} from '@agent-fleet/contract';
export { type ResolvedOptions, resolveOptions, WORKER_DEFAULTS, type WorkerOptions } from './config';
export { ConfigError, type ConfigProblem, isPermanentError, PermanentError } from './errors';
export { DependencyUnavailableError, GUARD_DEFAULTS, type GuardOptions } from './guard';
export type { Logger } from './logger';
export type { MemorySample, MemorySource } from './memory';
export { type RunAgentOptions, runAgent } from './run';
export { CorruptCheckpointError, TaskCheckpoints } from './store';
export type { AgentHandler, StopReason, TaskContext } from './worker';
