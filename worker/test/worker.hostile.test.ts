/**
 * The worker holds under hostile input, with the real broker and real `agent-worker` processes:
 * malformed messages (also when their id collides with a real task's), byte-order marks, outputs
 * too large to publish, reused ids and two deliveries of one id at once. Every message ends as a
 * result or a dead letter (and a failed result too when it names a usable id), counted exactly.
 */
import { DeadLetterReasons, ExitCode } from '@agent-fleet/contract';
import {
  declareTopology,
  expectNoPasswordInWorkerOutput,
  type TestSetup,
  testSetup,
  useTestClient,
  waitFor,
} from './support/harness';
import {
  brokerLossLines,
  Collected,
  lineOf,
  newRunLog,
  numbersIn,
  overlappingRuns,
  readRunLog,
  runCounts,
  SEQ_HEADER,
  startHostileWorker,
  storeFilesOf,
  storeFingerprint,
  UTF8_BOM,
} from './support/hostile';

const client = useTestClient();
afterAll(expectNoPasswordInWorkerOutput);

const MAX_MESSAGE_BYTES = 65_536;

function queues(setup: TestSetup) {
  return {
    results: new Collected(client, setup.resultQueue),
    dead: new Collected(client, setup.deadQueue),
  };
}

async function cleanup(setup: TestSetup): Promise<void> {
  await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
}

/**
 * Two malformed messages with a usable id: a body that is not JSON, naming `jsonId` as its AMQP
 * messageId, and a JSON body without `input`, naming `noInputId` in its body.
 */
function malformedNaming(jsonId: string, noInputId: string) {
  return [
    { id: jsonId, body: '{"id": "half a task', messageId: jsonId, reason: DeadLetterReasons.invalidJson },
    {
      id: noInputId,
      body: JSON.stringify({ id: noInputId }),
      messageId: undefined,
      reason: DeadLetterReasons.invalidTask,
    },
  ];
}

