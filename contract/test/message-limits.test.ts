import { Defaults, Env, Headers, MAX_SHORTSTR_BYTES } from '../src';

test("the worker's message-size setting: its env name and RabbitMQ's own default (128 MiB since 3.8)", () => {
  expect(Env.AGENT_MAX_MESSAGE_BYTES).toBe('AGENT_MAX_MESSAGE_BYTES');
  expect(Defaults.maxMessageBytes).toBe(134_217_728);
  expect(MAX_SHORTSTR_BYTES).toBe(255);
});

test('every header the worker writes is in its own x-agent- namespace', () => {
  for (const name of Object.values(Headers)) {
    expect(name).toMatch(/^x-agent-[a-z-]+$/);
  }
  expect(Headers.droppedHeaderBytes).toBe('x-agent-dropped-header-bytes');
});
