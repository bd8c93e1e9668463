import * as os from 'node:os';
import * as path from 'node:path';
import {
  BROKER_URL_EXAMPLE,
  brokerUrlViolation,
  concurrencyViolation,
  DEFAULT_TASK_DIR,
  Defaults,
  Env,
  MIN_SHUTDOWN_SECONDS,
  PodEnv,
  queueNameViolation,
  RestartPolicies,
  type RestartPolicy,
  type RuleViolation,
  redact,
  restartPolicyViolation,
  resultQueueViolation,
  SCRAPE_DISCOVERY_SECONDS,
  scrapeWaitSecondsFor,
  shutdownSecondsFor,
  TaskFileEnv,
  type TaskSource,
  TaskSources,
  taskFileIndexViolation,
} from '@agent-fleet/contract';
import { ConfigError, type ConfigProblem } from './errors';

/** Settings of one worker. Every field has an environment variable from the runtime contract. */
export interface WorkerOptions {
  /**
   * Where tasks come from: `queue` (consume `taskQueueName`) or `file` (run the shard file of
   * `agentIndex` from `taskDir`, without a broker). @default - `AGENT_TASK_SOURCE`, else `queue`
   */
  readonly taskSource?: TaskSource;
  /** Directory of the shard files (file mode). @default - `AGENT_TASK_DIR`, else `/etc/agent-fleet/tasks` */
  readonly taskDir?: string;
  /**
   * AMQP URL with credentials (`amqp://user:pass@host:5672/vhost`). Never logged with its password.
   * @default - `TASK_QUEUE_URL`; required in queue mode, not read in file mode
   */
  readonly taskQueueUrl?: string;
  /** @default - `TASK_QUEUE_NAME`, else `agent-tasks` */
  readonly taskQueueName?: string;
  /** @default - `RESULT_QUEUE_NAME`, else `agent-results` */
  readonly resultQueueName?: string;
  /** @default - `AGENT_INDEX`, else `POD_NAME`, else the host name */
  readonly agentIndex?: string;
  /** @default - `POD_NAME`, else the host name */
  readonly podName?: string;
  /** @default - `CHECKPOINT_DIR`, else `/checkpoints` */
  readonly checkpointDir?: string;
  /** Port of `/metrics`, `/healthz`, `/readyz`; 0 picks a free port (logged). @default - `METRICS_PORT`, else 8080 */
  readonly metricsPort?: number;
  /** Tasks taken before exiting 0; 0 = no limit. @default - `AGENT_MAX_TASKS`, else 0 */
  readonly maxTasks?: number;
  /** Exit 0 after no delivery arrived this long while idle; 0 = never. @default - `AGENT_IDLE_EXIT_SECONDS`, else 30 */
  readonly idleExitSeconds?: number;
  /** Deadline from SIGTERM to exit. @default - `AGENT_SHUTDOWN_SECONDS`, else grace period (30 s) − 5 s */
  readonly shutdownSeconds?: number;
  /**
   * Tasks held and run at once: the consumer's prefetch (unacknowledged deliveries). At most
   * `maxTasks` when that is set. @default - `AGENT_CONCURRENCY`, else 1
   */
  readonly concurrency?: number;
  /**
   * The pod's `restartPolicy`: under `Always` (a Deployment) the kubelet restarts a worker that
   * exits, so `maxTasks` and `idleExitSeconds` must be 0. @default - `AGENT_RESTART_POLICY`, else `Never`
   */
  readonly restartPolicy?: RestartPolicy;
  /** Deliveries of one task before it is dead-lettered with a failed result. @default - `AGENT_MAX_ATTEMPTS`, else 5 */
  readonly maxAttempts?: number;
  /** First retry delay (doubles per attempt, equal jitter). @default - `AGENT_RETRY_DELAY_SECONDS`, else 5 */
  readonly retryDelaySeconds?: number;
  /** Cap of the retry delay. @default - `AGENT_RETRY_MAX_DELAY_SECONDS`, else 300 */
  readonly retryMaxDelaySeconds?: number;
  /** How long to keep (re)connecting to the broker before exiting 69. @default - `AGENT_BROKER_CONNECT_SECONDS`, else 60 */
  readonly brokerConnectSeconds?: number;
  /** Lease lifetime; renewed every third of it while a task runs. @default - `AGENT_LEASE_SECONDS`, else 30 */
  readonly leaseSeconds?: number;
  /** cgroup mount read for the memory limit and usage. @default - `AGENT_CGROUP_ROOT`, else `/sys/fs/cgroup` */
  readonly cgroupRoot?: string;
  /** Memory-limit fraction that triggers checkpoint-and-stop. @default - `AGENT_MEMORY_HIGH_FRACTION`, else 0.9 */
  readonly memoryHighFraction?: number;
  /**
   * The broker's `max_message_size`: a larger result is never sent (the broker would close the
   * channel); a failed result saying so is published instead. @default - `AGENT_MAX_MESSAGE_BYTES`, else 134217728 (128 MiB)
   */
  readonly maxMessageBytes?: number;
  /**
   * Longest wait, once stopped and before exiting, for Prometheus to read `/metrics` after the last
   * metric change; 0 = exit at once. After SIGTERM the shutdown deadline ends it sooner.
   * @default - `AGENT_SCRAPE_WAIT_SECONDS`, else the default scrape interval (30 s) + 10 s
   */
  readonly scrapeWaitSeconds?: number;
}