describe('malformed messages', () => {
  test('a malformed message naming an id that has not run yet: dead letter and a failed result with the reason header, store untouched; the task with that id arriving later still runs and gets its own result', async () => {
    const setup = testSetup('hostile-early');
    await declareTopology(setup);
    const { results, dead } = queues(setup);
    const ids = ['early-json', 'early-noinput'];
    const malformed = malformedNaming(ids[0]!, ids[1]!);

    const runLog = newRunLog();
    const first = await startHostileWorker(setup, { runLog, env: { AGENT_MAX_TASKS: '2' } });
    const before = storeFingerprint(setup.checkpointDir);
    for (const m of malformed) {
      await client().publishRaw(setup.taskQueue, m.body, m.messageId ? { messageId: m.messageId } : {});
    }
    expect((await first.worker.waitForExit()).code).toBe(ExitCode.succeeded);
    await waitFor('2 dead letters and 2 failed results', async () => {
      await Promise.all([results.read(), dead.read()]);
      return results.messages.length >= 2 && dead.messages.length >= 2;
    });

    expect(
      dead
        .deadLetters()
        .map((d) => [d.content.toString('utf8'), d.reason])
        .sort(),
    ).toEqual(malformed.map((m) => [m.body, m.reason]).sort());
    const failed = results.results().sort((a, b) => a.body.id.localeCompare(b.body.id));
    expect(failed).toEqual(
      malformed.map((m) => ({
        body: { id: m.id, status: 'failed', error: expect.any(String), attempts: 1 },
        deadLetterReason: m.reason,
        messageId: m.id,
      })),
    );
    // Neither the done marker nor a lease nor anything else: the directory is as it was.
    expect(storeFingerprint(setup.checkpointDir)).toBe(before);
    expect(readRunLog(runLog)).toEqual([]);

    // The well-formed tasks with those ids run and answer for themselves (no reason header).
    for (const id of ids) {
      await client().publishTask(setup.taskQueue, id, { op: 'echo', value: id });
    }
    const second = await startHostileWorker(setup, { runLog, env: { AGENT_MAX_TASKS: '2' } });
    expect((await second.worker.waitForExit()).code).toBe(ExitCode.succeeded);
    await waitFor('2 more results', async () => (await results.read()).length >= 4);
    await dead.read();
    const succeeded = results
      .results()
      .slice(2)
      .sort((a, b) => a.body.id.localeCompare(b.body.id));
    expect(succeeded).toEqual(
      [...ids].sort().map((id) => ({
        body: { id, status: 'succeeded', output: { value: id }, attempts: 1 },
        deadLetterReason: undefined,
        messageId: id,
      })),
    );
    expect(Object.fromEntries(runCounts(readRunLog(runLog)))).toEqual({
      'early-json': 1,
      'early-noinput': 1,
    });
    // Exactly these: nothing more arrived meanwhile.
    expect(await client().drain(setup.resultQueue)).toEqual([]);
    expect(await client().drain(setup.deadQueue)).toEqual([]);
    expect(dead.messages).toHaveLength(2);
    expect(await client().messageCount(setup.taskQueue)).toBe(0);
    await cleanup(setup);
  });

  test('a malformed message naming an id whose task already finished: dead-lettered, no result, the store untouched', async () => {
    const setup = testSetup('hostile-late');
    await declareTopology(setup);
    const { results, dead } = queues(setup);
    const ids = ['late-json', 'late-noinput'];
    const runLog = newRunLog();

    for (const id of ids) {
      await client().publishTask(setup.taskQueue, id, { op: 'echo', value: id });
    }
    const first = await startHostileWorker(setup, { runLog, env: { AGENT_MAX_TASKS: '2' } });
    expect((await first.worker.waitForExit()).code).toBe(ExitCode.succeeded);
    await waitFor('2 results', async () => (await results.read()).length >= 2);
    expect(
      results
        .results()
        .map((r) => r.body)
        .sort((a, b) => a.id.localeCompare(b.id)),
    ).toEqual(ids.map((id) => ({ id, status: 'succeeded', output: { value: id }, attempts: 1 })));
    for (const id of ids) {
      expect(storeFilesOf(setup.checkpointDir, id)).not.toEqual([]);
    }

    const malformed = malformedNaming(ids[0]!, ids[1]!);
    const second = await startHostileWorker(setup, { runLog, env: { AGENT_MAX_TASKS: '2' } });
    // After the worker prepared its store: from here on nothing may change in the directory.
    const before = storeFingerprint(setup.checkpointDir);
    for (const m of malformed) {
      await client().publishRaw(setup.taskQueue, m.body, m.messageId ? { messageId: m.messageId } : {});
    }
    expect((await second.worker.waitForExit()).code).toBe(ExitCode.succeeded);
    await waitFor('2 dead letters', async () => (await dead.read()).length >= 2);
    expect(
      dead
        .deadLetters()
        .map((d) => [d.content.toString('utf8'), d.reason])
        .sort(),
    ).toEqual(malformed.map((m) => [m.body, m.reason]).sort());
    // The ids' results exist already (the tasks'): a malformed message never adds one.
    expect(await client().drain(setup.resultQueue)).toEqual([]);
    expect(results.messages).toHaveLength(2);
    expect(storeFingerprint(setup.checkpointDir)).toBe(before);
    expect(Object.fromEntries(runCounts(readRunLog(runLog)))).toEqual({ 'late-json': 1, 'late-noinput': 1 });
    expect(await client().drain(setup.deadQueue)).toEqual([]);
    expect(await client().messageCount(setup.taskQueue)).toBe(0);
    await cleanup(setup);
  });

  test('malformed messages without a usable id are dead-lettered with their reason and get no result; an unusable body id falls back to a usable messageId', async () => {
    const setup = testSetup('hostile-noid');
    await declareTopology(setup);
    const { results, dead } = queues(setup);
    const echo = { op: 'echo', value: 1 };
    const longId = '€'.repeat(100); // 100 characters, 300 bytes of UTF-8
    const messages = [
      { body: 'not json at all', options: {}, reason: DeadLetterReasons.invalidJson },
      { body: JSON.stringify({ input: echo }), options: {}, reason: DeadLetterReasons.invalidTask },
      {
        body: JSON.stringify([{ id: 'in-an-array', input: echo }]),
        options: {},
        reason: DeadLetterReasons.invalidTask,
      },
      {
        body: JSON.stringify({ id: longId, input: echo }),
        options: {},
        reason: DeadLetterReasons.invalidTask,
      },
      // JSON.stringify escapes the lone surrogate (\ud800): the body is valid JSON, the id is not Unicode.
      {
        body: JSON.stringify({ id: 'lone-\uD800-half', input: echo }),
        options: {},
        reason: DeadLetterReasons.invalidTask,
      },
      {
        body: JSON.stringify({ id: longId, input: echo }),
        options: { messageId: 'fallback-id' },
        reason: DeadLetterReasons.invalidTask,
      },
    ];
    const runLog = newRunLog();
    const worker = await startHostileWorker(setup, {
      runLog,
      env: { AGENT_MAX_TASKS: String(messages.length) },
    });
    const before = storeFingerprint(setup.checkpointDir);
    for (const [seq, m] of messages.entries()) {
      await client().publishRaw(setup.taskQueue, m.body, { ...m.options, headers: { [SEQ_HEADER]: seq } });
    }
    expect((await worker.worker.waitForExit()).code).toBe(ExitCode.succeeded);
    await waitFor(
      `${messages.length} dead letters`,
      async () => (await dead.read()).length >= messages.length,
    );
    await waitFor('1 result', async () => (await results.read()).length >= 1);

    const bySeq = dead.deadLetters().sort((a, b) => (a.seq ?? -1) - (b.seq ?? -1));
    expect(bySeq.map((d) => [d.seq, d.content.toString('utf8'), d.reason])).toEqual(
      messages.map((m, seq) => [seq, m.body, m.reason]),
    );
    // Only the message with a usable id (its messageId) is answered, and the answer says why.
    expect(results.results()).toEqual([
      {
        body: { id: 'fallback-id', status: 'failed', error: expect.any(String), attempts: 1 },
        deadLetterReason: DeadLetterReasons.invalidTask,
        messageId: 'fallback-id',
      },
    ]);
    expect(storeFingerprint(setup.checkpointDir)).toBe(before);
    expect(readRunLog(runLog)).toEqual([]);
    expect(await client().drain(setup.resultQueue)).toEqual([]);
    expect(await client().drain(setup.deadQueue)).toEqual([]);
    await cleanup(setup);
  });
});

