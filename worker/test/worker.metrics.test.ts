/**
 * Metrics and health: /metrics carries every contract series and they move;
 * /healthz and /readyz; no per-agent label.
 */
import { DeadLetterReasons, Metrics, TaskStatuses } from '@agent-fleet/contract';
import { TaskCheckpoints } from '../src/store';
import {
  declareTopology,
  httpGet,
  metricValue,
  startWorker,
  testSetup,
  useTestClient,
  waitFor,
} from './support/harness';

const client = useTestClient();

test('serves every contract metric, Node defaults and health endpoints, and the series move with the work', async () => {
  const setup = testSetup('metrics');
  await declareTopology(setup);
  const worker = startWorker(setup.env());
  const port = await worker.metricsPort();
  expect(await httpGet(port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
  await waitFor('ready', async () => (await httpGet(port, '/readyz')).status === 200);

  const before = (await httpGet(port, '/metrics')).body;
  for (const name of Object.values(Metrics)) {
    if (name === Metrics.circuitOpen) {
      continue; // appears with the first ctx.guard call (labelled by dependency)
    }
    expect(before).toContain(`# TYPE ${name} `);
  }
  expect(before).toContain('process_cpu_user_seconds_total');
  expect(before).toContain('nodejs_eventloop_lag_seconds');
  expect(before).toContain(`${Metrics.taskDuration}_bucket{le="14400"}`);
  // Every label value known in advance is there at 0 before its first event, so that event is an
  // increase Prometheus can see.
  for (const status of Object.values(TaskStatuses)) {
    expect({ status, value: metricValue(before, `${Metrics.tasksCompleted}{status="${status}"}`) }).toEqual({
      status,
      value: 0,
    });
  }
  for (const reason of Object.values(DeadLetterReasons)) {
    expect({ reason, value: metricValue(before, `${Metrics.deadLettered}{reason="${reason}"}`) }).toEqual({
      reason,
      value: 0,
    });
  }
  expect(before).not.toMatch(/agent_index|agentIndex|pod=/);

  const store = new TaskCheckpoints(setup.checkpointDir);
  await store.writeCheckpoint('m-resume', { step: 3 });
  await client().publishTask(setup.taskQueue, 'm-echo', {
    mode: 'echo',
    value: 1,
    tokens: 42,
    model: 'model-a',
  });
  await client().publishTask(setup.taskQueue, 'm-steps', { mode: 'steps', steps: 3 });
  await client().publishTask(setup.taskQueue, 'm-resume', { mode: 'steps', steps: 4 });
  await client().publishTask(setup.taskQueue, 'm-perm', { mode: 'permanent', what: 'x' });
  await client().waitForResults(setup.resultQueue, 4);

  const after = await waitFor('metrics after 4 tasks', async () => {
    const text = (await httpGet(port, '/metrics')).body;
    return metricValue(text, `${Metrics.taskDuration}_count`) === 4 ? text : undefined;
  });
  expect(metricValue(after, `${Metrics.tasksCompleted}{status="succeeded"}`)).toBe(3);
  expect(metricValue(after, `${Metrics.tasksCompleted}{status="failed"}`)).toBe(1);
  expect(metricValue(after, `${Metrics.llmTokens}{model="model-a"}`)).toBe(42);
  expect(metricValue(after, Metrics.tasksInFlight)).toBe(0);
  expect(metricValue(after, Metrics.taskResumes)).toBe(1);
  // 3 checkpoints for m-steps, 1 for the resumed m-resume (step 4).
  expect(metricValue(after, `${Metrics.checkpointWrite}_count`)).toBe(4);
  expect(metricValue(after, `${Metrics.deadLettered}{reason="permanent-error"}`)).toBe(1);

  worker.kill('SIGTERM');
  await worker.waitForExit();
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('/readyz stays 200 while the last task allowed runs, and the in-flight gauge shows it', async () => {
  const setup = testSetup('readyz');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'r-1', {
    mode: 'steps',
    steps: 2,
    blockOnAttempt: 1,
    blockAfter: 1,
  });
  // The only task allowed: once taken, the worker cancels its consumer while the task still runs.
  const worker = startWorker(setup.env({ AGENT_MAX_TASKS: '1' }));
  const port = await worker.metricsPort();
  await worker.waitForLog('handler blocked', (l) => l.fixture === 'blocked');
  expect(await httpGet(port, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
  expect((await httpGet(port, '/healthz')).status).toBe(200);
  expect(metricValue((await httpGet(port, '/metrics')).body, Metrics.tasksInFlight)).toBe(1);
  worker.kill('SIGTERM');
  expect((await worker.waitForExit()).code).toBe(75);
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
