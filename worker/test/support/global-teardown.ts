import type { TestRabbit } from '../../../testkit/rabbitmq';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __agentTestRabbit?: TestRabbit }).__agentTestRabbit?.stop();
}