/** `WorkerOptions` after defaults and validation. */
export interface ResolvedOptions {
  readonly taskSource: TaskSource;
  /** Empty in file mode: no broker is used, and none is configured. */
  readonly taskQueueUrl: string;
  readonly taskQueueName: string;
  readonly resultQueueName: string;
  readonly agentIndex: string;
  readonly podName: string;
  readonly checkpointDir: string;
  readonly metricsPort: number;
  readonly maxTasks: number;
  readonly idleExitSeconds: number;
  readonly shutdownSeconds: number;
  readonly concurrency: number;
  readonly restartPolicy: RestartPolicy;
  readonly maxAttempts: number;
  readonly retryDelaySeconds: number;
  readonly retryMaxDelaySeconds: number;
  readonly brokerConnectSeconds: number;
  readonly leaseSeconds: number;
  readonly memoryHighFraction: number;
  readonly cgroupRoot: string;
  readonly maxMessageBytes: number;
  readonly scrapeWaitSeconds: number;
  /** Directory of the shard files (read in file mode only). */
  readonly taskDir: string;
  /** File mode: the shard this worker runs, `agentIndex` as a number; undefined in queue mode. */
  readonly shardIndex: number | undefined;
}

/**
 * The defaults, in one place: the contract's values plus the worker-only ones.
 * `agentIndex` and `podName` default to the host name, resolved at call time.
 */
export const WORKER_DEFAULTS = {
  taskSource: TaskSources.queue,
  taskDir: DEFAULT_TASK_DIR,
  taskQueueName: Defaults.taskQueueName,
  resultQueueName: Defaults.resultQueueName,
  checkpointDir: Defaults.checkpointDir,
  metricsPort: Defaults.metricsPort,
  maxTasks: Defaults.maxTasks,
  idleExitSeconds: Defaults.idleExitSeconds,
  shutdownSeconds: shutdownSecondsFor(Defaults.terminationGracePeriodSeconds),
  concurrency: Defaults.concurrency,
  restartPolicy: RestartPolicies.never,
  maxAttempts: Defaults.maxAttempts,
  retryDelaySeconds: Defaults.retryDelaySeconds,
  retryMaxDelaySeconds: Defaults.retryMaxDelaySeconds,
  brokerConnectSeconds: Defaults.brokerConnectSeconds,
  leaseSeconds: Defaults.leaseSeconds,
  memoryHighFraction: Defaults.memoryHighFraction,
  cgroupRoot: Defaults.cgroupRoot,
  maxMessageBytes: Defaults.maxMessageBytes,
  scrapeWaitSeconds: scrapeWaitSecondsFor(Defaults.scrapeIntervalSeconds),
} as const;

/**
 * Smallest `AGENT_MAX_MESSAGE_BYTES` accepted: below this even a failed result naming a long task
 * id and its error would not fit.
 */
export const MIN_MAX_MESSAGE_BYTES = 4096;

