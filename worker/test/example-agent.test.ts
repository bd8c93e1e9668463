/**
 * The example agent (examples/agent/handler.ts) against a local HTTP server standing in for an
 * OpenAI-compatible LLM gateway, run by the real `agent-worker` and broker.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Metrics } from '@agent-fleet/contract';
import * as ts from 'typescript';
import {
  declareTopology,
  httpGet,
  makeTempDir,
  metricValue,
  startWorker,
  testSetup,
  useTestClient,
  waitFor,
} from './support/harness';

const client = useTestClient();

interface Call {
  readonly authorization: string | undefined;
  readonly body: { model: string; messages: { role: string; content: string }[] };
}

/** A fake chat-completions endpoint: answers call n with `reply-n`, or with `failures[n]` as status. */
async function startFakeLlm(failures: Record<number, number> = {}) {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => {
      raw += chunk;
    });
    req.on('end', () => {
      const n = calls.length + 1;
      calls.push({ authorization: req.headers.authorization, body: JSON.parse(raw) });
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      if (failures[n]) {
        res.writeHead(failures[n], { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          model: 'fake-model-1',
          choices: [{ index: 0, message: { role: 'assistant', content: `reply-${n}` } }],
          usage: { prompt_tokens: 10 * n, completion_tokens: n, total_tokens: 11 * n },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { calls, url: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => server.close(r)) };
}

/** Compiles the example to CommonJS in a temp dir; NODE_PATH lets it find @agent-fleet/worker. */
function compileExample(): string {
  const source = readFileSync(path.join(__dirname, '..', '..', 'examples', 'agent', 'handler.ts'), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
    },
  });
  const file = path.join(makeTempDir('agent-example-'), 'handler.js');
  writeFileSync(file, out.outputText);
  return file;
}

const NODE_PATH = path.join(__dirname, '..', '..', 'node_modules');
let handlerFile: string;

beforeAll(async () => {
  handlerFile = compileExample();
});

test('plans, checkpoints, answers, and counts tokens from the response usage', async () => {
  const llm = await startFakeLlm();
  const setup = testSetup('example');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'q-1', { question: 'Why is the sky blue?' });
  const worker = startWorker(
    setup.env({
      AGENT_HANDLER: handlerFile,
      NODE_PATH,
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: 'key-123',
      LLM_MODEL: 'm',
    }),
  );
  const port = await worker.metricsPort();
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'q-1', status: 'succeeded', output: { plan: 'reply-1', answer: 'reply-2' }, attempts: 1 },
  ]);
  expect(llm.calls).toHaveLength(2);
  expect(llm.calls[0].authorization).toBe('Bearer key-123');
  expect(llm.calls[0].body.model).toBe('m');
  expect(llm.calls[1].body.messages[0].content).toContain('reply-1');
  const text = await waitFor('token metric', async () => {
    const body = (await httpGet(port, '/metrics')).body;
    return metricValue(body, `${Metrics.checkpointWrite}_count`) === 1 ? body : undefined;
  });
  expect(metricValue(text, `${Metrics.llmTokens}{model="fake-model-1"}`)).toBe(11 + 22);
  worker.kill('SIGTERM');
  await worker.waitForExit();
  await llm.close();
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});

test('a failed answer step is retried from the checkpointed plan, without planning again', async () => {
  const llm = await startFakeLlm({ 2: 503 });
  const setup = testSetup('example-resume');
  await declareTopology(setup);
  await client().publishTask(setup.taskQueue, 'q-2', { question: 'What is 2 + 2?' });
  const worker = startWorker(
    setup.env({ AGENT_HANDLER: handlerFile, NODE_PATH, LLM_BASE_URL: llm.url, AGENT_MAX_TASKS: '2' }),
  );
  expect((await worker.waitForExit()).code).toBe(0);
  expect(await client().waitForResults(setup.resultQueue, 1)).toEqual([
    { id: 'q-2', status: 'succeeded', output: { plan: 'reply-1', answer: 'reply-3' }, attempts: 2 },
  ]);
  // Call 1 planned, call 2 failed (503), call 3 answered from the resumed plan: no second plan.
  expect(llm.calls).toHaveLength(3);
  expect(llm.calls[2].body.messages[0].content).toContain('reply-1');
  expect(worker.lines.some((l) => l.msg === 'task resumed from its checkpoint' && l.taskId === 'q-2')).toBe(
    true,
  );
  await llm.close();
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
});
