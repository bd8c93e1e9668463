/**
 * The runtime contract: every literal that the manifests (written by the construct
 * library) and the worker (running inside the pod) must agree on.
 *
 * This module is the only place these values are written. The construct library, the
 * worker and the CLI all import it from `@agent-fleet/contract`, a package without
 * dependencies, so the constructs never install amqplib, pino or prom-client.
 *
 * The env names are public API: users set them by hand outside our constructs and
 * tools drive the worker through them. Renaming one is a breaking change.
 */

/** Environment variables read by the worker. */
export const Env = {
  /** AMQP URL with credentials. Always injected from a Secret, never written in a manifest. Required. */
  TASK_QUEUE_URL: 'TASK_QUEUE_URL',
  /** Queue to consume tasks from. */
  TASK_QUEUE_NAME: 'TASK_QUEUE_NAME',
  /** Queue that receives exactly one result message per task. */
  RESULT_QUEUE_NAME: 'RESULT_QUEUE_NAME',
  /** Path of the JS module whose default export is the handler. */
  AGENT_HANDLER: 'AGENT_HANDLER',
  /** Agent identity: the Job completion index, or the pod name when absent. Used in logs only. */
  AGENT_INDEX: 'AGENT_INDEX',
  /** Mount path of the shared checkpoint store. */
  CHECKPOINT_DIR: 'CHECKPOINT_DIR',
  /** Port serving `/metrics`, `/healthz` and `/readyz`. */
  METRICS_PORT: 'METRICS_PORT',
  /** Tasks one pod takes before exiting 0 (0 = no limit). */
  AGENT_MAX_TASKS: 'AGENT_MAX_TASKS',
  /**
   * Tasks one pod holds and runs at once: the consumer's prefetch. A ScaledJob over a metric that
   * counts only ready messages sets it to the trigger's per-Job target, so that a new Job takes all
   * the messages KEDA created it for as soon as it joins the queue (see {@link concurrencyViolation}).
   */
  AGENT_CONCURRENCY: 'AGENT_CONCURRENCY',
  /** Exit 0 after the queue stayed empty this many seconds. */
  AGENT_IDLE_EXIT_SECONDS: 'AGENT_IDLE_EXIT_SECONDS',
  /** Deadline from SIGTERM to exit, in seconds. Must be shorter than the pod's grace period. */
  AGENT_SHUTDOWN_SECONDS: 'AGENT_SHUTDOWN_SECONDS',
  /** Pod name, from the downward API; identifies the agent in logs when AGENT_INDEX is absent. */
  POD_NAME: 'POD_NAME',
  /** Deliveries of one task (across pods) before it is dead-lettered with a failed result. */
  AGENT_MAX_ATTEMPTS: 'AGENT_MAX_ATTEMPTS',
  /** Delay before the first retry of a failed task, in seconds; doubles per attempt (with jitter). */
  AGENT_RETRY_DELAY_SECONDS: 'AGENT_RETRY_DELAY_SECONDS',
  /** Upper bound of the retry delay, in seconds. */
  AGENT_RETRY_MAX_DELAY_SECONDS: 'AGENT_RETRY_MAX_DELAY_SECONDS',
  /**
   * How long the worker keeps trying to (re)connect to the broker, at startup and after losing it,
   * before it exits with `ExitCode.dependencyUnreachable`, in seconds.
   */
  AGENT_BROKER_CONNECT_SECONDS: 'AGENT_BROKER_CONNECT_SECONDS',
  /** Lifetime of a task's lease (renewed every third of it while the task runs), in seconds. */
  AGENT_LEASE_SECONDS: 'AGENT_LEASE_SECONDS',
  /** Where the cgroup file system is mounted (memory limit and usage are read there). */
  AGENT_CGROUP_ROOT: 'AGENT_CGROUP_ROOT',
  /** Fraction (0..1] of the container memory limit above which the worker checkpoints and stops taking tasks. */
  AGENT_MEMORY_HIGH_FRACTION: 'AGENT_MEMORY_HIGH_FRACTION',
  /**
   * The broker's `max_message_size`, in bytes: the worker refuses to publish a larger body (the
   * broker would close the channel) and publishes a failed result instead.
   */
  AGENT_MAX_MESSAGE_BYTES: 'AGENT_MAX_MESSAGE_BYTES',
  /**
   * Longest the worker waits, once it has stopped and before it exits, for Prometheus to read
   * `/metrics` once more after the last change of a metric, in seconds (0 = exit at once). A pod
   * that exits before that scrape takes its last increments with it. Set it to
   * {@link scrapeWaitSecondsFor} of the scrape interval; after SIGTERM the wait ends by the shutdown
   * deadline (`AGENT_SHUTDOWN_SECONDS`) whatever this says.
   */
  AGENT_SCRAPE_WAIT_SECONDS: 'AGENT_SCRAPE_WAIT_SECONDS',
} as const;