test('a JSON body behind a UTF-8 byte-order mark is a task like any other', async () => {
  const setup = testSetup('hostile-bom');
  await declareTopology(setup);
  const { results, dead } = queues(setup);
  const input = { op: 'echo', value: 'café €' };
  await client().publishRaw(
    setup.taskQueue,
    Buffer.concat([UTF8_BOM, Buffer.from(JSON.stringify({ id: 'bom-body-id', input }), 'utf8')]),
  );
  await client().publishRaw(
    setup.taskQueue,
    Buffer.concat([UTF8_BOM, Buffer.from(JSON.stringify({ input }), 'utf8')]),
    { messageId: 'bom-message-id' },
  );
  const runLog = newRunLog();
  const worker = await startHostileWorker(setup, { runLog, env: { AGENT_MAX_TASKS: '2' } });
  expect((await worker.worker.waitForExit()).code).toBe(ExitCode.succeeded);
  await waitFor('2 results', async () => (await results.read()).length >= 2);
  expect(results.results().sort((a, b) => a.body.id.localeCompare(b.body.id))).toEqual(
    ['bom-body-id', 'bom-message-id'].map((id) => ({
      body: { id, status: 'succeeded', output: { value: 'café €' }, attempts: 1 },
      deadLetterReason: undefined,
      messageId: id,
    })),
  );
  expect(await dead.read()).toEqual([]);
  expect(await client().drain(setup.resultQueue)).toEqual([]);
  await cleanup(setup);
});

