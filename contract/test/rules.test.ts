import fc from 'fast-check';
import {
  brokerUrlViolation,
  MAX_SHORTSTR_BYTES,
  queueNameViolation,
  resultQueueViolation,
  utf8Length,
} from '../src';

describe('queueNameViolation', () => {
  test('accepts ordinary names', () => {
    for (const name of ['agent-tasks', 'a', 'team.research/tasks', 'é'.repeat(127)]) {
      expect(queueNameViolation(name)).toBeUndefined();
    }
  });

  test.each([
    ['', /is empty/],
    ['amq.tasks', /starts with "amq\."/],
    ['x'.repeat(256), /256 bytes long, over the AMQP limit of 255/],
    ['€'.repeat(100), /300 bytes long/],
  ])('%s', (name, problem) => {
    const violation = queueNameViolation(name);
    expect(violation?.problem).toMatch(problem);
    expect(violation?.fix).toBeTruthy();
  });

  test('counts UTF-8 bytes, not characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }), (name) => {
        const tooLong = utf8Length(name) > MAX_SHORTSTR_BYTES;
        const violation = queueNameViolation(name);
        return tooLong ? violation !== undefined : name.startsWith('amq.') || violation === undefined;
      }),
    );
  });
});

test('resultQueueViolation: the result queue must differ from the task queue', () => {
  expect(resultQueueViolation('tasks', 'results')).toBeUndefined();
  expect(resultQueueViolation('tasks', 'tasks')?.fix).toMatch(/"tasks-results"/);
});

describe('brokerUrlViolation', () => {
  test('accepts amqp and amqps URLs with a host', () => {
    expect(brokerUrlViolation('amqp://agent:pw@rabbitmq:5672/')).toBeUndefined();
    expect(brokerUrlViolation('amqps://token@broker.example.com/vhost')).toBeUndefined();
  });

  test.each([
    ['::not a url::', /is not a URL/],
    ['http://rabbitmq:15672/', /scheme "http:\/\/"/],
    ['amqp://', /has no host/],
  ])('%s', (url, problem) => {
    expect(brokerUrlViolation(url)?.problem).toMatch(problem);
  });

  test('never echoes the URL (it may hold a password)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9]{8,20}$/),
        fc.constantFrom('http', 'ftp', 'amqp'),
        (pw, scheme) => {
          const v = brokerUrlViolation(`${scheme}://user:${pw}@/`);
          return v === undefined || !(v.problem + v.fix).includes(pw);
        },
      ),
    );
  });
});