/** RabbitMQ's own ceiling for `max_message_size` (512 MiB). */
export const MAX_MAX_MESSAGE_BYTES = 536_870_912;

/** Kernel file systems: nothing can be stored under them, and some paths there hang `mkdir -p`. */
export const KERNEL_FILE_SYSTEMS: readonly string[] = ['/proc', '/sys'];

/** The kernel file system `dir` (an absolute path) lies under, or undefined. */
export function kernelFileSystemOf(dir: string): string | undefined {
  const resolved = path.resolve(dir);
  return KERNEL_FILE_SYSTEMS.find((root) => resolved === root || resolved.startsWith(`${root}/`));
}

type Source = Readonly<Record<string, string | undefined>>;

/**
 * Reads the options from `overrides` first, then the environment, then `WORKER_DEFAULTS`, and
 * validates them. Throws one `ConfigError` listing every problem, each naming the variable, the
 * bad value (passwords redacted) and the fix.
 */
export function resolveOptions(overrides: WorkerOptions = {}, env: Source = process.env): ResolvedOptions {
  const problems: ConfigProblem[] = [];
  const host = os.hostname();

  const raw = (key: keyof WorkerOptions, name: string): string | undefined => {
    const value = overrides[key];
    if (value !== undefined) {
      return String(value);
    }
    const fromEnv = env[name];
    return fromEnv === undefined || fromEnv.trim() === '' ? undefined : fromEnv.trim();
  };

  const taskSource = parseTaskSource(raw('taskSource', TaskFileEnv.AGENT_TASK_SOURCE), problems);
  const fileMode = taskSource === TaskSources.file;
  // Without a broker its URL is not read at all: a file-mode pod is given no broker Secret.
  const taskQueueUrl = fileMode ? '' : parseUrl(raw('taskQueueUrl', Env.TASK_QUEUE_URL), problems);
  const taskQueueName = parseQueueName(
    raw('taskQueueName', Env.TASK_QUEUE_NAME),
    Env.TASK_QUEUE_NAME,
    WORKER_DEFAULTS.taskQueueName,
    problems,
  );
  const resultQueueName = parseQueueName(
    raw('resultQueueName', Env.RESULT_QUEUE_NAME),
    Env.RESULT_QUEUE_NAME,
    WORKER_DEFAULTS.resultQueueName,
    problems,
  );
  const sameQueue = resultQueueViolation(taskQueueName, resultQueueName);
  if (sameQueue) {
    problems.push(ruleProblem(Env.RESULT_QUEUE_NAME, resultQueueName, sameQueue));
  }
  const podName = raw('podName', Env.POD_NAME) ?? host;
  const indexValue = raw('agentIndex', Env.AGENT_INDEX);
  const agentIndex = indexValue ?? podName;
  let shardIndex: number | undefined;
  if (fileMode) {
    // In file mode the index chooses the work: it must be the Job's completion index.
    const violation = taskFileIndexViolation(indexValue);
    if (violation) {
      problems.push(ruleProblem(Env.AGENT_INDEX, indexValue, violation));
    } else if (!Number.isSafeInteger(Number(indexValue))) {
      problems.push({
        variable: Env.AGENT_INDEX,
        value: indexValue,
        message: 'is too large for a completion index; run file-mode workers in an Indexed Job',
      });
    } else {
      shardIndex = Number(indexValue);
    }
  }
  const taskDirValue = raw('taskDir', TaskFileEnv.AGENT_TASK_DIR) ?? WORKER_DEFAULTS.taskDir;
  const checkpointValue = raw('checkpointDir', Env.CHECKPOINT_DIR) ?? WORKER_DEFAULTS.checkpointDir;
  const kernel = kernelFileSystemOf(checkpointValue);
  if (kernel !== undefined) {
    problems.push({
      variable: Env.CHECKPOINT_DIR,
      value: checkpointValue,
      message: `lies under ${kernel}, a kernel file system that cannot hold checkpoints; mount the checkpoint volume elsewhere (e.g. ${WORKER_DEFAULTS.checkpointDir}) and point ${Env.CHECKPOINT_DIR} at it`,
    });
  }

  const metricsPort = parseNumber(raw('metricsPort', Env.METRICS_PORT), {
    variable: Env.METRICS_PORT,
    fallback: WORKER_DEFAULTS.metricsPort,
    integer: true,
    min: 0,
    max: 65535,
    fix: `set it to a TCP port between 1 and 65535 (default ${WORKER_DEFAULTS.metricsPort}), or 0 for any free port`,
    problems,
  });
  const maxTasks = parseNumber(raw('maxTasks', Env.AGENT_MAX_TASKS), {
    variable: Env.AGENT_MAX_TASKS,
    fallback: WORKER_DEFAULTS.maxTasks,
    integer: true,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    fix: 'set it to a whole number of tasks, or 0 for no limit',
    problems,
  });
  const idleExitSeconds = parseNumber(raw('idleExitSeconds', Env.AGENT_IDLE_EXIT_SECONDS), {
    variable: Env.AGENT_IDLE_EXIT_SECONDS,
    fallback: WORKER_DEFAULTS.idleExitSeconds,
    integer: false,
    min: 0,
    max: 365 * 24 * 3600,
    fix: `set it to a number of seconds such as ${WORKER_DEFAULTS.idleExitSeconds}, or 0 to never exit when idle`,
    problems,
  });
  const shutdownSeconds = parseNumber(raw('shutdownSeconds', Env.AGENT_SHUTDOWN_SECONDS), {
    variable: Env.AGENT_SHUTDOWN_SECONDS,
    fallback: WORKER_DEFAULTS.shutdownSeconds,
    integer: false,
    min: MIN_SHUTDOWN_SECONDS,
    max: 24 * 3600,
    fix: `set it to at least ${MIN_SHUTDOWN_SECONDS} seconds and at most the pod's terminationGracePeriodSeconds minus a few seconds`,
    problems,
  });
  const concurrency = parseConcurrency(raw('concurrency', Env.AGENT_CONCURRENCY), maxTasks, problems);
  const restartPolicy = parseRestartPolicy(
    raw('restartPolicy', PodEnv.AGENT_RESTART_POLICY),
    maxTasks,
    idleExitSeconds,
    problems,
  );
  const maxAttempts = parseNumber(raw('maxAttempts', Env.AGENT_MAX_ATTEMPTS), {
    variable: Env.AGENT_MAX_ATTEMPTS,
    fallback: WORKER_DEFAULTS.maxAttempts,
    integer: true,
    min: 1,
    max: 1000,
    fix: `set it to a whole number of deliveries per task, at least 1 (default ${WORKER_DEFAULTS.maxAttempts})`,
    problems,
  });
  const retryDelaySeconds = parseNumber(raw('retryDelaySeconds', Env.AGENT_RETRY_DELAY_SECONDS), {
    variable: Env.AGENT_RETRY_DELAY_SECONDS,
    fallback: WORKER_DEFAULTS.retryDelaySeconds,
    integer: false,
    min: 0.01,
    max: 24 * 3600,
    fix: `set it to a number of seconds such as ${WORKER_DEFAULTS.retryDelaySeconds} (at least 0.01)`,
    problems,
  });
  const retryMaxDelaySeconds = parseNumber(raw('retryMaxDelaySeconds', Env.AGENT_RETRY_MAX_DELAY_SECONDS), {
    variable: Env.AGENT_RETRY_MAX_DELAY_SECONDS,
    fallback: Math.max(WORKER_DEFAULTS.retryMaxDelaySeconds, retryDelaySeconds),
    integer: false,
    min: 0.01,
    max: 7 * 24 * 3600,
    fix: `set it to a number of seconds at least ${Env.AGENT_RETRY_DELAY_SECONDS} (default ${WORKER_DEFAULTS.retryMaxDelaySeconds})`,
    problems,
  });
  if (retryMaxDelaySeconds < retryDelaySeconds) {
    problems.push({
      variable: Env.AGENT_RETRY_MAX_DELAY_SECONDS,
      value: String(retryMaxDelaySeconds),
      message: `is below ${Env.AGENT_RETRY_DELAY_SECONDS} (${retryDelaySeconds}); raise it or lower the first delay`,
    });
  }
  const brokerConnectSeconds = parseNumber(raw('brokerConnectSeconds', Env.AGENT_BROKER_CONNECT_SECONDS), {
    variable: Env.AGENT_BROKER_CONNECT_SECONDS,
    fallback: WORKER_DEFAULTS.brokerConnectSeconds,
    integer: false,
    min: 0,
    max: 24 * 3600,
    fix: `set it to a number of seconds such as ${WORKER_DEFAULTS.brokerConnectSeconds}, or 0 to try once`,
    problems,
  });
  const leaseSeconds = parseNumber(raw('leaseSeconds', Env.AGENT_LEASE_SECONDS), {
    variable: Env.AGENT_LEASE_SECONDS,
    fallback: WORKER_DEFAULTS.leaseSeconds,
    integer: false,
    min: 0.3,
    max: 24 * 3600,
    fix: `set it to a number of seconds such as ${WORKER_DEFAULTS.leaseSeconds}, well above a checkpoint write on your volume`,
    problems,
  });
  const memoryHighFraction = parseNumber(raw('memoryHighFraction', Env.AGENT_MEMORY_HIGH_FRACTION), {
    variable: Env.AGENT_MEMORY_HIGH_FRACTION,
    fallback: WORKER_DEFAULTS.memoryHighFraction,
    integer: false,
    min: 0.01,
    max: 1,
    fix: `set it to a fraction of the memory limit between 0.01 and 1 (default ${WORKER_DEFAULTS.memoryHighFraction})`,
    problems,
  });

  const maxMessageBytes = parseNumber(raw('maxMessageBytes', Env.AGENT_MAX_MESSAGE_BYTES), {
    variable: Env.AGENT_MAX_MESSAGE_BYTES,
    fallback: WORKER_DEFAULTS.maxMessageBytes,
    integer: true,
    min: MIN_MAX_MESSAGE_BYTES,
    max: MAX_MAX_MESSAGE_BYTES,
    fix: `set it to the broker's max_message_size in bytes (default ${WORKER_DEFAULTS.maxMessageBytes}, RabbitMQ's own default)`,
    problems,
  });

  const scrapeWaitSeconds = parseNumber(raw('scrapeWaitSeconds', Env.AGENT_SCRAPE_WAIT_SECONDS), {
    variable: Env.AGENT_SCRAPE_WAIT_SECONDS,
    fallback: WORKER_DEFAULTS.scrapeWaitSeconds,
    integer: false,
    min: 0,
    max: 3600,
    fix: `set it to Prometheus's scrape interval for this pod plus ${SCRAPE_DISCOVERY_SECONDS} seconds (default ${WORKER_DEFAULTS.scrapeWaitSeconds}), or 0 to exit without waiting for a last scrape`,
    problems,
  });

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return {
    taskQueueUrl: taskQueueUrl!,
    taskQueueName,
    resultQueueName,
    agentIndex,
    podName,
    checkpointDir: path.resolve(checkpointValue),
    metricsPort,
    maxTasks,
    idleExitSeconds,
    shutdownSeconds,
    concurrency,
    restartPolicy,
    maxAttempts,
    retryDelaySeconds,
    retryMaxDelaySeconds,
    brokerConnectSeconds,
    leaseSeconds,
    memoryHighFraction,
    cgroupRoot: path.resolve(raw('cgroupRoot', Env.AGENT_CGROUP_ROOT) ?? WORKER_DEFAULTS.cgroupRoot),
    maxMessageBytes,
    scrapeWaitSeconds,
    taskSource,
    taskDir: path.resolve(taskDirValue),
    shardIndex,
  };
}

