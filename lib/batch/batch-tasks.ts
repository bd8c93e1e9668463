import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import {
  describeCredential,
  findCredentials,
  redact,
  type TaskMessage,
  taskIdViolation,
} from '@agent-fleet/contract';
import type { Construct } from 'constructs';
import { invalid } from '../internal/validation';

/** One task of a static batch: the runtime contract's task message, `{ id, input }`. */
export type BatchTask = TaskMessage;

/**
 * The tasks of a batch that is known when the chart is synthesized: given in the chart, or read from
 * a JSON Lines file at synth time. An `AgentJob` with `tasks` runs them without a broker: index *i* of
 * the Job works shard *i*.
 */
export class BatchTasks {
  /** Tasks written in the chart, in the contract's shape `{ id, input }`. */
  static fromList(tasks: readonly BatchTask[]): BatchTasks {
    return new BatchTasks(undefined, tasks);
  }

  /**
   * Tasks read from a JSON Lines file at synth time: one `{ "id", "input" }` object per line, blank
   * lines ignored, one leading UTF-8 byte-order mark ignored. A relative path is resolved against the
   * working directory of the cdk8s app (`cdk8s synth` runs it from the project root).
   */
  static fromJsonLinesFile(path: string): BatchTasks {
    return new BatchTasks(path, undefined);
  }

  private constructor(
    /** The file the tasks are read from, when they come from one. */
    readonly file: string | undefined,
    private readonly list: readonly unknown[] | undefined,
  ) {}

  /**
   * Reads and checks the tasks for the workload `scope`: at least one; each an object with exactly
   * `id` and `input`; ids non-empty, well-formed, at most 255 bytes of UTF-8 and unique; inputs plain
   * JSON (what the worker reads back is what was written); no credential anywhere in them.
   * @internal
   */
  _load(scope: Construct): BatchTask[] {
    const entries = this.file === undefined ? this.fromList(scope) : this.readFile(scope, this.file);
    if (entries.length === 0) {
      invalid(
        scope,
        'tasks',
        this.file ?? [],
        'holds no task, and a Job cannot have 0 completions',
        'give at least one task { id, input }',
      );
    }
    const seen = new Map<string, string>();
    return entries.map(({ value, prop }) => {
      const task = checkTask(scope, prop, value);
      const earlier = seen.get(task.id);
      if (earlier !== undefined) {
        invalid(
          scope,
          `${prop}.id`,
          task.id,
          `is also the id of ${earlier}: the worker keys checkpoints and results by id, so the second ` +
            'task would be taken for the first (its result overwritten, or the task skipped as done)',
          'give every task its own id',
        );
      }
      seen.set(task.id, prop);
      return task;
    });
  }

  private fromList(scope: Construct): Array<{ value: unknown; prop: string }> {
    if (!Array.isArray(this.list)) {
      invalid(
        scope,
        'tasks',
        this.list,
        'is not a list of tasks',
        'pass BatchTasks.fromList([{ id, input }, …])',
      );
    }
    return this.list.map((value, i) => ({ value, prop: `tasks[${i}]` }));
  }

  private readFile(scope: Construct, file: string): Array<{ value: unknown; prop: string }> {
    const path = resolve(file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      return invalid(
        scope,
        'tasks',
        file,
        `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; resolved to ${path})`,
        'give the path of a JSON Lines file, relative to the directory the cdk8s app runs in, or absolute',
      );
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const shown = relative(process.cwd(), path) || path;
    const entries: Array<{ value: unknown; prop: string }> = [];
    text.split(/\r?\n/).forEach((line, n) => {
      if (line.trim() === '') return;
      const prop = `tasks[${entries.length}] (${shown}:${n + 1})`;
      try {
        entries.push({ value: JSON.parse(line), prop });
      } catch (error) {
        invalid(
          scope,
          prop,
          line.length > 80 ? `${line.slice(0, 80)}…` : line,
          `is not JSON (${(error as Error).message})`,
          'write one JSON object { "id": …, "input": … } per line',
        );
      }
    });
    return entries;
  }
}

function checkTask(scope: Construct, prop: string, value: unknown): BatchTask {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalid(scope, prop, value, 'is not a task object', 'write { "id": "…", "input": … }');
  }
  const task = value as Record<string, unknown>;
  for (const key of Object.keys(task)) {
    if (key !== 'id' && key !== 'input') {
      invalid(
        scope,
        `${prop}.${key}`,
        task[key],
        'is not a field of a task: the worker reads only id and input',
        'move it into input, or remove it',
      );
    }
  }
  const idViolation = taskIdViolation(task.id);
  if (idViolation !== undefined) {
    invalid(scope, `${prop}.id`, task.id, idViolation.problem, idViolation.fix);
  }
  checkNoCredential(scope, `${prop}.id`, task.id as string);
  if (!('input' in task) || task.input === undefined) {
    invalid(
      scope,
      `${prop}.input`,
      undefined,
      'is missing',
      'give the input (null when the task needs none)',
    );
  }
  checkJson(scope, `${prop}.input`, task.input, new Set());
  return { id: task.id as string, input: task.input };
}

function checkNoCredential(scope: Construct, prop: string, text: string): void {
  const match = findCredentials(text)[0];
  if (match !== undefined) {
    invalid(
      scope,
      prop,
      redact(text),
      `carries ${describeCredential(match.kind)} in plain text, which would be in the tasks' ConfigMap`,
      'keep credentials out of task inputs: the agent reads them from a Secret (env with EnvValue.fromSecretValue)',
    );
  }
}

/**
 * Checks that `value` is plain JSON (null, booleans, finite numbers, strings, arrays, plain objects)
 * and holds no credential: anything else would not read back as written (undefined and functions
 * vanish, NaN turns into null, a Date into a string, a Map into {}).
 */
function checkJson(scope: Construct, prop: string, value: unknown, path: Set<object>): void {
  switch (typeof value) {
    case 'string':
      checkNoCredential(scope, prop, value);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        invalid(
          scope,
          prop,
          value,
          'is not a finite number, which JSON writes as null',
          'use a finite number or a string',
        );
      }
      return;
    case 'object': {
      if (value === null) return;
      if (path.has(value)) {
        invalid(
          scope,
          prop,
          '[circular]',
          'refers back to itself, which JSON cannot write',
          'pass a tree of values',
        );
      }
      path.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => {
          checkJson(scope, `${prop}[${i}]`, item, path);
        });
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          invalid(
            scope,
            prop,
            value.constructor?.name ?? 'object',
            'is not a plain object, so JSON would not write it as it is',
            'convert it to plain JSON first (e.g. a Date to an ISO string)',
          );
        }
        for (const [key, child] of Object.entries(value)) {
          checkNoCredential(scope, `${prop} (a key)`, key);
          checkJson(scope, `${prop}.${key}`, child, path);
        }
      }
      path.delete(value);
      return;
    }
    default:
      invalid(
        scope,
        prop,
        String(value),
        `is a ${typeof value}, which JSON cannot write`,
        'use null, a boolean, a finite number, a string, an array or a plain object',
      );
  }
}
