import {
  concurrencyViolation,
  DEFAULT_TASK_DIR,
  Defaults,
  Env,
  MIN_SHUTDOWN_SECONDS,
  PodEnv,
  RestartPolicies,
  restartPolicyViolation,
  scrapeWaitSecondsFor,
  shutdownSecondsFor,
  TaskSources,
} from '@agent-fleet/contract';
import fc from 'fast-check';
import { MAX_CONCURRENCY, resolveOptions, WORKER_DEFAULTS } from '../src/config';
import { ConfigError } from '../src/errors';

const URL_ENV = { [Env.TASK_QUEUE_URL]: 'amqp://user:hunter2@rabbit:5672/' };

function problemsOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a ConfigError');
}

test('defaults come from the contract in one place', () => {
  const options = resolveOptions({}, { ...URL_ENV, [Env.POD_NAME]: 'pod-a' });
  expect(options).toEqual({
    taskQueueUrl: URL_ENV.TASK_QUEUE_URL,
    taskQueueName: Defaults.taskQueueName,
    resultQueueName: Defaults.resultQueueName,
    agentIndex: 'pod-a',
    podName: 'pod-a',
    checkpointDir: Defaults.checkpointDir,
    metricsPort: Defaults.metricsPort,
    maxTasks: Defaults.maxTasks,
    idleExitSeconds: Defaults.idleExitSeconds,
    shutdownSeconds: shutdownSecondsFor(Defaults.terminationGracePeriodSeconds),
    concurrency: Defaults.concurrency,
    restartPolicy: RestartPolicies.never,
    maxAttempts: Defaults.maxAttempts,
    retryDelaySeconds: Defaults.retryDelaySeconds,
    retryMaxDelaySeconds: Defaults.retryMaxDelaySeconds,
    brokerConnectSeconds: Defaults.brokerConnectSeconds,
    leaseSeconds: Defaults.leaseSeconds,
    memoryHighFraction: Defaults.memoryHighFraction,
    cgroupRoot: Defaults.cgroupRoot,
    maxMessageBytes: Defaults.maxMessageBytes,
    scrapeWaitSeconds: scrapeWaitSecondsFor(Defaults.scrapeIntervalSeconds),
    taskSource: TaskSources.queue,
    taskDir: DEFAULT_TASK_DIR,
    shardIndex: undefined,
  });
  expect(WORKER_DEFAULTS.shutdownSeconds).toBe(25);
  expect(WORKER_DEFAULTS.scrapeWaitSeconds).toBe(40);
});

test('AGENT_SCRAPE_WAIT_SECONDS: 0 turns the wait off; a bad value names the variable, the value and the fix', () => {
  expect(resolveOptions({}, { ...URL_ENV, [Env.AGENT_SCRAPE_WAIT_SECONDS]: '0' }).scrapeWaitSeconds).toBe(0);
  expect(resolveOptions({}, { ...URL_ENV, [Env.AGENT_SCRAPE_WAIT_SECONDS]: '70' }).scrapeWaitSeconds).toBe(
    70,
  );
  expect(resolveOptions({ scrapeWaitSeconds: 12.5 }, URL_ENV).scrapeWaitSeconds).toBe(12.5);
  for (const bad of ['-1', 'soon', '7200']) {
    const error = problemsOf(() => resolveOptions({}, { ...URL_ENV, [Env.AGENT_SCRAPE_WAIT_SECONDS]: bad }));
    expect(error.problems.map((p) => p.variable)).toEqual([Env.AGENT_SCRAPE_WAIT_SECONDS]);
    expect(error.message).toContain(`AGENT_SCRAPE_WAIT_SECONDS="${bad}"`);
    expect(error.message).toMatch(/scrape interval for this pod plus 10 seconds \(default 40\), or 0/);
  }
});

