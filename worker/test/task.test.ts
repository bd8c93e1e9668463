import { DeadLetterReasons, Headers } from '@agent-fleet/contract';
import fc from 'fast-check';
import { PermanentError } from '../src/errors';
import { attemptOf, decideFailure, MAX_TASK_ID_LENGTH, parseTask } from '../src/task';

const taskId = fc.string({ minLength: 1, maxLength: MAX_TASK_ID_LENGTH });

test('any JSON object with a string id and an input parses to that task', () => {
  fc.assert(
    fc.property(taskId, fc.jsonValue(), (id, input) => {
      const parsed = parseTask(Buffer.from(JSON.stringify({ id, input })));
      return (
        parsed.ok && parsed.task.id === id && JSON.stringify(parsed.task.input) === JSON.stringify(input)
      );
    }),
  );
});

test('the AMQP messageId is the fallback id', () => {
  expect(parseTask('{"input":1}', 'm-1')).toEqual({ ok: true, task: { id: 'm-1', input: 1 } });
  expect(parseTask('{"id":"body","input":1}', 'm-1')).toEqual({ ok: true, task: { id: 'body', input: 1 } });
});

test('never throws on arbitrary bytes; what is not a task is classified with a reason', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.option(fc.string(), { nil: undefined }),
      (bytes, messageId) => {
        const parsed = parseTask(Buffer.from(bytes), messageId);
        return parsed.ok || Object.values(DeadLetterReasons).includes(parsed.reason);
      },
    ),
  );
  expect(parseTask('{oops', 'x')).toMatchObject({
    ok: false,
    reason: DeadLetterReasons.invalidJson,
    id: 'x',
  });
  expect(parseTask('[1]')).toMatchObject({ ok: false, reason: DeadLetterReasons.invalidTask, id: undefined });
  expect(parseTask('{"id":5,"input":1}')).toMatchObject({ ok: false, reason: DeadLetterReasons.invalidTask });
  expect(parseTask('{"id":"a"}')).toMatchObject({
    ok: false,
    reason: DeadLetterReasons.invalidTask,
    id: 'a',
  });
  expect(parseTask(JSON.stringify({ id: 'x'.repeat(MAX_TASK_ID_LENGTH + 1), input: 1 }))).toMatchObject({
    ok: false,
  });
});

test('attempt = worker-counted attempts + broker redeliveries + 1', () => {
  expect(attemptOf(undefined)).toBe(1);
  expect(attemptOf({ 'x-delivery-count': 2 })).toBe(3);
  fc.assert(
    fc.property(fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), (worker, broker) => {
      return (
        attemptOf({ [Headers.attempts]: worker, 'x-delivery-count': BigInt(broker) }) === worker + broker + 1
      );
    }),
  );
  expect(attemptOf({ 'x-delivery-count': 'garbage', [Headers.attempts]: -4 })).toBe(1);
});

test('permanent errors are dead-lettered at once; everything else is requeued, or returned unspent when shutting down', () => {
  fc.assert(
    fc.property(fc.string(), fc.nat({ max: 100 }), fc.boolean(), (message, attempt, shuttingDown) => {
      const permanent = decideFailure({
        error: new PermanentError(message),
        attempt: attempt + 1,
        shuttingDown,
      });
      const marked = decideFailure({
        error: { permanent: true, message },
        attempt: attempt + 1,
        shuttingDown,
      });
      const other = decideFailure({ error: new Error(message), attempt: attempt + 1, shuttingDown });
      return (
        permanent.action === 'dead-letter' &&
        permanent.reason === DeadLetterReasons.permanentError &&
        marked.action === 'dead-letter' &&
        other.action === (shuttingDown ? 'interrupted' : 'requeue')
      );
    }),
  );
  expect(decideFailure({ error: new Error('x'), attempt: 1, shuttingDown: true })).toEqual({
    action: 'interrupted',
    why: 'interrupted by shutdown',
  });
});
