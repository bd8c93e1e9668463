/**
 * Task ids the protocol cannot carry are refused when the task is parsed: an id names the result's
 * `messageId` (an AMQP short string: 255 bytes of UTF-8) and the checkpoint files (hashed from its
 * UTF-8), so it must fit those bytes and survive UTF-8 unchanged. A body with a UTF-8 byte-order
 * mark is still a task.
 */
import { DeadLetterReasons } from '@agent-fleet/contract';
import fc from 'fast-check';
import { isWellFormedUnicode, MAX_TASK_ID_BYTES, parseTask, taskIdProblem } from '../src/task';

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Strings of any code points (astral ones included), sometimes with a lone surrogate spliced in. */
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 150 }),
  fc
    .tuple(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.integer({ min: 0xd800, max: 0xdfff }),
      fc.string({ unit: 'binary', maxLength: 40 }),
    )
    .map(([a, unit, b]) => a + String.fromCharCode(unit) + b),
);

describe('isWellFormedUnicode', () => {
  test('is true exactly for strings that survive a round trip through UTF-8', () => {
    fc.assert(
      fc.property(anyString, (text) => {
        const roundTrips = Buffer.from(text, 'utf8').toString('utf8') === text;
        return isWellFormedUnicode(text) === roundTrips;
      }),
      { numRuns: 2000 },
    );
  });

  test('pairs are fine, lone halves and reversed pairs are not', () => {
    expect(isWellFormedUnicode('a😀b')).toBe(true);
    expect(isWellFormedUnicode('\ud83d')).toBe(false);
    expect(isWellFormedUnicode('a\ude00')).toBe(false);
    expect(isWellFormedUnicode('\ude00\ud83d')).toBe(false);
    expect(isWellFormedUnicode('\ud83d\ud83d\ude00')).toBe(false);
  });
});

describe('task ids', () => {
  test('an id is accepted exactly when it is a non-empty, well-formed string of at most 255 UTF-8 bytes', () => {
    fc.assert(
      fc.property(anyString, fc.jsonValue(), (id, input) => {
        const parsed = parseTask(Buffer.from(JSON.stringify({ id, input }), 'utf8'));
        const carriable = id.length > 0 && isWellFormedUnicode(id) && utf8(id) <= MAX_TASK_ID_BYTES;
        if (carriable) {
          return parsed.ok && parsed.task.id === id;
        }
        // Never handed on as an id: a result and a file name would be derived from it.
        return (
          !parsed.ok &&
          parsed.reason === DeadLetterReasons.invalidTask &&
          parsed.id === undefined &&
          parsed.detail.startsWith('task "id" ')
        );
      }),
      { numRuns: 2000 },
    );
  });

  test('the limit is 255 bytes, not 255 characters', () => {
    const euros = '€'.repeat(100); // 100 characters, 300 bytes
    expect(parseTask(JSON.stringify({ id: euros, input: 1 }))).toEqual({
      ok: false,
      reason: DeadLetterReasons.invalidTask,
      detail: 'task "id" is 300 bytes of UTF-8, over the 255 an AMQP messageId can hold',
      id: undefined,
    });
    expect(parseTask(JSON.stringify({ id: '€'.repeat(85), input: 1 }))).toMatchObject({ ok: true });
    expect(parseTask(JSON.stringify({ id: '😀'.repeat(63), input: 1 }))).toMatchObject({ ok: true }); // 252 bytes
    expect(parseTask(JSON.stringify({ id: '😀'.repeat(64), input: 1 }))).toMatchObject({ ok: false }); // 256 bytes
  });

  test('a lone surrogate (written as \\ud800 in JSON) is refused with the reason', () => {
    const parsed = parseTask('{"id":"abc\\ud800","input":1}');
    expect(parsed).toEqual({
      ok: false,
      reason: DeadLetterReasons.invalidTask,
      detail:
        'task "id" is not well-formed Unicode (it holds a lone UTF-16 surrogate, which UTF-8 cannot carry)',
      id: undefined,
    });
    expect(taskIdProblem('')).toBe('is empty');
    expect(taskIdProblem(7)).toBe('is number, not a string');
    expect(taskIdProblem(null)).toBe('is null, not a string');
  });

  test('a refused body id falls back to a usable messageId for the failed result, never to itself', () => {
    const parsed = parseTask(JSON.stringify({ id: 'x'.repeat(300), input: 1 }), 'm-1');
    expect(parsed).toMatchObject({ ok: false, reason: DeadLetterReasons.invalidTask, id: 'm-1' });
  });

  test('the messageId fallback gets the same checks', () => {
    fc.assert(
      fc.property(anyString, (messageId) => {
        const parsed = parseTask('{"input":1}', messageId);
        if (taskIdProblem(messageId) === undefined) {
          return parsed.ok && parsed.task.id === messageId;
        }
        return (
          !parsed.ok &&
          parsed.id === undefined &&
          parsed.detail === `task has no "id", and its messageId ${taskIdProblem(messageId)}`
        );
      }),
      { numRuns: 1000 },
    );
    // A malformed body keeps a usable messageId as its id, and drops an unusable one.
    expect(parseTask('{oops', 'm-1')).toMatchObject({ reason: DeadLetterReasons.invalidJson, id: 'm-1' });
    expect(parseTask('{oops', '€'.repeat(100))).toMatchObject({
      reason: DeadLetterReasons.invalidJson,
      id: undefined,
    });
  });
});

describe('byte-order mark', () => {
  test('one leading UTF-8 BOM is ignored, in bytes and in a string', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
        fc.jsonValue(),
        (id, input) => {
          const json = JSON.stringify({ id, input });
          const fromBytes = parseTask(Buffer.concat([BOM, Buffer.from(json, 'utf8')]));
          const fromString = parseTask(`\ufeff${json}`);
          const expected = parseTask(json);
          return (
            JSON.stringify(fromBytes) === JSON.stringify(expected) &&
            JSON.stringify(fromString) === JSON.stringify(expected)
          );
        },
      ),
    );
    expect(parseTask(Buffer.concat([BOM, Buffer.from('{"id":"a","input":1}')]))).toEqual({
      ok: true,
      task: { id: 'a', input: 1 },
    });
  });

  test('only one: a second BOM is still invalid JSON', () => {
    expect(parseTask(Buffer.concat([BOM, BOM, Buffer.from('{"id":"a","input":1}')]))).toMatchObject({
      ok: false,
      reason: DeadLetterReasons.invalidJson,
    });
  });
});
