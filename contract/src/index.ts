export { BROKER_URL_EXAMPLE, BROKER_URL_SCHEMES, brokerUrlViolation } from './broker-url';
export { concurrencyViolation } from './concurrency';
export {
  type DeadLetterReason,
  DeadLetterReasons,
  Defaults,
  Env,
  type EnvName,
  ExitCode,
  type ExitCodeName,
  Headers,
  Http,
  Metrics,
  MIN_SHUTDOWN_SECONDS,
  type ResultMessage,
  SCRAPE_DISCOVERY_SECONDS,
  SHUTDOWN_MARGIN_SECONDS,
  scrapeWaitSecondsFor,
  shutdownSecondsFor,
  type TaskMessage,
  type TaskStatus,
  TaskStatuses,
} from './contract';
export {
  CREDENTIAL_KINDS,
  type CredentialKind,
  type CredentialMatch,
  carriesCredential,
  describeCredential,
  findCredentials,
} from './credentials';
export {
  HandlerEnv,
  OPENAI_API_PATH,
  PodEnv,
  RestartPolicies,
  type RestartPolicy,
  restartPolicyViolation,
} from './pod-env';
export { RESTRICTED_VOLUME_TYPES } from './pod-security';
export {
  MAX_SHORTSTR_BYTES,
  queueNameViolation,
  RESERVED_QUEUE_PREFIX,
  type RuleViolation,
  resultQueueViolation,
  utf8Length,
} from './queue-names';
export {
  deadLetterExchangeFor,
  deadLetterQueueFor,
  retryQueueArguments,
  retryQueueFor,
  TASK_QUEUE_DELIVERY_LIMIT,
  taskQueueArguments,
} from './queue-topology';
export { credentialsOf, REDACTED, redact } from './redaction';
export {
  DEFAULT_TASK_DIR,
  JOB_COMPLETION_INDEX_ANNOTATION,
  RESULT_FILE_SUFFIX,
  resultFileNameFor,
  shardCountFor,
  shardFileName,
  shardSlice,
  TaskFileEnv,
  type TaskSource,
  TaskSources,
  taskFileIndexViolation,
  taskFileStem,
} from './task-files';
export { isWellFormedUnicode, MAX_TASK_ID_BYTES, taskIdViolation } from './task-id';
