/**
 * Label values from handler code are bounded: a handler that reports tokens for 5,000 distinct
 * model names makes at most MAX_LABEL_VALUES + 1 series of agent_llm_tokens_total, the rest summed
 * under model="other", with one warning line when the label fills.
 */
import * as path from 'node:path';
import { Metrics } from '@agent-fleet/contract';
import { MAX_LABEL_VALUES, OVERFLOW_LABEL_VALUE } from '../src/label-values';
import { FIXTURES, httpGet, metricValue, startWorker, testSetup, useTestClient } from './support/harness';

const client = useTestClient();

test('5,000 model names make at most the cap plus one series; "other" holds the sum of the rest', async () => {
  const setup = testSetup('labels');
  const worker = startWorker(setup.env({ AGENT_HANDLER: path.join(FIXTURES, 'many-models-handler.js') }));
  const port = await worker.metricsPort();
  await worker.waitForLog('consuming', (l) => l.msg === 'consuming');
  const models = 5000;
  const tokens = 3;
  await client().publishTask(setup.taskQueue, 'many-models', { models, tokens, prefix: 'req' });
  const [result] = await client().waitForResults(setup.resultQueue, 1);
  expect(result).toMatchObject({ id: 'many-models', status: 'succeeded' });

  const { body } = await httpGet(port, '/metrics');
  const series = body.split('\n').filter((line) => line.startsWith(`${Metrics.llmTokens}{`));
  expect(series.length).toBeLessThanOrEqual(MAX_LABEL_VALUES + 1);
  expect(series).toHaveLength(MAX_LABEL_VALUES + 1);
  for (let i = 0; i < MAX_LABEL_VALUES; i++) {
    expect(metricValue(body, `${Metrics.llmTokens}{model="req-${i}"}`)).toBe(tokens);
  }
  expect(metricValue(body, `${Metrics.llmTokens}{model="${OVERFLOW_LABEL_VALUE}"}`)).toBe(
    (models - MAX_LABEL_VALUES) * tokens,
  );
  const warnings = worker.lines.filter((l) => l.level === 40 && l.metric === Metrics.llmTokens);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({
    label: 'model',
    maxValues: MAX_LABEL_VALUES,
    firstRefused: `req-${MAX_LABEL_VALUES}`,
  });
  worker.kill('SIGTERM');
  await worker.waitForExit();
});
