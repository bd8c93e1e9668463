import fc from 'fast-check';
import {
  brokerUrlViolation,
  concurrencyViolation,
  MAX_SHORTSTR_BYTES,
  queueNameViolation,
  restartPolicyViolation,
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

describe('concurrencyViolation', () => {
  test('accepts up to maxTasks, or any count when maxTasks is 0 (no limit)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (c, max) => {
        const violation = concurrencyViolation(c, max);
        return max === 0 || c <= max
          ? violation === undefined
          : /exceeds AGENT_MAX_TASKS/.test(violation?.problem ?? '');
      }),
    );
  });

  test.each([0, -1, 1.5, Number.NaN])('rejects %p, naming the variable in the fix', (c) => {
    const violation = concurrencyViolation(c, 0);
    expect(violation?.problem).toMatch(/whole number of at least 1/);
    expect(violation?.fix).toMatch(/AGENT_CONCURRENCY/);
  });
});

describe('restartPolicyViolation', () => {
  test('Never accepts any limits; Always only with no task limit and no idle exit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 3600 }), (maxTasks, idle) => {
        expect(restartPolicyViolation('Never', maxTasks, idle)).toBeUndefined();
        const always = restartPolicyViolation('Always', maxTasks, idle);
        expect(always === undefined).toBe(maxTasks === 0 && idle === 0);
        if (always) expect(always.problem).toMatch(/restart it at once, into its crash-loop back-off/);
      }),
    );
  });

  test('an unknown policy names the variable in the fix', () => {
    expect(restartPolicyViolation('OnFailure', 0, 0)?.fix).toMatch(/AGENT_RESTART_POLICY/);
  });
});