/** One of the contract's environment variable names. */
export type EnvName = (typeof Env)[keyof typeof Env];

/** Defaults applied by the worker when a variable is unset, and written by the constructs. */
export const Defaults = {
  taskQueueName: 'agent-tasks',
  resultQueueName: 'agent-results',
  checkpointDir: '/checkpoints',
  metricsPort: 8080,
  maxTasks: 0,
  concurrency: 1,
  idleExitSeconds: 30,
  maxAttempts: 5,
  retryDelaySeconds: 5,
  retryMaxDelaySeconds: 300,
  brokerConnectSeconds: 60,
  leaseSeconds: 30,
  memoryHighFraction: 0.9,
  cgroupRoot: '/sys/fs/cgroup',
  /** RabbitMQ's own default `max_message_size` since 3.8 (128 MiB); managed brokers often set less. */
  maxMessageBytes: 134_217_728,
  /** Kubernetes' own default grace period; AGENT_SHUTDOWN_SECONDS defaults to this minus the margin. */
  terminationGracePeriodSeconds: 30,
  /**
   * How often Prometheus scrapes the agents: the `interval` the constructs write into the
   * PodMonitor. AGENT_SCRAPE_WAIT_SECONDS defaults to {@link scrapeWaitSecondsFor} of it.
   */
  scrapeIntervalSeconds: 30,
} as const;

/**
 * Seconds between the worker's shutdown deadline and the pod's grace period: time for the
 * process to flush logs and exit before the kubelet sends SIGKILL.
 */
export const SHUTDOWN_MARGIN_SECONDS = 5;

/**
 * The smallest shutdown deadline the worker accepts: stop consuming, abort the handler,
 * write a checkpoint, requeue the delivery and close the connection.
 */
export const MIN_SHUTDOWN_SECONDS = 5;

/** The worker's shutdown deadline for a pod grace period: grace − margin. */
export function shutdownSecondsFor(terminationGracePeriodSeconds: number): number {
  return terminationGracePeriodSeconds - SHUTDOWN_MARGIN_SECONDS;
}

/**
 * Seconds a new pod may wait for its first scrape beyond the scrape interval: Prometheus learns of
 * the pod from Kubernetes service discovery, passes target updates on at most every 5 s, and
 * starts a target's scrapes at an offset within the interval.
 */
export const SCRAPE_DISCOVERY_SECONDS = 10;

/**
 * AGENT_SCRAPE_WAIT_SECONDS for a scrape interval: the interval plus {@link SCRAPE_DISCOVERY_SECONDS}.
 * A worker that was scraped before is scraped again within one interval; one that never was (a
 * short-lived pod) within discovery plus one interval of starting.
 */
export function scrapeWaitSecondsFor(scrapeIntervalSeconds: number): number {
  return scrapeIntervalSeconds + SCRAPE_DISCOVERY_SECONDS;
}

/** HTTP endpoints served on METRICS_PORT. */
export const Http = {
  /** Name of the container port, referenced by Services and PodMonitors. */
  portName: 'metrics',
  metricsPath: '/metrics',
  /** 200 while the process is alive. */
  healthzPath: '/healthz',
  /**
   * 200 from the moment the worker's consumer joined the task queue until it starts to stop
   * (`stopping`), including while it drains its last tasks, reconnects or pauses: "this pod has
   * taken its place on the queue". A worker that stops with nothing of its own left undone (after
   * AGENT_MAX_TASKS, or idle) stays ready until its process exits, through its wait for a last
   * scrape. The pod's readiness probe reads it, so the pod condition `Ready` tells KEDA
   * (`pendingPodConditions: [Ready]`) that a Job's agent holds its messages, and a Job finishing
   * its last tasks is never counted as pending again.
   */
  readyzPath: '/readyz',
} as const;

/**
 * Process exit codes. The Job's podFailurePolicy turns them into decisions:
 * `permanentFailure` fails the index (or the Job), everything else non-zero is retried.
 *
 * Codes follow sysexits(3) so they never collide with Node's own (1 = uncaught error)
 * or with signals (128 + n, e.g. 137 for an OOM kill).
 */