/** `AGENT_TASK_SOURCE`: one of `TaskSources`. */
function parseTaskSource(value: string | undefined, problems: ConfigProblem[]): TaskSource {
  if (value === undefined) {
    return WORKER_DEFAULTS.taskSource;
  }
  const sources: readonly string[] = Object.values(TaskSources);
  if (sources.includes(value)) {
    return value as TaskSource;
  }
  problems.push({
    variable: TaskFileEnv.AGENT_TASK_SOURCE,
    value,
    message: `is not a task source; set it to ${sources.join(' or ')} (default ${WORKER_DEFAULTS.taskSource})`,
  });
  return WORKER_DEFAULTS.taskSource;
}

function parseUrl(value: string | undefined, problems: ConfigProblem[]): string | undefined {
  const variable = Env.TASK_QUEUE_URL;
  if (value === undefined) {
    problems.push({
      variable,
      value,
      message: `is required; set it to the broker URL, e.g. ${BROKER_URL_EXAMPLE} (from a Secret)`,
    });
    return undefined;
  }
  const violation = brokerUrlViolation(value);
  if (violation) {
    // An unparsable value is not shown at all: it may be a password pasted in the wrong place.
    const shown = URL.canParse(value) ? redact(value) : '<not shown>';
    problems.push(ruleProblem(variable, shown, violation));
    return undefined;
  }
  return value;
}

