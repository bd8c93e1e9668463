import { Env } from '@agent-fleet/contract';
import { ConfigError } from '../src/errors';
import { runAgent } from '../src/run';

test('runAgent without exitProcess throws one ConfigError naming every bad variable', async () => {
  const run = runAgent({
    handler: async () => 'never runs',
    exitProcess: false,
    handleSignals: false,
    env: { [Env.AGENT_IDLE_EXIT_SECONDS]: 'soon' },
  });
  await expect(run).rejects.toBeInstanceOf(ConfigError);
  await expect(run).rejects.toThrow(
    /TASK_QUEUE_URL \(unset\): is required[\s\S]*AGENT_IDLE_EXIT_SECONDS="soon"/,
  );
});