test('retry, broker and memory settings are validated with the variable and the fix', () => {
  const error = problemsOf(() =>
    resolveOptions(
      {},
      {
        ...URL_ENV,
        [Env.AGENT_MAX_ATTEMPTS]: '0',
        [Env.AGENT_RETRY_DELAY_SECONDS]: '10',
        [Env.AGENT_RETRY_MAX_DELAY_SECONDS]: '2',
        [Env.AGENT_BROKER_CONNECT_SECONDS]: 'soon',
        [Env.AGENT_MEMORY_HIGH_FRACTION]: '1.5',
      },
    ),
  );
  expect(error.problems.map((p) => p.variable).sort()).toEqual(
    [
      Env.AGENT_MAX_ATTEMPTS,
      Env.AGENT_RETRY_MAX_DELAY_SECONDS,
      Env.AGENT_BROKER_CONNECT_SECONDS,
      Env.AGENT_MEMORY_HIGH_FRACTION,
    ].sort(),
  );
  expect(error.message).toMatch(/AGENT_MAX_ATTEMPTS="0": is outside 1\.\.1000/);
  expect(error.message).toMatch(/AGENT_RETRY_MAX_DELAY_SECONDS="2": is below AGENT_RETRY_DELAY_SECONDS/);
  // A first delay above the default cap raises the cap instead of failing.
  expect(
    resolveOptions({}, { ...URL_ENV, [Env.AGENT_RETRY_DELAY_SECONDS]: '600' }).retryMaxDelaySeconds,
  ).toBe(600);
});

test('options passed in code win over the environment', () => {
  const options = resolveOptions(
    { taskQueueName: 'code', maxTasks: 7, concurrency: 3 },
    { ...URL_ENV, [Env.TASK_QUEUE_NAME]: 'env', [Env.AGENT_MAX_TASKS]: '9', [Env.AGENT_INDEX]: '4' },
  );
  expect(options).toMatchObject({ taskQueueName: 'code', maxTasks: 7, concurrency: 3, agentIndex: '4' });
});

describe('AGENT_RESTART_POLICY', () => {
  test('unset is Never; Always with no task limit and no idle exit is accepted', () => {
    expect(resolveOptions({}, URL_ENV).restartPolicy).toBe('Never');
    const pool = {
      ...URL_ENV,
      [PodEnv.AGENT_RESTART_POLICY]: 'Always',
      [Env.AGENT_MAX_TASKS]: '0',
      [Env.AGENT_IDLE_EXIT_SECONDS]: '0',
    };
    expect(resolveOptions({}, pool).restartPolicy).toBe('Always');
  });

  test.each([
    ['Always', '5', '0'],
    ['Always', '0', '30'],
    ['OnFailure', '0', '0'],
  ])(
    "%s with AGENT_MAX_TASKS=%s and AGENT_IDLE_EXIT_SECONDS=%s is refused in the contract rule's words",
    (policy, maxTasks, idle) => {
      const error = problemsOf(() =>
        resolveOptions(
          {},
          {
            ...URL_ENV,
            [PodEnv.AGENT_RESTART_POLICY]: policy,
            [Env.AGENT_MAX_TASKS]: maxTasks,
            [Env.AGENT_IDLE_EXIT_SECONDS]: idle,
          },
        ),
      );
      const rule = restartPolicyViolation(policy, Number(maxTasks), Number(idle));
      expect(rule).toBeDefined();
      expect(error.problems).toEqual([
        { variable: PodEnv.AGENT_RESTART_POLICY, value: policy, message: `${rule?.problem}; ${rule?.fix}` },
      ]);
    },
  );
});

describe('AGENT_CONCURRENCY', () => {
  test('is read from the environment; an option in code wins', () => {
    expect(resolveOptions({}, { ...URL_ENV, [Env.AGENT_CONCURRENCY]: '5' }).concurrency).toBe(5);
    expect(resolveOptions({ concurrency: 2 }, { ...URL_ENV, [Env.AGENT_CONCURRENCY]: '5' }).concurrency).toBe(
      2,
    );
  });

  test.each([
    ['0', '0'],
    ['abc', '0'],
    ['1.5', '0'],
    ['-2', '0'],
    ['6', '5'],
  ])("%s with AGENT_MAX_TASKS=%s is refused in the contract rule's words", (value, maxTasks) => {
    const error = problemsOf(() =>
      resolveOptions({}, { ...URL_ENV, [Env.AGENT_CONCURRENCY]: value, [Env.AGENT_MAX_TASKS]: maxTasks }),
    );
    const rule = concurrencyViolation(Number(value), Number(maxTasks));
    expect(rule).toBeDefined();
    expect(error.problems).toEqual([
      { variable: Env.AGENT_CONCURRENCY, value, message: `${rule?.problem}; ${rule?.fix}` },
    ]);
  });

  test('above what basic.qos carries is refused', () => {
    const value = String(MAX_CONCURRENCY + 1);
    const error = problemsOf(() => resolveOptions({}, { ...URL_ENV, [Env.AGENT_CONCURRENCY]: value }));
    expect(error.message).toContain(`AGENT_CONCURRENCY="${value}": is above ${MAX_CONCURRENCY}`);
  });

  test('any whole number from 1 to AGENT_MAX_TASKS is accepted (to 65535 without a limit)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_CONCURRENCY }), fc.nat({ max: 1_000_000 }), (n, extra) => {
        const limited = resolveOptions(
          {},
          { ...URL_ENV, [Env.AGENT_CONCURRENCY]: String(n), [Env.AGENT_MAX_TASKS]: String(n + extra) },
        );
        const unlimited = resolveOptions({}, { ...URL_ENV, [Env.AGENT_CONCURRENCY]: String(n) });
        return limited.concurrency === n && unlimited.concurrency === n;
      }),
    );
  });
});