function parseQueueName(
  value: string | undefined,
  variable: string,
  fallback: string,
  problems: ConfigProblem[],
): string {
  const name = value ?? fallback;
  const violation = queueNameViolation(name);
  if (violation) {
    problems.push(ruleProblem(variable, name.length > 40 ? `${name.slice(0, 40)}…` : name, violation));
  }
  return name;
}

/** A contract rule's violation as a problem of `variable`, in the rule's own words. */
function ruleProblem(variable: string, value: string | undefined, violation: RuleViolation): ConfigProblem {
  return { variable, value, message: `${violation.problem}; ${violation.fix}` };
}

/**
 * The most tasks one worker may hold: basic.qos carries the prefetch count in 16 bits, and a
 * larger value would not reach the broker as written.
 */
export const MAX_CONCURRENCY = 65535;

/**
 * `AGENT_CONCURRENCY`, checked by the contract's rule (the constructs check the same rule at synth
 * time, in the same words) against the already parsed `maxTasks`, then against what basic.qos
 * carries.
 */
function parseConcurrency(value: string | undefined, maxTasks: number, problems: ConfigProblem[]): number {
  const variable = Env.AGENT_CONCURRENCY;
  const fallback = WORKER_DEFAULTS.concurrency;
  const n = value === undefined ? fallback : parseDecimal(value);
  const violation = concurrencyViolation(n, maxTasks);
  if (violation) {
    problems.push(ruleProblem(variable, value, violation));
    return fallback;
  }
  if (n > MAX_CONCURRENCY) {
    problems.push({
      variable,
      value,
      message: `is above ${MAX_CONCURRENCY}, the most a consumer's prefetch can be; lower ${variable}`,
    });
    return fallback;
  }
  return n;
}

