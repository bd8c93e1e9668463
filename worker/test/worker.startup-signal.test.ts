/**
 * Found by the chaos suite: a SIGTERM that arrives while the worker is still retrying
 * its first broker connection exits "interrupted" (75), as after any SIGTERM, not "dependency
 * unreachable" (69).
 */
import { ExitCode } from '@agent-fleet/contract';
import { freePort } from '../../testkit/ports';
import { startWorker, testSetup } from './support/harness';

test('SIGTERM while retrying the first connection exits "interrupted"', async () => {
  const setup = testSetup('startup-signal');
  const port = await freePort();
  const worker = startWorker(
    setup.env({
      TASK_QUEUE_URL: `amqp://agent:pw@127.0.0.1:${port}/`,
      AGENT_BROKER_CONNECT_SECONDS: '60',
    }),
  );
  await worker.waitForLog('a retry', (l) => l.msg === 'cannot reach the broker; retrying');
  worker.kill('SIGTERM');
  expect((await worker.waitForExit()).code).toBe(ExitCode.interrupted);
  expect(worker.lines.some((l) => l.msg === 'stopped' && l.reason === 'signal')).toBe(true);
});