test('an output too large to publish fails its task on the spot (dead letter "unpublishable", attempt 1) while the three tasks in flight beside it finish normally', async () => {
  const setup = testSetup('hostile-big');
  await declareTopology(setup);
  const { results, dead } = queues(setup);
  const bytes = 100_000;
  const big = { id: 'big-1', input: { op: 'big', bytes, awaitStarts: 3 } };
  // The healthy ones start before the big one returns and end after it: all four are in flight together.
  const beside = ['beside-1', 'beside-2', 'beside-3'].map((id) => ({
    id,
    input: { op: 'slow', ms: 300, awaitEnd: big.id },
  }));
  for (const t of [big, ...beside]) {
    await client().publishTask(setup.taskQueue, t.id, t.input);
  }
  const runLog = newRunLog();
  const worker = await startHostileWorker(setup, {
    runLog,
    concurrency: 4,
    env: { AGENT_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES), AGENT_MAX_TASKS: '4' },
  });
  expect((await worker.worker.waitForExit()).code).toBe(ExitCode.succeeded);
  await waitFor('4 results and 1 dead letter', async () => {
    await Promise.all([results.read(), dead.read()]);
    return results.messages.length >= 4 && dead.messages.length >= 1;
  });
  const byId = new Map(results.results().map((r) => [r.body.id, r]));
  expect(results.messages.length).toBe(4);
  const failed = byId.get(big.id);
  expect(failed).toEqual({
    body: { id: big.id, status: 'failed', error: expect.any(String), attempts: 1 },
    deadLetterReason: undefined,
    messageId: big.id,
  });
  expect(failed?.body).not.toHaveProperty('output');
  // The error says how big the result would have been, in bytes, and the limit.
  const error = failed?.body.error ?? '';
  expect({ error, numbers: numbersIn(error) }).toEqual({
    error: expect.stringMatching(/bytes/),
    numbers: expect.arrayContaining([MAX_MESSAGE_BYTES]),
  });
  expect({ error, sizes: numbersIn(error).filter((n) => n > bytes && n < bytes + 1000) }).toEqual({
    error,
    sizes: [expect.any(Number)],
  });
  for (const t of beside) {
    expect(byId.get(t.id)).toEqual({
      body: { id: t.id, status: 'succeeded', output: { slept: 300 }, attempts: 1 },
      deadLetterReason: undefined,
      messageId: t.id,
    });
  }
  expect(dead.deadLetters().map((d) => [d.content.toString('utf8'), d.reason])).toEqual([
    [JSON.stringify(big), DeadLetterReasons.unpublishable],
  ]);
  // The channel stayed open: no loss, no reconnect; every task ran exactly once.
  expect(brokerLossLines(worker.worker)).toEqual([]);
  const events = readRunLog(runLog);
  expect(Object.fromEntries(runCounts(events))).toEqual({
    'big-1': 1,
    'beside-1': 1,
    'beside-2': 1,
    'beside-3': 1,
  });
  const bigEnd = lineOf(events, big.id, 'end');
  for (const t of beside) {
    expect({ id: t.id, startedBeforeBigEnded: lineOf(events, t.id, 'start') < bigEnd }).toEqual({
      id: t.id,
      startedBeforeBigEnded: true,
    });
    expect({ id: t.id, endedAfterBigEnded: lineOf(events, t.id, 'end') > bigEnd }).toEqual({
      id: t.id,
      endedAfterBigEnded: true,
    });
  }
  expect(await client().drain(setup.resultQueue)).toEqual([]);
  expect(await client().drain(setup.deadQueue)).toEqual([]);
  expect(await client().messageCount(setup.taskQueue)).toBe(0);
  await cleanup(setup);
});

