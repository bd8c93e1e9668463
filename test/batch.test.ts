import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_TASK_DIR,
  Env,
  shardCountFor,
  shardFileName,
  TaskFileEnv,
  type TaskMessage,
  TaskSources,
} from '@agent-fleet/contract';
import { type Chart, Size, Testing } from 'cdk8s';
import { Volume } from 'cdk8s-plus-30';
import fc from 'fast-check';
import {
  AgentFleetValidationError,
  AgentJob,
  type AgentJobProps,
  BatchTasks,
  CheckpointStore,
  CompletionMode,
  DEFAULT_TASK_CONFIGMAP_BYTES,
  QueueConnection,
} from '../lib';
import { dataBytes, goJsonStringBytes, packShards, renderShards } from '../lib/batch';
import { envOf, only, synthValid } from './support/manifests';

const image = 'registry.example.com/agent:1.0.0';
const tasks = (
  n: number,
  input: (i: number) => unknown = (i) => ({ prompt: `question ${i}` }),
): TaskMessage[] => Array.from({ length: n }, (_, i) => ({ id: `t-${i}`, input: input(i) }));

function synthBatch(props: Partial<AgentJobProps> = {}, chart: Chart = Testing.chart()) {
  new AgentJob(chart, 'Eval', { image, tasks: BatchTasks.fromList(tasks(12)), ...props });
  return synthValid(chart);
}

/** Every line of every shard file of the synthesized ConfigMaps, by file name. */
function shardFiles(objects: ReturnType<typeof synthValid>): Map<string, TaskMessage[]> {
  const files = new Map<string, TaskMessage[]>();
  for (const cm of objects.filter((o) => o.kind === 'ConfigMap')) {
    for (const [key, text] of Object.entries(cm.data as Record<string, string>)) {
      expect(files.has(key)).toBe(false);
      expect(text.endsWith('\n')).toBe(true);
      files.set(
        key,
        text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l)),
      );
    }
  }
  return files;
}

describe('AgentJob with static tasks', () => {
  const objects = synthBatch({
    tasksPerIndex: 3,
    parallelism: 2,
    checkpointStore: new CheckpointStore(Testing.chart(), 'Store', { claimName: 'results' }),
  });
  const job = only(objects, 'Job');
  const pod = job.spec.template.spec;
  const configMap = only(objects, 'ConfigMap');

  test('one completion per shard, Indexed, index i runs shard i', () => {
    expect(job.spec.completionMode).toBe('Indexed');
    expect(job.spec.completions).toBe(4);
    expect(job.spec.parallelism).toBe(2);
    const files = shardFiles(objects);
    expect([...files.keys()]).toEqual([0, 1, 2, 3].map(shardFileName));
    expect(files.get(shardFileName(1))).toEqual(tasks(12).slice(3, 6));
  });

  test('no broker: no queue variables, the file source and directory instead', () => {
    const env = envOf(pod);
    expect(env[Env.TASK_QUEUE_URL]).toBeUndefined();
    expect(env[Env.TASK_QUEUE_NAME]).toBeUndefined();
    expect(env[Env.RESULT_QUEUE_NAME]).toBeUndefined();
    expect(env[TaskFileEnv.AGENT_TASK_SOURCE]).toBe(TaskSources.file);
    expect(env[TaskFileEnv.AGENT_TASK_DIR]).toBe(DEFAULT_TASK_DIR);
    expect(env[Env.AGENT_INDEX]).toBeDefined();
    // The worker runs its whole shard: a task count or an idle exit would mean nothing.
    expect(env[Env.AGENT_MAX_TASKS]).toBeUndefined();
    expect(env[Env.AGENT_IDLE_EXIT_SECONDS]).toBeUndefined();
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Job']);
  });

  test('the ConfigMap is immutable and mounted read-only through a projected volume; results go to the store', () => {
    expect(configMap.immutable).toBe(true);
    expect(configMap.metadata.name).toBe(`${job.metadata.name}-tasks`);
    expect(pod.volumes).toContainEqual({
      name: 'tasks',
      projected: { sources: [{ configMap: { name: configMap.metadata.name } }] },
    });
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'tasks',
      mountPath: DEFAULT_TASK_DIR,
      readOnly: true,
    });
    expect(pod.volumes).toContainEqual({
      name: 'checkpoints',
      persistentVolumeClaim: { claimName: 'results' },
    });
  });

  test('a JSON Lines file gives the same manifests as the list (BOM, CRLF and blank lines ignored)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasks-'));
    try {
      const file = join(dir, 'tasks.jsonl');
      writeFileSync(
        file,
        `\ufeff${tasks(12)
          .map((t) => JSON.stringify(t))
          .join('\r\n')}\n\n`,
      );
      const fromFile = synthBatch({ tasks: BatchTasks.fromJsonLinesFile(file), tasksPerIndex: 3 });
      const fromList = synthBatch({ tasksPerIndex: 3 });
      expect(fromFile).toEqual(fromList);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('snapshot', () => {
    expect(synthBatch({ tasksPerIndex: 5 })).toMatchSnapshot();
  });
});