/**
 * `AGENT_RESTART_POLICY`, checked by the contract's rule (the pool construct writes the variable and
 * checks the same rule at synth time) against the already parsed limits.
 */
function parseRestartPolicy(
  value: string | undefined,
  maxTasks: number,
  idleExitSeconds: number,
  problems: ConfigProblem[],
): RestartPolicy {
  const policy = value ?? WORKER_DEFAULTS.restartPolicy;
  const violation = restartPolicyViolation(policy, maxTasks, idleExitSeconds);
  if (violation) {
    problems.push(ruleProblem(PodEnv.AGENT_RESTART_POLICY, value, violation));
    return WORKER_DEFAULTS.restartPolicy;
  }
  return policy as RestartPolicy;
}

interface NumberRule {
  readonly variable: string;
  readonly fallback: number;
  readonly integer: boolean;
  readonly min: number;
  readonly max: number;
  readonly fix: string;
  readonly problems: ConfigProblem[];
}

function parseNumber(value: string | undefined, rule: NumberRule): number {
  if (value === undefined) {
    return rule.fallback;
  }
  const n = parseDecimal(value);
  const kind = rule.integer ? 'a whole number' : 'a number';
  if (!Number.isFinite(n) || (rule.integer && !Number.isInteger(n))) {
    rule.problems.push({ variable: rule.variable, value, message: `is not ${kind}; ${rule.fix}` });
    return rule.fallback;
  }
  if (n < rule.min || n > rule.max) {
    rule.problems.push({
      variable: rule.variable,
      value,
      message: `is outside ${rule.min}..${rule.max}; ${rule.fix}`,
    });
    return rule.fallback;
  }
  return n;
}

/** A plain decimal such as `3`, `+2.5` or `.5`; NaN for anything else (a minus sign, an exponent, hex, words). */
function parseDecimal(value: string): number {
  return /^[+]?(\d+(\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN;
}
