/** The entrypoint sizes libuv's thread pool for the tasks a worker holds at once. */
import { Env } from '@agent-fleet/contract';
import * as fc from 'fast-check';
import { MAX_THREADPOOL_SIZE, sizeThreadpool, threadpoolSizeFor } from '../src/threadpool';

test('four threads per task held at once plus four, within libuv’s limit', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000 }), (concurrency) => {
      const size = threadpoolSizeFor(concurrency);
      expect(size).toBe(Math.min(MAX_THREADPOOL_SIZE, 4 + 4 * concurrency));
      expect(size).toBeGreaterThan(4);
    }),
  );
});

test('UV_THREADPOOL_SIZE follows AGENT_CONCURRENCY unless the operator set it; bad values are left to the settings check', () => {
  const env: NodeJS.ProcessEnv = { [Env.AGENT_CONCURRENCY]: '10' };
  sizeThreadpool(env);
  expect(env.UV_THREADPOOL_SIZE).toBe('44');
  const chosen: NodeJS.ProcessEnv = { [Env.AGENT_CONCURRENCY]: '10', UV_THREADPOOL_SIZE: '6' };
  sizeThreadpool(chosen);
  expect(chosen.UV_THREADPOOL_SIZE).toBe('6');
  const unset: NodeJS.ProcessEnv = {};
  sizeThreadpool(unset);
  expect(unset.UV_THREADPOOL_SIZE).toBe('8');
  const bad: NodeJS.ProcessEnv = { [Env.AGENT_CONCURRENCY]: 'lots' };
  sizeThreadpool(bad);
  expect(bad.UV_THREADPOOL_SIZE).toBe('8');
});