describe('splitting shards over ConfigMaps', () => {
  test('over the budget, shards spread over several ConfigMaps, all mounted in one volume', () => {
    const big = tasks(40, (i) => ({ prompt: 'x'.repeat(900 + i) }));
    const objects = synthBatch({ tasks: BatchTasks.fromList(big), maxTaskConfigMapBytes: 10_000 });
    const maps = objects.filter((o) => o.kind === 'ConfigMap');
    expect(maps.length).toBeGreaterThan(1);
    for (const cm of maps) {
      // The data as JSON (no <, > or & here, so JSON.stringify writes what Go would).
      expect(Buffer.byteLength(JSON.stringify(cm.data))).toBeLessThanOrEqual(10_000);
    }
    const pod = only(objects, 'Job').spec.template.spec;
    const volume = pod.volumes.find((v: { name: string }) => v.name === 'tasks');
    expect(volume.projected.sources.map((s: { configMap: { name: string } }) => s.configMap.name)).toEqual(
      maps.map((m) => m.metadata.name),
    );
    expect([...shardFiles(objects).values()].flat()).toEqual(big);
  });

  test('packing: every group within budget, order kept, nothing lost (generated)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 300 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 200, max: 5000 }),
        (inputs, perIndex, budget) => {
          const list = inputs.map((input, i) => ({ id: `id-${i}`, input }));
          const shards = renderShards(list, perIndex);
          expect(shards).toHaveLength(shardCountFor(list.length, perIndex));
          const packed = packShards(shards, budget);
          if ('tooLarge' in packed) {
            expect(dataBytes([packed.tooLarge])).toBeGreaterThan(budget);
            return;
          }
          for (const group of packed.groups) expect(dataBytes(group)).toBeLessThanOrEqual(budget);
          expect(packed.groups.flat()).toEqual(shards);
          // Greedy: a group plus the next shard would have exceeded the budget.
          packed.groups.slice(0, -1).forEach((g, k) => {
            expect(dataBytes([...g, packed.groups[k + 1][0]])).toBeGreaterThan(budget);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test('the byte count is at least what Go writes: <, >, & as \\u003c…', () => {
    expect(goJsonStringBytes('a')).toBe(3);
    expect(goJsonStringBytes('<&>')).toBe(2 + 18);
    expect(goJsonStringBytes('"é\n')).toBe(2 + 2 + 2 + 2);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(goJsonStringBytes(s)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(s)));
      }),
    );
  });

  test('a shard that fits no ConfigMap is an error naming the shard, its size and the fixes', () => {
    const big = [{ id: 'huge', input: 'y'.repeat(DEFAULT_TASK_CONFIGMAP_BYTES) }];
    expect(() => synthBatch({ tasks: BatchTasks.fromList(big) })).toThrow(
      /tasks = "shard 0 \(shard-00000\.jsonl, 2048\d\d bytes as JSON\)" does not fit one ConfigMap under maxTaskConfigMapBytes \(204800 bytes\).*raise maxTaskConfigMapBytes.*store large inputs elsewhere/,
    );
    expect(() =>
      synthBatch({
        tasks: BatchTasks.fromList(tasks(4, () => 'z'.repeat(400))),
        tasksPerIndex: 4,
        maxTaskConfigMapBytes: 1000,
      }),
    ).toThrow(/lower tasksPerIndex \(now 4\)/);
  });

  test('the budget is bounded by the 1 MiB object limit', () => {
    expect(() => synthBatch({ maxTaskConfigMapBytes: 1_048_576 })).toThrow(
      /maxTaskConfigMapBytes = 1048576 exceeds 1000000/,
    );
  });
});

