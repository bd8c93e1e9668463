#!/usr/bin/env node
/**
 * `agent-worker`: the image's entrypoint. Loads the handler named by AGENT_HANDLER and runs it
 * with the settings from the contract env; exits with the contract's exit codes.
 */
import { Env, ExitCode } from '@agent-fleet/contract';

// Loading the runtime and the handler takes a few hundred ms. A SIGTERM meanwhile finds nothing
// taken (no task, no checkpoint): exit "interrupted" at once, as after any SIGTERM, instead of
// dying by the signal before any handler exists. So only the contract is loaded before this.
// The listener stays: removing it could drop a signal already queued for it, which the runtime's
// own listeners, once installed, receive as well.
let runtimeStarted = false;
const exitEarly = () => {
  if (!runtimeStarted) process.exit(ExitCode.interrupted);
};
process.on('SIGTERM', exitEarly);
process.on('SIGINT', exitEarly);

// Before libuv's thread pool starts (the first asynchronous file, DNS or crypto call): every
// checkpoint-store operation runs there, AGENT_CONCURRENCY tasks' worth at once.
(require('./threadpool') as typeof import('./threadpool')).sizeThreadpool(process.env);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.length > 0) {
    const { usageText, workerVersion } = require('./usage') as typeof import('./usage');
    if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
      process.stdout.write(usageText());
      return;
    }
    if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
      process.stdout.write(`${workerVersion()}\n`);
      return;
    }
    // Arguments would be ignored: refuse them, so a mistyped flag is not mistaken for a setting.
    process.stderr.write(`agent-worker: unknown argument ${JSON.stringify(args[0])}\n\n${usageText()}`);
    process.exit(ExitCode.configError);
  }
  const { ConfigError } = require('./errors') as typeof import('./errors');
  const { resolveOptions } = require('./config') as typeof import('./config');
  const { loadHandler } = require('./load') as typeof import('./load');
  const { createLogger } = require('./logger') as typeof import('./logger');
  const { reportConfigError, runAgent } = require('./run') as typeof import('./run');
  // Every configuration problem is reported at once, the handler's with the environment's: one
  // message per problem, so a pod that fails to start needs one fix, not one restart per problem.
  const problems: import('./errors').ConfigProblem[] = [];
  const collect = (error: unknown) => {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  };
  try {
    resolveOptions({}, process.env);
  } catch (error) {
    collect(error);
  }
  let handler: Awaited<ReturnType<typeof loadHandler>> | undefined;
  try {
    handler = await loadHandler(process.env[Env.AGENT_HANDLER]);
  } catch (error) {
    collect(error);
  }
  if (handler === undefined || problems.length > 0) {
    reportConfigError(new ConfigError(problems), createLogger({ agentIndex: 'unknown', pod: 'unknown' }));
    process.exit(ExitCode.configError);
  }
  // runAgent (and runShard, which it calls in file mode) installs its own listeners before its
  // first await, so none is dispatched between.
  runtimeStarted = true;
  await runAgent({ handler });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `agent-worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
