#!/usr/bin/env node
/**
 * `agent-worker`: the image's entrypoint. Loads the handler named by AGENT_HANDLER and runs it
 * with the settings from the contract env; exits with the contract's exit codes.
 */
import { Env, ExitCode } from './contract';
import { ConfigError } from './errors';
import { loadHandler } from './load';
import { createLogger } from './logger';
import { reportConfigError, runAgent } from './run';

async function main(): Promise<void> {
  let handler: Awaited<ReturnType<typeof loadHandler>>;
  try {
    handler = await loadHandler(process.env[Env.AGENT_HANDLER]);
  } catch (error) {
    if (error instanceof ConfigError) {
      reportConfigError(error, createLogger({ agentIndex: 'unknown', pod: 'unknown' }));
      process.exit(ExitCode.configError);
    }
    throw error;
  }
  await runAgent({ handler });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `agent-worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
