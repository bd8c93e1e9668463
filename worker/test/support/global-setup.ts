import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { passwordOf, startRabbit, type TestRabbit } from '../../../testkit/rabbitmq';

/**
 * Builds worker/dist (the tests run the real `agent-worker` bin as child processes) and starts one
 * throwaway RabbitMQ for the whole run, unless RABBITMQ_URL names an existing broker. Tests read
 * the broker from AGENT_TEST_AMQP_URL; every test uses its own queue names.
 */
export default async function globalSetup(): Promise<void> {
  const root = path.join(__dirname, '..', '..', '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'worker'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (process.env.RABBITMQ_URL) {
    process.env.AGENT_TEST_AMQP_URL = process.env.RABBITMQ_URL;
    process.env.AGENT_TEST_AMQP_PASSWORD = passwordOf(process.env.RABBITMQ_URL);
    return;
  }
  const rabbit = await startRabbit();
  (globalThis as { __agentTestRabbit?: TestRabbit }).__agentTestRabbit = rabbit;
  process.env.AGENT_TEST_AMQP_URL = rabbit.url;
  process.env.AGENT_TEST_AMQP_PASSWORD = rabbit.password;
}