export const ExitCode = {
  /** All taken tasks finished; the index is complete. */
  succeeded: 0,
  /**
   * Stopped by a signal after checkpointing and requeueing in-flight work. Non-zero on
   * purpose: since Kubernetes 1.27 a deleted pod that exits 0 marks its index complete,
   * and the work would never resume. (EX_TEMPFAIL)
   */
  interrupted: 75,
  /** The task can never succeed (bad input, permanent handler error): do not retry. (EX_DATAERR) */
  permanentFailure: 65,
  /** The broker or another dependency stayed unreachable after retries: retry later. (EX_UNAVAILABLE) */
  dependencyUnreachable: 69,
  /** The worker's configuration (env) is invalid: retrying the same pod cannot help. (EX_CONFIG) */
  configError: 78,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

/**
 * Metric names exported by the worker. Alert rules and dashboards import these. Every label value
 * known in advance (`status`: {@link TaskStatuses}; `reason`: {@link DeadLetterReasons}) is
 * exported at 0 from the worker's start, so the first event of a kind is an increase Prometheus can
 * see.
 */
export const Metrics = {
  /** Counter, label `status` ({@link TaskStatuses}). */
  tasksCompleted: 'agent_tasks_completed_total',
  /** Histogram of task wall time; buckets reach hours. */
  taskDuration: 'agent_task_duration_seconds',
  /** Counter, label `model`. */
  llmTokens: 'agent_llm_tokens_total',
  /** Gauge. */
  tasksInFlight: 'agent_tasks_in_flight',
  /** Counter: tasks that started from an existing checkpoint. */
  taskResumes: 'agent_task_resumes_total',
  /** Histogram of durable checkpoint writes. */
  checkpointWrite: 'agent_checkpoint_write_seconds',
  /** Counter, label `reason` ({@link DeadLetterReasons}). */
  deadLettered: 'agent_dead_lettered_total',
  /** Gauge, label `dependency`: 1 while that dependency's circuit breaker is open. */
  circuitOpen: 'agent_circuit_open',
} as const;

/** Values of `status` in a result message and of the `status` label of `Metrics.tasksCompleted`. */
export const TaskStatuses = {
  succeeded: 'succeeded',
  failed: 'failed',
} as const;

/** Task status in a result message. */
export type TaskStatus = (typeof TaskStatuses)[keyof typeof TaskStatuses];

/**
 * A task message body (JSON). When `id` is missing the AMQP `messageId` property is used.
 */
export interface TaskMessage<I = unknown> {
  readonly id: string;
  readonly input: I;
}

/** A result message body (JSON): exactly one per task on RESULT_QUEUE_NAME. */
export interface ResultMessage<O = unknown> {
  readonly id: string;
  readonly status: TaskStatus;
  readonly output?: O;
  readonly error?: string;
  /** Deliveries of this task so far, including the one that produced this result. */
  readonly attempts: number;
}

/** AMQP headers the worker writes. */
export const Headers = {
  /** On dead-lettered messages: why the task was given up. */
  deadLetterReason: 'x-agent-dead-letter-reason',
  /**
   * Attempts spent before this copy of the task, written by the worker when it republishes the
   * task to a retry queue; the broker's `x-delivery-count` adds the redeliveries of this copy.
   */
  attempts: 'x-agent-attempts',
  /** On dead-lettered messages: the error text behind the reason, truncated (never secrets). */
  deadLetterDetail: 'x-agent-dead-letter-detail',
  /** On retried messages: the error that made the last attempt fail, truncated. */
  lastError: 'x-agent-last-error',
  /**
   * On retried and dead-lettered copies whose original headers were too large to encode again:
   * how many bytes of the publisher's own headers were left out.
   */
  droppedHeaderBytes: 'x-agent-dropped-header-bytes',
} as const;

/**
 * Values of the `Headers.deadLetterReason` header and of the `reason` label of
 * `Metrics.deadLettered`. Alert rules and DLQ tooling match on them.
 */
export const DeadLetterReasons = {
  /** The message body is not valid JSON. */
  invalidJson: 'invalid-json',
  /** The body is JSON but not a task (`{ "id": string, "input": any }`, id from `messageId` allowed). */
  invalidTask: 'invalid-task',
  /** The handler threw a permanent error (`PermanentError`): retrying cannot help. */
  permanentError: 'permanent-error',
  /** The task failed `AGENT_MAX_ATTEMPTS` times (or was delivered that often without finishing). */
  maxAttempts: 'max-attempts',
  /**
   * The task's outcome cannot be carried by the broker and never will be (a result over
   * `AGENT_MAX_MESSAGE_BYTES`): the task failed on the spot, its failed result says why and how big.
   */
  unpublishable: 'unpublishable',
  /**
   * Another task with the same id and a different input already finished or is in progress: this
   * message was not run. Task ids must name one task; give the new one its own id.
   */
  idConflict: 'id-conflict',
} as const;

export type DeadLetterReason = (typeof DeadLetterReasons)[keyof typeof DeadLetterReasons];
