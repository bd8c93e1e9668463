/**
 * Nothing counted is lost to the scrape: the real `agent-worker` on the real broker, once stopped,
 * keeps serving `/metrics` until a scrape (a request with Prometheus's scrape header) carried its
 * last metric change, bounded by AGENT_SCRAPE_WAIT_SECONDS and, after SIGTERM, by the shutdown
 * deadline. The test plays Prometheus with plain HTTP requests.
 */
import { Env, ExitCode, Metrics } from '@agent-fleet/contract';
import { SCRAPE_HEADER } from '../src/scrape-tracker';
import {
  declareTopology,
  httpGet,
  type LogLine,
  metricValue,
  startWorker,
  type TestSetup,
  testSetup,
  useTestClient,
  type WorkerProcess,
} from './support/harness';

const client = useTestClient();

const WAITING = 'waiting for Prometheus to read the last metric changes';
const READ = 'Prometheus read the last metric changes';
const LOST =
  'no scrape of /metrics before the deadline; the metric changes since the last scrape are lost to Prometheus';
const BACKSTOP = 'shutdown deadline passed; exiting now';

/** A scrape as Prometheus sends it. */
async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { [SCRAPE_HEADER]: '10' } });
  return response.text();
}

const logged = (worker: WorkerProcess, msg: string): LogLine | undefined =>
  worker.lines.find((l) => l.msg === msg);

/** A worker of its own queues with `env`, its metrics port, and the queues deleted afterwards. */
async function withWorker(
  name: string,
  env: Record<string, string>,
  body: (worker: WorkerProcess, port: number, setup: TestSetup) => Promise<void>,
): Promise<void> {
  const setup = testSetup(name);
  await declareTopology(setup);
  const worker = startWorker(setup.env(env));
  await body(worker, await worker.metricsPort(), setup);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
}

/** How the process ended: its code, and which of the wait's log lines it wrote. */
async function ending(worker: WorkerProcess) {
  const { code } = await worker.waitForExit(20_000);
  return {
    code,
    waited: logged(worker, WAITING) !== undefined,
    scraped: logged(worker, READ) !== undefined,
    lost: logged(worker, LOST) !== undefined,
    backstop: logged(worker, BACKSTOP) !== undefined,
  };
}

/** A task the `steps` fixture holds after its first checkpoint until the worker stops. */
const HELD = { mode: 'steps', steps: 3, blockOnAttempt: 1, blockAfter: 1 };

test('a one-task worker stays up, ready, after its task until a scrape carried the result; reads without the scrape header do not count', () =>
  withWorker(
    'scrape-wait-one',
    { [Env.AGENT_MAX_TASKS]: '1', [Env.AGENT_SCRAPE_WAIT_SECONDS]: '120' },
    async (worker, port, setup) => {
      await client().publishTask(setup.taskQueue, 'one', { mode: 'echo', value: 1 });
      await client().waitForResults(setup.resultQueue, 1);
      await worker.waitForLog('the wait for a last scrape', (l) => l.msg === WAITING);

      // curl, kubectl port-forward, agent-fleet verify: they read the count, Prometheus has not.
      const plain = await httpGet(port, '/metrics');
      expect(metricValue(plain.body, `${Metrics.tasksCompleted}{status="succeeded"}`)).toBe(1);
      expect(await httpGet(port, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
      expect((await httpGet(port, '/healthz')).status).toBe(200);
      expect(logged(worker, READ)).toBeUndefined();
      expect(worker.hasExited).toBe(false);

      // The scrape that ends the wait holds the final count.
      const scraped = await scrape(port);
      expect(metricValue(scraped, `${Metrics.tasksCompleted}{status="succeeded"}`)).toBe(1);
      expect(metricValue(scraped, `${Metrics.taskDuration}_count`)).toBe(1);
      expect(metricValue(scraped, Metrics.tasksInFlight)).toBe(0);
      expect(await ending(worker)).toMatchObject({ code: ExitCode.succeeded, scraped: true, lost: false });
      expect(logged(worker, READ)).toMatchObject({ waitedMs: expect.any(Number) });
    },
  ));

test('a worker whose metrics never changed exits without waiting', () =>
  // Idle exit after 1.5 s with nothing taken: nothing to wait for.
  withWorker(
    'scrape-wait-none',
    { [Env.AGENT_IDLE_EXIT_SECONDS]: '1.5', [Env.AGENT_SCRAPE_WAIT_SECONDS]: '120' },
    async (worker) => {
      expect(await ending(worker)).toMatchObject({ code: ExitCode.succeeded, waited: false });
    },
  ));

test('nobody scrapes: the worker exits 0 once AGENT_SCRAPE_WAIT_SECONDS passed since its metrics server started, with a warning', () =>
  withWorker(
    'scrape-wait-unscraped',
    { [Env.AGENT_MAX_TASKS]: '1', [Env.AGENT_SCRAPE_WAIT_SECONDS]: '2' },
    async (worker, _port, setup) => {
      await client().publishTask(setup.taskQueue, 'unscraped', { mode: 'echo', value: 1 });
      expect(await ending(worker)).toMatchObject({ code: ExitCode.succeeded, waited: true, lost: true });
      expect(logged(worker, LOST)).toMatchObject({ scrapeWaitSeconds: 2 });
    },
  ));

describe('after SIGTERM the wait ends by the shutdown deadline, and the exit code is the stop reason’s', () => {
  const env = {
    [Env.AGENT_SHUTDOWN_SECONDS]: '5',
    // Far longer than the shutdown deadline: the deadline must end it.
    [Env.AGENT_SCRAPE_WAIT_SECONDS]: '600',
  };

  test('a signalled worker that requeued its task waits for a scrape, exits 75 once scraped', () =>
    withWorker('scrape-wait-signal', env, async (worker, port, setup) => {
      await client().publishTask(setup.taskQueue, 'held', HELD);
      await worker.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
      worker.kill('SIGTERM');
      await worker.waitForLog('the wait for a last scrape', (l) => l.msg === WAITING);
      const scraped = await scrape(port);
      expect(metricValue(scraped, Metrics.tasksInFlight)).toBe(0);
      expect(metricValue(scraped, `${Metrics.checkpointWrite}_count`)).toBe(2);
      expect(await ending(worker)).toMatchObject({
        code: ExitCode.interrupted,
        scraped: true,
        backstop: false,
      });
    }));

  test('unscraped, a signalled worker exits 75 at the shutdown deadline, before the backstop', () =>
    withWorker('scrape-wait-signal-unscraped', env, async (worker, _port, setup) => {
      await client().publishTask(setup.taskQueue, 'held', HELD);
      await worker.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
      worker.kill('SIGTERM');
      expect(await ending(worker)).toMatchObject({ code: ExitCode.interrupted, lost: true, backstop: false });
    }));

  test('a SIGTERM during the wait after AGENT_MAX_TASKS ends it by the deadline and keeps exit 0', () =>
    withWorker(
      'scrape-wait-done-signal',
      { ...env, [Env.AGENT_MAX_TASKS]: '1' },
      async (worker, _port, setup) => {
        await client().publishTask(setup.taskQueue, 'done', { mode: 'echo', value: 1 });
        await worker.waitForLog('the wait for a last scrape', (l) => l.msg === WAITING);
        worker.kill('SIGTERM');
        expect(await ending(worker)).toMatchObject({ code: ExitCode.succeeded, lost: true, backstop: false });
      },
    ));
});
