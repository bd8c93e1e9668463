/**
 * The shard file of one Job index (file mode): what its lines are, decided without I/O
 * (`planShard`), and the one read of it (`readShardFile`). Every non-blank line ends as exactly
 * one entry: a task to run, a malformed line that gets a failed result of its own, or a repeat of
 * an earlier line's task (same id, same input), which shares that task's result.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  type DeadLetterReason,
  DeadLetterReasons,
  Env,
  shardFileName,
  TaskFileEnv,
  type TaskMessage,
} from '@agent-fleet/contract';
import { ConfigError, errorText } from './errors';
import { inputFingerprint } from './fingerprint';
import { parseTask, taskIdProblem } from './task';

/** One non-blank line of a shard file, as the worker will treat it. `line` counts from 1. */
export type ShardEntry =
  | {
      readonly kind: 'task';
      readonly line: number;
      readonly task: TaskMessage;
      /** `inputFingerprint(task.input)`, stored with the task's checkpoints. */
      readonly fingerprint: string;
    }
  | {
      readonly kind: 'malformed';
      readonly line: number;
      /** The id its failed result is filed under (see `planShard`). */
      readonly id: string;
      readonly reason: DeadLetterReason;
      readonly detail: string;
    }
  | {
      readonly kind: 'repeat';
      readonly line: number;
      readonly id: string;
      /** The line of the first occurrence, whose result this line shares. */
      readonly firstLine: number;
    };

/**
 * The id of a line's failed result when the line names no id it may use: `<shard file>:<line>`,
 * e.g. `shard-00003.jsonl:7`.
 */
export function lineTaskId(shardFile: string, line: number): string {
  return `${shardFile}:${line}`;
}

/**
 * What each non-blank line of `text` is. Well-formed tasks claim their ids first, in line order.
 * A later line with a claimed id and the same input is a `repeat` (one id, one task, one result);
 * with another input it is `malformed` (`id-conflict`). A malformed line (`invalid-json`,
 * `invalid-task`) is filed under the id it names when that id is usable and unclaimed, else under
 * its line id (`lineTaskId`), so it is never skipped and never takes another task's result. A
 * line id that a task already uses gets `#2`, `#3`, … appended. Pure.
 */
export function planShard(text: string, shardFile: string): ShardEntry[] {
  const lines = text.split('\n').map((raw, i) => ({ line: i + 1, body: raw.replace(/\r$/, '') }));
  const parsed = lines
    .filter(({ body }) => body.trim() !== '')
    .map(({ line, body }) => ({ line, result: parseTask(body) }));
  const claimed = new Map<string, { line: number; fingerprint: string | undefined }>();
  const entries = new Map<number, ShardEntry>();
  const conflicts: Array<{ line: number; id: string; firstLine: number }> = [];
  for (const { line, result } of parsed) {
    if (!result.ok) continue;
    const { task } = result;
    const fingerprint = inputFingerprint(task.input);
    const first = claimed.get(task.id);
    if (first === undefined) {
      claimed.set(task.id, { line, fingerprint });
      entries.set(line, { kind: 'task', line, task, fingerprint });
    } else if (first.fingerprint === fingerprint) {
      entries.set(line, { kind: 'repeat', line, id: task.id, firstLine: first.line });
    } else {
      conflicts.push({ line, id: task.id, firstLine: first.line });
    }
  }
  const fileUnder = (line: number, named: string | undefined): string => {
    if (named !== undefined && taskIdProblem(named) === undefined && !claimed.has(named)) {
      return named;
    }
    const base = lineTaskId(shardFile, line);
    let id = base;
    for (let n = 2; claimed.has(id); n++) id = `${base}#${n}`;
    return id;
  };
  for (const { line, id, firstLine } of conflicts) {
    const under = fileUnder(line, undefined);
    claimed.set(under, { line, fingerprint: undefined });
    entries.set(line, {
      kind: 'malformed',
      line,
      id: under,
      reason: DeadLetterReasons.idConflict,
      detail: `line ${line} of ${shardFile} reuses the task id ${JSON.stringify(id)} of line ${firstLine} with a different input; it was not run. Give each task its own id`,
    });
  }
  for (const { line, result } of parsed) {
    if (result.ok) continue;
    const under = fileUnder(line, result.id);
    claimed.set(under, { line, fingerprint: undefined });
    entries.set(line, {
      kind: 'malformed',
      line,
      id: under,
      reason: result.reason,
      detail: `line ${line} of ${shardFile}: ${result.detail}`,
    });
  }
  return [...entries.values()].sort((a, b) => a.line - b.line);
}

/**
 * Reads and plans the shard file of `index` in `dir`. A file that cannot be read is a
 * configuration error naming `AGENT_TASK_DIR`, the path and the fix: the constructs mount one file
 * per completion index, so a missing one means the index or the mount is wrong.
 */
export async function readShardFile(
  dir: string,
  index: number,
): Promise<{ file: string; entries: ShardEntry[] }> {
  const name = shardFileName(index);
  const file = path.join(dir, name);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConfigError([
      {
        variable: TaskFileEnv.AGENT_TASK_DIR,
        value: dir,
        message: missing
          ? `has no shard file ${name} for ${Env.AGENT_INDEX}=${index} (${file}); mount the batch's task files there (one per completion index) or run this index in a Job with fewer completions`
          : `cannot read the shard file ${file} (${errorText(error)}); mount the task files readable by the worker's user`,
      },
    ]);
  }
  return { file, entries: planShard(text, name) };
}