describe('static tasks: synth-time errors', () => {
  const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
  const cases: Array<[string, Partial<AgentJobProps>, RegExp]> = [
    [
      'queue with tasks',
      { queue },
      /queue = "agent-secrets" is set while tasks is.*remove queue, or remove tasks/,
    ],
    ['queueName with tasks', { queueName: 'x' }, /queueName = "x" is set while tasks is/],
    ['completions with tasks', { completions: 3 }, /completions = 3 is set while tasks is.*tasksPerIndex/],
    ['maxTasks with tasks', { maxTasks: 2 }, /maxTasks = 2 is set while tasks is/],
    [
      'NonIndexed',
      { completionMode: CompletionMode.NON_INDEXED },
      /completionMode = "NonIndexed" is not Indexed/,
    ],
    ['tasksPerIndex 0', { tasksPerIndex: 0 }, /tasksPerIndex = 0 is not a whole number ≥ 1/],
    ['concurrency over the shard', { tasksPerIndex: 2, concurrency: 3 }, /concurrency = 3 .*tasksPerIndex/],
    ['no task', { tasks: BatchTasks.fromList([]) }, /tasks = \[\] holds no task/],
    [
      'duplicate ids',
      { tasks: BatchTasks.fromList([...tasks(3), { id: 't-1', input: 1 }]) },
      /tasks\[3\]\.id = "t-1" is also the id of tasks\[1\]/,
    ],
    ['empty id', { tasks: BatchTasks.fromList([{ id: '', input: 1 }]) }, /tasks\[0\]\.id = "" is empty/],
    [
      'id over 255 bytes',
      { tasks: BatchTasks.fromList([{ id: '€'.repeat(100), input: 1 }]) },
      /tasks\[0\]\.id = .* is 300 bytes of UTF-8/,
    ],
    [
      'lone surrogate id',
      { tasks: BatchTasks.fromList([{ id: 'a\ud800', input: 1 }]) },
      /tasks\[0\]\.id = .* is not well-formed Unicode/,
    ],
    [
      'numeric id',
      { tasks: BatchTasks.fromList([{ id: 7 as unknown as string, input: 1 }]) },
      /tasks\[0\]\.id = 7 is number, not a string/,
    ],
    [
      'missing input',
      { tasks: BatchTasks.fromList([{ id: 'a' } as TaskMessage]) },
      /tasks\[0\]\.input = undefined is missing/,
    ],
    [
      'extra field',
      { tasks: BatchTasks.fromList([{ id: 'a', input: 1, inputs: 2 } as TaskMessage]) },
      /tasks\[0\]\.inputs = 2 is not a field of a task/,
    ],
    [
      'NaN in an input',
      { tasks: BatchTasks.fromList([{ id: 'a', input: { score: Number.NaN } }]) },
      /tasks\[0\]\.input\.score = NaN is not a finite number/,
    ],
    [
      'a Date in an input',
      { tasks: BatchTasks.fromList([{ id: 'a', input: { at: new Date(0) } }]) },
      /tasks\[0\]\.input\.at = "Date" is not a plain object/,
    ],
    [
      'a function in an input',
      { tasks: BatchTasks.fromList([{ id: 'a', input: [() => 1] }]) },
      /tasks\[0\]\.input\[0\] = .* is a function, which JSON cannot write/,
    ],
    [
      'a credential in an input',
      { tasks: BatchTasks.fromList([{ id: 'a', input: { db: 'postgres://app:s3cret@db:5432/x' } }]) },
      /tasks\[0\]\.input\.db = .* carries .* in plain text, which would be in the tasks' ConfigMap/,
    ],
    [
      'a file that does not exist',
      { tasks: BatchTasks.fromJsonLinesFile('/nonexistent/tasks.jsonl') },
      /tasks = "\/nonexistent\/tasks\.jsonl" cannot be read \(ENOENT/,
    ],
  ];
  test.each(cases)('%s', (_name, props, message) => {
    let error: unknown;
    try {
      synthBatch(props);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AgentFleetValidationError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toMatch(/s3cret/);
  });

  test('a circular input is refused', () => {
    const input: Record<string, unknown> = {};
    input.self = input;
    expect(() => synthBatch({ tasks: BatchTasks.fromList([{ id: 'a', input }]) })).toThrow(
      /tasks\[0\]\.input\.self = "\[circular\]" refers back to itself/,
    );
  });

  test('a bad line of a file names the file and the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasks-'));
    try {
      const file = join(dir, 'bad.jsonl');
      writeFileSync(file, '{"id":"a","input":1}\n\n{"id":"b",\n');
      expect(() => synthBatch({ tasks: BatchTasks.fromJsonLinesFile(file) })).toThrow(
        /tasks\[1\] \(.*bad\.jsonl:3\) = .* is not JSON/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('tasksPerIndex and maxTaskConfigMapBytes need tasks', () => {
    const chart = Testing.chart();
    expect(() => new AgentJob(chart, 'A', { image, queue, tasksPerIndex: 2 })).toThrow(
      /tasksPerIndex = 2 is set without tasks/,
    );
    expect(() => new AgentJob(chart, 'B', { image })).toThrow(
      /queue = undefined is not set.*or a static batch with tasks/,
    );
  });

  test('a user volume cannot take the task directory or the tasks volume name', () => {
    // The reserved path is checked in every AgentJob, with or without tasks.
    expect(() =>
      synthBatch({
        volumes: [
          {
            volume: Volume.fromEmptyDir(Testing.chart(), 'V', 'extra', { sizeLimit: Size.mebibytes(1) }),
            mountPath: DEFAULT_TASK_DIR,
          },
        ],
      }),
    ).toThrow(/volumes\[0\]\.mountPath = "\/etc\/agent-fleet\/tasks" .*task file directory/);
  });
});

describe('static tasks (generated): every batch synthesizes valid, restricted manifests holding exactly its tasks', () => {
  test('random batches', () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), tie('value'), { maxKeys: 3 }),
      ),
    })).value;
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), {
          minLength: 1,
          maxLength: 25,
        }),
        fc.array(json, { minLength: 25, maxLength: 25 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 400, max: 4000 }),
        (ids, inputs, perIndex, budget) => {
          const list = ids.map((id, i) => ({ id, input: inputs[i] }));
          let objects: ReturnType<typeof synthValid>;
          try {
            objects = synthBatch({
              tasks: BatchTasks.fromList(list),
              tasksPerIndex: perIndex,
              maxTaskConfigMapBytes: budget,
            });
          } catch (e) {
            // The only refusals random plain JSON can earn: a shard over the budget, or a value that
            // looks like a credential.
            expect((e as Error).message).toMatch(/does not fit one ConfigMap|carries .* in plain text/);
            return;
          }
          const job = only(objects, 'Job');
          expect(job.spec.completions).toBe(shardCountFor(list.length, perIndex));
          const files = shardFiles(objects);
          expect([...files.keys()]).toEqual(
            Array.from({ length: job.spec.completions }, (_, i) => shardFileName(i)),
          );
          expect([...files.values()].flat()).toEqual(JSON.parse(JSON.stringify(list)));
        },
      ),
      { numRuns: 150 },
    );
  });
});
