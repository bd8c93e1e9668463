/**
 * ctx.guard's circuit breaker per dependency. During a gateway outage the worker stops taking
 * tasks (staying ready), returns the in-flight ones without spending their attempts, probes once
 * per half-open interval, shows agent_circuit_open{dependency}, and finishes everything once the
 * gateway is back. Real worker process, real broker, a local HTTP gateway stand-in.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metrics } from '@agent-fleet/contract';
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

test('an open breaker pauses intake, spends no attempts, bounds gateway calls, and recovers', async () => {
  let healthy = false;
  let calls = 0;
  const gateway = http.createServer((_req, res) => {
    calls += 1;
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ answer: 42 }));
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/v1/chat`;
  try {
    const setup = testSetup('circuit');
    await declareTopology(setup);
    const halfOpenAfterMs = 700;
    const guard = { retries: 1, retryDelayMs: 10, consecutiveFailures: 2, halfOpenAfterMs, timeoutMs: 5000 };
    const ids = ['c1', 'c2', 'c3', 'c4'];
    for (const id of ids) {
      await client().publishTask(setup.taskQueue, id, { mode: 'gateway', url, guard });
    }
    const outageStart = Date.now();
    const worker = startWorker(setup.env({ AGENT_MAX_ATTEMPTS: '2' }));
    const port = await worker.metricsPort();
    const series = `${Metrics.circuitOpen}{dependency="llm"}`;

    await worker.waitForLog('circuit open', (l) => l.msg.startsWith('circuit open'));
    await waitFor(
      'the gauge at 1',
      async () => metricValue((await httpGet(port, '/metrics')).body, series) === 1,
    );
    // Paused, not gone: the worker keeps its place on the queue, so the pod stays Ready.
    expect((await httpGet(port, '/readyz')).status).toBe(200);
    // At least two failed probes after the breaker opened: the worker keeps probing, slowly.
    await waitFor(
      'two more breaker openings (failed probes)',
      () => worker.lines.filter((l) => l.msg.startsWith('circuit open')).length >= 3,
    );
    const outageMs = Date.now() - outageStart;
    const outageCalls = calls;
    // Opening takes `consecutiveFailures` calls; afterwards at most one probe per half-open interval.
    expect(outageCalls).toBeLessThanOrEqual(
      guard.consecutiveFailures + Math.floor(outageMs / halfOpenAfterMs) + 1,
    );
    expect(await client().drain(setup.deadQueue)).toHaveLength(0);

    healthy = true;
    const results = await client().waitForResults(setup.resultQueue, ids.length, 60_000);
    expect(results.map((r) => r.id).sort()).toEqual(ids);
    for (const result of results) {
      // No attempt was spent on the outage.
      expect(result).toMatchObject({ status: 'succeeded', output: { answer: 42, attempt: 1 }, attempts: 1 });
    }
    await worker.waitForLog('circuit closed', (l) => l.msg.startsWith('circuit closed'));
    expect(metricValue((await httpGet(port, '/metrics')).body, series)).toBe(0);
    expect(await client().drain(setup.deadQueue)).toHaveLength(0);
    worker.kill('SIGTERM');
    await worker.waitForExit();
    await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
  } finally {
    await new Promise((resolve) => gateway.close(resolve));
  }
});
