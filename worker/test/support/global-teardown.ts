import type { TestRabbit } from './rabbitmq';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __agentTestRabbit?: TestRabbit }).__agentTestRabbit?.stop();
}
