/**
 * What the real `agent-worker` bin does when it cannot start: every configuration problem at
 * once (the handler's with the environment's, exit 78); a checkpoint directory under a kernel file
 * system refused at once instead of a `mkdir` that never returns; a SIGTERM while the checkpoint
 * volume hangs still exits "interrupted"; and a broker that cannot be reached ends with logs that
 * tell the truth about why (no "signal", no exit code 75).
 */
import { symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { Env, ExitCode } from '@agent-fleet/contract';
import { freePort } from '../../testkit/ports';
import { FIXTURES, killAll, makeTempDir, startWorker, testSetup } from './support/harness';

afterAll(killAll);

/** The env of a test worker without `names`. */
function without(env: Record<string, string>, ...names: string[]): Record<string, string> {
  const copy = { ...env };
  for (const name of names) delete copy[name];
  return copy;
}

test('a broker on a closed port: exit 69, and no log line claims a signal or exit code 75', async () => {
  const setup = testSetup('closed-port');
  const port = await freePort();
  const worker = startWorker(setup.env({ TASK_QUEUE_URL: `amqp://agent:pw@127.0.0.1:${port}/` }));
  const exit = await worker.waitForExit(30_000);
  expect(exit.code).toBe(ExitCode.dependencyUnreachable);
  expect(worker.stdout).not.toContain('"reason":"signal"');
  expect(worker.stdout).not.toContain(`"exitCode":${ExitCode.interrupted}`);
  expect(worker.lines.some((l) => l.msg === 'shutting down')).toBe(false);
  const fatal = worker.lines.find((l) => l.level === 60);
  expect(fatal).toMatchObject({ exitCode: ExitCode.dependencyUnreachable });
  expect(fatal?.msg).toMatch(/^cannot reach the broker: /);
});

test('TASK_QUEUE_URL and AGENT_HANDLER both missing: both reported at once, exit 78', async () => {
  const setup = testSetup('two-missing');
  const worker = startWorker(without(setup.env(), Env.TASK_QUEUE_URL, Env.AGENT_HANDLER));
  expect((await worker.waitForExit()).code).toBe(ExitCode.configError);
  expect(worker.stderr).toMatch(/^ {2}- TASK_QUEUE_URL \(unset\): is required/m);
  expect(worker.stderr).toMatch(/^ {2}- AGENT_HANDLER \(unset\): is required/m);
  const fatal = worker.lines.find((l) => l.level === 60);
  const problems = (fatal?.problems ?? []) as Array<{ variable: string }>;
  expect(problems.map((p) => p.variable).sort()).toEqual([Env.AGENT_HANDLER, Env.TASK_QUEUE_URL]);
  expect(fatal?.exitCode).toBe(ExitCode.configError);
});

test('a handler that does not load and invalid settings are reported together', async () => {
  const setup = testSetup('handler-and-env');
  const worker = startWorker(
    setup.env({
      AGENT_HANDLER: path.join(FIXTURES, 'not-a-handler.js'),
      [Env.METRICS_PORT]: 'eighty',
      [Env.AGENT_MAX_MESSAGE_BYTES]: '12',
    }),
  );
  expect((await worker.waitForExit()).code).toBe(ExitCode.configError);
  expect(worker.stderr).toMatch(/- METRICS_PORT="eighty": is not a whole number/);
  expect(worker.stderr).toMatch(/- AGENT_MAX_MESSAGE_BYTES="12": is outside 4096\.\.536870912/);
  expect(worker.stderr).toMatch(/- AGENT_HANDLER=".*not-a-handler\.js": has no default export function/);
});

test('CHECKPOINT_DIR under /proc is refused at once, exit 78, naming the variable', async () => {
  const setup = testSetup('proc-dir');
  const worker = startWorker(setup.env({ [Env.CHECKPOINT_DIR]: '/proc/self/agent-checkpoints' }));
  expect((await worker.waitForExit(15_000)).code).toBe(ExitCode.configError);
  expect(worker.stderr).toMatch(
    /- CHECKPOINT_DIR="\/proc\/self\/agent-checkpoints": lies under \/proc, a kernel file system/,
  );
});

test('CHECKPOINT_DIR reaching /proc through a symbolic link fails at once too (no endless mkdir)', async () => {
  const setup = testSetup('proc-link');
  const link = path.join(makeTempDir('agent-proc-link-'), 'link');
  symlinkSync('/proc/self', link);
  const worker = startWorker(setup.env({ [Env.CHECKPOINT_DIR]: path.join(link, 'agent-checkpoints') }));
  expect((await worker.waitForExit(15_000)).code).toBe(ExitCode.configError);
  expect(worker.stderr).toMatch(/- CHECKPOINT_DIR=".*agent-checkpoints": is not a writable directory/);
});

test('a SIGTERM while the checkpoint volume does not answer exits "interrupted" (75)', async () => {
  const setup = testSetup('hung-volume');
  const worker = startWorker(
    setup.env({
      [Env.CHECKPOINT_DIR]: path.join(makeTempDir('agent-'), 'hung-volume', 'checkpoints'),
      // Far beyond the wait below: the exit must come from the signal, not the deadline backstop.
      [Env.AGENT_SHUTDOWN_SECONDS]: '120',
      NODE_OPTIONS: `--require ${path.join(FIXTURES, 'hung-volume.js')}`,
    }),
  );
  await worker.metricsPort(); // serving: the runtime and its signal handlers are up, the store is being prepared
  worker.kill('SIGTERM');
  const exit = await worker.waitForExit(20_000);
  expect(exit.code).toBe(ExitCode.interrupted);
  expect(worker.lines.some((l) => l.msg === 'stopped' && l.reason === 'signal')).toBe(true);
  expect(worker.lines.some((l) => l.msg === 'consuming')).toBe(false);
});