test('the limit is on the bytes of the result as published: exactly the limit fits; one byte more, multi-byte characters and escaped quotes do not', async () => {
  const setup = testSetup('hostile-edge');
  await declareTopology(setup);
  const { results, dead } = queues(setup);
  const resultBytes = (id: string, output: string) =>
    Buffer.byteLength(JSON.stringify({ id, status: 'succeeded', output, attempts: 1 }), 'utf8');
  // Outputs whose results are exactly the limit and one byte over it.
  const fitBytes = MAX_MESSAGE_BYTES - resultBytes('edge-fit', '');
  const overBytes = MAX_MESSAGE_BYTES - resultBytes('edge-over', '') + 1;
  const tasks = [
    { id: 'edge-fit', input: { op: 'big', bytes: fitBytes } },
    { id: 'edge-over', input: { op: 'big', bytes: overBytes } },
    // 22,000 characters, 66,000 bytes of UTF-8: under the limit only when counted in characters.
    { id: 'edge-euro', input: { op: 'big', bytes: 66_000, char: '€' } },
    // 40,000 bytes of output, 80,000 once JSON escapes every quote.
    { id: 'edge-quotes', input: { op: 'big', bytes: 40_000, char: '"' } },
  ];
  for (const t of tasks) {
    await client().publishTask(setup.taskQueue, t.id, t.input);
  }
  const runLog = newRunLog();
  const worker = await startHostileWorker(setup, {
    runLog,
    env: { AGENT_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES), AGENT_MAX_TASKS: String(tasks.length) },
  });
  expect((await worker.worker.waitForExit()).code).toBe(ExitCode.succeeded);
  await waitFor('4 results and 3 dead letters', async () => {
    await Promise.all([results.read(), dead.read()]);
    return results.messages.length >= 4 && dead.messages.length >= 3;
  });
  const byId = new Map(results.results().map((r) => [r.body.id, r]));
  const fit = byId.get('edge-fit');
  expect(fit?.messageId).toBe('edge-fit');
  expect(fit?.deadLetterReason).toBeUndefined();
  expect({ ...fit?.body, output: undefined }).toEqual({
    id: 'edge-fit',
    status: 'succeeded',
    output: undefined,
    attempts: 1,
  });
  expect(results.messages.find((m) => m.properties.messageId === 'edge-fit')?.content.length).toBe(
    MAX_MESSAGE_BYTES,
  );
  for (const id of ['edge-over', 'edge-euro', 'edge-quotes']) {
    const r = byId.get(id);
    expect(r).toEqual({
      body: { id, status: 'failed', error: expect.any(String), attempts: 1 },
      deadLetterReason: undefined,
      messageId: id,
    });
    expect({ id, numbers: numbersIn(r?.body.error ?? '') }).toEqual({
      id,
      numbers: expect.arrayContaining([MAX_MESSAGE_BYTES]),
    });
  }
  expect(
    dead
      .deadLetters()
      .map((d) => [JSON.parse(d.content.toString('utf8')).id, d.reason])
      .sort(),
  ).toEqual([
    ['edge-euro', DeadLetterReasons.unpublishable],
    ['edge-over', DeadLetterReasons.unpublishable],
    ['edge-quotes', DeadLetterReasons.unpublishable],
  ]);
  expect(brokerLossLines(worker.worker)).toEqual([]);
  expect(await client().drain(setup.resultQueue)).toEqual([]);
  expect(await client().drain(setup.deadQueue)).toEqual([]);
  await cleanup(setup);
});

