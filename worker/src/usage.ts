/**
 * What `agent-worker --help` prints: the worker takes no arguments, every setting is a variable of
 * the runtime contract, so the help lists those with their defaults and the exit codes.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_TASK_DIR,
  Defaults,
  Env,
  ExitCode,
  PodEnv,
  RestartPolicies,
  SCRAPE_DISCOVERY_SECONDS,
  SHUTDOWN_MARGIN_SECONDS,
  TaskFileEnv,
  TaskSources,
} from '@agent-fleet/contract';

/** The installed package's version (package.json sits one level above `dist/`). */
export function workerVersion(): string {
  return (JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string })
    .version;
}

const SETTINGS: readonly (readonly [string, string])[] = [
  [
    TaskFileEnv.AGENT_TASK_SOURCE,
    `${TaskSources.queue} (consume TASK_QUEUE_NAME, the default) or ${TaskSources.file} (run the shard file of AGENT_INDEX, no broker)`,
  ],
  [TaskFileEnv.AGENT_TASK_DIR, `file mode: directory of the shard files (default ${DEFAULT_TASK_DIR})`],
  [Env.TASK_QUEUE_URL, 'required in queue mode: amqp:// or amqps:// URL with credentials, from a Secret'],
  [Env.AGENT_HANDLER, 'required: path of the JS module whose default export is the handler'],
  [Env.TASK_QUEUE_NAME, `queue to consume (default ${Defaults.taskQueueName})`],
  [Env.RESULT_QUEUE_NAME, `queue receiving one result per task (default ${Defaults.resultQueueName})`],
  [Env.CHECKPOINT_DIR, `checkpoint store mount (default ${Defaults.checkpointDir})`],
  [Env.METRICS_PORT, `port of /metrics, /healthz, /readyz (default ${Defaults.metricsPort})`],
  [Env.AGENT_MAX_TASKS, `tasks taken before exiting 0, 0 = no limit (default ${Defaults.maxTasks})`],
  [
    Env.AGENT_CONCURRENCY,
    `tasks held and run at once, at most AGENT_MAX_TASKS (default ${Defaults.concurrency})`,
  ],
  [
    Env.AGENT_IDLE_EXIT_SECONDS,
    `exit 0 after an empty queue this long (default ${Defaults.idleExitSeconds})`,
  ],
  [
    Env.AGENT_SHUTDOWN_SECONDS,
    `deadline from SIGTERM to exit (default grace period ${Defaults.terminationGracePeriodSeconds} s − ${SHUTDOWN_MARGIN_SECONDS} s)`,
  ],
  [
    Env.AGENT_MAX_ATTEMPTS,
    `deliveries of a task before it is dead-lettered (default ${Defaults.maxAttempts})`,
  ],
  [Env.AGENT_RETRY_DELAY_SECONDS, `first retry delay, doubling (default ${Defaults.retryDelaySeconds})`],
  [Env.AGENT_RETRY_MAX_DELAY_SECONDS, `retry delay cap (default ${Defaults.retryMaxDelaySeconds})`],
  [
    Env.AGENT_BROKER_CONNECT_SECONDS,
    `keep (re)connecting this long (default ${Defaults.brokerConnectSeconds})`,
  ],
  [Env.AGENT_LEASE_SECONDS, `task lease lifetime (default ${Defaults.leaseSeconds})`],
  [
    Env.AGENT_MEMORY_HIGH_FRACTION,
    `memory-limit share that stops intake (default ${Defaults.memoryHighFraction})`,
  ],
  [Env.AGENT_CGROUP_ROOT, `cgroup mount read for memory (default ${Defaults.cgroupRoot})`],
  [
    Env.AGENT_MAX_MESSAGE_BYTES,
    `the broker's max_message_size; larger results are not sent (default ${Defaults.maxMessageBytes})`,
  ],
  [
    Env.AGENT_SCRAPE_WAIT_SECONDS,
    `before exiting, wait this long at most for a scrape of the last metric changes, 0 = never (default scrape interval ${Defaults.scrapeIntervalSeconds} s + ${SCRAPE_DISCOVERY_SECONDS} s)`,
  ],
  [
    PodEnv.AGENT_RESTART_POLICY,
    `the pod's restartPolicy; under ${RestartPolicies.always} AGENT_MAX_TASKS and AGENT_IDLE_EXIT_SECONDS must be 0 (default ${RestartPolicies.never})`,
  ],
  [
    Env.AGENT_INDEX,
    'agent identity in logs (default: POD_NAME, else the host name); file mode: the completion index, required',
  ],
  [Env.POD_NAME, 'pod name in logs (default: the host name)'],
];

const EXITS: readonly (readonly [number, string])[] = [
  [ExitCode.succeeded, 'every task taken finished (file mode: every task of the shard succeeded)'],
  [ExitCode.interrupted, 'stopped by a signal after checkpointing and requeueing (retry)'],
  [
    ExitCode.permanentFailure,
    'permanent failure; file mode: every task has its result and one failed (the podFailurePolicy fails the index)',
  ],
  [ExitCode.dependencyUnreachable, 'the broker or another dependency stayed unreachable (retry)'],
  [ExitCode.configError, 'invalid configuration (the podFailurePolicy fails the Job)'],
];

/** The `--help` text. */
export function usageText(): string {
  const width = Math.max(...SETTINGS.map(([name]) => name.length)) + 2;
  return [
    'Usage: agent-worker [--help | --version]',
    '',
    'Consumes agent tasks from RabbitMQ (or, with AGENT_TASK_SOURCE=file, reads the shard file of its',
    'Job index) and runs the handler named by AGENT_HANDLER on each, with checkpoints, retries and',
    'Prometheus metrics. It takes no arguments: every setting is an',
    'environment variable of the runtime contract (@agent-fleet/contract).',
    '',
    'Environment:',
    ...SETTINGS.map(([name, text]) => `  ${name.padEnd(width)}${text}`),
    '',
    'Exit codes:',
    ...EXITS.map(([code, text]) => `  ${String(code).padEnd(4)}${text}`),
    '',
    'Docs: https://github.com/agent-fleet/agent-fleet/tree/main/worker#readme',
    '',
  ].join('\n');
}
