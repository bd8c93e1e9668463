/** File mode's pure parts: what each line of a shard is, the exit code of a run, the settings. */
import { ExitCode } from '@agent-fleet/contract';
import fc from 'fast-check';
import { resolveOptions } from '../src/config';
import { ConfigError } from '../src/errors';
import { lineTaskId, planShard } from '../src/shard-file';
import { type ShardStopReason, shardExitCode } from '../src/shard-runner';

const SHARD = 'shard-00002.jsonl';

/** A line of a shard: a task from a small id and input space (so ids repeat), junk, or blank. */
const line = fc.oneof(
  fc
    .record({
      id: fc.constantFrom('a', 'b', 'c', `${SHARD}:1`, `${SHARD}:3`),
      value: fc.integer({ min: 0, max: 2 }),
    })
    .map(({ id, value }) => JSON.stringify({ id, input: { value } })),
  fc.constantFrom(
    '{',
    'null',
    '[]',
    '{"id":"a"}',
    '{"id":"c"}',
    '{"input":1}',
    '{"id":7,"input":1}',
    '   ',
    '',
  ),
);

test('every non-blank line is exactly one entry, each result id belongs to one line, repeats point at an earlier task of the same id', () => {
  fc.assert(
    fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
      const entries = planShard(lines.join('\n'), SHARD);
      const nonBlank = lines.map((l, i) => (l.trim() === '' ? 0 : i + 1)).filter((n) => n > 0);
      expect(entries.map((e) => e.line)).toEqual(nonBlank);
      const filed = entries
        .filter((e) => e.kind !== 'repeat')
        .map((e) => (e.kind === 'task' ? e.task.id : e.id));
      expect(new Set(filed).size).toBe(filed.length);
      for (const entry of entries) {
        if (entry.kind === 'repeat') {
          const firstEntry = entries.find((e) => e.line === entry.firstLine);
          expect(firstEntry?.kind).toBe('task');
          if (firstEntry?.kind === 'task') {
            expect(firstEntry.task.id).toBe(entry.id);
            expect(JSON.parse(lines[entry.line - 1]).input).toEqual(firstEntry.task.input);
          }
        }
        if (entry.kind === 'malformed') {
          expect(entry.detail).toContain(`line ${entry.line} of ${SHARD}`);
        }
      }
    }),
  );
});

test('a malformed line is filed under its own id when free, else under its line id; a conflicting id is never run', () => {
  const text = [
    JSON.stringify({ id: 'x', input: 1 }),
    '{"id":"x"}',
    '{"id":"y"}',
    'garbage',
    JSON.stringify({ id: 'x', input: 2 }),
    JSON.stringify({ id: 'x', input: 1 }),
  ].join('\r\n');
  expect(planShard(text, SHARD)).toEqual([
    { kind: 'task', line: 1, task: { id: 'x', input: 1 }, fingerprint: expect.any(String) },
    expect.objectContaining({ kind: 'malformed', line: 2, id: lineTaskId(SHARD, 2), reason: 'invalid-task' }),
    expect.objectContaining({ kind: 'malformed', line: 3, id: 'y', reason: 'invalid-task' }),
    expect.objectContaining({ kind: 'malformed', line: 4, id: lineTaskId(SHARD, 4), reason: 'invalid-json' }),
    expect.objectContaining({ kind: 'malformed', line: 5, id: lineTaskId(SHARD, 5), reason: 'id-conflict' }),
    { kind: 'repeat', line: 6, id: 'x', firstLine: 1 },
  ]);
  // A task whose id looks like a line id keeps it; the malformed line takes the next free one.
  const taken = [JSON.stringify({ id: `${SHARD}:2`, input: 0 }), 'garbage'].join('\n');
  expect(planShard(taken, SHARD)[1]).toMatchObject({ id: `${SHARD}:2#2` });
});

test('exit codes: 0 all succeeded, 65 some failed (final), 75 interrupted, 69 store unusable', () => {
  const cases: Array<[ShardStopReason, number, number]> = [
    ['finished', 0, ExitCode.succeeded],
    ['finished', 2, ExitCode.permanentFailure],
    ['signal', 0, ExitCode.interrupted],
    ['signal', 3, ExitCode.interrupted],
    ['memory-high', 1, ExitCode.interrupted],
    ['storage-unavailable', 0, ExitCode.dependencyUnreachable],
  ];
  for (const [reason, failed, code] of cases) {
    expect(shardExitCode(reason, failed)).toBe(code);
  }
});

describe('settings of file mode', () => {
  const file = { AGENT_TASK_SOURCE: 'file', AGENT_INDEX: '7' };

  test('no broker setting is read; the index is the shard; the task directory defaults to the mount', () => {
    const resolved = resolveOptions({}, { ...file, TASK_QUEUE_URL: 'not a url' });
    expect(resolved).toMatchObject({
      taskSource: 'file',
      taskQueueUrl: '',
      shardIndex: 7,
      taskDir: '/etc/agent-fleet/tasks',
    });
    expect(resolveOptions({}, { ...file, AGENT_TASK_DIR: 'rel/tasks' }).taskDir).toMatch(/\/rel\/tasks$/);
  });

  test('queue mode is unchanged: the broker URL is required and the index is only a name', () => {
    expect(() => resolveOptions({}, { AGENT_INDEX: 'x' })).toThrow(/TASK_QUEUE_URL \(unset\): is required/);
    expect(resolveOptions({}, { TASK_QUEUE_URL: 'amqp://u:p@h/', AGENT_INDEX: 'x' })).toMatchObject({
      taskSource: 'queue',
      agentIndex: 'x',
      shardIndex: undefined,
    });
  });

  test('an index that is not a completion index, or an unknown source, is a problem naming the variable', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => s.trim() !== '' && !/^(0|[1-9][0-9]*)$/.test(s.trim())),
        (index) => {
          let error: unknown;
          try {
            resolveOptions({}, { ...file, AGENT_INDEX: index });
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(ConfigError);
          expect((error as ConfigError).problems.map((p) => p.variable)).toEqual(['AGENT_INDEX']);
        },
      ),
    );
    expect(() => resolveOptions({}, { ...file, AGENT_INDEX: '99999999999999999999' })).toThrow(/too large/);
    expect(() =>
      resolveOptions({}, { AGENT_TASK_SOURCE: 'broker', TASK_QUEUE_URL: 'amqp://u:p@h/' }),
    ).toThrow(/AGENT_TASK_SOURCE="broker": is not a task source; set it to queue or file/);
  });
});