test('lists every problem at once, each naming the variable, the value and the fix', () => {
  const error = problemsOf(() =>
    resolveOptions(
      {},
      {
        [Env.AGENT_MAX_TASKS]: '-1',
        [Env.METRICS_PORT]: 'http',
        [Env.AGENT_SHUTDOWN_SECONDS]: '1',
        [Env.TASK_QUEUE_NAME]: 'amq.tasks',
      },
    ),
  );
  expect(error.problems.map((p) => p.variable).sort()).toEqual(
    [
      Env.AGENT_MAX_TASKS,
      Env.AGENT_SHUTDOWN_SECONDS,
      Env.METRICS_PORT,
      Env.TASK_QUEUE_NAME,
      Env.TASK_QUEUE_URL,
    ].sort(),
  );
  expect(error.message).toMatch(/TASK_QUEUE_URL \(unset\): is required; set it to the broker URL/);
  expect(error.message).toMatch(
    /AGENT_MAX_TASKS="-1": is not a whole number; set it to a whole number of tasks/,
  );
  expect(error.message).toMatch(
    new RegExp(`AGENT_SHUTDOWN_SECONDS="1": is outside ${MIN_SHUTDOWN_SECONDS}\\.\\.`),
  );
  expect(error.message).toMatch(/TASK_QUEUE_NAME="amq.tasks": starts with "amq."/);
});

test('the result queue must differ from the task queue', () => {
  const error = problemsOf(() =>
    resolveOptions({}, { ...URL_ENV, [Env.TASK_QUEUE_NAME]: 'q', [Env.RESULT_QUEUE_NAME]: 'q' }),
  );
  expect(error.problems).toEqual([expect.objectContaining({ variable: Env.RESULT_QUEUE_NAME })]);
});

test('whole numbers in range are accepted as they are written', () => {
  fc.assert(
    fc.property(fc.nat({ max: 65535 }), fc.nat({ max: 1_000_000 }), (port, max) => {
      const options = resolveOptions(
        {},
        { ...URL_ENV, [Env.METRICS_PORT]: String(port), [Env.AGENT_MAX_TASKS]: ` ${max} ` },
      );
      return options.metricsPort === port && options.maxTasks === max;
    }),
  );
});

test('anything that is not a plain non-negative number is rejected, naming the variable', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }).filter((s) => s.trim() !== '' && !/^\s*\+?(\d+(\.\d*)?|\.\d+)\s*$/.test(s)),
      (value) => {
        const error = problemsOf(() =>
          resolveOptions({}, { ...URL_ENV, [Env.AGENT_IDLE_EXIT_SECONDS]: value }),
        );
        return error.problems.length === 1 && error.problems[0].variable === Env.AGENT_IDLE_EXIT_SECONDS;
      },
    ),
  );
});

test('no error message ever contains the URL password', () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[A-Za-z0-9]{6,20}$/),
      fc.constantFrom('http', 'amqp', 'amqps', 'ftp'),
      fc.constantFrom('', 'not a number'),
      (password, scheme, badPort) => {
        const url = `${scheme}://user:${password}@host:5672/`;
        try {
          resolveOptions({}, { [Env.TASK_QUEUE_URL]: url, [Env.METRICS_PORT]: badPort || undefined });
          return true;
        } catch (error) {
          return !(error as Error).message.includes(password);
        }
      },
    ),
  );
});