describe('id conflicts', () => {
  test('a second message with a finished id and the same input (keys in another order) is acked silently: one result, no dead letter', async () => {
    const setup = testSetup('hostile-same');
    await declareTopology(setup);
    const { results, dead } = queues(setup);
    await client().publishTask(setup.taskQueue, 'same-1', {
      op: 'echo',
      value: { a: 1, b: [1, { c: 2, d: 3 }] },
    });
    // The same JSON value, written with every object's keys in another order.
    await client().publishRaw(
      setup.taskQueue,
      '{"input":{"value":{"b":[1,{"d":3,"c":2}],"a":1},"op":"echo"},"id":"same-1"}',
    );
    const runLog = newRunLog();
    const worker = await startHostileWorker(setup, { runLog, env: { AGENT_MAX_TASKS: '2' } });
    expect((await worker.worker.waitForExit()).code).toBe(ExitCode.succeeded);
    await waitFor('1 result', async () => (await results.read()).length >= 1);
    expect(results.results()).toEqual([
      {
        body: {
          id: 'same-1',
          status: 'succeeded',
          output: { value: { a: 1, b: [1, { c: 2, d: 3 }] } },
          attempts: 1,
        },
        deadLetterReason: undefined,
        messageId: 'same-1',
      },
    ]);
    expect(await client().drain(setup.resultQueue)).toEqual([]);
    expect(await dead.read()).toEqual([]);
    expect(Object.fromEntries(runCounts(readRunLog(runLog)))).toEqual({ 'same-1': 1 });
    expect(await client().messageCount(setup.taskQueue)).toBe(0);
    await cleanup(setup);
  });

  test('a second message with a finished id and a different input is dead-lettered "id-conflict" and gets no result', async () => {
    const setup = testSetup('hostile-clash');
    await declareTopology(setup);
    const { results, dead } = queues(setup);
    await client().publishTask(setup.taskQueue, 'clash-1', { op: 'echo', value: 'first' });
    await client().publishTask(setup.taskQueue, 'clash-1', { op: 'echo', value: 'second' });
    const runLog = newRunLog();
    const worker = await startHostileWorker(setup, { runLog, env: { AGENT_MAX_TASKS: '2' } });
    expect((await worker.worker.waitForExit()).code).toBe(ExitCode.succeeded);
    await waitFor('1 result and 1 dead letter', async () => {
      await Promise.all([results.read(), dead.read()]);
      return results.messages.length >= 1 && dead.messages.length >= 1;
    });
    expect(results.results()).toEqual([
      {
        body: { id: 'clash-1', status: 'succeeded', output: { value: 'first' }, attempts: 1 },
        deadLetterReason: undefined,
        messageId: 'clash-1',
      },
    ]);
    expect(dead.deadLetters().map((d) => [d.content.toString('utf8'), d.reason])).toEqual([
      [
        JSON.stringify({ id: 'clash-1', input: { op: 'echo', value: 'second' } }),
        DeadLetterReasons.idConflict,
      ],
    ]);
    expect(await client().drain(setup.resultQueue)).toEqual([]);
    expect(await client().drain(setup.deadQueue)).toEqual([]);
    expect(Object.fromEntries(runCounts(readRunLog(runLog)))).toEqual({ 'clash-1': 1 });
    expect(await client().messageCount(setup.taskQueue)).toBe(0);
    await cleanup(setup);
  });
});

test('two deliveries of one id in one worker (AGENT_CONCURRENCY 4) never run at once and produce exactly one result', async () => {
  const setup = testSetup('hostile-twin');
  await declareTopology(setup);
  const { results, dead } = queues(setup);
  const input = { op: 'slow', ms: 800 };
  await client().publishTask(setup.taskQueue, 'twin-1', input);
  await client().publishTask(setup.taskQueue, 'twin-1', input);
  const runLog = newRunLog();
  // Both copies are delivered at once; the worker exits 0 once idle, so nothing is left running.
  const worker = await startHostileWorker(setup, {
    runLog,
    concurrency: 4,
    env: { AGENT_IDLE_EXIT_SECONDS: '2', AGENT_LEASE_SECONDS: '2' },
  });
  expect((await worker.worker.waitForExit()).code).toBe(ExitCode.succeeded);
  await waitFor('1 result', async () => (await results.read()).length >= 1);
  expect(results.results()).toEqual([
    {
      body: { id: 'twin-1', status: 'succeeded', output: { slept: 800 }, attempts: 1 },
      deadLetterReason: undefined,
      messageId: 'twin-1',
    },
  ]);
  const events = readRunLog(runLog);
  expect(overlappingRuns(events)).toEqual([]);
  expect(Object.fromEntries(runCounts(events))).toEqual({ 'twin-1': 1 });
  expect(await client().drain(setup.resultQueue)).toEqual([]);
  expect(await dead.read()).toEqual([]);
  expect(await client().messageCount(setup.taskQueue)).toBe(0);
  await cleanup(setup);
});
