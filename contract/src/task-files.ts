/**
 * Tasks from files instead of a queue: a batch known when the chart is synthesized. The constructs
 * write the tasks, split into shards, as JSON Lines files into ConfigMaps mounted read-only at
 * `AGENT_TASK_DIR`; the worker of Job index *i* runs the tasks of shard *i* and writes one result
 * file per task into the checkpoint store, where `agent-fleet results` reads them.
 */
import { createHash } from 'node:crypto';
import { Env } from './contract';
import type { RuleViolation } from './queue-names';

/** The annotation an Indexed Job puts on each pod: its completion index, read into AGENT_INDEX. */
export const JOB_COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';

/** Read by the worker: where its tasks come from. */
export const TaskFileEnv = {
  /** `queue` (the default: consume `TASK_QUEUE_NAME`) or `file` (run the shard of `AGENT_INDEX`). */
  AGENT_TASK_SOURCE: 'AGENT_TASK_SOURCE',
  /** The directory holding the shard files ({@link shardFileName}), mounted read-only. */
  AGENT_TASK_DIR: 'AGENT_TASK_DIR',
} as const;

/** Values of {@link TaskFileEnv.AGENT_TASK_SOURCE}. */
export const TaskSources = {
  queue: 'queue',
  file: 'file',
} as const;

export type TaskSource = (typeof TaskSources)[keyof typeof TaskSources];

/** Where the constructs mount the shard files, and where the worker looks when AGENT_TASK_DIR is unset. */
export const DEFAULT_TASK_DIR = '/etc/agent-fleet/tasks';

/**
 * The file (and ConfigMap key) holding shard `index`: one task (`{ "id", "input" }`) per line, in
 * order. Zero-padded so a directory listing sorts by index.
 */
export function shardFileName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.jsonl`;
}

/**
 * Ending of the result files in the checkpoint store: one per task, named by the SHA-256 of its id
 * like the task's checkpoint, holding exactly a result message ({@link ResultMessage}) as JSON.
 */
export const RESULT_FILE_SUFFIX = '.result.json';

/**
 * The stem of every store file of task `taskId` (checkpoint, lease, markers, result): the SHA-256
 * of the id in hex, so any id (slashes, `..`, unicode, 255 bytes) maps to a short, safe,
 * collision-free name; the id itself is stored inside the file.
 */
export function taskFileStem(taskId: string): string {
  return createHash('sha256').update(taskId, 'utf8').digest('hex');
}

/** The name of the result file of task `taskId` in the checkpoint store. */
export function resultFileNameFor(taskId: string): string {
  return `${taskFileStem(taskId)}${RESULT_FILE_SUFFIX}`;
}

/** How many shards (Job completions) a batch of `taskCount` tasks makes at `tasksPerIndex` tasks each. */
export function shardCountFor(taskCount: number, tasksPerIndex: number): number {
  return Math.ceil(taskCount / tasksPerIndex);
}

/** The tasks of shard `index`: positions `[index × tasksPerIndex, (index + 1) × tasksPerIndex)`. */
export function shardSlice<T>(tasks: readonly T[], index: number, tasksPerIndex: number): readonly T[] {
  return tasks.slice(index * tasksPerIndex, (index + 1) * tasksPerIndex);
}

/**
 * Why `AGENT_TASK_SOURCE` with this index cannot run, or undefined. In file mode the index chooses
 * the work, so it must be the Job's completion index: a non-negative integer.
 */
export function taskFileIndexViolation(index: string | undefined): RuleViolation | undefined {
  if (index !== undefined && /^(0|[1-9][0-9]*)$/.test(index)) return undefined;
  return {
    problem: index === undefined ? 'is not set' : `is ${JSON.stringify(index)}, not a completion index`,
    fix: `run file-mode workers in an Indexed Job, whose pods get ${Env.AGENT_INDEX} from the annotation ${JOB_COMPLETION_INDEX_ANNOTATION}`,
  };
}
